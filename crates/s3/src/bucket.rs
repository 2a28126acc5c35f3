//! [`ProjectBucket`]: the S3 operations over the project's storage.

use crate::errors::{from_storage, from_store, internal};
use crate::listing::{MAX_KEYS, PageRequest, read_page};
use crate::multipart::{StagedPart, Uploads, part_file};
use crate::writes::{HashingWriter, MAX_PUT, PUT_BUFFER, hex};
use md5::{Digest, Md5};
use object_store::buffered::BufWriter;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use sluice_io::{ObjectInfo, ObjectRef, RestoreStarted, RestoreTier, Storage, StorageClass};
use std::sync::Arc;
use std::time::SystemTime;
use sync_wrapper::SyncStream;
use tokio::io::AsyncReadExt;

/// A response header (removed before it is sent) saying that a restore started: the endpoint
/// answers it 202 Accepted, as S3 does, where a restore already done is 200 OK.
pub(crate) const RESTORE_STARTED: &str = "x-sluice-restore-started";

/// The smallest part of a multipart upload but the last, as on S3.
const MIN_PART: u64 = 5 * 1024 * 1024;
/// The largest object a multipart upload makes, as on S3.
const MAX_OBJECT: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// The most keys one DeleteObjects request names, as on S3.
const MAX_DELETE: usize = 1000;
/// What `encoding-type=url` leaves as it is in keys.
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The one bucket of the endpoint: the storage root, its keys the storage's `FOLDER/KEY`
/// paths.
pub(crate) struct ProjectBucket {
    name: String,
    storage: Storage,
    store: Arc<dyn ObjectStore>,
    uploads: Uploads,
    created: SystemTime,
}

impl ProjectBucket {
    /// The bucket `name` over `storage`, staging multipart uploads in `uploads`.
    pub fn new(name: String, storage: Storage, uploads: Uploads) -> Self {
        ProjectBucket {
            name,
            store: storage.object_store(),
            storage,
            uploads,
            created: SystemTime::now(),
        }
    }

    /// `NoSuchBucket` unless `bucket` is this one.
    fn check_bucket(&self, bucket: &str) -> S3Result<()> {
        if bucket == self.name {
            Ok(())
        } else {
            Err(s3_error!(
                NoSuchBucket,
                "The specified bucket does not exist: {bucket} (this node serves '{}')",
                self.name
            ))
        }
    }

    /// The storage object a key of this bucket names.
    fn object(&self, bucket: &str, key: &str) -> S3Result<ObjectRef> {
        self.check_bucket(bucket)?;
        ObjectRef::parse(key).map_err(from_storage)
    }

    /// Every successful write (put, copy, completed multipart upload) ends here, once the
    /// object is in the storage and visible to flows (and, when the storage is observed, its
    /// object event recorded: see `sluice_io::Observed`).
    fn committed(&self, object: &ObjectRef, e_tag: &str, size: u64) {
        tracing::debug!(%object, e_tag, size, "object written through the S3 endpoint");
    }

    /// Streams a request body into `object`; returns the body's MD5 entity tag.
    async fn put_body(&self, object: &ObjectRef, body: Option<StreamingBlob>) -> S3Result<String> {
        let writer = BufWriter::with_capacity(self.store.clone(), object.path(), PUT_BUFFER)
            .with_max_concurrency(2);
        let mut writer = HashingWriter::new(writer, MAX_PUT);
        if let Err(e) = writer.write_body(body).await {
            let _ = writer.inner_mut().abort().await;
            return Err(e);
        }
        let tally = writer.finish().await?;
        let e_tag = tally.e_tag();
        self.committed(object, &e_tag, tally.size);
        Ok(e_tag)
    }

