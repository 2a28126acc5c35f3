//! [`ClassedS3`]: an S3 store whose puts and copies can name a storage class, so that a write
//! into an archive class still passes through every wrapper of the storage's store (an
//! [`crate::Observed`] reports it as any other write).

use crate::classes::StorageClass;
use crate::s3_api::{S3Api, S3ApiError};
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use std::fmt;
use std::sync::Arc;

/// The storage class of a put or a copy, carried in [`PutOptions::extensions`] or
/// [`CopyOptions::extensions`] to [`ClassedS3`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriteClass(pub StorageClass);

/// An S3 store (`inner`) whose puts and copies carrying a [`WriteClass`] are sent as
/// PutObject and CopyObject with `x-amz-storage-class`; every other call is `inner`'s.
#[derive(Debug)]
pub(crate) struct ClassedS3 {
    inner: Arc<dyn ObjectStore>,
    api: S3Api,
}

impl ClassedS3 {
    /// `inner`, writing into classes with `api` (on the same bucket).
    pub fn new(inner: Arc<dyn ObjectStore>, api: S3Api) -> ClassedS3 {
        ClassedS3 { inner, api }
    }
}

impl fmt::Display for ClassedS3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClassedS3({})", self.inner)
    }
}

/// A failed request of [`S3Api`] as an `object_store` error (turned back into the storage's
/// own by [`crate::StorageError`]'s classification).
fn store_error(path: &Path, error: S3ApiError) -> object_store::Error {
    if error.status == Some(404) {
        object_store::Error::NotFound {
            path: path.to_string(),
            source: Box::new(error),
        }
    } else {
        object_store::Error::Generic {
            store: "S3",
            source: Box::new(error),
        }
    }
}

#[async_trait::async_trait]
impl ObjectStore for ClassedS3 {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        match opts.extensions.get::<WriteClass>() {
            Some(WriteClass(class)) => self
                .api
                .put(location.as_ref(), payload.into(), *class)
                .await
                .map_err(|e| store_error(location, e)),
            None => self.inner.put_opts(location, payload, opts).await,
        }
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
        match options.extensions.get::<WriteClass>() {
            Some(WriteClass(class)) => self
                .api
                .copy(from.as_ref(), to.as_ref(), Some(*class))
                .await
                .map_err(|e| store_error(from, e)),
            None => self.inner.copy_opts(from, to, options).await,
        }
    }
}
