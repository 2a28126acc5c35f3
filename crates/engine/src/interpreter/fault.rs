//! Ending an execution from outside its states: stopped by a user (`ExecutionAborted`), or failed
//! because its transition could not complete (a bug inside one execution fails that execution,
//! with `States.Runtime` and a cause, and nothing else).

use crate::effects::{Effects, HistoryEvent};
use crate::model::{ExecutionState, Status};
use serde_json::{Map, Value, json};

/// Stops a running execution from outside (`ExecutionAborted`). Where it stood is kept, so that
/// a redrive restarts it from there.
pub fn abort(
    st: &mut ExecutionState,
    error: Option<&str>,
    cause: Option<&str>,
    now_ms: i64,
) -> Effects {
    if st.status != Status::Running {
        return Effects::default();
    }
    st.failed_at = st.root.take();
    let mut details = Map::new();
    if let Some(e) = error {
        details.insert("error".into(), json!(e));
    }
    if let Some(c) = cause {
        details.insert("cause".into(), json!(c));
    }
    let event = ("ExecutionAborted", details.into());
    end(st, Status::Aborted, error, cause, event, now_ms)
}

/// The state of an execution that failed while starting, with its `ExecutionFailed` event.
pub fn failed_start(cause: &str, now_ms: i64) -> (ExecutionState, Effects) {
    let mut st = ExecutionState::new(None);
    let fx = fail_runtime(&mut st, cause, now_ms);
    (st, fx)
}

/// Fails a running execution with `States.Runtime` and `cause`, recording `ExecutionFailed`.
/// The state's frames are dropped: they may be half-changed by the transition that broke.
pub fn fail_runtime(st: &mut ExecutionState, cause: &str, now_ms: i64) -> Effects {
    if st.status != Status::Running {
        return Effects::default();
    }
    st.root = None;
    let error = "States.Runtime";
    let event = ("ExecutionFailed", json!({ "error": error, "cause": cause }));
    end(st, Status::Failed, Some(error), Some(cause), event, now_ms)
}

/// Sets how a running execution ended and records the event that says so.
fn end(
    st: &mut ExecutionState,
    status: Status,
    error: Option<&str>,
    cause: Option<&str>,
    (kind, details): (&str, Value),
    now_ms: i64,
) -> Effects {
    st.status = status;
    st.error = error.map(str::to_string);
    st.cause = cause.map(str::to_string);
    let id = st.next_event_id;
    st.next_event_id += 1;
    let mut fx = Effects::default();
    fx.history.push(HistoryEvent {
        id,
        timestamp_ms: now_ms,
        kind: kind.into(),
        details,
    });
    fx
}
