//! End-to-end tests of the `sluice` binary: real processes, a real SQLite file.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod checks;
mod common;
mod http;
use common::{
    copy_project, copy_project_without, count_events, json_lines_of, last_json_line, repo,
    slow_flow, sluice, sluice_on, write_flow,
};
use sluice_store::testing::TestSchema;

#[test]
fn hello_example_runs_to_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = sluice(dir.path())
        .arg("run")
        .arg(repo().join("examples/hello/flow.asl.json"))
        .arg("--input")
        .arg(format!(
            "@{}",
            repo().join("examples/hello/input.json").display()
        ))
        .arg("--json")
        .arg("--virtual-clock")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = last_json_line(&out);
    assert_eq!(line["status"], "SUCCEEDED");
    assert_eq!(line["output"], json!({"orders": 3, "revenue": 47}));
}

#[test]
fn failing_flow_reports_error_and_exit_code_one() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "fail.json",
        &json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "it broke"}}}),
    );
    let out = sluice(dir.path())
        .arg("run")
        .arg(&flow)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = last_json_line(&out);
    assert_eq!(line["status"], "FAILED");
    assert_eq!(line["error"], "Boom");
    assert_eq!(line["cause"], "it broke");
}

#[test]
fn validate_reports_every_problem_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.asl.json");
    std::fs::write(
        &path,
        r#"{
  "StartAt": "First",
  "States": {
    "First": { "Type": "Pass", "Next": "Secnd" },
    "Second": { "Type": "Pass", "End": true },
    "Pick": { "Type": "Choice", "Choices": [], "Default": "First" },
    "Loose": { "Type": "Task", "Resource": "sluice:function:f" }
  }
}
"#,
    )
    .unwrap();
    let out = sluice(dir.path())
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.asl.json:4:"),
        "Next typo at line 4: {err}"
    );
    assert!(err.contains("Secnd"), "{err}");
    assert!(
        err.contains("broken.asl.json:6:"),
        "empty Choices at line 6: {err}"
    );
    assert!(
        err.contains("broken.asl.json:7:"),
        "missing Next/End at line 7: {err}"
    );
    let same_run = sluice(dir.path()).arg("run").arg(&path).output().unwrap();
    assert_eq!(
        same_run.status.code(),
        Some(2),
        "run refuses an invalid flow"
    );
}

#[test]
fn kill_dash_nine_then_resume_finishes_with_the_same_output() {
    let output = kill_dash_nine_then_resume(None, &slow_flow(), &json!({}), 4);
    assert_eq!(output, json!([{"v": 2}, {"v": 4}, {"v": 6}, {"v": 8}]));
}

#[test]
fn kill_dash_nine_then_resume_finishes_with_the_same_output_on_postgres() {
    if let Some(schema) = TestSchema::create() {
        let output = kill_dash_nine_then_resume(Some(schema.url()), &slow_flow(), &json!({}), 4);
        assert_eq!(output, json!([{"v": 2}, {"v": 4}, {"v": 6}, {"v": 8}]));
    }
}

/// An inline Map of 300 items, ten at a time, every tenth item waiting two seconds.
fn wide_map() -> (Value, Value) {
    let flow = json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 10,
                "ItemProcessor": {
                    "StartAt": "Nap",
                    "States": {
                        "Nap": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Double"},
                        "Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.i, $.i)"}, "End": true}
                    }
                },
                "End": true
            }
        }
    });
    let items: Vec<Value> = (0..300)
        .map(|i| json!({"i": i, "wait": if i % 10 == 0 { 2 } else { 0 }}))
        .collect();
    (flow, json!({ "items": items }))
}

#[test]
fn kill_dash_nine_in_a_wide_inline_map_then_resume_finishes_with_the_same_output() {
    let (flow, input) = wide_map();
    let output = kill_dash_nine_then_resume(None, &flow, &input, 300);
    let expected: Vec<Value> = (0..300).map(|i| json!({ "v": 2 * i })).collect();
    assert_eq!(output, json!(expected));
}

#[test]
fn kill_dash_nine_in_a_wide_inline_map_then_resume_on_postgres() {
    if let Some(schema) = TestSchema::create() {
        let (flow, input) = wide_map();
        let output = kill_dash_nine_then_resume(Some(schema.url()), &flow, &input, 300);
        let expected: Vec<Value> = (0..300).map(|i| json!({ "v": 2 * i })).collect();
        assert_eq!(output, json!(expected));
    }
}

