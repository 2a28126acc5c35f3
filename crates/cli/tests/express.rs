//! Distributed Maps with EXPRESS children through the real binary: the children run in memory
//! (no execution is stored for them), give the results STANDARD children give, call functions
//! and retry them, and a `kill -9` in the middle of a run is finished by `sluice resume` with
//! every item's result exactly once.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

mod common;
use common::server::Server;
use common::{json_lines_of, last_json_line, sluice};

/// Fails every call until the `open` file exists.
const GATE: &str = r#"
import os

def handler(event, context):
    if not os.path.exists(os.environ["OPEN"]):
        raise RuntimeError(f"item {event['n']}: the gate is closed")
    return {"n": event["n"]}
"#;

/// Logs every call; the first attempt for items 3, 10, 17, ... of each execution fails.
const WORKER: &str = r#"
import json, os

class Flaky(Exception):
    pass

def handler(event, context):
    n, run = event["n"], event["run"]
    with open(os.environ["CALLS"], "a") as log:
        log.write(json.dumps([run, n]) + "\n")
    mark = os.path.join(os.environ["MARKS"], f"{run}-{n}")
    if n % 7 == 3 and not os.path.exists(mark):
        open(mark, "w").close()
        raise Flaky(f"item {n} fails once")
    return {"n": n, "double": 2 * n}
"#;

/// A Distributed Map whose children call `work` (retried once), then wait a second.
fn fan(execution_type: &str, work: &str) -> Value {
    json!({
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 5,
                "ItemSelector": {"n.$": "$$.Map.Item.Value", "run.$": "$$.Execution.Name"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
                    "StartAt": "Work",
                    "States": {
                        "Work": {
                            "Type": "Task",
                            "Resource": work,
                            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1.0}],
                            "Next": "Nap"
                        },
                        "Nap": {"Type": "Wait", "Seconds": 1, "End": true}
                    }
                },
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "out", "Prefix": execution_type}
                },
                "End": true
            }
        }
    })
}

/// 60 items, 6 at a time, each EXPRESS child napping for a second.
fn napping_fan() -> Value {
    json!({
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 6,
                "ItemSelector": {"n.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "Nap",
                    "States": {
                        "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Double"},
                        "Double": {"Type": "Pass", "Parameters": {"n.$": "$.n", "v.$": "States.MathAdd($.n, $.n)"}, "End": true}
                    }
                },
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "out", "Prefix": "naps"}
                },
                "End": true
            }
        }
    })
}

/// 60 items, 6 at a time: each EXPRESS child passes the gate, then naps for a second. The
/// run fails only once every item failed, so that a redrive runs every item again.
fn gated_fan() -> Value {
    let mut flow = napping_fan();
    let fan = &mut flow["States"]["Fan"];
    fan["ToleratedFailureCount"] = json!(59);
    fan["ResultWriter"]["Parameters"]["Prefix"] = json!("gated");
    fan["ItemProcessor"]["StartAt"] = json!("Gate");
    fan["ItemProcessor"]["States"]["Gate"] =
        json!({"Type": "Task", "Resource": "sluice:function:gate", "Next": "Nap"});
    flow
}

fn write_project(dir: &Path) {
    std::fs::create_dir_all(dir.join("functions")).unwrap();
    std::fs::create_dir_all(dir.join("marks")).unwrap();
    std::fs::write(dir.join("functions/work.py"), WORKER).unwrap();
    std::fs::write(dir.join("functions/gate.py"), GATE).unwrap();
    let flows = [
        ("standard", fan("STANDARD", "sluice:function:work")),
        ("express", fan("EXPRESS", "sluice:function:work")),
        ("naps", napping_fan()),
        ("gated", gated_fan()),
    ];
    let mut listed = String::new();
    for (name, flow) in flows {
        std::fs::write(dir.join(format!("{name}.json")), flow.to_string()).unwrap();
        listed.push_str(&format!("  {name}: {name}.json\n"));
    }
    let project = format!(
        "storage: file://./data\nfunctions:\n  work: {{ runtime: python3, handler: functions/work.handler, concurrency: 5, env: {{ CALLS: '{}', MARKS: '{}' }} }}\n  gate: {{ runtime: python3, handler: functions/gate.handler, concurrency: 6, env: {{ OPEN: '{}' }} }}\nflows:\n{listed}",
        dir.join("calls.log").display(),
        dir.join("marks").display(),
        dir.join("open").display(),
    );
    std::fs::write(dir.join("sluice.yaml"), project).unwrap();
}

