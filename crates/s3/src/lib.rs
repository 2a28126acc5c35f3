//! An S3-compatible endpoint over a Sluice project's storage, so that `aws s3 cp`, boto3 and
//! rclone put raw data where flows read it, and fetch what flows wrote.
//!
//! The protocol (routing, XML, Signature Version 4, aws-chunked bodies) is the `s3s` library's;
//! this crate implements its [`s3s::S3`] trait over the project's [`sluice_io::Storage`]:
//!
//! - **One bucket** ([`S3Options::bucket`]) is the storage root. Its keys are the storage paths
//!   `FOLDER/KEY`, where `FOLDER` is what flows call a bucket: the object `raw/2024/a.csv` is the
//!   one a flow reads as `Bucket=raw, Key=2024/a.csv`. Keys are validated as flows' keys are
//!   (nothing escapes the root, no empty or `..` segments), and a key needs a folder.
//! - **Operations**: PutObject, GetObject (with ranges), HeadObject, DeleteObject(s),
//!   CopyObject, ListObjects(V2) (prefix, delimiter, paging), ListBuckets, HeadBucket,
//!   GetBucketLocation, and multipart uploads (create, upload part, list parts, complete,
//!   abort). Others answer `NotImplemented`.
//! - **Streaming**: bodies stream to and from the storage; a put holds at most a few
//!   [`PUT_BUFFER`]s in memory whatever the object's size. Multipart parts are staged as files
//!   in [`S3Options::uploads_dir`] and streamed into the object on completion.
//! - **Entity tags**: a put or an upload part answers the MD5 of its body, a completed
//!   multipart upload the MD5 of its parts' MD5s with `-N`, as S3 does. Reads answer the
//!   storage's own entity tag: the same on an S3 backend, an opaque one on a local directory.
//! - **Auth**: every request is checked with Signature Version 4 against
//!   [`S3Options::access_keys`].
//!
//! Every write goes through the storage's store: a node with object triggers observes that
//! store (`sluice_io::Observed`), so puts, copies, completed multipart uploads and deletes raise
//! their events before the request is answered.

mod auth;
mod bucket;
mod errors;
mod listing;
mod multipart;
mod options;
mod serve;
mod writes;

pub use options::{S3Options, S3OptionsError};
pub use serve::S3Endpoint;
pub use sluice_io::bucket_name_for;
pub use writes::PUT_BUFFER;
