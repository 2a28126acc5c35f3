//! A Task's `TimeoutSeconds` is a durable timer armed with its invocation: when it fires first
//! the attempt fails with `States.Timeout`, and the result that arrives late is ignored.

use crate::harness::Run;
use serde_json::{Value, json};
use sluice_engine::effects::{Command, Effects};
use sluice_engine::interpreter::{Event, pending_commands};
use sluice_engine::model::{Status, TaskOutcome};
use sluice_engine::run_info::RunInfo;

const START: i64 = 1_000_000;

fn task(extra: Value) -> Value {
    let mut t = json!({"Type": "Task", "Resource": "sluice:function:slow", "End": true});
    t.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"StartAt": "Call", "States": {"Call": t}})
}

/// The attempt's token, and its deadline when it has one.
fn attempt(fx: &Effects) -> (u64, Option<i64>) {
    let token = fx
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Invoke { token, .. } => Some(*token),
            _ => None,
        })
        .expect("an invocation");
    let deadline = fx.commands.iter().find_map(|c| match c {
        Command::Timer {
            token: t, due_ms, ..
        } if *t == token => Some(*due_ms),
        _ => None,
    });
    (token, deadline)
}

fn result(token: u64, value: Value) -> Event {
    Event::TaskResult {
        path: vec![],
        token,
        outcome: TaskOutcome::Ok(value),
    }
}

fn kinds(fx: &Effects) -> Vec<&str> {
    fx.history.iter().map(|e| e.kind.as_str()).collect()
}

#[test]
fn the_timer_fires_first_the_task_times_out_and_the_late_result_is_ignored() {
    let info = RunInfo::local("t", "exec-1", START);
    let (mut run, fx) = Run::start(&task(json!({"TimeoutSeconds": 5})), info, json!({}), START);
    let (token, deadline) = attempt(&fx);
    assert_eq!(deadline, Some(START + 5_000), "armed with the invocation");

    let fx = run.apply(
        Event::TimerFired {
            path: vec![],
            token,
        },
        START + 5_000,
    );
    assert_eq!(kinds(&fx), ["TaskTimedOut", "ExecutionFailed"]);
    assert_eq!(
        run.state.status,
        Status::Failed,
        "a task timeout fails, it does not time out the execution"
    );
    assert_eq!(run.state.error.as_deref(), Some("States.Timeout"));
    assert_eq!(run.state.cause, None, "Step Functions gives no cause");

    let late = run.apply(result(token, json!("late")), START + 60_000);
    assert!(late.history.is_empty() && late.commands.is_empty());
    assert_eq!(run.state.status, Status::Failed);
}

#[test]
fn a_result_before_the_deadline_wins_and_the_timer_is_then_ignored() {
    let info = RunInfo::local("t", "exec-1", START);
    let (mut run, fx) = Run::start(
        &task(json!({"TimeoutSecondsPath": "$.limit"})),
        info,
        json!({"limit": 30}),
        START,
    );
    let (token, deadline) = attempt(&fx);
    assert_eq!(deadline, Some(START + 30_000));
    let fx = run.apply(result(token, json!({"ok": true})), START + 1_000);
    assert_eq!(
        kinds(&fx),
        ["TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]
    );
    assert_eq!(run.state.output, Some(json!({"ok": true})));
    let stale = run.apply(
        Event::TimerFired {
            path: vec![],
            token,
        },
        START + 30_000,
    );
    assert!(stale.history.is_empty());
}

#[test]
fn a_timed_out_attempt_is_retried_and_only_the_new_attempt_counts() {
    let info = RunInfo::local("t", "exec-1", START);
    let retry = json!({
        "TimeoutSeconds": 2,
        "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 1}]
    });
    let (mut run, fx) = Run::start(&task(retry), info, json!({}), START);
    let (first, _) = attempt(&fx);
    let fx = run.apply(
        Event::TimerFired {
            path: vec![],
            token: first,
        },
        START + 2_000,
    );
    assert_eq!(kinds(&fx), ["TaskTimedOut"]);
    let backoff = fx
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Timer { token, due_ms, .. } => Some((*token, *due_ms)),
            _ => None,
        })
        .expect("a backoff timer");
    assert_eq!(backoff.1, START + 3_000);
    let fx = run.apply(
        Event::TimerFired {
            path: vec![],
            token: backoff.0,
        },
        backoff.1,
    );
    let (second, deadline) = attempt(&fx);
    assert_ne!(second, first);
    assert_eq!(
        deadline,
        Some(backoff.1 + 2_000),
        "each attempt has its own deadline"
    );

    let late = run.apply(result(first, json!("first")), backoff.1 + 500);
    assert!(
        late.history.is_empty(),
        "the first attempt's result is stale"
    );
    run.apply(result(second, json!("second")), backoff.1 + 1_000);
    assert_eq!(run.state.status, Status::Succeeded);
    assert_eq!(run.state.output, Some(json!("second")));
}

#[test]
fn after_a_restart_the_invocation_and_its_deadline_are_both_pending_again() {
    let info = RunInfo::local("t", "exec-1", START);
    let (mut run, fx) = Run::start(&task(json!({"TimeoutSeconds": 9})), info, json!({}), START);
    let (token, deadline) = attempt(&fx);
    run.reload();
    let pending = pending_commands(&run.state);
    assert!(matches!(&pending[..], [
        Command::Invoke { token: a, .. },
        Command::Timer { token: b, due_ms, .. },
    ] if *a == token && *b == token && Some(*due_ms) == deadline));
    // A process down past the deadline times the attempt out as soon as it is back.
    run.apply(
        Event::TimerFired {
            path: vec![],
            token,
        },
        START + 3_600_000,
    );
    assert_eq!(run.state.error.as_deref(), Some("States.Timeout"));
}

#[test]
fn a_caught_task_timeout_hands_its_error_to_the_catcher() {
    let info = RunInfo::local("t", "exec-1", START);
    let caught = json!({
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task", "Resource": "sluice:function:slow", "TimeoutSeconds": 1,
                "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Fallback"}],
                "End": true
            },
            "Fallback": {"Type": "Pass", "End": true}
        }
    });
    let (mut run, fx) = Run::start(&caught, info, json!({}), START);
    let (token, _) = attempt(&fx);
    run.apply(
        Event::TimerFired {
            path: vec![],
            token,
        },
        START + 1_000,
    );
    assert_eq!(run.state.status, Status::Succeeded);
    assert_eq!(
        run.state.output,
        Some(json!({"Error": "States.Timeout", "Cause": ""}))
    );
}

#[test]
fn the_execution_timeout_still_times_the_execution_out() {
    let info = RunInfo::local("t", "exec-1", START);
    let mut definition = task(json!({}));
    definition["TimeoutSeconds"] = json!(60);
    let (mut run, _) = Run::start(&definition, info, json!({}), START);
    let fx = run.apply(Event::ExecutionTimeout, START + 60_000);
    assert_eq!(kinds(&fx), ["ExecutionTimedOut"]);
    assert_eq!(run.state.status, Status::TimedOut);
}
