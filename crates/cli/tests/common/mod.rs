//! Helpers the end-to-end test binaries share.
// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use serde_json::Value;
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
