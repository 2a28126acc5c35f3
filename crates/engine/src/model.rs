//! The persisted state of an execution: a tree of frames, one per running scope.
//!
//! Everything here is serialised into the store at each commit, so an execution resumes from
//! exactly this value after a crash.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Execution status, named as Step Functions names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Still running.
    Running,
    /// Finished with an output.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Exceeded its `TimeoutSeconds`.
    TimedOut,
    /// Stopped from outside.
    Aborted,
}

impl Status {
    /// The upper-case name (`SUCCEEDED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "RUNNING",
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::TimedOut => "TIMED_OUT",
            Status::Aborted => "ABORTED",
        }
    }

    /// Parses an upper-case name.
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "RUNNING" => Status::Running,
            "SUCCEEDED" => Status::Succeeded,
            "FAILED" => Status::Failed,
            "TIMED_OUT" => Status::TimedOut,
            "ABORTED" => Status::Aborted,
            _ => return None,
        })
    }
}

/// The dynamic state of one execution.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExecutionState {
    /// Status.
    pub status: Status,
    /// Output once succeeded.
    pub output: Option<Value>,
    /// Error name once failed.
    pub error: Option<String>,
    /// Error cause once failed.
    pub cause: Option<String>,
    /// The top-level frame; `None` once finished.
    pub root: Option<Frame>,
    /// Id the next history event gets.
    pub next_event_id: u64,
    /// Counter for task attempts and timers, so stale results are recognised.
    pub next_token: u64,
    /// CloudFlow `$Global`.
    pub globals: Map<String, Value>,
    /// When the execution stops with `States.Timeout`, in epoch milliseconds.
    pub deadline_ms: Option<i64>,
    /// Where the execution stood when it stopped unsuccessfully, so that a redrive restarts it
    /// from the state that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<Frame>,
    /// How often and when the execution was redriven.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redriven: Option<Redriven>,
}

impl ExecutionState {
    /// A running execution before its first state, timed out at `deadline_ms` if given.
    pub fn new(deadline_ms: Option<i64>) -> ExecutionState {
        ExecutionState {
            status: Status::Running,
            output: None,
            error: None,
            cause: None,
            root: None,
            next_event_id: 1,
            next_token: 1,
            globals: Map::new(),
            deadline_ms,
            failed_at: None,
            redriven: None,
        }
    }
}

/// An execution's redrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redriven {
    /// How many times (`$$.Execution.RedriveCount`).
    pub count: u32,
    /// When last, epoch ms (`$$.Execution.RedriveTime`).
    pub last_ms: i64,
}

/// One running scope: where it is and what it holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Frame {
    /// Variables assigned in this scope.
    pub vars: Map<String, Value>,
    /// The current state's name.
    pub state: String,
    /// The current state's raw input.
    pub input: Value,
    /// History id of the current state's `...StateEntered` event.
    pub entered_event: u64,
    /// When the current state was entered (epoch ms).
    pub entered_ms: i64,
    /// Attempts used per retrier in this visit of the state.
    pub retries: Vec<u32>,
    /// What the frame is doing.
    pub step: Step,
    /// For a Map iteration: the `$$.Map.Item` value.
    pub map_item: Option<Value>,
}

/// What a frame is doing in its current state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Step {
    /// About to run the state (first attempt or a retry).
    Ready,
    /// Waiting for a timer.
    Timer {
        /// Token of the timer.
        token: u64,
        /// Due time, epoch ms.
        due_ms: i64,
        /// Whether the timer ends a Wait state (true) or a retry backoff (false).
        wait_state: bool,
    },
    /// A timer fired.
    TimerFired {
        /// Whether it ended a Wait state.
        wait_state: bool,
    },
    /// Waiting for a task result.
    Task {
        /// Token of the attempt; its timeout timer has the same.
        token: u64,
        /// The invocation, kept to dispatch it again after a restart.
        request: crate::invoke::InvokeRequest,
        /// When the attempt times out (its `TimeoutSeconds` after it was scheduled), epoch ms.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deadline_ms: Option<i64>,
        /// For a `.waitForTaskToken` Task: the callback it waits for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        callback: Option<Callback>,
    },
    /// Paused after the most transitions one step may make; the state is entered but not run.
    /// A `Continue` with this token resumes it.
    Paused {
        /// Token of the pause.
        token: u64,
    },
    /// A task result arrived.
    TaskDone(TaskOutcome),
    /// A Distributed Map run ended. The run stays named so that a redrive can reopen it.
    MapRunDone {
        /// Token of the run.
        token: u64,
        /// The run.
        spec: Box<crate::map_run::MapRunSpec>,
        /// Its result or error.
        outcome: TaskOutcome,
    },
    /// Running children (Map iterations or Parallel branches).
    Fanout(Box<Fanout>),
    /// Waiting for a Distributed Map run; its outcome arrives like a task's.
    MapRun {
        /// Token of the run.
        token: u64,
        /// The run, kept to start it again after a restart.
        spec: Box<crate::map_run::MapRunSpec>,
    },
}

/// What a `.waitForTaskToken` Task waits for besides its call (see [`crate::callback`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Callback {
    /// The random part of the attempt's task token.
    pub nonce: u64,
    /// Whether the call that handed the token out returned; it is not made again on resume.
    #[serde(default)]
    pub submitted: bool,
    /// `HeartbeatSeconds`: the longest silence between heartbeats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_seconds: Option<u64>,
    /// The heartbeat timer: its token and due time, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<(u64, i64)>,
}

/// A task's result or error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TaskOutcome {
    /// The result value.
    Ok(Value),
    /// The error name and cause.
    Err {
        /// Error name.
        error: String,
        /// Cause.
        cause: String,
    },
}

/// The children of a Map or Parallel state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fanout {
    /// Inputs of the children not started yet, by index.
    pub pending: std::collections::VecDeque<(u32, Value)>,
    /// Running children by index.
    pub running: BTreeMap<u32, Frame>,
    /// Results by index (`None` until done).
    pub results: Vec<Option<Value>>,
    /// How many children may run at once (0 = no limit).
    pub max_concurrency: usize,
    /// Failed children so far.
    pub failed: u32,
    /// Failures tolerated (count).
    pub tolerated_count: Option<u64>,
    /// Failures tolerated (percent of items).
    pub tolerated_percent: Option<f64>,
    /// The state's effective input (the `$` of ItemSelector and the Map's own processing).
    pub effective_input: Value,
    /// Set when a child's failure fails the whole state.
    pub failure: Option<crate::invoke::TaskError>,
}
