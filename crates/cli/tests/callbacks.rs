//! Callbacks and child flows through `sluice serve`: `.waitForTaskToken` Tasks completed by
//! `SendTaskSuccess` / `SendTaskFailure`, heartbeats, and `states:startExecution` with `.sync`,
//! `.sync:2` and `.waitForTaskToken`.

mod common;

use common::server::Server;
use serde_json::{Value, json};
use std::path::Path;

const ACCOUNT: &str = "arn:aws:states:local:000000000000";

fn machine(name: &str) -> String {
    format!("{ACCOUNT}:stateMachine:{name}")
}

fn execution(flow: &str, name: &str) -> String {
    format!("{ACCOUNT}:execution:{flow}:{name}")
}

/// A Task that starts the `child` flow with `resource` and `parameters`, catching every error
/// into `$.caught`.
fn parent(resource: &str, parameters: Value, extra: Value) -> Value {
    let mut task = json!({
        "Type": "Task",
        "Resource": resource,
        "Parameters": parameters,
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": "Caught"}],
        "End": true
    });
    if let Value::Object(extra) = extra {
        task.as_object_mut().unwrap().extend(extra);
    }
    json!({
        "StartAt": "Call",
        "States": {
            "Call": task,
            "Caught": {"Type": "Pass", "End": true}
        }
    })
}

/// A project whose flows are `flows` (name, definition).
fn project(dir: &Path, flows: &[(&str, Value)]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut yaml = String::from("flows:\n");
    for (name, flow) in flows {
        yaml.push_str(&format!("  {name}: {name}.json\n"));
        common::write_flow(dir, &format!("{name}.json"), flow);
    }
    std::fs::write(dir.join("sluice.yaml"), yaml).unwrap();
}

/// The child flows: `echo` returns its input, `boom` fails, `sleepy` waits an hour.
fn children() -> Vec<(&'static str, Value)> {
    vec![
        (
            "echo",
            json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"got.$": "$"}, "End": true}}}),
        ),
        (
            "boom",
            json!({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Boom", "Cause": "the child broke"}}}),
        ),
        (
            "sleepy",
            json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}),
        ),
    ]
}

fn start(server: &Server, flow: &str, name: &str, input: Value) -> String {
    let started = server.ok(
        "StartExecution",
        json!({"stateMachineArn": machine(flow), "name": name, "input": input.to_string()}),
    );
    started["executionArn"].as_str().unwrap().to_string()
}

fn output(described: &Value) -> Value {
    serde_json::from_str(described["output"].as_str().unwrap()).unwrap()
}

