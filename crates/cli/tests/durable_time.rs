//! Long loops and time through the real binary: a loop of Pass and Choice states commits as it
//! goes and resumes after `kill -9`; a seeded run on the virtual clock repeats exactly; a Task's
//! `TimeoutSeconds` ends a function that hangs.

use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

mod common;
use common::{history, last_json_line, sluice, write_flow};

/// Counts `$.i` up to `$.n`: two states entered per iteration.
fn counting_loop() -> Value {
    json!({
        "StartAt": "Inc",
        "States": {
            "Inc": {
                "Type": "Pass",
                "Parameters": { "i.$": "States.MathAdd($.i, 1)", "n.$": "$.n" },
                "Next": "Check"
            },
            "Check": {
                "Type": "Choice",
                "Choices": [{ "Variable": "$.i", "NumericLessThanPath": "$.n", "Next": "Inc" }],
                "Default": "Done"
            },
            "Done": { "Type": "Succeed" }
        }
    })
}

/// Runs `cmd` to its end, failing the test if it takes longer than `secs` (instead of hanging).
fn output_within(cmd: &mut std::process::Command, secs: u64) -> std::process::Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("still running after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Starts `sluice run FLOW --name ID --input INPUT` in the background and kills it (SIGKILL) once
/// its committed history satisfies `ready`, or after a minute.
fn run_and_kill_when(
    data: &Path,
    flow: &Path,
    id: &str,
    input: &Value,
    ready: impl Fn(&[Value]) -> bool,
) {
    let mut child = sluice(data)
        .arg("run")
        .arg(flow)
        .args(["--json", "--name", id, "--input"])
        .arg(input.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let seen = data.join("sluice.db").exists()
            && sluice(data)
                .args(["describe", id, "--json"])
                .output()
                .is_ok_and(|o| o.status.success())
            && ready(&history(data, id));
        if seen || Instant::now() > deadline {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["type"] == kind).count()
}

/// The commit count from the run's summary line (`... (N/s, C commits)`).
fn commits(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("state transitions in"))
        .unwrap_or_else(|| panic!("no summary line: {stderr}"));
    let before = line.trim_end_matches(" commits)");
    before
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no commit count in {line}"))
}

#[test]
fn a_fifty_thousand_iteration_loop_completes_committing_as_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(dir.path(), "flow.asl.json", &counting_loop());
    let out = sluice(dir.path())
        .arg("run")
        .arg(&flow)
        .args([
            "--json",
            "--name",
            "loop",
            "--input",
            r#"{"i": 0, "n": 50000}"#,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = last_json_line(&out);
    assert_eq!(line["status"], "SUCCEEDED");
    assert_eq!(line["output"], json!({"i": 50000, "n": 50000}));
    // 100,001 states entered, at most 1,000 per step, each step committed before the next.
    assert!(commits(&stderr) >= 100, "{stderr}");
    let events = history(dir.path(), "loop");
    assert_eq!(count(&events, "PassStateEntered"), 50000);
    assert_eq!(count(&events, "ChoiceStateEntered"), 50000);
}

#[test]
fn a_loop_killed_in_the_middle_resumes_where_it_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    // The loop pauses for 3 s at iteration 3,000, so that it is killed mid-way however slow
    // the machine is.
    let mut flow = counting_loop();
    flow["States"]["Check"]["Choices"] = json!([
        { "Variable": "$.i", "NumericEquals": 3000, "Next": "Pause" },
        { "Variable": "$.i", "NumericLessThanPath": "$.n", "Next": "Inc" }
    ]);
    flow["States"]["Pause"] = json!({ "Type": "Wait", "Seconds": 3, "Next": "Inc" });
    let flow = write_flow(dir.path(), "flow.asl.json", &flow);
    let data = dir.path().join("data");
    let n = 30000;
    // Killed once some steps are committed and long before the loop can end.
    run_and_kill_when(&data, &flow, "victim", &json!({"i": 0, "n": n}), |events| {
        count(events, "PassStateEntered") >= 2000
    });
    let before = count(&history(&data, "victim"), "PassStateEntered");
    assert!(
        (2000..n).contains(&before),
        "killed after {before} iterations"
    );

    let resumed = output_within(sluice(&data).args(["resume", "--json"]), 60);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let line = last_json_line(&resumed);
    assert_eq!(line["execution"], "victim");
    assert_eq!(line["status"], "SUCCEEDED");
    assert_eq!(line["output"], json!({"i": n, "n": n}));
    let events = history(&data, "victim");
    assert_eq!(count(&events, "PassStateEntered"), n, "each iteration once");
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (1..=events.len() as u64).collect::<Vec<_>>());
}

