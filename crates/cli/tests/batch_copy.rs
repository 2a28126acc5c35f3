//! `examples/batch-copy` through the real binary, on a local directory and on a real S3 server
//! (`s3s-fs`): an index of 100,000 keys (JSON lines) is copied page by page into the ARCHIVE
//! class, one copy in ten failing on purpose (`objects: {copy_failure_rate: 0.1}`) and retried;
//! the node is killed with SIGKILL mid-run and restarted. At the end every object is in the
//! target, in ARCHIVE, the pages' counts add up to 100,000, and the histories of the chain of
//! executions schedule every page once (the page in flight at the kill runs again under its
//! scheduled event), or again only after an attempt that failed and was retried.

mod common;

use common::server::Server;
use serde_json::{Value, json};
use sluice_io::testing::S3Server;
use sluice_io::{ClassMode, ObjectOptions, ObjectRef, Storage, StorageClass};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Keys in the index.
const KEYS: usize = 100_000;
/// Bytes of the index read per page.
const PAGE_BYTES: u64 = 64 * 1024;
/// Pages per execution before the flow continues in a child.
const THRESHOLD: u64 = 10;

fn key(i: usize) -> String {
    format!("files/{:03}/{i:06}.bin", i % 1000)
}

/// Where the storage keeps the objects of the project: `ROOT/BUCKET/KEY` files.
struct Layout {
    /// The storage URL the project is given.
    url: String,
    /// The directory holding the buckets.
    root: PathBuf,
    /// Where classes are kept: `s3s-fs` keeps none, so they are emulated on it.
    classes: ClassMode,
}

/// Writes the source objects and the index straight into the storage's directory.
fn seed(root: &Path) {
    let mut index = String::with_capacity(KEYS * 40);
    for i in 0..KEYS {
        let path = root.join("src").join(key(i));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("object {i}\n")).unwrap();
        index.push_str(&format!("{{\"key\": \"{}\"}}\n", key(i)));
    }
    std::fs::create_dir_all(root.join("index")).unwrap();
    std::fs::write(root.join("index/keys.jsonl"), index).unwrap();
}

/// Objects (`.bin` files) under `dir`, recursively; a local store's staging files, left by a
/// copy the kill interrupted, are not objects.
fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap())
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                count_files(&e.path())
            } else {
                usize::from(e.file_name().to_string_lossy().ends_with(".bin"))
            }
        })
        .sum()
}

/// How many executions of the chain started.
fn executions(server: &Server) -> usize {
    let listed = server
        .http("GET", "/v1/executions?flow=batch-copy&limit=1000", &[], b"")
        .json();
    listed["executions"].as_array().map_or(0, Vec::len)
}

/// How often each execution of the chain scheduled each copy_files offset, and how many of
/// those attempts failed (a Task in flight at a kill runs again after the restart under the
/// same scheduled event; a failed attempt is retried under a new one).
fn scheduled_offsets(server: &Server) -> BTreeMap<u64, Attempts> {
    let listed = server
        .http("GET", "/v1/executions?flow=batch-copy&limit=1000", &[], b"")
        .json();
    let mut offsets: BTreeMap<u64, Attempts> = BTreeMap::new();
    for execution in listed["executions"].as_array().unwrap() {
        let id = execution["id"].as_str().unwrap();
        let arn = format!("arn:aws:states:local:000000000000:execution:batch-copy:{id}");
        let history = server.ok(
            "GetExecutionHistory",
            json!({"executionArn": arn, "maxResults": 1000}),
        );
        let mut current = None;
        for event in history["events"].as_array().unwrap() {
            match event["type"].as_str() {
                Some("TaskScheduled") => {
                    let details = &event["taskScheduledEventDetails"];
                    let parameters: Value =
                        serde_json::from_str(details["parameters"].as_str().unwrap()).unwrap();
                    current = parameters["offset"].as_u64();
                    if let Some(offset) = current {
                        offsets.entry(offset).or_default().scheduled += 1;
                    }
                }
                Some("TaskFailed" | "TaskTimedOut") => {
                    if let Some(offset) = current {
                        offsets.entry(offset).or_default().failed += 1;
                    }
                }
                _ => {}
            }
        }
    }
    offsets
}

/// The attempts at one page.
#[derive(Debug, Default)]
struct Attempts {
    scheduled: usize,
    failed: usize,
}

