//! The HTTP endpoints of a Sluice node.
//!
//! One route, `POST /`, speaks the AWS JSON 1.0 protocol of Step Functions and SQS: the
//! operation is named by the `X-Amz-Target: AWSStepFunctions.<Op>` (or `AmazonSQS.<Op>`) header
//! and the body is JSON, so that AWS's clients drive the node with `endpoint_url`. See [`sfn`]
//! and [`sqs`] for the operations, [`events`] for EventBridge's (`AWSEvents.<Op>`, JSON 1.1)
//! and [`sns`] for SNS's, whose form-encoded requests carry no target. The Lambda
//! Invoke API calls the project's functions ([`lambda`]); `/healthz`, `/readyz` and `/metrics`
//! serve operators ([`health`], [`metrics`]). `GET /` without a query-protocol `Action` and
//! `GET /console/...` serve the web console, which works through `/v1` ([`rest`]).

pub mod auth;
pub mod callbacks;
mod console;
pub mod events;
pub mod graph;
pub mod health;
pub mod lambda;
pub mod machines;
pub mod metrics;
pub mod rest;
pub mod sfn;
pub mod sns;
pub mod sqs;
mod sqs_query;
pub mod triggers;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use machines::StateMachines;
use serde_json::Value;
use sluice_engine::Engine;
use sluice_engine::store::Store;
use sluice_lang::ir::Definition;
use std::future::Future;
use std::sync::Arc;

/// The largest request body accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The content type of AWS JSON 1.0 requests and responses.
const AMZ_JSON: &str = "application/x-amz-json-1.0";

/// A flow the node serves as a state machine.
#[derive(Clone)]
pub struct ServedFlow {
    /// The stored definition's id.
    pub definition_id: String,
    /// The definition's source text, as `DescribeStateMachine` returns it.
    pub source: String,
    /// The compiled definition.
    pub definition: Arc<Definition>,
    /// When it was created (or the node started serving it), epoch ms.
    pub created_ms: i64,
    /// Whether it is a flow of the project's `sluice.yaml`, which the API cannot change.
    pub from_project: bool,
}

/// What the endpoints work on: the store, the engine driving the executions, the state
/// machines served by name and the project's functions.
#[derive(Clone)]
pub struct ServerState {
    /// Where executions and their histories are read.
    pub store: Arc<dyn Store>,
    /// The engine that starts and stops executions.
    pub engine: Engine,
    /// The served state machines by name.
    pub flows: StateMachines,
    /// The key the definitions of created state machines are stored under: the project's.
    pub project_key: Option<String>,
    /// The project's functions, when the Lambda Invoke API serves them.
    pub functions: Option<lambda::Functions>,
    /// Who may call (nobody is checked when none are configured).
    pub credentials: Arc<auth::Credentials>,
    /// The project's queues.
    pub queues: Option<sluice_queues::Queues>,
    /// The project's topics.
    pub topics: Option<sluice_queues::Topics>,
    /// The project's event bus rules.
    pub bus: Option<sluice_queues::EventBus>,
    /// What HTTP triggers call: functions and flows.
    pub targets: Option<sluice_queues::Targets>,
    /// The HTTP triggers, routes of the node.
    pub http_triggers: Arc<Vec<sluice_queues::triggers::HttpTrigger>>,
    /// The status of each CDC source of the project.
    pub cdc: Arc<Vec<Arc<sluice_cdc::Status>>>,
}

/// Serves the endpoints on `listener` until `shutdown` completes, then finishes the requests
/// in flight.
pub async fn serve(
    state: ServerState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The routes.
fn router(state: ServerState) -> Router {
    Router::new()
        .route("/", post(dispatch).get(dispatch))
        .route(
            &format!("/{}/{{queue}}", sqs::ACCOUNT),
            post(queue_url_request).get(queue_url_request),
        )
        .route("/console/{*file}", get(console::asset))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .merge(lambda::routes())
        .merge(rest::routes())
        .merge(triggers::routes(&state.http_triggers))
        .fallback(no_route)
        .method_not_allowed_fallback(no_route)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn(traced))
        .with_state(state)
}

/// Runs a request inside a `request` span named by its method, path and AWS operation, so that
/// what it causes (a start, a store read) is logged under it, and its time when it closes.
async fn traced(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use tracing::Instrument;
    let operation = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        operation = %operation,
        status = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    response
}

/// The answer to a path or method no route serves.
async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "UnknownOperationException",
        message: format!("no operation at {method} {}", uri.path()),
    }
}

