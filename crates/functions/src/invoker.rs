//! The engine's [`Invoker`] over a [`FunctionPool`]: a Task calling a function becomes a pool
//! invocation, and a failed invocation becomes the task error Step Functions would show.

use serde_json::Value;
use sluice_engine::invoke::{
    InvokeFuture, InvokeRequest, Invoker, Target, TaskError, check_result_bytes, within_timeout,
};

use crate::config::InvokeMeta;
use crate::error::{InvokeError, error_names};
use crate::pool::{Event, FunctionPool, parse_response};

/// Calls functions through a warm pool. Cheap to clone.
#[derive(Clone)]
pub struct PoolInvoker {
    pool: FunctionPool,
}

impl PoolInvoker {
    /// An invoker over `pool`.
    pub fn new(pool: FunctionPool) -> PoolInvoker {
        PoolInvoker { pool }
    }

    /// Makes `request` under the given Lambda request id, so that a caller that records the id
    /// beforehand can find the call's log lines. The Task's `TimeoutSeconds`, when set, bounds
    /// the whole call (waiting for an instance included) and fails it with `States.Timeout`.
    /// A response over Step Functions' 256 KiB limit fails with `States.DataLimitExceeded`
    /// before it is parsed.
    pub fn call(&self, request: InvokeRequest, request_id: String) -> InvokeFuture {
        self.call_with(request, None, request_id)
    }

    /// Like [`PoolInvoker::call`], with the event given as JSON text when `text` is set (the
    /// request's payload is then not read).
    pub fn call_with(
        &self,
        mut request: InvokeRequest,
        text: Option<Vec<u8>>,
        request_id: String,
    ) -> InvokeFuture {
        let pool = self.pool.clone();
        Box::pin(async move {
            let (name, wrap) = match &request.target {
                Target::Function { name, wrap } => (name.clone(), *wrap),
                Target::Integration(resource) => {
                    return Err(TaskError {
                        error: "States.Runtime".into(),
                        cause: format!("The resource '{resource}' is not supported"),
                    });
                }
            };
            let meta = InvokeMeta {
                request_id: Some(request_id.clone()),
                idempotency_key: Some(request.idempotency_key),
                execution: Some(request.execution),
                trace_id: None,
            };
            let event = match text {
                Some(text) => Event::Text(text),
                None => Event::Value(std::mem::take(&mut request.payload)),
            };
            let call = pool.invoke_raw(&name, event, meta);
            let body = within_timeout(request.timeout_seconds, call)
                .await?
                .map_err(|e| task_error(e, &request_id, wrap))?;
            check_result_bytes(&request.resource, body.len())?;
            parse_response(&request_id, &body).map_err(|e| task_error(e, &request_id, wrap))
        })
    }
}

impl Invoker for PoolInvoker {
    fn invoke_text(&self, request: InvokeRequest, payload: Vec<u8>) -> InvokeFuture {
        self.call_with(request, Some(payload), uuid::Uuid::new_v4().to_string())
    }

    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        self.call(request, uuid::Uuid::new_v4().to_string())
    }
}

/// The task error for a failed invocation. Errors the Lambda service raises itself (not the
/// function) reach Step Functions as SDK exceptions, whose message carries the service details.
/// A function's own error document is passed on as written, except through `lambda:invoke`
/// (`wrap`), which re-encodes it compactly.
fn task_error(e: InvokeError, request_id: &str, wrap: bool) -> TaskError {
    let service = match e.error.as_str() {
        error_names::NOT_FOUND => Some((404, "ResourceNotFoundException")),
        error_names::SERVICE => Some((500, "ServiceException")),
        error_names::REQUEST_TOO_LARGE => Some((413, "RequestEntityTooLargeException")),
        _ => None,
    };
    let cause = match service {
        Some((status, code)) => format!(
            "{} (Service: AWSLambda; Status Code: {status}; Error Code: {code}; Request ID: {request_id}; Proxy: null)",
            e.cause
        ),
        None if wrap => match serde_json::from_str::<Value>(&e.cause) {
            Ok(document @ Value::Object(_)) => document.to_string(),
            _ => e.cause,
        },
        None => e.cause,
    };
    TaskError {
        error: e.error,
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_carry_the_sdk_details() {
        let e = InvokeError::new(
            error_names::NOT_FOUND,
            "Function not found: arn:aws:lambda:r:1:function:f:$LATEST",
        );
        let t = task_error(e, "req-1", true);
        assert_eq!(t.error, "Lambda.ResourceNotFoundException");
        assert_eq!(
            t.cause,
            "Function not found: arn:aws:lambda:r:1:function:f:$LATEST (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: req-1; Proxy: null)"
        );
    }

    #[test]
    fn lambda_invoke_compacts_the_function_error_document() {
        let posted = r#"{"errorMessage": "boom", "errorType": "ValueError"}"#;
        let e = InvokeError::new("ValueError", posted);
        assert_eq!(task_error(e.clone(), "r", false).cause, posted);
        assert_eq!(
            task_error(e, "r", true).cause,
            r#"{"errorMessage":"boom","errorType":"ValueError"}"#
        );
    }
}
