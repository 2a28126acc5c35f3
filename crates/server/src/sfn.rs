//! The Step Functions operations: state machines are the served flows, executions are the
//! store's executions of those flows.

pub(crate) mod executions;
mod map_runs;
mod state_machines;
mod sync;
mod test_state;

use crate::{ApiError, ServedFlow, ServerState, unknown_operation};
use serde_json::{Map, Value, json};
use sluice_engine::effects::HistoryEvent;
use sluice_engine::payload::EXECUTION_INPUT;
use sluice_engine::run_info::{RunInfo, validate_execution_name};
use sluice_engine::store::{StopRequest, Store, StoredExecution};
use sluice_engine::{EngineError, StartRequest};

/// Results per page when a request gives no `maxResults` (or 0).
const DEFAULT_PAGE: usize = 100;
/// The most results per page.
const MAX_PAGE: usize = 1000;

/// Runs one operation on its JSON request.
pub async fn call(state: &ServerState, operation: &str, request: Value) -> Result<Value, ApiError> {
    match operation {
        "ListStateMachines" => Ok(list_state_machines(state)),
        "DescribeStateMachine" => describe_state_machine(state, &request),
        "CreateStateMachine" => state_machines::create(state, &request).await,
        "UpdateStateMachine" => state_machines::update(state, &request).await,
        "DeleteStateMachine" => state_machines::delete(state, &request),
        "ValidateStateMachineDefinition" => state_machines::validate(&request),
        "DescribeStateMachineForExecution" => {
            state_machines::describe_for_execution(state, &request).await
        }
        "RedriveExecution" => executions::redrive(state, &request).await,
        "DescribeMapRun" => map_runs::describe(state, &request).await,
        "ListMapRuns" => map_runs::list(state, &request).await,
        "StartExecution" => start_execution(state, &request).await,
        "StartSyncExecution" => sync::start(state, &request).await,
        "TestState" => test_state::test(state, &request).await,
        "DescribeExecution" => describe_execution(state, &request).await,
        "GetExecutionHistory" => execution_history(state, &request).await,
        "ListExecutions" => executions::list(state, &request).await,
        "StopExecution" => stop_execution(state, &request).await,
        "SendTaskSuccess" => crate::callbacks::send_task_success(state, &request).await,
        "SendTaskFailure" => crate::callbacks::send_task_failure(state, &request).await,
        "SendTaskHeartbeat" => crate::callbacks::send_task_heartbeat(state, &request).await,
        _ => Err(unknown_operation(&format!("AWSStepFunctions.{operation}"))),
    }
}

/// The names and ARNs of a served flow's executions (region and account of a local node).
fn run_info(flow: &str, execution: &str) -> RunInfo {
    RunInfo::local(flow, execution, 0)
}

/// Epoch ms as the epoch seconds AWS's timestamps are.
fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// A string member of the request, if present.
pub(crate) fn string<'a>(request: &'a Value, key: &str) -> Result<Option<&'a str>, ApiError> {
    match request.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad(
            "SerializationException",
            format!("{key} must be a string"),
        )),
    }
}

/// A boolean member of the request, if present.
fn boolean(request: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match request.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::bad(
            "SerializationException",
            format!("{key} must be a boolean"),
        )),
    }
}

/// A required string member of the request.
pub(crate) fn required<'a>(request: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    string(request, key)?
        .ok_or_else(|| ApiError::bad("ValidationException", format!("{key} is required")))
}

/// `maxResults`: 0 or absent means the default page, more than 1000 is refused.
fn page_size(request: &Value) -> Result<usize, ApiError> {
    match request.get("maxResults") {
        None | Some(Value::Null) => Ok(DEFAULT_PAGE),
        Some(v) => match v.as_u64() {
            Some(0) => Ok(DEFAULT_PAGE),
            Some(n) if n as usize <= MAX_PAGE => Ok(n as usize),
            _ => Err(ApiError::bad(
                "ValidationException",
                format!("maxResults must be between 0 and {MAX_PAGE}"),
            )),
        },
    }
}

/// The error for an ARN that is not a Step Functions ARN of the expected kind.
fn invalid_arn(arn: &str) -> ApiError {
    ApiError::bad("InvalidArn", format!("invalid ARN: {arn:?}"))
}

/// The parts of a Step Functions ARN after `arn:aws:states:REGION:ACCOUNT:`, checked against
/// this node's region and account.
fn arn_parts<'a>(arn: &'a str, kind: &str) -> Result<Vec<&'a str>, ApiError> {
    let local = run_info("", "");
    let prefix = format!("arn:aws:states:{}:{}:", local.region, local.account_id);
    let rest = arn.strip_prefix(&prefix).ok_or_else(|| invalid_arn(arn))?;
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.split_first() {
        Some((k, names)) if *k == kind && names.iter().all(|n| !n.is_empty()) => Ok(names.to_vec()),
        _ => Err(invalid_arn(arn)),
    }
}

