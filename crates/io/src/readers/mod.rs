//! Distributed Map item readers.
//!
//! [`open`] takes a state's `ItemReader` (parameters evaluated) and returns the items as a
//! blocking iterator. Everything streams: objects are read in byte ranges and parsed
//! incrementally, listings are fetched a page at a time, so memory stays bounded by the range
//! size and the largest single record, whatever the size of the input.
//!
//! | reader | items |
//! |---|---|
//! | `s3:getObject`, `InputType: CSV` | one object per row, header name -> string; header from the first row (`CSVHeaderLocation: FIRST_ROW`, default) or `CSVHeaders` (`GIVEN`); `CSVDelimiter` `COMMA`, `PIPE`, `SEMICOLON`, `SPACE`, `TAB` |
//! | `InputType: JSON` | the elements of the top-level array, or of the array `ItemsPointer` (a JSON Pointer) names |
//! | `InputType: JSONL` | one value per non-empty line |
//! | `InputType: PARQUET` | one object per row, column name -> typed value (see `parquet.rs`; cargo feature `parquet`) |
//! | `InputType: MANIFEST` or `ManifestType: S3_INVENTORY` | the rows of the CSV data files an S3 Inventory `manifest.json` lists, keyed by its `fileSchema` (`Bucket`, `Key`, `Size`, ...) |
//! | `ManifestType: ATHENA_DATA` | the records of the files an Athena manifest lists (`s3://BUCKET/KEY` per line), read as `InputType` |
//! | `s3:listObjectsV2` | `{Etag, Key, LastModified, Size, StorageClass}` per object under `Prefix`, in key order; with `Transformation: LOAD_AND_FLATTEN`, the records of every listed object |
//!
//! CloudFlow FDL readers map onto the same: `OSS_CSV`, `OSS_JSON_LIST`, `OSS_OBJECTS`,
//! `OSS_INVENTORY_FILES` with `SourceParameters` `Bucket`, `ObjectName`, `Prefix`.
//!
//! CSV follows Step Functions: every value is a string; fields may be quoted (a quoted field
//! may hold delimiters and newlines, `""` is a quote); a backslash takes the next character
//! literally; short rows are padded with `""` and extra fields dropped; blank lines are
//! skipped. Objects whose key ends in `.gz` are decompressed.
//!
//! A record that cannot be read (a bad CSV row, a JSON value that does not parse) becomes
//! [`ReadItem::Malformed`], an item that fails with `States.ItemReaderFailed` and the cause
//! `BUCKET/KEY line N: reason`, and reading goes on. A missing object, a broken connection or
//! a structure that cannot be followed (a JSON file that is not an array) ends the read with an
//! `Err` of the same name. `ReaderConfig.MaxItems` caps the items (malformed ones count), and
//! `skip` resumes after the items a previous run already took.

mod concat;
mod csv;
mod json_array;
mod jsonl;
mod listing;
mod manifest;
#[cfg(feature = "parquet")]
mod parquet;
mod spec;
mod window;

use crate::ITEM_READER_FAILED;
use crate::chunked::ObjectReader;
use crate::location::ObjectRef;
use crate::storage::Storage;
use flate2::bufread::MultiGzDecoder;
use serde_json::Value;
use sluice_engine::invoke::TaskError;
use sluice_engine::items::{ItemIter, ReadItem};
use spec::{Format, ReaderSpec, Source};
use std::fmt::Display;
use std::io::{self, BufRead, BufReader};
use tokio::runtime::Handle;

/// How readers fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Size of the byte ranges objects are read in.
    pub chunk_bytes: u64,
    /// Objects per listing request.
    pub page_size: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            chunk_bytes: 4 * 1024 * 1024,
            page_size: 1000,
        }
    }
}

/// What a reader needs to fetch: the storage, a runtime to block on, and its options.
#[derive(Clone)]
pub(crate) struct Context {
    pub storage: Storage,
    pub handle: Handle,
    pub options: ReadOptions,
}