fn batch_copy_survives_a_kill(layout: Layout) {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("batch-copy");
    let data_dir = dir.path().join("state");
    common::copy_project(&common::repo().join("examples/batch-copy"), &project);
    let yaml = std::fs::read_to_string(project.join("sluice.yaml")).unwrap();
    let configured = yaml.replace(
        "storage: file://./data",
        &format!("storage: {}", layout.url),
    );
    assert_ne!(yaml, configured, "the example's storage line changed");
    let classes = match layout.classes {
        ClassMode::Emulated => ", classes: emulated",
        ClassMode::Auto | ClassMode::Native => "",
    };
    std::fs::write(
        project.join("sluice.yaml"),
        format!("{configured}objects: {{ copy_failure_rate: 0.1{classes} }}\n"),
    )
    .unwrap();
    seed(&layout.root);
    let target = layout.root.join("dst");

    let mut server = Server::start(&data_dir, &project);
    let input = json!({
        "index": "index/keys.jsonl", "from": "src", "to": "dst", "size": PAGE_BYTES,
        "threshold": THRESHOLD, "offset": 0, "copied": 0, "failed": 0, "retries": 0, "pages": 0
    });
    let started = server.http(
        "POST",
        "/v1/flows/batch-copy/executions",
        &[("content-type", "application/json")],
        json!({"name": "copy-all", "input": input})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(started.status, 200, "{}", started.text());
    // Killed once the first sub-flow started: THRESHOLD pages are copied, most are not.
    let deadline = Instant::now() + Duration::from_secs(600);
    while executions(&server) < 2 {
        assert!(Instant::now() < deadline, "too slow: {}", server.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill();
    let at_kill = count_files(&target);
    assert!(at_kill < KEYS, "the copy ended before the kill");

    let server = Server::start(&data_dir, &project);
    let execution = server.await_end("copy-all", Duration::from_secs(600), || {});
    assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    let output = &execution["output"];
    assert_eq!(output["copied"], json!(KEYS), "{output}");
    assert_eq!(output["failed"], json!(0), "{output}");
    assert!(
        output["retries"].as_u64().unwrap() > 0,
        "no copy failed on purpose: {output}"
    );
    assert_eq!(count_files(&target), KEYS);

    let offsets = scheduled_offsets(&server);
    let pages = offsets.len() as u64;
    assert!(pages > THRESHOLD, "one execution did it all: {pages} pages");
    let twice: Vec<_> = offsets
        .iter()
        .filter(|(_, a)| a.scheduled > a.failed + 1)
        .collect();
    assert!(
        twice.is_empty(),
        "pages scheduled again without a failed attempt: {twice:?}"
    );
    assert_eq!(
        offsets.keys().next(),
        Some(&0),
        "the first page starts the index"
    );
    eprintln!(
        "{KEYS} keys in {pages} pages, {at_kill} objects copied at the kill, retries: {}",
        output["retries"]
    );

    // The class of a sample of the copies, read as the node reads it.
    let store = sluice_store::open(&sluice_store::StoreLocation::Sqlite(
        data_dir.join("sluice.db"),
    ))
    .unwrap();
    let storage = Storage::from_url(&layout.url, &project)
        .unwrap()
        .with_classes(
            store,
            ObjectOptions {
                classes: layout.classes,
                ..ObjectOptions::default()
            },
        )
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for i in (0..KEYS).step_by(997) {
            let copy = ObjectRef::new("dst", key(i)).unwrap();
            let info = storage.head(&copy, None).await.unwrap();
            assert_eq!(info.storage_class, StorageClass::Archive, "{copy}");
        }
    });
}

#[test]
fn batch_copy_on_local_storage_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("objects");
    batch_copy_survives_a_kill(Layout {
        url: format!("file://{}", root.display()),
        root,
        classes: ClassMode::Auto,
    });
}

#[test]
fn batch_copy_on_s3_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = S3Server::start(&dir.path().join("s3"), "batch copy on s3s-fs") else {
        return;
    };
    std::fs::create_dir_all(server.root().join("sluice/batch")).unwrap();
    batch_copy_survives_a_kill(Layout {
        url: server.storage_url("sluice", "batch"),
        root: server.root().join("sluice/batch"),
        classes: ClassMode::Emulated,
    });
}
