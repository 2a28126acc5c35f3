//! Functions that are HTTP endpoints (`functions: {NAME: {http: URL}}`): an existing FaaS
//! endpoint called as a Sluice function.
//!
//! A call POSTs the event as JSON, with the function's `headers`, its connection's credentials,
//! `Idempotency-Key` (the same on every retry of a Task attempt) and `X-Sluice-Execution`. A 2xx
//! response is the result: JSON parsed, other text as a string, an empty body as `null`. Any
//! other status fails the call with `Http.NNN` (`Http.503`), the body as the cause, unless the
//! body is a Lambda error document `{"errorType", "errorMessage"}`, whose type and message are
//! used. No answer within the function's `timeout` is `States.Timeout`; a request that cannot
//! be sent is `Http.Socket`.

use super::{Shared, TooLarge, read_body, with_sources};
use bytes::Bytes;
use serde_json::Value;
use sluice_engine::invoke::{InvokeRequest, Target, TaskError, check_result_bytes, within_timeout};
use sluice_functions::DEFAULT_MAX_RESPONSE_BYTES;
use sluice_lang::dataflow::MAX_PAYLOAD_BYTES;
use std::collections::BTreeMap;
use std::time::Duration;

/// Most bytes of an error response kept as its cause.
const MAX_CAUSE_BYTES: usize = 32 * 1024;

/// A function that is an HTTP endpoint.
#[derive(Clone, Debug)]
pub struct HttpFunction {
    /// Function name.
    pub name: String,
    /// The URL the event is POSTed to.
    pub url: String,
    /// Headers sent with every call.
    pub headers: BTreeMap<String, String>,
    /// Longest wait for a response.
    pub timeout: Duration,
    /// The connection whose credentials are sent, by name.
    pub connection: Option<String>,
}

/// Identifies a call to the endpoint: the idempotency key and the execution.
struct CallIds<'a> {
    idempotency_key: &'a str,
    execution: &'a str,
}

/// A Task's call of an HTTP function: the result within Step Functions' payload limit.
pub(super) async fn invoke(shared: &Shared, request: InvokeRequest) -> Result<Value, TaskError> {
    let Target::Function { name, .. } = &request.target else {
        return Err(not_found(&request.resource));
    };
    let function = shared.functions.get(name).ok_or_else(|| not_found(name))?;
    let ids = CallIds {
        idempotency_key: &request.idempotency_key,
        execution: &request.execution,
    };
    let call = respond(
        shared,
        function,
        &request.payload,
        Some(ids),
        MAX_PAYLOAD_BYTES,
    );
    let body = match within_timeout(request.timeout_seconds, call).await?? {
        Ok(body) => body,
        Err(TooLarge) => {
            return Err(check_result_bytes(&request.resource, MAX_PAYLOAD_BYTES + 1).unwrap_err());
        }
    };
    check_result_bytes(&request.resource, body.len())?;
    Ok(parse(&body))
}

/// A call outside any flow: the result may be as large as a Lambda response.
pub(super) async fn call(
    shared: &Shared,
    function: &HttpFunction,
    payload: Value,
) -> Result<Value, TaskError> {
    match respond(shared, function, &payload, None, DEFAULT_MAX_RESPONSE_BYTES).await? {
        Ok(body) => Ok(parse(&body)),
        Err(TooLarge) => Err(TaskError {
            error: "Http.ResponseTooLarge".into(),
            cause: format!(
                "the response of {} is larger than {DEFAULT_MAX_RESPONSE_BYTES} bytes",
                function.name
            ),
        }),
    }
}

/// POSTs the event; the body of a 2xx response, or the call's error.
async fn respond(
    shared: &Shared,
    function: &HttpFunction,
    payload: &Value,
    ids: Option<CallIds<'_>>,
    limit: usize,
) -> Result<Result<Bytes, TooLarge>, TaskError> {
    let mut request = shared
        .client
        .post(&function.url)
        .timeout(function.timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if let Some(ids) = ids {
        request = request
            .header("Idempotency-Key", ids.idempotency_key)
            .header("X-Sluice-Execution", ids.execution);
    }
    for (name, value) in &function.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(connection) = &function.connection {
        request = shared.connection(connection)?.apply(request);
    }
    let response = request
        .body(payload.to_string())
        .send()
        .await
        .map_err(|e| transport(&function.name, e))?;
    let status = response.status();
    if status.is_success() {
        return read_body(response, limit)
            .await
            .map_err(|e| transport(&function.name, e));
    }
    let body = match read_body(response, MAX_CAUSE_BYTES)
        .await
        .map_err(|e| transport(&function.name, e))?
    {
        Ok(body) => String::from_utf8_lossy(&body).into_owned(),
        Err(TooLarge) => format!("(a response of more than {MAX_CAUSE_BYTES} bytes)"),
    };
    Err(status_error(status.as_u16(), body))
}

/// The error a non-2xx response makes: a Lambda error document's own, else `Http.NNN`.
fn status_error(status: u16, body: String) -> TaskError {
    if let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(&body)
        && let Some(Value::String(error)) = doc.get("errorType")
    {
        let cause = match doc.get("errorMessage") {
            Some(Value::String(m)) => m.clone(),
            _ => body.clone(),
        };
        return TaskError {
            error: error.clone(),
            cause,
        };
    }
    TaskError {
        error: format!("Http.{status}"),
        cause: body,
    }
}

/// A 2xx body as the result: JSON, else text, `null` when empty.
fn parse(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn transport(name: &str, e: reqwest::Error) -> TaskError {
    if e.is_timeout() {
        return TaskError::timeout();
    }
    TaskError {
        error: "Http.Socket".into(),
        cause: format!("calling {name}: {}", with_sources(&e)),
    }
}

fn not_found(name: &str) -> TaskError {
    TaskError {
        error: "Lambda.ResourceNotFoundException".into(),
        cause: format!("Function not found: {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_name_their_status_or_their_lambda_error() {
        let e = status_error(503, "busy".into());
        assert_eq!((e.error.as_str(), e.cause.as_str()), ("Http.503", "busy"));
        let e = status_error(
            500,
            r#"{"errorType": "ValueError", "errorMessage": "bad id"}"#.into(),
        );
        assert_eq!(
            (e.error.as_str(), e.cause.as_str()),
            ("ValueError", "bad id")
        );
        assert_eq!(parse(b" \n"), Value::Null);
        assert_eq!(parse(b"plain"), Value::String("plain".into()));
        assert_eq!(parse(br#"{"a": 1}"#)["a"], 1);
    }
}
