//! AWS's own Python SDK against `sluice serve`: tests/boto3/test_sfn.py drives the Step
//! Functions and Lambda APIs of a real server serving tests/fixtures/api.
//!
//! The interpreter is `SLUICE_PYTHON` (`.ci/run` sets it to a virtual environment with a
//! pinned boto3), else the repository's `.venv`, else `python3`; without boto3 the test says it
//! skipped, or fails when `SLUICE_REQUIRE_SERVICES=1`.

mod common;

use common::server::Server;
use sluice_engine::testing::skip;
use std::path::PathBuf;
use std::process::Command;

/// An interpreter that imports boto3, or why there is none.
fn python_with_boto3() -> Result<PathBuf, String> {
    let venv = common::repo().join(".venv/bin/python");
    let candidates: Vec<PathBuf> = match std::env::var_os("SLUICE_PYTHON") {
        Some(given) => vec![given.into()],
        None => vec![venv, "python3".into()],
    };
    for python in &candidates {
        let imports = Command::new(python)
            .args(["-c", "import boto3"])
            .output()
            .is_ok_and(|o| o.status.success());
        if imports {
            return Ok(python.clone());
        }
    }
    Err(format!(
        "no Python with boto3 among {candidates:?} (set SLUICE_PYTHON, or run .ci/run, which makes .venv)"
    ))
}

#[test]
fn boto3_drives_step_functions_and_lambda() {
    let python = match python_with_boto3() {
        Ok(p) => p,
        Err(why) => return skip(&why),
    };
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    common::copy_project(
        &common::repo().join("crates/cli/tests/fixtures/api"),
        &project,
    );
    let server = Server::start(&tmp.path().join("data"), &project);
    let script = common::repo().join("crates/cli/tests/boto3/test_sfn.py");
    let out = Command::new(&python)
        .arg(&script)
        .env("SLUICE_ENDPOINT", format!("http://{}", server.addr))
        .env("SLUICE_GATE", tmp.path().join("gate-open"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    assert!(stdout.contains("ok test_lambda_invoke"), "{stdout}");
    assert!(!stdout.contains("FAILED"), "{stdout}");
}
