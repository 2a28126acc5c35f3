//! `examples/unzip` at scale through the real binary: a 2 GB archive of 100,000 entries
//! (stored, in nested folders, four of them 128 MiB) dropped under `uploads/` is extracted by
//! the built-in `unzip` in steps of a short time budget. The node is killed with SIGKILL
//! mid-way and started again: the execution resumes from the marker of its last finished step,
//! so no entry finished before that marker is written again (each keeps its inode and its
//! modification time: a rewrite renames a new file into place), every entry ends
//! byte-identical, and the node's peak resident memory stays under 256 MiB in both lives.

mod common;

use common::server::Server;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// Entries of the archive.
const ENTRIES: usize = 100_000;
/// The entries (the first ones) of [`BIG_BYTES`] each; the others are small.
const BIG_ENTRIES: usize = 4;
/// Size of a big entry: several multipart parts.
const BIG_BYTES: u64 = 128 * 1024 * 1024;
/// Small entries are 1 to this many bytes.
const SMALL_MAX: u64 = 30_000;
/// Entries' bytes are windows of a pool of this many pseudo-random bytes.
const POOL_BYTES: usize = 1 << 20;
/// The function's time budget per call, so that the flow loops many times.
const BUDGET_SECONDS: u32 = 2;
/// The node's peak resident memory must stay under this (KiB, as `/proc` reports it).
const PEAK_RSS_KIB: u64 = 256 * 1024;
/// The share of the entries extracted before the kill.
const KILL_AT: usize = ENTRIES * 2 / 5;

/// The entries' bytes: deterministic, incompressible, so every entry can be checked against
/// its expected content without keeping it.
struct Contents {
    pool: Vec<u8>,
}

impl Contents {
    fn new() -> Contents {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let pool = (0..POOL_BYTES)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        Contents { pool }
    }

    /// Entry `i`'s name: nested folders, about a hundred files in each.
    fn name(i: usize) -> String {
        format!("d{:02}/e{}/f{i}.bin", i % 100, i / 100 % 10)
    }

    fn size(i: usize) -> u64 {
        if i < BIG_ENTRIES {
            BIG_BYTES
        } else {
            1 + (i as u64).wrapping_mul(2_654_435_761) % SMALL_MAX
        }
    }

    /// Calls `each` with the bytes of entry `i`, in order, in slices of the pool: byte `k`
    /// is the pool's byte `(i * 7919 + k) mod POOL_BYTES`, a window no other entry starts at.
    fn each_slice(&self, i: usize, mut each: impl FnMut(&[u8])) {
        let mut at = i * 7919 % POOL_BYTES;
        let mut left = Contents::size(i);
        while left > 0 {
            let n = left.min((POOL_BYTES - at) as u64) as usize;
            each(&self.pool[at..at + n]);
            left -= n as u64;
            at = (at + n) % POOL_BYTES;
        }
    }

    /// Writes the archive (stored entries, Zip64 end records for its 100,000 entries).
    fn write_archive(&self, path: &Path) {
        let file = std::fs::File::create(path).unwrap();
        let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        for i in 0..ENTRIES {
            let options = options.large_file(i < BIG_ENTRIES);
            zip.start_file(Contents::name(i), options).unwrap();
            self.each_slice(i, |slice| zip.write_all(slice).unwrap());
        }
        zip.finish().unwrap().flush().unwrap();
    }

    /// Whether `path` holds exactly entry `i`'s bytes.
    fn matches(&self, i: usize, path: &Path) -> bool {
        let mut file = std::fs::File::open(path).unwrap();
        if file.metadata().unwrap().len() != Contents::size(i) {
            return false;
        }
        let mut same = true;
        let mut read = vec![0u8; POOL_BYTES];
        self.each_slice(i, |expected| {
            let got = &mut read[..expected.len()];
            file.read_exact(got).unwrap();
            same &= got == expected;
        });
        same
    }
}

/// A copy of the example whose built-in unzip spends [`BUDGET_SECONDS`] a call.
fn project(dir: &Path) {
    common::copy_project(&common::repo().join("examples/unzip"), dir);
    let yaml = std::fs::read_to_string(dir.join("sluice.yaml")).unwrap();
    let short = yaml.replace(
        "options: { budget_seconds: 20 }",
        &format!("options: {{ budget_seconds: {BUDGET_SECONDS} }}"),
    );
    assert_ne!(yaml, short, "the example's function options changed");
    std::fs::write(dir.join("sluice.yaml"), short).unwrap();
    std::fs::create_dir_all(dir.join("data/uploads")).unwrap();
}

/// The peak resident memory of process `pid` so far, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"))
}

