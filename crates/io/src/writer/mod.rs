//! The Distributed Map `ResultWriter`: child outcomes written to storage as Step Functions
//! lays them out.
//!
//! Under `<Prefix>/<map run id>/` (the run id is the last `:`-part of the Map Run ARN):
//! `SUCCEEDED_0.json`, `FAILED_0.json` (failed, timed out and aborted children) and
//! `PENDING_0.json` (children never started), each continued in `_1`, `_2`, ... once a file
//! reaches the size limit, and `manifest.json`:
//!
//! ```json
//! {"DestinationBucket": "b", "MapRunArn": "arn:...",
//!  "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key": "p/id/SUCCEEDED_0.json", "Size": 1234}]}}
//! ```
//!
//! A file is a JSON array (`OutputType: JSON`, the default), JSON lines (`JSONL`) or, a Sluice
//! extension, Parquet (`PARQUET`, files `STATUS_N.parquet`, see [`parquet`]), written as
//! outcomes arrive: outcomes are never all held in memory. Successful children are written
//! whole (`Transformation: NONE`, the default when exporting), as their outputs (`COMPACT`), or
//! as their outputs with arrays flattened (`FLATTEN`); failed and pending ones always whole.
//! Categories without outcomes get no file. The Map state's result is
//! `{"MapRunArn": ..., "ResultWriterDetails": {"Bucket": ..., "Key": ".../manifest.json"}}`.
//! A `ResultWriter` with only a `WriterConfig` exports nothing: the outcomes are formatted into
//! the Map state's result instead ([`format_inline`]).

use crate::RESULT_WRITER_FAILED;
use crate::location::ObjectRef;
use crate::storage::Storage;
use bytes::Bytes;
use object_store::buffered::BufWriter;
use serde_json::{Map, Value, json};
use sluice_engine::invoke::TaskError;
use sluice_engine::items::ItemOutcome;
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;

#[cfg(feature = "parquet")]
pub(crate) mod parquet;
#[cfg(feature = "parquet")]
use parquet::{ParquetFile, Pushed};

/// The layout of result files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputType {
    /// Each file is one JSON array.
    Json,
    /// Each file holds one JSON value per line.
    JsonLines,
    /// Each file is Parquet, its columns inferred from its first records.
    Parquet,
}

impl OutputType {
    /// The extension of its files.
    fn extension(self) -> &'static str {
        match self {
            OutputType::Json | OutputType::JsonLines => "json",
            OutputType::Parquet => "parquet",
        }
    }
}

/// What is written for a successful child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transformation {
    /// The whole execution record (`ExecutionArn`, `Input`, `Output`, `Status`, ...).
    None,
    /// Its output only.
    Compact,
    /// Its output, an array contributing its elements one by one.
    Flatten,
}

/// A parsed `ResultWriter`.
#[derive(Clone, Debug, PartialEq)]
pub struct WriterSpec {
    /// Where results are exported; `None` when only `WriterConfig` is given.
    pub bucket: Option<String>,
    /// The folder under the bucket (may be empty).
    pub prefix: String,
    /// `WriterConfig.OutputType`.
    pub output: OutputType,
    /// `WriterConfig.Transformation`.
    pub transformation: Transformation,
}

impl WriterSpec {
    /// Parses a `ResultWriter` whose parameters are evaluated:
    /// `{Resource?, Parameters|Arguments?: {Bucket, Prefix}, WriterConfig?}`.
    pub fn parse(writer: &Value) -> Result<WriterSpec, TaskError> {
        let writer = writer
            .as_object()
            .ok_or_else(|| failed("ResultWriter must be an object"))?;
        if let Some(resource) = writer.get("Resource") {
            let resource = resource.as_str().unwrap_or_default();
            if !resource.ends_with(":s3:putObject") {
                return Err(failed(format!(
                    "ResultWriter Resource '{resource}' is not supported (arn:aws:states:::s3:putObject)"
                )));
            }
        }
        let empty = Map::new();
        let params = object(writer, "Parameters")?
            .or(object(writer, "Arguments")?)
            .unwrap_or(&empty);
        let config = object(writer, "WriterConfig")?.unwrap_or(&empty);
        let output = match text(config, "OutputType")? {
            None | Some("JSON") => OutputType::Json,
            Some("JSONL") => OutputType::JsonLines,
            Some("PARQUET") if cfg!(feature = "parquet") => OutputType::Parquet,
            Some("PARQUET") => {
                return Err(failed(
                    "OutputType 'PARQUET' needs a build with the cargo feature 'parquet'",
                ));
            }
            Some(other) => {
                return Err(failed(format!(
                    "unknown OutputType '{other}' (JSON, JSONL or PARQUET)"
                )));
            }
        };
        let bucket = text(params, "Bucket")?.map(str::to_string);
        if bucket.is_none() && output == OutputType::Parquet {
            return Err(failed(
                "OutputType 'PARQUET' writes files: the ResultWriter needs a Bucket",
            ));
        }
        let transformation = match text(config, "Transformation")? {
            None if bucket.is_none() => Transformation::Compact,
            None | Some("NONE") => Transformation::None,
            Some("COMPACT") => Transformation::Compact,
            Some("FLATTEN") => Transformation::Flatten,
            Some(other) => {
                return Err(failed(format!(
                    "unknown Transformation '{other}' (NONE, COMPACT or FLATTEN)"
                )));
            }
        };
        Ok(WriterSpec {
            bucket,
            prefix: text(params, "Prefix")?.unwrap_or_default().to_string(),
            output,
            transformation,
        })
    }
}

