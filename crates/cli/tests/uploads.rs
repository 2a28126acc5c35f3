//! Object triggers through the real binary: files written into the storage directory by
//! another program are found by the trigger's watcher, filtered by prefix and suffix, and
//! raise S3 event notifications onto a queue or start a flow; files written while the node was
//! down are emitted after restart, each exactly once; two nodes sharing a PostgreSQL store and
//! an S3 storage emit each object once, and the survivor of a `kill -9` takes the watch over.

mod common;

use common::server::Server;
use serde_json::{Value, json};
use sluice_io::testing::S3Server;
use sluice_store::testing::TestSchema;
use std::path::Path;
use std::time::{Duration, Instant};

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A project whose storage is `data/` and whose trigger `logs` puts events of `raw/logs/*.log`
/// onto the pull queue `events`.
fn project(dir: &Path, events: &str) {
    project_on(dir, "file://./data", events);
}

/// The same project with its storage at `storage`.
fn project_on(dir: &Path, storage: &str, events: &str) {
    std::fs::create_dir_all(dir.join("data/raw/logs")).unwrap();
    common::write_flow(
        dir,
        "job.json",
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    );
    std::fs::write(
        dir.join("sluice.yaml"),
        format!(
            "storage: \"{storage}\"\n\
             flows:\n  job: job.json\n\
             queues:\n  events: {{}}\n\
             triggers:\n\
             \x20 logs: {{ object: raw/logs/, suffix: .log, events: {events}, queue: events }}\n\
             \x20 csv: {{ object: raw/csv/, flow: job }}\n"
        ),
    )
    .unwrap();
}

/// The events on the queue: (eventName, key, size).
fn events(server: &Server) -> Vec<(String, String, Option<u64>)> {
    let reply = server.http("GET", "/v1/queues/events/messages?limit=100", &[], b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let body: Value = serde_json::from_str(m["body"].as_str().unwrap()).unwrap();
            let record = &body["Records"][0];
            (
                record["eventName"].as_str().unwrap().to_string(),
                record["s3"]["object"]["key"].as_str().unwrap().to_string(),
                record["s3"]["object"]["size"].as_u64(),
            )
        })
        .collect()
}

fn created(key: &str, size: u64) -> (String, String, Option<u64>) {
    ("ObjectCreated:Put".into(), key.into(), Some(size))
}

#[test]
fn files_written_while_the_node_was_down_are_emitted_once_after_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("proj");
    project(&proj, "[created]");
    let logs = proj.join("data/raw/logs");
    common::drop_file(logs.join("before.log"), "there before the trigger\n");
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, &proj);
    common::drop_file(logs.join("a.log"), "a\n");
    wait_for("the first file's event", || !events(&server).is_empty());
    assert_eq!(
        events(&server),
        [created("raw/logs/a.log", 2)],
        "objects there when the trigger was first served raise nothing"
    );
    server.kill();
    common::drop_file(logs.join("b.log"), "bb\n");
    common::drop_file(logs.join("a.log"), "a, changed\n");
    let server = Server::start(&data, &proj);
    // Events come in the order they were recorded: once c.log's is there, every earlier one
    // (and any duplicate of it) is too.
    common::drop_file(logs.join("c.log"), "ccc\n");
    wait_for("the file written after the restart", || {
        events(&server)
            .iter()
            .any(|(_, k, _)| k == "raw/logs/c.log")
    });
    let mut seen = events(&server);
    seen.sort();
    assert_eq!(
        seen,
        [
            created("raw/logs/a.log", 2),
            created("raw/logs/a.log", 11),
            created("raw/logs/b.log", 3),
            created("raw/logs/c.log", 4),
        ]
    );
}

#[test]
fn only_matching_keys_raise_events_and_deletes_raise_removed_events() {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("proj");
    project(&proj, "[created, deleted]");
    let server = Server::start(&tmp.path().join("data"), &proj);
    let raw = proj.join("data/raw");
    std::fs::create_dir_all(raw.join("other")).unwrap();
    std::fs::create_dir_all(raw.join("logs/day 2")).unwrap();
    common::drop_file(raw.join("logs/notes.txt"), "not a log\n");
    common::drop_file(raw.join("other/x.log"), "elsewhere\n");
    common::drop_file(raw.join("logs/day 2/app.log"), "x\n");
    wait_for("the log's event", || !events(&server).is_empty());
    std::fs::remove_file(raw.join("logs/day 2/app.log")).unwrap();
    std::fs::remove_file(raw.join("logs/notes.txt")).unwrap();
    wait_for("the delete's event", || events(&server).len() == 2);
    common::drop_file(raw.join("logs/last.log"), "z\n");
    wait_for("the last log's event", || events(&server).len() == 3);
    assert_eq!(
        events(&server),
        [
            created("raw/logs/day+2/app.log", 2),
            (
                "ObjectRemoved:Delete".into(),
                "raw/logs/day+2/app.log".into(),
                None
            ),
            created("raw/logs/last.log", 2),
        ]
    );
}

