//! Built-in object integrations: Task resources `arn:aws:states:::s3:ACTION` and
//! `arn:aws:states:::aws-sdk:s3:ACTION` served from the project's [`Storage`].
//!
//! | action | parameters | result |
//! |---|---|---|
//! | `getObject` | `Bucket`, `Key`, `VersionId`?, `Range`? (`bytes=A-B`) | `{Body, ContentLength, ContentType, ETag, LastModified, ...}`, `Body` as text |
//! | `putObject` | `Bucket`, `Key`, `Body` (text, or JSON written as its text), `StorageClass`? | `{ETag}` |
//! | `copyObject` | `Bucket`, `Key`, `CopySource` (`bucket/key`), `StorageClass`? | `{CopyObjectResult: {ETag, LastModified}}` |
//! | `restoreObject` | `Bucket`, `Key`, `RestoreRequest`? (`{Days, GlacierJobParameters: {Tier}}`, 1 day in `Standard` by default) | `{}` |
//! | `listObjectsV2` | `Bucket`, `Prefix`?, `Delimiter`?, `MaxKeys`? (1000), `ContinuationToken`?, `StartAfter`? | `{Contents, KeyCount, IsTruncated, NextContinuationToken?, Name, Prefix, MaxKeys, CommonPrefixes?}` |
//! | `headObject` | `Bucket`, `Key`, `VersionId`? | `{ContentLength, ETag, LastModified, StorageClass?, Restore?, ...}` |
//! | `deleteObject` | `Bucket`, `Key` | `{}` |
//!
//! `StorageClass` is an S3 name (`STANDARD`, `STANDARD_IA`, `GLACIER`, `DEEP_ARCHIVE`, ...) or
//! an OSS one (`Archive`, `ColdArchive`, ...). `headObject` shows `StorageClass` for objects not
//! in `STANDARD`, and `Restore` (`ongoing-request="true"`, then `ongoing-request="false",
//! expiry-date="..."`) once a restore was requested; `listObjectsV2` shows each object's class.
//!
//! CloudFlow's `OSS:GetObject`, `OSS:PutObject`, `OSS:CopyObject`, `OSS:ListObjects` (or
//! `ListObjectsV2`), `OSS:HeadObject` (or `GetObjectMeta`), `OSS:RestoreObject` and
//! `OSS:DeleteObject` are the same actions; their parameters may also be written in OSS's lower
//! camel case (`bucket`, `key` or `objectName`, `body`, `prefix`, `copySource`, `storageClass`,
//! `days`, ...), and the results are shaped as above.
//!
//! Failures are named as the AWS SDK integrations name them: `S3.NoSuchKeyException` for a
//! missing object, `S3.InvalidObjectStateException` for a read of an archived object that is
//! not restored (or a restore of one that is not archived), `S3.S3Exception` for anything else
//! S3 would refuse (a bad key, a missing parameter, a restore already in progress, a transient
//! failure); a `Body` above the payload limit is `States.DataLimitExceeded`.

use crate::classes::{RestoreTier, StorageClass};
use crate::error::StorageError;
use crate::location::ObjectRef;
use crate::storage::{GetRequest, ObjectInfo, Storage, quote_etag};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::SecondsFormat;
use futures_util::TryStreamExt;
use serde_json::{Map, Value, json};
use sluice_engine::invoke::{
    InvokeFuture, InvokeRequest, Invoker, Target, TaskError, invoke_read, within_timeout,
};
use sluice_lang::dataflow::MAX_PAYLOAD_BYTES;
use std::ops::Range;
use std::sync::Arc;

/// An [`Invoker`] serving the object integrations from a [`Storage`] and passing every other
/// call to `fallback` (typically the function pool).
pub struct ObjectIntegrations {
    storage: Storage,
    fallback: Arc<dyn Invoker>,
}

impl ObjectIntegrations {
    /// Serves object integrations from `storage`; everything else goes to `fallback`.
    pub fn new(storage: Storage, fallback: Arc<dyn Invoker>) -> Self {
        ObjectIntegrations { storage, fallback }
    }