/// Kills a process in the middle of a flow whose Map has `items` items, resumes it with another,
/// and checks that it ends as an uninterrupted run does, each item done once. Returns the output.
fn kill_dash_nine_then_resume(
    store: Option<&str>,
    flow: &Value,
    input: &Value,
    items: usize,
) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(dir.path(), "slow.json", flow);
    let input = input.to_string();

    let reference = sluice(&dir.path().join("reference"))
        .arg("run")
        .arg(&flow)
        .args([
            "--json",
            "--virtual-clock",
            "--name",
            "ref",
            "--input",
            &input,
        ])
        .output()
        .unwrap();
    assert!(reference.status.success());
    let expected = last_json_line(&reference)["output"].clone();

    let data = dir.path().join("crashy");
    let mut child = sluice_on(&data, store)
        .arg("run")
        .arg(&flow)
        .args(["--json", "--name", "victim", "--input", &input])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        count_events(&data, store, "victim", "MapIterationSucceeded") < items,
        "the process was killed before the Map finished"
    );

    let resumed = sluice_on(&data, store)
        .args(["resume", "--json"])
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let line = last_json_line(&resumed);
    assert_eq!(line["execution"], "victim");
    assert_eq!(line["status"], "SUCCEEDED");
    assert_eq!(line["output"], expected);
    assert_eq!(
        count_events(&data, store, "victim", "MapIterationSucceeded"),
        items,
        "each item exactly once"
    );
    assert_eq!(
        count_events(&data, store, "victim", "ExecutionSucceeded"),
        1
    );
    expected
}

#[test]
fn list_describe_and_history_show_the_execution() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "two.json",
        &json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": true}}}),
    );
    let out = sluice(dir.path())
        .arg("run")
        .arg(&flow)
        .args(["--json", "--name", "seen", "--input", "{\"x\": 1}"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let list = sluice(dir.path()).args(["list"]).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("seen") && text.contains("SUCCEEDED"),
        "{text}"
    );
    let describe = sluice(dir.path())
        .args(["describe", "seen", "--json"])
        .output()
        .unwrap();
    let d: Value = serde_json::from_slice(&describe.stdout).unwrap();
    assert_eq!(d["output"], json!({"x": 1}));
    assert_eq!(
        count_events(dir.path(), None, "seen", "PassStateEntered"),
        2
    );
    assert_eq!(
        count_events(dir.path(), None, "seen", "ExecutionStarted"),
        1
    );
}

/// A copy of examples/wordcount-distributed in `dir`, without its run state or results.
fn distributed_project(dir: &Path) -> PathBuf {
    let project = dir.join("wordcount-distributed");
    copy_project_without(
        &repo().join("examples/wordcount-distributed"),
        &project,
        &["results"],
    );
    project
}

#[test]
fn distributed_wordcount_example_counts_every_object_once() {
    let dir = tempfile::tempdir().unwrap();
    let project = distributed_project(dir.path());
    count_words_distributed(&project, None);
}

#[test]
fn distributed_wordcount_counts_every_object_once_on_postgres() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = distributed_project(dir.path());
    count_words_distributed(&project, Some(schema.url()));
    // The children and their items are in PostgreSQL too.
    let rows = listed(&project, Some(schema.url()));
    assert_eq!(rows.len(), 9, "the run and its 8 children: {rows:?}");
}

#[test]
fn distributed_wordcount_counts_the_same_with_the_builtin_mapper() {
    let dir = tempfile::tempdir().unwrap();
    let project = distributed_project(dir.path());
    let config = std::fs::read_to_string(project.join("sluice.yaml")).unwrap();
    let builtin: String = config
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("mapper:") {
                "  mapper: { runtime: builtin, handler: count-by, options: { field: value } }"
            } else {
                l
            }
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(config, builtin, "the example declares a mapper");
    std::fs::write(project.join("sluice.yaml"), builtin).unwrap();
    std::fs::remove_file(project.join("functions/mapper.py")).unwrap();
    count_words_distributed(&project, None);
}

#[test]
fn a_builtin_function_with_an_unknown_handler_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sluice.yaml"),
        "functions:\n  m: { runtime: builtin, handler: count-words, colour: red }\nflows: {}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("run")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "no built-in handler 'count-words' (built-in handlers: count-by, ack, postgres-upsert, mysql-upsert, unzip, copy-files, append-objects)"
        ),
        "{err}"
    );
    assert!(
        err.contains("unknown field 'colour', expected one of runtime, handler"),
        "{err}"
    );
    assert!(err.contains("sluice.yaml:2"), "{err}");
}

