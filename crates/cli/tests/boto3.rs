//! AWS's own Python SDK against `sluice serve`: tests/boto3/test_sfn.py drives the Step
//! Functions and Lambda APIs of a real server serving tests/fixtures/api.
//!
//! tests/boto3/test_sqs.py runs twice: under current boto3 (SQS over JSON 1.0) and under an
//! older boto3 whose SQS speaks the query protocol (see [`python_with_boto3`]); without the
//! boto3 a test needs it says it skipped, or fails when `SLUICE_REQUIRE_SERVICES=1`.

mod common;

use common::server::Server;
use sluice_engine::testing::skip;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which boto3 a script runs under.
#[derive(Clone, Copy)]
enum Sdk {
    /// The pinned current release: SQS over AWS JSON 1.0.
    Current,
    /// An older release whose SQS client speaks the query protocol.
    Query,
}

/// An interpreter whose boto3 is `sdk`, or why there is none. The current one is
/// `SLUICE_PYTHON` (`.ci/run` sets it to a virtual environment with a pinned boto3), else the
/// repository's `.venv`, else `python3`; the older one `SLUICE_PYTHON_QUERY`, else `.venv-query`.
fn python_with_boto3(sdk: Sdk) -> Result<PathBuf, String> {
    let (variable, venv, check) = match sdk {
        Sdk::Current => ("SLUICE_PYTHON", ".venv", "import boto3"),
        Sdk::Query => (
            "SLUICE_PYTHON_QUERY",
            ".venv-query",
            "import boto3, sys; sys.exit(boto3.client('sqs', region_name='us-east-1').meta.service_model.protocol != 'query')",
        ),
    };
    let venv = common::repo().join(venv).join("bin/python");
    let candidates: Vec<PathBuf> = match (std::env::var_os(variable), sdk) {
        (Some(given), _) => vec![given.into()],
        (None, Sdk::Current) => vec![venv, "python3".into()],
        (None, Sdk::Query) => vec![venv],
    };
    for python in &candidates {
        let imports = Command::new(python)
            .args(["-c", check])
            .output()
            .is_ok_and(|o| o.status.success());
        if imports {
            return Ok(python.clone());
        }
    }
    Err(format!(
        "no Python with the boto3 needed among {candidates:?} (set {variable}, or run .ci/run, which makes it)"
    ))
}

/// Runs `script` (under tests/boto3) with boto3 against a node of tests/fixtures/api started
/// with `args`, and returns its stdout once it succeeded; `None` when there is no boto3.
fn run_script(script: &str, args: &[&str]) -> Option<String> {
    run_script_under(Sdk::Current, script, args)
}

/// Like [`run_script`] under the boto3 `sdk`.
fn run_script_under(sdk: Sdk, script: &str, args: &[&str]) -> Option<String> {
    let api = common::repo().join("crates/cli/tests/fixtures/api");
    run_script_on(sdk, &api, script, args, |_| Vec::new())
}

