//! Distributed Map through the real binary: children as executions, and a `kill -9` in the
//! middle of a run that a restart finishes with every item exactly once.

use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

mod common;
use common::{json_lines_of, last_json_line, sluice};

/// 60 items, 6 at a time, each child napping for a second: about ten seconds in all.
fn distributed_flow() -> Value {
    json!({
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 6,
                "ItemSelector": {"n.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Nap",
                    "States": {
                        "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Double"},
                        "Double": {
                            "Type": "Pass",
                            "Parameters": {"i.$": "$.i", "v.$": "States.MathAdd($.n, $.n)"},
                            "End": true
                        }
                    }
                },
                "End": true
            }
        }
    })
}

fn expected_output() -> Value {
    Value::Array((0..60).map(|i| json!({"i": i, "v": 2 * i})).collect())
}

fn executions(data_dir: &Path) -> Vec<Value> {
    json_lines_of(sluice(data_dir).args(["list", "--json", "--all", "--limit", "1000"]))
}

#[test]
fn distributed_map_runs_children_as_executions_and_survives_kill_dash_nine() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("fan.json");
    std::fs::write(&flow, distributed_flow().to_string()).unwrap();
    let input = json!({"items": (0..60).collect::<Vec<_>>()}).to_string();

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
    let line = last_json_line(&reference);
    assert_eq!(line["status"], "SUCCEEDED", "{line}");
    assert_eq!(line["output"], expected_output());
    let children = executions(&dir.path().join("reference"))
        .into_iter()
        .filter(|e| {
            e["execution"]
                .as_str()
                .is_some_and(|id| id.starts_with("ref/Fan:"))
        })
        .count();
    assert_eq!(children, 60, "every item ran as a child execution");
    let top = sluice(&dir.path().join("reference"))
        .args(["list", "--json"])
        .output()
        .unwrap();
    let top = String::from_utf8_lossy(&top.stdout);
    assert_eq!(
        top.lines().count(),
        1,
        "list hides children by default: {top}"
    );

    let data = dir.path().join("crashy");
    let mut child = sluice(&data)
        .arg("run")
        .arg(&flow)
        .args(["--json", "--name", "victim", "--input", &input])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done_before = executions(&data)
        .iter()
        .filter(|e| e["status"] == "SUCCEEDED")
        .count();
    assert!(
        done_before < 60,
        "the process was killed before the run finished ({done_before} children done)"
    );

    let resumed = sluice(&data).args(["resume", "--json"]).output().unwrap();
    let line = last_json_line(&resumed);
    assert_eq!(line["execution"], "victim");
    assert_eq!(line["status"], "SUCCEEDED", "{line}");
    assert_eq!(
        line["output"],
        expected_output(),
        "every item exactly once, in order"
    );
    let children = executions(&data)
        .into_iter()
        .filter(|e| {
            e["execution"]
                .as_str()
                .is_some_and(|id| id.starts_with("victim/Fan:"))
        })
        .collect::<Vec<_>>();
    assert_eq!(children.len(), 60, "no child started twice");
    assert!(children.iter().all(|c| c["status"] == "SUCCEEDED"));
}

#[test]
fn a_run_that_fails_early_writes_its_unstarted_items_as_pending() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    std::fs::write(
        project.join("sluice.yaml"),
        "storage: file://./data\nflows:\n  fan: fan.json\n",
    )
    .unwrap();
    let flow = json!({
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 1,
                "ItemSelector": {"n.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Check",
                    "States": {
                        "Check": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$.n", "NumericEquals": 2, "Next": "Broken"}],
                            "Default": "Fine"
                        },
                        "Broken": {"Type": "Fail", "Error": "Broken", "Cause": "item 2"},
                        "Fine": {"Type": "Pass", "End": true}
                    }
                },
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "out", "Prefix": "runs"}
                },
                "End": true
            }
        }
    });
    std::fs::write(project.join("fan.json"), flow.to_string()).unwrap();
    let out = sluice(&project.join(".sluice"))
        .arg("run")
        .arg(project)
        .args(["--json", "--input"])
        .arg(json!({"items": (0..10).collect::<Vec<_>>()}).to_string())
        .output()
        .unwrap();
    let line = last_json_line(&out);
    assert_eq!(line["status"], "FAILED", "{line}");
    assert_eq!(line["error"], "States.ExceedToleratedFailureThreshold");

    let runs: Vec<_> = std::fs::read_dir(project.join("data/out/runs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(runs.len(), 1);
    let base = runs[0].path();
    let read = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(base.join(name)).unwrap()).unwrap()
    };
    let manifest = read("manifest.json");
    for status in ["SUCCEEDED", "FAILED", "PENDING"] {
        assert_eq!(
            manifest["ResultFiles"][status].as_array().map(Vec::len),
            Some(1),
            "{manifest}"
        );
    }
    let inputs = |name: &str| -> Vec<Value> {
        read(name)
            .as_array()
            .unwrap()
            .iter()
            .map(|e| serde_json::from_str(e["Input"].as_str().unwrap()).unwrap())
            .collect()
    };
    assert_eq!(
        inputs("SUCCEEDED_0.json"),
        vec![json!({"n": 0}), json!({"n": 1})]
    );
    assert_eq!(inputs("FAILED_0.json"), vec![json!({"n": 2})]);
    assert_eq!(
        inputs("PENDING_0.json"),
        (3..10).map(|n| json!({"n": n})).collect::<Vec<_>>()
    );
    assert!(
        read("PENDING_0.json")
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["Status"] == "PENDING")
    );
}

