//! `DescribeMapRun` and `ListMapRuns`: the Distributed Map runs of an execution, with their
//! item and child execution counts.

use super::{arn_parts, execution_of, invalid_arn, page_size, read, required, seconds, string};
use crate::{ApiError, ServerState};
use serde_json::{Value, json};
use sluice_engine::store::{MapRunRecord, Store, StoreError};

/// How many of a state machine's newest executions are searched for a map run's ARN.
const SEARCHED_EXECUTIONS: usize = 1000;

/// The map run an ARN (`arn:aws:states:REGION:ACCOUNT:mapRun:FLOW/LABEL:UUID`) names, looked
/// for among the newest [`SEARCHED_EXECUTIONS`] executions of its flow.
pub(super) async fn run_of(state: &ServerState, arn: &str) -> Result<MapRunRecord, ApiError> {
    let flow = match arn_parts(arn, "mapRun")?.as_slice() {
        [machine, _uuid] => match machine.split_once('/') {
            Some((flow, label)) if !flow.is_empty() && !label.is_empty() => flow.to_string(),
            _ => return Err(invalid_arn(arn)),
        },
        _ => return Err(invalid_arn(arn)),
    };
    let wanted = arn.to_string();
    let found = read(state, move |s| {
        for row in s.list(SEARCHED_EXECUTIONS, false)? {
            if row.flow != flow {
                continue;
            }
            if let Some(run) = s
                .map_runs_of(&row.id)?
                .into_iter()
                .find(|r| r.spec.arn == wanted)
            {
                return Ok(Some(run));
            }
        }
        Ok(None)
    })
    .await?;
    found.ok_or_else(|| ApiError::bad("ResourceNotFound", format!("map run does not exist: {arn}")))
}

/// When a run started: its first item's start, else its execution's.
fn start_ms(
    store: &dyn Store,
    run: &MapRunRecord,
    execution_start_ms: i64,
) -> Result<i64, StoreError> {
    let first = store.map_items(&run.spec.id, 0, 1)?;
    Ok(first.first().map_or(execution_start_ms, |item| {
        item.start_ms.max(execution_start_ms)
    }))
}

/// `RUNNING`, `FAILED` or `SUCCEEDED`.
fn status(run: &MapRunRecord) -> &'static str {
    if !run.done {
        "RUNNING"
    } else if run.progress.failure.is_some() {
        "FAILED"
    } else {
        "SUCCEEDED"
    }
}

/// The counts of a run's children, as `itemCounts` and `executionCounts` show them. Items
/// read from the source but not started yet are pending; with batching they are counted in
/// items, not in child executions.
fn counts(run: &MapRunRecord) -> (Value, Value) {
    let p = &run.progress;
    let finished = p.succeeded + p.failed;
    let running = p.started.saturating_sub(finished);
    let written = if run.done && run.spec.writer.is_some() {
        finished
    } else {
        0
    };
    let shape = |pending: u64| {
        json!({
            "pending": pending,
            "running": running,
            "succeeded": p.succeeded,
            "failed": p.failed,
            "timedOut": 0,
            "aborted": 0,
            "total": pending + running + finished,
            "resultsWritten": written,
            "failuresNotRedrivable": 0,
            "pendingRedrive": 0,
        })
    };
    let pending = if run.spec.batcher.is_none() {
        p.consumed.saturating_sub(p.started)
    } else {
        0
    };
    (shape(pending), shape(0))
}

/// `DescribeMapRun`.
pub(super) async fn describe(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let arn = required(request, "mapRunArn")?;
    let run = run_of(state, arn).await?;
    let parent = run.execution.clone();
    let execution = read(state, move |s| s.execution(&parent))
        .await?
        .ok_or_else(|| ApiError::internal("the map run's execution is gone"))?;
    let start = {
        let run = run.clone();
        let from = execution.info.start_ms;
        read(state, move |s| start_ms(s, &run, from)).await?
    };
    let (items, executions) = counts(&run);
    let spec = &run.spec;
    Ok(json!({
        "mapRunArn": spec.arn,
        "executionArn": execution.info.execution_arn(),
        "status": status(&run),
        "startDate": seconds(start),
        "maxConcurrency": spec.max_concurrency,
        "toleratedFailurePercentage": spec.tolerated_percent.unwrap_or(0.0),
        "toleratedFailureCount": spec.tolerated_count.unwrap_or(0),
        "itemCounts": items,
        "executionCounts": executions,
        "redriveCount": execution.state.redriven.map_or(0, |r| r.count),
    }))
}

/// `nextToken` of `ListMapRuns`: how many runs came before.
fn offset(request: &Value) -> Result<usize, ApiError> {
    string(request, "nextToken")?.map_or(Ok(0), |t| {
        t.parse()
            .map_err(|_| ApiError::bad("InvalidToken", format!("invalid nextToken {t:?}")))
    })
}

/// `ListMapRuns`: an execution's map runs, oldest first.
pub(super) async fn list(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let arn = required(request, "executionArn")?;
    let execution = execution_of(state, arn).await?;
    let limit = page_size(request)?;
    let skip = offset(request)?;
    let id = execution.id.clone();
    let from = execution.info.start_ms;
    let runs = read(state, move |s| {
        let runs = s.map_runs_of(&id)?;
        let more = runs.len() > skip + limit;
        let page = runs
            .into_iter()
            .skip(skip)
            .take(limit)
            .map(|run| Ok((start_ms(s, &run, from)?, run)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((page, more))
    })
    .await?;
    let (page, more) = runs;
    let machine = execution.info.state_machine_arn();
    let rows: Vec<Value> = page
        .iter()
        .map(|(start, run)| {
            json!({
                "executionArn": arn,
                "mapRunArn": run.spec.arn,
                "stateMachineArn": format!("{machine}/{}", run.spec.label),
                "startDate": seconds(*start),
            })
        })
        .collect();
    let mut out = json!({ "mapRuns": rows });
    if more {
        out["nextToken"] = json!((skip + limit).to_string());
    }
    Ok(out)
}
