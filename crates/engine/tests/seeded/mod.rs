//! The clock and seed the interpreter is given decide everything time- or chance-dependent:
//! history timestamps, JSONata's `$now()`, `$millis()`, `$random()`, `$uuid()`, and full-jitter
//! retry delays.

use crate::harness::Run;
use serde_json::{Value, json};
use sluice_engine::effects::{Command, HistoryEvent};
use sluice_engine::interpreter::Event;
use sluice_engine::model::Status;
use sluice_engine::run_info::RunInfo;

/// A JSONata Pass that reads the clock and draws, then a Parallel that fails and is retried
/// three times with full jitter before its error is caught.
fn chancy_flow() -> Value {
    json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Draw",
        "States": {
            "Draw": {
                "Type": "Pass",
                "Output": {
                    "now": "{% $now() %}",
                    "millis": "{% $millis() %}",
                    "random": "{% $random() %}",
                    "again": "{% $random() %}",
                    "uuid": "{% $uuid() %}"
                },
                "Next": "Flaky"
            },
            "Flaky": {
                "Type": "Parallel",
                "Branches": [{
                    "StartAt": "Boom",
                    "States": { "Boom": { "Type": "Fail", "Error": "Boom", "Cause": "always" } }
                }],
                "Retry": [{
                    "ErrorEquals": ["Boom"],
                    "IntervalSeconds": 10,
                    "BackoffRate": 2,
                    "MaxAttempts": 3,
                    "JitterStrategy": "FULL"
                }],
                "Catch": [{ "ErrorEquals": ["States.ALL"], "Next": "Caught" }],
                "Next": "Caught"
            },
            "Caught": { "Type": "Succeed" }
        }
    })
}

/// What one run decided.
struct Decided {
    history: Vec<HistoryEvent>,
    /// Each retry's delay, ms.
    delays: Vec<i64>,
    output: Value,
}

/// Runs the flow as execution `name` from `start_ms` with `seed`, firing each timer when it is due, as a virtual
/// clock does.
fn run_with(name: &str, seed: u64, start_ms: i64) -> Decided {
    let mut info = RunInfo::local("chancy", name, start_ms);
    info.seed = seed;
    let (mut run, fx) = Run::start(&chancy_flow(), info, json!({}), start_ms);
    let mut now = start_ms;
    let mut history = fx.history;
    let mut commands = fx.commands;
    let mut delays = Vec::new();
    while run.state.status == Status::Running {
        let event = match commands.pop() {
            Some(Command::Timer {
                path,
                token,
                due_ms,
            }) => {
                delays.push(due_ms - now);
                now = due_ms;
                Event::TimerFired { path, token }
            }
            Some(Command::Continue { path, token }) => Event::Continue { path, token },
            other => panic!("unexpected command {other:?}"),
        };
        let fx = run.apply(event, now);
        history.extend(fx.history);
        commands.extend(fx.commands);
    }
    let output = history
        .iter()
        .find(|e| e.kind == "PassStateExited")
        .map(|e| e.details["output"].clone())
        .unwrap_or_default();
    Decided {
        history,
        delays,
        output,
    }
}

#[test]
fn the_same_seed_and_clock_decide_the_same_and_another_seed_differs() {
    let start = 1_577_836_800_000;
    let a = run_with("exec-1", 7, start);
    let b = run_with("exec-1", 7, start);
    assert_eq!(a.history, b.history, "timestamps, draws and delays repeat");
    assert_eq!(a.delays, b.delays);
    assert_eq!(a.delays.len(), 3, "three retries");
    for (attempt, delay) in a.delays.iter().enumerate() {
        let cap = 10_000 * 2i64.pow(attempt as u32);
        assert!((0..=cap).contains(delay), "retry {attempt}: {delay} ms");
    }
    let c = run_with("exec-1", 8, start);
    assert_ne!(a.delays, c.delays, "the seed decides the jitter");
    assert_ne!(a.output["random"], c.output["random"]);
    assert_ne!(a.output["uuid"], c.output["uuid"]);
}

#[test]
fn jsonata_reads_the_given_clock_and_draws_apart() {
    let start = 1_577_836_800_000;
    let run = run_with("exec-1", 7, start);
    let out = &run.output;
    assert_eq!(out["millis"], json!(start));
    assert_eq!(out["now"], json!("2020-01-01T00:00:00.000Z"));
    assert_ne!(out["random"], out["again"], "two draws of one state differ");
    let last = run.history.last().cloned().unwrap();
    assert_eq!(last.kind, "ExecutionSucceeded");
    let total: i64 = run.delays.iter().sum();
    assert_eq!(
        last.timestamp_ms,
        start + total,
        "time moves only by the delays"
    );
}

#[test]
fn executions_with_other_names_draw_otherwise() {
    let mine = run_with("exec-1", 7, 0);
    let theirs = run_with("exec-2", 7, 0);
    assert_ne!(mine.output["random"], theirs.output["random"]);
    assert_ne!(mine.delays, theirs.delays);
}
