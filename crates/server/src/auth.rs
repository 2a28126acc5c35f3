//! Who may call the node. With access keys configured, the AWS-compatible endpoints check AWS
//! Signature Version 4 against them; with a token, the node's own endpoints (`/metrics`, `/v1`)
//! check `Authorization: Bearer`. Without either (allowed on loopback only), anyone on the
//! machine may call. `/healthz` and `/readyz` stay open, for load balancers and orchestrators;
//! HTTP triggers check their own tokens.

use crate::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// How long a signature stays valid around the node's clock, as on AWS (15 minutes).
const MAX_CLOCK_SKEW_SECONDS: i64 = 15 * 60;

/// The credentials the node accepts.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// Secret access keys by access key id, for Signature Version 4.
    pub access_keys: BTreeMap<String, String>,
    /// The bearer token of the node's own endpoints.
    pub token: Option<String>,
}

impl Credentials {
    /// Whether any credentials are configured; without them, requests are not checked.
    pub fn configured(&self) -> bool {
        !self.access_keys.is_empty() || self.token.is_some()
    }

    /// Reads `ID:SECRET` pairs separated by commas (as `SLUICE_ACCESS_KEYS` holds them).
    pub fn parse_access_keys(text: &str) -> Result<BTreeMap<String, String>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once(':') {
                Some((id, secret)) if !id.is_empty() && !secret.is_empty() => {
                    Ok((id.to_string(), secret.to_string()))
                }
                _ => Err(format!(
                    "access key {:?}: expected ACCESS_KEY_ID:SECRET_ACCESS_KEY",
                    pair.split(':').next().unwrap_or_default()
                )),
            })
            .collect()
    }

    /// Checks an AWS-compatible request: its SigV4 signature over `body`, when access keys are
    /// configured.
    pub fn check_signed(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), ApiError> {
        if self.access_keys.is_empty() {
            return Ok(());
        }
        let header = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::bad(
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token: sign the request with AWS Signature Version 4",
                )
            })?;
        let auth = Authorization::parse(header).ok_or_else(|| {
            ApiError::bad(
                "IncompleteSignatureException",
                "the Authorization header is not an AWS4-HMAC-SHA256 signature",
            )
        })?;
        let secret = self.access_keys.get(&auth.access_key).ok_or_else(|| {
            ApiError::bad(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            )
        })?;
        let date = header_text(headers, "x-amz-date").ok_or_else(|| {
            ApiError::bad("IncompleteSignatureException", "X-Amz-Date is missing")
        })?;
        let signed_at = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
            .map_err(|_| ApiError::bad("IncompleteSignatureException", "X-Amz-Date is malformed"))?
            .and_utc();
        if (now - signed_at).num_seconds().abs() > MAX_CLOCK_SKEW_SECONDS {
            return Err(ApiError::bad(
                "InvalidSignatureException",
                format!(
                    "Signature expired: {date} is more than 15 minutes away from the node's time"
                ),
            ));
        }
        let expected = signature(&auth, secret, method, uri, headers, body, date);
        if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
            return Err(ApiError::bad(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method.",
            ));
        }
        Ok(())
    }

    /// Checks a request to the node's own endpoints: `Authorization: Bearer TOKEN`, when a token
    /// is configured.
    pub fn check_bearer(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let given = header_text(headers, "authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("Authorization: Bearer TOKEN is required"))?;
        if constant_time_eq(given.as_bytes(), token.as_bytes()) {
            Ok(())
        } else {
            Err(unauthorized("the bearer token is not valid"))
        }
    }
}

/// Checks every request against the node's credentials before it reaches its route: the
/// health probes and the console's files pass, the node's own endpoints need the bearer token, the AWS-compatible ones
/// a signature (over the body, read here within the limit of its endpoint).
pub async fn authenticate(
    State(state): State<crate::ServerState>,
    request: Request,
    next: Next,
) -> Response {
    let credentials = &state.credentials;
    if !credentials.configured() {
        return next.run(request).await;
    }
    let path = request.uri().path();
    if path == "/healthz"
        || path == "/readyz"
        || crate::triggers::is_trigger_path(&state, path)
        || crate::console::serves(request.method(), request.uri(), request.headers())
    {
        return next.run(request).await;
    }
    if path == "/metrics" || path == "/v1" || path.starts_with("/v1/") {
        return match credentials.check_bearer(request.headers()) {
            Ok(()) => next.run(request).await,
            Err(e) => e.into_response(),
        };
    }
    let limit = if path.starts_with("/2015-03-31/") {
        crate::lambda::MAX_PAYLOAD_BYTES
    } else {
        crate::MAX_REQUEST_BYTES
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "RequestTooLargeException",
            message: format!("the request body is over the limit of {limit} bytes"),
        }
        .into_response();
    };
    let checked = credentials.check_signed(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &bytes,
        chrono::Utc::now(),
    );
    match checked {
        Ok(()) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) if crate::sns::is_query(&parts.headers) => {
            crate::sns::error_response(e.status, e.code, &e.message)
        }
        Err(e) => e.into_response(),
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "UnauthorizedException",
        message: message.into(),
    }
}

fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The parts of an `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header.
#[derive(Debug, PartialEq)]
struct Authorization {
    access_key: String,
    /// `DATE/REGION/SERVICE/aws4_request`.
    scope: String,
    signed_headers: Vec<String>,
    signature: String,
}

impl Authorization {
    fn parse(header: &str) -> Option<Authorization> {
        let rest = header.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.split(',') {
            let (key, value) = part.trim().split_once('=')?;
            match key {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed = Some(value),
                "Signature" => signature = Some(value),
                _ => {}
            }
        }
        let (access_key, scope) = credential?.split_once('/')?;
        if scope.split('/').count() != 4 || !scope.ends_with("/aws4_request") {
            return None;
        }
        Some(Authorization {
            access_key: access_key.to_string(),
            scope: scope.to_string(),
            signed_headers: signed?.split(';').map(str::to_string).collect(),
            signature: signature?.to_string(),
        })
    }
}

/// The signature AWS's clients compute for this request (Signature Version 4).
fn signature(
    auth: &Authorization,
    secret: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    date: &str,
) -> String {
    let payload_hash = header_text(headers, "x-amz-content-sha256")
        .map(str::to_string)
        .unwrap_or_else(|| hex(&Sha256::digest(body)));
    let canonical_headers: String = auth
        .signed_headers
        .iter()
        .map(|name| {
            let values: Vec<String> = headers
                .get_all(name.as_str())
                .iter()
                .map(|v| collapse_spaces(&String::from_utf8_lossy(v.as_bytes())))
                .collect();
            format!("{name}:{}\n", values.join(","))
        })
        .collect();
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{}\n{payload_hash}",
        canonical_path(uri.path()),
        canonical_query(uri.query().unwrap_or_default()),
        auth.signed_headers.join(";"),
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{}\n{}",
        auth.scope,
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in auth.scope.split('/') {
        key = hmac_sha256(&key, part.as_bytes()).to_vec();
    }
    hex(&hmac_sha256(&key, string_to_sign.as_bytes()))
}

/// The path as SigV4 signs it for every service but S3: each segment URI-encoded again.
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// The query parameters sorted by name and value, each URI-encoded.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&decode(k)), uri_encode(&decode(v)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Encodes every byte but `A-Z a-z 0-9 - _ . ~` as `%XX` (a path that was sent encoded is
/// encoded again, as SigV4 signs paths for every service but S3).
fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as a space) of a query component.
pub(crate) fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Trims a header value and collapses its runs of spaces, as SigV4 canonicalises it.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// Compares secrets in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// AWS's Signature Version 4 test suite, case `get-vanilla`.
    #[test]
    fn the_aws_test_suite_vanilla_request_verifies() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        headers.insert(
            "authorization",
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
        );
        let credentials = Credentials {
            access_keys: Credentials::parse_access_keys(
                "AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            )
            .unwrap(),
            token: None,
        };
        let at = chrono::DateTime::parse_from_rfc3339("2015-08-30T12:40:00Z")
            .unwrap()
            .to_utc();
        let uri: Uri = "/".parse().unwrap();
        credentials
            .check_signed(&Method::GET, &uri, &headers, b"", at)
            .unwrap();
        // Another body, another key, another time: each refused with AWS's error.
        let refused = |body: &[u8], creds: &Credentials, at| {
            creds
                .check_signed(&Method::GET, &uri, &headers, body, at)
                .unwrap_err()
                .code
        };
        assert_eq!(refused(b"x", &credentials, at), "InvalidSignatureException");
        let late = at + chrono::Duration::minutes(20);
        assert_eq!(
            refused(b"", &credentials, late),
            "InvalidSignatureException"
        );
        let strangers = Credentials {
            access_keys: Credentials::parse_access_keys("OTHER:secret").unwrap(),
            token: None,
        };
        assert_eq!(refused(b"", &strangers, at), "UnrecognizedClientException");
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn bearer_tokens_and_unconfigured_nodes() {
        let open = Credentials::default();
        assert!(open.check_bearer(&HeaderMap::new()).is_ok());
        let guarded = Credentials {
            access_keys: BTreeMap::new(),
            token: Some("s3cret".into()),
        };
        let mut headers = HeaderMap::new();
        assert_eq!(guarded.check_bearer(&headers).unwrap_err().status, 401);
        headers.insert("authorization", HeaderValue::from_static("Bearer nope"));
        assert_eq!(guarded.check_bearer(&headers).unwrap_err().status, 401);
        headers.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
        assert!(guarded.check_bearer(&headers).is_ok());
    }

    #[test]
    fn access_keys_are_pairs() {
        let keys = Credentials::parse_access_keys("a:1, b:2").unwrap();
        assert_eq!(keys.get("b").map(String::as_str), Some("2"));
        assert!(Credentials::parse_access_keys("nosecret").is_err());
    }

    #[test]
    fn query_strings_are_sorted_and_encoded() {
        assert_eq!(canonical_query("b=2&a=x%20y&c"), "a=x%20y&b=2&c=");
        assert_eq!(
            canonical_path("/2015-03-31/functions/f:1/invocations"),
            "/2015-03-31/functions/f%3A1/invocations"
        );
    }
}