/// Opens an `ItemReader` and returns its items from index `skip` on (after `MaxItems`).
/// The iterator blocks on `handle`: drain it off the runtime's worker threads.
pub fn open(
    storage: &Storage,
    handle: &Handle,
    options: ReadOptions,
    reader: &Value,
    skip: u64,
) -> Result<ItemIter, TaskError> {
    let spec = ReaderSpec::parse(reader)?;
    let context = Context {
        storage: storage.clone(),
        handle: handle.clone(),
        options,
    };
    let items = match spec.source {
        Source::Object {
            object,
            version,
            format,
        } => open_object(&context, &object, version.as_deref(), &format)?,
        Source::Listing {
            bucket,
            prefix,
            load: None,
        } => listing::items(context, bucket, prefix),
        Source::Listing {
            bucket,
            prefix,
            load: Some(format),
        } => {
            let objects = listing::objects(context.clone(), bucket, prefix);
            concat::concat(objects, move |object| {
                open_object(&context, object, None, &format)
            })
        }
        Source::Inventory {
            manifest,
            version,
            headers,
        } => manifest::inventory(context, &manifest, version.as_deref(), headers)?,
        Source::Athena {
            manifest,
            version,
            format,
        } => manifest::athena(context, &manifest, version.as_deref(), format)?,
    };
    Ok(window::window(items, spec.max_items, skip))
}

/// The records of one object in a format. Fails at once when the object is missing.
pub(crate) fn open_object(
    context: &Context,
    object: &ObjectRef,
    version: Option<&str>,
    format: &Format,
) -> Result<ItemIter, TaskError> {
    let origin = object.to_string();
    if *format == Format::Parquet {
        return open_parquet(context, object, version, origin);
    }
    let input = open_input(context, object, version)?;
    Ok(match format {
        Format::Csv(options) => Box::new(csv::CsvItems::new(input, origin, options.clone())),
        Format::Json { pointer } => Box::new(json_array::JsonArrayItems::new(
            input,
            origin,
            pointer.clone(),
        )),
        Format::JsonLines => Box::new(jsonl::JsonLinesItems::new(input, origin)),
        Format::Parquet => unreachable!("Parquet objects are read by range"),
    })
}

/// The rows of a Parquet object, read by range.
#[cfg(feature = "parquet")]
fn open_parquet(
    context: &Context,
    object: &ObjectRef,
    version: Option<&str>,
    origin: String,
) -> Result<ItemIter, TaskError> {
    let reader = ObjectReader::open(
        &context.storage,
        &context.handle,
        object,
        version,
        context.options.chunk_bytes,
    )
    .map_err(|e| failed(e.to_string()))?;
    Ok(Box::new(parquet::ParquetItems::open(reader, origin)?))
}

/// Without the `parquet` feature, a Parquet reader says so.
#[cfg(not(feature = "parquet"))]
fn open_parquet(
    _: &Context,
    _: &ObjectRef,
    _: Option<&str>,
    origin: String,
) -> Result<ItemIter, TaskError> {
    Err(failed(format!(
        "{origin}: InputType PARQUET needs a sluice built with the `parquet` feature (on by default)"
    )))
}

/// An object's bytes, read in ranges, decompressed when its key ends in `.gz`.
pub(crate) fn open_input(
    context: &Context,
    object: &ObjectRef,
    version: Option<&str>,
) -> Result<Box<dyn BufRead + Send>, TaskError> {
    let reader = ObjectReader::open(
        &context.storage,
        &context.handle,
        object,
        version,
        context.options.chunk_bytes,
    )
    .map_err(|e| failed(e.to_string()))?;
    Ok(if object.key.ends_with(".gz") {
        Box::new(BufReader::new(MultiGzDecoder::new(reader)))
    } else {
        Box::new(reader)
    })
}

/// A read failure that ends the read.
pub(crate) fn failed(cause: impl Into<String>) -> TaskError {
    TaskError {
        error: ITEM_READER_FAILED.into(),
        cause: cause.into(),
    }
}

/// An I/O failure while reading `origin`: the storage's own message (which names the object)
/// when it comes from the storage, prefixed with `origin` otherwise.
pub(crate) fn read_failed(origin: &str, e: io::Error) -> TaskError {
    match e.get_ref() {
        Some(inner) if inner.is::<crate::StorageError>() => failed(inner.to_string()),
        _ => failed(format!("{origin}: {e}")),
    }
}

/// A record that cannot be read: an item failing on its own.
pub(crate) fn malformed(origin: &str, line: u64, reason: impl Display) -> ReadItem {
    ReadItem::Malformed(failed(format!("{origin} line {line}: {reason}")))
}