    /// Whether a Task resource is one of the object integrations.
    pub fn serves(resource: &str) -> bool {
        Action::of(resource).is_some()
    }
}

#[derive(Clone, Copy, Debug)]
enum Action {
    GetObject,
    PutObject,
    CopyObject,
    ListObjectsV2,
    HeadObject,
    RestoreObject,
    DeleteObject,
}

impl Action {
    fn of(resource: &str) -> Option<Action> {
        if let Some(oss) = resource.strip_prefix("OSS:") {
            return Some(match oss {
                "GetObject" => Action::GetObject,
                "PutObject" => Action::PutObject,
                "CopyObject" => Action::CopyObject,
                "ListObjects" | "ListObjectsV2" => Action::ListObjectsV2,
                "HeadObject" | "GetObjectMeta" => Action::HeadObject,
                "RestoreObject" => Action::RestoreObject,
                "DeleteObject" => Action::DeleteObject,
                _ => return None,
            });
        }
        let name = resource
            .strip_prefix("arn:aws:states:::aws-sdk:s3:")
            .or_else(|| resource.strip_prefix("arn:aws:states:::s3:"))?;
        Some(match name {
            "getObject" => Action::GetObject,
            "putObject" => Action::PutObject,
            "copyObject" => Action::CopyObject,
            "listObjectsV2" => Action::ListObjectsV2,
            "headObject" => Action::HeadObject,
            "restoreObject" => Action::RestoreObject,
            "deleteObject" => Action::DeleteObject,
            _ => return None,
        })
    }
}

impl Invoker for ObjectIntegrations {
    fn invoke_text(&self, request: InvokeRequest, payload: Vec<u8>) -> InvokeFuture {
        match &request.target {
            Target::Function { .. } => self.fallback.invoke_text(request, payload),
            Target::Integration(_) => invoke_read(self, request, &payload),
        }
    }

    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let action = match &request.target {
            Target::Integration(resource) => Action::of(resource),
            Target::Function { .. } => None,
        };
        let Some(action) = action else {
            return self.fallback.invoke(request);
        };
        let storage = self.storage.clone();
        Box::pin(async move {
            let call = call(&storage, action, &request.payload);
            within_timeout(request.timeout_seconds, call).await?
        })
    }
}

async fn call(storage: &Storage, action: Action, payload: &Value) -> Result<Value, TaskError> {
    let params = payload
        .as_object()
        .ok_or_else(|| refused("the parameters must be an object"))?;
    let params = &s3_names(params);
    match action {
        Action::GetObject => get_object(storage, params).await,
        Action::PutObject => put_object(storage, params).await,
        Action::CopyObject => copy_object(storage, params).await,
        Action::ListObjectsV2 => list_objects(storage, params).await,
        Action::HeadObject => {
            let object = object(params)?;
            let info = storage
                .head(&object, text(params, "VersionId")?)
                .await
                .map_err(s3_error)?;
            Ok(described(&info))
        }
        Action::RestoreObject => restore_object(storage, params).await,
        Action::DeleteObject => {
            storage.delete(&object(params)?).await.map_err(s3_error)?;
            Ok(json!({}))
        }
    }
}

async fn get_object(storage: &Storage, params: &Map<String, Value>) -> Result<Value, TaskError> {
    let object = object(params)?;
    let version = text(params, "VersionId")?;
    let info = storage.head(&object, version).await.map_err(s3_error)?;
    let range = match text(params, "Range")? {
        Some(header) => Some(byte_range(header, info.size)?),
        None => None,
    };
    let length = range.as_ref().map_or(info.size, |r| r.end - r.start);
    if length > MAX_PAYLOAD_BYTES as u64 {
        return Err(TaskError {
            error: "States.DataLimitExceeded".into(),
            cause: format!(
                "{object} is {length} bytes: getObject returns the Body inline, which is limited to {MAX_PAYLOAD_BYTES} bytes (read it with a Range, or in a Distributed Map)"
            ),
        });
    }
    let request = GetRequest {
        range,
        version: version.map(str::to_string),
        if_match: info.e_tag.clone(),
    };
    let read = storage.get_with(&object, request).await.map_err(s3_error)?;
    let body = String::from_utf8(read.data.to_vec()).map_err(|_| {
        refused(format!(
            "{object} is not UTF-8 text (getObject returns the Body as a string)"
        ))
    })?;
    let mut result = described(&read.info);
    result["Body"] = Value::String(body);
    result["ContentLength"] = json!(length);
    Ok(result)
}

