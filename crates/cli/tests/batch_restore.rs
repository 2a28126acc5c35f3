//! `examples/batch-restore` through the real binary: 2,000 objects written in GLACIER (readable
//! by nobody) are restored page by page, with a 1 s restore delay, by a child flow per page
//! whose Map runs at most 100 branches; while it runs, the test counts the restores in flight
//! (requested, not done) from the store every node shares; at the end every object reads back.

mod common;

use common::server::Server;
use serde_json::{Value, json};
use sluice_engine::store::Store;
use sluice_io::{ObjectOptions, ObjectRef, Storage, StorageClass};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Objects restored.
const OBJECTS: usize = 2_000;
/// The branches a page's Map runs at once.
const MAX_CONCURRENCY: usize = 100;

fn key(i: usize) -> String {
    format!("logs/{i:05}.log")
}

/// The project's storage with classes kept in the node's store, as the node opens it.
fn storage(project: &Path, store: Arc<dyn Store>) -> Storage {
    Storage::from_url("file://./data", project)
        .unwrap()
        .with_classes(store, ObjectOptions::default())
        .unwrap()
}

/// The example's `restore_delay`: a restore requested at `t` is ready at `t` plus this.
const RESTORE_DELAY_MS: i64 = 1_000;

/// How many restores were requested and not done at the start of the count, of the objects
/// written. A restore requested while the count reads on (ready more than the delay after its
/// start) is left out: it may have replaced one already counted.
fn in_flight(store: &dyn Store) -> usize {
    let now = chrono::Utc::now().timestamp_millis();
    (0..OBJECTS)
        .filter(|i| {
            let record = store.object_class(&format!("archive/{}", key(*i))).unwrap();
            record.is_some_and(|r| {
                r.restore_ready_ms
                    .is_some_and(|ready| ready > now && ready <= now + RESTORE_DELAY_MS)
            })
        })
        .count()
}

#[test]
fn every_archived_object_is_restored_with_at_most_100_restores_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("batch-restore");
    let data_dir = dir.path().join("state");
    common::copy_project(&common::repo().join("examples/batch-restore"), &project);
    std::fs::create_dir_all(&data_dir).unwrap();
    let store = sluice_store::open(&sluice_store::StoreLocation::Sqlite(
        data_dir.join("sluice.db"),
    ))
    .unwrap();
    let storage = storage(&project, store.clone());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let objects: Vec<ObjectRef> = (0..OBJECTS)
        .map(|i| ObjectRef::new("archive", key(i)).unwrap())
        .collect();
    runtime.block_on(async {
        for (i, object) in objects.iter().enumerate() {
            let body = format!("line {i}\n").into();
            storage
                .put_in(object, body, StorageClass::Glacier)
                .await
                .unwrap();
        }
        let sealed = storage.get(&objects[0]).await.unwrap_err();
        assert!(
            sealed.to_string().contains("InvalidObjectState"),
            "{sealed}"
        );
    });

    let server = Server::start(&data_dir, &project);
    let input = json!({"bucket": "archive", "prefix": "logs/", "page_size": 500, "poll_seconds": 1, "days": 1});
    let started = server.http(
        "POST",
        "/v1/flows/batch-restore/executions",
        &[("content-type", "application/json")],
        json!({"name": "restore-all", "input": input})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(started.status, 200, "{}", started.text());

    let mut most = 0;
    let execution = server.await_end("restore-all", Duration::from_secs(600), || {
        most = most.max(in_flight(&*store));
    });
    assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    assert_eq!(
        execution["output"],
        json!({"pages": 4, "objects": OBJECTS}),
        "{execution}"
    );
    assert!(
        most <= MAX_CONCURRENCY,
        "{most} restores were in flight at once"
    );
    assert!(most > 1, "the restores never overlapped ({most} at most)");
    eprintln!("at most {most} restores were in flight at once");

    runtime.block_on(async {
        for (i, object) in objects.iter().enumerate() {
            let read = storage.get(object).await.unwrap();
            assert_eq!(read.data, format!("line {i}\n").as_bytes());
            assert_eq!(read.info.storage_class, StorageClass::Glacier);
        }
    });
    let children: Value = server
        .http("GET", "/v1/executions?flow=restore-page&limit=10", &[], b"")
        .json();
    let children = children["executions"].as_array().unwrap();
    assert_eq!(children.len(), 4, "{children:?}");
    assert!(children.iter().all(|c| c["status"] == "SUCCEEDED"));
}
