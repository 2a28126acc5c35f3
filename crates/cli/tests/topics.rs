//! Topics and the event bus through the real binary: a flow's `sns:publish` fans out to queues
//! with different filter policies, a function, a flow and an HTTP endpoint; a flow's
//! `events:putEvents` starts a flow through a rule; messages published before a SIGKILL are
//! all delivered after the restart.

mod common;

use common::server::Server;
use serde_json::{Value, json};
use sluice_store::testing::TestSchema;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NOTIFY: &str = r#"
import json
import os


def handler(event, context):
    with open(os.environ["OUT"], "a") as out:
        out.write(json.dumps(event) + "\n")
    return {}
"#;

const ARN: &str = "arn:aws:states:local:000000000000";

/// A project with the topic `orders` and its subscribers, the rule `big-orders`, and the flows
/// that publish and put events.
fn project(dir: &Path, out: &Path, hook: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("notify.py"), NOTIFY).unwrap();
    let publish = |message: Value, kind: &str| {
        json!({
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders",
                "Message": message,
                "Subject": "order",
                "MessageAttributes": {"kind": {"DataType": "String", "StringValue": kind}}
            }
        })
    };
    let mut big = publish(json!({"amount": 150}), "refund");
    big["ResultPath"] = json!("$.big");
    big["Next"] = json!("Small");
    let mut small = publish(json!({"amount": 50}), "sale");
    small["ResultPath"] = json!("$.small");
    small["End"] = json!(true);
    common::write_flow(
        dir,
        "order.json",
        &json!({"StartAt": "Big", "States": {"Big": big, "Small": small}}),
    );
    common::write_flow(
        dir,
        "emit.json",
        &json!({"StartAt": "Put", "States": {"Put": {
            "Type": "Task",
            "Resource": "arn:aws:states:::events:putEvents",
            "Parameters": {"Entries": [
                {"Source": "shop", "DetailType": "order", "Detail": {"amount": 50}},
                {"Source": "shop", "DetailType": "order", "Detail": {"amount": 150, "id": "o-7"}, "Resources": ["r-1"]}
            ]},
            "End": true
        }}}),
    );
    common::write_flow(
        dir,
        "handle.json",
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}),
    );
    std::fs::write(
        dir.join("sluice.yaml"),
        format!(
            "functions:\n  notify: {{ runtime: python3, handler: notify.handler, env: {{ OUT: '{}' }} }}\n\
             flows:\n  order: order.json\n  emit: emit.json\n  handle: handle.json\n\
             queues:\n  audit: {{}}\n  big: {{}}\n  refunds: {{}}\n\
             topics:\n\
             \x20 orders:\n\
             \x20   subscribers:\n\
             \x20     - queue: audit\n\
             \x20     - {{ queue: big, filter_policy: {{ amount: [{{ numeric: ['>', 100] }}] }}, filter_policy_scope: MessageBody, raw_message_delivery: true }}\n\
             \x20     - {{ queue: refunds, filter_policy: {{ kind: [refund] }} }}\n\
             \x20     - function: notify\n\
             \x20     - flow: handle\n\
             \x20     - http: '{hook}'\n\
             rules:\n\
             \x20 big-orders:\n\
             \x20   pattern: {{ source: [shop], detail: {{ amount: [{{ numeric: ['>', 100] }}] }} }}\n\
             \x20   targets: [ {{ flow: handle }} ]\n",
            out.display()
        ),
    )
    .unwrap();
}

/// The requests an endpoint got: each one's headers (name, value) and body.
type Hooked = Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>;

/// A loopback HTTP endpoint that records each request's headers (lowercased) and body and
/// answers 503 to the first `failures` requests, 200 to the others. Stops with the test
/// process.
fn hook(failures: usize) -> (String, Hooked) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some((k, v)) = line.trim_end().split_once(": ") {
                    headers.push((k.to_ascii_lowercase(), v.to_string()));
                }
                line.clear();
            }
            let length = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let seen = {
                let mut sink = sink.lock().unwrap();
                sink.push((headers, String::from_utf8_lossy(&body).into_owned()));
                sink.len()
            };
            let status = match seen <= failures {
                true => "503 Service Unavailable",
                false => "200 OK",
            };
            let reply =
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (url, seen)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The bodies on a queue, parsed as JSON, in order.
fn bodies(server: &Server, queue: &str) -> Vec<Value> {
    let reply = server.http(
        "GET",
        &format!("/v1/queues/{queue}/messages?limit=1000"),
        &[],
        b"",
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str(m["body"].as_str().unwrap()).unwrap())
        .collect()
}

