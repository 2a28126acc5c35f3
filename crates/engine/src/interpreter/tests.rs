//! Extreme numbers in definitions and inputs: the interpreter fails the state or clamps the delay,
//! and never panics.

use super::delay::MAX_DELAY_SECONDS;
use super::{Event, apply, start};
use crate::effects::{Command, Effects};
use crate::model::{ExecutionState, Status, TaskOutcome};
use crate::run_info::RunInfo;
use serde_json::{Value, json};
use sluice_lang::ir::Definition;

const NOW: i64 = 1_700_000_000_000;
const MAX_MS: i64 = MAX_DELAY_SECONDS as i64 * 1000;

fn compile(definition: Value) -> Definition {
    sluice_lang::compile::compile("flow.asl.json", &definition.to_string())
        .unwrap_or_else(|ds| panic!("{ds:?}"))
}

fn info() -> RunInfo {
    RunInfo::local("flow", "run", NOW)
}

fn run(definition: Value, input: Value) -> (ExecutionState, Effects) {
    start(&compile(definition), &info(), input, NOW)
}

fn timer(fx: &Effects) -> Option<(Vec<u32>, u64, i64)> {
    fx.commands.iter().find_map(|c| match c {
        Command::Timer {
            path,
            token,
            due_ms,
        } => Some((path.clone(), *token, *due_ms)),
        _ => None,
    })
}

fn wait_path(input: Value) -> (ExecutionState, Effects) {
    run(
        json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.s", "End": true}}}),
        input,
    )
}

fn assert_failed(st: &ExecutionState, error: &str, cause_has: &[&str]) {
    assert_eq!(st.status, Status::Failed, "{:?} {:?}", st.error, st.cause);
    assert_eq!(st.error.as_deref(), Some(error));
    let cause = st.cause.as_deref().unwrap_or_default();
    for part in cause_has {
        assert!(cause.contains(part), "{part:?} in {cause}");
    }
}

#[test]
fn a_huge_seconds_path_fails_the_wait_state() {
    let (st, _) = wait_path(json!({"s": 1_000_000_000_000_000_000_i64}));
    assert_failed(
        &st,
        "States.Runtime",
        &["'W'", "SecondsPath", "larger than 99999999"],
    );
    let (st, _) = wait_path(json!({"s": u64::MAX}));
    assert_failed(
        &st,
        "States.Runtime",
        &["'W'", "cannot be parsed as a long"],
    );
    let (st, _) = wait_path(json!({"s": 1e18}));
    assert_failed(
        &st,
        "States.Runtime",
        &["'W'", "cannot be parsed as a long"],
    );
    let (st, _) = wait_path(json!({"s": i64::MIN}));
    assert_failed(&st, "States.Runtime", &["'W'", "negative value"]);
}

#[test]
fn the_longest_seconds_path_waits_that_long() {
    let (st, fx) = wait_path(json!({"s": MAX_DELAY_SECONDS}));
    assert_eq!(st.status, Status::Running);
    assert_eq!(timer(&fx).unwrap().2, NOW + MAX_MS);
}

#[test]
fn a_huge_jsonata_seconds_fails_the_wait_state() {
    for seconds in ["{% 1e18 %}", "{% 1e308 * 10 %}", "{% -1 %}"] {
        let (st, _) = run(
            json!({"QueryLanguage": "JSONata", "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": seconds, "End": true}}}),
            json!({}),
        );
        assert_eq!(st.status, Status::Failed, "{seconds}");
        let cause = st.cause.as_deref().unwrap_or_default();
        assert!(cause.contains("'W'"), "{seconds}: {cause}");
    }
    let (st, _) = run(
        json!({"QueryLanguage": "JSONata", "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": "{% 1e18 %}", "End": true}}}),
        json!({}),
    );
    assert_failed(
        &st,
        "States.QueryEvaluationError",
        &["Seconds field must be at most 99999999"],
    );
}

#[test]
fn a_timestamp_path_far_in_the_future_or_past_is_a_due_time() {
    for (stamp, running) in [
        ("9999-12-31T23:59:59.999999999+18:00", true),
        ("0000-01-01T00:00:00-18:00", false),
    ] {
        let (st, fx) = run(
            json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.t", "End": true}}}),
            json!({"t": stamp}),
        );
        assert_eq!(st.status == Status::Running, running, "{stamp}");
        assert_eq!(timer(&fx).is_some(), running, "{stamp}");
    }
}

#[test]
fn huge_task_timeouts_and_heartbeats_fail_the_task_state() {
    for field in ["TimeoutSecondsPath", "HeartbeatSecondsPath"] {
        for value in [
            json!(1_000_000_000_000_000_000_i64),
            json!(1e18),
            json!(0),
            json!(-3),
        ] {
            let (st, fx) = run(
                json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sluice:function:f", field: "$.n", "End": true}}}),
                json!({"n": value}),
            );
            assert_failed(&st, "States.Runtime", &["'T'", field]);
            assert!(fx.commands.is_empty(), "{field} {value}: nothing invoked");
        }
    }
    let (st, fx) = run(
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sluice:function:f", "TimeoutSecondsPath": "$.n", "End": true}}}),
        json!({"n": MAX_DELAY_SECONDS}),
    );
    assert_eq!(st.status, Status::Running);
    let invoked = fx.commands.iter().any(|c| {
        matches!(c, Command::Invoke { request, .. } if request.timeout_seconds == Some(MAX_DELAY_SECONDS))
    });
    assert!(invoked, "{:?}", fx.commands);
    let timer = fx.commands.iter().any(|c| {
        matches!(c, Command::Timer { due_ms, .. } if *due_ms == NOW + MAX_DELAY_SECONDS as i64 * 1000)
    });
    assert!(timer, "the timeout is a durable timer: {:?}", fx.commands);
}

#[test]
fn a_huge_backoff_rate_with_full_jitter_retries_within_the_longest_delay() {
    for rate in [f64::MAX, 1e308, 1e10] {
        let def = compile(json!({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "sluice:function:f", "End": true,
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 99999999,
                       "MaxAttempts": 99999999, "BackoffRate": rate, "JitterStrategy": "FULL"}]
        }}}));
        let input = json!({});
        let (mut st, mut fx) = start(&def, &info(), input.clone(), NOW);
        for attempt in 0..5 {
            let Some(Command::Invoke { path, token, .. }) = fx.commands.first().cloned() else {
                panic!("attempt {attempt}: {:?}", fx.commands);
            };
            let failed = Event::TaskResult {
                path,
                token,
                outcome: TaskOutcome::Err {
                    error: "Boom".into(),
                    cause: String::new(),
                },
            };
            fx = apply(&def, &info(), &input, &mut st, failed, NOW);
            let (path, token, due_ms) = timer(&fx).expect("a retry timer");
            assert!(
                (NOW..=NOW + MAX_MS).contains(&due_ms),
                "rate {rate} attempt {attempt}: {due_ms}"
            );
            let fired = Event::TimerFired { path, token };
            fx = apply(&def, &info(), &input, &mut st, fired, NOW);
        }
        assert_eq!(st.status, Status::Running);
    }
}
