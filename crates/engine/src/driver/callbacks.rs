//! Callbacks from workers (`SendTaskSuccess`, `SendTaskFailure`, `SendTaskHeartbeat`): a report
//! on a Task this process drives is applied at once and answered once committed; a report on a
//! Task another process drives is kept in the store, where that process finds it at its next
//! housekeeping (see [`crate::callback`]).

use super::Driver;
use crate::callback::{self, CallbackError, StoredSignal, TaskSignal, TaskToken};
use crate::interpreter::Event;

/// Where the answer to a callback goes.
pub(super) type CallbackReply = tokio::sync::oneshot::Sender<Result<(), CallbackError>>;

impl Driver {
    /// Takes a worker's report for the Task `token` names.
    pub(super) fn task_signal(&mut self, token: &str, signal: TaskSignal, reply: CallbackReply) {
        let Some(token) = TaskToken::decode(token) else {
            let _ = reply.send(Err(CallbackError::InvalidToken));
            return;
        };
        if let Some(live) = self.live.get(&token.execution) {
            if let Err(e) = callback::check_waiting(&live.record.state, &token) {
                let _ = reply.send(Err(e));
                return;
            }
            self.apply(
                &token.execution,
                Event::Callback {
                    path: token.path,
                    token: token.attempt,
                    signal,
                },
            );
            self.signal_replies.push(reply);
            return;
        }
        let _ = reply.send(self.keep_signal(&token, signal));
    }

    /// Checks a report on an execution this process does not drive against its stored state,
    /// and keeps it for the process that drives it.
    fn keep_signal(&self, token: &TaskToken, signal: TaskSignal) -> Result<(), CallbackError> {
        let store = |e: crate::store::StoreError| CallbackError::Store(e.to_string());
        let record = self
            .store
            .execution(&token.execution)
            .map_err(store)?
            .ok_or(CallbackError::TaskDoesNotExist)?;
        callback::check_waiting(&record.state, token)?;
        let kept = StoredSignal {
            path: token.path.clone(),
            attempt: token.attempt,
            signal,
        };
        self.store
            .put_signal(&token.execution, &kept)
            .map_err(store)
    }

    /// Applies the reports kept in the store for executions this process drives; they are
    /// dropped from the store once the transitions they caused are committed.
    pub(super) fn take_signals(&mut self) {
        let kept = match self.store.signals(&self.owner) {
            Ok(kept) => kept,
            Err(e) => {
                eprintln!("sluice: reading task callbacks failed, will retry: {e}");
                return;
            }
        };
        for (seq, execution, kept) in kept {
            self.apply(
                &execution,
                Event::Callback {
                    path: kept.path,
                    token: kept.attempt,
                    signal: kept.signal,
                },
            );
            self.applied_signals.push(seq);
        }
    }

    /// After a commit: answers the callbacks it made durable and drops the applied kept ones.
    /// A report applied twice (a drop that failed) finds its Task no longer waiting and changes
    /// nothing.
    pub(super) fn signals_committed(&mut self) {
        for reply in std::mem::take(&mut self.signal_replies) {
            let _ = reply.send(Ok(()));
        }
        if self.applied_signals.is_empty() {
            return;
        }
        let applied = std::mem::take(&mut self.applied_signals);
        if let Err(e) = self.store.drop_signals(&applied) {
            eprintln!("sluice: dropping applied task callbacks failed: {e}");
        }
    }
}
