//! The handlers of [`super::ENDPOINTS`]. Starting, stopping and redriving go through the Step
//! Functions operations, so that both APIs behave alike; reads come from the store.

use super::{RestError, RestRequest};
use crate::ServerState;
use crate::sfn::{self, executions::LISTED_EXECUTIONS, executions::Position, read};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use sluice_engine::model::Status;
use sluice_engine::run_info::RunInfo;
use sluice_engine::store::StoredExecution;
use std::sync::atomic::Ordering;

/// The largest page.
const MAX_PAGE: u64 = 1000;
/// The page when none is asked for.
const DEFAULT_PAGE: u64 = 100;

fn ok(value: Value) -> Result<Response, RestError> {
    Ok(super::json_response(StatusCode::OK, &value))
}

/// The state machine ARN of a flow.
fn flow_arn(flow: &str) -> String {
    RunInfo::local(flow, "", 0).state_machine_arn()
}

pub(super) async fn list_flows(state: ServerState, _: RestRequest) -> Result<Response, RestError> {
    let flows: Vec<Value> = state
        .flows
        .list()
        .into_iter()
        .map(|(name, flow)| {
            json!({
                "name": name,
                "arn": flow_arn(&name),
                "definitionId": flow.definition_id,
                "createdMs": flow.created_ms,
                "fromProject": flow.from_project,
            })
        })
        .collect();
    ok(json!({ "flows": flows }))
}

/// The served flow `name`, or 404.
fn served_flow(state: &ServerState, name: &str) -> Result<crate::ServedFlow, RestError> {
    state
        .flows
        .get(name)
        .ok_or_else(|| RestError::not_found(format!("no flow named '{name}'")))
}

pub(super) async fn get_flow(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let name = r.param("name");
    let flow = served_flow(&state, name)?;
    ok(json!({
        "name": name,
        "arn": flow_arn(name),
        "definitionId": flow.definition_id,
        "createdMs": flow.created_ms,
        "fromProject": flow.from_project,
        "source": flow.source,
    }))
}

pub(super) async fn flow_graph(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let flow = served_flow(&state, r.param("name"))?;
    ok(crate::graph::Graph::of(&flow.definition).to_json())
}

pub(super) async fn start_execution(
    state: ServerState,
    r: RestRequest,
) -> Result<Response, RestError> {
    let body = r.json()?;
    let name = match body.get("name") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(RestError::bad("name must be a string")),
    };
    let input = body.get("input").cloned().unwrap_or(json!({}));
    let request = json!({
        "stateMachineArn": flow_arn(r.param("name")),
        "name": name,
        "input": input.to_string(),
    });
    let started = sfn::call(&state, "StartExecution", request).await?;
    ok(json!({ "id": name, "arn": started["executionArn"] }))
}

pub(super) async fn list_executions(
    state: ServerState,
    r: RestRequest,
) -> Result<Response, RestError> {
    let limit = r.number("limit", DEFAULT_PAGE, MAX_PAGE)?.max(1) as usize;
    let status = match r.query.get("status") {
        Some(s) => {
            Some(Status::parse(s).ok_or_else(|| RestError::bad(format!("unknown status {s:?}")))?)
        }
        None => None,
    };
    let flow = r.query.get("flow").cloned();
    let prefix = r.query.get("prefix").cloned().unwrap_or_default();
    let since = r.number("since", 0, i64::MAX as u64)? as i64;
    let until = r.number("until", i64::MAX as u64, i64::MAX as u64)? as i64;
    let children = r.query.get("children").is_some_and(|v| v == "true");
    let after = r
        .query
        .get("next")
        .map(|t| Position::parse(t))
        .transpose()?;
    let rows = read(&state, move |s| s.list(LISTED_EXECUTIONS, children)).await?;
    let mut page: Vec<_> = rows
        .into_iter()
        .filter(|row| flow.as_ref().is_none_or(|f| row.flow == *f))
        .filter(|row| status.is_none_or(|s| row.status == s))
        .filter(|row| row.id.starts_with(&prefix) && (since..until).contains(&row.start_ms))
        .filter(|row| after.as_ref().is_none_or(|p| p.precedes(row)))
        .take(limit + 1)
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next = more.then(|| page.last()).flatten().map(|row| {
        Position {
            start_ms: row.start_ms,
            id: row.id.clone(),
        }
        .token()
    });
    let executions: Vec<Value> = page
        .iter()
        .map(|row| {
            json!({
                "id": row.id,
                "flow": row.flow,
                "status": row.status.as_str(),
                "startMs": row.start_ms,
                "stopMs": row.stop_ms,
                "owner": row.owner,
            })
        })
        .collect();
    ok(json!({ "executions": executions, "next": next }))
}

/// The stored execution `id`, or 404.
async fn execution(state: &ServerState, id: &str) -> Result<StoredExecution, RestError> {
    let key = id.to_string();
    read(state, move |s| s.execution(&key))
        .await?
        .ok_or_else(|| RestError::not_found(format!("no execution '{id}'")))
}

