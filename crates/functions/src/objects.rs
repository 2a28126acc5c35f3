//! The object API served to functions on their loopback listener:
//! `GET|HEAD|PUT /sluice/objects/{key}` and `GET /sluice/objects?prefix=p`. Objects are
//! streamed both ways, so memory stays bounded whatever their size; a `GET` with
//! `Range: bytes=...` reads one range of an object (206, or 416 when the object has no such
//! bytes).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::BodyExt;
use object_store::path::Path;
use object_store::{
    GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions,
    PutPayload, WriteMultipart,
};
use serde::Serialize;

use crate::byte_range::ByteRange;
use crate::server::api_error;

/// Checks that `key` is a safe object key: relative, `/`-separated, with no empty,
/// `.` or `..` segment, no backslash and no control character.
pub fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("object key is empty".into());
    }
    if key.starts_with('/') {
        return Err(format!("object key '{key}' is absolute"));
    }
    if key.contains('\\') {
        return Err(format!("object key '{key}' contains a backslash"));
    }
    if key.chars().any(char::is_control) {
        return Err("object key contains a control character".into());
    }
    for segment in key.split('/') {
        match segment {
            "" => return Err(format!("object key '{key}' has an empty segment")),
            "." | ".." => return Err(format!("object key '{key}' has a '{segment}' segment")),
            _ => {}
        }
    }
    Path::parse(key).map_err(|e| format!("invalid object key '{key}': {e}"))?;
    Ok(())
}

/// A `PUT` body up to this size is stored in one write; a larger one is streamed as a
/// multipart upload in parts of this size.
const PUT_PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts of a multipart upload written at once.
const PUT_PARTS_IN_FLIGHT: usize = 2;

/// A listing entry.
#[derive(Debug, Serialize)]
struct Entry {
    key: String,
    size: u64,
}

type Store = Option<Arc<dyn ObjectStore>>;

/// Routes of the object API over `store`.
pub(crate) fn router(store: Store) -> Router {
    Router::new()
        .route("/sluice/objects", get(list))
        .route(
            "/sluice/objects/{*key}",
            get(get_object).head(head_object).put(put_object),
        )
        .with_state(store)
}

/// An object API failure, answered as Lambda's `ErrorResponse` shape.
struct ApiError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error_type,
            message: message.into(),
        }
    }

    fn invalid_key(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidKey", message)
    }

    fn store(e: object_store::Error, key: &str) -> Self {
        match e {
            object_store::Error::NotFound { .. } => Self::new(
                StatusCode::NOT_FOUND,
                "NoSuchKey",
                format!("object not found: {key}"),
            ),
            other => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ObjectStoreError",
                other.to_string(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        api_error(self.status, self.error_type, &self.message)
    }
}

fn configured(store: &Store) -> Result<&Arc<dyn ObjectStore>, ApiError> {
    store.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NoObjectStore",
            "no object store is configured",
        )
    })
}

fn parse_key(key: &str) -> Result<Path, ApiError> {
    validate_key(key).map_err(ApiError::invalid_key)?;
    Path::parse(key).map_err(|e| ApiError::invalid_key(e.to_string()))
}

async fn get_object(
    State(store): State<Store>,
    UrlPath(key): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let store = configured(&store)?;
    let path = parse_key(&key)?;
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| "Range is not ASCII".to_string())
                .and_then(ByteRange::parse)
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "InvalidRange", e))?,
        ),
    };
    let options = GetOptions {
        range: range.map(ByteRange::to_get_range),
        ..GetOptions::default()
    };
    let result = match store.get_opts(&path, options).await {
        Ok(result) => result,
        Err(e) => {
            // A store refuses an unsatisfiable range in its own words: its size tells.
            if let (Some(range), false) = (range, matches!(e, object_store::Error::NotFound { .. }))
                && let Ok(meta) = store.head(&path).await
                && range.resolve(meta.size).is_none()
            {
                return Ok(unsatisfiable(&key, meta.size));
            }
            return Err(ApiError::store(e, &key));
        }
    };
    let size = result.meta.size;
    let mut response_headers = described(&result.meta);
    let status = match range {
        None => StatusCode::OK,
        Some(range) if range.resolve(size).is_none() => return Ok(unsatisfiable(&key, size)),
        Some(_) => {
            let served = &result.range;
            response_headers.insert(
                header::CONTENT_RANGE,
                header_value(format!(
                    "bytes {}-{}/{size}",
                    served.start,
                    served.end.saturating_sub(1)
                )),
            );
            StatusCode::PARTIAL_CONTENT
        }
    };
    response_headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(result.range.end - result.range.start),
    );
    let body = Body::from_stream(result.into_stream());
    Ok((status, response_headers, body).into_response())
}

/// `HEAD`: the object's size (`Content-Length`), entity tag and modification time, no body.
async fn head_object(
    State(store): State<Store>,
    UrlPath(key): UrlPath<String>,
) -> Result<Response, ApiError> {
    let store = configured(&store)?;
    let path = parse_key(&key)?;
    let meta = store
        .head(&path)
        .await
        .map_err(|e| ApiError::store(e, &key))?;
    let mut headers = described(&meta);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.size));
    Ok((StatusCode::OK, headers).into_response())
}