/// The events the function got, one per line.
fn notified(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits for the execution `arn` to exist, then for it to succeed.
fn await_success(server: &Server, arn: &str) -> Value {
    wait_for(&format!("no execution {arn}"), || {
        server
            .call("DescribeExecution", json!({"executionArn": arn}))
            .0
            == 200
    });
    server.await_status(arn, "SUCCEEDED")
}

fn python_missing() -> bool {
    let missing = !sluice_engine::testing::program_available("python3");
    if missing {
        sluice_engine::testing::skip("python3, which runs the topic's function subscriber");
    }
    missing
}

#[test]
fn a_published_message_reaches_each_subscriber_whose_filter_it_passes() {
    if python_missing() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data, out) = (
        tmp.path().join("p"),
        tmp.path().join("data"),
        tmp.path().join("notified.txt"),
    );
    let (url, hooked) = hook(0);
    project(&proj, &out, &url);
    let server = Server::start(&data, &proj);

    server.ok(
        "StartExecution",
        json!({"stateMachineArn": format!("{ARN}:stateMachine:order"), "name": "o1"}),
    );
    let done = server.await_status(&format!("{ARN}:execution:order:o1"), "SUCCEEDED");
    let output: Value = serde_json::from_str(done["output"].as_str().unwrap()).unwrap();
    let big_id = output["big"]["MessageId"].as_str().unwrap().to_string();
    let small_id = output["small"]["MessageId"].as_str().unwrap().to_string();
    assert_eq!(output["big"].as_object().unwrap().len(), 1, "{output}");

    // audit: every message, as the notification envelope.
    let audit = bodies(&server, "audit");
    assert_eq!(audit.len(), 2, "{audit:?}");
    let topic_arn = "arn:aws:sns:local:000000000000:orders";
    for (envelope, (id, amount, kind)) in audit
        .iter()
        .zip([(&big_id, 150, "refund"), (&small_id, 50, "sale")])
    {
        assert_eq!(envelope["Type"], "Notification");
        assert_eq!(envelope["MessageId"], *id);
        assert_eq!(envelope["TopicArn"], topic_arn);
        assert_eq!(envelope["Subject"], "order");
        assert_eq!(envelope["SignatureVersion"], "1");
        assert!(envelope["Timestamp"].as_str().unwrap().ends_with('Z'));
        let message: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
        assert_eq!(message, json!({"amount": amount}));
        assert_eq!(
            envelope["MessageAttributes"]["kind"],
            json!({"Type": "String", "Value": kind})
        );
    }
    // big: only the message whose body passes, raw.
    assert_eq!(bodies(&server, "big"), [json!({"amount": 150})]);
    let raw = server
        .http("GET", "/v1/queues/big/messages", &[], b"")
        .json();
    assert_eq!(
        raw["messages"][0]["attributes"]["kind"]["StringValue"],
        "refund"
    );
    // refunds: only the message whose attribute passes, as the envelope.
    let refunds = bodies(&server, "refunds");
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["MessageId"], big_id.as_str());

    // The function: the Lambda SNS event of each message.
    wait_for("the function gets both messages", || {
        notified(&out).len() >= 2
    });
    let mut events = notified(&out);
    events.sort_by_key(|e| e["Records"][0]["Sns"]["MessageId"] != big_id.as_str());
    for (event, id) in events.iter().zip([&big_id, &small_id]) {
        let record = &event["Records"][0];
        assert_eq!(record["EventSource"], "aws:sns");
        assert_eq!(record["EventSubscriptionArn"], format!("{topic_arn}:4"));
        assert_eq!(record["Sns"]["MessageId"], *id);
        assert_eq!(record["Sns"]["TopicArn"], topic_arn);
        assert_eq!(record["Sns"]["Type"], "Notification");
    }
    assert_eq!(events.len(), 2);

    // The flow: an execution per message, named by its id and the subscription, the envelope
    // as input.
    let started = await_success(&server, &format!("{ARN}:execution:handle:{big_id}-5"));
    let input: Value = serde_json::from_str(started["input"].as_str().unwrap()).unwrap();
    assert_eq!(input["MessageId"], big_id.as_str());
    assert_eq!(input["Type"], "Notification");

    // The HTTP endpoint: the envelope POSTed with SNS's headers.
    wait_for("the endpoint gets both messages", || {
        hooked.lock().unwrap().len() >= 2
    });
    for (headers, body) in hooked.lock().unwrap().iter() {
        let header = |k: &str| {
            headers
                .iter()
                .find(|(h, _)| h == k)
                .map(|(_, v)| v.as_str())
        };
        let envelope: Value = serde_json::from_str(body).unwrap();
        assert_eq!(header("x-amz-sns-message-type"), Some("Notification"));
        assert_eq!(header("x-amz-sns-topic-arn"), Some(topic_arn));
        assert_eq!(
            header("x-amz-sns-message-id"),
            envelope["MessageId"].as_str()
        );
        assert_eq!(envelope["Type"], "Notification");
    }

    // The REST API lists the topic, and publishes.
    let listed = server.http("GET", "/v1/topics", &[], b"").json();
    let subscribers = listed["topics"][0]["subscribers"].as_array().unwrap();
    assert_eq!(subscribers.len(), 6);
    assert_eq!(subscribers[1]["filterPolicyScope"], "MessageBody");
    assert_eq!(subscribers[3]["deliveryQueue"], "topic:orders:4");
    let published = server.http(
        "POST",
        "/v1/topics/orders/messages",
        &[],
        br#"{"message": {"amount": 500}}"#,
    );
    assert_eq!(published.status, 200, "{}", published.text());
    assert_eq!(
        published.json()["deliveries"],
        5,
        "all but the refunds queue"
    );
    assert_eq!(bodies(&server, "big").len(), 2);
    let unknown = server.http(
        "POST",
        "/v1/topics/nope/messages",
        &[],
        br#"{"message": "x"}"#,
    );
    assert_eq!(unknown.status, 404);
    let bad = server.http(
        "POST",
        "/v1/topics/orders/messages",
        &[],
        br#"{"message": "x", "attributes": {"n": {"DataType": "Number", "StringValue": "many"}}}"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("'n' is not a number"), "{}", bad.text());
}