async fn put_object(storage: &Storage, params: &Map<String, Value>) -> Result<Value, TaskError> {
    let object = object(params)?;
    let body = match params.get("Body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(other) => Bytes::from(other.to_string()),
    };
    let class = storage_class(params)?;
    let e_tag = storage
        .put_in(&object, body, class)
        .await
        .map_err(s3_error)?;
    Ok(json!({"ETag": e_tag.as_deref().map(quote_etag).unwrap_or_default()}))
}

async fn copy_object(storage: &Storage, params: &Map<String, Value>) -> Result<Value, TaskError> {
    let target = object(params)?;
    let source = required(params, "CopySource")?;
    let source = source.trim_start_matches('/');
    let source = source.split_once("?versionId=").map_or(source, |(s, _)| s);
    let source = percent_encoding::percent_decode_str(source)
        .decode_utf8()
        .map_err(|_| refused(format!("CopySource '{source}' is not UTF-8 once decoded")))?;
    let source = ObjectRef::parse(&source).map_err(s3_error)?;
    let class = storage_class(params)?;
    let info = storage
        .copy_in(&source, &target, class)
        .await
        .map_err(s3_error)?;
    Ok(json!({
        "CopyObjectResult": {
            "ETag": info.quoted_etag(),
            "LastModified": timestamp(&info),
        }
    }))
}

/// `restoreObject`: starts the restore of an archived object for `RestoreRequest.Days` (or
/// OSS's `days`) days.
async fn restore_object(
    storage: &Storage,
    params: &Map<String, Value>,
) -> Result<Value, TaskError> {
    let object = object(params)?;
    let days = params
        .get("RestoreRequest")
        .and_then(|r| r.get("Days"))
        .or_else(|| params.get("Days"));
    let days = match days {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .and_then(|d| u32::try_from(d).ok())
            .ok_or_else(|| {
                refused(format!(
                    "RestoreRequest.Days must be a whole number, not {v}"
                ))
            })?,
    };
    let tier = params
        .get("RestoreRequest")
        .and_then(|r| r.get("GlacierJobParameters"))
        .and_then(|g| g.get("Tier"))
        .or_else(|| params.get("Tier"));
    let tier = match tier {
        None | Some(Value::Null) => RestoreTier::Standard,
        Some(Value::String(name)) => name.parse().map_err(s3_error)?,
        Some(v) => {
            return Err(refused(format!(
                "RestoreRequest.GlacierJobParameters.Tier must be a string, not {v}"
            )));
        }
    };
    // The SDK integration answers `{}` whether the restore started (202) or was done (200).
    storage
        .restore_in(&object, days, tier)
        .await
        .map_err(s3_error)?;
    Ok(json!({}))
}

/// The `StorageClass` parameter (`STANDARD` when absent).
fn storage_class(params: &Map<String, Value>) -> Result<StorageClass, TaskError> {
    match text(params, "StorageClass")? {
        None => Ok(StorageClass::Standard),
        Some(name) => name.parse().map_err(s3_error),
    }
}

