//! Manifest readers: the records of the data files a manifest lists, one file after the other.

use super::concat::concat;
use super::spec::{CsvOptions, Format, check_headers};
use super::{Context, failed, open_input, open_object, read_failed};
use crate::location::ObjectRef;
use crate::storage::GetRequest;
use serde_json::Value;
use sluice_engine::invoke::TaskError;
use sluice_engine::items::ItemIter;
use std::io::BufRead;

/// The rows of the CSV data files an S3 Inventory `manifest.json` lists (`files[].key`, in the
/// manifest's `destinationBucket`, else the manifest's own bucket), keyed by its `fileSchema`
/// unless `headers` are given. Data files ending in `.gz` are decompressed.
pub(crate) fn inventory(
    context: Context,
    manifest: &ObjectRef,
    version: Option<&str>,
    headers: Option<Vec<String>>,
) -> Result<ItemIter, TaskError> {
    let request = GetRequest {
        version: version.map(str::to_string),
        ..GetRequest::default()
    };
    let object = context
        .handle
        .block_on(context.storage.get_with(manifest, request))
        .map_err(|e| failed(e.to_string()))?;
    let bad = |reason: String| {
        failed(format!(
            "{manifest}: not an S3 Inventory manifest: {reason}"
        ))
    };
    let doc: Value = serde_json::from_slice(&object.data).map_err(|e| bad(e.to_string()))?;
    let file_format = doc
        .get("fileFormat")
        .and_then(Value::as_str)
        .unwrap_or("CSV");
    if !file_format.eq_ignore_ascii_case("CSV") {
        return Err(failed(format!(
            "{manifest}: inventory fileFormat {file_format} is not supported (CSV only)"
        )));
    }
    let headers = match headers {
        Some(h) => h,
        None => match doc.get("fileSchema").and_then(Value::as_str) {
            Some(schema) => schema.split(',').map(|n| n.trim().to_string()).collect(),
            None => vec!["Bucket".into(), "Key".into()],
        },
    };
    check_headers(&headers).map_err(|e| failed(format!("{manifest}: {}", e.cause)))?;
    let bucket = match doc.get("destinationBucket").and_then(Value::as_str) {
        Some(arn) => arn.strip_prefix("arn:aws:s3:::").unwrap_or(arn).to_string(),
        None => manifest.bucket.clone(),
    };
    let files = doc
        .get("files")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no files array".into()))?;
    let files: Vec<ObjectRef> = files
        .iter()
        .map(|f| {
            let key = f
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a file has no key".into()))?;
            ObjectRef::new(bucket.as_str(), key).map_err(|e| bad(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let format = Format::Csv(CsvOptions {
        headers: Some(headers),
        delimiter: b',',
    });
    Ok(concat(files.into_iter().map(Ok), move |file| {
        open_object(&context, file, None, &format)
    }))
}

/// The records of the files an Athena `UNLOAD` manifest lists, one `s3://BUCKET/KEY` per
/// line, each read as `format` (CSV data files have no header row: `CSVHeaders` names the
/// columns).
pub(crate) fn athena(
    context: Context,
    manifest: &ObjectRef,
    version: Option<&str>,
    format: Format,
) -> Result<ItemIter, TaskError> {
    if matches!(&format, Format::Csv(CsvOptions { headers: None, .. })) {
        return Err(failed(
            "ManifestType ATHENA_DATA with InputType CSV needs CSVHeaders (the data files have no header row)",
        ));
    }
    let origin = manifest.to_string();
    let lines = open_input(&context, manifest, version)?.lines();
    let files = lines.enumerate().filter_map(move |(n, line)| {
        let line = match line {
            Ok(line) => line,
            Err(e) => return Some(Err(read_failed(&origin, e))),
        };
        let line = line.trim();
        if line.is_empty() {
            return None;
        }
        let parsed = line
            .strip_prefix("s3://")
            .ok_or_else(|| format!("'{line}' is not an s3://BUCKET/KEY URI"))
            .and_then(|path| ObjectRef::parse(path).map_err(|e| e.to_string()));
        Some(parsed.map_err(|reason| failed(format!("{origin} line {}: {reason}", n + 1))))
    });
    Ok(concat(files, move |file| {
        open_object(&context, file, None, &format)
    }))
}