/// An error in the AWS shape: a status, a code such as `ExecutionDoesNotExist`, and a message.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status (400 for the client's errors).
    pub status: StatusCode,
    /// The error code.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// A client error (HTTP 400) with this code.
    pub fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// The error for a request body that could not be read: over the size limit (HTTP 413),
    /// or cut short.
    pub fn body(rejection: &BytesRejection) -> ApiError {
        let status = rejection.status();
        ApiError {
            status,
            code: if status == StatusCode::PAYLOAD_TOO_LARGE {
                "RequestTooLargeException"
            } else {
                "SerializationException"
            },
            message: rejection.body_text(),
        }
    }

    /// A failure of the node itself (HTTP 500).
    pub fn internal(message: impl ToString) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalFailure",
            message: message.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"__type": self.code, "message": self.message});
        let mut response = (self.status, amz_json(&body)).into_response();
        response
            .headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        response
    }
}

/// A JSON body with the AWS JSON 1.0 content type.
fn amz_json(value: &Value) -> impl IntoResponse + use<> {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON))],
        value.to_string(),
    )
}

/// Routes a request on its `X-Amz-Target` header; without one, a form of SNS's API version to
/// SNS's query protocol, and other forms (or an `Action` in the query string) to SQS's.
async fn dispatch(
    State(state): State<ServerState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return ApiError::body(&rejection).into_response(),
    };
    let host = host_of(&headers);
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target.is_empty() && method == Method::POST {
        let fields = sns::form(&body);
        if fields.get("Version").map(String::as_str) == Some(sns::VERSION) {
            return sns::call(&state, fields).await;
        }
    }
    if sqs_query::is_query(content_type(&headers), uri.query()) {
        let form = query_pairs(uri.query(), &body);
        return sqs_query::call(&state, &host, form, None).await;
    }
    if console::serves(&method, &uri, &headers) {
        return console::index(&headers);
    }
    if method == Method::GET {
        return no_route(method, uri).await.into_response();
    }
    let result = match target.split_once('.') {
        Some(("AWSStepFunctions", operation)) => match parse_body(&body) {
            Ok(request) => sfn::call(&state, operation, request).await,
            Err(e) => Err(e),
        },
        Some(("AmazonSQS", operation)) => {
            let result = match parse_body(&body) {
                Ok(request) => sqs::call(&state, &host, operation, request).await,
                Err(e) => Err(e),
            };
            // SQS's JSON errors also carry the query protocol's code, which SDKs report.
            return match result {
                Ok(value) => amz_json(&value).into_response(),
                Err(e) => {
                    let query_error = format!(
                        "{};{}",
                        sqs_query::query_code(e.code),
                        sqs_query::fault(e.status)
                    );
                    let mut response = e.into_response();
                    if let Ok(value) = HeaderValue::from_str(&query_error) {
                        response.headers_mut().insert("x-amzn-query-error", value);
                    }
                    response
                }
            };
        }
        Some(("AWSEvents", operation)) => match parse_body(&body) {
            Ok(request) => events::call(&state, operation, request).await,
            Err(e) => Err(e),
        },
        _ => Err(unknown_operation(target)),
    };
    match result {
        Ok(value) => amz_json(&value).into_response(),
        Err(e) => e.into_response(),
    }
}

/// An SQS query-protocol request sent to a queue's URL (`/ACCOUNT/QUEUE`).
async fn queue_url_request(
    State(state): State<ServerState>,
    UrlPath(queue): UrlPath<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return ApiError::body(&rejection).into_response(),
    };
    let host = host_of(&headers);
    let form = query_pairs(uri.query(), &body);
    let url = sqs::queue_url(&host, &queue);
    sqs_query::call(&state, &host, form, Some(url)).await
}

/// The request's `Host`, which queue URLs name.
fn host_of(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// The pairs of a query string and a form body.
fn query_pairs(query: Option<&str>, body: &[u8]) -> Vec<(String, String)> {
    let query = form_urlencoded::parse(query.unwrap_or_default().as_bytes());
    query
        .chain(form_urlencoded::parse(body))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The error for a target no operation answers.
pub(crate) fn unknown_operation(target: &str) -> ApiError {
    ApiError::bad(
        "UnknownOperationException",
        format!("unknown operation {target:?}"),
    )
}

/// A request body: a JSON object (`{}` when empty).
fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::bad(
            "SerializationException",
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad(
            "SerializationException",
            format!("the request body is not valid JSON: {e}"),
        )),
    }
}
