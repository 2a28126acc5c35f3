//! The two backends the suite runs against: a local directory, and a real S3 server
//! (`s3s-fs`, found on `PATH` or at `$SLUICE_S3S_FS`) started on a free loopback port with a
//! temporary root and killed when the test ends.

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use sluice_io::Storage;
use sluice_io::testing::{S3Server, s3s_fs};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once};
use tempfile::TempDir;

/// The bucket of the namespace the suite works in.
pub const BUCKET: &str = "bkt";

/// A storage to run the suite against, with the runtime its calls block on.
pub struct Backend {
    /// `file` or `s3`.
    pub name: &'static str,
    /// The storage URL.
    pub url: String,
    /// The storage.
    pub storage: Storage,
    /// What the storage's root store was asked to read.
    pub reads: Arc<Mutex<Vec<Option<GetRange>>>>,
    /// The local root (the storage directory, or the S3 server's data directory).
    pub root: PathBuf,
    /// The runtime storage calls block on.
    pub runtime: tokio::runtime::Runtime,
    _server: Option<S3Server>,
    _dir: TempDir,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

impl Backend {
    /// A local directory.
    pub fn file() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("storage");
        let url = "file://storage".to_string();
        let storage = Storage::from_url(&url, dir.path()).unwrap();
        Backend::new("file", url, storage, root, None, dir)
    }

    /// An S3 server, or `None` (said on stderr, once) when `s3s-fs` is not installed.
    pub fn s3() -> Option<Backend> {
        if s3s_fs().is_none() {
            // Written to the process's stderr, past the test harness's capture, once.
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                sluice_engine::testing::skip(
                    "the s3 backend cases: s3s-fs not found (.ci/run installs it)",
                )
            });
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("s3");
        std::fs::create_dir_all(root.join("sluice")).unwrap();
        let server = S3Server::start(&root, "the s3 backend cases")?;
        let url = server.storage_url("sluice", "deploy");
        let storage = Storage::from_url(&url, dir.path()).unwrap();
        Some(Backend::new("s3", url, storage, root, Some(server), dir))
    }

    fn new(
        name: &'static str,
        url: String,
        storage: Storage,
        root: PathBuf,
        server: Option<S3Server>,
        dir: TempDir,
    ) -> Backend {
        let reads = Arc::new(Mutex::new(Vec::new()));
        let recorded = reads.clone();
        let storage = storage.wrap_store(|inner| {
            Arc::new(Recording {
                inner,
                reads: recorded,
            })
        });
        Backend {
            name,
            url,
            storage,
            reads,
            root,
            runtime: runtime(),
            _server: server,
            _dir: dir,
        }
    }

    /// Forgets the reads recorded so far.
    pub fn clear_reads(&self) {
        self.reads.lock().unwrap().clear();
    }

    /// The ranges read since the last [`Backend::clear_reads`] (`None`: a whole object).
    pub fn recorded_reads(&self) -> Vec<Option<GetRange>> {
        self.reads.lock().unwrap().clone()
    }
}

/// Passes every call through, recording the range of each read.
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn ObjectStore>,
    reads: Arc<Mutex<Vec<Option<GetRange>>>>,
}

impl fmt::Display for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recording({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Recording {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if !options.head {
            self.reads.lock().unwrap().push(options.range.clone());
        }
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