/// Runs the distributed word count of `project` (on `store`, or the default one) and checks its
/// exact totals and its results.
fn count_words_distributed(project: &Path, store: Option<&str>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.env_remove("SLUICE_STORE");
    if let Some(store) = store {
        cmd.env("SLUICE_STORE", store);
    }
    let out = cmd.arg("run").arg(project).arg("--json").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = last_json_line(&out);
    assert_eq!(line["status"], "SUCCEEDED", "{line}");
    assert_eq!(
        line["output"],
        json!({"totals": {"data_1": 2703, "data_2": 1297}, "objects": 8, "failedResultFiles": 0})
    );
    let manifests: Vec<_> = walk(&project.join("data/results"))
        .into_iter()
        .filter(|p| p.ends_with("manifest.json"))
        .collect();
    assert_eq!(manifests.len(), 1, "the ResultWriter wrote one manifest");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

/// Asserts that `sluice run` of the word count example counted its sample exactly.
fn assert_counted_exactly(out: &std::process::Output, flow: &str) {
    assert!(
        out.status.success(),
        "{flow}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = last_json_line(out);
    assert_eq!(line["status"], "SUCCEEDED", "{flow}: {line}");
    assert_eq!(
        line["output"]["totals"],
        json!({"data_1": 12066, "data_2": 7934}),
        "{flow}"
    );
    assert_eq!(line["output"]["shards"], 8, "{flow}");
}

#[test]
fn wordcount_example_counts_exactly_with_both_flows() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("wordcount");
    copy_project(&repo().join("examples/wordcount"), &project);
    for flow in ["wordcount", "wordcount-asl"] {
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .env_remove("SLUICE_STORE")
            .arg("run")
            .arg(&project)
            .args(["--flow", flow, "--json"])
            .output()
            .unwrap();
        assert_counted_exactly(&out, flow);
    }
    let logs = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--data-dir")
        .arg(project.join(".sluice"))
        .args(["logs", "splitter"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(text.contains("split 4 objects into 8 shards"), "{text}");
}

#[test]
fn misbehaving_functions_fail_their_tasks_with_lambda_errors_and_retry_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("faulty");
    copy_project(&repo().join("crates/cli/tests/fixtures/faulty"), &project);
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("run")
        .arg(&project)
        .args(["--json", "--virtual-clock"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let output = last_json_line(&out)["output"].clone();
    assert_eq!(
        output[0],
        json!({"attempts": 3}),
        "two failures retried, third call succeeds"
    );
    assert_eq!(output[1]["Error"], "States.Timeout");
    assert_eq!(output[2]["Error"], "Runtime.ExitError");
    assert_eq!(output[3]["Error"], "Runtime.MarshalError");
    assert_eq!(output[4]["Error"], "ValueError");
    let cause: Value = serde_json::from_str(output[4]["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["errorMessage"], "boom");
    assert_eq!(cause["errorType"], "ValueError");
}

#[test]
fn a_project_naming_an_undeclared_function_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    std::fs::write(
        dir.path().join("sluice.yaml"),
        "flows:\n  main: flows/main.json\n",
    )
    .unwrap();
    write_flow(
        &dir.path().join("flows"),
        "main.json",
        &json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sluice:function:nobody", "End": true}}}),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("run")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nobody"), "{err}");
}

#[test]
fn invoke_calls_an_example_function_and_repeat_reports_latencies() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("wordcount");
    copy_project(&repo().join("examples/wordcount"), &project);
    let records = dir.path().join("records.jsonl");
    let lines: String = (0..5)
        .map(|i| {
            format!(
                "{}\n",
                json!({"id": i, "user": "u000001", "value": format!("data_{}", i % 2 + 1)})
            )
        })
        .collect();
    std::fs::write(&records, &lines).unwrap();
    let source = format!("file://{}", records.display());

    let out = sluice(&dir.path().join(".sluice"))
        .arg("invoke")
        .arg(&project)
        .arg("splitter")
        .arg("--input")
        .arg(json!({"source": source, "shard_lines": 2}).to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let output: Value = serde_json::from_slice(&out.stdout).expect("the output as JSON");
    let ends: Vec<u64> = output["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["end"].as_u64().unwrap())
        .collect();
    let line_end = |n: usize| {
        lines
            .split_inclusive('\n')
            .take(n)
            .map(str::len)
            .sum::<usize>() as u64
    };
    assert_eq!(
        ends,
        vec![line_end(2), line_end(4), line_end(5)],
        "{output}"
    );
    assert!(out.stderr.is_empty(), "no statistics without --repeat");

    let shard = output["shards"][1].clone();
    let mut event = shard.clone();
    event["partials"] = json!("intermediate/invoke/");
    let out = sluice(&dir.path().join(".sluice"))
        .arg("invoke")
        .arg(&project)
        .arg("mapper")
        .arg("--input")
        .arg(event.to_string())
        .args(["--repeat", "5", "--warmup", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let output: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(output["records"], 2, "{output}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stats: Value = serde_json::from_str(stderr.trim()).expect("one JSON line of statistics");
    assert_eq!(stats["function"], "mapper");
    assert_eq!(stats["calls"], 5);
    assert_eq!(stats["warm_calls"], 3);
    assert!(stats["cold_start_us"].as_f64().unwrap() > 0.0, "{stats}");
    let (p50, p99, max) = (
        stats["p50_us"].as_f64().unwrap(),
        stats["p99_us"].as_f64().unwrap(),
        stats["max_us"].as_f64().unwrap(),
    );
    assert!(
        0.0 < p50 && p50 <= stats["p90_us"].as_f64().unwrap() && p99 <= max,
        "{stats}"
    );
    let partial = project.join("data/intermediate/invoke/shard-00001.json");
    let counts: Value = serde_json::from_slice(&std::fs::read(partial).unwrap()).unwrap();
    assert_eq!(counts, json!({"data_1": 1, "data_2": 1}));

    let out = sluice(&dir.path().join(".sluice"))
        .arg("invoke")
        .arg(&project)
        .arg("mapper")
        .arg("--input")
        .arg(event.to_string())
        .args(["--repeat", "2", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = last_json_line(&out);
    assert_eq!(line["output"]["records"], 2, "{line}");
    assert_eq!(line["error"], Value::Null);
    assert_eq!(line["stats"]["calls"], 2, "{line}");
    assert_eq!(line["stats"]["warm_calls"], 1, "{line}");

    let out = sluice(&dir.path().join(".sluice"))
        .arg("invoke")
        .arg(&project)
        .arg("nobody")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("declared: splitter, mapper, reducer"));
}

/// The executions `sluice list --all --json` shows, run in `dir` with `store` (or none given).
fn listed(dir: &Path, store: Option<&str>) -> Vec<Value> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.current_dir(dir).env_remove("SLUICE_STORE");
    if let Some(store) = store {
        cmd.env("SLUICE_STORE", store);
    }
    json_lines_of(cmd.args(["list", "--all", "--json"]))
}

#[test]
fn wordcount_counts_exactly_on_a_postgres_store_given_by_env() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("wordcount");
    copy_project(&repo().join("examples/wordcount"), &project);
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .env("SLUICE_STORE", schema.url())
        .arg("run")
        .arg(&project)
        .arg("--json")
        .output()
        .unwrap();
    assert_counted_exactly(&out, "wordcount");
    let id = last_json_line(&out)["execution"].clone();
    assert!(!project.join(".sluice/sluice.db").exists());
    let rows = listed(&project, Some(schema.url()));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (&rows[0]["execution"], &rows[0]["status"]),
        (&id, &json!("SUCCEEDED"))
    );
    assert!(listed(&project, None).is_empty());
}

/// A project with one Pass flow and the given `state:` line.
fn pass_project(dir: &Path, state: &str) -> PathBuf {
    let project = dir.join("pass");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("sluice.yaml"),
        format!("state: {state}\nflows:\n  main: main.json\n"),
    )
    .unwrap();
    write_flow(
        &project,
        "main.json",
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 7, "End": true}}}),
    );
    project
}

#[test]
fn a_project_keeps_its_executions_in_the_store_its_state_names() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let project = pass_project(dir.path(), schema.url());
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .env_remove("SLUICE_STORE")
        .arg("run")
        .arg(&project)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(last_json_line(&out)["output"], 7);
    assert!(!project.join(".sluice/sluice.db").exists());
    // Read back from the project directory through its `state:`.
    assert_eq!(listed(&project, None).len(), 1);
    // A store given on the command line comes first.
    let other = dir.path().join("other.db");
    assert!(listed(&project, Some(other.to_str().unwrap())).is_empty());
}

#[test]
fn a_project_state_that_is_no_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let project = pass_project(dir.path(), "mysql://localhost/db");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .env_remove("SLUICE_STORE")
        .arg("run")
        .arg(&project)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported store 'mysql://'"), "{err}");
    // A relative SQLite path is the project's own file.
    let project = pass_project(&dir.path().join("b"), "state/runs.db");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .env_remove("SLUICE_STORE")
        .arg("run")
        .arg(&project)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(project.join("state/runs.db").exists());
}