#[test]
fn an_object_trigger_starts_one_flow_execution_per_object_named_by_its_event() {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("proj");
    project(&proj, "[created]");
    let server = Server::start(&tmp.path().join("data"), &proj);
    std::fs::create_dir_all(proj.join("data/raw/csv")).unwrap();
    common::drop_file(proj.join("data/raw/csv/orders.csv"), "id\n1\n");
    let succeeded = || {
        let reply = server.http("GET", "/v1/executions?flow=job&status=SUCCEEDED", &[], b"");
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    };
    wait_for("the flow's execution", || {
        succeeded()["executions"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    });
    let listed = succeeded();
    let id = listed["executions"][0]["id"].as_str().unwrap().to_string();
    let execution = server
        .http("GET", &format!("/v1/executions/{id}"), &[], b"")
        .json();
    let input = &execution["input"];
    let event = &input["Records"][0];
    assert_eq!(event["eventName"], "ObjectCreated:Put");
    assert_eq!(event["s3"]["configurationId"], "csv");
    assert_eq!(event["s3"]["bucket"]["name"], "proj");
    assert_eq!(event["s3"]["object"]["key"], "raw/csv/orders.csv");
    assert_eq!(event["s3"]["object"]["size"], 5);
    assert_eq!(event["responseElements"]["x-amz-id-2"], id.as_str());
    assert_eq!(listed["executions"].as_array().unwrap().len(), 1);
}

#[test]
fn two_nodes_on_one_store_and_s3_emit_each_object_once_and_the_survivor_takes_over() {
    let what = "the two-node object trigger test";
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(s3) = S3Server::start(&dir.path().join("s3"), what) else {
        return;
    };
    let proj = dir.path().join("proj");
    project_on(&proj, &s3.storage_url("lake", "deploy"), "[created]");
    // s3s-fs serves files from its directory: writing there is writing from outside Sluice.
    let logs = s3.root().join("lake/deploy/raw/logs");
    std::fs::create_dir_all(&logs).unwrap();
    let node = |name: &str| {
        Server::spawn(
            common::sluice_on(&dir.path().join(name), Some(schema.url())),
            &proj,
            &[],
        )
    };
    let mut a = node("a");
    let b = node("b");
    let keys = |server: &Server| -> Vec<String> {
        events(server).into_iter().map(|(_, key, _)| key).collect()
    };
    for i in 0..10 {
        common::drop_file(logs.join(format!("a-{i}.log")), format!("{i}\n"));
    }
    wait_for("the first ten events", || keys(&b).len() >= 10);
    a.kill();
    for i in 0..10 {
        common::drop_file(logs.join(format!("b-{i}.log")), format!("{i}\n"));
    }
    // Events come in the order they were recorded: once the last file's is there, every earlier
    // one (and any duplicate of it) is too.
    common::drop_file(logs.join("z-last.log"), "last\n");
    wait_for("the survivor's events", || {
        keys(&b).contains(&"raw/logs/z-last.log".to_string())
    });
    let mut seen = keys(&b);
    seen.sort();
    let mut expected: Vec<String> = (0..10)
        .flat_map(|i| [format!("raw/logs/a-{i}.log"), format!("raw/logs/b-{i}.log")])
        .chain(["raw/logs/z-last.log".to_string()])
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn writes_of_a_flows_s3_tasks_raise_their_events_as_they_happen() {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("proj");
    project(&proj, "[created, deleted]");
    let task = |action: &str, parameters: Value, next: Option<&str>| {
        let mut state = json!({
            "Type": "Task",
            "Resource": format!("arn:aws:states:::aws-sdk:s3:{action}"),
            "Parameters": parameters,
            "ResultPath": null,
        });
        match next {
            Some(n) => state["Next"] = json!(n),
            None => state["End"] = json!(true),
        }
        state
    };
    common::write_flow(
        &proj,
        "job.json",
        &json!({"StartAt": "Put", "States": {
            "Put": task("putObject", json!({"Bucket": "raw", "Key": "logs/flow.log", "Body": "from a flow"}), Some("Copy")),
            "Copy": task("copyObject", json!({"Bucket": "raw", "Key": "logs/copy.log", "CopySource": "raw/logs/flow.log"}), Some("Delete")),
            "Delete": task("deleteObject", json!({"Bucket": "raw", "Key": "logs/flow.log"}), None),
        }}),
    );
    let server = Server::start(&tmp.path().join("data"), &proj);
    let started = server.ok(
        "StartExecution",
        json!({"stateMachineArn": "arn:aws:states:local:000000000000:stateMachine:job", "input": "{}"}),
    );
    server.await_status(started["executionArn"].as_str().unwrap(), "SUCCEEDED");
    common::drop_file(proj.join("data/raw/logs/last.log"), "last\n");
    wait_for("the last file's event", || events(&server).len() >= 4);
    assert_eq!(
        events(&server),
        [
            created("raw/logs/flow.log", 11),
            (
                "ObjectCreated:Copy".into(),
                "raw/logs/copy.log".into(),
                Some(11)
            ),
            (
                "ObjectRemoved:Delete".into(),
                "raw/logs/flow.log".into(),
                None
            ),
            created("raw/logs/last.log", 5),
        ],
        "a copy is named a copy: the write raised it, not the watcher"
    );
}