/// The records one child contributes to a result file (or to an inline Map result).
pub fn transform(entry: &Value, transformation: Transformation) -> Vec<Value> {
    if transformation == Transformation::None {
        return vec![entry.clone()];
    }
    let output = match entry.get("Output") {
        Some(Value::String(text)) => {
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
        }
        Some(value) => value.clone(),
        None => Value::Null,
    };
    match (transformation, output) {
        (Transformation::Flatten, Value::Array(items)) => items,
        (_, output) => vec![output],
    }
}

/// Limits of result files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterOptions {
    /// A new file is started before one would grow past this (a single larger record gets a
    /// file of its own). Step Functions uses 5 GB.
    pub max_file_bytes: u64,
    /// Bytes buffered per open file before it is streamed as a multipart upload, in parts of
    /// this size (at least 5 MiB, see [`Storage::writer`]).
    pub buffer_bytes: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            max_file_bytes: 5 * 1024 * 1024 * 1024,
            buffer_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The Map state's result for a `ResultWriter` with only a `WriterConfig`: the records of the
/// children that ran, in item order, as a JSON array (`OutputType: JSON`) or as one string of
/// JSON lines (`JSONL`). Successful children are shaped by the transformation (default
/// `COMPACT`), failed ones are written whole.
pub fn format_inline(spec: &WriterSpec, outcomes: &mut dyn Iterator<Item = ItemOutcome>) -> Value {
    let records =
        outcomes
            .filter(|o| o.status != "PENDING")
            .flat_map(|o| match o.status.as_str() {
                "SUCCEEDED" => transform(&o.entry, spec.transformation),
                _ => vec![o.entry],
            });
    match spec.output {
        OutputType::Json | OutputType::Parquet => Value::Array(records.collect()),
        OutputType::JsonLines => Value::String(records.map(|r| format!("{r}\n")).collect()),
    }
}

/// Writes the outcomes of a Map Run under the writer's prefix and returns the Map state's
/// result (or, without a `Bucket`, formats them inline with [`format_inline`]). Blocks on
/// `handle`: call it off the runtime's worker threads.
pub fn write_results(
    storage: &Storage,
    handle: &Handle,
    options: WriterOptions,
    writer: &Value,
    map_run_arn: &str,
    outcomes: &mut dyn Iterator<Item = ItemOutcome>,
) -> Result<Value, TaskError> {
    let spec = WriterSpec::parse(writer)?;
    let Some(bucket) = spec.bucket.clone() else {
        return Ok(format_inline(&spec, outcomes));
    };
    let run_id = map_run_arn.rsplit(':').next().unwrap_or(map_run_arn);
    let prefix = spec.prefix.trim_end_matches('/');
    let base = if prefix.is_empty() {
        run_id.to_string()
    } else {
        format!("{prefix}/{run_id}")
    };
    let manifest = ObjectRef::new(bucket.as_str(), format!("{base}/manifest.json"))
        .map_err(|e| failed(e.to_string()))?;
    let mut files = [
        Series::new(&bucket, &base, "SUCCEEDED"),
        Series::new(&bucket, &base, "FAILED"),
        Series::new(&bucket, &base, "PENDING"),
    ];
    let run = Run {
        storage,
        spec: &spec,
        options,
    };
    let written = handle.block_on(async {
        let result = run.write_all(&mut files, outcomes).await;
        if result.is_err() {
            for series in &mut files {
                series.abort().await;
            }
        }
        result
    });
    written.map_err(failed)?;
    let listed = |s: &Series| -> Value {
        s.written
            .iter()
            .map(|(key, size)| json!({"Key": key, "Size": size}))
            .collect()
    };
    let body = json!({
        "DestinationBucket": bucket,
        "MapRunArn": map_run_arn,
        "ResultFiles": {
            "FAILED": listed(&files[1]),
            "PENDING": listed(&files[2]),
            "SUCCEEDED": listed(&files[0]),
        }
    });
    let bytes = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    handle
        .block_on(storage.put(&manifest, bytes))
        .map_err(|e| failed(e.to_string()))?;
    Ok(json!({
        "MapRunArn": map_run_arn,
        "ResultWriterDetails": {"Bucket": bucket, "Key": manifest.key},
    }))
}

