//! [`S3Api`]: the S3 requests `object_store` does not make, signed with its own SigV4
//! authorizer: CopyObject into a storage class, RestoreObject, and HeadObject, GetObject and
//! ListObjectsV2 read with their `x-amz-storage-class` and `x-amz-restore`.

use crate::classes::{RestoreStarted, RestoreStatus, RestoreTier, StorageClass};
use crate::error::StorageError;
use crate::storage::ObjectInfo;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use object_store::aws::{AwsAuthorizer, AwsCredentialProvider};
use object_store::client::{HttpRequest, HttpRequestBody};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::time::Duration;

/// What S3 leaves unencoded in a key: unreserved characters, and `/` between segments.
const KEY_ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
/// What S3 leaves unencoded in a query value or a copy source's key.
const VALUE_ENCODE_SET: &AsciiSet = &KEY_ENCODE_SET.add(b'/');
/// The longest error body read from a failed request.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Keys asked for per ListObjectsV2 request.
const LIST_PAGE: usize = 1000;

/// A failed S3 request, with S3's error code.
#[derive(Debug, thiserror::Error)]
#[error("{operation} answered {}: {code}: {message}", status.map_or("nothing".to_string(), |s| s.to_string()))]
pub(crate) struct S3ApiError {
    /// The S3 operation (`RestoreObject`, ...).
    pub operation: &'static str,
    /// The HTTP status, when an answer came.
    pub status: Option<u16>,
    /// S3's error code (`NoSuchKey`, `InvalidObjectState`, ...), or `RequestFailed` when no
    /// answer came.
    pub code: String,
    /// S3's message.
    pub message: String,
}

impl S3ApiError {
    /// The error code, with S3's message when it gave one.
    fn detail(&self) -> String {
        if self.message.is_empty() {
            self.code.clone()
        } else {
            format!("{}: {}", self.code, self.message)
        }
    }

    /// The failure as the storage reports it about `path`, with the same variants as the
    /// emulation's (`NotFound`, `InvalidObjectState`, `RestoreInProgress`, ...).
    pub fn about(self, path: &str) -> StorageError {
        let path = path.to_string();
        match (self.code.as_str(), self.status) {
            ("NoSuchKey" | "NoSuchBucket" | "NoSuchVersion", _) | (_, Some(404)) => {
                StorageError::NotFound { path }
            }
            ("InvalidObjectState", _) => StorageError::InvalidObjectState {
                path,
                reason: self.message,
            },
            ("RestoreAlreadyInProgress", _) => StorageError::RestoreInProgress { path },
            ("PreconditionFailed", _) | (_, Some(412)) => StorageError::Changed { path },
            ("NotImplemented", _) | (_, Some(501)) => StorageError::Unsupported {
                path,
                reason: format!(
                    "the S3 server does not implement {} ({}); keep storage classes and \
                     restores in the node's store with `objects: {{ classes: emulated }}`",
                    self.operation,
                    self.detail()
                ),
            },
            ("InvalidStorageClass", _) => StorageError::Unsupported {
                path,
                reason: format!(
                    "the S3 server refused the storage class in {} ({}); keep storage \
                     classes in the node's store with `objects: {{ classes: emulated }}`",
                    self.operation,
                    self.detail()
                ),
            },
            _ => StorageError::Backend {
                path,
                source: object_store::Error::Generic {
                    store: "S3",
                    source: Box::new(self),
                },
            },
        }
    }
}

/// S3's error document.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorDocument {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// One page of ListObjectsV2, with what is read of it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPage {
    #[serde(default)]
    contents: Vec<Listed>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    key: String,
    storage_class: Option<String>,
}

/// Where the bucket is and how requests to it are signed.
#[derive(Clone)]
pub(crate) struct S3Target {
    /// The bucket.
    pub bucket: String,
    /// The bucket's URL, without a trailing `/` (path-style or virtual-hosted).
    pub bucket_url: String,
    /// The region requests are signed for.
    pub region: String,
    /// The folder of the storage inside the bucket (empty for its root).
    pub prefix: String,
    /// The credentials `object_store` signs with.
    pub credentials: AwsCredentialProvider,
}

/// Signed S3 requests on one bucket. Cheap to clone.
#[derive(Clone)]
pub(crate) struct S3Api {
    http: reqwest::Client,
    target: S3Target,
}

impl fmt::Debug for S3Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Api")
            .field("bucket_url", &self.target.bucket_url)
            .field("prefix", &self.target.prefix)
            .finish()
    }
}

