//! `SendTaskSuccess`, `SendTaskFailure` and `SendTaskHeartbeat`: a worker reports on a
//! `.waitForTaskToken` Task by its token, through any node sharing the store.

use crate::sfn::{required, string};
use crate::{ApiError, ServerState};
use serde_json::{Value, json};
use sluice_engine::callback::{CallbackError, MAX_TOKEN_CHARS, TaskSignal};
use sluice_engine::model::TaskOutcome;
use sluice_lang::dataflow::MAX_PAYLOAD_BYTES;

/// The longest `error` of `SendTaskFailure`, in characters.
const MAX_ERROR_CHARS: usize = 256;
/// The longest `cause` of `SendTaskFailure`, in characters.
const MAX_CAUSE_CHARS: usize = 32_768;

/// `SendTaskSuccess {taskToken, output}`: the Task succeeds with `output` (JSON text).
pub async fn send_task_success(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let token = task_token(request)?;
    let text = required(request, "output")?;
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(ApiError::bad(
            "InvalidOutput",
            format!(
                "the output is {} bytes, over the Step Functions limit of {MAX_PAYLOAD_BYTES} bytes",
                text.len()
            ),
        ));
    }
    let output: Value = serde_json::from_str(text).map_err(|e| {
        ApiError::bad(
            "InvalidOutput",
            format!("Invalid Output: the output is not valid JSON: {e}"),
        )
    })?;
    signal(state, token, TaskSignal::Outcome(TaskOutcome::Ok(output))).await
}

/// `SendTaskFailure {taskToken, error?, cause?}`: the Task fails with this error and cause.
pub async fn send_task_failure(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let token = task_token(request)?;
    let error = bounded(request, "error", MAX_ERROR_CHARS)?;
    let cause = bounded(request, "cause", MAX_CAUSE_CHARS)?;
    let outcome = TaskOutcome::Err { error, cause };
    signal(state, token, TaskSignal::Outcome(outcome)).await
}

/// `SendTaskHeartbeat {taskToken}`: the worker is still at it; the Task's `HeartbeatSeconds`
/// count again from now.
pub async fn send_task_heartbeat(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let token = task_token(request)?;
    signal(state, token, TaskSignal::Heartbeat).await
}

/// The request's `taskToken`, 1 to 1024 characters.
fn task_token(request: &Value) -> Result<&str, ApiError> {
    let token = required(request, "taskToken")?;
    if token.is_empty() || token.chars().count() > MAX_TOKEN_CHARS {
        return Err(ApiError::bad(
            "ValidationException",
            format!("taskToken must be 1 to {MAX_TOKEN_CHARS} characters"),
        ));
    }
    Ok(token)
}

/// An optional string member of at most `max` characters (empty when absent).
fn bounded(request: &Value, key: &str, max: usize) -> Result<String, ApiError> {
    let text = string(request, key)?.unwrap_or_default();
    if text.chars().count() > max {
        return Err(ApiError::bad(
            "ValidationException",
            format!("{key} must be at most {max} characters"),
        ));
    }
    Ok(text.to_string())
}

/// Hands the report to the engine and answers `{}` once it is durable.
async fn signal(state: &ServerState, token: &str, signal: TaskSignal) -> Result<Value, ApiError> {
    match state.engine.send_task_signal(token, signal).await {
        Ok(()) => Ok(json!({})),
        Err(e @ CallbackError::Store(_)) => Err(ApiError::internal(e)),
        Err(e) => Err(ApiError::bad(e.code(), e.to_string())),
    }
}