fn data(dir: &Path) -> PathBuf {
    dir.join(".sluice")
}

fn run_flow(dir: &Path, flow: &str, name: &str, items: u64) -> Value {
    let out = sluice(&data(dir))
        .arg("run")
        .arg(dir)
        .args(["--flow", flow, "--json", "--name", name, "--input"])
        .arg(json!({ "items": (0..items).collect::<Vec<_>>() }).to_string())
        .output()
        .unwrap();
    last_json_line(&out)
}

/// The stored children of execution `name`.
fn children(dir: &Path, name: &str) -> usize {
    json_lines_of(sluice(&data(dir)).args(["list", "--json", "--all", "--limit", "1000"]))
        .iter()
        .filter(|e| {
            e["execution"]
                .as_str()
                .is_some_and(|id| id.starts_with(&format!("{name}/Fan:")))
        })
        .count()
}

fn describe(dir: &Path, name: &str) -> Value {
    last_json_line(
        &sluice(&data(dir))
            .args(["describe", name, "--json"])
            .output()
            .unwrap(),
    )
}

/// The entries of the `ResultWriter` files a run with `prefix` wrote for `status`.
fn written(dir: &Path, prefix: &str, status: &str) -> Vec<Value> {
    let runs: Vec<_> = std::fs::read_dir(dir.join("data/out").join(prefix))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1, "one run wrote under {prefix}");
    let mut entries = Vec::new();
    for file in std::fs::read_dir(runs[0].path()).unwrap().flatten() {
        let name = file.file_name().to_string_lossy().to_string();
        if name.starts_with(&format!("{status}_")) {
            let text = std::fs::read(file.path()).unwrap();
            let page: Vec<Value> = serde_json::from_slice(&text).unwrap();
            entries.extend(page);
        }
    }
    entries
}

/// Each written entry's item number, input (without the execution's name) and output.
fn outcomes(entries: &[Value]) -> BTreeMap<u64, (Value, Value)> {
    let mut seen = BTreeMap::new();
    for e in entries {
        let mut input: Value = serde_json::from_str(e["Input"].as_str().unwrap()).unwrap();
        input.as_object_mut().unwrap().remove("run");
        let output: Value = serde_json::from_str(e["Output"].as_str().unwrap()).unwrap();
        let n = input["n"].as_u64().unwrap();
        assert!(
            seen.insert(n, (input, output)).is_none(),
            "item {n} written twice"
        );
    }
    seen
}

/// How many times `work` ran for each item of execution `run`.
fn calls(dir: &Path, run: &str) -> BTreeMap<u64, usize> {
    let text = std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default();
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let call: (String, u64) = serde_json::from_str(line).unwrap();
        if call.0 == run {
            *calls.entry(call.1).or_default() += 1;
        }
    }
    calls
}