/// A request to send.
struct Call<'a> {
    operation: &'static str,
    method: Method,
    key: &'a str,
    query: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

impl S3Api {
    /// Requests on `target`.
    pub fn new(target: S3Target) -> Result<S3Api, String> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the S3 HTTP client: {e}"))?;
        Ok(S3Api { http, target })
    }

    /// The bucket's key of the storage path `BUCKET/KEY` (under the storage's folder).
    pub fn key(&self, path: &str) -> String {
        if self.target.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}/{path}", self.target.prefix)
        }
    }

    /// The storage path of a bucket key, if it is under the storage's folder.
    fn path_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        if self.target.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(self.target.prefix.as_str())?
                .strip_prefix('/')
        }
    }

    /// Signs and sends `call`; an answer other than 2xx is an error with S3's code.
    async fn send(&self, call: Call<'_>) -> Result<reqwest::Response, S3ApiError> {
        let failed = |message: String| S3ApiError {
            operation: call.operation,
            status: None,
            code: "RequestFailed".into(),
            message,
        };
        let mut url = format!(
            "{}/{}",
            self.target.bucket_url,
            utf8_percent_encode(call.key, KEY_ENCODE_SET)
        );
        for (i, (name, value)) in call.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            if !value.is_empty() {
                url.push('=');
                url.extend(utf8_percent_encode(value, VALUE_ENCODE_SET));
            }
        }
        let mut request = HttpRequest::new(HttpRequestBody::from(call.body.clone()));
        *request.method_mut() = call.method.clone();
        *request.uri_mut() = url
            .parse()
            .map_err(|e| failed(format!("bad request to {url}: {e}")))?;
        for (name, value) in &call.headers {
            let value = HeaderValue::from_str(value)
                .map_err(|e| failed(format!("bad header {name}: {e}")))?;
            request
                .headers_mut()
                .insert(HeaderName::from_static(name), value);
        }
        let credential = self
            .target
            .credentials
            .get_credential()
            .await
            .map_err(|e| failed(format!("no credentials: {e}")))?;
        AwsAuthorizer::new(&credential, "s3", &self.target.region)
            .try_authorize(&mut request, None)
            .map_err(|e| failed(format!("signing failed: {e}")))?;
        let response = self
            .http
            .request(call.method, &url)
            .headers(request.headers().clone())
            .body(call.body)
            .send()
            .await
            .map_err(|e| failed(format!("{url}: {e}")))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(error_of(call.operation, response).await)
    }

    /// HeadObject: the object's metadata with its class and restore, shown under `key_shown`.
    pub async fn head(
        &self,
        key: &str,
        version: Option<&str>,
        key_shown: &str,
    ) -> Result<ObjectInfo, S3ApiError> {
        let query = version.map(|v| ("versionId", v.to_string()));
        let response = self
            .send(Call {
                operation: "HeadObject",
                method: Method::HEAD,
                key,
                query: query.into_iter().collect(),
                headers: Vec::new(),
                body: Bytes::new(),
            })
            .await?;
        let size = header(response.headers(), "content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        Ok(described(response.headers(), key_shown, size))
    }

    /// GetObject of `range` (the whole object when `None`), only if its entity tag is
    /// `if_match` when given: the object's metadata (its whole size) and the bytes read.
    pub async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
        version: Option<&str>,
        if_match: Option<&str>,
        key_shown: &str,
    ) -> Result<(ObjectInfo, Bytes), S3ApiError> {
        let mut headers = Vec::new();
        if let Some(range) = &range {
            let last = range.end.saturating_sub(1).max(range.start);
            headers.push(("range", format!("bytes={}-{last}", range.start)));
        }
        if let Some(tag) = if_match {
            headers.push(("if-match", crate::storage::quote_etag(tag)));
        }
        let response = self
            .send(Call {
                operation: "GetObject",
                method: Method::GET,
                key,
                query: version
                    .map(|v| ("versionId", v.to_string()))
                    .into_iter()
                    .collect(),
                headers,
                body: Bytes::new(),
            })
            .await?;
        let whole = match header(response.headers(), "content-range") {
            // `bytes FIRST-LAST/SIZE`
            Some(range) => range.rsplit('/').next().and_then(|s| s.parse().ok()),
            None => header(response.headers(), "content-length").and_then(|l| l.parse().ok()),
        };
        let info = described(response.headers(), key_shown, whole.unwrap_or(0));
        let data = response.bytes().await.map_err(|e| S3ApiError {
            operation: "GetObject",
            status: None,
            code: "RequestFailed".into(),
            message: format!("reading the body failed: {e}"),
        })?;
        Ok((info, data))
    }

    /// PutObject of `data` in `class`: the new object's entity tag and version.
    pub async fn put(
        &self,
        key: &str,
        data: Bytes,
        class: StorageClass,
    ) -> Result<object_store::PutResult, S3ApiError> {
        let response = self
            .send(Call {
                operation: "PutObject",
                method: Method::PUT,
                key,
                query: Vec::new(),
                headers: vec![("x-amz-storage-class", class.as_str().to_string())],
                body: data,
            })
            .await?;
        Ok(object_store::PutResult {
            e_tag: header(response.headers(), "etag").map(str::to_string),
            version: header(response.headers(), "x-amz-version-id").map(str::to_string),
            extensions: Default::default(),
        })
    }

    /// CopyObject from the bucket key `from` to `to` in `class` (S3's `STANDARD` when `None`).
    pub async fn copy(
        &self,
        from: &str,
        to: &str,
        class: Option<StorageClass>,
    ) -> Result<(), S3ApiError> {
        let source = format!(
            "/{}/{}",
            utf8_percent_encode(&self.target.bucket, VALUE_ENCODE_SET),
            utf8_percent_encode(from, KEY_ENCODE_SET)
        );
        let mut headers = vec![("x-amz-copy-source", source)];
        if let Some(class) = class {
            headers.push(("x-amz-storage-class", class.as_str().to_string()));
        }
        let response = self
            .send(Call {
                operation: "CopyObject",
                method: Method::PUT,
                key: to,
                query: Vec::new(),
                headers,
                body: Bytes::new(),
            })
            .await?;
        // S3 may answer 200 and then report a failure in the body.
        let body = bounded_body(response).await;
        if body.contains("<Error>") {
            return Err(error_document("CopyObject", Some(200), &body));
        }
        Ok(())
    }

    /// RestoreObject for `days` days in `tier`: 202 when the restore started, 200 when the
    /// object was restored already and its expiry moved.
    pub async fn restore(
        &self,
        key: &str,
        days: u32,
        tier: RestoreTier,
    ) -> Result<RestoreStarted, S3ApiError> {
        let body = format!(
            "<RestoreRequest xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Days>{days}</Days>\
             <GlacierJobParameters><Tier>{}</Tier></GlacierJobParameters></RestoreRequest>",
            tier.as_str()
        );
        let response = self
            .send(Call {
                operation: "RestoreObject",
                method: Method::POST,
                key,
                query: vec![("restore", String::new())],
                headers: vec![("content-type", "application/xml".into())],
                body: Bytes::from(body),
            })
            .await?;
        Ok(if response.status() == reqwest::StatusCode::ACCEPTED {
            RestoreStarted::Started
        } else {
            RestoreStarted::AlreadyRestored
        })
    }

    /// The classes of the storage paths `paths` (a page of a listing), from the listing of the
    /// bucket from the first to the last: usually one ListObjectsV2 request. Paths the listing
    /// no longer holds are left out.
    pub async fn classes(
        &self,
        paths: &[String],
    ) -> Result<HashMap<String, StorageClass>, S3ApiError> {
        let mut found = HashMap::with_capacity(paths.len());
        let (Some(first), Some(last)) = (paths.iter().min(), paths.iter().max()) else {
            return Ok(found);
        };
        let (first, last) = (self.key(first), self.key(last));
        let prefix = common_prefix(&first, &last).to_string();
        // Just before the first key: the key without its last character.
        let mut before = first.clone();
        before.pop();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type", "2".to_string()),
                ("max-keys", LIST_PAGE.to_string()),
                ("prefix", prefix.clone()),
            ];
            match &token {
                Some(token) => query.push(("continuation-token", token.clone())),
                None => query.push(("start-after", before.clone())),
            }
            let response = self
                .send(Call {
                    operation: "ListObjectsV2",
                    method: Method::GET,
                    key: "",
                    query,
                    headers: Vec::new(),
                    body: Bytes::new(),
                })
                .await?;
            let body = response.text().await.map_err(|e| S3ApiError {
                operation: "ListObjectsV2",
                status: None,
                code: "RequestFailed".into(),
                message: format!("reading the listing failed: {e}"),
            })?;
            let page: ListPage = quick_xml::de::from_str(&body).map_err(|e| S3ApiError {
                operation: "ListObjectsV2",
                status: Some(200),
                code: "MalformedListing".into(),
                message: e.to_string(),
            })?;
            let mut past_last = false;
            for listed in page.contents {
                if listed.key > last {
                    past_last = true;
                    break;
                }
                if let Some(path) = self.path_of(&listed.key) {
                    let class = listed
                        .storage_class
                        .and_then(|c| c.parse().ok())
                        .unwrap_or_default();
                    found.insert(path.to_string(), class);
                }
            }
            token = page.next_continuation_token.filter(|_| page.is_truncated);
            if past_last || token.is_none() || found.len() >= paths.len() {
                return Ok(found);
            }
        }
    }
}

