//! `examples/unzip` through the real binary: a zip dropped under `uploads/` starts the flow,
//! the built-in `unzip` extracts it over several calls (a cap on entries per call makes the
//! Choice loop), every entry lands byte-identical under `unzipped/NAME/`, the `unzipped` queue
//! gets a message and the archive is deleted. A Zip64 archive extracts the same way; a corrupt
//! one fails its execution naming the archive and the entry. The same holds of the Python
//! unzipper (`functions/unzip.py`), which a zip dropped under `python-uploads/` goes through.

mod common;

use common::server::Server;
use serde_json::Value;
use std::io::{Cursor, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Entries extracted per call of the function: small, so that the flow loops.
const MAX_ENTRIES: usize = 700;
/// The Python unzipper's ranged reads: small, so that many headers and entries straddle two.
const READ_AHEAD_BYTES: usize = 3001;

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One of the example's two unzippers: the folder whose uploads it extracts, and its flow.
#[derive(Clone, Copy)]
struct Unzipper {
    uploads: &'static str,
    flow: &'static str,
}

/// The built-in `unzip`.
const BUILTIN: Unzipper = Unzipper {
    uploads: "uploads",
    flow: "unzip",
};

/// `functions/unzip.py`.
const PYTHON: Unzipper = Unzipper {
    uploads: "python-uploads",
    flow: "unzip-python",
};

/// The example, both its unzippers capped at [`MAX_ENTRIES`] entries a call.
fn project(dir: &Path) {
    common::copy_project(&common::repo().join("examples/unzip"), dir);
    let yaml = std::fs::read_to_string(dir.join("sluice.yaml")).unwrap();
    let capped = yaml
        .replace(
            "options: { budget_seconds: 20 }",
            &format!("options: {{ budget_seconds: 20, max_entries: {MAX_ENTRIES} }}"),
        )
        .replace(
            "timeout: 60s, memory: 256 }",
            &format!(
                "timeout: 60s, memory: 256, env: {{ UNZIP_MAX_ENTRIES: \"{MAX_ENTRIES}\", \
                 UNZIP_READ_AHEAD_BYTES: \"{READ_AHEAD_BYTES}\" }} }}"
            ),
        );
    assert_eq!(
        capped.matches(&format!("{MAX_ENTRIES}")).count(),
        2,
        "the example's function settings changed"
    );
    std::fs::write(dir.join("sluice.yaml"), capped).unwrap();
    for unzipper in [BUILTIN, PYTHON] {
        std::fs::create_dir_all(dir.join("data").join(unzipper.uploads)).unwrap();
    }
}

/// A zip of `files` (with a directory entry for each folder), deflated, with Zip64 headers
/// for every file when `zip64`.
fn archive(files: &[(String, Vec<u8>)], zip64: bool) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(zip64);
    let mut folders = std::collections::BTreeSet::new();
    for (name, data) in files {
        if let Some((folder, _)) = name.rsplit_once('/')
            && folders.insert(folder.to_string())
        {
            zip.add_directory(format!("{folder}/"), options).unwrap();
        }
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Puts an archive in the unzipper's upload folder in one rename, as an uploader finishing
/// would.
fn upload(project: &Path, unzipper: Unzipper, name: &str, bytes: &[u8]) {
    common::drop_file(
        project.join("data").join(unzipper.uploads).join(name),
        bytes,
    );
}

/// The executions of the unzipper's flow that ended, once `count` have.
fn ended(server: &Server, unzipper: Unzipper, count: usize) -> Vec<Value> {
    let mut executions = Vec::new();
    wait_for("the unzip executions to end", || {
        let path = format!("/v1/executions?flow={}", unzipper.flow);
        let reply = server.http("GET", &path, &[], b"");
        assert_eq!(reply.status, 200, "{}", reply.text());
        executions = reply.json()["executions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["status"] != "RUNNING")
            .cloned()
            .collect();
        executions.len() >= count
    });
    executions
        .iter()
        .map(|e| {
            let id = e["id"].as_str().unwrap();
            server
                .http("GET", &format!("/v1/executions/{id}"), &[], b"")
                .json()
        })
        .collect()
}

/// The bodies of the messages on the `unzipped` queue.
fn notifications(server: &Server) -> Vec<Value> {
    let reply = server.http("GET", "/v1/queues/unzipped/messages?limit=100", &[], b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str(m["body"].as_str().unwrap()).unwrap())
        .collect()
}

fn assert_extracted(project: &Path, folder: &str, files: &[(String, Vec<u8>)]) {
    let root = project.join("data/unzipped").join(folder);
    for (name, data) in files {
        let written = std::fs::read(root.join(name))
            .unwrap_or_else(|e| panic!("{folder}/{name} was not written: {e}"));
        assert!(written == *data, "{folder}/{name} differs from its entry");
    }
    let mut count = 0;
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                count += 1;
            }
        }
    }
    assert_eq!(count, files.len(), "only the archive's files are written");
}

