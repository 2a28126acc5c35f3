//! Several `sluice` processes on one store: each drives only what it owns, a killed process's
//! executions are taken over, names are unique, and flows a process has not loaded are left alone.

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{
    copy_project, count_events, last_json_line, repo, slow_flow, sluice, sluice_on, write_flow,
};
use sluice_store::testing::TestSchema;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn status_of(data_dir: &Path, id: &str) -> String {
    let out = sluice(data_dir)
        .args(["describe", id, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    last_json_line(&out)["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits until a spawned process has written `needle` to the file its stderr goes to.
fn wait_for_text(path: &Path, needle: &str, child: &mut Child) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "process ended before saying '{needle}': {}",
            std::fs::read_to_string(path).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("'{needle}' never appeared in {}", path.display());
}

#[test]
fn two_runs_of_one_project_at_once_both_count_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("wordcount");
    copy_project(&repo().join("examples/wordcount"), &project);
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("run")
            .arg(&project)
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (spawn(), spawn());
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let line = last_json_line(&out);
        assert_eq!(line["status"], "SUCCEEDED", "{line}");
        assert_eq!(
            line["output"]["totals"],
            json!({"data_1": 12066, "data_2": 7934})
        );
    }
}

#[test]
fn a_killed_process_executions_are_finished_by_the_process_sharing_its_store() {
    killed_process_executions_are_finished_by_the_other(None);
}

#[test]
fn a_killed_process_executions_are_finished_by_the_process_sharing_its_postgres_store() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    killed_process_executions_are_finished_by_the_other(Some(schema.url()));
}

