//! [`Storage`]: the configured object storage, addressed as `BUCKET/KEY`.

use crate::classed_s3::{ClassedS3, WriteClass};
use crate::classes::{
    ClassMode, ClassState, ObjectClasses, ObjectOptions, RestoreStarted, RestoreStatus,
    RestoreTier, StorageClass, state_of,
};
use crate::config::{StorageConfig, redact};
use crate::error::StorageError;
use crate::listing::{self, ListPage, ListingMode};
use crate::location::{ObjectRef, validate_bucket, validate_prefix};
use crate::s3_api::{S3Api, S3Target};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{
    CopyOptions, GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
};
use sluice_engine::store::Store;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The configured object storage: a local directory or an S3 bucket (with an optional
/// prefix), seen as one namespace of `BUCKET/KEY` paths. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    listing: ListingMode,
    description: Arc<str>,
    /// Requests `object_store` does not make, on an S3 storage.
    s3: Option<S3Api>,
    classes: Classes,
    options: ObjectOptions,
    copies: Arc<AtomicU64>,
}

/// Where a storage's classes and restores are kept.
#[derive(Clone, Debug)]
enum Classes {
    /// Nowhere: every object is `STANDARD`.
    Unkept,
    /// In the node's store.
    Emulated(ObjectClasses),
    /// On the S3 server.
    Native(S3Api),
}

/// What a storage knows about one object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectInfo {
    /// The key inside its bucket.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time.
    pub last_modified: DateTime<Utc>,
    /// The entity tag as the backend reports it.
    pub e_tag: Option<String>,
    /// The version, on versioned buckets.
    pub version: Option<String>,
    /// The storage class (as far as the storage knows: see [`Storage::head`]).
    pub storage_class: StorageClass,
    /// The restore of an archived object, if one is ongoing or done.
    pub restore: Option<RestoreStatus>,
}

impl ObjectInfo {
    fn from_meta(meta: &ObjectMeta, bucket: &str) -> ObjectInfo {
        let location = meta.location.as_ref();
        let key = location
            .strip_prefix(bucket)
            .and_then(|k| k.strip_prefix('/'))
            .unwrap_or(location);
        ObjectInfo {
            key: key.to_string(),
            size: meta.size,
            last_modified: meta.last_modified,
            e_tag: meta.e_tag.clone(),
            version: meta.version.clone(),
            storage_class: StorageClass::Standard,
            restore: None,
        }
    }

    fn with_class(self, state: ClassState) -> ObjectInfo {
        ObjectInfo {
            storage_class: state.class,
            restore: state.restore,
            ..self
        }
    }

    /// Whether the object can be read now (it is not archived, or it is restored).
    pub fn readable(&self) -> bool {
        ClassState {
            class: self.storage_class,
            restore: self.restore,
        }
        .readable()
    }

    /// The entity tag as S3 shows it: in double quotes (empty when the backend reports none).
    pub fn quoted_etag(&self) -> String {
        self.e_tag.as_deref().map(quote_etag).unwrap_or_default()
    }
}

/// An entity tag in double quotes, as S3 shows it (local stores report it bare).
pub(crate) fn quote_etag(e_tag: &str) -> String {
    if e_tag.starts_with('"') {
        e_tag.to_string()
    } else {
        format!("\"{e_tag}\"")
    }
}

/// An object's content (or a range of it) and its metadata.
#[derive(Clone, Debug)]
pub struct Object {
    /// Metadata of the whole object.
    pub info: ObjectInfo,
    /// The bytes read.
    pub data: Bytes,
}

/// Options of a read.
#[derive(Clone, Debug, Default)]
pub struct GetRequest {
    /// Only these bytes (end exclusive).
    pub range: Option<Range<u64>>,
    /// This version of the object.
    pub version: Option<String>,
    /// Fail with [`StorageError::Changed`] unless the object still has this entity tag.
    pub if_match: Option<String>,
}

