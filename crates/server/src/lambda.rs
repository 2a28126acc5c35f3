//! The Lambda Invoke API (REST JSON) over the project's functions:
//! `POST /2015-03-31/functions/{name}/invocations` and `GET /2015-03-31/functions/`
//! (ListFunctions), so that `boto3.client("lambda").invoke(...)` calls a project function.
//!
//! `X-Amz-Invocation-Type` is `RequestResponse` (200 with the result; a function error is
//! still 200, with `X-Amz-Function-Error: Unhandled` and the error document), `Event` (202, the
//! call runs in the background, at most [`MAX_BACKGROUND`] at once) or `DryRun` (204).
//! `X-Amz-Log-Type: Tail` returns the end of the call's output in `X-Amz-Log-Result`.

use crate::ServerState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Target, TaskError, function_name};
use sluice_engine::run_info::RunInfo;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Semaphore;

/// The largest invocation request body: Lambda's 6 MB synchronous payload limit.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// `Event` invocations running at once; more are refused with `TooManyRequestsException`.
pub const MAX_BACKGROUND: usize = 64;
/// The bytes of output `X-Amz-Log-Type: Tail` returns, as Lambda does.
pub const TAIL_BYTES: usize = 4 * 1024;

/// What runs the project's functions, under a request id the caller chooses so that the
/// call's output can be found.
pub trait FunctionHost: Send + Sync {
    /// The functions that can be called, in declaration order.
    fn names(&self) -> Vec<String>;
    /// Calls a function (`request.target`) under `request_id`.
    fn invoke(&self, request: InvokeRequest, request_id: String) -> InvokeFuture;
    /// The output lines of a finished request still held, oldest first (empty when the
    /// runtime keeps none).
    fn log_tail(&self, request_id: &str) -> Vec<String>;
    /// Each function's warm instances and counters, as JSON objects with a `name`.
    fn stats(&self) -> Vec<Value>;
    /// The last `tail` lines a function printed that are still held, oldest first, as JSON
    /// objects (`ts`, `requestId`, `stream`, `line`).
    fn logs(&self, function: &str, tail: usize) -> Vec<Value>;
}

/// The functions the Lambda API serves, with the bound on background calls. Cheap to clone.
#[derive(Clone)]
pub struct Functions {
    host: Arc<dyn FunctionHost>,
    background: Arc<Semaphore>,
    invocations: Arc<AtomicU64>,
}

impl Functions {
    /// Serves the functions `host` runs.
    pub fn new(host: Arc<dyn FunctionHost>) -> Functions {
        Functions {
            host,
            background: Arc::new(Semaphore::new(MAX_BACKGROUND)),
            invocations: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The functions that can be called, in declaration order.
    pub fn names(&self) -> Vec<String> {
        self.host.names()
    }

    /// Each function's warm instances and counters.
    pub fn stats(&self) -> Vec<Value> {
        self.host.stats()
    }

    /// The last `tail` lines a function printed.
    pub fn logs(&self, function: &str, tail: usize) -> Vec<Value> {
        self.host.logs(function, tail)
    }

    /// Calls a function as a Task calls it (`TestState`).
    pub async fn call(&self, request: InvokeRequest) -> Result<Value, TaskError> {
        let id = uuid::Uuid::new_v4().to_string();
        self.host.invoke(request, id).await
    }

    /// Invocations made through the API so far.
    pub fn invocations(&self) -> &AtomicU64 {
        &self.invocations
    }
}

/// The Lambda routes. Invocations take bodies up to [`MAX_PAYLOAD_BYTES`].
pub fn routes() -> Router<ServerState> {
    Router::new()
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(invoke).layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES)),
        )
        .route("/2015-03-31/functions", get(list_functions))
        .route("/2015-03-31/functions/", get(list_functions))
}

