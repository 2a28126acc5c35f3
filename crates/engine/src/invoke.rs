//! Task invocation: how a Task's `Resource` becomes a call, and the trait that performs it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sluice_lang::dataflow;
use std::future::Future;
use std::pin::Pin;

/// What a Task asks for, resolved from its `Resource`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvokeRequest {
    /// The function or integration to call (a Sluice function name, or a built-in integration).
    pub target: Target,
    /// The Task's `Resource` as written, which errors about the call are named after.
    #[serde(default)]
    pub resource: String,
    /// The payload sent.
    pub payload: Value,
    /// Stable idempotency key: execution, state path and attempt.
    pub idempotency_key: String,
    /// The execution the call belongs to.
    pub execution: String,
    /// Task timeout in seconds, if any.
    pub timeout_seconds: Option<u64>,
}

/// The callee of a Task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Target {
    /// A function; `wrap` says the result is wrapped as `lambda:invoke` wraps it.
    Function {
        /// Function name.
        name: String,
        /// Wrap the result in `{Payload, StatusCode, ...}`.
        wrap: bool,
    },
    /// A built-in integration, named by its resource string.
    Integration(String),
}

/// A task error: Step Functions error name and cause.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskError {
    /// Error name.
    pub error: String,
    /// Cause.
    pub cause: String,
}

impl TaskError {
    /// A task attempt that ran past its `TimeoutSeconds`: `States.Timeout` without a cause, as
    /// Step Functions reports it.
    pub fn timeout() -> TaskError {
        TaskError {
            error: "States.Timeout".into(),
            cause: String::new(),
        }
    }
}

/// The future an invoker returns.
pub type InvokeFuture = Pin<Box<dyn Future<Output = Result<Value, TaskError>> + Send>>;

/// Performs task calls. Implemented by the function runtime and by test harnesses.
pub trait Invoker: Send + Sync {
    /// Calls the target with the payload.
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture;

    /// Calls the target with `payload`, JSON text already written, in place of the request's
    /// payload. The default reads the text into the request and calls [`Invoker::invoke`];
    /// an invoker that hands payloads on as text (a function's worker) keeps it as it is.
    fn invoke_text(&self, request: InvokeRequest, payload: Vec<u8>) -> InvokeFuture {
        invoke_read(self, request, &payload)
    }
}

/// Reads `payload`, JSON text, into `request` and calls `invoker` with it: what
/// [`Invoker::invoke_text`] does unless an invoker keeps the text. A task error when the text
/// is not JSON.
pub fn invoke_read<I: Invoker + ?Sized>(
    invoker: &I,
    mut request: InvokeRequest,
    payload: &[u8],
) -> InvokeFuture {
    match serde_json::from_slice(payload) {
        Ok(value) => {
            request.payload = value;
            invoker.invoke(request)
        }
        Err(e) => Box::pin(async move {
            Err(TaskError {
                error: "States.Runtime".into(),
                cause: format!("the payload is not JSON: {e}"),
            })
        }),
    }
}

/// Runs `call` within a Task's `TimeoutSeconds`, when it has one: past it the call is dropped
/// (a function instance running it is killed) and fails with [`TaskError::timeout`].
///
/// The attempt's outcome is decided by the interpreter's durable timer for the same deadline,
/// which keeps time on the engine's clock and survives restarts; this bound frees the instance,
/// and reports the same outcome when it is noticed first (a virtual clock does not advance while
/// a call runs).
pub async fn within_timeout<F: Future>(
    timeout_seconds: Option<u64>,
    call: F,
) -> Result<F::Output, TaskError> {
    match timeout_seconds {
        Some(secs) => tokio::time::timeout(std::time::Duration::from_secs(secs), call)
            .await
            .map_err(|_| TaskError::timeout()),
        None => Ok(call.await),
    }
}

/// An invoker that knows no functions: every call fails as AWS fails a call to a missing Lambda.
pub struct NoFunctions;

impl Invoker for NoFunctions {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let cause = match &request.target {
            Target::Function { name, .. } => format!(
                "Function not found: {name} (no functions are registered; declare it under `functions:` in sluice.yaml)"
            ),
            Target::Integration(r) => format!("The resource '{r}' is not supported"),
        };
        let error = match request.target {
            Target::Function { .. } => "Lambda.ResourceNotFoundException",
            Target::Integration(_) => "States.Runtime",
        };
        Box::pin(async move {
            Err(TaskError {
                error: error.to_string(),
                cause,
            })
        })
    }
}

/// How Step Functions names a Task's resource in its errors: the service of an optimised
/// integration (`lambda` for `arn:aws:states:::lambda:invoke`), else the resource itself.
pub fn resource_name(resource: &str) -> &str {
    match resource.strip_prefix("arn:aws:states:::") {
        Some(rest) => rest.split(':').next().unwrap_or(rest),
        None => resource,
    }
}

