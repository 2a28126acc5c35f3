//! `sluice serve` as a cluster: two nodes of one project on one PostgreSQL store and one S3
//! storage split the runs started through either's API, and when one is killed with `kill -9`
//! the other finishes every run it was driving.

mod common;

use common::server::Server;
use common::{copy_project_without, repo, sluice_on};
use serde_json::{Value, json};
use sluice_engine::model::Status;
use sluice_engine::store::Store;
use sluice_io::testing::S3Server;
use sluice_store::StoreLocation;
use sluice_store::testing::TestSchema;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs started, alternating between the two nodes.
const RUNS: usize = 20;
/// The example's flow as a state machine.
const MACHINE: &str = "arn:aws:states:local:000000000000:stateMachine:wordcount";
/// How long the runs may take in all before the test gives up (a bound, not a measurement).
const BOUND: Duration = Duration::from_secs(240);

/// What every run of examples/wordcount-distributed returns over its sample data.
fn expected_output() -> Value {
    json!({"totals": {"data_1": 2703, "data_2": 1297}, "objects": 8, "failedResultFiles": 0})
}

/// A copy of examples/wordcount-distributed in `dir` whose storage is `storage`, with the
/// example's objects put under `objects` (the directory the S3 server serves that storage from).
fn project_on(dir: &Path, storage: &str, objects: &Path) -> PathBuf {
    let example = repo().join("examples/wordcount-distributed");
    let project = dir.join("wordcount-distributed");
    copy_project_without(&example, &project, &["data", "results"]);
    copy_project_without(&example.join("data"), objects, &["results"]);
    let config = std::fs::read_to_string(project.join("sluice.yaml")).unwrap();
    let pointed: String = config
        .lines()
        .map(|l| {
            if l.starts_with("storage:") {
                format!("storage: \"{storage}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(config, pointed, "the example declares its storage");
    std::fs::write(project.join("sluice.yaml"), pointed).unwrap();
    project
}

/// The pid in a lease owner id (`host:pid:start:random`).
fn owner_pid(owner: &str) -> Option<u32> {
    owner.split(':').nth(1)?.parse().ok()
}

/// Every root execution's status and lease owner, by id.
fn owners(store: &Arc<dyn Store>) -> BTreeMap<String, (Status, Option<u32>)> {
    store
        .list(10 * RUNS, false)
        .unwrap()
        .into_iter()
        .map(|e| (e.id, (e.status, e.owner.as_deref().and_then(owner_pid))))
        .collect()
}

/// Every `manifest.json` under `dir`.
fn manifests(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(manifests(&path));
        } else if entry.file_name() == "manifest.json" {
            found.push(path);
        }
    }
    found
}

#[test]
fn two_nodes_split_the_runs_and_the_survivor_of_a_kill_dash_nine_finishes_them() {
    let what = "the two-node cluster test";
    let Some(schema) = TestSchema::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(s3) = S3Server::start(&dir.path().join("s3"), what) else {
        return;
    };
    let objects = s3.root().join("sluice/deploy");
    let project = project_on(dir.path(), &s3.storage_url("sluice", "deploy"), &objects);
    let node = |name: &str| {
        Server::spawn(
            sluice_on(&dir.path().join(name), Some(schema.url())),
            &project,
            &[],
        )
    };
    let mut a = node("a");
    let b = node("b");
    let store = sluice_store::open(&schema.url().parse::<StoreLocation>().unwrap()).unwrap();

    let mut arns = Vec::new();
    for i in 0..RUNS {
        let via = if i % 2 == 0 { &a } else { &b };
        let name = format!("run-{i:02}");
        let started = via.ok(
            "StartExecution",
            json!({"stateMachineArn": MACHINE, "name": name, "input": "{}"}),
        );
        arns.push(started["executionArn"].as_str().unwrap().to_string());
    }
    let described = b.ok("DescribeExecution", json!({"executionArn": arns[0]}));
    assert_eq!(described["executionArn"], arns[0], "{described}");
    assert_eq!(described["name"], "run-00", "{described}");

    // Once node A's runs are under way (a child of one has counted its object), the runs A
    // has not finished yet; then A dies.
    let held_by = |pid: u32| -> Vec<String> {
        owners(&store)
            .into_iter()
            .filter(|(_, (status, owner))| *status == Status::Running && *owner == Some(pid))
            .map(|(id, _)| id)
            .collect()
    };
    let deadline = Instant::now() + BOUND;
    loop {
        let held = held_by(a.pid());
        let children = store.list(100 * RUNS, true).unwrap();
        let under_way = children.iter().any(|c| {
            c.status == Status::Succeeded
                && held
                    .iter()
                    .any(|root| c.id.starts_with(&format!("{root}/")))
        });
        if under_way || held.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let held_by_a = held_by(a.pid());
    assert!(
        !held_by_a.is_empty(),
        "node A drives none of its runs: {:?}",
        owners(&store)
    );
    a.kill();

    let deadline = Instant::now() + BOUND;
    for arn in &arns {
        let done = loop {
            let e = b.ok("DescribeExecution", json!({"executionArn": arn}));
            if e["status"] != "RUNNING" {
                break e;
            }
            assert!(
                Instant::now() < deadline,
                "{arn} still running after {BOUND:?}; node B said:\n{}",
                b.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(done["status"], "SUCCEEDED", "{done}\n{}", b.stderr());
        let output: Value = serde_json::from_str(done["output"].as_str().unwrap()).unwrap();
        assert_eq!(output, expected_output(), "{arn}");
    }

    let finished = owners(&store);
    let taken_over = held_by_a
        .iter()
        .filter(|id| finished[*id].1 == Some(b.pid()))
        .count();
    assert!(
        taken_over > 0,
        "node B finished none of the runs node A held when it died: {held_by_a:?} {finished:?}"
    );
    for i in 0..RUNS {
        let written = manifests(&objects.join(format!("results/wordcount/run-{i:02}")));
        assert_eq!(
            written.len(),
            1,
            "run-{i:02} wrote one manifest: {written:?}"
        );
    }
}
