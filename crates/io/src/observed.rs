//! [`Observed`]: the storage's one choke point for writes. Every object written or deleted
//! through a [`crate::Storage`] (the S3 endpoint, functions' object API, `s3:*` integrations,
//! result writers) passes through its store; wrapped in [`Observed`], each successful write is
//! reported to an [`ObjectObserver`] before the call returns.

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};
use std::fmt;
use std::sync::Arc;

/// How an object was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// Written whole.
    Put,
    /// Copied from another object.
    Copy,
    /// Assembled from the parts of a multipart upload.
    CompleteMultipartUpload,
}

/// What happened to an object.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// It was created or replaced.
    Created {
        /// How.
        how: Created,
        /// Its entity tag as the storage reports it.
        e_tag: Option<String>,
        /// Its size in bytes.
        size: u64,
    },
    /// It was deleted.
    Deleted,
}

/// A change of one object, by its storage path (`BUCKET/KEY`).
#[derive(Clone, Debug, PartialEq)]
pub struct StorageChange {
    /// The object's path.
    pub path: String,
    /// What happened.
    pub change: Change,
}

/// Told of every write through an [`Observed`] store.
pub trait ObjectObserver: Send + Sync + fmt::Debug {
    /// Whether changes of `path` matter (others are not reported, and cost nothing).
    fn watches(&self, path: &str) -> bool;
    /// Takes note of a change; the write it reports returns once this is done.
    fn observe(&self, change: StorageChange) -> BoxFuture<'static, ()>;
}

/// A store that reports its successful writes to an [`ObjectObserver`].
#[derive(Debug)]
pub struct Observed {
    inner: Arc<dyn ObjectStore>,
    observer: Arc<dyn ObjectObserver>,
}

impl Observed {
    /// `inner`, reporting to `observer`.
    pub fn new(inner: Arc<dyn ObjectStore>, observer: Arc<dyn ObjectObserver>) -> Observed {
        Observed { inner, observer }
    }

    /// Reports a change of `path` if the observer watches it.
    async fn report(&self, path: &Path, change: impl FnOnce() -> Change) {
        report(&self.observer, path, change).await;
    }
}

async fn report(observer: &Arc<dyn ObjectObserver>, path: &Path, change: impl FnOnce() -> Change) {
    if observer.watches(path.as_ref()) {
        let change = StorageChange {
            path: path.to_string(),
            change: change(),
        };
        observer.observe(change).await;
    }
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Observed({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for Observed {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let size = payload.content_length() as u64;
        let result = self.inner.put_opts(location, payload, opts).await?;
        self.report(location, || Change::Created {
            how: Created::Put,
            e_tag: result.e_tag.clone(),
            size,
        })
        .await;
        Ok(result)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(ObservedUpload {
            upload,
            location: location.clone(),
            size: 0,
            observer: self.observer.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let observer = self.observer.clone();
        self.inner
            .delete_stream(locations)
            .then(move |deleted| {
                let observer = observer.clone();
                async move {
                    if let Ok(path) = &deleted {
                        report(&observer, path, || Change::Deleted).await;
                    }
                    deleted
                }
            })
            .boxed()
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
        self.inner.copy_opts(from, to, options).await?;
        if self.observer.watches(to.as_ref()) {
            let options = GetOptions {
                head: true,
                ..GetOptions::default()
            };
            // A copy gone already (deleted right after) is not reported: its delete is.
            if let Ok(copy) = self.inner.get_opts(to, options).await {
                self.report(to, || Change::Created {
                    how: Created::Copy,
                    e_tag: copy.meta.e_tag.clone(),
                    size: copy.meta.size,
                })
                .await;
            }
        }
        Ok(())
    }
}

/// A multipart upload that reports the object once it is complete.
#[derive(Debug)]
struct ObservedUpload {
    upload: Box<dyn MultipartUpload>,
    location: Path,
    size: u64,
    observer: Arc<dyn ObjectObserver>,
}

#[async_trait::async_trait]
impl MultipartUpload for ObservedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.size += data.content_length() as u64;
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let result = self.upload.complete().await?;
        let size = self.size;
        report(&self.observer, &self.location, || Change::Created {
            how: Created::CompleteMultipartUpload,
            e_tag: result.e_tag.clone(),
            size,
        })
        .await;
        Ok(result)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.upload.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::buffered::BufWriter;
    use object_store::local::LocalFileSystem;
    use std::sync::Mutex;
    use tokio::io::AsyncWriteExt;

    /// Keeps the changes of paths under `watched/`.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<StorageChange>>);

    impl ObjectObserver for Recorder {
        fn watches(&self, path: &str) -> bool {
            path.starts_with("watched/")
        }
        fn observe(&self, change: StorageChange) -> BoxFuture<'static, ()> {
            self.0.lock().unwrap().push(change);
            Box::pin(async {})
        }
    }

    fn created(how: Created, size: u64) -> impl Fn(&StorageChange) -> bool {
        move |c| matches!(&c.change, Change::Created { how: h, size: s, e_tag: Some(_) } if *h == how && *s == size)
    }

    #[tokio::test]
    async fn every_kind_of_write_is_reported_with_its_entity_tag_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Arc::new(Recorder::default());
        let local = LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let store: Arc<dyn ObjectStore> =
            Arc::new(Observed::new(Arc::new(local), recorder.clone()));
        let path = |p: &str| Path::from(p);
        store
            .put(&path("watched/a"), PutPayload::from("hello"))
            .await
            .unwrap();
        store
            .put(&path("other/a"), PutPayload::from("hello"))
            .await
            .unwrap();
        store
            .copy(&path("watched/a"), &path("watched/b"))
            .await
            .unwrap();
        let mut writer =
            BufWriter::with_capacity(store.clone(), path("watched/big"), 5 * 1024 * 1024);
        writer.write_all(&vec![7u8; 6 * 1024 * 1024]).await.unwrap();
        writer.shutdown().await.unwrap();
        store.delete(&path("watched/a")).await.unwrap();
        store.delete(&path("other/a")).await.unwrap();
        let changes = recorder.0.lock().unwrap().clone();
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["watched/a", "watched/b", "watched/big", "watched/a"]
        );
        assert!(created(Created::Put, 5)(&changes[0]), "{changes:?}");
        assert!(created(Created::Copy, 5)(&changes[1]), "{changes:?}");
        assert!(
            created(Created::CompleteMultipartUpload, 6 * 1024 * 1024)(&changes[2]),
            "{changes:?}"
        );
        assert_eq!(changes[3].change, Change::Deleted);
        let listed = store.head(&path("watched/b")).await.unwrap();
        let Change::Created { e_tag, .. } = &changes[1].change else {
            unreachable!()
        };
        assert_eq!(
            e_tag, &listed.e_tag,
            "the reported tag is the one reads show"
        );
    }
}
