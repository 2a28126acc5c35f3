//! The built-in `copy-files`: one page of a batch copy. It reads `size` bytes of an index of
//! object keys from `offset` (one byte range: an index of any size is never read whole), copies
//! the objects of the whole lines it holds into another bucket in a storage class, `concurrency`
//! at a time, retrying transient failures with exponential backoff, and answers where the next
//! page starts.
//!
//! The index is CSV (a `.csv` key: the first column is the key, a first row whose first column
//! is `key` is a header) or JSON lines (a string, or an object with `key` or `Key`, per line).
//! A malformed line, or a key missing from the source, fails that object alone: it is reported
//! under `failed` with its byte offset in the index, and the copy goes on.

use crate::builtins::{invalid, storage_error};
use crate::classes::StorageClass;
use crate::error::StorageError;
use crate::location::ObjectRef;
use crate::storage::{GetRequest, Storage};
use futures_util::stream::{self, StreamExt};
use serde_json::{Map, Value, json};
use sluice_engine::invoke::TaskError;
use std::time::Duration;
use tokio::runtime::Handle;

/// Largest page read at once.
const MAX_PAGE: u64 = 64 * 1024 * 1024;
/// Most copies in flight at once.
const MAX_CONCURRENCY: usize = 1_000;
/// The first backoff after a transient failure; each retry doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

/// One call's parameters.
#[derive(Debug, PartialEq)]
pub(crate) struct CopyRequest {
    index: ObjectRef,
    offset: u64,
    size: u64,
    from: String,
    to: String,
    to_prefix: String,
    class: StorageClass,
    concurrency: usize,
    max_attempts: u32,
}

impl CopyRequest {
    /// Reads `{index, offset, size, from, to, storage_class?, concurrency?, max_attempts?}`;
    /// `to` is `BUCKET` or `BUCKET/PREFIX/`.
    pub(crate) fn from_args(args: &Map<String, Value>) -> Result<CopyRequest, String> {
        let text = |name: &str| -> Result<&str, String> {
            crate::fields::text(args, name)?.ok_or_else(|| format!("{name} is required"))
        };
        let number = |name: &str, default: Option<u64>| -> Result<u64, String> {
            match args.get(name) {
                None | Some(Value::Null) => default.ok_or_else(|| format!("{name} is required")),
                Some(v) => v
                    .as_u64()
                    .ok_or_else(|| format!("{name} must be a whole number, not {v}")),
            }
        };
        let index = ObjectRef::parse(text("index")?).map_err(|e| format!("index: {e}"))?;
        let size = number("size", None)?;
        if size == 0 || size > MAX_PAGE {
            return Err(format!(
                "size must be from 1 to {MAX_PAGE} bytes, not {size}"
            ));
        }
        let (to, to_prefix) = match text("to")?.split_once('/') {
            Some((bucket, prefix)) => (bucket.to_string(), prefix.to_string()),
            None => (text("to")?.to_string(), String::new()),
        };
        let class = match crate::fields::text(args, "storage_class")? {
            Some(name) => name.parse().map_err(|e: StorageError| e.to_string())?,
            None => StorageClass::Standard,
        };
        let concurrency = number("concurrency", Some(100))?;
        if concurrency == 0 || concurrency > MAX_CONCURRENCY as u64 {
            return Err(format!(
                "concurrency must be from 1 to {MAX_CONCURRENCY}, not {concurrency}"
            ));
        }
        Ok(CopyRequest {
            index,
            offset: number("offset", Some(0))?,
            size,
            from: text("from")?.to_string(),
            to,
            to_prefix,
            class,
            concurrency: concurrency as usize,
            max_attempts: number("max_attempts", Some(6))?.clamp(1, 20) as u32,
        })
    }
}

/// A line of the page: where it starts in the index, and the key it names (or why not).
type Line = (u64, Result<String, String>);

/// Copies one page (blocking on `handle`).
pub(crate) fn copy_files(
    storage: &Storage,
    handle: &Handle,
    request: &CopyRequest,
) -> Result<Value, TaskError> {
    handle.block_on(copy_page(storage, request))
}

async fn copy_page(storage: &Storage, request: &CopyRequest) -> Result<Value, TaskError> {
    let index = storage
        .head(&request.index, None)
        .await
        .map_err(|e| storage_error(e.to_string()))?;
    if request.offset >= index.size {
        return Ok(
            json!({"next_offset": index.size, "done": true, "copied": 0, "failed": [], "retries": 0}),
        );
    }
    let end = (request.offset + request.size).min(index.size);
    let read = storage
        .get_with(
            &request.index,
            GetRequest {
                range: Some(request.offset..end),
                if_match: index.e_tag.clone(),
                ..GetRequest::default()
            },
        )
        .await
        .map_err(|e| storage_error(e.to_string()))?;
    let page: &[u8] = &read.data;
    let whole =
        if end == index.size {
            page.len()
        } else {
            page.iter().rposition(|b| *b == b'\n').map(|i| i + 1).ok_or_else(|| {
            invalid(format!(
                "{}: the record at byte {} is longer than size ({} bytes): give a larger size",
                request.index, request.offset, request.size
            ))
        })?
        };
    let csv = request.index.key.ends_with(".csv");
    let lines = lines(&page[..whole], request.offset, csv);
    let copies = lines.into_iter().map(|(at, key)| async move {
        let outcome = match key {
            Ok(key) => copy_one(storage, request, &key).await,
            Err(reason) => Err(Failure::Object(reason)),
        };
        (at, outcome)
    });
    let outcomes: Vec<(u64, Result<u32, Failure>)> = stream::iter(copies)
        .buffer_unordered(request.concurrency)
        .collect()
        .await;
    let (mut copied, mut retries, mut failed) = (0u64, 0u64, Vec::new());
    for (at, outcome) in outcomes {
        match outcome {
            Ok(attempts) => {
                copied += 1;
                retries += u64::from(attempts - 1);
            }
            Err(Failure::Call(reason)) => return Err(storage_error(reason)),
            Err(Failure::Object(reason)) => failed.push((at, reason)),
        }
    }
    failed.sort();
    let failed: Vec<Value> = failed
        .into_iter()
        .map(|(at, error)| json!({"offset": at, "error": error}))
        .collect();
    let next = request.offset + whole as u64;
    Ok(json!({
        "next_offset": next,
        "done": next >= index.size,
        "copied": copied,
        "failed": failed,
        "retries": retries,
    }))
}

