//! `StartSyncExecution`: starts an execution and answers once it stopped, with its output.
//!
//! On Step Functions only EXPRESS state machines take it; here every served flow does, and the
//! execution is as durable as any other (it has its history and survives a restart of the node,
//! though the caller's request does not). AWS's SDKs send it to a `sync-` prefixed host
//! (`sync-states.REGION.amazonaws.com`); against an endpoint URL that prefix must be turned off,
//! as boto3's `Config(inject_host_prefix=False)` does.

use super::{execution_of, required, seconds};
use crate::{ApiError, ServerState};
use serde_json::{Value, json};
use sluice_engine::model::Status;

/// `StartSyncExecution {stateMachineArn, name?, input?}`.
pub(super) async fn start(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    required(request, "stateMachineArn")?;
    let started = super::start_execution(state, request).await?;
    let arn = started["executionArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let id = arn.rsplit(':').next().unwrap_or_default().to_string();
    state.engine.wait(&id).await.map_err(ApiError::internal)?;
    let e = execution_of(state, &arn).await?;
    let st = &e.state;
    let status = match st.status {
        Status::Succeeded => "SUCCEEDED",
        Status::TimedOut => "TIMED_OUT",
        _ => "FAILED",
    };
    let stop_ms = e.stop_ms.unwrap_or(e.info.start_ms);
    let mut out = json!({
        "executionArn": arn,
        "stateMachineArn": e.info.state_machine_arn(),
        "name": e.info.execution_name,
        "startDate": seconds(e.info.start_ms),
        "stopDate": seconds(stop_ms),
        "status": status,
        "input": e.input.to_string(),
        "inputDetails": {"included": true},
    });
    if let Some(output) = &st.output {
        out["output"] = json!(output.to_string());
        out["outputDetails"] = json!({"included": true});
    }
    if let Some(error) = &st.error {
        out["error"] = json!(error);
    }
    if let Some(cause) = &st.cause {
        out["cause"] = json!(cause);
    }
    Ok(out)
}
