//! Built-in functions: handlers shipped inside the binary, declared in `sluice.yaml` with
//! `runtime: builtin` and called from a Task like any other function. They read the project's
//! storage directly and run on a thread pool, so an ETL step that needs no custom code runs at
//! native speed on every core.
//!
//! ```yaml
//! functions:
//!   mapper: { runtime: builtin, handler: count-by, options: { field: value }, concurrency: 2 }
//! ```
//!
//! | handler | event | options | result |
//! |---|---|---|---|
//! | `count-by` | `{"key": "BUCKET/KEY"}` or `{"Bucket", "Key"}`: a JSON-lines object | `field` (required): the top-level field whose values are counted | `{"key", "records", "counts": {VALUE: n}}`, plus `"missing": n` when records lack the field |
//! | `ack` | any: a queue consumer's SQS event | none | `{"batchItemFailures": []}`: the whole batch is acknowledged |
//! | `postgres-upsert` | a Canal-JSON message or a list of them (what a CDC trigger delivers) | `url` (required), `tables` (source `schema.table` to target) or `table` | `{"applied": n}`: the rows upserted or deleted by primary key, all in one transaction |
//! | `copy-files` | `{"index": "BUCKET/KEY", "offset"?: n, "size": bytes, "from": "BUCKET", "to": "BUCKET[/PREFIX/]"}` | `storage_class` (`STANDARD`), `concurrency` (100), `max_attempts` (6) | `{"next_offset", "done", "copied", "failed": [{"offset", "error"}], "retries"}`: one page of a batch copy (see the `copy_files` module) |
//! | `mysql-upsert` | the same, into MySQL/MariaDB (`INSERT … ON DUPLICATE KEY UPDATE`) | `url` (required, `mysql://`), `tables` (source `db.table` to target) or `table` | `{"applied": n}`, as `postgres-upsert` |
//! | `unzip` | `{"archive": "BUCKET/KEY", "to": "BUCKET/PREFIX/", "marker"?: n}` | `budget_seconds` (20), `max_entries`, `url_encoded` (the archive key is URL-encoded, as in S3 events) | `{"marker": NEXT or null, "written": n, "done": bool, "entries": n}`: call again with the marker until done |
//!
//! Options may also be given in the event (the event wins). A value that is not a string is
//! counted under its JSON text (`1`, `true`, `null`). Errors: `Sluice.InvalidEvent` (a bad event
//! or option), `Sluice.MalformedRecord` (naming object, line and reason: the call fails, nothing
//! is skipped), `Sluice.StorageError` (a missing or unreadable object); `unzip` adds
//! `Unzip.CorruptArchive` and `Unzip.UnsupportedArchive` (naming the archive and the entry) and
//! `Unzip.InvalidEntryName` (an entry whose name would leave the target folder).

use crate::chunked::ObjectReader;
use crate::location::ObjectRef;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value, json};
use sluice_engine::invoke::{
    InvokeFuture, InvokeRequest, Invoker, Target, TaskError, within_timeout,
};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::BufRead;
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use crate::storage::Storage;

/// Bytes fetched per range while a built-in reads an object.
const READ_CHUNK: u64 = 8 * 1024 * 1024;

/// A built-in handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    /// Counts the records of a JSON-lines object by the value of one field.
    CountBy,
    /// Acknowledges every batch it is given: a queue consumer that does nothing.
    Ack,
    /// Applies Canal-JSON messages to PostgreSQL tables: served by the CDC crate's loaders
    /// (`sluice_cdc::loader::Loaders`), in front of these functions.
    PostgresUpsert,
    /// Applies Canal-JSON messages to MySQL/MariaDB tables: served like `PostgresUpsert`.
    MysqlUpsert,
    /// Extracts a zip archive of the storage, resumably (see [`crate::unzip`]).
    Unzip,
    /// Copies the objects one page of an index names (see [`crate::copy_files`]).
    CopyFiles,
}

impl Handler {
    /// Every handler's name, as `handler:` names it.
    pub const NAMES: &'static [&'static str] = &[
        "count-by",
        "ack",
        "postgres-upsert",
        "mysql-upsert",
        "unzip",
        "copy-files",
    ];

    /// The handler with this name.
    pub fn parse(name: &str) -> Result<Handler, String> {
        match name {
            "count-by" => Ok(Handler::CountBy),
            "ack" => Ok(Handler::Ack),
            "postgres-upsert" => Ok(Handler::PostgresUpsert),
            "mysql-upsert" => Ok(Handler::MysqlUpsert),
            "unzip" => Ok(Handler::Unzip),
            "copy-files" => Ok(Handler::CopyFiles),
            other => Err(format!(
                "no built-in handler '{other}' (built-in handlers: {})",
                Handler::NAMES.join(", ")
            )),
        }
    }
}

/// A function of a project that runs a built-in handler.
#[derive(Clone, Debug)]
pub struct BuiltinFunction {
    /// Function name.
    pub name: String,
    /// What it runs.
    pub handler: Handler,
    /// Options, under the event's own fields.
    pub options: Map<String, Value>,
    /// Calls running at once.
    pub concurrency: usize,
}

