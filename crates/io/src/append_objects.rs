//! The `append-objects` built-in: each batch of records it is given (a CDC trigger's list of
//! Canal-JSON or Debezium messages, a flow's `{"records": [...]}`, or one record) becomes one
//! immutable object of the storage, an audit trail of every change delivered.
//!
//! The object is `BUCKET/PREFIX/YYYY/MM/DD/FIRST_LAST.EXT`: the date (UTC) is the first
//! record's event time, and `FIRST` and `LAST` are the ids of the first and last records, so a
//! batch delivered again (at least once delivery) is written to the same key, replacing an
//! identical object, never duplicating it. Records are written as JSON lines (`jsonl`, one
//! record a line) or as one Parquet file (`parquet`, the cargo feature `parquet`; its columns
//! are inferred from the batch as the Parquet `ResultWriter` infers them).
//!
//! Options: `prefix` (required, `BUCKET/PREFIX`), `format` (`jsonl` or `parquet`, default
//! `jsonl`), `id_field` (the record's id, a dotted path, default `_cdc.id`) and `time_field`
//! (its event time in milliseconds since the epoch, default Canal's `es`, else Debezium's
//! `source.ts_ms`). The result is `{"key": "BUCKET/KEY", "records": n, "bytes": n}`; an empty
//! batch writes nothing (`"key": null`).

use crate::builtins::{invalid, storage_error};
use crate::location::ObjectRef;
use crate::storage::Storage;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sluice_engine::invoke::TaskError;
use tokio::runtime::Handle;

/// Where a record's id is when `id_field` is not given.
const DEFAULT_ID: &str = "_cdc.id";
/// Where a record's event time is looked for, in order, when `time_field` is not given.
const DEFAULT_TIMES: &[&str] = &["es", "source.ts_ms"];

/// The encoding of the objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectFormat {
    /// One JSON record a line.
    JsonLines,
    /// One Parquet file.
    Parquet,
}

impl ObjectFormat {
    /// The objects' file extension.
    fn extension(self) -> &'static str {
        match self {
            ObjectFormat::JsonLines => "jsonl",
            ObjectFormat::Parquet => "parquet",
        }
    }
}

/// The options of one call.
#[derive(Clone, Debug, PartialEq)]
pub struct AppendRequest {
    /// The bucket written to.
    pub bucket: String,
    /// The folder under the bucket (no trailing `/`; may be empty).
    pub prefix: String,
    /// The objects' encoding.
    pub format: ObjectFormat,
    /// The dotted path of a record's id.
    pub id_field: String,
    /// The dotted path of a record's event time; `None`: `es`, else `source.ts_ms`.
    pub time_field: Option<String>,
}

impl AppendRequest {
    /// Reads the options; an error names the option at fault.
    pub fn from_args(args: &Map<String, Value>) -> Result<AppendRequest, String> {
        let text = |name| crate::fields::text(args, name);
        let prefix = text("prefix")?
            .ok_or("the option prefix (BUCKET/PREFIX) is required")?
            .trim_matches('/');
        let (bucket, prefix) = prefix.split_once('/').unwrap_or((prefix, ""));
        ObjectRef::new(bucket, format!("{prefix}/x").trim_start_matches('/'))
            .map_err(|e| format!("the option prefix '{bucket}/{prefix}': {e}"))?;
        let format = match text("format")? {
            None | Some("jsonl") => ObjectFormat::JsonLines,
            Some("parquet") if cfg!(feature = "parquet") => ObjectFormat::Parquet,
            Some("parquet") => {
                return Err(
                    "the option format 'parquet' needs a build with the cargo feature 'parquet'"
                        .into(),
                );
            }
            Some(other) => {
                return Err(format!(
                    "the option format '{other}' is not 'jsonl' or 'parquet'"
                ));
            }
        };
        Ok(AppendRequest {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            format,
            id_field: text("id_field")?.unwrap_or(DEFAULT_ID).to_string(),
            time_field: text("time_field")?.map(str::to_string),
        })
    }