/// Reads the clock and draws in JSONata, then retries a failing Parallel with full jitter.
fn chancy_flow() -> Value {
    json!({
        "QueryLanguage": "JSONata",
        "StartAt": "Draw",
        "States": {
            "Draw": {
                "Type": "Pass",
                "Output": { "now": "{% $now() %}", "random": "{% $random() %}", "uuid": "{% $uuid() %}" },
                "Next": "Flaky"
            },
            "Flaky": {
                "Type": "Parallel",
                "Branches": [{
                    "StartAt": "Boom",
                    "States": { "Boom": { "Type": "Fail", "Error": "Boom" } }
                }],
                "Retry": [{
                    "ErrorEquals": ["Boom"],
                    "IntervalSeconds": 30,
                    "MaxAttempts": 4,
                    "JitterStrategy": "FULL"
                }],
                "Catch": [{ "ErrorEquals": ["States.ALL"], "Next": "Caught" }],
                "Next": "Caught"
            },
            "Caught": { "Type": "Succeed" }
        }
    })
}

/// Runs the flow with `seed` on the virtual clock into the data dir `label`; returns its history.
fn seeded_history(dir: &Path, label: &str, flow: &Path, seed: u64) -> Vec<Value> {
    let data = dir.join(label);
    let out = sluice(&data)
        .arg("run")
        .arg(flow)
        .args(["--json", "--virtual-clock", "--name", "again", "--seed"])
        .arg(seed.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(last_json_line(&out)["status"], "SUCCEEDED");
    history(&data, "again")
}

#[test]
fn a_seeded_run_on_the_virtual_clock_repeats_its_history_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(dir.path(), "flow.asl.json", &chancy_flow());
    let first = seeded_history(dir.path(), "first", &flow, 7);
    let second = seeded_history(dir.path(), "second", &flow, 7);
    assert_eq!(first, second, "timestamps, draws and retry delays repeat");
    assert_eq!(
        first[0]["timestamp_ms"], 1_577_836_800_000i64,
        "2020-01-01T00:00:00Z"
    );
    let retried: Vec<i64> = first
        .iter()
        .filter(|e| e["type"] == "ParallelStateStarted")
        .map(|e| e["timestamp_ms"].as_i64().unwrap())
        .collect();
    assert_eq!(retried.len(), 5, "the first attempt and four retries");
    let other = seeded_history(dir.path(), "other", &flow, 8);
    let other_retried: Vec<i64> = other
        .iter()
        .filter(|e| e["type"] == "ParallelStateStarted")
        .map(|e| e["timestamp_ms"].as_i64().unwrap())
        .collect();
    assert_ne!(retried, other_retried, "another seed, other delays");
}

/// Runs `flow` (one state whose output draws `id`, `other` and `n`) under seeds 7, 7 and 8.
fn assert_draws_repeat_under_a_seed(dir: &Path, flow: &Path) {
    let output = |label: &str, seed: u64| {
        let history = seeded_history(dir, label, flow, seed);
        history.last().unwrap()["details"]["output"].clone()
    };
    let first = output("first", 7);
    assert!(first["id"].is_string(), "{first}");
    assert_eq!(
        first,
        output("second", 7),
        "the same seed draws the same values"
    );
    assert_ne!(first["id"], first["other"], "two draws in one state differ");
    assert_ne!(first, output("other", 8), "another seed draws others");
}

#[test]
fn intrinsic_draws_repeat_under_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "draws.asl.json",
        &json!({
            "StartAt": "Draw",
            "States": {"Draw": {"Type": "Pass", "Parameters": {
                "id.$": "States.UUID()",
                "other.$": "States.UUID()",
                "n.$": "States.MathRandom(1, 1000000)"
            }, "End": true}}
        }),
    );
    assert_draws_repeat_under_a_seed(dir.path(), &flow);
}