    /// Checks the parts a completion names against the staged ones; returns them in order.
    fn chosen_parts(
        staged: Vec<StagedPart>,
        requested: Vec<CompletedPart>,
    ) -> S3Result<Vec<(StagedPart, Option<String>)>> {
        if requested.is_empty() {
            return Err(s3_error!(MalformedXML, "the upload names no part"));
        }
        let mut staged = staged.into_iter().peekable();
        let mut chosen = Vec::with_capacity(requested.len());
        let mut previous = 0;
        for part in requested {
            let number = part
                .part_number
                .ok_or_else(|| s3_error!(InvalidPart, "a part has no number"))?;
            if number <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "part {number} follows part {previous}"
                ));
            }
            previous = number;
            while staged.next_if(|p| p.number < number).is_some() {}
            let found = staged
                .next_if(|p| p.number == number)
                .ok_or_else(|| s3_error!(InvalidPart, "part {number} was not uploaded"))?;
            chosen.push((found, part.e_tag.map(|t| t.value().to_string())));
        }
        let last = chosen.len() - 1;
        if let Some((small, _)) = chosen[..last].iter().find(|(p, _)| p.size < MIN_PART) {
            return Err(s3_error!(
                EntityTooSmall,
                "part {} has {} bytes; every part but the last needs at least {MIN_PART}",
                small.number,
                small.size
            ));
        }
        Ok(chosen)
    }

    /// Streams the chosen parts of an upload into `object`; returns the multipart entity tag
    /// (the MD5 of the parts' MD5s, `-` their count) and the size.
    async fn assemble(
        &self,
        object: &ObjectRef,
        folder: &std::path::Path,
        parts: &[(StagedPart, Option<String>)],
    ) -> S3Result<(String, u64)> {
        let writer = BufWriter::with_capacity(self.store.clone(), object.path(), PUT_BUFFER)
            .with_max_concurrency(2);
        let mut writer = HashingWriter::new(writer, MAX_OBJECT);
        let mut digests = Md5::new();
        let mut buffer = vec![0; 64 * 1024];
        for (part, e_tag) in parts {
            let copied = copy_part(&mut writer, folder, part, &mut buffer).await;
            let digest = match copied {
                Ok(digest) => digest,
                Err(e) => {
                    let _ = writer.inner_mut().abort().await;
                    return Err(e);
                }
            };
            if e_tag.as_deref().is_some_and(|t| t != hex(&digest)) {
                let _ = writer.inner_mut().abort().await;
                return Err(s3_error!(
                    InvalidPart,
                    "part {}'s entity tag is not {}",
                    part.number,
                    e_tag.as_deref().unwrap_or_default()
                ));
            }
            digests.update(digest);
        }
        let tally = writer.finish().await?;
        let e_tag = format!("{}-{}", hex(&digests.finalize()), parts.len());
        Ok((e_tag, tally.size))
    }

    /// One page of a listing, as ListObjectsV2 answers it.
    async fn list_page(
        &self,
        request: PageRequest,
        start_after: Option<&str>,
    ) -> S3Result<ListedPage> {
        let listing = self
            .storage
            .list_paths(&request.prefix, request.after(start_after))
            .map_err(from_storage)?;
        let page = read_page(listing, &request).await.map_err(from_storage)?;
        let objects = self
            .storage
            .classify("", page.objects)
            .await
            .map_err(from_storage)?;
        let contents = objects
            .into_iter()
            .map(|o| Object {
                e_tag: o.e_tag.as_deref().map(entity_tag),
                last_modified: Some(SystemTime::from(o.last_modified).into()),
                size: i64::try_from(o.size).ok(),
                storage_class: Some(ObjectStorageClass::from(
                    o.storage_class.as_str().to_string(),
                )),
                key: Some(o.key),
                ..Object::default()
            })
            .collect();
        let common_prefixes = page
            .common_prefixes
            .into_iter()
            .map(|p| CommonPrefix { prefix: Some(p) })
            .collect();
        Ok(ListedPage {
            contents,
            common_prefixes,
            next_token: page.next_token,
        })
    }
}

/// A page of objects and common prefixes.
struct ListedPage {
    contents: Vec<Object>,
    common_prefixes: Vec<CommonPrefix>,
    next_token: Option<String>,
}

