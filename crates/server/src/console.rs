//! The web console: hand-written ES modules, CSS and an HTML page, embedded in the binary and
//! served at `GET /` and `GET /console/FILE`. The console reads and acts only through `/v1`,
//! so that what it shows a script can get too; its files hold no data and need no token.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One embedded file.
struct Asset {
    /// Its name under `/console/`.
    name: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its text.
    body: &'static str,
}

/// Declares the embedded files, each read from `console/` beside this crate's sources.
macro_rules! assets {
    ($($name:literal => $type:expr),* $(,)?) => {
        &[$(Asset { name: $name, content_type: $type, body: include_str!(concat!("../console/", $name)) }),*]
    };
}

/// The content type of the modules.
const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console.
const ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => JS,
    "api.js" => JS,
    "dom.js" => JS,
    "live.js" => JS,
    "executions.js" => JS,
    "execution.js" => JS,
    "states.js" => JS,
    "graph.js" => JS,
    "details.js" => JS,
    "maprun.js" => JS,
    "flows.js" => JS,
    "jsoncheck.js" => JS,
    "functions.js" => JS,
    "queues.js" => JS,
    "cdc.js" => JS,
};

/// The policy of every console answer: nothing is loaded from anywhere but the node.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:";

/// Whether a request is for the console: `GET /` that is not an AWS query-protocol request,
/// or `GET /console/...`.
pub(crate) fn serves(method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    uri.path().starts_with("/console/")
        || (uri.path() == "/" && !crate::sqs_query::is_query(content_type, uri.query()))
}

/// The console's page.
pub(crate) fn index(headers: &HeaderMap) -> Response {
    respond(0, headers)
}

/// `GET /console/FILE`.
pub(crate) async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.name == file) {
        Some(position) => respond(position, &headers),
        None => (StatusCode::NOT_FOUND, format!("no console file {file:?}")).into_response(),
    }
}

/// The entity tag of each asset, by position: a digest of its text.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body.as_bytes());
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// The asset at `position`, or 304 when the client holds this version (`If-None-Match`). Clients revalidate
/// every time (`no-cache`), so a new binary's console is seen at once.
fn respond(position: usize, headers: &HeaderMap) -> Response {
    let asset = &ASSETS[position];
    let etag = &etags()[position];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let status = if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let body = if fresh { "" } else { asset.body };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    if let Ok(tag) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, tag);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_named_once_and_the_page_comes_first() {
        assert_eq!(ASSETS[0].name, "index.html");
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(
                ASSETS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
            assert!(!a.body.is_empty(), "{} is empty", a.name);
        }
    }

    #[test]
    fn a_query_protocol_get_is_not_the_console() {
        let get = Method::GET;
        let none = HeaderMap::new();
        assert!(serves(&get, &"/".parse().unwrap(), &none));
        assert!(serves(&get, &"/console/app.js".parse().unwrap(), &none));
        assert!(!serves(
            &get,
            &"/?Action=ListQueues".parse().unwrap(),
            &none
        ));
        assert!(!serves(&Method::POST, &"/".parse().unwrap(), &none));
        assert!(!serves(&get, &"/v1/flows".parse().unwrap(), &none));
    }

    #[test]
    fn a_client_holding_the_version_gets_304() {
        let first = index(&HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        let tag = first.headers()[header::ETAG].clone();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, tag);
        assert_eq!(index(&headers).status(), StatusCode::NOT_MODIFIED);
    }
}