/// The name a state machine ARN gives.
fn machine_name(arn: &str) -> Result<String, ApiError> {
    match arn_parts(arn, "stateMachine")?.as_slice() {
        [name] => Ok(name.to_string()),
        _ => Err(invalid_arn(arn)),
    }
}

/// The error for a state machine the node does not serve.
fn no_machine(arn: &str) -> ApiError {
    ApiError::bad(
        "StateMachineDoesNotExist",
        format!("state machine does not exist: {arn}"),
    )
}

/// The served flow a state machine ARN names, with its name.
fn flow_of(state: &ServerState, arn: &str) -> Result<(String, ServedFlow), ApiError> {
    let name = machine_name(arn)?;
    match state.flows.get(&name) {
        Some(flow) => Ok((name, flow)),
        None => Err(no_machine(arn)),
    }
}

/// Runs a store read off the async workers.
pub(crate) async fn read<T: Send + 'static>(
    state: &ServerState,
    f: impl FnOnce(&dyn Store) -> Result<T, sluice_engine::store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// The stored execution an execution ARN names: a root execution, or a Distributed Map's
/// child (whose name is the map run's id, which holds a `:`, and the child's index).
async fn execution_of(state: &ServerState, arn: &str) -> Result<StoredExecution, ApiError> {
    let missing = || {
        ApiError::bad(
            "ExecutionDoesNotExist",
            format!("execution does not exist: {arn}"),
        )
    };
    let id = match arn_parts(arn, "execution")?.as_slice() {
        [_, name @ ..] if !name.is_empty() => name.join(":"),
        _ => return Err(invalid_arn(arn)),
    };
    let execution = read(state, move |s| s.execution(&id)).await?;
    execution
        .filter(|e| e.info.execution_arn() == arn)
        .ok_or_else(missing)
}

/// Like [`execution_of`], for the operations on root executions only.
async fn root_execution_of(state: &ServerState, arn: &str) -> Result<StoredExecution, ApiError> {
    let e = execution_of(state, arn).await?;
    if e.info.parent.is_some() {
        return Err(ApiError::bad(
            "ValidationException",
            format!("{arn} is a child execution of a Distributed Map: act on its parent"),
        ));
    }
    Ok(e)
}

fn list_state_machines(state: &ServerState) -> Value {
    let machines: Vec<Value> = state
        .flows
        .list()
        .iter()
        .map(|(name, flow)| {
            json!({
                "stateMachineArn": run_info(name, "").state_machine_arn(),
                "name": name,
                "type": "STANDARD",
                "creationDate": seconds(flow.created_ms),
            })
        })
        .collect();
    json!({ "stateMachines": machines })
}

fn describe_state_machine(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let arn = required(request, "stateMachineArn")?;
    let (name, flow) = flow_of(state, arn)?;
    let info = run_info(&name, "");
    Ok(json!({
        "stateMachineArn": arn,
        "name": name,
        "status": "ACTIVE",
        "definition": flow.source,
        "roleArn": info.role_arn,
        "type": info.state_machine_type,
        "creationDate": seconds(flow.created_ms),
    }))
}

/// The execution input: a JSON text, `{}` when absent.
fn execution_input(request: &Value) -> Result<Value, ApiError> {
    let invalid = |m: String| ApiError::bad("InvalidExecutionInput", m);
    let Some(text) = string(request, "input")? else {
        return Ok(json!({}));
    };
    EXECUTION_INPUT
        .check(text.len() as u64)
        .map_err(|e| invalid(e.to_string()))?;
    serde_json::from_str(text).map_err(|e| invalid(format!("the input is not valid JSON: {e}")))
}