/// An error in Lambda's REST shape: `x-amzn-ErrorType` names it, the body is
/// `{"Type": "User"|"Service", "message": ...}`.
#[derive(Debug)]
pub struct LambdaError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The error code, e.g. `ResourceNotFoundException`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl LambdaError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> LambdaError {
        LambdaError {
            status,
            code,
            message: message.into(),
        }
    }

    /// `ResourceNotFoundException` for a function the project does not have.
    fn not_found(name: &str) -> LambdaError {
        LambdaError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!("Function not found: {}", function_arn(name)),
        )
    }
}

impl IntoResponse for LambdaError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() {
            "Service"
        } else {
            "User"
        };
        let body = json!({"Type": kind, "message": self.message});
        let mut response = (self.status, json_body(body.to_string())).into_response();
        response
            .headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        response
    }
}

/// A body with the JSON content type.
fn json_body(text: String) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text,
    )
}

/// The ARN of a project function (region and account of a local node).
fn function_arn(name: &str) -> String {
    let local = RunInfo::local("", "", 0);
    format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        local.region, local.account_id
    )
}

/// `GET /2015-03-31/functions/`: the project's functions, in one page.
async fn list_functions(State(state): State<ServerState>) -> Response {
    let names = state
        .functions
        .as_ref()
        .map(|f| f.host.names())
        .unwrap_or_default();
    let functions: Vec<Value> = names
        .iter()
        .map(|name| json!({"FunctionName": name, "FunctionArn": function_arn(name)}))
        .collect();
    json_body(json!({ "Functions": functions }).to_string()).into_response()
}

/// How the caller wants the function called.
#[derive(Clone, Copy, Debug, PartialEq)]
enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

/// `X-Amz-Invocation-Type` (default `RequestResponse`).
fn invocation_type(headers: &HeaderMap) -> Result<InvocationType, LambdaError> {
    let value = headers
        .get("x-amz-invocation-type")
        .map(|v| v.to_str().unwrap_or("(not text)"));
    match value {
        None | Some("RequestResponse") => Ok(InvocationType::RequestResponse),
        Some("Event") => Ok(InvocationType::Event),
        Some("DryRun") => Ok(InvocationType::DryRun),
        Some(other) => Err(LambdaError::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            format!(
                "X-Amz-Invocation-Type must be RequestResponse, Event or DryRun, not {other:?}"
            ),
        )),
    }
}

/// The event: the body as JSON (`{}` when empty).
fn event(body: Result<Bytes, BytesRejection>) -> Result<Value, LambdaError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            LambdaError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                format!("Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation"),
            )
        } else {
            LambdaError::new(
                StatusCode::BAD_REQUEST,
                "InvalidRequestContentException",
                rejection.body_text(),
            )
        }
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&body).map_err(|e| {
        LambdaError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            format!("Could not parse request body into json: {e}"),
        )
    })
}

