//! `ListExecutions` (by state machine or by map run, with a status filter, in pages) and
//! `RedriveExecution`.

use super::{
    execution_of, map_runs, page_size, read, required, root_execution_of, run_info, seconds, string,
};
use crate::{ApiError, ServerState};
use serde_json::{Value, json};
use sluice_engine::EngineError;
use sluice_engine::model::Status;
use sluice_engine::store::ExecutionSummary;

/// How many executions `ListExecutions` looks through, newest first, for those asked for.
pub(crate) const LISTED_EXECUTIONS: usize = 10_000;

/// Where a page of executions continues: after the execution started at `start_ms` named
/// `id`, in the store's order (newest first, then by id).
#[derive(Debug, PartialEq)]
pub(crate) struct Position {
    /// The start of the last execution listed, epoch ms.
    pub start_ms: i64,
    /// Its id.
    pub id: String,
}

impl Position {
    /// The `nextToken` text.
    pub fn token(&self) -> String {
        format!("{}:{}", self.start_ms, self.id)
    }

    /// Reads a `nextToken`.
    pub fn parse(token: &str) -> Result<Position, ApiError> {
        let invalid = || ApiError::bad("InvalidToken", format!("invalid nextToken {token:?}"));
        let (ms, id) = token.split_once(':').ok_or_else(invalid)?;
        Ok(Position {
            start_ms: ms.parse().map_err(|_| invalid())?,
            id: id.to_string(),
        })
    }

    /// Whether `row` comes after this position.
    pub fn precedes(&self, row: &ExecutionSummary) -> bool {
        row.start_ms < self.start_ms || (row.start_ms == self.start_ms && row.id > self.id)
    }
}

/// Which executions are listed: the roots of a state machine, or the children of a map run.
enum Scope {
    /// Root executions of the flow named so, whose ARN is given.
    Machine { name: String, arn: String },
    /// Children of a map run: ids starting with the run's id and a `/`.
    MapRun { prefix: String },
}

impl Scope {
    async fn of(state: &ServerState, request: &Value) -> Result<Scope, ApiError> {
        match (
            string(request, "stateMachineArn")?,
            string(request, "mapRunArn")?,
        ) {
            (Some(arn), None) => {
                let (name, _) = super::flow_of(state, arn)?;
                Ok(Scope::Machine {
                    name,
                    arn: arn.to_string(),
                })
            }
            (None, Some(arn)) => {
                let run = map_runs::run_of(state, arn).await?;
                Ok(Scope::MapRun {
                    prefix: format!("{}/", run.spec.id),
                })
            }
            _ => Err(ApiError::bad(
                "ValidationException",
                "give either stateMachineArn or mapRunArn",
            )),
        }
    }

    fn holds(&self, row: &ExecutionSummary) -> bool {
        match self {
            Scope::Machine { name, .. } => row.flow == *name,
            Scope::MapRun { prefix } => row.id.starts_with(prefix.as_str()),
        }
    }
}

/// The `statusFilter`, if any.
fn status_filter(request: &Value) -> Result<Option<Status>, ApiError> {
    match string(request, "statusFilter")? {
        Some(s) => Status::parse(s).map(Some).ok_or_else(|| {
            ApiError::bad("ValidationException", format!("unknown statusFilter {s:?}"))
        }),
        None => Ok(None),
    }
}

/// `ListExecutions`: newest first, `maxResults` a page, continued by `nextToken`. Looks
/// through the newest [`LISTED_EXECUTIONS`] executions.
pub(super) async fn list(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let scope = Scope::of(state, request).await?;
    let status = status_filter(request)?;
    let limit = page_size(request)?;
    let after = string(request, "nextToken")?
        .map(Position::parse)
        .transpose()?;
    let children = matches!(scope, Scope::MapRun { .. });
    let rows = read(state, move |s| s.list(LISTED_EXECUTIONS, children)).await?;
    let mut page: Vec<ExecutionSummary> = rows
        .into_iter()
        .filter(|r| scope.holds(r) && status.is_none_or(|s| r.status == s))
        .filter(|r| after.as_ref().is_none_or(|p| p.precedes(r)))
        .take(limit + 1)
        .collect();
    let next = (page.len() > limit).then(|| {
        page.truncate(limit);
        page.last().map(|r| Position {
            start_ms: r.start_ms,
            id: r.id.clone(),
        })
    });
    let executions: Vec<Value> = page
        .iter()
        .map(|r| {
            let info = run_info(&r.flow, &r.id);
            let machine = match &scope {
                Scope::Machine { arn, .. } => arn.clone(),
                Scope::MapRun { .. } => info.state_machine_arn(),
            };
            let mut row = json!({
                "executionArn": info.execution_arn(),
                "stateMachineArn": machine,
                "name": r.id,
                "status": r.status.as_str(),
                "startDate": seconds(r.start_ms),
            });
            if let Some(stop) = r.stop_ms {
                row["stopDate"] = seconds(stop);
            }
            row
        })
        .collect();
    let mut out = json!({ "executions": executions });
    if let Some(Some(position)) = next {
        out["nextToken"] = json!(position.token());
    }
    Ok(out)
}

/// `RedriveExecution`: restarts a failed, timed out or aborted execution from where it
/// stopped.
pub(super) async fn redrive(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let arn = required(request, "executionArn")?;
    string(request, "clientToken")?;
    let e = root_execution_of(state, arn).await?;
    match state.engine.redrive(&e.id).await {
        Ok(()) => {}
        Err(EngineError::NotFound(_)) => {
            return Err(ApiError::bad(
                "ExecutionDoesNotExist",
                format!("execution does not exist: {arn}"),
            ));
        }
        Err(EngineError::NotRedrivable(_, why)) => {
            return Err(ApiError::bad(
                "ExecutionNotRedrivable",
                format!("the execution cannot be redriven: {why}"),
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    }
    let redriven = execution_of(state, arn).await?;
    let date = redriven
        .state
        .redriven
        .map_or_else(|| chrono::Utc::now().timestamp_millis(), |r| r.last_ms);
    Ok(json!({ "redriveDate": seconds(date) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(start_ms: i64, id: &str) -> ExecutionSummary {
        ExecutionSummary {
            id: id.into(),
            definition_id: "d".into(),
            flow: "f".into(),
            status: Status::Succeeded,
            start_ms,
            stop_ms: None,
            owner: None,
            lease_until_ms: None,
        }
    }

    #[test]
    fn tokens_continue_after_the_last_row_in_store_order() {
        let p = Position::parse(
            &Position {
                start_ms: 20,
                id: "b".into(),
            }
            .token(),
        )
        .unwrap();
        assert_eq!(
            p,
            Position {
                start_ms: 20,
                id: "b".into()
            }
        );
        assert!(!p.precedes(&row(30, "z")));
        assert!(!p.precedes(&row(20, "a")));
        assert!(!p.precedes(&row(20, "b")));
        assert!(p.precedes(&row(20, "c")));
        assert!(p.precedes(&row(10, "a")));
        for bad in ["", "12", "x:y"] {
            assert_eq!(Position::parse(bad).unwrap_err().code, "InvalidToken");
        }
    }
}
