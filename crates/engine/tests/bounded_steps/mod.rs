//! A loop of Pass and Choice states runs in steps of bounded size, each asking to be continued.

use crate::harness::{Run, continues};
use serde_json::{Value, json};
use sluice_engine::effects::HistoryEvent;
use sluice_engine::interpreter::{self, Event, MAX_TRANSITIONS_PER_STEP};
use sluice_engine::model::Status;
use sluice_engine::run_info::RunInfo;

/// Counts `$.i` up to `$.n`: two states entered per iteration. `tag` ends every state name.
fn counting_loop(tag: &str) -> Value {
    let (inc, check, done) = (
        format!("Inc{tag}"),
        format!("Check{tag}"),
        format!("Done{tag}"),
    );
    json!({
        "StartAt": inc,
        "States": {
            inc.clone(): {
                "Type": "Pass",
                "Parameters": { "i.$": "States.MathAdd($.i, 1)", "n.$": "$.n" },
                "Next": check
            },
            check: {
                "Type": "Choice",
                "Choices": [{ "Variable": "$.i", "NumericLessThanPath": "$.n", "Next": inc }],
                "Default": done
            },
            done: { "Type": "Succeed" }
        }
    })
}

#[test]
fn a_ten_thousand_iteration_loop_runs_in_bounded_steps_and_survives_reloads() {
    let info = RunInfo::local("loop", "exec-1", 0);
    let (mut run, mut fx) = Run::start(&counting_loop(""), info, json!({"i": 0, "n": 10_000}), 0);
    let mut history: Vec<HistoryEvent> = Vec::new();
    let mut steps = 1;
    loop {
        assert!(
            fx.transitions <= MAX_TRANSITIONS_PER_STEP,
            "step {steps} entered {} states",
            fx.transitions
        );
        // Each entered state records at most its Entered and Exited events.
        assert!(
            fx.history.len() as u64 <= 2 * MAX_TRANSITIONS_PER_STEP + 2,
            "step {steps} recorded {} events",
            fx.history.len()
        );
        history.extend(fx.history);
        let mut next = continues(&fx.commands);
        if run.state.status != Status::Running {
            assert!(next.is_empty(), "a finished execution asks to continue");
            break;
        }
        assert_eq!(next.len(), 1, "step {steps}: {:?}", fx.commands);
        assert_eq!(
            fx.commands.len(),
            1,
            "only the continuation: {:?}",
            fx.commands
        );
        if steps % 3 == 0 {
            // As after a restart: the committed state alone says what to continue.
            run.reload();
            let again = continues(&interpreter::pending_commands(&run.state));
            assert_eq!(again.len(), 1);
            next = again;
        }
        fx = run.apply(next.remove(0), steps);
        steps += 1;
    }
    assert_eq!(run.state.status, Status::Succeeded);
    assert_eq!(run.state.output, Some(json!({"i": 10_000, "n": 10_000})));
    let entered = history
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .count() as u64;
    assert_eq!(entered, 2 * 10_000 + 1);
    assert!(
        steps as u64 >= entered / MAX_TRANSITIONS_PER_STEP,
        "{entered} states in {steps} steps"
    );
    let ids: Vec<u64> = history.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=history.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        history.last().map(|e| e.kind.as_str()),
        Some("ExecutionSucceeded")
    );
}

#[test]
fn a_stale_continue_does_nothing() {
    let info = RunInfo::local("loop", "exec-1", 0);
    let (mut run, fx) = Run::start(&counting_loop(""), info, json!({"i": 0, "n": 5_000}), 0);
    let first = continues(&fx.commands).remove(0);
    let fx = run.apply(first.clone(), 1);
    assert_eq!(fx.transitions, MAX_TRANSITIONS_PER_STEP);
    let again = run.apply(first, 2);
    assert!(again.history.is_empty() && again.commands.is_empty());
}

#[test]
fn loops_in_parallel_branches_pause_and_continue_each_at_its_own_path() {
    let definition = json!({
        "StartAt": "Both",
        "States": {
            "Both": { "Type": "Parallel", "Branches": [counting_loop("A"), counting_loop("B")], "End": true }
        }
    });
    let info = RunInfo::local("loops", "exec-1", 0);
    let (mut run, fx) = Run::start(&definition, info, json!({"i": 0, "n": 1_500}), 0);
    let mut pending = continues(&fx.commands);
    let mut now = 0;
    while run.state.status == Status::Running {
        assert_eq!(
            pending.len(),
            continues(&interpreter::pending_commands(&run.state)).len()
        );
        assert!(
            !pending.is_empty(),
            "a running execution with nothing to do"
        );
        let mut next = Vec::new();
        for event in pending {
            let Event::Continue { path, .. } = &event else {
                unreachable!()
            };
            assert_eq!(path.len(), 1, "a branch's frame is one level down");
            now += 1;
            let fx = run.apply(event, now);
            assert!(fx.transitions <= MAX_TRANSITIONS_PER_STEP);
            next.extend(continues(&fx.commands));
        }
        pending = next;
    }
    let done = json!({"i": 1_500, "n": 1_500});
    assert_eq!(run.state.status, Status::Succeeded);
    assert_eq!(run.state.output, Some(json!([done.clone(), done])));
}