struct Run<'a> {
    storage: &'a Storage,
    spec: &'a WriterSpec,
    options: WriterOptions,
}

impl Run<'_> {
    async fn write_all(
        &self,
        files: &mut [Series; 3],
        outcomes: &mut dyn Iterator<Item = ItemOutcome>,
    ) -> Result<(), String> {
        for outcome in outcomes {
            let (series, transformation) = match outcome.status.as_str() {
                "SUCCEEDED" => (&mut files[0], self.spec.transformation),
                "PENDING" => (&mut files[2], Transformation::None),
                _ => (&mut files[1], Transformation::None),
            };
            for record in transform(&outcome.entry, transformation) {
                series.write(self, record).await?;
            }
        }
        for series in files.iter_mut() {
            series.close(self.spec.output).await?;
        }
        Ok(())
    }
}

/// The files of one status: `STATUS_0.json`, `STATUS_1.json`, ...
struct Series {
    bucket: String,
    base: String,
    status: &'static str,
    open: Option<OpenFile>,
    /// Finished files: key and size.
    written: Vec<(String, u64)>,
}

struct OpenFile {
    key: String,
    writer: BufWriter,
    bytes: u64,
    records: u64,
    /// The encoder of a Parquet file.
    #[cfg(feature = "parquet")]
    parquet: Option<ParquetFile>,
}

impl Series {
    fn new(bucket: &str, base: &str, status: &'static str) -> Series {
        Series {
            bucket: bucket.to_string(),
            base: base.to_string(),
            status,
            open: None,
            written: Vec::new(),
        }
    }

    /// Appends one record, starting the next file first when this one would grow too big.
    async fn write(&mut self, run: &Run<'_>, record: Value) -> Result<(), String> {
        let bytes = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
        #[cfg(feature = "parquet")]
        if run.spec.output == OutputType::Parquet {
            return self.write_parquet(run, record, bytes.len()).await;
        }
        let json = run.spec.output == OutputType::Json;
        // A separator before the record (JSON) or a newline after it (JSONL), and the
        // closing bracket still to come (JSON).
        let extra = if json { 2 } else { 1 };
        if let Some(file) = &self.open {
            let grown = file.bytes + bytes.len() as u64 + extra;
            if file.records > 0 && grown > run.options.max_file_bytes {
                self.close(run.spec.output).await?;
            }
        }
        let file = self.open_file(run).await?;
        if json && file.records > 0 {
            file.put(b",").await?;
        }
        file.put(&bytes).await?;
        if !json {
            file.put(b"\n").await?;
        }
        file.records += 1;
        Ok(())
    }

    /// Appends one record to a Parquet file: a new file once this one reached the size limit,
    /// or when the record does not fit its schema.
    #[cfg(feature = "parquet")]
    async fn write_parquet(
        &mut self,
        run: &Run<'_>,
        record: Value,
        size: usize,
    ) -> Result<(), String> {
        if let Some(file) = &self.open
            && file.records > 0
            && file.bytes >= run.options.max_file_bytes
        {
            self.close(run.spec.output).await?;
        }
        let mut record = record;
        loop {
            let file = self.open_file(run).await?;
            let encoder = file.parquet.get_or_insert_with(ParquetFile::new);
            let fresh = encoder.is_empty();
            match encoder.push(record, size)? {
                Pushed::Taken(bytes) => {
                    if let Some(bytes) = bytes {
                        file.put(&bytes).await?;
                    }
                    file.records += 1;
                    return Ok(());
                }
                Pushed::Refused(_) if fresh => {
                    return Err(format!(
                        "{}: an empty Parquet file refused a record",
                        file.key
                    ));
                }
                Pushed::Refused(refused) => {
                    record = refused;
                    self.close(run.spec.output).await?;
                }
            }
        }
    }