impl ListedPage {
    /// Percent-encodes the keys and prefixes, as `encoding-type=url` asks.
    fn url_encoded(mut self) -> Self {
        for object in &mut self.contents {
            object.key = object.key.as_deref().map(url_encode);
        }
        for prefix in &mut self.common_prefixes {
            prefix.prefix = prefix.prefix.as_deref().map(url_encode);
        }
        self
    }
}

/// Percent-encodes `text` as S3 does for `encoding-type=url`.
fn url_encode(text: &str) -> String {
    utf8_percent_encode(text, KEEP).to_string()
}

/// An entity tag as the storage reports it (quoted or bare) as s3s's value.
fn entity_tag(e_tag: &str) -> ETag {
    ETag::Strong(e_tag.trim_matches('"').to_string())
}

/// Copies one staged part into `writer`; returns its MD5.
async fn copy_part(
    writer: &mut HashingWriter<BufWriter>,
    folder: &std::path::Path,
    part: &StagedPart,
    buffer: &mut [u8],
) -> S3Result<[u8; 16]> {
    let path = part_file(folder, part.number);
    let failed = |e: std::io::Error| internal(format!("reading {}: {e}", path.display()));
    let mut file = tokio::fs::File::open(&path).await.map_err(failed)?;
    let mut digest = Md5::new();
    loop {
        let n = file.read(buffer).await.map_err(failed)?;
        if n == 0 {
            return Ok(digest.finalize().into());
        }
        digest.update(&buffer[..n]);
        writer.write(&buffer[..n]).await?;
    }
}

/// The maximum keys a listing asked for, within S3's bounds.
fn max_keys(asked: Option<i32>) -> usize {
    asked.map_or(MAX_KEYS, |n| usize::try_from(n).unwrap_or(0).min(MAX_KEYS))
}