#[test]
fn fdl_draws_repeat_under_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("draws.fdl.yaml");
    std::fs::write(
        &flow,
        "Type: StateMachine\nName: draws\nSpecVersion: v1\nStartAt: Draw\nStates:\n  - Type: Pass\n    Name: Draw\n    OutputConstructor:\n      id.$: uuid()\n      other.$: uuid()\n      n.$: mathRandom(1, 1000000)\n    End: true\n",
    )
    .unwrap();
    assert_draws_repeat_under_a_seed(dir.path(), &flow);
}

#[test]
fn a_task_timeout_fails_the_attempt_without_waiting_for_a_hanging_function() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    std::fs::create_dir_all(project.join("functions")).unwrap();
    std::fs::create_dir_all(project.join("flows")).unwrap();
    std::fs::write(
        project.join("sluice.yaml"),
        "functions:\n  sleepy: { runtime: python3, handler: functions/sleepy.handler, timeout: 60s }\nflows:\n  main: flows/main.json\n",
    )
    .unwrap();
    std::fs::write(
        project.join("functions/sleepy.py"),
        "import time\n\ndef handler(event, context):\n    time.sleep(30)\n    return event\n",
    )
    .unwrap();
    let flow = json!({
        "StartAt": "Call",
        "States": {"Call": {
            "Type": "Task", "Resource": "sluice:function:sleepy", "TimeoutSeconds": 1, "End": true
        }}
    });
    std::fs::write(project.join("flows/main.json"), flow.to_string()).unwrap();
    let started = Instant::now();
    let out = sluice(&project.join(".sluice"))
        .arg("run")
        .arg(project)
        .args(["--json", "--name", "sleepy"])
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let line = last_json_line(&out);
    assert_eq!(line["status"], "FAILED", "{line}");
    assert_eq!(line["error"], "States.Timeout");
    assert_eq!(line["cause"], Value::Null);
    let events = history(&project.join(".sluice"), "sleepy");
    assert_eq!(count(&events, "TaskTimedOut"), 1);
}

/// The JSON a command printed.
fn json_of(cmd: &mut std::process::Command) -> Value {
    last_json_line(&cmd.output().unwrap())
}

/// A Wait until a Timestamp a year ahead: the process is killed while it waits; resumed on the
/// virtual clock, the execution wakes exactly at the timestamp, a year of virtual time later.
#[test]
fn a_one_year_wait_survives_a_kill_and_fires_on_time_on_the_virtual_clock() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "year.asl.json",
        &json!({
            "StartAt": "Year",
            "States": {
                "Year": { "Type": "Wait", "TimestampPath": "$.until", "Next": "Woke" },
                "Woke": {
                    "Type": "Pass",
                    "Parameters": { "woke.$": "$$.State.EnteredTime", "until.$": "$.until" },
                    "End": true
                }
            }
        }),
    );
    let data = dir.path().join("data");
    let until = chrono::Utc::now() + chrono::Duration::days(365);
    let until_text = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // Killed a year before the Wait ends.
    run_and_kill_when(
        &data,
        &flow,
        "year",
        &json!({ "until": until_text }),
        |events| count(events, "WaitStateEntered") == 1,
    );
    let described = json_of(sluice(&data).args(["describe", "year", "--json"]));
    assert_eq!(described["status"], "RUNNING", "{described}");

    let resumed = output_within(
        sluice(&data).args(["resume", "--json", "--virtual-clock"]),
        60,
    );
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    // The resumed engine may finish the execution before `resume` lists what it waits for:
    // the store says how it ended.
    let line = json_of(sluice(&data).args(["describe", "year", "--json"]));
    assert_eq!(line["status"], "SUCCEEDED", "{line}");
    let woke = chrono::DateTime::parse_from_rfc3339(line["output"]["woke"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    let until_ms = until.timestamp() * 1000;
    assert!(
        (until_ms..until_ms + 1000).contains(&woke),
        "woke at {woke}, the Wait ends at {until_ms}"
    );
    let events = history(&data, "year");
    let entered = events
        .iter()
        .find(|e| e["type"] == "WaitStateEntered")
        .unwrap()["timestamp_ms"]
        .as_i64()
        .unwrap();
    assert!(
        woke - entered >= 364 * 86_400_000,
        "a year passed between {entered} and {woke}"
    );
}