#[test]
fn express_children_give_the_standard_results_without_storing_executions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_project(dir);

    let mut results = Vec::new();
    for (flow, name) in [("standard", "std-1"), ("express", "exp-1")] {
        let line = run_flow(dir, flow, name, 30);
        assert_eq!(line["status"], "SUCCEEDED", "{line}");
        let prefix = flow.to_uppercase();
        assert!(written(dir, &prefix, "FAILED").is_empty());
        let succeeded = outcomes(&written(dir, &prefix, "SUCCEEDED"));
        assert_eq!(succeeded.len(), 30, "{flow}: every item written");
        for (n, (_, output)) in &succeeded {
            assert_eq!(output, &json!({"n": n, "double": 2 * n}));
        }
        results.push(succeeded);

        let calls = calls(dir, name);
        let retried: Vec<u64> = (0..30).filter(|n| n % 7 == 3).collect();
        for n in 0..30 {
            let expected = if retried.contains(&n) { 2 } else { 1 };
            assert_eq!(calls.get(&n), Some(&expected), "{flow}: calls of item {n}");
        }
        let run = &describe(dir, name)["mapRuns"][0];
        assert_eq!(run["status"], "SUCCEEDED", "{run}");
        assert_eq!(run["itemsSucceeded"], 30, "{run}");
        assert_eq!(run["itemsFailed"], 0, "{run}");
        assert_eq!(run["itemsRunning"], 0, "{run}");
    }
    assert_eq!(results[0], results[1], "the same items and outputs");
    assert_eq!(
        children(dir, "std-1"),
        30,
        "STANDARD children are executions"
    );
    assert_eq!(children(dir, "exp-1"), 0, "EXPRESS children are not stored");
}

/// An FDL Map of EXPRESS children whose Task waits for a callback (which FDL validation lets by).
const FDL_CALLBACK: &str = "Type: StateMachine
Name: callback
SpecVersion: v1
StartAt: Fan
States:
  - Type: Map
    Name: Fan
    ItemsPath: $Input.items
    ItemConstructor:
      n.$: $Item
      run: fdl
    ToleratedFailurePercentage: 50
    ProcessorConfig:
      ExecutionMode: Express
    Processor:
      StartAt: Ask
      States:
        - Type: Task
          Name: Ask
          Action: FC:InvokeFunction
          TaskMode: WaitForCustomCallback
          Parameters:
            resourceArn: acs:fc:::functions/work
            invocationType: Sync
            body:
              n.$: $Input.n
              run: fdl
              token.$: $Context.Current.TaskToken
          End: true
    End: true
";

#[test]
fn an_express_child_may_not_wait_for_a_callback() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_project(dir);
    let asl = fan("EXPRESS", "sluice:function:work.waitForTaskToken");
    std::fs::write(dir.join("asl.json"), asl.to_string()).unwrap();
    let refused = sluice(&data(dir))
        .arg("run")
        .arg(dir.join("asl.json"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("state 'Fan', field ItemProcessor.States.Work.Resource")
            && err.contains(
                "EXPRESS children cannot use the '.waitForTaskToken' integration pattern"
            ),
        "{err}"
    );

    std::fs::write(dir.join("callback.yaml"), FDL_CALLBACK).unwrap();
    let project = std::fs::read_to_string(dir.join("sluice.yaml")).unwrap();
    std::fs::write(
        dir.join("sluice.yaml"),
        format!("{project}  callback: callback.yaml\n"),
    )
    .unwrap();
    let line = run_flow(dir, "callback", "cb-1", 2);
    assert_eq!(line["status"], "FAILED", "{line}");
    assert_eq!(line["error"], "States.ExceedToleratedFailureThreshold");
    let run = &describe(dir, "cb-1")["mapRuns"][0];
    assert_eq!(run["itemsFailed"], 2, "{run}");
    let failed = &run["failedItems"][0];
    assert_eq!(failed["error"], "States.Runtime", "{run}");
    assert!(
        failed["cause"]
            .as_str()
            .is_some_and(|c| c.contains("'.waitForTaskToken'")),
        "{run}"
    );
    assert!(calls(dir, "fdl").is_empty(), "the function is not called");
    assert_eq!(children(dir, "cb-1"), 0);
}

/// Runs `command` (a `sluice` process driving execution `name`), kills it with SIGKILL after
/// `after` while its map run is still running, and finishes it with `sluice resume`.
fn kill_then_resume(dir: &Path, mut command: std::process::Command, name: &str, after: Duration) {
    let mut victim = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    let before = &describe(dir, name)["mapRuns"][0];
    assert_eq!(
        before["status"], "RUNNING",
        "killed before the end: {before}"
    );
    let resumed = sluice(&data(dir))
        .arg("resume")
        .arg(dir)
        .arg("--json")
        .output()
        .unwrap();
    let line = last_json_line(&resumed);
    assert_eq!(line["execution"], name);
    assert_eq!(line["status"], "SUCCEEDED", "{line}");
}