impl Storage {
    /// Opens the storage a URL names (see the crate docs); a relative `file://` directory is
    /// taken relative to `base_dir` and created if missing. An S3 storage is not contacted
    /// until it is used.
    pub fn from_url(url: &str, base_dir: &std::path::Path) -> Result<Storage, StorageError> {
        Storage::open(&StorageConfig::parse(url, base_dir)?, url)
    }

    /// Opens a parsed storage configuration; `url` is what it was parsed from, for messages.
    pub fn open(config: &StorageConfig, url: &str) -> Result<Storage, StorageError> {
        let description: Arc<str> = redact(url).into();
        let bad = |reason: String| StorageError::Url {
            url: description.to_string(),
            reason,
        };
        match config {
            StorageConfig::File { dir } => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
                let store = LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| bad(format!("cannot open {}: {e}", dir.display())))?;
                Ok(Storage::over(
                    Arc::new(store),
                    ListingMode::Walk,
                    description,
                ))
            }
            StorageConfig::S3 {
                bucket,
                prefix,
                settings,
            } => {
                // reqwest is built without a default TLS provider: ring is ours. A second
                // install (another storage, another crate) is refused harmlessly.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
                for (key, value) in settings {
                    builder = builder.with_config(*key, value);
                }
                let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
                if endpoint.is_some_and(|e| e.starts_with("http://")) {
                    builder = builder.with_allow_http(true);
                }
                let region = builder
                    .get_config_value(&AmazonS3ConfigKey::Region)
                    .unwrap_or_else(|| "us-east-1".into());
                let bucket_url = bucket_url(&builder, bucket, &region);
                let s3 = builder.build().map_err(|e| bad(e.to_string()))?;
                let api = S3Api::new(S3Target {
                    bucket: bucket.clone(),
                    bucket_url,
                    region,
                    prefix: prefix.clone(),
                    credentials: s3.credentials().clone(),
                })
                .map_err(bad)?;
                let s3 = ClassedS3::new(Arc::new(s3), api.clone());
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, Path::from(prefix.as_str())))
                };
                let mut storage = Storage::over(store, ListingMode::Native, description);
                storage.s3 = Some(api);
                Ok(storage)
            }
        }
    }

    fn over(store: Arc<dyn ObjectStore>, listing: ListingMode, description: Arc<str>) -> Storage {
        Storage {
            store,
            listing,
            description,
            s3: None,
            classes: Classes::Unkept,
            options: ObjectOptions::default(),
            copies: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The same storage keeping storage classes and restores as `options.classes` says: on
    /// the S3 server of an S3 storage (native), or in `store`, shared by every process on it
    /// (emulated). Without this, every object is `STANDARD`, and a put or copy into another
    /// class is refused. Native classes on a local directory are refused.
    pub fn with_classes(
        self,
        store: Arc<dyn Store>,
        options: ObjectOptions,
    ) -> Result<Storage, StorageError> {
        let classes = match (options.classes, &self.s3) {
            (ClassMode::Auto | ClassMode::Native, Some(api)) => Classes::Native(api.clone()),
            (ClassMode::Auto | ClassMode::Emulated, None) | (ClassMode::Emulated, Some(_)) => {
                Classes::Emulated(ObjectClasses::new(store, options))
            }
            (ClassMode::Native, None) => {
                return Err(StorageError::Url {
                    url: self.description.to_string(),
                    reason: "objects.classes is native, which needs an s3:// storage (classes \
                             on a local directory are emulated: leave objects.classes out)"
                        .into(),
                });
            }
        };
        Ok(Storage {
            classes,
            options,
            ..self
        })
    }

    /// Whether storage classes and restores are the S3 server's own.
    pub fn native_classes(&self) -> bool {
        matches!(self.classes, Classes::Native(_))
    }

    /// The emulated classes, if they are.
    fn emulated(&self) -> Option<&ObjectClasses> {
        match &self.classes {
            Classes::Emulated(classes) => Some(classes),
            Classes::Unkept | Classes::Native(_) => None,
        }
    }

    /// The root store, keyed by `BUCKET/KEY` paths: what functions' object API serves.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The same storage with its root store wrapped, e.g. to instrument or throttle it.
    pub fn wrap_store(
        self,
        wrap: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>,
    ) -> Storage {
        Storage {
            store: wrap(self.store),
            ..self
        }
    }

    /// Reads a whole object.
    pub async fn get(&self, object: &ObjectRef) -> Result<Object, StorageError> {
        self.get_with(object, GetRequest::default()).await
    }

    /// Reads an object, or part of it, with options.
    pub async fn get_with(
        &self,
        object: &ObjectRef,
        request: GetRequest,
    ) -> Result<Object, StorageError> {
        if let Classes::Native(api) = &self.classes {
            let (info, data) = api
                .get(
                    &api.key(&object.to_string()),
                    request.range,
                    request.version.as_deref(),
                    request.if_match.as_deref(),
                    &object.key,
                )
                .await
                .map_err(|e| e.about(&object.to_string()))?;
            return Ok(Object { info, data });
        }
        let failed = |e| StorageError::from_store(object.to_string(), e);
        let options = GetOptions {
            range: request.range.map(Into::into),
            version: request.version,
            if_match: request.if_match,
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&object.path(), options)
            .await
            .map_err(failed)?;
        let info = ObjectInfo::from_meta(&result.meta, &object.bucket);
        let info = self.classified(object, info).await?;
        if !info.readable() {
            return Err(StorageError::InvalidObjectState {
                path: object.to_string(),
                reason: format!(
                    "the object is in the {} storage class and is not restored (restore it first)",
                    info.storage_class
                ),
            });
        }
        let data = result.bytes().await.map_err(failed)?;
        Ok(Object { info, data })
    }

    /// An object's metadata (of a given version, if any).
    pub async fn head(
        &self,
        object: &ObjectRef,
        version: Option<&str>,
    ) -> Result<ObjectInfo, StorageError> {
        if let Classes::Native(api) = &self.classes {
            return api
                .head(&api.key(&object.to_string()), version, &object.key)
                .await
                .map_err(|e| e.about(&object.to_string()));
        }
        let options = GetOptions {
            head: true,
            version: version.map(str::to_string),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&object.path(), options)
            .await
            .map_err(|e| StorageError::from_store(object.to_string(), e))?;
        self.classified(object, ObjectInfo::from_meta(&result.meta, &object.bucket))
            .await
    }

    /// `info` of `object` with its storage class and restore.
    async fn classified(
        &self,
        object: &ObjectRef,
        info: ObjectInfo,
    ) -> Result<ObjectInfo, StorageError> {
        let Some(classes) = self.emulated() else {
            return Ok(info);
        };
        let Some(record) = classes.record(&object.to_string()).await? else {
            return Ok(info);
        };
        // Some listings carry no entity tag: the object's own says which version it is.
        let e_tag = match &info.e_tag {
            Some(e_tag) => Some(e_tag.clone()),
            None => {
                self.store
                    .head(&object.path())
                    .await
                    .map_err(|e| StorageError::from_store(object.to_string(), e))?
                    .e_tag
            }
        };
        let state = state_of(Some(&record), e_tag.as_deref(), Utc::now());
        Ok(info.with_class(state))
    }

    /// The storage classes of listed objects of `bucket` (of the whole storage, keys being
    /// `BUCKET/KEY` paths, when `bucket` is empty), filled in.
    pub async fn classify(
        &self,
        bucket: &str,
        infos: Vec<ObjectInfo>,
    ) -> Result<Vec<ObjectInfo>, StorageError> {
        let path_of = |info: &ObjectInfo| {
            if bucket.is_empty() {
                info.key.clone()
            } else {
                format!("{bucket}/{}", info.key)
            }
        };
        if let Classes::Native(api) = &self.classes {
            let paths: Vec<String> = infos.iter().map(path_of).collect();
            let classes = api
                .classes(&paths)
                .await
                .map_err(|e| e.about(paths.first().map_or(bucket, String::as_str)))?;
            return Ok(infos
                .into_iter()
                .map(|info| ObjectInfo {
                    storage_class: classes.get(&path_of(&info)).copied().unwrap_or_default(),
                    ..info
                })
                .collect());
        }
        let mut out = Vec::with_capacity(infos.len());
        for info in infos {
            let object = if bucket.is_empty() {
                ObjectRef::parse(&info.key)
            } else {
                ObjectRef::new(bucket, &info.key)
            };
            // A path no flow can name (outside any bucket) has no class of its own.
            match object {
                Ok(object) => out.push(self.classified(&object, info).await?),
                Err(_) => out.push(info),
            }
        }
        Ok(out)
    }

    /// Writes an object whole, replacing any previous one; returns its entity tag.
    pub async fn put(
        &self,
        object: &ObjectRef,
        data: Bytes,
    ) -> Result<Option<String>, StorageError> {
        self.put_in(object, data, StorageClass::Standard).await
    }

    /// Writes an object whole in a storage class, replacing any previous one; returns its
    /// entity tag.
    pub async fn put_in(
        &self,
        object: &ObjectRef,
        data: Bytes,
        class: StorageClass,
    ) -> Result<Option<String>, StorageError> {
        let classes = self.classes_for(object, class)?;
        let mut options = PutOptions::default();
        if self.native_classes() && class != StorageClass::Standard {
            options.extensions.insert(WriteClass(class));
        }
        let result = self
            .store
            .put_opts(&object.path(), PutPayload::from(data), options)
            .await
            .map_err(|e| StorageError::from_store(object.to_string(), e))?;
        if let Some(classes) = classes {
            classes
                .written(&object.to_string(), result.e_tag.as_deref(), class)
                .await?;
        }
        Ok(result.e_tag)
    }

    /// Records that `object`, written by another path (a streamed upload), is in `class`.
    pub async fn written_in(
        &self,
        object: &ObjectRef,
        class: StorageClass,
    ) -> Result<(), StorageError> {
        if let Classes::Native(api) = &self.classes {
            if class != StorageClass::Standard {
                // The object is rewritten onto itself in its class: its content is unchanged.
                let key = api.key(&object.to_string());
                api.copy(&key, &key, Some(class))
                    .await
                    .map_err(|e| e.about(&object.to_string()))?;
            }
            return Ok(());
        }
        if let Some(classes) = self.classes_for(object, class)? {
            let info = self.head(object, None).await?;
            classes
                .written(&object.to_string(), info.e_tag.as_deref(), class)
                .await?;
        }
        Ok(())
    }

    /// The class store, when writing `object` in `class` needs one (none when the classes
    /// are native); refused when classes are not kept.
    fn classes_for(
        &self,
        object: &ObjectRef,
        class: StorageClass,
    ) -> Result<Option<&ObjectClasses>, StorageError> {
        match (&self.classes, class) {
            (_, StorageClass::Standard) | (Classes::Native(_), _) => Ok(None),
            (Classes::Emulated(classes), _) => Ok(Some(classes)),
            (Classes::Unkept, _) => Err(StorageError::Unsupported {
                path: object.to_string(),
                reason: format!(
                    "the {class} storage class needs the node's store, and this storage has none"
                ),
            }),
        }
    }

    /// Copies an object, replacing any object at `to`; returns the copy's metadata.
    pub async fn copy(&self, from: &ObjectRef, to: &ObjectRef) -> Result<ObjectInfo, StorageError> {
        self.copy_in(from, to, StorageClass::Standard).await
    }

    /// Copies an object into a storage class, replacing any object at `to`; returns the
    /// copy's metadata. An archived source must be restored first, as on S3.
    pub async fn copy_in(
        &self,
        from: &ObjectRef,
        to: &ObjectRef,
        class: StorageClass,
    ) -> Result<ObjectInfo, StorageError> {
        let classes = self.classes_for(to, class)?;
        if self.injects_copy_failure() {
            return Err(StorageError::InjectedFault {
                path: from.to_string(),
            });
        }
        if self.native_classes() {
            // The server refuses to copy an archived source that is not restored.
            let mut options = CopyOptions::default();
            options.extensions.insert(WriteClass(class));
            self.store
                .copy_opts(&from.path(), &to.path(), options)
                .await
                .map_err(|e| StorageError::from_store(from.to_string(), e))?;
            return self.head(to, None).await;
        }
        let classified = match self.emulated() {
            Some(classes) => classes.record(&from.to_string()).await?.is_some(),
            None => false,
        };
        if classified {
            let source = self.head(from, None).await?;
            if !source.readable() {
                return Err(StorageError::InvalidObjectState {
                    path: from.to_string(),
                    reason: format!(
                        "the copy source is in the {} storage class and is not restored",
                        source.storage_class
                    ),
                });
            }
        }
        self.store
            .copy(&from.path(), &to.path())
            .await
            .map_err(|e| StorageError::from_store(from.to_string(), e))?;
        let meta = self
            .store
            .head(&to.path())
            .await
            .map_err(|e| StorageError::from_store(to.to_string(), e))?;
        let info = ObjectInfo::from_meta(&meta, &to.bucket);
        match classes {
            Some(classes) => {
                classes
                    .written(&to.to_string(), info.e_tag.as_deref(), class)
                    .await?;
                Ok(ObjectInfo {
                    storage_class: class,
                    restore: None,
                    ..info
                })
            }
            None => {
                // A local copy is a hard link: it has its source's entity tag, so an older
                // record of `to` could seem to apply to it.
                if let Some(classes) = self.emulated() {
                    classes.deleted(&to.to_string()).await?;
                }
                Ok(info)
            }
        }
    }

    /// Whether this copy is one the configured failure rate fails (a fixed pseudo-random
    /// sequence: the same rate fails the same share of copies in every run).
    fn injects_copy_failure(&self) -> bool {
        let rate = self.options.copy_failure_rate;
        if rate <= 0.0 {
            return false;
        }
        let n = self.copies.fetch_add(1, Ordering::Relaxed);
        // splitmix64 of the copy's number, as a fraction of 1.
        let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < rate
    }

    /// Restores an archived object for `days` days in the `Standard` tier (see
    /// [`Storage::restore_in`]).
    pub async fn restore(
        &self,
        object: &ObjectRef,
        days: u32,
    ) -> Result<RestoreStarted, StorageError> {
        self.restore_in(object, days, RestoreTier::Standard).await
    }

    /// Restores an archived object for `days` days in `tier`: the restore is ongoing for a
    /// while (the configured restore delay when emulated, whatever the tier; the server's time
    /// when native), then the object is readable until it expires. Restoring a restored object
    /// moves its expiry.
    pub async fn restore_in(
        &self,
        object: &ObjectRef,
        days: u32,
        tier: RestoreTier,
    ) -> Result<RestoreStarted, StorageError> {
        if let Classes::Native(api) = &self.classes {
            return api
                .restore(&api.key(&object.to_string()), days, tier)
                .await
                .map_err(|e| e.about(&object.to_string()));
        }
        let info = self.head(object, None).await?;
        let Some(classes) = self.emulated() else {
            return Err(StorageError::InvalidObjectState {
                path: object.to_string(),
                reason: format!(
                    "restore is not allowed for the object's storage class {}",
                    info.storage_class
                ),
            });
        };
        classes
            .restore(&object.to_string(), info.e_tag.as_deref(), days)
            .await
    }

    /// Deletes an object; deleting a missing object succeeds, as on S3.
    pub async fn delete(&self, object: &ObjectRef) -> Result<(), StorageError> {
        match self.store.delete(&object.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(StorageError::from_store(object.to_string(), e)),
        }
        if let Some(classes) = self.emulated() {
            classes.deleted(&object.to_string()).await?;
        }
        Ok(())
    }

    /// The objects of `bucket` whose keys start with `prefix` (a plain string prefix, as on
    /// S3), in lexicographic key order, after `start_after` if given. The listing is fetched as
    /// it is consumed.
    pub fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<BoxStream<'static, Result<ObjectInfo, StorageError>>, StorageError> {
        validate_bucket(bucket)?;
        validate_prefix(prefix)?;
        let full = format!("{bucket}/{prefix}");
        let after = start_after.map(|a| format!("{bucket}/{a}"));
        Ok(self.list_sorted(bucket, full, after))
    }

    /// The objects of the whole storage whose paths (`BUCKET/KEY`, as [`ObjectInfo::key`])
    /// start with `prefix`, in lexicographic order, after the path `start_after` if given: the
    /// listing of [`Storage::list`] across buckets.
    pub fn list_paths(
        &self,
        prefix: &str,
        start_after: Option<&str>,
    ) -> Result<BoxStream<'static, Result<ObjectInfo, StorageError>>, StorageError> {
        validate_prefix(prefix)?;
        Ok(self.list_sorted("", prefix.to_string(), start_after.map(str::to_string)))
    }

    /// The sorted listing under the full path `prefix`, keys shown relative to `bucket`.
    fn list_sorted(
        &self,
        bucket: &str,
        prefix: String,
        after: Option<String>,
    ) -> BoxStream<'static, Result<ObjectInfo, StorageError>> {
        let bucket = bucket.to_string();
        let shown = prefix.clone();
        let stream = listing::list_sorted(self.store.clone(), self.listing, prefix, after);
        stream
            .map_ok(move |meta| ObjectInfo::from_meta(&meta, &bucket))
            .map_err(move |e| StorageError::from_store(shown.clone(), e))
            .boxed()
    }

    /// One page of [`Storage::list`]: at most `max_keys` objects, and whether more follow.
    pub async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        max_keys: usize,
    ) -> Result<ListPage, StorageError> {
        let mut objects: Vec<ObjectInfo> = self
            .list(bucket, prefix, start_after)?
            .take(max_keys.saturating_add(1))
            .try_collect()
            .await?;
        let truncated = objects.len() > max_keys;
        objects.truncate(max_keys);
        Ok(ListPage { objects, truncated })
    }

    /// A buffered writer of one object: written with a single put when it stays under
    /// `capacity` bytes, streamed as a multipart upload in `capacity`-sized parts otherwise
    /// (at least 5 MiB, the smallest part S3 accepts). At most two parts are in flight, so
    /// about three parts' worth of memory is used whatever the object's size. Nothing is
    /// visible before the writer is shut down.
    pub fn writer(&self, object: &ObjectRef, capacity: usize) -> BufWriter {
        const MIN_PART: usize = 5 * 1024 * 1024;
        BufWriter::with_capacity(self.store.clone(), object.path(), capacity.max(MIN_PART))
            .with_max_concurrency(2)
    }
}

/// The URL of an S3 bucket as `object_store` addresses it: path-style under the endpoint,
/// or the endpoint itself for virtual-hosted requests (which then names the bucket).
fn bucket_url(builder: &AmazonS3Builder, bucket: &str, region: &str) -> String {
    let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
    let virtual_hosted = builder
        .get_config_value(&AmazonS3ConfigKey::VirtualHostedStyleRequest)
        .is_some_and(|v| v == "true");
    match (endpoint, virtual_hosted) {
        (Some(endpoint), true) => endpoint.trim_end_matches('/').to_string(),
        (Some(endpoint), false) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
        (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
    }
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("url", &self.description)
            .field("store", &self.store)
            .finish()
    }
}
