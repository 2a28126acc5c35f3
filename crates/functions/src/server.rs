//! The loopback HTTP server of one instance: the Lambda Runtime API
//! (`/2018-06-01/runtime/...`) plus the object API.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use object_store::ObjectStore;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::logs::Capture;
use crate::pool::lock;
use crate::queues::QueueSink;

const PREFIX: &str = "/2018-06-01/runtime";
const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";
const RESPONSE_MODE_HEADER: &str = "lambda-runtime-function-response-mode";

/// An event waiting to be handed to the runtime by `/invocation/next`.
pub(crate) struct Invocation {
    pub request_id: String,
    pub payload: Bytes,
    pub timeout: Duration,
    pub function_arn: String,
    pub trace_id: String,
    pub client_context: Option<String>,
    /// Receives the deadline when the runtime takes the event.
    pub dispatched: oneshot::Sender<Instant>,
    /// Receives the terminal POST.
    pub done: oneshot::Sender<Outcome>,
}

/// What the runtime reported for an invocation.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Body posted to `/response`.
    Response(Bytes),
    /// `/response` body over the limit.
    TooLarge { size: u64, limit: usize },
    /// Body and header posted to `/error`.
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
}

/// Error posted to `/init/error`.
#[derive(Clone, Debug)]
pub(crate) struct InitError {
    pub error_type: Option<String>,
    pub body: Bytes,
}

struct InFlight {
    request_id: String,
    done: oneshot::Sender<Outcome>,
}

/// State shared between an instance and its server.
pub(crate) struct RuntimeState {
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    inflight: Mutex<Option<InFlight>>,
    started: AtomicBool,
    init_error: watch::Sender<Option<InitError>>,
    stop: watch::Receiver<bool>,
    capture: Arc<Capture>,
    max_response_bytes: usize,
}

impl RuntimeState {
    pub(crate) fn new(
        queue: mpsc::Receiver<Invocation>,
        init_error: watch::Sender<Option<InitError>>,
        stop: watch::Receiver<bool>,
        capture: Arc<Capture>,
        max_response_bytes: usize,
    ) -> Arc<RuntimeState> {
        Arc::new(RuntimeState {
            queue: tokio::sync::Mutex::new(queue),
            inflight: Mutex::new(None),
            started: AtomicBool::new(false),
            init_error,
            stop,
            capture,
            max_response_bytes,
        })
    }

    fn is_inflight(&self, request_id: &str) -> bool {
        lock(&self.inflight)
            .as_ref()
            .is_some_and(|f| f.request_id == request_id)
    }

    /// Delivers the terminal outcome of `request_id`; false when it is not in flight.
    fn complete(&self, request_id: &str, outcome: Outcome) -> bool {
        let mut slot = lock(&self.inflight);
        match slot.take() {
            Some(f) if f.request_id == request_id => {
                let _ = f.done.send(outcome);
                true
            }
            other => {
                *slot = other;
                false
            }
        }
    }
}

/// The full router of one instance.
pub(crate) fn router(
    state: Arc<RuntimeState>,
    objects: Option<Arc<dyn ObjectStore>>,
    queues: Option<Arc<dyn QueueSink>>,
) -> Router {
    Router::new()
        .route(&format!("{PREFIX}/invocation/next"), get(next))
        .route(
            &format!("{PREFIX}/invocation/{{request_id}}/response"),
            post(response),
        )
        .route(
            &format!("{PREFIX}/invocation/{{request_id}}/error"),
            post(error),
        )
        .route(&format!("{PREFIX}/init/error"), post(init_error))
        .with_state(state)
        .merge(crate::objects::router(objects))
        .merge(crate::queues::router(queues))
        .fallback(|| async { api_error(StatusCode::NOT_FOUND, "NotFound", "no such endpoint") })
}

/// Lambda's `ErrorResponse` shape.
pub(crate) fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "errorMessage": message, "errorType": error_type })),
    )
        .into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({ "status": "OK" }))).into_response()
}

fn invalid_request_id(request_id: &str) -> Response {
    api_error(
        StatusCode::FORBIDDEN,
        "InvalidStateTransition",
        &format!("Invalid request ID: {request_id} is not in flight"),
    )
}

fn epoch_ms(after: Duration) -> u128 {
    (SystemTime::now() + after)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

async fn next(State(state): State<Arc<RuntimeState>>) -> Response {
    state.started.store(true, Ordering::SeqCst);
    // The runtime flushes before asking for work: whatever it printed is init output.
    state.capture.drain().await;
    let mut stop = state.stop.clone();
    let invocation = tokio::select! {
        inv = async { state.queue.lock().await.recv().await } => inv,
        _ = stop.wait_for(|s| *s) => None,
    };
    let Some(inv) = invocation else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ShuttingDown",
            "the instance is stopping",
        );
    };
    // From here to the response nothing awaits, so the event cannot be lost.
    let deadline = Instant::now() + inv.timeout;
    state.capture.set_current(Some(&inv.request_id));
    *lock(&state.inflight) = Some(InFlight {
        request_id: inv.request_id.clone(),
        done: inv.done,
    });
    let _ = inv.dispatched.send(deadline);

    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    put("lambda-runtime-aws-request-id", &inv.request_id);
    put(
        "lambda-runtime-deadline-ms",
        &epoch_ms(inv.timeout).to_string(),
    );
    put("lambda-runtime-invoked-function-arn", &inv.function_arn);
    put("lambda-runtime-trace-id", &inv.trace_id);
    if let Some(cc) = &inv.client_context {
        put("lambda-runtime-client-context", cc);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (StatusCode::OK, headers, inv.payload).into_response()
}