#[test]
fn uploaded_zips_are_extracted_in_a_loop_then_notified_and_deleted() {
    extracted_in_a_loop_then_notified_and_deleted(BUILTIN);
}

#[test]
fn the_python_unzipper_extracts_in_a_loop_then_notifies_and_deletes() {
    extracted_in_a_loop_then_notified_and_deleted(PYTHON);
}

fn extracted_in_a_loop_then_notified_and_deleted(unzipper: Unzipper) {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("proj");
    project(&proj);
    let server = Server::start(&tmp.path().join("state"), &proj);

    let mut files: Vec<(String, Vec<u8>)> = (0..3000)
        .map(|i| {
            let name = format!("logs/{:02}/day {}/part-{i}.txt", i % 7, i % 13);
            (name, format!("line {i}\n").repeat(i % 50 + 1).into_bytes())
        })
        .collect();
    let big: Vec<u8> = (0..9 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    files.push(("media/big.bin".into(), big));
    upload(&proj, unzipper, "site 1.zip", &archive(&files, false));
    let zip64_files: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| {
            (
                format!("z/{i}.json"),
                format!("{{\"n\": {i}}}").into_bytes(),
            )
        })
        .collect();
    upload(&proj, unzipper, "wide.zip", &archive(&zip64_files, true));

    let executions = ended(&server, unzipper, 2);
    for execution in &executions {
        assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    }
    let mut outputs: Vec<Value> = executions
        .iter()
        .map(|e| match &e["output"] {
            Value::String(text) => serde_json::from_str(text).unwrap(),
            other => other.clone(),
        })
        .collect();
    outputs.sort_by_key(|o| o["archive"].as_str().unwrap().to_string());
    // The files and a directory entry for each of the 91 `logs/` folders and `media/`:
    // directories are stepped over, not written.
    let entries = files.len() + 7 * 13 + 1;
    let uploads = unzipper.uploads;
    assert_eq!(outputs[0]["archive"], format!("{uploads}/site 1.zip"));
    assert_eq!(outputs[0]["written"], files.len());
    assert_eq!(outputs[0]["calls"], entries.div_ceil(MAX_ENTRIES));
    assert_eq!(outputs[1]["archive"], format!("{uploads}/wide.zip"));
    assert_eq!(outputs[1]["written"], 5);
    assert_eq!(outputs[1]["calls"], 1);

    assert_extracted(&proj, "site 1", &files);
    assert_extracted(&proj, "wide", &zip64_files);

    let mut notified = notifications(&server);
    notified.sort_by_key(|n| n["archive"].as_str().unwrap().to_string());
    assert_eq!(notified.len(), 2);
    assert_eq!(notified[0]["to"], "unzipped/site 1/");
    assert_eq!(notified[0]["written"], files.len());
    assert_eq!(notified[1]["to"], "unzipped/wide/");
    assert!(
        std::fs::read_dir(proj.join("data").join(uploads))
            .unwrap()
            .next()
            .is_none(),
        "the archives are deleted"
    );
}

#[test]
fn a_corrupt_archive_fails_its_execution_naming_the_archive_and_the_entry() {
    fails_naming_the_archive_and_the_entry(BUILTIN);
}

#[test]
fn a_corrupt_archive_fails_the_python_unzipper_naming_the_archive_and_the_entry() {
    fails_naming_the_archive_and_the_entry(PYTHON);
}

fn fails_naming_the_archive_and_the_entry(unzipper: Unzipper) {
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("proj");
    project(&proj);
    let server = Server::start(&tmp.path().join("state"), &proj);
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 89) as u8).collect();
    let mut bytes = archive(
        &[
            ("a/ok.txt".into(), b"fine".to_vec()),
            ("a/broken.bin".into(), content),
        ],
        false,
    );
    let name_at = bytes
        .windows(12)
        .position(|w| w == b"a/broken.bin")
        .unwrap();
    for b in &mut bytes[name_at + 200..name_at + 260] {
        *b ^= 0xa5;
    }
    upload(&proj, unzipper, "bad.zip", &bytes);

    let executions = ended(&server, unzipper, 1);
    let execution = &executions[0];
    assert_eq!(execution["status"], "FAILED", "{execution}");
    assert_eq!(execution["error"], "Unzip.CorruptArchive", "{execution}");
    let cause = execution["cause"].as_str().unwrap();
    // A Python function's cause is Lambda's error document; the built-in's is the message.
    let message = serde_json::from_str::<Value>(cause).map_or(cause.to_string(), |c| {
        c["errorMessage"].as_str().unwrap_or(cause).to_string()
    });
    let uploads = unzipper.uploads;
    assert!(
        message.starts_with(&format!("{uploads}/bad.zip: entry 'a/broken.bin': ")),
        "{cause}"
    );
    assert!(notifications(&server).is_empty());
    assert!(
        proj.join("data").join(uploads).join("bad.zip").exists(),
        "a failed archive is kept"
    );
    assert!(!proj.join("data/unzipped/bad/a/broken.bin").exists());
}
