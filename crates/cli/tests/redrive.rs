//! `sluice redrive` through the real binary: a failed execution restarts from the state that
//! failed, and every Map item (Distributed or inline) that succeeded keeps its result without
//! calling its function again. A Python function logs each call, so the calls can be counted.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

mod common;
use common::{last_json_line, sluice};

/// Fails for ids 9, 22, 35 until the `fixed` file exists; logs every call.
const WORKER: &str = r#"
import json, os

def handler(event, context):
    with open(os.environ["CALLS"], "a") as log:
        log.write(json.dumps(event["id"]) + "\n")
    if event["id"] % 13 == 9 and not os.path.exists(os.environ["FIXED"]):
        raise ValueError(f"item {event['id']} is not fixed yet")
    return {"id": event["id"], "square": event["id"] * event["id"]}
"#;

fn task() -> Value {
    json!({"Type": "Task", "Resource": "sluice:function:work", "End": true})
}

/// Before (a call with id -1), then a Distributed Map over 40 items, 4 at a time, whose
/// children are of `execution_type` (STANDARD or EXPRESS).
fn distributed_flow(execution_type: &str) -> Value {
    json!({
        "StartAt": "Before",
        "States": {
            "Before": {
                "Type": "Task",
                "Resource": "sluice:function:work",
                "Parameters": {"id": -1},
                "ResultPath": "$.before",
                "Next": "Fan"
            },
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.ids",
                "MaxConcurrency": 4,
                "ItemSelector": {"id.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
                    "StartAt": "Work",
                    "States": {"Work": task()}
                },
                "ResultPath": "$.results",
                "Next": "Report"
            },
            "Report": {
                "Type": "Pass",
                "Parameters": {"results.$": "$.results", "redrives.$": "$$.Execution.RedriveCount"},
                "End": true
            }
        }
    })
}

/// An inline Map, one item at a time.
fn inline_flow() -> Value {
    json!({
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.ids",
                "MaxConcurrency": 1,
                "ItemSelector": {"id.$": "$$.Map.Item.Value"},
                "ItemProcessor": {"StartAt": "Work", "States": {"Work": task()}},
                "End": true
            }
        }
    })
}

fn write_project(dir: &Path) {
    std::fs::create_dir_all(dir.join("functions")).unwrap();
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::write(dir.join("functions/work.py"), WORKER).unwrap();
    for (file, execution_type) in [("fan", "STANDARD"), ("fan-express", "EXPRESS")] {
        let flow = distributed_flow(execution_type).to_string();
        std::fs::write(dir.join(format!("flows/{file}.asl.json")), flow).unwrap();
    }
    std::fs::write(dir.join("flows/each.asl.json"), inline_flow().to_string()).unwrap();
    let project = format!(
        "functions:\n  work: {{ runtime: python3, handler: functions/work.handler, concurrency: 4, env: {{ CALLS: '{}', FIXED: '{}' }} }}\nflows:\n  fan: flows/fan.asl.json\n  fan-express: flows/fan-express.asl.json\n  each: flows/each.asl.json\n",
        dir.join("calls.log").display(),
        dir.join("fixed").display()
    );
    std::fs::write(dir.join("sluice.yaml"), project).unwrap();
}

/// How many times the function ran per id, and the log emptied for the next phase.
fn take_calls(dir: &Path) -> BTreeMap<i64, usize> {
    let path = dir.join("calls.log");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::remove_file(&path).ok();
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        *calls
            .entry(line.trim().parse::<i64>().unwrap())
            .or_default() += 1;
    }
    calls
}

fn run_flow(dir: &Path, flow: &str, name: &str, ids: &[i64]) -> Value {
    let out = sluice(&dir.join(".sluice"))
        .arg("run")
        .arg(dir)
        .args(["--flow", flow, "--json", "--name", name, "--input"])
        .arg(json!({ "ids": ids }).to_string())
        .output()
        .unwrap();
    last_json_line(&out)
}

fn redrive(dir: &Path, name: &str) -> std::process::Output {
    sluice(&dir.join(".sluice"))
        .args(["redrive", name])
        .arg(dir)
        .arg("--json")
        .output()
        .unwrap()
}