#[test]
fn an_fdl_distributed_map_reads_oss_csv_and_object_listings_from_storage() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    std::fs::create_dir_all(project.join("data/in/parts")).unwrap();
    std::fs::write(
        project.join("data/in/prices.csv"),
        "sku,price\na,1\nb,2\nc,3\n",
    )
    .unwrap();
    std::fs::write(project.join("data/in/parts/x.txt"), "xx").unwrap();
    std::fs::write(project.join("data/in/parts/y.txt"), "yyy").unwrap();
    std::fs::write(
        project.join("sluice.yaml"),
        "storage: file://./data\nflows:\n  prices: prices.yaml\n",
    )
    .unwrap();
    let flow = r#"
Type: StateMachine
Name: prices
SpecVersion: v1
StartAt: Prices
States:
  - Type: Map
    Name: Prices
    ProcessorConfig:
      ExecutionMode: Standard
    ItemReader:
      SourceType: OSS_CSV
      SourceParameters:
        Bucket: in
        ObjectName.$: $Input.file
    MaxItems: 2
    ItemConstructor:
      sku.$: $Item.sku
      price.$: $Item.price
    Processor:
      StartAt: Keep
      States:
        - Type: Pass
          Name: Keep
          End: true
    OutputConstructor:
      prices.$: $Output.Items
    Next: Parts
  - Type: Map
    Name: Parts
    ProcessorConfig:
      ExecutionMode: Standard
    ItemReader:
      SourceType: OSS_OBJECTS
      SourceParameters:
        Bucket: in
        Prefix: parts/
    ItemConstructor:
      key.$: $Item.Key
      size.$: $Item.Size
    Processor:
      StartAt: Keep
      States:
        - Type: Pass
          Name: Keep
          End: true
    OutputConstructor:
      prices.$: $Input.prices
      parts.$: $Output.Items
    End: true
"#;
    std::fs::write(project.join("prices.yaml"), flow).unwrap();
    let out = sluice(&project.join(".sluice"))
        .arg("run")
        .arg(project)
        .args(["--json", "--input", r#"{"file": "prices.csv"}"#])
        .output()
        .unwrap();
    let line = last_json_line(&out);
    assert_eq!(line["status"], "SUCCEEDED", "{line}");
    assert_eq!(
        line["output"],
        json!({
            "prices": [{"sku": "a", "price": "1"}, {"sku": "b", "price": "2"}],
            "parts": [{"key": "parts/x.txt", "size": 2}, {"key": "parts/y.txt", "size": 3}]
        })
    );
}

#[test]
fn why_items_failed_shows_in_the_cause_the_history_and_describe() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path();
    std::fs::create_dir_all(project.join("data/in")).unwrap();
    std::fs::write(
        project.join("data/in/x.jsonl"),
        "{\"n\": 0}\n{\"n\": 1}\n{\"n\": oops\n{\"n\": 3}\n",
    )
    .unwrap();
    std::fs::write(
        project.join("sluice.yaml"),
        "storage: file://./data\nflows:\n  fan: fan.json\n",
    )
    .unwrap();
    let flow = json!({
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSONL"},
                    "Parameters": {"Bucket": "in", "Key": "x.jsonl"}
                },
                "ToleratedFailureCount": 1,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Check",
                    "States": {
                        "Check": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$.n", "NumericEquals": 3, "Next": "Broken"}],
                            "Default": "Fine"
                        },
                        "Broken": {"Type": "Fail", "Error": "Broken", "Cause": "three is broken"},
                        "Fine": {"Type": "Pass", "End": true}
                    }
                },
                "End": true
            }
        }
    });
    std::fs::write(project.join("fan.json"), flow.to_string()).unwrap();
    let data = project.join(".sluice");
    let out = sluice(&data)
        .arg("run")
        .arg(project)
        .args(["--json", "--name", "bad", "--input", "{}"])
        .output()
        .unwrap();
    let line = last_json_line(&out);
    assert_eq!(line["status"], "FAILED", "{line}");
    assert_eq!(line["error"], "States.ExceedToleratedFailureThreshold");
    let cause = line["cause"].as_str().unwrap();
    assert!(
        cause.contains("item 2: States.ItemReaderFailed: in/x.jsonl line 3: "),
        "{cause}"
    );
    assert!(cause.contains("item 3: Broken: three is broken"), "{cause}");

    let history = sluice(&data)
        .args(["history", "--json", "bad"])
        .output()
        .unwrap();
    let failed: Vec<Value> = String::from_utf8_lossy(&history.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == "MapRunFailed")
        .collect();
    assert_eq!(failed.len(), 1, "{history:?}");
    assert_eq!(failed[0]["details"]["cause"], line["cause"]);

    let describe = |json: bool| -> Value {
        let mut cmd = sluice(&data);
        cmd.arg("describe");
        if json {
            cmd.arg("--json");
        }
        let out = cmd.arg("bad").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    for json in [true, false] {
        let run = &describe(json)["mapRuns"][0];
        assert_eq!(run["itemsFailed"], 2, "{run}");
        assert_eq!(run["failedItemsNotShown"], 0, "{run}");
        let items = run["failedItems"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{run}");
        assert_eq!(items[0]["index"], 2);
        assert_eq!(items[0]["error"], "States.ItemReaderFailed");
        assert!(
            items[0]["cause"]
                .as_str()
                .unwrap()
                .starts_with("in/x.jsonl line 3: ")
        );
        assert_eq!(items[1]["index"], 3);
        assert_eq!(items[1]["error"], "Broken");
        assert_eq!(items[1]["cause"], "three is broken");
        assert_eq!(items[1]["status"], "FAILED");
    }
}