    /// The open file, started (with its opening bracket for JSON) if there is none.
    async fn open_file(&mut self, run: &Run<'_>) -> Result<&mut OpenFile, String> {
        if self.open.is_none() {
            let extension = run.spec.output.extension();
            let key = format!(
                "{}/{}_{}.{extension}",
                self.base,
                self.status,
                self.written.len()
            );
            let object =
                ObjectRef::new(self.bucket.as_str(), key.as_str()).map_err(|e| e.to_string())?;
            let writer = run.storage.writer(&object, run.options.buffer_bytes);
            let file = self.open.insert(OpenFile {
                key,
                writer,
                bytes: 0,
                records: 0,
                #[cfg(feature = "parquet")]
                parquet: None,
            });
            if run.spec.output == OutputType::Json {
                file.put(b"[").await?;
            }
        }
        Ok(self.open.as_mut().expect("opened above"))
    }

    /// Finishes the open file, if any, and records it.
    async fn close(&mut self, output: OutputType) -> Result<(), String> {
        let Some(mut file) = self.open.take() else {
            return Ok(());
        };
        if output == OutputType::Json {
            file.put(b"]").await?;
        }
        #[cfg(feature = "parquet")]
        if let Some(encoder) = file.parquet.take() {
            let tail = encoder.finish().map_err(|e| format!("{}: {e}", file.key))?;
            file.put(&tail).await?;
        }
        file.writer
            .shutdown()
            .await
            .map_err(|e| format!("{}/{}: {e}", self.bucket, file.key))?;
        self.written.push((file.key, file.bytes));
        Ok(())
    }

    /// Abandons the open file, if any.
    async fn abort(&mut self) {
        if let Some(mut file) = self.open.take() {
            let _ = file.writer.abort().await;
        }
    }
}

impl OpenFile {
    async fn put(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(|e| format!("{}: {e}", self.key))?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }
}

fn failed(cause: impl Into<String>) -> TaskError {
    TaskError {
        error: RESULT_WRITER_FAILED.into(),
        cause: cause.into(),
    }
}

fn text<'a>(map: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, TaskError> {
    crate::fields::text(map, name).map_err(failed)
}

fn object<'a>(
    map: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, TaskError> {
    crate::fields::object(map, name).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transformations_shape_successful_children() {
        let entry = json!({"ExecutionArn": "a", "Output": "[1,[2]]", "Status": "SUCCEEDED"});
        assert_eq!(transform(&entry, Transformation::None), vec![entry.clone()]);
        assert_eq!(
            transform(&entry, Transformation::Compact),
            vec![json!([1, [2]])]
        );
        assert_eq!(
            transform(&entry, Transformation::Flatten),
            vec![json!(1), json!([2])]
        );
        assert_eq!(
            transform(&json!({"Output": "not json"}), Transformation::Compact),
            vec![json!("not json")]
        );
    }

    #[test]
    fn writer_specs_parse() {
        let spec = WriterSpec::parse(&json!({
            "Resource": "arn:aws:states:::s3:putObject",
            "Arguments": {"Bucket": "b", "Prefix": "out/"},
            "WriterConfig": {"OutputType": "JSONL", "Transformation": "FLATTEN"}
        }))
        .unwrap();
        assert_eq!(spec.bucket.as_deref(), Some("b"));
        assert_eq!(spec.output, OutputType::JsonLines);
        assert_eq!(spec.transformation, Transformation::Flatten);
        let inline = WriterSpec::parse(&json!({"WriterConfig": {"OutputType": "JSONL"}})).unwrap();
        assert_eq!(inline.transformation, Transformation::Compact);
        let mut outcomes = vec![
            ItemOutcome {
                status: "SUCCEEDED".into(),
                entry: json!({"Output": "[1]"}),
            },
            ItemOutcome {
                status: "FAILED".into(),
                entry: json!({"Error": "E"}),
            },
            ItemOutcome {
                status: "PENDING".into(),
                entry: json!({}),
            },
        ]
        .into_iter();
        assert_eq!(
            format_inline(&inline, &mut outcomes),
            json!("[1]\n{\"Error\":\"E\"}\n")
        );
        let e =
            WriterSpec::parse(&json!({"Resource": "arn:aws:states:::s3:getObject"})).unwrap_err();
        assert_eq!(e.error, "States.ResultWriterFailed");
    }
}