/// Fails a Task whose resource returned a result of `size` bytes, more than
/// [`MAX_PAYLOAD_BYTES`](dataflow::MAX_PAYLOAD_BYTES), with `States.DataLimitExceeded` named
/// after the resource ([`resource_name`]). Invokers check this before parsing a result.
pub fn check_result_bytes(resource: &str, size: usize) -> Result<(), TaskError> {
    if size <= dataflow::MAX_PAYLOAD_BYTES {
        return Ok(());
    }
    let failure = dataflow::result_too_large(resource_name(resource));
    Err(TaskError {
        error: failure.error,
        cause: failure.cause,
    })
}

/// Whether a Task's `Resource` uses the callback pattern (`.waitForTaskToken`): the Task waits
/// for `SendTaskSuccess` / `SendTaskFailure` with its token once the call returns.
pub fn waits_for_token(resource: &str) -> bool {
    resource.ends_with(".waitForTaskToken")
}

/// Resolves a Task's `Resource` and effective input to a request target and payload.
///
/// Accepted forms: `sluice:function:NAME`, Lambda function ARNs
/// (`arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`), `arn:aws:states:::lambda:invoke`
/// with `FunctionName` and `Payload`, CloudFlow `acs:fc:::functions/NAME` and
/// `acs:fc:REGION:ACCOUNT:services/SERVICE/functions/NAME`, and FDL `FC:InvokeFunction` with
/// `functionName`/`body` parameters.
pub fn resolve(resource: &str, input: &Value) -> Result<(Target, Value), String> {
    let full = resource;
    let resource = resource
        .strip_suffix(".waitForTaskToken")
        .unwrap_or(resource);
    if let Some(name) = resource.strip_prefix("sluice:function:") {
        return Ok((function(name, false), input.clone()));
    }
    if resource.starts_with("arn:aws:states:::lambda:invoke") {
        let name = input
            .get("FunctionName")
            .and_then(Value::as_str)
            .ok_or("lambda:invoke needs a FunctionName parameter")?;
        // No payload (or a null one) reaches the function as `{}`, as Lambda sends it.
        let payload = input
            .get("Payload")
            .filter(|p| !p.is_null())
            .cloned()
            .unwrap_or(json!({}));
        return Ok((function(function_name(name), true), payload));
    }
    if resource.starts_with("arn:aws:lambda:") {
        return Ok((function(function_name(resource), false), input.clone()));
    }
    if resource.starts_with("acs:fc:") {
        return Ok((function(fc_function_name(resource), false), input.clone()));
    }
    if resource == "FC:InvokeFunction" {
        let name = input
            .get("resourceArn")
            .and_then(Value::as_str)
            .map(fc_function_name)
            .or_else(|| input.get("functionName").and_then(Value::as_str))
            .ok_or("FC:InvokeFunction needs a resourceArn parameter")?;
        let body = input.get("body").cloned().unwrap_or_else(|| input.clone());
        let body = match body {
            Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
            other => other,
        };
        return Ok((function(name, false), body));
    }
    Ok((Target::Integration(full.to_string()), input.clone()))
}

fn function(name: &str, wrap: bool) -> Target {
    Target::Function {
        name: name.to_string(),
        wrap,
    }
}

/// The bare function name of a name or ARN (`arn:aws:lambda:r:a:function:NAME[:qualifier]`).
pub fn function_name(name_or_arn: &str) -> &str {
    match name_or_arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => name_or_arn,
    }
}

/// The function name in a Function Compute ARN
/// (`acs:fc:REGION:UID:functions/NAME[/QUALIFIER]` or `.../services/SVC/functions/NAME`).
pub fn fc_function_name(arn: &str) -> &str {
    let rest = arn.rsplit("functions/").next().unwrap_or(arn);
    rest.split('/').next().unwrap_or(rest)
}

/// Shapes a raw function result as the Task's resource form returns it: `lambda:invoke` wraps it
/// in `{Payload, StatusCode, ...}`, CloudFlow's `FC:InvokeFunction` in `{Body}`.
pub fn shape_result(resource: &str, result: Value) -> Value {
    if resource.starts_with("arn:aws:states:::lambda:invoke") {
        wrap_lambda_invoke(result)
    } else if resource == "FC:InvokeFunction" {
        json!({ "Body": result })
    } else {
        result
    }
}

/// Wraps a function result the way `arn:aws:states:::lambda:invoke` returns it.
pub fn wrap_lambda_invoke(payload: Value) -> Value {
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "HttpHeaders": {},
            "HttpStatusCode": 200
        },
        "SdkResponseMetadata": {},
        "StatusCode": 200
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_named_as_step_functions_names_them() {
        assert_eq!(resource_name("arn:aws:states:::lambda:invoke"), "lambda");
        assert_eq!(
            resource_name("arn:aws:states:::lambda:invoke.waitForTaskToken"),
            "lambda"
        );
        let arn = "arn:aws:lambda:us-east-1:111111111111:function:f";
        assert_eq!(resource_name(arn), arn);
        assert!(check_result_bytes(arn, 256 * 1024).is_ok());
        let e = check_result_bytes(arn, 256 * 1024 + 1).unwrap_err();
        assert_eq!(e.error, "States.DataLimitExceeded");
        assert!(
            e.cause
                .starts_with(&format!("The state/task '{arn}' returned"))
        );
    }
}