    /// The object a batch of `records` (at least one) is written to; an error names the record
    /// without an id or event time.
    pub fn key(&self, records: &[Value]) -> Result<ObjectRef, String> {
        let (first, last) = match records {
            [] => return Err("the batch holds no records".into()),
            [first, .., last] => (first, last),
            [only] => (only, only),
        };
        let id = |record: &Value, at: usize| -> Result<String, String> {
            match field(record, &self.id_field) {
                Some(Value::String(s)) if !s.is_empty() => Ok(key_safe(s)),
                Some(Value::Number(n)) => Ok(n.to_string()),
                _ => Err(format!(
                    "record {at} of the batch has no id at {} (the option id_field names it)",
                    self.id_field
                )),
            }
        };
        let (first_id, last_id) = (id(first, 0)?, id(last, records.len() - 1)?);
        let date = self.event_time(first)?.format("%Y/%m/%d");
        let folder = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let key = format!(
            "{folder}{date}/{first_id}_{last_id}.{}",
            self.format.extension()
        );
        ObjectRef::new(&self.bucket, key).map_err(|e| e.to_string())
    }

    /// The first record's event time.
    fn event_time(&self, record: &Value) -> Result<DateTime<Utc>, String> {
        let paths: Vec<&str> = match &self.time_field {
            Some(path) => vec![path.as_str()],
            None => DEFAULT_TIMES.to_vec(),
        };
        let ms = paths
            .iter()
            .find_map(|path| match field(record, path) {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.parse::<i64>().ok(),
                _ => None,
            })
            .ok_or_else(|| {
                format!(
                    "record 0 of the batch has no event time in milliseconds at {} (the option time_field names it)",
                    paths.join(" or ")
                )
            })?;
        DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| format!("record 0 of the batch has an event time out of range: {ms}"))
    }
}

/// The value at a dotted `path` of `record`.
fn field<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(record, |value, name| value.get(name))
}

/// `id` with every character but ASCII letters, digits, `.` and `-` replaced by `~`, so that
/// it is one segment of a key.
fn key_safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '~'
            }
        })
        .collect()
}

/// The records of an event: a list, a `{"records": [...]}` object, or one record.
pub fn records(event: &Value) -> Vec<Value> {
    match event {
        Value::Array(records) => records.clone(),
        Value::Object(o) => match o.get("records") {
            Some(Value::Array(records)) => records.clone(),
            _ => vec![event.clone()],
        },
        other => vec![other.clone()],
    }
}

/// The bytes of an object holding `records` in `format`.
pub fn encode(format: ObjectFormat, records: Vec<Value>) -> Result<Bytes, String> {
    match format {
        ObjectFormat::JsonLines => {
            let mut out = Vec::new();
            for record in &records {
                serde_json::to_writer(&mut out, record).map_err(|e| e.to_string())?;
                out.push(b'\n');
            }
            Ok(Bytes::from(out))
        }
        #[cfg(feature = "parquet")]
        ObjectFormat::Parquet => encode_parquet(records),
        #[cfg(not(feature = "parquet"))]
        ObjectFormat::Parquet => {
            Err("Parquet needs a build with the cargo feature 'parquet'".into())
        }
    }
}

/// One Parquet file of `records`, its columns inferred from them.
#[cfg(feature = "parquet")]
fn encode_parquet(records: Vec<Value>) -> Result<Bytes, String> {
    use crate::writer::parquet::{ParquetFile, Pushed};
    let mut file = ParquetFile::new();
    let mut out = Vec::new();
    for (at, record) in records.into_iter().enumerate() {
        let size = serde_json::to_vec(&record)
            .map_err(|e| e.to_string())?
            .len();
        match file.push(record, size)? {
            Pushed::Taken(bytes) => out.extend_from_slice(&bytes.unwrap_or_default()),
            Pushed::Refused(_) => {
                return Err(format!(
                    "record {at} of the batch does not fit the Parquet columns of the records before it"
                ));
            }
        }
    }
    out.extend_from_slice(&file.finish()?);
    Ok(Bytes::from(out))
}

/// Writes the records of `event` as one object as `request` says (blocking, on `handle`).
pub fn append_objects(
    storage: &Storage,
    handle: &Handle,
    request: &AppendRequest,
    event: &Value,
) -> Result<Value, TaskError> {
    let records = records(event);
    if records.is_empty() {
        return Ok(json!({ "key": null, "records": 0, "bytes": 0 }));
    }
    let count = records.len();
    let object = request.key(&records).map_err(invalid)?;
    let data = encode(request.format, records).map_err(invalid)?;
    let bytes = data.len();
    handle
        .block_on(storage.put(&object, data))
        .map_err(|e| storage_error(format!("writing {object}: {e}")))?;
    Ok(json!({ "key": object.to_string(), "records": count, "bytes": bytes }))
}

#[cfg(test)]
mod tests;