/// Waits until the child execution `arn` exists: it starts right after the step of its parent
/// that starts it is committed.
fn await_child(server: &Server, arn: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server
        .call("DescribeExecution", json!({"executionArn": arn}))
        .0
        != 200
    {
        assert!(std::time::Instant::now() < deadline, "{arn} never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The task token the child `name` of the `echo` flow got in its input.
fn token_of(server: &Server, name: &str) -> String {
    let arn = execution("echo", name);
    await_child(server, &arn);
    let child = server.await_status(&arn, "SUCCEEDED");
    output(&child)["got"]["token"].as_str().unwrap().to_string()
}

#[test]
fn child_flows_run_to_completion_and_their_failures_reach_the_parent() {
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    let mut flows = children();
    flows.push((
        "sync2",
        parent(
            "arn:aws:states:::states:startExecution.sync:2",
            json!({"StateMachineArn": machine("echo"), "Name": "echo-of-sync2", "Input": {"n.$": "$.n"}}),
            json!({}),
        ),
    ));
    flows.push((
        "sync",
        parent(
            "arn:aws:states:::states:startExecution.sync",
            json!({"StateMachineArn": machine("echo"), "Input": {"n.$": "$.n"}}),
            json!({}),
        ),
    ));
    flows.push((
        "fire",
        parent(
            "arn:aws:states:::states:startExecution",
            json!({"StateMachineArn": machine("echo"), "Name": "fired", "Input": "{\"n\": 7}"}),
            json!({}),
        ),
    ));
    flows.push((
        "failing",
        parent(
            "arn:aws:states:::states:startExecution.sync:2",
            json!({"StateMachineArn": machine("boom")}),
            json!({}),
        ),
    ));
    flows.push((
        "missing",
        parent(
            "arn:aws:states:::states:startExecution.sync:2",
            json!({"StateMachineArn": machine("nowhere")}),
            json!({}),
        ),
    ));
    project(&proj, &flows);
    let server = Server::start(&dir.path().join("data"), &proj);

    // .sync:2: the child's output as JSON, under its own name.
    let arn = start(&server, "sync2", "s2", json!({"n": 1}));
    let done = output(&server.await_status(&arn, "SUCCEEDED"));
    assert_eq!(done["Status"], "SUCCEEDED");
    assert_eq!(done["Output"], json!({"got": {"n": 1}}));
    assert_eq!(done["Input"], json!({"n": 1}));
    assert_eq!(done["ExecutionArn"], execution("echo", "echo-of-sync2"));
    assert_eq!(done["StateMachineArn"], machine("echo"));
    assert!(done["StopDate"].as_i64().unwrap() >= done["StartDate"].as_i64().unwrap());
    let child = server.await_status(&execution("echo", "echo-of-sync2"), "SUCCEEDED");
    assert_eq!(output(&child), json!({"got": {"n": 1}}));

    // .sync: the same, with input and output as JSON text.
    let arn = start(&server, "sync", "s1", json!({"n": 2}));
    let done = output(&server.await_status(&arn, "SUCCEEDED"));
    let text: Value = serde_json::from_str(done["Output"].as_str().unwrap()).unwrap();
    assert_eq!(text, json!({"got": {"n": 2}}));

    // No suffix: the Task ends once the child started.
    let arn = start(&server, "fire", "f1", json!({}));
    let done = output(&server.await_status(&arn, "SUCCEEDED"));
    assert_eq!(done["ExecutionArn"], execution("echo", "fired"));
    assert!(done["StartDate"].as_i64().unwrap() > 0);
    let child = server.await_status(&execution("echo", "fired"), "SUCCEEDED");
    assert_eq!(output(&child), json!({"got": {"n": 7}}));

    // A failed child fails the Task with States.TaskFailed and the child described as cause.
    let arn = start(&server, "failing", "x1", json!({}));
    let caught = output(&server.await_status(&arn, "SUCCEEDED"))["caught"].clone();
    assert_eq!(caught["Error"], "States.TaskFailed");
    let cause: Value = serde_json::from_str(caught["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["Status"], "FAILED");
    assert_eq!(cause["Error"], "Boom");
    assert_eq!(cause["Cause"], "the child broke");

    // An unknown state machine is the SDK's error.
    let arn = start(&server, "missing", "m1", json!({}));
    let caught = output(&server.await_status(&arn, "SUCCEEDED"))["caught"].clone();
    assert_eq!(
        caught["Error"],
        "StepFunctions.StateMachineDoesNotExistException"
    );
}

#[test]
fn task_tokens_complete_fail_and_time_out_callback_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    let callback = |name: &str, extra: Value| {
        parent(
            "arn:aws:states:::states:startExecution.waitForTaskToken",
            json!({"StateMachineArn": machine("echo"), "Name": name, "Input": {"token.$": "$$.Task.Token"}}),
            extra,
        )
    };
    let mut flows = children();
    flows.push(("succeed", callback("to-succeed", json!({}))));
    flows.push(("fail", callback("to-fail", json!({}))));
    flows.push((
        "silent",
        callback("to-be-silent", json!({"HeartbeatSeconds": 1})),
    ));
    project(&proj, &flows);
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &proj);

    let arn = start(&server, "succeed", "ok1", json!({}));
    let token = token_of(&server, "to-succeed");
    // The Task waits for its token; a bad token or output changes nothing.
    let (status, body) = server.call(
        "SendTaskSuccess",
        json!({"taskToken": "not-a-token", "output": "{}"}),
    );
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("InvalidToken"))
    );
    let (status, body) = server.call(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{not json"}),
    );
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("InvalidOutput"))
    );
    let running = server.ok("DescribeExecution", json!({"executionArn": arn}));
    assert_eq!(running["status"], "RUNNING");

    // A restart loses nothing: the token still completes the Task.
    drop(server);
    server = Server::start(&data, &proj);
    server.ok("SendTaskHeartbeat", json!({"taskToken": token}));
    server.ok(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{\"answer\": 42}"}),
    );
    let done = server.await_status(&arn, "SUCCEEDED");
    assert_eq!(output(&done), json!({"answer": 42}));
    let (status, body) = server.call(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{}"}),
    );
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("TaskTimedOut"))
    );

    // SendTaskFailure fails the Task with the worker's error and cause; here through the CLI,
    // which keeps the report in the store for the node driving the execution.
    let arn = start(&server, "fail", "f1", json!({}));
    let token = token_of(&server, "to-fail");
    let out = common::sluice(&data)
        .args([
            "send-task-failure",
            &token,
            "--error",
            "Worker.Gave.Up",
            "--cause",
            "no disk",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let caught = output(&server.await_status(&arn, "SUCCEEDED"))["caught"].clone();
    assert_eq!(
        caught,
        json!({"Error": "Worker.Gave.Up", "Cause": "no disk"})
    );

    // No heartbeat within HeartbeatSeconds: States.Timeout, which States.HeartbeatTimeout
    // matches too.
    let arn = start(&server, "silent", "h1", json!({}));
    let caught = output(&server.await_status(&arn, "SUCCEEDED"))["caught"].clone();
    assert_eq!(caught["Error"], "States.Timeout");
    let history = server.ok(
        "GetExecutionHistory",
        json!({"executionArn": arn, "reverseOrder": true, "maxResults": 5}),
    );
    let kinds: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"TaskTimedOut"), "{kinds:?}");
}