async fn start_execution(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let arn = required(request, "stateMachineArn")?;
    let (flow_name, flow) = flow_of(state, arn)?;
    let name = match string(request, "name")? {
        Some(name) => name.to_string(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    validate_execution_name(&name).map_err(|e| ApiError::bad("InvalidName", e))?;
    let input = execution_input(request)?;
    let info = run_info(&flow_name, &name);
    let execution_arn = info.execution_arn();
    let started = state
        .engine
        .start_execution(StartRequest {
            id: name,
            definition_id: flow.definition_id.clone(),
            definition: flow.definition.clone(),
            info,
            input,
        })
        .await;
    match started {
        Ok(_) => {}
        Err(EngineError::Duplicate(name)) => {
            return Err(ApiError::bad(
                "ExecutionAlreadyExists",
                format!(
                    "an execution named '{name}' already exists with a different input or state machine"
                ),
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    let execution = execution_of(state, &execution_arn).await?;
    Ok(json!({
        "executionArn": execution_arn,
        "startDate": seconds(execution.info.start_ms),
    }))
}

async fn describe_execution(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let arn = required(request, "executionArn")?;
    let e = execution_of(state, arn).await?;
    let st = &e.state;
    let mut out = json!({
        "executionArn": arn,
        "stateMachineArn": e.info.state_machine_arn(),
        "name": e.info.execution_name,
        "status": st.status.as_str(),
        "startDate": seconds(e.info.start_ms),
        "input": e.input.to_string(),
        "inputDetails": {"included": true},
        "redriveCount": st.redriven.map_or(0, |r| r.count),
        "redriveStatus": if st.failed_at.is_some() { "REDRIVABLE" } else { "NOT_REDRIVABLE" },
    });
    if let Some(stop) = e.stop_ms {
        out["stopDate"] = seconds(stop);
    }
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

/// The member of a history event that holds its details: `stateEnteredEventDetails` for every
/// `...StateEntered`, `taskScheduledEventDetails` for `TaskScheduled`, and so on.
fn details_key(kind: &str) -> String {
    let base = if kind.ends_with("StateEntered") {
        "StateEntered"
    } else if kind.ends_with("StateExited") {
        "StateExited"
    } else {
        kind
    };
    let mut chars = base.chars();
    let first = chars.next().map(|c| c.to_ascii_lowercase());
    format!(
        "{}{}EventDetails",
        first.into_iter().collect::<String>(),
        chars.as_str()
    )
}

/// A history event as Step Functions shows it: `input`, `output` and a Task's `parameters` as
/// JSON text, the execution's data left out (with their `...Details`) when the request asks for
/// none.
fn history_event(event: &HistoryEvent, include_data: bool) -> Value {
    let data = ["input", "output", "inputDetails", "outputDetails"];
    let details = match &event.details {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(k, _)| include_data || !data.contains(&k.as_str()))
                .map(|(k, v)| match (k.as_str(), v) {
                    ("input" | "output" | "parameters", v) if !v.is_string() => {
                        (k.clone(), json!(v.to_string()))
                    }
                    _ => (k.clone(), v.clone()),
                })
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    };
    let mut out = json!({
        "timestamp": seconds(event.timestamp_ms),
        "type": event.kind,
        "id": event.id,
        "previousEventId": event.id.saturating_sub(1),
    });
    if details.as_object().is_some_and(|d| !d.is_empty()) {
        out[details_key(&event.kind)] = details;
    }
    out
}

/// `nextToken`: the id of the last event of the previous page.
fn event_token(request: &Value) -> Result<Option<u64>, ApiError> {
    string(request, "nextToken")?
        .map(|t| {
            t.parse()
                .map_err(|_| ApiError::bad("InvalidToken", format!("invalid nextToken {t:?}")))
        })
        .transpose()
}

async fn execution_history(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let arn = required(request, "executionArn")?;
    let limit = page_size(request)?;
    let token = event_token(request)?;
    let reverse = boolean(request, "reverseOrder")?.unwrap_or(false);
    let include_data = boolean(request, "includeExecutionData")?.unwrap_or(true);
    let e = execution_of(state, arn).await?;
    let id = e.id.clone();
    let (events, next) = if reverse {
        // Events below the token (or all), newest first.
        let below = token.unwrap_or(e.state.next_event_id);
        let from = below.saturating_sub(limit as u64).max(1);
        let mut page = read(state, move |s| s.history(&id, from - 1, limit)).await?;
        page.retain(|h| h.id < below);
        page.reverse();
        let next = page.last().map(|h| h.id).filter(|&first| first > 1);
        (page, next)
    } else {
        let after = token.unwrap_or(0);
        let mut page = read(state, move |s| s.history(&id, after, limit + 1)).await?;
        let more = page.len() > limit;
        page.truncate(limit);
        let next = page.last().map(|h| h.id).filter(|_| more);
        (page, next)
    };
    let events: Vec<Value> = events
        .iter()
        .map(|e| history_event(e, include_data))
        .collect();
    let mut out = json!({ "events": events });
    if let Some(next) = next {
        out["nextToken"] = json!(next.to_string());
    }
    Ok(out)
}

async fn stop_execution(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let arn = required(request, "executionArn")?;
    let e = root_execution_of(state, arn).await?;
    let stop = StopRequest {
        error: string(request, "error")?.map(str::to_string),
        cause: string(request, "cause")?.map(str::to_string),
    };
    match state.engine.stop(&e.id, stop).await {
        Ok(()) => Ok(json!({ "stopDate": seconds(chrono::Utc::now().timestamp_millis()) })),
        Err(EngineError::NotFound(_)) => Err(ApiError::bad(
            "ExecutionDoesNotExist",
            format!("execution does not exist: {arn}"),
        )),
        Err(EngineError::NotStoppable(_, why)) => Err(ApiError::bad(
            "ValidationException",
            format!("the execution cannot be stopped: {why}"),
        )),
        Err(e) => Err(ApiError::internal(e)),
    }
}
