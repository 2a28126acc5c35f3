//! `sluice serve` over raw HTTP: state machines managed through the API, the Lambda Invoke
//! API, the operators' endpoints, and AWS-shaped answers to requests that are too large or
//! malformed. (tests/boto3.rs drives the same server with AWS's SDK.)

mod common;

use common::server::Server;
use serde_json::{Value, json};
use std::path::Path;

const ACCOUNT: &str = "arn:aws:states:local:000000000000";

/// A server of tests/fixtures/api with its data in `dir`.
fn serve_fixture(dir: &Path) -> Server {
    let project = dir.join("project");
    common::copy_project(
        &common::repo().join("crates/cli/tests/fixtures/api"),
        &project,
    );
    Server::start(&dir.join("data"), &project)
}

fn machine(name: &str) -> String {
    format!("{ACCOUNT}:stateMachine:{name}")
}

/// Starts an execution of `arn` with `input` and returns its output once it succeeded.
fn run(server: &Server, arn: &str, input: Value) -> Value {
    let started = server.ok(
        "StartExecution",
        json!({"stateMachineArn": arn, "input": input.to_string()}),
    );
    let arn = started["executionArn"].as_str().unwrap();
    let done = server.await_status(arn, "SUCCEEDED");
    serde_json::from_str(done["output"].as_str().unwrap()).unwrap()
}

fn pass(result: Value) -> String {
    json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "End": true}}})
        .to_string()
}

#[test]
fn state_machines_are_created_updated_and_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve_fixture(tmp.path());
    let create = |name: &str, definition: &str| {
        server.call(
            "CreateStateMachine",
            json!({"name": name, "definition": definition, "roleArn": "arn:aws:iam::0:role/r"}),
        )
    };

    let (status, created) = create("made", &pass(json!({"v": 1})));
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["stateMachineArn"], machine("made"));
    // The same definition again is the same state machine; another one is refused.
    assert_eq!(create("made", &pass(json!({"v": 1}))).1, created);
    let (status, error) = create("made", &pass(json!({"v": 2})));
    assert_eq!(
        (status, error["__type"].as_str()),
        (400, Some("StateMachineAlreadyExists"))
    );
    let (_, error) = create("hello", &pass(json!({})));
    assert_eq!(error["__type"], "StateMachineAlreadyExists", "{error}");
    let (_, error) = create("bad name", &pass(json!({})));
    assert_eq!(error["__type"], "InvalidName", "{error}");
    let broken = json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Gone"}}});
    let (status, error) = create("broken", &broken.to_string());
    assert_eq!(
        (status, error["__type"].as_str()),
        (400, Some("InvalidDefinition"))
    );
    assert!(
        error["message"].as_str().unwrap().contains("Gone"),
        "{error}"
    );

    let first = run(&server, &machine("made"), json!({}));
    assert_eq!(first, json!({"v": 1}));
    let first_arn = server.ok(
        "ListExecutions",
        json!({"stateMachineArn": machine("made")}),
    )["executions"][0]["executionArn"]
        .clone();

    // CloudFlow FDL in YAML is accepted too.
    let fdl = "Type: StateMachine\nName: fdl\nSpecVersion: v1\nStartAt: Hi\nStates:\n  - Type: Pass\n    Name: Hi\n    End: true\n";
    let (status, body) = create("fdl", fdl);
    assert_eq!(status, 200, "{body}");
    run(&server, &machine("fdl"), json!({"k": 1}));

    // An update serves the new definition; the earlier execution keeps its own.
    server.ok(
        "UpdateStateMachine",
        json!({"stateMachineArn": machine("made"), "definition": pass(json!({"v": 2}))}),
    );
    assert_eq!(run(&server, &machine("made"), json!({})), json!({"v": 2}));
    let described = server.ok(
        "DescribeStateMachine",
        json!({"stateMachineArn": machine("made")}),
    );
    assert!(
        described["definition"]
            .as_str()
            .unwrap()
            .contains("\"v\":2"),
        "{described}"
    );
    let old = server.ok(
        "DescribeStateMachineForExecution",
        json!({"executionArn": first_arn}),
    );
    assert!(
        old["definition"].as_str().unwrap().contains("\"v\":1"),
        "{old}"
    );

    // The project's flows are not the API's to change.
    for (op, extra) in [
        ("UpdateStateMachine", json!({"definition": pass(json!({}))})),
        ("DeleteStateMachine", json!({})),
    ] {
        let mut request = extra;
        request["stateMachineArn"] = json!(machine("hello"));
        let (status, error) = server.call(op, request);
        assert_eq!(
            (status, error["__type"].as_str()),
            (400, Some("ValidationException")),
            "{op}"
        );
    }

    server.ok(
        "DeleteStateMachine",
        json!({"stateMachineArn": machine("made")}),
    );
    let (_, error) = server.call(
        "DescribeStateMachine",
        json!({"stateMachineArn": machine("made")}),
    );
    assert_eq!(error["__type"], "StateMachineDoesNotExist");
    let (_, error) = server.call(
        "StartExecution",
        json!({"stateMachineArn": machine("made")}),
    );
    assert_eq!(error["__type"], "StateMachineDoesNotExist");
    // Its executions are still there.
    let (status, _) = server.call("DescribeExecution", json!({"executionArn": first_arn}));
    assert_eq!(status, 200);
    let names: Vec<Value> = server.ok("ListStateMachines", json!({}))["stateMachines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(
        names,
        json!(["fan", "fdl", "gated", "hello", "nap"])
            .as_array()
            .unwrap()
            .clone()
    );
    let fdl_created = server.ok(
        "DescribeStateMachine",
        json!({"stateMachineArn": machine("fdl")}),
    );

    // The next process serves the API's state machines again.
    drop(server);
    let server = serve_fixture(tmp.path());
    let again = server.ok(
        "DescribeStateMachine",
        json!({"stateMachineArn": machine("fdl")}),
    );
    assert_eq!(again, fdl_created);
    run(&server, &machine("fdl"), json!({"k": 2}));
    let (_, error) = server.call(
        "DescribeStateMachine",
        json!({"stateMachineArn": machine("made")}),
    );
    assert_eq!(error["__type"], "StateMachineDoesNotExist");
}