/// An [`Invoker`] running built-in functions over a [`Storage`] and passing every other call to
/// `fallback`.
pub struct BuiltinFunctions {
    storage: Storage,
    functions: HashMap<String, (Arc<BuiltinFunction>, Arc<Semaphore>)>,
    /// Archives the `unzip` calls left unfinished, kept parsed for the calls that go on.
    archives: Arc<crate::unzip::OpenArchives>,
    fallback: Arc<dyn Invoker>,
}

impl BuiltinFunctions {
    /// Serves `functions` from `storage`; everything else goes to `fallback`.
    pub fn new(
        storage: Storage,
        functions: Vec<BuiltinFunction>,
        fallback: Arc<dyn Invoker>,
    ) -> Self {
        let functions = functions
            .into_iter()
            .map(|f| {
                let permits = Arc::new(Semaphore::new(f.concurrency.max(1)));
                (f.name.clone(), (Arc::new(f), permits))
            })
            .collect();
        BuiltinFunctions {
            storage,
            functions,
            archives: Arc::default(),
            fallback,
        }
    }
}

impl Invoker for BuiltinFunctions {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let found = match &request.target {
            Target::Function { name, .. } => self.functions.get(name).cloned(),
            Target::Integration(_) => None,
        };
        let Some((function, permits)) = found else {
            return self.fallback.invoke(request);
        };
        let storage = self.storage.clone();
        let archives = self.archives.clone();
        Box::pin(async move {
            let _permit = permits.acquire_owned().await.map_err(|_| TaskError {
                error: "Sluice.StorageError".into(),
                cause: "the built-in functions have shut down".into(),
            })?;
            let handle = Handle::current();
            let payload = request.payload;
            let call = tokio::task::spawn_blocking(move || {
                run(&function, &storage, &handle, &archives, &payload)
            });
            within_timeout(request.timeout_seconds, call)
                .await?
                .unwrap_or_else(|e| {
                    Err(TaskError {
                        error: "States.Runtime".into(),
                        cause: format!("the built-in function stopped: {e}"),
                    })
                })
        })
    }
}

/// Runs one call of a built-in function (blocking).
fn run(
    function: &BuiltinFunction,
    storage: &Storage,
    handle: &Handle,
    archives: &crate::unzip::OpenArchives,
    payload: &Value,
) -> Result<Value, TaskError> {
    match function.handler {
        Handler::CountBy => count_by(storage, handle, &arguments(function, payload)?),
        Handler::Ack => Ok(json!({ "batchItemFailures": [] })),
        Handler::PostgresUpsert | Handler::MysqlUpsert => Err(invalid(
            "the upsert loaders are served by the CDC crate, which this node did not start",
        )),
        Handler::Unzip => {
            let request = crate::unzip::UnzipRequest::from_args(&arguments(function, payload)?)
                .map_err(invalid)?;
            crate::unzip::unzip(storage, handle, archives, &request)
        }
        Handler::CopyFiles => {
            let request = crate::copy_files::CopyRequest::from_args(&arguments(function, payload)?)
                .map_err(invalid)?;
            crate::copy_files::copy_files(storage, handle, &request)
        }
    }
}

/// The function's options under the event's own fields.
fn arguments(function: &BuiltinFunction, payload: &Value) -> Result<Map<String, Value>, TaskError> {
    let event = payload
        .as_object()
        .ok_or_else(|| invalid("the event must be a JSON object"))?;
    let mut args = function.options.clone();
    args.extend(event.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(args)
}

fn count_by(
    storage: &Storage,
    handle: &Handle,
    args: &Map<String, Value>,
) -> Result<Value, TaskError> {
    let field =
        string_arg(args, "field")?.ok_or_else(|| invalid("the option field is required"))?;
    let object = object_arg(args)?;
    let mut reader = ObjectReader::open(storage, handle, &object, None, READ_CHUNK)
        .map_err(|e| storage_error(e.to_string()))?;
    let mut counter = Counter::new(field, &object);
    // Lines are parsed where they lie in the fetched range; only a line cut by the end of a
    // range is copied, to be completed by the next one.
    let mut cut: Vec<u8> = Vec::new();
    loop {
        let chunk = reader
            .fill_buf()
            .map_err(|e| storage_error(format!("{object}: {e}")))?;
        if chunk.is_empty() {
            break;
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            if cut.is_empty() {
                counter.line(&chunk[start..end])?;
            } else {
                cut.extend_from_slice(&chunk[start..end]);
                counter.line(&cut)?;
                cut.clear();
            }
            start = end + 1;
        }
        cut.extend_from_slice(&chunk[start..]);
        let read = chunk.len();
        reader.consume(read);
    }
    if !cut.is_empty() {
        counter.line(&cut)?;
    }
    Ok(counter.result())
}

/// What `count-by` has counted so far in one object.
struct Counter<'a> {
    field: &'a str,
    object: &'a ObjectRef,
    /// Records per group, hashed with foldhash: a lookup per record is most of the work.
    counts: HashMap<String, u64, foldhash::fast::RandomState>,
    records: u64,
    missing: u64,
    /// Lines seen, for the line number of a malformed one.
    lines: u64,
}