/// Two processes on one store (a data dir, or `store`): the first runs three executions and is
/// killed; the second, which was waiting for them, takes them over and finishes each item once.
fn killed_process_executions_are_finished_by_the_other(store: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(dir.path(), "naps.json", &slow_flow());
    let data = dir.path().join("data");
    let input = r#"{"items": [1, 2, 3, 4]}"#;

    let mut victim = sluice_on(&data, store)
        .arg("run")
        .arg(&flow)
        .args([
            "--json",
            "--name",
            "nap",
            "--executions",
            "3",
            "--input",
            input,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));

    let log = dir.path().join("survivor.err");
    let mut survivor = sluice_on(&data, store)
        .args(["resume", "--json"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for_text(&log, "is driven by process", &mut survivor);
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    for i in 1..=3 {
        assert!(
            count_events(&data, store, &format!("nap-{i}"), "MapIterationSucceeded") < 4,
            "nap-{i} was still running when its process was killed"
        );
    }

    let out = survivor.wait_with_output().unwrap();
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(out.status.success(), "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3, "one line per execution: {lines:?}\n{err}");
    for line in &lines {
        assert_eq!(line["status"], "SUCCEEDED", "{line}\n{err}");
        assert_eq!(
            line["output"],
            json!([{"v": 2}, {"v": 4}, {"v": 6}, {"v": 8}])
        );
    }
    for i in 1..=3 {
        let id = format!("nap-{i}");
        assert_eq!(
            count_events(&data, store, &id, "MapIterationSucceeded"),
            4,
            "{id}: each item exactly once"
        );
        assert_eq!(
            count_events(&data, store, &id, "ExecutionSucceeded"),
            1,
            "{id}"
        );
    }
}

#[test]
fn a_name_runs_once_and_another_input_under_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "echo.json",
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    );
    let data = dir.path().join("data");
    let run = |input: &str| {
        sluice(&data)
            .arg("run")
            .arg(&flow)
            .args(["--json", "--name", "once", "--input", input])
            .output()
            .unwrap()
    };
    let first = run(r#"{"a": 1}"#);
    assert!(first.status.success(), "{}", stderr(&first));
    let again = run(r#"{"a": 1}"#);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(last_json_line(&again)["output"], json!({"a": 1}));
    assert_eq!(
        count_events(&data, None, "once", "ExecutionStarted"),
        1,
        "the same name and input return the execution that exists"
    );

    let other = run(r#"{"a": 2}"#);
    assert_eq!(other.status.code(), Some(2), "{}", stderr(&other));
    assert!(
        stderr(&other).contains("ExecutionAlreadyExists"),
        "{}",
        stderr(&other)
    );
}

#[test]
fn processes_leave_alone_the_executions_of_flows_they_have_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("proj");
    std::fs::create_dir_all(project.join("functions")).unwrap();
    std::fs::write(
        project.join("functions/echo.py"),
        "def handler(event, context):\n    return {'echoed': event}\n",
    )
    .unwrap();
    std::fs::write(
        project.join("sluice.yaml"),
        "functions:\n  echo: { runtime: python3, handler: functions/echo.handler }\nflows:\n  nap: nap.json\n",
    )
    .unwrap();
    write_flow(
        &project,
        "nap.json",
        &json!({
            "StartAt": "Nap",
            "States": {
                "Nap": {"Type": "Wait", "Seconds": 2, "Next": "Call"},
                "Call": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:echo", "End": true}
            }
        }),
    );
    let data = project.join(".sluice");
    let mut victim = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("run")
        .arg(&project)
        .args(["--json", "--name", "proj-run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while count_events_if_any(&data, "proj-run") == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    victim.kill().unwrap();
    victim.wait().unwrap();

    let single = write_flow(
        dir.path(),
        "single.json",
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    );
    let out = sluice(&data).arg("run").arg(&single).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sluice(&data).args(["resume", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("left execution 'proj-run'"),
        "{}",
        stderr(&out)
    );
    assert_eq!(status_of(&data, "proj-run"), "RUNNING");

    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("resume")
        .arg(&project)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let line = last_json_line(&out);
    assert_eq!(line["execution"], "proj-run");
    assert_eq!(line["status"], "SUCCEEDED", "{line}");
    assert_eq!(line["output"], json!({"echoed": {}}));
}

/// History events of an execution, 0 while it does not exist yet.
fn count_events_if_any(data_dir: &Path, id: &str) -> usize {
    let out = sluice(data_dir)
        .args(["history", id, "--json"])
        .output()
        .unwrap();
    json_lines(&out).len()
}

#[test]
fn stop_aborts_an_execution_whichever_process_drives_it_and_redrive_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(dir.path(), "naps.json", &slow_flow());
    let data = dir.path().join("data");
    let input = r#"{"items": [1, 2, 3, 4]}"#;
    let start = |name: &str| {
        sluice(&data)
            .arg("run")
            .arg(&flow)
            .args(["--json", "--name", name, "--input", input])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let until_started = |id: &str| {
        let begin = Instant::now();
        while count_events_if_any(&data, id) == 0 {
            assert!(
                begin.elapsed() < Duration::from_secs(30),
                "{id} never started"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };

    // Driven by a live process: that process aborts it and reports ABORTED.
    let driver = start("busy");
    until_started("busy");
    let out = sluice(&data)
        .args([
            "stop",
            "busy",
            "--error",
            "Bored",
            "--cause",
            "enough naps",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(last_json_line(&out)["status"], "ABORTED");
    let driven = driver.wait_with_output().unwrap();
    assert_eq!(driven.status.code(), Some(1));
    let line = last_json_line(&driven);
    assert_eq!(line["status"], "ABORTED");
    assert_eq!(line["error"], "Bored");
    assert_eq!(line["cause"], "enough naps");
    assert_eq!(count_events(&data, None, "busy", "ExecutionAborted"), 1);

    // Left by a killed process: `stop` takes it over and aborts it itself.
    let mut victim = start("orphan");
    until_started("orphan");
    victim.kill().unwrap();
    victim.wait().unwrap();
    let out = sluice(&data).args(["stop", "orphan"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(status_of(&data, "orphan"), "ABORTED");

    // An aborted execution can be redriven from where it stood.
    let out = sluice(&data)
        .args(["redrive", "orphan", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let line = last_json_line(&out);
    assert_eq!(line["status"], "SUCCEEDED", "{line}");
    assert_eq!(
        line["output"],
        json!([{"v": 2}, {"v": 4}, {"v": 6}, {"v": 8}])
    );

    // A stopped execution cannot be stopped again.
    let out = sluice(&data).args(["stop", "busy"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot be stopped: it is ABORTED"),
        "{}",
        stderr(&out)
    );
}
