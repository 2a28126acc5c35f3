//! Helpers the end-to-end test binaries share.

use serde_json::Value;
use std::path::Path;
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