/// Why an object was not copied.
enum Failure {
    /// Its record or its source is bad: the object is reported, the page goes on.
    Object(String),
    /// A transient failure outlived its retries: the call fails (and may be retried whole).
    Call(String),
}

/// Copies one object, retrying transient failures; returns how many attempts it took.
async fn copy_one(storage: &Storage, request: &CopyRequest, key: &str) -> Result<u32, Failure> {
    let bad = |e: StorageError| Failure::Object(e.to_string());
    let from = ObjectRef::new(&request.from, key).map_err(bad)?;
    let to = ObjectRef::new(&request.to, format!("{}{key}", request.to_prefix)).map_err(bad)?;
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=request.max_attempts {
        match storage.copy_in(&from, &to, request.class).await {
            Ok(_) => return Ok(attempt),
            Err(e @ (StorageError::InjectedFault { .. } | StorageError::Backend { .. })) => {
                if attempt == request.max_attempts {
                    return Err(Failure::Call(format!(
                        "{e} (after {attempt} attempts with exponential backoff)"
                    )));
                }
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            Err(e) => return Err(bad(e)),
        }
    }
    Err(Failure::Call(format!("{from}: no attempt was made")))
}

/// The records of whole lines starting at byte `start` of the index.
fn lines(page: &[u8], start: u64, csv: bool) -> Vec<Line> {
    let mut out = Vec::new();
    let mut at = start;
    for raw in page.split_inclusive(|b| *b == b'\n') {
        let here = at;
        at += raw.len() as u64;
        let text = raw.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let key = std::str::from_utf8(text)
            .map_err(|_| "the line is not UTF-8".to_string())
            .and_then(|line| if csv { csv_key(line) } else { json_key(line) });
        if csv && here == 0 && key.as_deref() == Ok("key") {
            continue;
        }
        out.push((here, key));
    }
    out
}

/// The first column of a CSV line (quoted or not).
fn csv_key(line: &str) -> Result<String, String> {
    let Some(quoted) = line.strip_prefix('"') else {
        return Ok(line.split(',').next().unwrap_or_default().to_string());
    };
    let mut key = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' if chars.clone().next() == Some('"') => {
                key.push('"');
                chars.next();
            }
            '"' => return Ok(key),
            c => key.push(c),
        }
    }
    Err("a quoted key is not closed".into())
}

/// The key of a JSON line: a string, or an object's `key` (or `Key`).
fn json_key(line: &str) -> Result<String, String> {
    match serde_json::from_str::<Value>(line).map_err(|e| format!("not JSON: {e}"))? {
        Value::String(key) => Ok(key),
        Value::Object(record) => match record.get("key").or_else(|| record.get("Key")) {
            Some(Value::String(key)) => Ok(key.clone()),
            _ => Err("the record has no string field key".into()),
        },
        other => Err(format!(
            "expected a key or an object with a key, found {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_their_offsets_and_malformed_records_fail_alone() {
        let page = b"key\na.log\n\"b,\"\"c\"\".log\",12\n\n\"open\n";
        let got = lines(page, 0, true);
        assert_eq!(
            got,
            vec![
                (4, Ok("a.log".to_string())),
                (10, Ok("b,\"c\".log".to_string())),
                (28, Err("a quoted key is not closed".to_string())),
            ]
        );
        let page = b"\"x\"\n{\"key\": \"y\"}\n{\"Key\": \"z\"}\n[1]\nnope\n";
        let got = lines(page, 100, false);
        assert_eq!(got[0], (100, Ok("x".to_string())));
        assert_eq!(got[1], (104, Ok("y".to_string())));
        assert_eq!(got[2], (117, Ok("z".to_string())));
        assert!(got[3].1.as_ref().unwrap_err().contains("expected a key"));
        assert!(got[4].1.as_ref().unwrap_err().starts_with("not JSON"));
    }

    #[test]
    fn requests_are_checked() {
        let args = |v: Value| v.as_object().unwrap().clone();
        let request = CopyRequest::from_args(&args(json!({
            "index": "idx/keys.csv", "size": 4096, "from": "src", "to": "dst/copies/",
            "storage_class": "ARCHIVE"
        })))
        .unwrap();
        assert_eq!(request.offset, 0);
        assert_eq!(request.to, "dst");
        assert_eq!(request.to_prefix, "copies/");
        assert_eq!(request.class, StorageClass::Archive);
        assert_eq!(request.concurrency, 100);
        let bad = CopyRequest::from_args(&args(
            json!({"index": "i/k", "size": 0, "from": "a", "to": "b"}),
        ));
        assert!(bad.unwrap_err().contains("size must be"));
        let bad = CopyRequest::from_args(&args(json!({"index": "i/k", "size": 10, "to": "b"})));
        assert_eq!(bad.unwrap_err(), "from is required");
    }
}