#[test]
fn an_http_subscriber_that_fails_gets_the_message_again() {
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
    let (url, hooked) = hook(1);
    project(&proj, &tmp.path().join("unused.txt"), &url);
    let server = Server::start(&data, &proj);
    let published = server.http(
        "POST",
        "/v1/topics/orders/messages",
        &[],
        br#"{"message": "hi"}"#,
    );
    assert_eq!(published.status, 200, "{}", published.text());
    let id = published.json()["messageId"].as_str().unwrap().to_string();
    wait_for("the endpoint is tried again after its 503", || {
        hooked.lock().unwrap().len() >= 2
    });
    for (headers, body) in hooked.lock().unwrap().iter().take(2) {
        let header = headers
            .iter()
            .find(|(h, _)| h == "x-amz-sns-message-id")
            .map(|(_, v)| v.clone());
        assert_eq!(header.as_deref(), Some(id.as_str()));
        let envelope: Value = serde_json::from_str(body).unwrap();
        assert_eq!(envelope["Message"], "hi");
    }
    // Delivered on the second try: nothing is left on its delivery queue.
    wait_for("the delivery is settled", || {
        let queued = server
            .http("GET", "/v1/queues/topic:orders:6/messages", &[], b"")
            .json();
        queued["messages"].as_array().unwrap().is_empty()
    });
}