pub(super) async fn get_execution(
    state: ServerState,
    r: RestRequest,
) -> Result<Response, RestError> {
    let e = execution(&state, r.param("id")).await?;
    let st = &e.state;
    ok(json!({
        "id": e.id,
        "arn": e.info.execution_arn(),
        "flow": e.info.state_machine_name,
        "status": st.status.as_str(),
        "input": e.input,
        "output": st.output,
        "error": st.error,
        "cause": st.cause,
        "startMs": e.info.start_ms,
        "stopMs": e.stop_ms,
        "root": e.root_id,
        "startedBy": e.info.started_by,
        "mapRun": e.info.parent.as_ref().map(|p| &p.run),
        "redriveCount": st.redriven.map_or(0, |r| r.count),
        "redrivable": st.failed_at.is_some(),
    }))
}

pub(super) async fn history(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let id = r.param("id").to_string();
    execution(&state, &id).await?;
    let after = r.number("after", 0, u64::MAX)?;
    let limit = r.number("limit", DEFAULT_PAGE, MAX_PAGE)?.max(1) as usize;
    let mut events = read(&state, move |s| s.history(&id, after, limit + 1)).await?;
    let more = events.len() > limit;
    events.truncate(limit);
    let next = more.then(|| events.last().map(|e| e.id)).flatten();
    ok(json!({ "events": events, "next": next }))
}

pub(super) async fn stop(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let e = execution(&state, r.param("id")).await?;
    let body = r.json()?;
    let mut request = json!({ "executionArn": e.info.execution_arn() });
    for key in ["error", "cause"] {
        if let Some(v) = body.get(key) {
            request[key] = v.clone();
        }
    }
    sfn::call(&state, "StopExecution", request).await?;
    ok(json!({ "id": e.id, "stopping": true }))
}

pub(super) async fn redrive(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let e = execution(&state, r.param("id")).await?;
    let request = json!({ "executionArn": e.info.execution_arn() });
    sfn::call(&state, "RedriveExecution", request).await?;
    ok(json!({ "id": e.id, "redriven": true }))
}

pub(super) async fn map_runs(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let id = r.param("id").to_string();
    execution(&state, &id).await?;
    let runs = read(&state, move |s| s.map_runs_of(&id)).await?;
    let runs: Vec<Value> = runs
        .iter()
        .map(|run| {
            json!({
                "id": run.spec.id,
                "path": run.path,
                "done": run.done,
                "progress": run.progress,
            })
        })
        .collect();
    ok(json!({ "mapRuns": runs }))
}

pub(super) async fn map_items(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let run = r.param("run").to_string();
    let from = r.number("from", 0, u64::MAX)?;
    let limit = r.number("limit", DEFAULT_PAGE, MAX_PAGE)?.max(1) as usize;
    let mut items = read(&state, move |s| s.map_items(&run, from, limit + 1)).await?;
    let more = items.len() > limit;
    items.truncate(limit);
    let next = more.then(|| items.last().map(|i| i.index + 1)).flatten();
    ok(json!({ "items": items, "next": next }))
}

pub(super) async fn functions(state: ServerState, _: RestRequest) -> Result<Response, RestError> {
    let Some(functions) = &state.functions else {
        return ok(json!({ "functions": [], "apiInvocations": 0 }));
    };
    ok(json!({
        "functions": functions.stats(),
        "apiInvocations": functions.invocations().load(Ordering::Relaxed),
    }))
}

/// The most log lines one request returns.
const MAX_LOG_LINES: u64 = 10_000;

pub(super) async fn function_logs(
    state: ServerState,
    r: RestRequest,
) -> Result<Response, RestError> {
    let name = r.param("name");
    let functions = state
        .functions
        .as_ref()
        .filter(|f| f.names().iter().any(|n| n == name))
        .ok_or_else(|| RestError::not_found(format!("no function named '{name}'")))?;
    let tail = r.number("tail", 100, MAX_LOG_LINES)? as usize;
    ok(json!({ "lines": functions.logs(name, tail) }))
}

/// `SendTaskSuccess`, `SendTaskFailure` or `SendTaskHeartbeat` (`operation`) from a JSON body
/// whose `output` is JSON rather than JSON text.
pub(super) async fn task_token(
    state: ServerState,
    r: RestRequest,
    operation: &'static str,
) -> Result<Response, RestError> {
    let body = r.json()?;
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .ok_or_else(|| RestError::bad("token is required"))?;
    let mut request = json!({ "taskToken": token });
    if let Some(output) = body.get("output") {
        request["output"] = json!(output.to_string());
    } else if operation == "SendTaskSuccess" {
        request["output"] = json!("null");
    }
    for key in ["error", "cause"] {
        if let Some(v) = body.get(key) {
            request[key] = v.clone();
        }
    }
    sfn::call(&state, operation, request).await?;
    ok(json!({}))
}