#[test]
fn stopping_a_parent_stops_the_child_it_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    let mut flows = children();
    flows.push((
        "waits",
        parent(
            "arn:aws:states:::states:startExecution.sync:2",
            json!({"StateMachineArn": machine("sleepy"), "Name": "long-child"}),
            json!({}),
        ),
    ));
    project(&proj, &flows);
    let server = Server::start(&dir.path().join("data"), &proj);
    let arn = start(&server, "waits", "w1", json!({}));
    let child = execution("sleepy", "long-child");
    await_child(&server, &child);
    server.ok(
        "StopExecution",
        json!({"executionArn": arn, "error": "Enough"}),
    );
    let stopped = server.await_status(&arn, "ABORTED");
    assert_eq!(stopped["error"], "Enough");
    server.await_status(&child, "ABORTED");
}

#[test]
fn a_callback_through_another_node_reaches_the_node_driving_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    let mut flows = children();
    flows.push((
        "succeed",
        parent(
            "arn:aws:states:::states:startExecution.waitForTaskToken",
            json!({"StateMachineArn": machine("echo"), "Name": "remote-child", "Input": {"token.$": "$$.Task.Token"}}),
            json!({}),
        ),
    ));
    project(&proj, &flows);
    let data = dir.path().join("data");
    let driving = Server::start(&data, &proj);
    let other = Server::start(&data, &proj);
    let arn = start(&driving, "succeed", "r1", json!({}));
    let token = token_of(&other, "remote-child");
    other.ok(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{\"via\": \"other\"}"}),
    );
    let done = other.await_status(&arn, "SUCCEEDED");
    assert_eq!(output(&done), json!({"via": "other"}));
    let history = driving.ok("GetExecutionHistory", json!({"executionArn": arn}));
    assert!(
        history["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "TaskSucceeded"),
        "{history}"
    );
}

