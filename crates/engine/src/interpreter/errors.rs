//! Retry and Catch: what happens when a state raises an error.

use super::io::{Eval, catch_output};
use super::{Cx, Flow, JITTER, delay};
use crate::effects::Command;
use crate::model::{Frame, Step};
use serde_json::{Map, Value};
use sluice_jsonata::unit_interval;
use sluice_lang::dataflow::Failure;
use sluice_lang::ir::State;

/// Applies the state's retriers, then its catchers, to a raised error.
pub(super) fn handle(
    cx: &mut Cx,
    state: &State,
    frame: &mut Frame,
    outer: &[&Map<String, Value>],
    failure: Failure,
) -> Flow {
    let failure = with_state_prefix(state, frame, failure);
    if let Some((index, retrier)) = state
        .retry
        .iter()
        .enumerate()
        .find(|(_, r)| failure.matched_by(&r.error_equals))
    {
        if frame.retries.len() < state.retry.len() {
            frame.retries.resize(state.retry.len(), 0);
        }
        let used = frame.retries[index];
        if used < retrier.max_attempts {
            frame.retries[index] = used + 1;
            let token = cx.token();
            let jitter = if retrier.jitter_full {
                unit_interval(cx.random_bits([JITTER, token]))
            } else {
                1.0
            };
            let delay = delay::retry_delay(retrier, used, jitter);
            let due_ms = delay::after(cx.now_ms, delay);
            frame.step = Step::Timer {
                token,
                due_ms,
                wait_state: false,
            };
            cx.fx.commands.push(Command::Timer {
                path: cx.path.clone(),
                token,
                due_ms,
            });
            return Flow::Block;
        }
    }
    let Some(catcher) = state
        .catch
        .iter()
        .find(|c| failure.matched_by(&c.error_equals))
    else {
        return Flow::Fail(failure);
    };
    let result = {
        let ev = Eval::new(cx, state, frame, outer);
        catch_output(
            state,
            &catcher.result_path,
            catcher.output.as_ref(),
            catcher.assign.as_ref(),
            &frame.input,
            &failure,
            &ev,
        )
    };
    match result {
        Ok((output, assigned)) => {
            if let Some(vars) = assigned {
                frame.vars.extend(vars);
            }
            Flow::Goto(catcher.next.clone(), output)
        }
        Err(f) => Flow::Fail(with_state_prefix(state, frame, f)),
    }
}

/// Prefixes the cause of run-time errors with the state they happened in, as AWS does.
pub(super) fn with_state_prefix(state: &State, frame: &Frame, mut failure: Failure) -> Failure {
    const MARK: &str = "An error occurred while executing the state";
    if failure.names_state() && !failure.cause.starts_with(MARK) {
        failure.cause = format!(
            "{MARK} '{}' (entered at the event id #{}). {}",
            state.name, frame.entered_event, failure.cause
        );
    }
    failure
}