enum BodyRead {
    Complete(Bytes),
    TooLarge(u64),
    Failed,
}

/// Reads a whole body, keeping at most `limit` bytes (never allocating more) but counting
/// the rest so that the connection stays usable.
async fn read_limited(mut body: Body, limit: usize) -> BodyRead {
    let mut buf: Vec<u8> = Vec::new();
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return BodyRead::Failed;
        };
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total <= limit as u64 {
                append_within(&mut buf, &data, limit);
            } else if !buf.is_empty() {
                buf = Vec::new();
            }
        }
    }
    if total > limit as u64 {
        BodyRead::TooLarge(total)
    } else {
        BodyRead::Complete(Bytes::from(buf))
    }
}

/// Appends `data` to `buf`, which must stay within `limit` bytes: the buffer grows
/// geometrically, as a `Vec` does, but its capacity never exceeds `limit`.
fn append_within(buf: &mut Vec<u8>, data: &[u8], limit: usize) {
    let needed = buf.len() + data.len();
    if needed > buf.capacity() {
        let target = needed.max(buf.capacity() * 2).min(limit.max(needed));
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(data);
}

async fn response(
    State(state): State<Arc<RuntimeState>>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !state.is_inflight(&request_id) {
        return invalid_request_id(&request_id);
    }
    if let Some(mode) = headers.get(RESPONSE_MODE_HEADER) {
        let mode = mode.to_str().unwrap_or("").to_ascii_lowercase();
        if mode != "streaming" && mode != "buffered" {
            return api_error(
                StatusCode::BAD_REQUEST,
                "Runtime.InvalidResponseModeHeader",
                "invalid Lambda-Runtime-Function-Response-Mode",
            );
        }
    }
    let limit = state.max_response_bytes;
    match read_limited(body, limit).await {
        BodyRead::Complete(bytes) => {
            if state.complete(&request_id, Outcome::Response(bytes)) {
                accepted()
            } else {
                invalid_request_id(&request_id)
            }
        }
        BodyRead::TooLarge(size) => {
            state.complete(&request_id, Outcome::TooLarge { size, limit });
            api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Function.ResponseSizeTooLarge",
                &format!(
                    "Response payload size exceeded maximum allowed payload size ({limit} bytes)."
                ),
            )
        }
        BodyRead::Failed => api_error(StatusCode::BAD_REQUEST, "InvalidBody", "cannot read body"),
    }
}

fn error_type_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get(ERROR_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Reads an error body; an oversized one is replaced by an empty body.
async fn read_error_body(body: Body, limit: usize) -> Option<Bytes> {
    match read_limited(body, limit).await {
        BodyRead::Complete(b) => Some(b),
        BodyRead::TooLarge(_) => Some(Bytes::new()),
        BodyRead::Failed => None,
    }
}

async fn error(
    State(state): State<Arc<RuntimeState>>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !state.is_inflight(&request_id) {
        return invalid_request_id(&request_id);
    }
    let Some(body) = read_error_body(body, state.max_response_bytes).await else {
        return api_error(StatusCode::BAD_REQUEST, "InvalidBody", "cannot read body");
    };
    let outcome = Outcome::Error {
        error_type: error_type_header(&headers),
        body,
    };
    if state.complete(&request_id, outcome) {
        accepted()
    } else {
        invalid_request_id(&request_id)
    }
}

async fn init_error(
    State(state): State<Arc<RuntimeState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if state.started.load(Ordering::SeqCst) || state.init_error.borrow().is_some() {
        return api_error(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "init error reported after initialization",
        );
    }
    let Some(body) = read_error_body(body, state.max_response_bytes).await else {
        return api_error(StatusCode::BAD_REQUEST, "InvalidBody", "cannot read body");
    };
    state.init_error.send_replace(Some(InitError {
        error_type: error_type_header(&headers),
        body,
    }));
    accepted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_grow_but_never_past_the_limit() {
        let limit = 1000;
        let mut buf = Vec::new();
        for _ in 0..33 {
            append_within(&mut buf, &[7u8; 30], limit);
            assert!(buf.capacity() <= limit, "{}", buf.capacity());
        }
        assert_eq!(buf.len(), 990);
        append_within(&mut buf, &[7u8; 10], limit);
        assert_eq!((buf.len(), buf.capacity()), (1000, 1000));
    }
}