#[test]
fn redrive_reruns_only_the_failed_items_of_a_distributed_map() {
    redrive_distributed_map("fan");
}

/// EXPRESS children are not stored: their failed items run again as new children.
#[test]
fn redrive_reruns_only_the_failed_items_of_a_map_of_express_children() {
    redrive_distributed_map("fan-express");
}

/// Runs `flow` until its Distributed Map fails, fixes the function, redrives, and checks
/// which items ran again.
fn redrive_distributed_map(flow: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_project(dir);
    let ids: Vec<i64> = (0..40).collect();

    let first = run_flow(dir, flow, "fan-1", &ids);
    assert_eq!(first["status"], "FAILED", "{first}");
    assert_eq!(first["error"], "States.ExceedToleratedFailureThreshold");
    let first_calls = take_calls(dir);
    assert_eq!(first_calls.get(&-1), Some(&1));
    assert_eq!(first_calls.get(&9), Some(&1), "{first_calls:?}");
    assert!(
        first_calls.len() < 41,
        "a failed run stops starting items: {first_calls:?}"
    );

    std::fs::write(dir.join("fixed"), "").unwrap();
    let described = sluice(&dir.join(".sluice"))
        .args(["describe", "fan-1", "--json"])
        .output()
        .unwrap();
    let described = last_json_line(&described);
    assert_eq!(described["redriveStatus"], "REDRIVABLE", "{described}");
    assert_eq!(described["mapRuns"][0]["status"], "FAILED", "{described}");

    let out = redrive(dir, "fan-1");
    let second = last_json_line(&out);
    assert_eq!(second["status"], "SUCCEEDED", "{second}");
    let expected: Vec<Value> = ids
        .iter()
        .map(|i| json!({"id": i, "square": i * i}))
        .collect();
    assert_eq!(second["output"]["results"], json!(expected));
    assert_eq!(second["output"]["redrives"], 1);

    let second_calls = take_calls(dir);
    assert_eq!(
        second_calls.get(&-1),
        None,
        "the state before the Map is not run again"
    );
    for id in &ids {
        let before = first_calls.get(id).copied().unwrap_or(0);
        let now = second_calls.get(id).copied().unwrap_or(0);
        let failed_before = before == 1 && id % 13 == 9;
        match (before, failed_before) {
            (0, _) => assert_eq!(now, 1, "item {id} never started runs once on redrive"),
            (1, true) => assert_eq!(now, 1, "failed item {id} runs again"),
            (1, false) => assert_eq!(now, 0, "item {id} succeeded and is kept"),
            _ => panic!("item {id} ran {before} times in the first run"),
        }
    }

    let again = redrive(dir, "fan-1");
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("execution 'fan-1' cannot be redriven: it succeeded"),
        "{err}"
    );
}

#[test]
fn redrive_keeps_the_iterations_of_an_inline_map_that_succeeded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_project(dir);
    let ids: Vec<i64> = (0..12).collect();

    let first = run_flow(dir, "each", "each-1", &ids);
    assert_eq!(first["status"], "FAILED", "{first}");
    assert!(
        first["cause"]
            .as_str()
            .unwrap_or_default()
            .contains("item 9 is not fixed yet"),
        "{first}"
    );
    let first_calls = take_calls(dir);
    assert_eq!(
        first_calls.keys().copied().collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );

    std::fs::write(dir.join("fixed"), "").unwrap();
    let second = last_json_line(&redrive(dir, "each-1"));
    assert_eq!(second["status"], "SUCCEEDED", "{second}");
    let expected: Vec<Value> = ids
        .iter()
        .map(|i| json!({"id": i, "square": i * i}))
        .collect();
    assert_eq!(second["output"], json!(expected));
    let second_calls = take_calls(dir);
    assert_eq!(
        second_calls,
        (9..12).map(|i| (i, 1)).collect::<BTreeMap<_, _>>(),
        "only the failed iteration and those never started run"
    );
}

#[test]
fn redrive_refuses_an_unknown_execution() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_project(dir);
    let out = redrive(dir, "nope");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no execution 'nope'"));
}
