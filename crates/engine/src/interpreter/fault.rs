//! Ending an execution whose transition could not complete: a bug or a resource failure inside
//! one execution fails that execution, with `States.Runtime` and a cause, and nothing else.

use crate::effects::{Effects, HistoryEvent};
use crate::model::{ExecutionState, Status};
use serde_json::{Map, json};

/// Stops a running execution from outside (`ExecutionAborted`). Where it stood is kept, so that
/// a redrive restarts it from there.
pub fn abort(
    st: &mut ExecutionState,
    error: Option<&str>,
    cause: Option<&str>,
    now_ms: i64,
) -> Effects {
    let mut fx = Effects::default();
    if st.status != Status::Running {
        return fx;
    }
    st.failed_at = st.root.take();
    st.status = Status::Aborted;
    st.error = error.map(str::to_string);
    st.cause = cause.map(str::to_string);
    let mut details = Map::new();
    if let Some(e) = error {
        details.insert("error".into(), json!(e));
    }
    if let Some(c) = cause {
        details.insert("cause".into(), json!(c));
    }
    let id = st.next_event_id;
    st.next_event_id += 1;
    fx.history.push(HistoryEvent {
        id,
        timestamp_ms: now_ms,
        kind: "ExecutionAborted".into(),
        details: details.into(),
    });
    fx
}

/// The state of an execution that failed while starting, with its `ExecutionFailed` event.
pub fn failed_start(cause: &str, now_ms: i64) -> (ExecutionState, Effects) {
    let mut st = ExecutionState {
        status: Status::Running,
        output: None,
        error: None,
        cause: None,
        root: None,
        next_event_id: 1,
        next_token: 1,
        globals: Map::new(),
        deadline_ms: None,
        failed_at: None,
        redriven: None,
    };
    let fx = fail_runtime(&mut st, cause, now_ms);
    (st, fx)
}

/// Fails a running execution with `States.Runtime` and `cause`, recording `ExecutionFailed`.
/// The state's frames are dropped: they may be half-changed by the transition that broke.
pub fn fail_runtime(st: &mut ExecutionState, cause: &str, now_ms: i64) -> Effects {
    let mut fx = Effects::default();
    if st.status != Status::Running {
        return fx;
    }
    st.root = None;
    st.status = Status::Failed;
    st.error = Some("States.Runtime".into());
    st.cause = Some(cause.to_string());
    let id = st.next_event_id;
    st.next_event_id += 1;
    fx.history.push(HistoryEvent {
        id,
        timestamp_ms: now_ms,
        kind: "ExecutionFailed".into(),
        details: json!({ "error": "States.Runtime", "cause": cause }),
    });
    fx
}
