//! Task tokens: how a `.waitForTaskToken` Task is found again when a worker calls back.
//!
//! A token names the execution, the frame of the Task (its path of child indices) and the attempt
//! (the frame's task token), plus a random part, so that a token is answered by exactly one
//! attempt: a retried Task gets a new token and the old one is refused. Tokens route through the
//! store, so any process sharing it may take a callback; the process driving the execution applies
//! it.

use crate::model::{ExecutionState, Frame, Status, Step, TaskOutcome};
use serde::{Deserialize, Serialize};

/// The parts of a task token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskToken {
    /// The execution the Task belongs to.
    pub execution: String,
    /// The Task's frame path.
    pub path: Vec<u32>,
    /// The attempt's token within the execution.
    pub attempt: u64,
    /// A random part, checked against the one the Task kept.
    pub nonce: u64,
}

/// The longest task token Step Functions accepts, in characters.
pub const MAX_TOKEN_CHARS: usize = 1024;

impl TaskToken {
    /// The token as workers see it: `NONCE.ATTEMPT.PATH.EXECUTION` with the execution id in hex,
    /// the nonce in hex and the path as dot-free dashes (`-` for the root frame).
    pub fn encode(&self) -> String {
        let path = if self.path.is_empty() {
            "-".to_string()
        } else {
            self.path
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join("_")
        };
        let execution: String = self.execution.bytes().map(|b| format!("{b:02x}")).collect();
        format!("{:016x}.{}.{path}.{execution}", self.nonce, self.attempt)
    }

    /// Reads a token; `None` when it is not one this engine issued.
    pub fn decode(token: &str) -> Option<TaskToken> {
        if token.len() > MAX_TOKEN_CHARS {
            return None;
        }
        let mut parts = token.split('.');
        let nonce = u64::from_str_radix(parts.next()?, 16).ok()?;
        let attempt = parts.next()?.parse().ok()?;
        let path = match parts.next()? {
            "-" => Vec::new(),
            p => p
                .split('_')
                .map(|i| i.parse().ok())
                .collect::<Option<Vec<u32>>>()?,
        };
        let hex = parts.next()?;
        if parts.next().is_some() || hex.is_empty() || hex.len() % 2 != 0 {
            return None;
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(TaskToken {
            execution: String::from_utf8(bytes).ok()?,
            path,
            attempt,
            nonce,
        })
    }
}

/// What a worker reports for a token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TaskSignal {
    /// `SendTaskSuccess` with its output, or `SendTaskFailure` with its error and cause.
    Outcome(TaskOutcome),
    /// `SendTaskHeartbeat`: the worker is still at it.
    Heartbeat,
}

/// A signal kept in the store until the process driving its execution applies it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredSignal {
    /// The Task's frame path.
    pub path: Vec<u32>,
    /// The attempt.
    pub attempt: u64,
    /// What happened.
    pub signal: TaskSignal,
}

/// Why a callback is refused, named as Step Functions names it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The token is not one this engine issued.
    #[error("Invalid Token: the task token is malformed")]
    InvalidToken,
    /// No execution or Task has this token.
    #[error("Task does not exist anymore")]
    TaskDoesNotExist,
    /// The Task finished, timed out or was stopped: its token is closed.
    #[error("Task Timed Out: the task for this token has already been closed")]
    TaskTimedOut,
    /// The store could not be read or written.
    #[error("{0}")]
    Store(String),
}

impl CallbackError {
    /// The AWS error code (`InvalidToken`, `TaskDoesNotExist`, `TaskTimedOut`).
    pub fn code(&self) -> &'static str {
        match self {
            CallbackError::InvalidToken => "InvalidToken",
            CallbackError::TaskDoesNotExist => "TaskDoesNotExist",
            CallbackError::TaskTimedOut => "TaskTimedOut",
            CallbackError::Store(_) => "ServiceUnavailable",
        }
    }
}

/// Checks that `token` names a Task of `state` that waits for a callback now.
pub fn check_waiting(state: &ExecutionState, token: &TaskToken) -> Result<(), CallbackError> {
    if state.status != Status::Running {
        return Err(CallbackError::TaskTimedOut);
    }
    let frame = state
        .root
        .as_ref()
        .and_then(|root| frame_at(root, &token.path));
    match frame.map(|f| &f.step) {
        Some(Step::Task {
            token: attempt,
            callback: Some(cb),
            ..
        }) if *attempt == token.attempt => {
            if cb.nonce == token.nonce {
                Ok(())
            } else {
                Err(CallbackError::TaskDoesNotExist)
            }
        }
        _ => Err(CallbackError::TaskTimedOut),
    }
}

/// The frame at `path` below `root`, if it runs.
fn frame_at<'f>(root: &'f Frame, path: &[u32]) -> Option<&'f Frame> {
    let Some((index, rest)) = path.split_first() else {
        return Some(root);
    };
    match &root.step {
        Step::Fanout(fan) => frame_at(fan.running.get(index)?, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_reads_back_as_it_was_written() {
        for path in [vec![], vec![0], vec![3, 17, 0]] {
            let token = TaskToken {
                execution: "orders-2026/üñí:x".into(),
                path,
                attempt: 42,
                nonce: 0xdead_beef_0123_4567,
            };
            assert_eq!(TaskToken::decode(&token.encode()), Some(token));
        }
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "abc",
            "zz.1.-.61",
            "00.x.-.61",
            "00.1.a_b.61",
            "00.1.-.6",
            "00.1.-.",
            "00.1.-.61.extra",
            "00.1.-.ff",
        ] {
            assert_eq!(TaskToken::decode(bad), None, "{bad}");
        }
        let long = format!("00.1.-.{}", "61".repeat(600));
        assert_eq!(TaskToken::decode(&long), None);
    }
}