/// The headers describing an object, whatever part of it is served.
fn described(meta: &ObjectMeta) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::LAST_MODIFIED,
        header_value(
            meta.last_modified
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
        ),
    );
    if let Some(e_tag) = meta.e_tag.as_deref()
        && let Ok(value) = HeaderValue::from_str(&format!("\"{}\"", e_tag.trim_matches('"')))
    {
        headers.insert(header::ETAG, value);
    }
    headers
}

/// 416, with the object's size in `Content-Range` as RFC 9110 asks.
fn unsatisfiable(key: &str, size: u64) -> Response {
    let mut response = ApiError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "InvalidRange",
        format!("object {key} of {size} bytes has none of the bytes asked for"),
    )
    .into_response();
    response.headers_mut().insert(
        header::CONTENT_RANGE,
        header_value(format!("bytes */{size}")),
    );
    response
}

/// A header value of text built here (digits, ASCII words).
fn header_value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).expect("an ASCII header value")
}

async fn put_object(
    State(store): State<Store>,
    UrlPath(key): UrlPath<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let store = configured(&store)?;
    let path = parse_key(&key)?;
    let size = put_streamed(store.as_ref(), &path, body, &key).await?;
    Ok(axum::Json(Entry { key, size }).into_response())
}

/// Stores `body` at `path`, holding at most about `PUT_PART_BYTES` times
/// (`PUT_PARTS_IN_FLIGHT` + 1) in memory. Returns its size.
async fn put_streamed(
    store: &dyn ObjectStore,
    path: &Path,
    mut body: Body,
    key: &str,
) -> Result<u64, ApiError> {
    let invalid =
        |e: axum::Error| ApiError::new(StatusCode::BAD_REQUEST, "InvalidBody", e.to_string());
    let mut first = Vec::new();
    let mut upload: Option<WriteMultipart> = None;
    let mut size = 0u64;
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Err(e) => {
                if let Some(upload) = upload {
                    let _ = upload.abort().await;
                }
                return Err(invalid(e));
            }
        };
        size += data.len() as u64;
        match &mut upload {
            Some(upload) => {
                upload
                    .wait_for_capacity(PUT_PARTS_IN_FLIGHT)
                    .await
                    .map_err(|e| ApiError::store(e, key))?;
                upload.put(data);
            }
            None if first.len() + data.len() <= PUT_PART_BYTES => first.extend_from_slice(&data),
            None => {
                let parts = store
                    .put_multipart_opts(path, PutMultipartOptions::default())
                    .await
                    .map_err(|e| ApiError::store(e, key))?;
                let mut started = WriteMultipart::new_with_chunk_size(parts, PUT_PART_BYTES);
                started.put(Bytes::from(std::mem::take(&mut first)));
                started.put(data);
                upload = Some(started);
            }
        }
    }
    match upload {
        Some(upload) => upload.finish().await,
        None => {
            store
                .put_opts(path, PutPayload::from(first), PutOptions::default())
                .await
        }
    }
    .map_err(|e| ApiError::store(e, key))?;
    Ok(size)
}

async fn list(
    State(store): State<Store>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let store = configured(&store)?;
    let prefix = query.get("prefix").map(String::as_str).unwrap_or("");
    // A plain string prefix: its directory part must be a valid key, its last
    // segment a valid key fragment.
    let (dir, tail) = match prefix.rfind('/') {
        Some(i) => (&prefix[..i], &prefix[i + 1..]),
        None => ("", prefix),
    };
    let start = if dir.is_empty() {
        if prefix.starts_with('/') {
            return Err(ApiError::invalid_key("prefix is absolute"));
        }
        None
    } else {
        Some(parse_key(dir)?)
    };
    if tail.contains('\\') || tail.chars().any(char::is_control) {
        return Err(ApiError::invalid_key("invalid prefix"));
    }
    let entries = list_prefix(store.as_ref(), start, prefix)
        .await
        .map_err(|e| ApiError::store(e, prefix))?;
    Ok(axum::Json(entries).into_response())
}

/// Lists every object whose key starts with `prefix`, walking directories from
/// `start` and skipping those that cannot match.
async fn list_prefix(
    store: &dyn ObjectStore,
    start: Option<Path>,
    prefix: &str,
) -> Result<Vec<Entry>, object_store::Error> {
    let mut out = Vec::new();
    let mut pending = vec![start];
    while let Some(dir) = pending.pop() {
        let listing = match store.list_with_delimiter(dir.as_ref()).await {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        for meta in listing.objects {
            let key = meta.location.to_string();
            if key.starts_with(prefix) {
                out.push(Entry {
                    key,
                    size: meta.size,
                });
            }
        }
        for sub in listing.common_prefixes {
            let as_dir = format!("{sub}/");
            if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                pending.push(Some(sub));
            }
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::validate_key;

    #[test]
    fn keys_are_validated() {
        for good in ["a", "a/b.txt", "raw/2024/data_1.csv", "x..y", ".hidden"] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in [
            "", "/a", "../x", "a/../b", "a//b", "a/", "./a", "a\\b", "a\0b", "a/.", "a\nb",
        ] {
            assert!(validate_key(bad).is_err(), "{bad:?}");
        }
    }
}