fn wait_for<T>(what: &str, limit: Duration, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The executions of the unzip flow, newest first.
fn executions(server: &Server) -> Vec<Value> {
    let reply = server.http("GET", "/v1/executions?flow=unzip", &[], b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["executions"].as_array().unwrap().clone()
}

/// Drops a one-entry archive and waits for its extraction to succeed: the trigger has then
/// listed `uploads/`, so the next archive dropped there is new to it (an object already there
/// when a trigger is first served raises nothing). Returns the probe's execution id.
fn probe(server: &Server, proj: &Path) -> String {
    let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file("probe.txt", SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"probe").unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    common::drop_file(proj.join("data/uploads/probe.zip"), bytes);
    wait_for("the probe's extraction", Duration::from_secs(120), || {
        let all = executions(server);
        let done = all.first().filter(|e| e["status"] != "RUNNING")?;
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        done["id"].as_str().map(str::to_string)
    })
}

/// The id and the ARN of the execution of the unzip flow other than `probe`, once it started.
fn started_execution(server: &Server, probe: &str) -> (String, String) {
    wait_for(
        "the upload to start the flow",
        Duration::from_secs(120),
        || {
            let id = executions(server)
                .iter()
                .filter_map(|e| e["id"].as_str())
                .find(|id| *id != probe)?
                .to_string();
            let reply = server.http("GET", &format!("/v1/executions/{id}"), &[], b"");
            Some((id, reply.json()["arn"].as_str()?.to_string()))
        },
    )
}

/// The marker of the execution's last finished unzip step (0 before the first).
fn finished_marker(server: &Server, arn: &str) -> usize {
    let history = server.ok(
        "GetExecutionHistory",
        json!({"executionArn": arn, "reverseOrder": true, "maxResults": 50}),
    );
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "TaskSucceeded")
        .find_map(|e| {
            let output = e["taskSucceededEventDetails"]["output"].as_str()?;
            serde_json::from_str::<Value>(output).ok()?["marker"].as_u64()
        })
        .map_or(0, |m| m as usize)
}

/// Inode and modification time (ns) of each extracted entry below `marker`.
fn identities(root: &Path, marker: usize) -> HashMap<usize, (u64, i128)> {
    (0..marker)
        .map(|i| {
            let meta = std::fs::metadata(root.join(Contents::name(i)))
                .unwrap_or_else(|e| panic!("entry {i}, before the marker {marker}: {e}"));
            let mtime = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
            (i, (meta.ino(), mtime))
        })
        .collect()
}

/// Removes the 4+ GB the test writes even when it fails.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_2_gb_archive_of_100_000_entries_resumes_after_kill_9_without_rewriting_finished_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = Scratch(tmp.path().to_path_buf());
    let proj = scratch.0.join("proj");
    let state = scratch.0.join("state");
    project(&proj);
    let contents = Contents::new();
    let started = Instant::now();
    let staged = scratch.0.join("big.zip");
    contents.write_archive(&staged);
    let archive_bytes = std::fs::metadata(&staged).unwrap().len();
    assert!(archive_bytes > 2_000_000_000, "{archive_bytes} bytes");
    eprintln!("archive: {archive_bytes} bytes in {:?}", started.elapsed());

    let mut server = Server::start(&state, &proj);
    let probe = probe(&server, &proj);
    std::fs::rename(&staged, proj.join("data/uploads/big.zip")).unwrap();
    let (id, arn) = started_execution(&server, &probe);
    let marker = wait_for(
        "the extraction to pass 40% of the entries",
        Duration::from_secs(600),
        || Some(finished_marker(&server, &arn)).filter(|m| *m >= KILL_AT),
    );
    let first_peak = peak_rss_kib(server.pid());
    server.kill();
    assert!(marker < ENTRIES, "the extraction ended before the kill");
    let root = proj.join("data/unzipped/big");
    let before = identities(&root, marker);
    eprintln!(
        "killed at marker {marker} after {:?}, peak RSS {first_peak} KiB",
        started.elapsed()
    );

    let server = Server::start(&state, &proj);
    let execution = wait_for("the execution to end", Duration::from_secs(600), || {
        let e = server
            .http("GET", &format!("/v1/executions/{id}"), &[], b"")
            .json();
        (e["status"] != "RUNNING").then_some(e)
    });
    let all = executions(&server);
    assert_eq!(
        all.len(),
        2,
        "the restart started no second extraction: {all:?}"
    );
    let second_peak = peak_rss_kib(server.pid());
    eprintln!(
        "done after {:?}, peak RSS {second_peak} KiB",
        started.elapsed()
    );
    assert_eq!(execution["status"], "SUCCEEDED", "{execution}");
    let output: Value = match &execution["output"] {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(output["written"], ENTRIES, "{output}");
    assert!(
        output["calls"].as_u64().unwrap() > 2,
        "the flow looped: {output}"
    );
    for (peak, life) in [(first_peak, "before the kill"), (second_peak, "after it")] {
        assert!(
            peak < PEAK_RSS_KIB,
            "peak RSS {peak} KiB {life}, over {PEAK_RSS_KIB} KiB"
        );
    }

    let rewritten: Vec<usize> = identities(&root, marker)
        .into_iter()
        .filter(|(i, identity)| before[i] != *identity)
        .map(|(i, _)| i)
        .collect();
    assert!(
        rewritten.is_empty(),
        "{} of the {marker} entries finished before the kill were written again, e.g. {:?}",
        rewritten.len(),
        &rewritten[..rewritten.len().min(5)]
    );
    for i in 0..ENTRIES {
        let path = root.join(Contents::name(i));
        assert!(contents.matches(i, &path), "{} differs", path.display());
    }
    assert!(
        !proj.join("data/uploads/big.zip").exists(),
        "the archive is deleted"
    );
    eprintln!("verified after {:?}", started.elapsed());
}
