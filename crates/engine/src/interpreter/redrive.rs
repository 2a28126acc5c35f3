//! Redrive: an execution that failed, timed out or was aborted starts again from the state that
//! stopped it. What succeeded before is kept: the states already passed, the results of the Map
//! iterations and Parallel branches that succeeded, and a Distributed Map's run, which the driver
//! reopens so that only its unsuccessful items run again.

use super::{Cx, fanout, finish, run};
use crate::effects::{Command, Effects};
use crate::model::{ExecutionState, Redriven, Status, Step};
use crate::run_info::RunInfo;
use serde_json::{Value, json};
use sluice_lang::ir::Definition;

/// Restarts a stopped execution from where it failed. Errs (saying why) when it cannot be.
pub fn redrive(
    def: &Definition,
    info: &RunInfo,
    execution_input: &Value,
    st: &mut ExecutionState,
    now_ms: i64,
) -> Result<Effects, String> {
    match st.status {
        Status::Running => return Err("it is still running".into()),
        Status::Succeeded => {
            return Err(
                "it succeeded; only failed, timed out or aborted executions can be redriven".into(),
            );
        }
        _ => {}
    }
    let Some(mut root) = st.failed_at.take() else {
        return Err("it holds no state to restart from".into());
    };
    let count = st.redriven.map_or(0, |r| r.count) + 1;
    st.redriven = Some(Redriven {
        count,
        last_ms: now_ms,
    });
    st.status = Status::Running;
    st.output = None;
    st.error = None;
    st.cause = None;
    st.deadline_ms = def
        .timeout_seconds
        .map(|s| super::delay::after_whole(now_ms, s));
    let mut fx = Effects::default();
    let mut cx = Cx::new(info, execution_input, st, &mut fx, now_ms);
    cx.event("ExecutionRedriven", json!({ "redriveCount": count }));
    root.retries.clear();
    let progress = match def.root.state(&root.state) {
        Some(state) => match std::mem::replace(&mut root.step, Step::Ready) {
            Step::MapRun { token, spec } => {
                cx.event("MapRunRedriven", json!({ "mapRunArn": spec.arn }));
                cx.fx.commands.push(Command::MapRun {
                    path: Vec::new(),
                    token,
                    spec: spec.clone(),
                });
                root.step = Step::MapRun { token, spec };
                run(&mut cx, &def.root, &mut root, &[])
            }
            Step::Fanout(old) => match fanout::rebuild(&cx, state, &mut root, *old) {
                Ok(()) => run(&mut cx, &def.root, &mut root, &[]),
                Err(f) => super::Progress::Done(Err(f)),
            },
            _ => run(&mut cx, &def.root, &mut root, &[]),
        },
        None => run(&mut cx, &def.root, &mut root, &[]),
    };
    finish(cx, st, root, progress);
    Ok(fx)
}