/// The longest common prefix of two strings, on a character boundary.
fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let end = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i);
    &a[..end]
}

/// A header's value, if it is text.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An object's metadata from the headers of a HeadObject or GetObject answer.
fn described(headers: &HeaderMap, key: &str, size: u64) -> ObjectInfo {
    let last_modified = header(headers, "last-modified")
        .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
        .map_or_else(Utc::now, |d| d.with_timezone(&Utc));
    ObjectInfo {
        key: key.to_string(),
        size,
        last_modified,
        e_tag: header(headers, "etag").map(str::to_string),
        version: header(headers, "x-amz-version-id").map(str::to_string),
        storage_class: header(headers, "x-amz-storage-class")
            .and_then(|c| c.parse().ok())
            .unwrap_or_default(),
        restore: header(headers, "x-amz-restore").and_then(restore_status),
    }
}

/// Reads `x-amz-restore`: `ongoing-request="true"`, or `ongoing-request="false",
/// expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`.
pub(crate) fn restore_status(value: &str) -> Option<RestoreStatus> {
    let quoted = |name: &str| {
        let start = value.find(&format!("{name}=\""))? + name.len() + 2;
        let len = value[start..].find('"')?;
        Some(&value[start..start + len])
    };
    match quoted("ongoing-request")? {
        "true" => Some(RestoreStatus::Ongoing),
        _ => {
            let expiry = DateTime::parse_from_rfc2822(quoted("expiry-date")?).ok()?;
            Some(RestoreStatus::Restored {
                expiry: expiry.with_timezone(&Utc),
            })
        }
    }
}