/// `POST /2015-03-31/functions/{name}/invocations`.
async fn invoke(
    State(state): State<ServerState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match invoke_function(&state, &name, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn invoke_function(
    state: &ServerState,
    name: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, LambdaError> {
    let name = function_name(name).to_string();
    let functions = state
        .functions
        .as_ref()
        .filter(|f| f.host.names().contains(&name))
        .ok_or_else(|| LambdaError::not_found(&name))?;
    let kind = invocation_type(headers)?;
    let payload = event(body)?;
    let request_id = uuid::Uuid::new_v4().to_string();
    let request = InvokeRequest {
        target: Target::Function {
            name: name.clone(),
            wrap: false,
        },
        resource: function_arn(&name),
        payload,
        idempotency_key: request_id.clone(),
        execution: String::new(),
        timeout_seconds: None,
    };
    match kind {
        InvocationType::DryRun => Ok(StatusCode::NO_CONTENT.into_response()),
        InvocationType::Event => {
            let permit = functions
                .background
                .clone()
                .try_acquire_owned()
                .map_err(|_| {
                    LambdaError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "TooManyRequestsException",
                        format!("Rate exceeded: {MAX_BACKGROUND} Event invocations are running"),
                    )
                })?;
            functions.invocations.fetch_add(1, Ordering::Relaxed);
            let call = functions.host.invoke(request, request_id.clone());
            tokio::spawn(async move {
                // The outcome of an Event invocation goes to the function's log only.
                let _ = call.await;
                drop(permit);
            });
            let mut response = StatusCode::ACCEPTED.into_response();
            insert(&mut response, "x-amzn-requestid", &request_id);
            Ok(response)
        }
        InvocationType::RequestResponse => {
            functions.invocations.fetch_add(1, Ordering::Relaxed);
            let result = functions.host.invoke(request, request_id.clone()).await;
            let mut response = match result {
                Ok(output) => json_body(output.to_string()).into_response(),
                Err(e) => {
                    let body = function_error(&name, e)?;
                    let mut response = json_body(body.to_string()).into_response();
                    insert(&mut response, "x-amz-function-error", "Unhandled");
                    response
                }
            };
            insert(&mut response, "x-amz-executed-version", "$LATEST");
            insert(&mut response, "x-amzn-requestid", &request_id);
            let tail = headers
                .get("x-amz-log-type")
                .is_some_and(|v| v.as_bytes() == b"Tail");
            if tail {
                let lines = functions.host.log_tail(&request_id);
                insert(&mut response, "x-amz-log-result", &log_result(&lines));
            }
            Ok(response)
        }
    }
}

/// Sets a header whose value is known to be valid text (ids, fixed words, base64).
fn insert(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// The body of a failed call: the function's own error document (`errorMessage`,
/// `errorType`, ...), or one made from the error name and cause. Failures of the service
/// rather than of the function are Lambda errors.
fn function_error(name: &str, e: TaskError) -> Result<Value, LambdaError> {
    match e.error.as_str() {
        "Lambda.ResourceNotFoundException" => return Err(LambdaError::not_found(name)),
        "Lambda.RequestEntityTooLargeException" => {
            return Err(LambdaError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLargeException",
                e.cause,
            ));
        }
        "Lambda.ServiceException" => {
            return Err(LambdaError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                e.cause,
            ));
        }
        _ => {}
    }
    Ok(match serde_json::from_str::<Value>(&e.cause) {
        Ok(document @ Value::Object(_)) => document,
        _ => json!({"errorMessage": e.cause, "errorType": e.error}),
    })
}

/// `X-Amz-Log-Result`: base64 of the last [`TAIL_BYTES`] of the output, cut at a character
/// boundary.
pub fn log_result(lines: &[String]) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    let mut start = text.len().saturating_sub(TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    base64::engine::general_purpose::STANDARD.encode(&text.as_bytes()[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &str) -> String {
        let bytes = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_log_result_is_the_end_of_the_output() {
        assert_eq!(decode(&log_result(&["a".into(), "b".into()])), "a\nb\n");
        let long: Vec<String> = (0..1000).map(|i| format!("line é {i}")).collect();
        let tail = decode(&log_result(&long));
        assert!(tail.len() <= TAIL_BYTES);
        assert!(tail.len() > TAIL_BYTES - 4);
        assert!(tail.ends_with("line é 999\n"));
    }

    #[test]
    fn function_errors_keep_the_functions_document() {
        let e = TaskError {
            error: "ValueError".into(),
            cause: r#"{"errorMessage":"boom","errorType":"ValueError","stackTrace":[]}"#.into(),
        };
        assert_eq!(
            function_error("f", e).unwrap(),
            json!({"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []})
        );
        let timeout = TaskError::timeout();
        assert_eq!(
            function_error("f", timeout).unwrap()["errorType"],
            "States.Timeout"
        );
        let missing = TaskError {
            error: "Lambda.ResourceNotFoundException".into(),
            cause: "gone".into(),
        };
        assert_eq!(function_error("f", missing).unwrap_err().status, 404);
    }
}