#[test]
fn the_lambda_api_calls_project_functions() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve_fixture(tmp.path());
    let invoke = |name: &str, headers: &[(&str, &str)], body: &str| {
        server.http(
            "POST",
            &format!("/2015-03-31/functions/{name}/invocations"),
            headers,
            body.as_bytes(),
        )
    };

    let reply = invoke("greet", &[("X-Amz-Log-Type", "Tail")], r#"{"name": "Ada"}"#);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!({"greeting": "Hello, Ada!"}));
    assert_eq!(reply.header("x-amz-function-error"), None);
    let tail = reply.header("x-amz-log-result").unwrap();
    assert_eq!(base64_decode(tail), "greeting Ada\n");

    // By ARN, as SDKs may name it.
    let arn = "arn:aws:lambda:local:000000000000:function:greet";
    assert_eq!(
        invoke(arn, &[], "{}").json(),
        json!({"greeting": "Hello, world!"})
    );

    // Results may be as large as Lambda's (6 MB), past a Task's 256 KiB.
    let long = "x".repeat(300 << 10);
    let big = invoke("greet", &[], &json!({ "name": long }).to_string());
    assert_eq!(big.status, 200);
    assert_eq!(big.header("x-amz-function-error"), None, "{}", big.text());
    assert_eq!(
        big.json()["greeting"].as_str().unwrap().len(),
        long.len() + 8
    );

    let failed = invoke("fail", &[], r#"{"name": "Bo"}"#);
    assert_eq!(failed.status, 200);
    assert_eq!(failed.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(failed.json()["errorType"], "ValueError");
    assert_eq!(failed.json()["errorMessage"], "no greeting for Bo");

    // An Event invocation answers at once and runs in the background: its output reaches the
    // function's log.
    let queued = invoke(
        "greet",
        &[("X-Amz-Invocation-Type", "Event")],
        r#"{"name": "Eve"}"#,
    );
    assert_eq!(queued.status, 202);
    let log = tmp.path().join("data/logs/greet.jsonl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("greeting Eve")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no Event call in {log:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        invoke("greet", &[("X-Amz-Invocation-Type", "DryRun")], "{}").status,
        204
    );

    let cases = [
        ("nobody", "{}", vec![], 404, "ResourceNotFoundException"),
        (
            "greet",
            "{nope",
            vec![],
            400,
            "InvalidRequestContentException",
        ),
        (
            "greet",
            "{}",
            vec![("X-Amz-Invocation-Type", "Later")],
            400,
            "InvalidParameterValueException",
        ),
    ];
    for (name, body, headers, status, code) in cases {
        let reply = invoke(name, &headers, body);
        assert_eq!(reply.status, status, "{name} {body}: {}", reply.text());
        assert_eq!(reply.header("x-amzn-errortype"), Some(code));
        assert_eq!(reply.json()["Type"], "User");
        assert!(
            reply.json()["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }

    let listed = server
        .http("GET", "/2015-03-31/functions/", &[], b"")
        .json();
    let names: Vec<&str> = listed["Functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["FunctionName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["greet", "fail", "gate"]);
}

/// Decodes standard base64 (the test's own, to check the server's).
fn base64_decode(text: &str) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn operators_see_health_readiness_and_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve_fixture(tmp.path());
    assert_eq!(server.http("GET", "/healthz", &[], b"").status, 200);
    assert_eq!(server.http("GET", "/readyz", &[], b"").status, 200);

    run(&server, &machine("hello"), json!({"name": "Ada"}));
    let reply = server.http("GET", "/metrics", &[], b"");
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let metrics = reply.text();
    let value = |sample: &str| -> u64 {
        let line = metrics
            .lines()
            .find(|l| l.rsplit_once(' ').is_some_and(|(name, _)| name == sample))
            .unwrap_or_else(|| panic!("no {sample} in\n{metrics}"));
        line.rsplit_once(' ').unwrap().1.parse().unwrap()
    };
    assert_eq!(value("sluice_executions_started_total"), 1);
    assert_eq!(
        value("sluice_executions_finished_total{status=\"SUCCEEDED\"}"),
        1
    );
    assert_eq!(
        value("sluice_executions_finished_total{status=\"FAILED\"}"),
        0
    );
    assert!(value("sluice_state_transitions_total") >= 1);
    assert!(value("sluice_store_commits_total") >= 1);
    assert_eq!(value("sluice_task_invocations_total"), 1);
    assert_eq!(value("sluice_state_machines"), 4);
}

#[test]
fn oversized_and_malformed_requests_get_aws_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve_fixture(tmp.path());
    let describe = "AWSStepFunctions.DescribeExecution";

    // Over the 1 MiB limit: 413 in the JSON 1.0 shape, not a plain-text page.
    let big = format!("{{\"input\": \"{}\"}}", "x".repeat(2 << 20));
    let reply = server.http(
        "POST",
        "/",
        &[("X-Amz-Target", "AWSStepFunctions.StartExecution")],
        big.as_bytes(),
    );
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["__type"], "RequestTooLargeException");
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("RequestTooLargeException")
    );

    let cases = [
        (describe, "[1, 2]", "SerializationException"),
        (describe, "\"text\"", "SerializationException"),
        (describe, r#"{"executionArn": 7}"#, "SerializationException"),
        (describe, "{}", "ValidationException"),
        (
            "AWSStepFunctions.GetExecutionHistory",
            r#"{"executionArn": "arn:aws:states:local:000000000000:execution:hello:x", "includeExecutionData": "no"}"#,
            "SerializationException",
        ),
        (
            "AWSStepFunctions.ListExecutions",
            &format!(r#"{{"stateMachineArn": "{ACCOUNT}:stateMachine:hello", "maxResults": "2"}}"#),
            "ValidationException",
        ),
        (
            "AWSStepFunctions.ListExecutions",
            &format!(r#"{{"stateMachineArn": "{ACCOUNT}:stateMachine:hello", "nextToken": "zz"}}"#),
            "InvalidToken",
        ),
        (
            "AWSStepFunctions.ListExecutions",
            r#"{"mapRunArn": "arn:aws:states:local:000000000000:mapRun:fan/Fan:0"}"#,
            "ResourceNotFound",
        ),
        (
            "AWSStepFunctions.DescribeMapRun",
            r#"{"mapRunArn": "arn:aws:states:local:000000000000:mapRun:nonsense"}"#,
            "InvalidArn",
        ),
        ("", "{}", "UnknownOperationException"),
    ];
    for (target, body, code) in cases {
        let (status, error) = server.raw(target, body);
        assert_eq!(status, 400, "{target} {body}: {error}");
        assert_eq!(error["__type"], code, "{target} {body}: {error}");
    }
    let reply = server.http("GET", "/nowhere", &[], b"");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["__type"], "UnknownOperationException");
    // `GET /` is the web console's page.
    let page = server.http("GET", "/", &[], b"");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/console/app.js"), "{}", page.text());
    // Still serving.
    assert_eq!(server.http("GET", "/healthz", &[], b"").status, 200);
}

#[test]
fn failed_executions_are_redriven_and_map_runs_described() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve_fixture(tmp.path());

    // `gate` fails until its file exists; the execution is redriven once it does.
    let gate = tmp.path().join("gate");
    let input = json!({"open": gate}).to_string();
    let started = server.ok(
        "StartExecution",
        json!({"stateMachineArn": machine("gated"), "input": input}),
    );
    let arn = started["executionArn"].as_str().unwrap();
    let failed = server.await_status(arn, "FAILED");
    assert_eq!(failed["redriveStatus"], "REDRIVABLE", "{failed}");
    std::fs::write(&gate, "").unwrap();
    let redriven = server.ok("RedriveExecution", json!({"executionArn": arn}));
    assert!(redriven["redriveDate"].as_f64().unwrap() >= failed["stopDate"].as_f64().unwrap());
    let done = server.await_status(arn, "SUCCEEDED");
    assert_eq!(done["redriveCount"], 1);
    let (status, error) = server.call("RedriveExecution", json!({"executionArn": arn}));
    assert_eq!(
        (status, error["__type"].as_str()),
        (400, Some("ExecutionNotRedrivable"))
    );

    // A Distributed Map's run, its counts and its child executions.
    let names = ["a", "b", "c"];
    run(&server, &machine("fan"), json!({ "names": names }));
    let parent = server.ok(
        "ListExecutions",
        json!({"stateMachineArn": machine("fan"), "maxResults": 1}),
    )["executions"][0]["executionArn"]
        .clone();
    let runs = server.ok("ListMapRuns", json!({"executionArn": parent}))["mapRuns"].clone();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    let run_arn = runs[0]["mapRunArn"].as_str().unwrap();
    assert!(
        run_arn.starts_with(&format!("{ACCOUNT}:mapRun:fan/Fan:")),
        "{run_arn}"
    );
    let described = server.ok("DescribeMapRun", json!({"mapRunArn": run_arn}));
    assert_eq!(described["status"], "SUCCEEDED");
    assert_eq!(described["executionArn"], parent);
    assert_eq!(described["maxConcurrency"], 2);
    for counts in ["itemCounts", "executionCounts"] {
        assert_eq!(described[counts]["succeeded"], 3, "{described}");
        assert_eq!(described[counts]["total"], 3, "{described}");
        assert_eq!(described[counts]["running"], 0, "{described}");
    }
    // Children two at a time, then the rest.
    let first = server.ok(
        "ListExecutions",
        json!({"mapRunArn": run_arn, "maxResults": 2}),
    );
    let token = first["nextToken"].as_str().unwrap();
    let rest = server.ok(
        "ListExecutions",
        json!({"mapRunArn": run_arn, "nextToken": token}),
    );
    assert!(rest.get("nextToken").is_none(), "{rest}");
    let mut children: Vec<String> = first["executions"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["executions"].as_array().unwrap())
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    children.sort();
    children.dedup();
    assert_eq!(children.len(), 3, "{children:?}");
    // A child is described like any execution, but stopped only through its parent.
    let child = first["executions"][0]["executionArn"].as_str().unwrap();
    let described = server.ok("DescribeExecution", json!({"executionArn": child}));
    assert_eq!(described["status"], "SUCCEEDED", "{described}");
    let output: Value = serde_json::from_str(described["output"].as_str().unwrap()).unwrap();
    assert!(
        output["greeting"].as_str().unwrap().starts_with("Hello, "),
        "{output}"
    );
    let (status, error) = server.call("StopExecution", json!({"executionArn": child}));
    assert_eq!(
        (status, error["__type"].as_str()),
        (400, Some("ValidationException"))
    );
}
