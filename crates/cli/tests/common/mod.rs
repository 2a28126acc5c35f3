//! Helpers the end-to-end test binaries share.
// Each test binary uses a part of these helpers.
#![allow(dead_code)]

pub mod cdc;
pub mod private_server;
pub mod server;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `sluice` binary with its data directory set (and its store there, whatever the
/// environment says).
pub fn sluice(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.env_remove("SLUICE_STORE")
        .arg("--data-dir")
        .arg(data_dir);
    cmd
}

/// The last JSON line a command printed.
pub fn last_json_line(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "no JSON line in stdout: {text}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(line).expect("valid JSON line")
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes a flow definition as pretty JSON into `dir` and returns its path.
pub fn write_flow(dir: &Path, name: &str, flow: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(flow).unwrap()).unwrap();
    path
}

/// Copies a project directory, leaving out its run state and the entries named in `skip`.
pub fn copy_project_without(from: &Path, to: &Path, skip: &[&str]) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if name == ".sluice" || name == "__pycache__" || skip.iter().any(|s| name == *s) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_project_without(&entry.path(), &target, skip);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Copies a project without its run state or data.
pub fn copy_project(from: &Path, to: &Path) {
    copy_project_without(from, to, &["data"]);
}

/// A flow that waits between steps, so a process can be killed in the middle.
pub fn slow_flow() -> Value {
    json!({
        "StartAt": "Start",
        "States": {
            "Start": {"Type": "Pass", "Result": {"items": [1, 2, 3, 4]}, "Next": "Each"},
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 1,
                "ItemProcessor": {
                    "StartAt": "Nap",
                    "States": {
                        "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Double"},
                        "Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, $)"}, "End": true}
                    }
                },
                "Next": "Rest"
            },
            "Rest": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
            "Done": {"Type": "Pass", "End": true}
        }
    })
}

/// The `sluice` binary with its data directory and, when given, its store.
pub fn sluice_on(data_dir: &Path, store: Option<&str>) -> Command {
    let mut cmd = sluice(data_dir);
    if let Some(store) = store {
        cmd.env("SLUICE_STORE", store);
    }
    cmd
}

/// Runs a command that must succeed and returns the JSON lines it printed.
pub fn json_lines_of(cmd: &mut Command) -> Vec<Value> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// An execution's history events (`sluice history --json`) in a store, when given.
pub fn history_on(data_dir: &Path, store: Option<&str>, id: &str) -> Vec<Value> {
    json_lines_of(sluice_on(data_dir, store).args(["history", id, "--json"]))
}

/// An execution's history events (`sluice history --json`).
pub fn history(data_dir: &Path, id: &str) -> Vec<Value> {
    history_on(data_dir, None, id)
}

/// How many of an execution's history events are of `kind`.
pub fn count_events(data_dir: &Path, store: Option<&str>, id: &str, kind: &str) -> usize {
    history_on(data_dir, store, id)
        .iter()
        .filter(|v| v["type"] == kind)
        .count()
}

/// Writes a file whole into a storage directory as a program does that renames its finished
/// file into place, so that an object trigger's watcher never lists it half-written.
pub fn drop_file(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) {
    let staged = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(staged.path(), contents).unwrap();
    staged.persist(path).unwrap();
}