async fn list_objects(storage: &Storage, params: &Map<String, Value>) -> Result<Value, TaskError> {
    let bucket = required(params, "Bucket")?;
    let prefix = text(params, "Prefix")?.unwrap_or_default();
    let delimiter = text(params, "Delimiter")?.filter(|d| !d.is_empty());
    let max_keys = match params.get("MaxKeys") {
        None | Some(Value::Null) => 1000,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| refused("MaxKeys must be a whole number"))?
            .min(1000) as usize,
    };
    let token = text(params, "ContinuationToken")?;
    let start_after = match token {
        Some(token) => Some(decode_token(token)?),
        None => text(params, "StartAfter")?.map(str::to_string),
    };
    let mut listing = storage
        .list(bucket, prefix, start_after.as_deref())
        .map_err(s3_error)?;
    let mut contents = Vec::new();
    let mut common = Vec::new();
    let mut count = 0;
    let mut last_key: Option<String> = None;
    let mut truncated = false;
    while let Some(info) = listing.try_next().await.map_err(s3_error)? {
        let group = delimiter.and_then(|d| {
            let rest = &info.key[prefix.len()..];
            rest.find(d)
                .map(|i| format!("{prefix}{}", &rest[..i + d.len()]))
        });
        if group.is_some() && common.last() == group.as_ref() {
            last_key = Some(info.key);
            continue;
        }
        if count == max_keys {
            truncated = true;
            break;
        }
        match group {
            Some(group) => common.push(group),
            None => contents.push(info.clone()),
        }
        count += 1;
        last_key = Some(info.key);
    }
    let contents: Vec<Value> = storage
        .classify(bucket, contents)
        .await
        .map_err(s3_error)?
        .into_iter()
        .map(|info| {
            json!({
                "ETag": info.quoted_etag(),
                "Key": info.key,
                "LastModified": timestamp(&info),
                "Size": info.size,
                "StorageClass": info.storage_class.as_str(),
            })
        })
        .collect();
    let mut result = json!({
        "Contents": contents,
        "IsTruncated": truncated,
        "KeyCount": count,
        "MaxKeys": max_keys,
        "Name": bucket,
        "Prefix": prefix,
    });
    if let Some(d) = delimiter {
        result["Delimiter"] = json!(d);
        let prefixes: Vec<Value> = common.iter().map(|p| json!({"Prefix": p})).collect();
        result["CommonPrefixes"] = Value::Array(prefixes);
    }
    if let Some(token) = token {
        result["ContinuationToken"] = json!(token);
    }
    if truncated && let Some(last) = last_key {
        result["NextContinuationToken"] = json!(URL_SAFE_NO_PAD.encode(last));
    }
    Ok(result)
}

fn decode_token(token: &str) -> Result<String, TaskError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| refused("The continuation token provided is incorrect"))
}

/// Parses `bytes=A-B`, `bytes=A-` or `bytes=-N` against an object of `size` bytes.
fn byte_range(header: &str, size: u64) -> Result<Range<u64>, TaskError> {
    let bad = || refused(format!("invalid Range '{header}' (bytes=FIRST-LAST)"));
    let spec = header.strip_prefix("bytes=").ok_or_else(bad)?;
    let (first, last) = spec.split_once('-').ok_or_else(bad)?;
    let number = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let range = match (first.trim().is_empty(), last.trim().is_empty()) {
        (false, false) => number(first)?..number(last)?.saturating_add(1).min(size),
        (false, true) => number(first)?..size,
        (true, false) => size.saturating_sub(number(last)?)..size,
        (true, true) => return Err(bad()),
    };
    if range.start >= range.end {
        return Err(refused(format!(
            "Range '{header}' is not satisfiable for an object of {size} bytes (Status Code: 416)"
        )));
    }
    Ok(range)
}

/// The metadata fields `getObject` and `headObject` return.
fn described(info: &ObjectInfo) -> Value {
    let mut out = json!({
        "AcceptRanges": "bytes",
        "ContentLength": info.size,
        "ContentType": "binary/octet-stream",
        "ETag": info.quoted_etag(),
        "LastModified": timestamp(info),
        "Metadata": {},
    });
    if let Some(version) = &info.version {
        out["VersionId"] = json!(version);
    }
    if info.storage_class != StorageClass::Standard {
        out["StorageClass"] = json!(info.storage_class.as_str());
    }
    if let Some(restore) = &info.restore {
        out["Restore"] = json!(restore.header());
    }
    out
}