impl<'a> Counter<'a> {
    fn new(field: &'a str, object: &'a ObjectRef) -> Counter<'a> {
        Counter {
            field,
            object,
            counts: HashMap::default(),
            records: 0,
            missing: 0,
            lines: 0,
        }
    }

    /// Counts one line (without its newline); a blank line is skipped, a malformed one fails.
    fn line(&mut self, line: &[u8]) -> Result<(), TaskError> {
        self.lines += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            return Ok(());
        }
        let malformed = |e: serde_json::Error| TaskError {
            error: "Sluice.MalformedRecord".into(),
            cause: format!("{} line {}: {e}", self.object, self.lines),
        };
        let mut de = serde_json::Deserializer::from_slice(text);
        let group = FieldOf(self.field)
            .deserialize(&mut de)
            .map_err(malformed)?;
        de.end().map_err(malformed)?;
        self.records += 1;
        match group {
            None => self.missing += 1,
            Some(value) => match self.counts.get_mut(value.as_ref()) {
                Some(n) => *n += 1,
                None => {
                    self.counts.insert(value.into_owned(), 1);
                }
            },
        }
        Ok(())
    }

    /// `{"key", "records", "counts"}`, with `"missing"` when records lacked the field.
    fn result(self) -> Value {
        let counts: BTreeMap<String, u64> = self.counts.into_iter().collect();
        let mut result =
            json!({ "key": self.object.to_string(), "records": self.records, "counts": counts });
        if self.missing > 0 {
            result["missing"] = json!(self.missing);
        }
        result
    }
}

/// The object an event names: `key` (`BUCKET/KEY`), or `Bucket` and `Key`.
fn object_arg(args: &Map<String, Value>) -> Result<ObjectRef, TaskError> {
    let object = match (string_arg(args, "key")?, string_arg(args, "Bucket")?) {
        (Some(path), _) => ObjectRef::parse(path),
        (None, Some(bucket)) => {
            let key = string_arg(args, "Key")?.ok_or_else(|| invalid("Key is required"))?;
            ObjectRef::new(bucket, key)
        }
        (None, None) => {
            return Err(invalid(
                "the event must name an object: key, or Bucket and Key",
            ));
        }
    };
    object.map_err(|e| invalid(e.to_string()))
}

fn string_arg<'a>(args: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, TaskError> {
    crate::fields::text(args, name).map_err(invalid)
}

/// A bad event or option (`Sluice.InvalidEvent`).
pub(crate) fn invalid(reason: impl fmt::Display) -> TaskError {
    TaskError {
        error: "Sluice.InvalidEvent".into(),
        cause: reason.to_string(),
    }
}

/// A missing or unreadable object (`Sluice.StorageError`).
pub(crate) fn storage_error(cause: String) -> TaskError {
    TaskError {
        error: "Sluice.StorageError".into(),
        cause,
    }
}

/// Reads one JSON object and keeps only the value of one top-level field, as the text it is
/// grouped under; every other field is skipped without being built.
struct FieldOf<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for FieldOf<'_> {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldOf<'_> {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_field) = map.next_key_seed(KeyIs(self.0))? {
            if is_field && found.is_none() {
                found = Some(map.next_value_seed(GroupText)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Whether a key is the one wanted.
struct KeyIs<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// A value as the text it is grouped under: a string as itself (borrowed when it has no
/// escapes), anything else as its compact JSON text.
struct GroupText;

impl<'de> DeserializeSeed<'de> for GroupText {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for GroupText {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Cow::Owned(json!(v).to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed("null"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let v: Value = serde::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v: Value = serde::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Cow::Owned(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(line: &str) -> Result<Option<String>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(line);
        let g = FieldOf("value").deserialize(&mut de)?;
        de.end()?;
        Ok(g.map(Cow::into_owned))
    }

    #[test]
    fn reads_only_the_wanted_field() {
        let line = r#"{"id": 1, "nested": {"value": "no"}, "value": "data_1", "x": [1, {"a": 2}]}"#;
        assert_eq!(group(line).unwrap().as_deref(), Some("data_1"));
        assert_eq!(
            group(r#"{"value": "a\"b"}"#).unwrap().as_deref(),
            Some("a\"b")
        );
        assert_eq!(group(r#"{"value": 12}"#).unwrap().as_deref(), Some("12"));
        assert_eq!(
            group(r#"{"value": null}"#).unwrap().as_deref(),
            Some("null")
        );
        assert_eq!(
            group(r#"{"value": [1,"x"]}"#).unwrap().as_deref(),
            Some(r#"[1,"x"]"#)
        );
        assert_eq!(group(r#"{"id": 1}"#).unwrap(), None);
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(group(r#"{"value": "data_1""#).is_err());
        assert!(group(r#"{"value": "data_1"} trailing"#).is_err());
        assert!(group(r#"[1, 2]"#).is_err());
        assert!(group("not json").is_err());
    }
}
