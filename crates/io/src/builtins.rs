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
//! | `append-objects` | a list of records (a CDC trigger's messages), `{"records": [...]}`, or one record | `prefix` (required, `BUCKET/PREFIX`), `format` (`jsonl` or `parquet`), `id_field` (`_cdc.id`), `time_field` (`es`, else `source.ts_ms`) | `{"key", "records", "bytes"}`: the batch as one object `PREFIX/YYYY/MM/DD/FIRST_LAST.EXT`, the same key when replayed (see the `append_objects` module) |
//! | `unzip` | `{"archive": "BUCKET/KEY", "to": "BUCKET/PREFIX/", "marker"?: n}` | `budget_seconds` (20), `max_entries`, `url_encoded` (the archive key is URL-encoded, as in S3 events) | `{"marker": NEXT or null, "written": n, "done": bool, "entries": n}`: call again with the marker until done |
//!
//! Options may also be given in the event (the event wins). A value that is not a string is
//! counted under its JSON text (`1`, `true`, `null`). Errors: `Sluice.InvalidEvent` (a bad event
//! or option), `Sluice.MalformedRecord` (naming object, line and reason: the call fails, nothing
//! is skipped), `Sluice.StorageError` (a missing or unreadable object); `unzip` adds
//! `Unzip.CorruptArchive` and `Unzip.UnsupportedArchive` (naming the archive and the entry) and
//! `Unzip.InvalidEntryName` (an entry whose name would leave the target folder).

use serde_json::{Map, Value, json};
use sluice_engine::invoke::{
    InvokeFuture, InvokeRequest, Invoker, Target, TaskError, invoke_read, within_timeout,
};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

use crate::storage::Storage;

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
    /// Writes each batch of records as one object (see [`crate::append_objects`]).
    AppendObjects,
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
        "append-objects",
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
            "append-objects" => Ok(Handler::AppendObjects),
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

/// What `ack` answers: every record of the batch succeeded.
fn acknowledged() -> Value {
    json!({ "batchItemFailures": [] })
}

impl Invoker for BuiltinFunctions {
    /// `ack` answers without reading the text; the other built-ins read it.
    fn invoke_text(&self, request: InvokeRequest, payload: Vec<u8>) -> InvokeFuture {
        let handler = match &request.target {
            Target::Function { name, .. } => self.functions.get(name).map(|(f, _)| f.handler),
            Target::Integration(_) => None,
        };
        match handler {
            None => self.fallback.invoke_text(request, payload),
            Some(Handler::Ack) => Box::pin(async { Ok(acknowledged()) }),
            Some(_) => invoke_read(self, request, &payload),
        }
    }

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
        Handler::CountBy => {
            crate::count_by::count_by(storage, handle, &arguments(function, payload)?)
        }
        Handler::Ack => Ok(acknowledged()),
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
        Handler::AppendObjects => {
            // The event is the batch itself; a flow's `{"records": ...}` may add options.
            let mut args = function.options.clone();
            if let Some(event) = payload.as_object().filter(|o| o.contains_key("records")) {
                args.extend(event.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            let request =
                crate::append_objects::AppendRequest::from_args(&args).map_err(invalid)?;
            crate::append_objects::append_objects(storage, handle, &request, payload)
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