/// Parameters with OSS's lower-camel names (`bucket`, `objectName`, ...) under the S3 names the
/// actions read; a parameter given under its S3 name wins.
fn s3_names(params: &Map<String, Value>) -> Map<String, Value> {
    const ALIASES: &[(&str, &str)] = &[
        ("bucket", "Bucket"),
        ("bucketName", "Bucket"),
        ("key", "Key"),
        ("objectName", "Key"),
        ("ObjectName", "Key"),
        ("body", "Body"),
        ("content", "Body"),
        ("prefix", "Prefix"),
        ("delimiter", "Delimiter"),
        ("maxKeys", "MaxKeys"),
        ("continuationToken", "ContinuationToken"),
        ("startAfter", "StartAfter"),
        ("copySource", "CopySource"),
        ("range", "Range"),
        ("versionId", "VersionId"),
        ("storageClass", "StorageClass"),
        ("days", "Days"),
        ("tier", "Tier"),
    ];
    let mut out = params.clone();
    for (alias, name) in ALIASES {
        if let Some(v) = params.get(*alias)
            && !params.contains_key(*name)
        {
            out.remove(*alias);
            out.insert((*name).to_string(), v.clone());
        }
    }
    out
}

fn timestamp(info: &ObjectInfo) -> String {
    info.last_modified
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn object(params: &Map<String, Value>) -> Result<ObjectRef, TaskError> {
    ObjectRef::new(required(params, "Bucket")?, required(params, "Key")?).map_err(s3_error)
}

fn required<'a>(params: &'a Map<String, Value>, name: &str) -> Result<&'a str, TaskError> {
    text(params, name)?.ok_or_else(|| refused(format!("the parameter {name} is required")))
}

fn text<'a>(params: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, TaskError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(refused(format!("{name} must be a string, not {other}"))),
    }
}

/// A request S3 would refuse.
fn refused(reason: impl std::fmt::Display) -> TaskError {
    TaskError {
        error: "S3.S3Exception".into(),
        cause: format!("{reason} (Service: S3, Status Code: 400)"),
    }
}

fn s3_error(e: StorageError) -> TaskError {
    match e {
        StorageError::NotFound { path } => TaskError {
            error: "S3.NoSuchKeyException".into(),
            cause: format!(
                "The specified key does not exist: {path} (Service: S3, Status Code: 404)"
            ),
        },
        StorageError::InvalidKey(reason) => refused(reason),
        error @ StorageError::InvalidObjectState { .. } => TaskError {
            error: "S3.InvalidObjectStateException".into(),
            cause: format!("{error} (Service: S3, Status Code: 403)"),
        },
        error @ StorageError::RestoreInProgress { .. } => TaskError {
            error: "S3.S3Exception".into(),
            cause: format!("{error} (Service: S3, Status Code: 409)"),
        },
        error @ StorageError::InjectedFault { .. } => TaskError {
            error: "S3.S3Exception".into(),
            cause: format!("{error} (Service: S3, Status Code: 503)"),
        },
        StorageError::Changed { path } => TaskError {
            error: "S3.S3Exception".into(),
            cause: format!("{path} changed during the request (Service: S3, Status Code: 412)"),
        },
        other => TaskError {
            error: "S3.S3Exception".into(),
            cause: format!("{other} (Service: S3, Status Code: 500)"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_and_ranges() {
        assert!(ObjectIntegrations::serves(
            "arn:aws:states:::aws-sdk:s3:getObject"
        ));
        assert!(ObjectIntegrations::serves(
            "arn:aws:states:::s3:listObjectsV2"
        ));
        assert!(ObjectIntegrations::serves(
            "arn:aws:states:::aws-sdk:s3:restoreObject"
        ));
        assert!(ObjectIntegrations::serves("OSS:RestoreObject"));
        assert!(!ObjectIntegrations::serves(
            "arn:aws:states:::aws-sdk:s3:selectObjectContent"
        ));
        assert!(!ObjectIntegrations::serves(
            "arn:aws:states:::lambda:invoke"
        ));
        assert_eq!(byte_range("bytes=0-9", 100).unwrap(), 0..10);
        assert_eq!(byte_range("bytes=90-", 100).unwrap(), 90..100);
        assert_eq!(byte_range("bytes=-5", 100).unwrap(), 95..100);
        assert_eq!(byte_range("bytes=95-200", 100).unwrap(), 95..100);
        assert!(byte_range("bytes=100-", 100).is_err());
        assert!(byte_range("items=0-1", 100).is_err());
    }
}