#[test]
fn an_express_run_killed_mid_way_writes_every_item_once_after_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_project(dir);

    let mut victim = sluice(&data(dir));
    victim
        .arg("run")
        .arg(dir)
        .args(["--flow", "naps", "--json", "--name", "victim", "--input"])
        .arg(json!({ "items": (0..60).collect::<Vec<_>>() }).to_string());
    kill_then_resume(dir, victim, "victim", Duration::from_millis(3500));

    let mut items: Vec<u64> = written(dir, "naps", "SUCCEEDED")
        .iter()
        .map(|e| {
            let output: Value = serde_json::from_str(e["Output"].as_str().unwrap()).unwrap();
            let n = output["n"].as_u64().unwrap();
            assert_eq!(output["v"], 2 * n);
            n
        })
        .collect();
    items.sort();
    assert_eq!(
        items,
        (0..60).collect::<Vec<_>>(),
        "every item exactly once"
    );
    let run = &describe(dir, "victim")["mapRuns"][0];
    assert_eq!(run["itemsSucceeded"], 60, "{run}");
    assert_eq!(run["itemsRunning"], 0, "{run}");
    assert_eq!(children(dir, "victim"), 0);
}

/// A redrive of a Map of EXPRESS children killed mid-way: `sluice resume` runs again what the
/// redrive had not brought to success, and every item ends up written once, as succeeded.
#[test]
fn an_express_redrive_killed_mid_way_finishes_after_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_project(dir);
    let first = run_flow(dir, "gated", "gated-1", 60);
    assert_eq!(first["status"], "FAILED", "{first}");
    assert_eq!(describe(dir, "gated-1")["mapRuns"][0]["itemsFailed"], 60);

    std::fs::write(dir.join("open"), "").unwrap();
    let mut redrive = sluice(&data(dir));
    redrive.args(["redrive", "gated-1"]).arg(dir);
    kill_then_resume(dir, redrive, "gated-1", Duration::from_millis(4000));
    let mut items: Vec<u64> = written(dir, "gated", "SUCCEEDED")
        .iter()
        .map(|e| {
            let output: Value = serde_json::from_str(e["Output"].as_str().unwrap()).unwrap();
            output["n"].as_u64().unwrap()
        })
        .collect();
    items.sort();
    assert_eq!(items, (0..60).collect::<Vec<_>>(), "every item once");
    let run = &describe(dir, "gated-1")["mapRuns"][0];
    assert_eq!(run["itemsSucceeded"], 60, "{run}");
    assert_eq!(run["itemsFailed"], 0, "{run}");
}

#[test]
fn the_api_counts_express_items_and_lists_no_children() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_project(dir);
    let server = Server::start(&data(dir), dir);
    let machine = "arn:aws:states:local:000000000000:stateMachine:express";
    let input = json!({ "items": (0..12).collect::<Vec<_>>() });
    let started = server.ok(
        "StartExecution",
        json!({"stateMachineArn": machine, "name": "api-1", "input": input.to_string()}),
    );
    let arn = started["executionArn"].as_str().unwrap();
    server.await_status(arn, "SUCCEEDED");
    let runs = server.ok("ListMapRuns", json!({"executionArn": arn}))["mapRuns"].clone();
    let run_arn = runs[0]["mapRunArn"].as_str().unwrap();
    let described = server.ok("DescribeMapRun", json!({"mapRunArn": run_arn}));
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    for counts in ["itemCounts", "executionCounts"] {
        assert_eq!(described[counts]["succeeded"], 12, "{described}");
        assert_eq!(described[counts]["total"], 12, "{described}");
        assert_eq!(described[counts]["running"], 0, "{described}");
        assert_eq!(described[counts]["resultsWritten"], 12, "{described}");
    }
    let listed = server.ok("ListExecutions", json!({"mapRunArn": run_arn}));
    assert_eq!(listed["executions"], json!([]), "{listed}");
}