#[async_trait::async_trait]
impl S3 for ProjectBucket {
    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let bucket = Bucket {
            name: Some(self.name.clone()),
            creation_date: Some(self.created.into()),
            ..Bucket::default()
        };
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(vec![bucket]),
            ..ListBucketsOutput::default()
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.check_bucket(&req.input.bucket)?;
        Ok(S3Response::new(HeadBucketOutput::default()))
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.check_bucket(&req.input.bucket)?;
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        let object = self.object(&input.bucket, &input.key)?;
        let class = storage_class(input.storage_class.as_ref().map(|c| c.as_str()))?;
        let e_tag = self.put_body(&object, input.body).await?;
        self.storage
            .written_in(&object, class)
            .await
            .map_err(from_storage)?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(e_tag)),
            ..PutObjectOutput::default()
        }))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let object = self.object(&input.bucket, &input.key)?;
        let path = object.path();
        // The class first: an S3 backend with native classes refuses to read an archived
        // object with a bare 403.
        let info = self
            .storage
            .head(&object, None)
            .await
            .map_err(from_storage)?;
        if !info.readable() {
            return Err(s3_error!(
                InvalidObjectState,
                "The operation is not valid for the object's storage class {}: restore it first",
                info.storage_class
            ));
        }
        let range = match &input.range {
            None => None,
            Some(range) => {
                let meta = self
                    .store
                    .head(&path)
                    .await
                    .map_err(|e| from_store(&input.key, e))?;
                let bytes = range.check(meta.size).map_err(|_| {
                    s3_error!(InvalidRange, "the range is beyond {} bytes", meta.size)
                })?;
                Some(bytes)
            }
        };
        let options = GetOptions {
            range: range.clone().map(Into::into),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&path, options)
            .await
            .map_err(|e| from_store(&input.key, e))?;
        let meta = result.meta.clone();
        let served = result.range.clone();
        let content_range = range.map(|_| {
            format!(
                "bytes {}-{}/{}",
                served.start,
                served.end.saturating_sub(1),
                meta.size
            )
        });
        let body = SyncStream::new(result.into_stream());
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(body)),
            content_length: i64::try_from(served.end - served.start).ok(),
            content_range,
            accept_ranges: Some("bytes".into()),
            e_tag: meta.e_tag.as_deref().map(entity_tag),
            last_modified: Some(SystemTime::from(meta.last_modified).into()),
            storage_class: shown_class(&info),
            restore: info.restore.map(|r| r.header()),
            ..GetObjectOutput::default()
        }))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let object = self.object(&input.bucket, &input.key)?;
        let info = self.storage.head(&object, None).await.map_err(|e| {
            if e.is_not_found() {
                s3_error!(NoSuchKey, "The specified key does not exist: {}", input.key)
            } else {
                from_storage(e)
            }
        })?;
        Ok(S3Response::new(HeadObjectOutput {
            content_length: i64::try_from(info.size).ok(),
            accept_ranges: Some("bytes".into()),
            e_tag: info.e_tag.as_deref().map(entity_tag),
            last_modified: Some(SystemTime::from(info.last_modified).into()),
            storage_class: shown_class(&info),
            restore: info.restore.map(|r| r.header()),
            ..HeadObjectOutput::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let object = self.object(&input.bucket, &input.key)?;
        self.storage.delete(&object).await.map_err(from_storage)?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        if input.delete.objects.len() > MAX_DELETE {
            return Err(s3_error!(
                MalformedXML,
                "a request deletes at most {MAX_DELETE} objects"
            ));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for id in input.delete.objects {
            let done = match ObjectRef::parse(&id.key) {
                Ok(object) => self.storage.delete(&object).await,
                Err(e) => Err(e),
            };
            match done {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(id.key),
                    ..DeletedObject::default()
                }),
                Err(e) => {
                    let error = from_storage(e);
                    errors.push(Error {
                        code: Some(error.code().as_str().to_string()),
                        message: error.message().map(str::to_string),
                        key: Some(id.key),
                        ..Error::default()
                    });
                }
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..DeleteObjectsOutput::default()
        }))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let input = req.input;
        let (bucket, key) = match &input.copy_source {
            CopySource::Bucket { bucket, key, .. } => (bucket, key),
            _ => {
                return Err(s3_error!(
                    NotImplemented,
                    "only bucket copy sources are served"
                ));
            }
        };
        let from = self.object(bucket, key)?;
        let to = self.object(&input.bucket, &input.key)?;
        let class = storage_class(input.storage_class.as_ref().map(|c| c.as_str()))?;
        let meta = self.storage.copy_in(&from, &to, class).await.map_err(|e| {
            if e.is_not_found() {
                s3_error!(NoSuchKey, "The specified key does not exist: {key}")
            } else {
                from_storage(e)
            }
        })?;
        let e_tag = meta.e_tag.as_deref().map(entity_tag);
        let shown = e_tag
            .as_ref()
            .map(|t| t.value().to_string())
            .unwrap_or_default();
        self.committed(&to, &shown, meta.size);
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag,
                last_modified: Some(SystemTime::from(meta.last_modified).into()),
                ..CopyObjectResult::default()
            }),
            ..CopyObjectOutput::default()
        }))
    }

    async fn restore_object(
        &self,
        req: S3Request<RestoreObjectInput>,
    ) -> S3Result<S3Response<RestoreObjectOutput>> {
        let input = req.input;
        let object = self.object(&input.bucket, &input.key)?;
        let days = input
            .restore_request
            .as_ref()
            .and_then(|r| r.days)
            .unwrap_or(1);
        let days = u32::try_from(days)
            .map_err(|_| s3_error!(InvalidArgument, "Days must be a positive number"))?;
        let tier = match input
            .restore_request
            .as_ref()
            .and_then(|r| r.glacier_job_parameters.as_ref())
        {
            Some(parameters) => parameters
                .tier
                .as_str()
                .parse()
                .map_err(|e| s3_error!(InvalidArgument, "{e}"))?,
            None => RestoreTier::Standard,
        };
        let started = self
            .storage
            .restore_in(&object, days, tier)
            .await
            .map_err(|e| {
                if e.is_not_found() {
                    s3_error!(NoSuchKey, "The specified key does not exist: {}", input.key)
                } else {
                    from_storage(e)
                }
            })?;
        let mut response = S3Response::new(RestoreObjectOutput::default());
        if started == RestoreStarted::Started {
            response
                .headers
                .insert(RESTORE_STARTED, http::HeaderValue::from_static("true"));
        }
        Ok(response)
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        let request = PageRequest {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            max_keys: max_keys(input.max_keys),
            token: input.continuation_token.clone(),
        };
        let max = request.max_keys;
        let mut page = self
            .list_page(request, input.start_after.as_deref())
            .await?;
        let encode = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        if encode {
            page = page.url_encoded();
        }
        let key_count = page.contents.len() + page.common_prefixes.len();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            max_keys: i32::try_from(max).ok(),
            key_count: i32::try_from(key_count).ok(),
            is_truncated: Some(page.next_token.is_some()),
            next_continuation_token: page.next_token,
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            encoding_type: input.encoding_type,
            contents: Some(page.contents),
            common_prefixes: Some(page.common_prefixes),
            ..ListObjectsV2Output::default()
        }))
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        self.check_bucket(&input.bucket)?;
        let request = PageRequest {
            prefix: input.prefix.clone().unwrap_or_default(),
            delimiter: input.delimiter.clone(),
            max_keys: max_keys(input.max_keys),
            token: input.marker.clone(),
        };
        let max = request.max_keys;
        let page = self.list_page(request, None).await?;
        let truncated = page.next_token.is_some();
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            marker: input.marker,
            max_keys: i32::try_from(max).ok(),
            is_truncated: Some(truncated),
            next_marker: page.next_token,
            contents: Some(page.contents),
            common_prefixes: Some(page.common_prefixes),
            ..ListObjectsOutput::default()
        }))
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        self.object(&input.bucket, &input.key)?;
        let upload_id = self.uploads.create(&input.key).await?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            ..CreateMultipartUploadOutput::default()
        }))
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let input = req.input;
        self.object(&input.bucket, &input.key)?;
        let folder = self.uploads.folder(&input.upload_id, &input.key).await?;
        let tally = self
            .uploads
            .put_part(&folder, input.part_number, input.body)
            .await?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(tally.e_tag())),
            ..UploadPartOutput::default()
        }))
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.object(&input.bucket, &input.key)?;
        let folder = self.uploads.folder(&input.upload_id, &input.key).await?;
        let parts = self
            .uploads
            .parts(&folder)
            .await?
            .into_iter()
            .map(|p| Part {
                part_number: Some(p.number),
                size: i64::try_from(p.size).ok(),
                last_modified: Some(p.modified.into()),
                ..Part::default()
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            parts: Some(parts),
            ..ListPartsOutput::default()
        }))
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let object = self.object(&input.bucket, &input.key)?;
        let folder = self.uploads.folder(&input.upload_id, &input.key).await?;
        let requested = input
            .multipart_upload
            .and_then(|u| u.parts)
            .unwrap_or_default();
        let staged = self.uploads.parts(&folder).await?;
        let parts = ProjectBucket::chosen_parts(staged, requested)?;
        let (e_tag, size) = self.assemble(&object, &folder, &parts).await?;
        self.uploads.remove(&folder).await?;
        self.committed(&object, &e_tag, size);
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(e_tag)),
            ..CompleteMultipartUploadOutput::default()
        }))
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.object(&input.bucket, &input.key)?;
        let folder = self.uploads.folder(&input.upload_id, &input.key).await?;
        self.uploads.remove(&folder).await?;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }
}

/// A storage class a request names (`STANDARD` when it names none).
fn storage_class(name: Option<&str>) -> S3Result<StorageClass> {
    name.map_or(Ok(StorageClass::Standard), |n| {
        n.parse().map_err(|e| s3_error!(InvalidStorageClass, "{e}"))
    })
}

/// The storage class a response shows: none for `STANDARD`, as S3 answers.
fn shown_class(info: &ObjectInfo) -> Option<s3s::dto::StorageClass> {
    (info.storage_class != StorageClass::Standard)
        .then(|| s3s::dto::StorageClass::from(info.storage_class.as_str().to_string()))
}