#[test]
fn put_events_starts_the_flow_of_the_rule_the_event_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
    project(
        &proj,
        &tmp.path().join("unused.txt"),
        "http://127.0.0.1:9/hook",
    );
    let server = Server::start(&data, &proj);
    server.ok(
        "StartExecution",
        json!({"stateMachineArn": format!("{ARN}:stateMachine:emit"), "name": "e1"}),
    );
    let done = server.await_status(&format!("{ARN}:execution:emit:e1"), "SUCCEEDED");
    let output: Value = serde_json::from_str(done["output"].as_str().unwrap()).unwrap();
    assert_eq!(output["FailedEntryCount"], 0);
    let entries = output["Entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let matched = entries[1]["EventId"].as_str().unwrap();

    let run = await_success(&server, &format!("{ARN}:execution:handle:{matched}-1"));
    let event: Value = serde_json::from_str(run["input"].as_str().unwrap()).unwrap();
    assert_eq!(event["version"], "0");
    assert_eq!(event["id"], matched);
    assert_eq!(event["source"], "shop");
    assert_eq!(event["detail-type"], "order");
    assert_eq!(event["detail"], json!({"amount": 150, "id": "o-7"}));
    assert_eq!(event["resources"], json!(["r-1"]));
    assert_eq!(event["account"], "000000000000");
    assert!(event["time"].is_string() && event["region"].is_string());
    // The event of 50 matched no rule: it started nothing.
    let listed = server.ok(
        "ListExecutions",
        json!({"stateMachineArn": format!("{ARN}:stateMachine:handle")}),
    );
    assert_eq!(
        listed["executions"].as_array().unwrap().len(),
        1,
        "{listed}"
    );

    // POST /v1/events: a malformed entry fails alone.
    let put = server.http(
        "POST",
        "/v1/events",
        &[],
        br#"{"Entries": [{"Source": "shop", "DetailType": "order", "Detail": "not json"}, {"Source": "shop", "DetailType": "order", "Detail": {"amount": 101}}]}"#,
    );
    assert_eq!(put.status, 200, "{}", put.text());
    let answer = put.json();
    assert_eq!(answer["FailedEntryCount"], 1);
    assert_eq!(answer["Entries"][0]["ErrorCode"], "MalformedDetail");
    let second = answer["Entries"][1]["EventId"].as_str().unwrap();
    await_success(&server, &format!("{ARN}:execution:handle:{second}-1"));
}

#[test]
fn messages_published_before_a_kill_are_all_delivered_after_the_restart() {
    published_before_a_kill(None);
}

#[test]
fn messages_published_before_a_kill_are_all_delivered_after_the_restart_on_postgres() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    published_before_a_kill(Some(schema.url()));
}

/// Publishes, kills the node with SIGKILL, restarts it on the same store: every message is on
/// the queue subscriber, and every one reaches the function.
fn published_before_a_kill(store: Option<&str>) {
    if python_missing() {
        return;
    }
    const MESSAGES: usize = 20;
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data, out) = (
        tmp.path().join("p"),
        tmp.path().join("data"),
        tmp.path().join("notified.txt"),
    );
    project(&proj, &out, "http://127.0.0.1:9/hook");
    let mut server = Server::spawn(common::sluice_on(&data, store), &proj, &[]);
    let mut ids = Vec::new();
    for n in 0..MESSAGES {
        let reply = server.http(
            "POST",
            "/v1/topics/orders/messages",
            &[],
            json!({"message": {"n": n}}).to_string().as_bytes(),
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
        ids.push(reply.json()["messageId"].as_str().unwrap().to_string());
    }
    server.kill();

    let server = Server::spawn(common::sluice_on(&data, store), &proj, &[]);
    let audit: Vec<String> = bodies(&server, "audit")
        .iter()
        .map(|e| e["MessageId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        audit, ids,
        "the queue subscriber has every message, in order"
    );
    // The function's deliveries: each one made, or still on its delivery queue, leased by the
    // killed process until its lease ends (the queue holds nothing else).
    wait_for(
        "the function gets every message not leased at the kill",
        || {
            let mut got: HashSet<String> = notified(&out)
                .iter()
                .map(|e| {
                    e["Records"][0]["Sns"]["MessageId"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
                .collect();
            let queued = server
                .http("GET", "/v1/queues/topic:orders:4/messages", &[], b"")
                .json();
            got.extend(queued["messages"].as_array().unwrap().iter().map(|m| {
                let id = m["id"].as_str().unwrap();
                id.strip_suffix("-4").unwrap_or(id).to_string()
            }));
            let stats = server.http("GET", "/v1/queues", &[], b"").json()["queues"]
                .as_array()
                .unwrap()
                .iter()
                .find(|q| q["name"] == "topic:orders:4")
                .unwrap()["stats"]
                .clone();
            ids.iter().all(|id| got.contains(id))
                && stats["ready"] == 0
                && stats["delayed"] == 0
                && stats["failed"] == 0
        },
    );
}
