//! `sluice serve` driven over HTTP as AWS's Step Functions clients drive it.

mod common;

use common::server::Server;
use serde_json::{Value, json};
use std::path::Path;

const MACHINE: &str = "arn:aws:states:local:000000000000:stateMachine:hello";

/// A project with one flow, `hello`: `flow` in `hello.json`.
fn project(dir: &Path, flow: &Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("sluice.yaml"), "flows:\n  hello: hello.json\n").unwrap();
    common::write_flow(dir, "hello.json", flow);
}

fn greeting() -> Value {
    json!({"StartAt": "Greet", "States": {"Greet": {"Type": "Pass",
        "Parameters": {"greeting.$": "States.Format('Hello, {}!', $.name)"}, "Next": "Done"},
        "Done": {"Type": "Succeed"}}})
}

#[test]
fn serves_a_flow_to_step_functions_clients() {
    let tmp = tempfile::tempdir().unwrap();
    project(&tmp.path().join("p"), &greeting());
    let server = Server::start(&tmp.path().join("data"), &tmp.path().join("p"));

    let machines = server.ok("ListStateMachines", json!({}));
    assert_eq!(machines["stateMachines"].as_array().unwrap().len(), 1);
    assert_eq!(machines["stateMachines"][0]["stateMachineArn"], MACHINE);
    assert_eq!(machines["stateMachines"][0]["name"], "hello");
    let described = server.ok("DescribeStateMachine", json!({"stateMachineArn": MACHINE}));
    assert_eq!(described["status"], "ACTIVE");
    assert!(described["definition"].as_str().unwrap().contains("Greet"));

    let start = json!({"stateMachineArn": MACHINE, "name": "first", "input": r#"{"name": "Ada"}"#});
    let started = server.ok("StartExecution", start.clone());
    let arn = started["executionArn"].as_str().unwrap().to_string();
    assert_eq!(
        arn,
        "arn:aws:states:local:000000000000:execution:hello:first"
    );
    assert!(started["startDate"].as_f64().unwrap() > 1.0e9);

    let done = server.await_status(&arn, "SUCCEEDED");
    let output: Value = serde_json::from_str(done["output"].as_str().unwrap()).unwrap();
    assert_eq!(output, json!({"greeting": "Hello, Ada!"}));
    assert!(done["stopDate"].as_f64().unwrap() >= done["startDate"].as_f64().unwrap());

    // The history, two events a page, forwards and then backwards.
    let mut forward = Vec::new();
    let mut token = None;
    loop {
        let mut request = json!({"executionArn": arn, "maxResults": 2});
        if let Some(t) = &token {
            request["nextToken"] = json!(t);
        }
        let page = server.ok("GetExecutionHistory", request);
        let events = page["events"].as_array().unwrap();
        assert!(!events.is_empty() && events.len() <= 2, "{page}");
        forward.extend(events.iter().cloned());
        match page.get("nextToken") {
            Some(t) => token = Some(t.clone()),
            None => break,
        }
    }
    let ids: Vec<u64> = forward.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    assert_eq!(forward[0]["type"], "ExecutionStarted");
    assert_eq!(
        forward[0]["executionStartedEventDetails"]["input"],
        r#"{"name":"Ada"}"#
    );
    assert_eq!(forward.last().unwrap()["type"], "ExecutionSucceeded");
    let newest = server.ok(
        "GetExecutionHistory",
        json!({"executionArn": arn, "maxResults": 2, "reverseOrder": true}),
    );
    let newest: Vec<&Value> = newest["events"].as_array().unwrap().iter().collect();
    let expected: Vec<&Value> = forward.iter().rev().take(2).collect();
    assert_eq!(newest, expected);

    // Starting the same name again: the same execution with the same input, refused otherwise.
    assert_eq!(server.ok("StartExecution", start)["executionArn"], arn);
    let other = json!({"stateMachineArn": MACHINE, "name": "first", "input": r#"{"name": "Bo"}"#});
    let (status, error) = server.call("StartExecution", other);
    assert_eq!(status, 400);
    assert_eq!(error["__type"], "ExecutionAlreadyExists", "{error}");

    let listed = server.ok("ListExecutions", json!({"stateMachineArn": MACHINE}));
    assert_eq!(listed["executions"][0]["executionArn"], arn);
    assert_eq!(listed["executions"][0]["status"], "SUCCEEDED");
    let running = server.ok(
        "ListExecutions",
        json!({"stateMachineArn": MACHINE, "statusFilter": "RUNNING"}),
    );
    assert_eq!(running["executions"], json!([]));
}

#[test]
fn stops_a_long_running_execution() {
    let tmp = tempfile::tempdir().unwrap();
    let flow =
        json!({"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 600, "End": true}}});
    project(&tmp.path().join("p"), &flow);
    let server = Server::start(&tmp.path().join("data"), &tmp.path().join("p"));

    let started = server.ok("StartExecution", json!({"stateMachineArn": MACHINE}));
    let arn = started["executionArn"].as_str().unwrap().to_string();
    let name = arn.rsplit(':').next().unwrap();
    assert!(uuid::Uuid::parse_str(name).is_ok(), "{arn}");
    assert_eq!(
        server.ok("DescribeExecution", json!({"executionArn": arn}))["status"],
        "RUNNING"
    );

    let stopped = server.ok(
        "StopExecution",
        json!({"executionArn": arn, "error": "Operator", "cause": "not needed"}),
    );
    assert!(stopped["stopDate"].as_f64().is_some());
    let aborted = server.await_status(&arn, "ABORTED");
    assert_eq!(aborted["error"], "Operator");
    assert_eq!(aborted["cause"], "not needed");
}

#[test]
fn bad_requests_get_aws_errors_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    project(&tmp.path().join("p"), &greeting());
    let server = Server::start(&tmp.path().join("data"), &tmp.path().join("p"));
    let missing = "arn:aws:states:local:000000000000:execution:hello:nobody";
    let cases = [
        (
            "AWSStepFunctions.Dance",
            "{}".to_string(),
            "UnknownOperationException",
        ),
        (
            "Other.ListStateMachines",
            "{}".into(),
            "UnknownOperationException",
        ),
        (
            "AWSStepFunctions.DescribeExecution",
            "{\"executionArn\":".into(),
            "SerializationException",
        ),
        (
            "AWSStepFunctions.DescribeExecution",
            json!({"executionArn": missing}).to_string(),
            "ExecutionDoesNotExist",
        ),
        (
            "AWSStepFunctions.StopExecution",
            json!({"executionArn": missing}).to_string(),
            "ExecutionDoesNotExist",
        ),
        (
            "AWSStepFunctions.GetExecutionHistory",
            json!({"executionArn": "nonsense"}).to_string(),
            "InvalidArn",
        ),
        (
            "AWSStepFunctions.StartExecution",
            json!({"stateMachineArn": "arn:aws:states:local:000000000000:stateMachine:other"})
                .to_string(),
            "StateMachineDoesNotExist",
        ),
        (
            "AWSStepFunctions.StartExecution",
            json!({"stateMachineArn": MACHINE, "name": "a b"}).to_string(),
            "InvalidName",
        ),
        (
            "AWSStepFunctions.StartExecution",
            json!({"stateMachineArn": MACHINE, "input": "{nope"}).to_string(),
            "InvalidExecutionInput",
        ),
    ];
    for (target, body, code) in cases {
        let (status, error) = server.raw(target, &body);
        assert_eq!(status, 400, "{target} {body}: {error}");
        assert_eq!(error["__type"], code, "{target} {body}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let machines = server.ok("ListStateMachines", json!({}));
    assert_eq!(machines["stateMachines"][0]["stateMachineArn"], MACHINE);
}

#[test]
fn refuses_to_listen_beyond_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    project(&tmp.path().join("p"), &greeting());
    let out = common::sluice(&tmp.path().join("data"))
        .arg("serve")
        .arg(tmp.path().join("p"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("beyond loopback, requests must be authenticated"),
        "{stderr}"
    );
    // Access keys alone are not enough: /metrics needs its token too.
    let out = common::sluice(&tmp.path().join("data"))
        .arg("serve")
        .arg(tmp.path().join("p"))
        .args(["--listen", "0.0.0.0:0", "--access-keys", "id:secret"])
        .env_remove("SLUICE_API_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = common::sluice(&tmp.path().join("data"))
        .arg("serve")
        .arg(tmp.path().join("p"))
        .args(["--access-keys", "no-secret"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--access-keys: access key \"no-secret\""),
        "{stderr}"
    );
}

#[cfg(feature = "s3")]
#[test]
fn the_s3_endpoint_needs_access_keys_and_a_valid_bucket_name() {
    let tmp = tempfile::tempdir().unwrap();
    project(&tmp.path().join("p"), &greeting());
    let serve = |args: &[&str]| {
        let out = common::sluice(&tmp.path().join("data"))
            .arg("serve")
            .arg(tmp.path().join("p"))
            .args(["--s3-listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("SLUICE_ACCESS_KEYS")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = serve(&["--s3-bucket", "lake"]);
    assert!(
        stderr.contains("the S3 endpoint needs access keys"),
        "{stderr}"
    );
    let stderr = serve(&["--access-keys", "id:secret"]);
    assert!(
        stderr.contains("the project directory's name 'p' makes no S3 bucket name"),
        "{stderr}"
    );
    let stderr = serve(&["--access-keys", "id:secret", "--s3-bucket", "Not_A_Bucket"]);
    assert!(
        stderr.contains("bucket name 'Not_A_Bucket' is not a valid S3 bucket name"),
        "{stderr}"
    );
}

#[test]
fn sluice_log_traces_requests_and_executions() {
    let tmp = tempfile::tempdir().unwrap();
    project(&tmp.path().join("p"), &greeting());
    let mut command = common::sluice(&tmp.path().join("data"));
    command.env("SLUICE_LOG", "info");
    let server = Server::spawn(command, &tmp.path().join("p"), &[]);
    let started = server.ok(
        "StartExecution",
        json!({"stateMachineArn": MACHINE, "name": "traced", "input": "{\"name\": \"Log\"}"}),
    );
    let arn = started["executionArn"].as_str().unwrap();
    server.await_status(arn, "SUCCEEDED");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !server.stderr().contains("execution ended execution=traced") {
        assert!(std::time::Instant::now() < deadline, "{}", server.stderr());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = server.stderr();
    assert!(log.contains("execution started execution=traced"), "{log}");
    assert!(
        log.contains(
            "request{method=POST path=/ operation=AWSStepFunctions.StartExecution status=200}"
        ),
        "{log}"
    );
    let out = common::sluice(&tmp.path().join("data"))
        .args(["list"])
        .env("SLUICE_LOG", "loud")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SLUICE_LOG=\"loud\""));
}