/// At most [`MAX_ERROR_BODY`] bytes of a body, as text.
async fn bounded_body(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = MAX_ERROR_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_ERROR_BODY {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// The error of a failed answer, from its error document (a HEAD answer has none).
async fn error_of(operation: &'static str, response: reqwest::Response) -> S3ApiError {
    let status = response.status();
    let body = bounded_body(response).await;
    let mut error = error_document(operation, Some(status.as_u16()), &body);
    if error.code.is_empty() {
        error.code = match status.as_u16() {
            404 => "NoSuchKey",
            412 => "PreconditionFailed",
            501 => "NotImplemented",
            _ => "UnknownError",
        }
        .into();
        error.message = status.canonical_reason().unwrap_or_default().to_string();
    }
    error
}

/// The error an S3 error document describes (with an empty code when `body` is not one).
fn error_document(operation: &'static str, status: Option<u16>, body: &str) -> S3ApiError {
    let document = quick_xml::de::from_str::<ErrorDocument>(body).ok();
    let (code, message) =
        document.map_or_else(|| (String::new(), String::new()), |d| (d.code, d.message));
    S3ApiError {
        operation,
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_headers_are_read() {
        assert_eq!(
            restore_status("ongoing-request=\"true\""),
            Some(RestoreStatus::Ongoing)
        );
        let restored = restore_status(
            "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"",
        )
        .unwrap();
        assert_eq!(
            restored.header(),
            "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""
        );
        assert_eq!(restore_status("ongoing-request=\"false\""), None);
        assert_eq!(restore_status("garbage"), None);
    }

    #[test]
    fn error_documents_name_their_code() {
        let error = error_document(
            "GetObject",
            Some(403),
            "<?xml version=\"1.0\"?><Error><Code>InvalidObjectState</Code>\
             <Message>The operation is not valid for the object's storage class</Message></Error>",
        );
        assert_eq!(error.code, "InvalidObjectState");
        assert!(matches!(
            error.about("b/k"),
            StorageError::InvalidObjectState { path, .. } if path == "b/k"
        ));
        let missing = error_document("HeadObject", Some(404), "");
        assert_eq!(missing.code, "");
        assert!(missing.about("b/k").is_not_found());
    }

    #[test]
    fn common_prefixes_stop_at_the_first_difference() {
        assert_eq!(common_prefix("a/b/c1", "a/b/c9"), "a/b/c");
        assert_eq!(common_prefix("a/é1", "a/é2"), "a/é");
        assert_eq!(common_prefix("abc", "abc"), "abc");
    }
}
