//! Sluice object storage and what flows do with it.
//!
//! # One namespace of paths
//!
//! A project configures one storage, by URL (`storage:` in `sluice.yaml`):
//!
//! - `file://DIR`: a local directory (relative to the project directory unless absolute;
//!   created if missing);
//! - `s3://BUCKET[/PREFIX]?endpoint=...&region=...&path_style=true&access_key_id=...&secret_access_key=...`:
//!   any S3-compatible service (AWS S3, MinIO, R2, OSS through its S3 endpoint). Settings missing
//!   from the URL come from the usual `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT`, ...). Any other
//!   query parameter is an `object_store` S3 setting (`allow_http`, `skip_signature`, ...).
//!
//! Whatever the backend, storage is **one namespace of paths `BUCKET/KEY`**: the bucket a flow
//! names (`"Bucket"` in an ASL `ItemReader`, a `ResultWriter` or an `s3:*` Task) is the top-level
//! folder of the configured storage. With `file://DIR` the object `Bucket=raw, Key=2024/a.csv` is
//! the file `DIR/raw/2024/a.csv`; with `s3://data/sluice` it is the S3 object
//! `sluice/raw/2024/a.csv` in the bucket `data`. Functions see the same namespace through their
//! object API (`context.objects.get("raw/2024/a.csv")`), served from [`Storage::object_store`].
//! Buckets and keys are validated ([`ObjectRef::new`]): nothing a flow or a function writes can
//! escape the configured root.
//!
//! # What is here
//!
//! - [`Storage`]: get (whole or a byte range), put, copy, delete, head, and sorted listings under
//!   a prefix, streamed or in pages; storage classes and restores of archived objects
//!   ([`StorageClass`], [`Storage::restore`]: the S3 server's own on an S3 storage, emulated in the
//!   node's store elsewhere, as the `classes` module describes).
//! - [`readers`]: Distributed Map item readers, all streaming: CSV, JSON array, JSON lines,
//!   S3 Inventory and Athena manifests, object listings. Objects are read in byte ranges
//!   ([`ObjectReader`]), so a 10 GB object never sits in memory.
//! - [`writer`]: the Distributed Map `ResultWriter`, laid out as Step Functions lays it out.
//! - [`ObjectItemStore`]: the engine's [`sluice_engine::items::ItemStore`] over a [`Storage`].
//! - [`BuiltinFunctions`]: functions shipped in the binary (`runtime: builtin`), such as
//!   `count-by`, an [`sluice_engine::invoke::Invoker`] that passes every other call on.
//! - [`ObjectIntegrations`]: the built-in `s3:*` and `aws-sdk:s3:*` Task integrations, an
//!   [`sluice_engine::invoke::Invoker`] that passes every other call on.
//! - [`http`]: the `http:invoke` Task integration and functions that are HTTP endpoints,
//!   served by [`http::HttpInvoker`], which passes every other call on.

mod append_objects;
mod builtins;
mod chunked;
mod classed_s3;
mod classes;
mod config;
mod copy_files;
mod count_by;
mod error;
mod fields;
pub mod http;
mod integrations;
mod item_store;
mod json_scan;
mod listing;
mod location;
mod observed;
pub mod readers;
mod s3_api;
mod storage;
#[cfg(feature = "test-support")]
pub mod testing;
mod unzip;
pub mod writer;

pub use builtins::{BuiltinFunction, BuiltinFunctions, Handler};
pub use chunked::ObjectReader;
pub use classes::{
    ClassMode, ObjectOptions, RestoreStarted, RestoreStatus, RestoreTier, StorageClass,
};
pub use config::StorageConfig;
pub use error::StorageError;
pub use integrations::ObjectIntegrations;
pub use item_store::ObjectItemStore;
pub use listing::ListPage;
pub use location::{ObjectRef, bucket_name_for, valid_bucket_name, validate_prefix};
pub use observed::{Change, Created, ObjectObserver, Observed, StorageChange};
pub use readers::ReadOptions;
pub use storage::{GetRequest, Object, ObjectInfo, Storage};

/// The error name of a failed `ItemReader`.
pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
/// The error name of a failed `ResultWriter`.
pub const RESULT_WRITER_FAILED: &str = "States.ResultWriterFailed";
