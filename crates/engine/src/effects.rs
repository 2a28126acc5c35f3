//! What a transition produces besides the new state: history events and commands.

use crate::invoke::InvokeRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One history event, shaped like a Step Functions `HistoryEvent`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// 1-based id within the execution.
    pub id: u64,
    /// Epoch milliseconds.
    pub timestamp_ms: i64,
    /// Event type, e.g. `PassStateEntered`.
    pub kind: String,
    /// Event details (`{name, input}`, `{output}`, `{error, cause}`, ...).
    pub details: Value,
}

/// Work the driver performs after committing a transition.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Call a function or integration; deliver the outcome to the frame at `path`.
    Invoke {
        /// Frame path (child indices from the root).
        path: Vec<u32>,
        /// Attempt token.
        token: u64,
        /// The call.
        request: InvokeRequest,
    },
    /// Fire a timer at `due_ms` for the frame at `path`.
    Timer {
        /// Frame path.
        path: Vec<u32>,
        /// Timer token.
        token: u64,
        /// Due time, epoch ms.
        due_ms: i64,
    },
    /// Deliver `Continue` to the paused frame at `path` once this step is committed.
    Continue {
        /// Frame path.
        path: Vec<u32>,
        /// Pause token.
        token: u64,
    },
    /// Run (or resume) a Distributed Map; deliver its outcome to the frame at `path` as a task
    /// result.
    MapRun {
        /// Frame path.
        path: Vec<u32>,
        /// Run token.
        token: u64,
        /// What to run.
        spec: Box<crate::map_run::MapRunSpec>,
    },
}

/// Everything one call into the interpreter produced.
#[derive(Debug, Default)]
pub struct Effects {
    /// New history events, in order.
    pub history: Vec<HistoryEvent>,
    /// Commands to dispatch after commit.
    pub commands: Vec<Command>,
    /// State transitions performed (entered states).
    pub transitions: u64,
}