/// Like [`run_script`] with a copy of the project `source`, and the variables `env` gives for
/// the started node added to the script's environment.
fn run_script_on(
    sdk: Sdk,
    source: &Path,
    script: &str,
    args: &[&str],
    env: impl Fn(&Server) -> Vec<(&'static str, String)>,
) -> Option<String> {
    let python = match python_with_boto3(sdk) {
        Ok(p) => p,
        Err(why) => {
            skip(&why);
            return None;
        }
    };
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("project");
    common::copy_project(source, &project);
    let server = Server::start_with(&tmp.path().join("data"), &project, args);
    let script = common::repo().join("crates/cli/tests/boto3").join(script);
    let out = Command::new(&python)
        .arg(&script)
        .env("SLUICE_ENDPOINT", format!("http://{}", server.addr))
        .env("SLUICE_GATE", tmp.path().join("gate-open"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .envs(env(&server))
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
    assert!(!stdout.contains("FAILED"), "{stdout}");
    Some(stdout.into_owned())
}

#[test]
fn boto3_drives_step_functions_and_lambda() {
    if let Some(stdout) = run_script("test_sfn.py", &[]) {
        assert!(stdout.contains("ok test_lambda_invoke"), "{stdout}");
    }
}

#[test]
fn boto3_works_a_pull_queue_as_an_sqs_queue() {
    if let Some(stdout) = run_script("test_sqs.py", &[]) {
        assert!(stdout.contains("sqs protocol: json"), "{stdout}");
        assert!(
            stdout.contains("ok test_long_polling_waits_for_a_send"),
            "{stdout}"
        );
    }
}

#[test]
fn an_older_boto3_works_the_queue_over_the_sqs_query_protocol() {
    if let Some(stdout) = run_script_under(Sdk::Query, "test_sqs.py", &[]) {
        assert!(stdout.contains("sqs protocol: query"), "{stdout}");
        assert!(stdout.contains("ok test_batches"), "{stdout}");
    }
}

#[test]
fn boto3_publishes_on_topics_and_puts_events_on_the_bus() {
    if let Some(stdout) = run_script("test_sns_events.py", &[]) {
        assert!(
            stdout.contains("ok test_put_events_reaches_the_queue_of_the_matching_rule"),
            "{stdout}"
        );
        assert!(
            stdout.contains("ok test_publish_fans_out_by_filter_policy"),
            "{stdout}"
        );
    }
}

#[test]
fn boto3_signatures_are_checked_against_the_nodes_access_keys() {
    let args = [
        "--access-keys",
        "test:test,other:right-secret",
        "--token",
        "t0ken",
    ];
    if let Some(stdout) = run_script("test_auth.py", &args) {
        assert!(stdout.contains("ok test_bearer_token"), "{stdout}");
    }
}

#[cfg(feature = "s3")]
#[test]
fn boto3_moves_data_through_the_s3_endpoint_and_a_flow_reads_it() {
    if let Some(stdout) = run_s3_script("examples/wordcount-distributed", "lake", "test_s3.py") {
        assert!(
            stdout.contains("ok test_a_flow_counts_uploaded_data_and_its_results_are_read_back"),
            "{stdout}"
        );
        assert!(
            stdout.contains("ok test_multipart_upload_of_12_mib_in_5_mib_parts"),
            "{stdout}"
        );
    }
}

#[cfg(feature = "s3")]
#[test]
fn boto3_uploads_logs_that_an_object_trigger_queues_for_the_ingest_example() {
    if let Some(stdout) = run_s3_script("examples/ingest", "logs-lake", "test_uploads.py") {
        assert!(
            stdout.contains("ok test_an_uploaded_log_is_parsed_and_the_event_names_the_object"),
            "{stdout}"
        );
        assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
    }
}

#[cfg(feature = "s3")]
#[test]
fn boto3_restores_archived_objects_through_the_s3_endpoint() {
    if let Some(stdout) = run_s3_script("examples/batch-restore", "cold", "test_restore.py") {
        assert!(
            stdout.contains("ok test_a_glacier_object_is_read_only_after_its_restore"),
            "{stdout}"
        );
        assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
    }
}

/// Runs `script` against a node of the example `project` serving its storage as `bucket` on an
/// S3 endpoint (signed with the key `test:test`), which the script finds in `SLUICE_S3_ENDPOINT`
/// and `SLUICE_S3_BUCKET`.
#[cfg(feature = "s3")]
fn run_s3_script(project: &str, bucket: &str, script: &str) -> Option<String> {
    let project = common::repo().join(project);
    let args = [
        "--s3-listen",
        "127.0.0.1:0",
        "--s3-bucket",
        bucket,
        "--access-keys",
        "test:test",
    ];
    let env = |server: &Server| {
        vec![
            (
                "SLUICE_S3_ENDPOINT",
                format!("http://{}", s3_address(server)),
            ),
            ("SLUICE_S3_BUCKET", bucket.to_string()),
        ]
    };
    run_script_on(Sdk::Current, &project, script, &args, env)
}

/// The S3 endpoint's `host:port`, from the node's start-up line.
#[cfg(feature = "s3")]
fn s3_address(server: &Server) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stderr = server.stderr();
        let address = stderr
            .split("S3: bucket ")
            .nth(1)
            .and_then(|rest| rest.split("on http://").nth(1))
            .and_then(|rest| rest.split_whitespace().next());
        if let Some(address) = address {
            return address.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no S3 address: {stderr}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