#[test]
fn an_fdl_task_waits_for_a_custom_callback_with_its_task_token() {
    if !sluice_engine::testing::program_available("python3") {
        sluice_engine::testing::skip("python3, which runs the FDL callback Task's function");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    std::fs::create_dir_all(proj.join("functions")).unwrap();
    std::fs::write(
        proj.join("functions/worker.py"),
        "def handler(event, context):\n    return {'accepted': True}\n",
    )
    .unwrap();
    std::fs::write(
        proj.join("sluice.yaml"),
        "functions:\n  worker: { runtime: python3, handler: functions/worker.handler }\n\
         flows:\n  approve: approve.fdl.yaml\n",
    )
    .unwrap();
    std::fs::write(
        proj.join("approve.fdl.yaml"),
        "Type: StateMachine\nName: approve\nSpecVersion: v1\nStartAt: Ask\nStates:\n\
         \x20 - Type: Task\n    Name: Ask\n    Action: FC:InvokeFunction\n\
         \x20   TaskMode: WaitForCustomCallback\n    Parameters:\n\
         \x20     resourceArn: acs:fc:::functions/worker\n      invocationType: Sync\n\
         \x20     body:\n        token.$: $Context.Current.TaskToken\n    End: true\n",
    )
    .unwrap();
    let server = Server::start(&dir.path().join("data"), &proj);
    let arn = start(&server, "approve", "a1", json!({}));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let token = loop {
        let history = server.ok("GetExecutionHistory", json!({"executionArn": arn}));
        let scheduled = history["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "TaskScheduled")
            .cloned();
        if let Some(event) = scheduled {
            let details = &event["taskScheduledEventDetails"];
            let parameters: Value =
                serde_json::from_str(details["parameters"].as_str().unwrap()).unwrap();
            break parameters["token"].as_str().unwrap().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "never scheduled");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    server.ok(
        "SendTaskSuccess",
        json!({"taskToken": token, "output": "{\"approved\": true}"}),
    );
    let done = server.await_status(&arn, "SUCCEEDED");
    assert_eq!(output(&done), json!({"approved": true}));
}

#[test]
fn an_fdl_flow_starts_child_flows_with_fnf_start_execution() {
    let dir = tempfile::tempdir().unwrap();
    let proj = dir.path().join("p");
    project(&proj, &children());
    let fdl = |name: &str, mode: &str, child: &str| {
        format!(
            "Type: StateMachine\nName: {name}\nSpecVersion: v1\nStartAt: Run\nStates:\n\
             \x20 - Type: Task\n    Name: Run\n    Action: FNF:StartExecution\n\
             \x20   TaskMode: {mode}\n    Parameters:\n\
             \x20     resourceArn: acs:fnf:::flow/echo\n      executionName: {child}\n\
             \x20     input:\n        n.$: $Input.n\n    End: true\n"
        )
    };
    let waits = fdl("waits", "WaitForSystemCallback", "fdl-waited");
    let fires = fdl("fires", "RequestComplete", "fdl-fired");
    std::fs::write(proj.join("waits.fdl.yaml"), waits).unwrap();
    std::fs::write(proj.join("fires.fdl.yaml"), fires).unwrap();
    let mut yaml = std::fs::read_to_string(proj.join("sluice.yaml")).unwrap();
    yaml.push_str("  waits: waits.fdl.yaml\n  fires: fires.fdl.yaml\n");
    std::fs::write(proj.join("sluice.yaml"), yaml).unwrap();
    let server = Server::start(&dir.path().join("data"), &proj);

    // WaitForSystemCallback: the child's output.
    let arn = start(&server, "waits", "w1", json!({"n": 5}));
    let done = server.await_status(&arn, "SUCCEEDED");
    assert_eq!(output(&done), json!({"got": {"n": 5}}));

    // RequestComplete: the child's names, once it started.
    let arn = start(&server, "fires", "f1", json!({"n": 6}));
    let done = output(&server.await_status(&arn, "SUCCEEDED"));
    assert_eq!(done["FlowName"], "echo");
    assert_eq!(done["ExecutionName"], "fdl-fired");
    let child = server.await_status(&execution("echo", "fdl-fired"), "SUCCEEDED");
    assert_eq!(output(&child), json!({"got": {"n": 6}}));
}
