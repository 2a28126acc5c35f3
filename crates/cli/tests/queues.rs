//! Durable queues through the real binary: a function consumer with partial batch failures,
//! retries and a dead-letter queue; a flow consumer; sends from the CLI and the REST API.

mod common;

use common::server::Server;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const HANDLER: &str = r#"
import os


def handler(event, context):
    failures = []
    with open(os.environ["OUT"], "a") as out:
        for r in event["Records"]:
            out.write(f"{r['body']}|{r['attributes']['ApproximateReceiveCount']}|{r['eventSource']}\n")
            if "bad" in r["body"]:
                failures.append({"itemIdentifier": r["messageId"]})
    return {"batchItemFailures": failures}
"#;

/// A project with a function-consumed queue (and its dead-letter queue) and a flow-consumed one.
fn project(dir: &Path, out: &Path) {
    std::fs::create_dir_all(dir.join("functions")).unwrap();
    std::fs::write(dir.join("functions/consume.py"), HANDLER).unwrap();
    common::write_flow(
        dir,
        "job.json",
        &json!({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"did.$": "$.task"}, "End": true}}}),
    );
    std::fs::write(
        dir.join("sluice.yaml"),
        format!(
            "functions:\n  consume: {{ runtime: python3, handler: functions/consume.handler, env: {{ OUT: '{}' }} }}\n\
             flows:\n  job: job.json\n\
             queues:\n\
             \x20 events: {{ consumer: consume, batch_size: 5, batch_timeout: 100ms, max_retries: 2, dead_letter: events-dlq }}\n\
             \x20 events-dlq: {{}}\n\
             \x20 jobs: {{ consumer: job, batch_timeout: 0s }}\n",
            out.display()
        ),
    )
    .unwrap();
}

fn lines(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sluice_json(data: &Path, args: &[&str]) -> Value {
    let out = common::sluice(data).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_function_consumer_acks_batches_retries_failures_and_dead_letters_them() {
    if !sluice_engine::testing::program_available("python3") {
        return sluice_engine::testing::skip("python3, which runs the queue's consumer");
    }
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data, out) = (
        tmp.path().join("p"),
        tmp.path().join("data"),
        tmp.path().join("seen.txt"),
    );
    project(&proj, &out);
    let server = Server::start(&data, &proj);
    let project_arg = proj.display().to_string();
    for i in 0..9 {
        let body = if i == 4 {
            "bad-4".to_string()
        } else {
            format!("good-{i}")
        };
        let sent = sluice_json(&data, &["send", "events", &body, "--project", &project_arg]);
        assert_eq!(sent["id"].as_str().unwrap().len(), 36, "{sent}");
    }
    // Every good message once; the bad one three times (two retries), then dead-lettered.
    wait_for("the consumer sees every message", || {
        let seen = lines(&out);
        seen.iter().filter(|l| l.starts_with("good-")).count() == 8
            && seen.iter().filter(|l| l.starts_with("bad-4")).count() == 3
    });
    let seen = lines(&out);
    let bad: Vec<&String> = seen.iter().filter(|l| l.starts_with("bad-4")).collect();
    assert_eq!(
        bad,
        ["bad-4|1|aws:sqs", "bad-4|2|aws:sqs", "bad-4|3|aws:sqs"]
    );
    assert!(
        seen.iter()
            .filter(|l| l.starts_with("good-"))
            .all(|l| l.ends_with("|1|aws:sqs"))
    );
    wait_for("the bad message reaches the dead-letter queue", || {
        let dead = sluice_json(
            &data,
            &["queue", "peek", "events-dlq", "--project", &project_arg],
        );
        dead["messages"].as_array().unwrap().len() == 1
    });
    let metrics = server.http("GET", "/metrics", &[], b"").text();
    assert!(
        metrics.contains("sluice_queue_messages{queue=\"events-dlq\",state=\"ready\"} 1\n"),
        "{metrics}"
    );
    let listed = sluice_json(&data, &["queue", "list", "--project", &project_arg]);
    let events = listed["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "events")
        .unwrap()
        .clone();
    assert_eq!(events["stats"]["ready"], 0, "{events}");
    assert_eq!(events["stats"]["inFlight"], 0, "{events}");
    // A redrive puts it back on `events`, where it fails three more times.
    let redriven = sluice_json(
        &data,
        &["queue", "redrive-dlq", "events", "--project", &project_arg],
    );
    assert_eq!(redriven["redriven"], 1);
    wait_for("the redriven message is consumed again", || {
        lines(&out)
            .iter()
            .filter(|l| l.starts_with("bad-4"))
            .count()
            == 6
    });
    // Too large a message is refused, with the limit.
    let big = tmp.path().join("big.txt");
    std::fs::write(&big, "x".repeat(300 * 1024)).unwrap();
    let from_file = format!("@{}", big.display());
    let refused = common::sluice(&data)
        .args(["send", "events", &from_file, "--project", &project_arg])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("over the limit of 262144 bytes"));
    drop(server);
}

#[test]
fn a_flow_consumer_starts_one_execution_per_message_named_by_its_id() {
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
    project(&proj, &tmp.path().join("unused.txt"));
    let server = Server::start(&data, &proj);
    let reply = server.http(
        "POST",
        "/v1/queues/jobs/messages",
        &[("Content-Type", "application/json")],
        json!({"messages": [{"body": {"task": "a"}}, {"body": {"task": "b"}}]})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let ids: Vec<String> = reply.json()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    for (id, task) in ids.iter().zip(["a", "b"]) {
        let arn = format!("arn:aws:states:local:000000000000:execution:job:{id}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while server
            .call("DescribeExecution", json!({"executionArn": arn}))
            .0
            != 200
        {
            assert!(Instant::now() < deadline, "no execution for message {id}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let done = server.await_status(&arn, "SUCCEEDED");
        let output: Value = serde_json::from_str(done["output"].as_str().unwrap()).unwrap();
        assert_eq!(output, json!({"did": task}));
    }
    let unknown = server.http("POST", "/v1/queues/nothing/messages", &[], b"{\"body\": 1}");
    assert_eq!(unknown.status, 404);
}

const WEB: &str = r#"
import json


def handler(event, context):
    body = {"got": event.get("body"), "query": event.get("queryStringParameters")}
    return {"statusCode": 201, "headers": {"x-seen": event["rawPath"]}, "body": json.dumps(body)}
"#;

#[test]
fn http_and_cron_triggers_deliver_to_queues_functions_and_flows() {
    if !sluice_engine::testing::program_available("python3") {
        return sluice_engine::testing::skip("python3, which runs the triggers' functions");
    }
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data, out) = (
        tmp.path().join("p"),
        tmp.path().join("data"),
        tmp.path().join("seen.txt"),
    );
    project(&proj, &out);
    std::fs::write(proj.join("functions/web.py"), WEB).unwrap();
    let mut yaml = std::fs::read_to_string(proj.join("sluice.yaml")).unwrap();
    yaml = yaml.replace(
        "functions:\n",
        "functions:\n  web: { runtime: python3, handler: functions/web.handler }\n",
    );
    yaml.push_str(
        "triggers:\n\
         \x20 ingest: { http: /ingest, queue: events, token: s3cret, max_body: 100 }\n\
         \x20 hook: { http: /hooks/web, function: web }\n\
         \x20 start: { http: /start, flow: job }\n\
         \x20 tick: { cron: '@every 1s', flow: job, input: { task: tick } }\n",
    );
    std::fs::write(proj.join("sluice.yaml"), yaml).unwrap();
    let server = Server::start(&data, &proj);

    // To a queue: the token is checked, the body bounded, the message consumed.
    assert_eq!(
        server.http("POST", "/ingest", &[], b"{\"e\": 1}").status,
        401
    );
    let bearer = [("Authorization", "Bearer s3cret")];
    assert_eq!(
        server.http("POST", "/ingest", &bearer, &[b'x'; 200]).status,
        413
    );
    let accepted = server.http("POST", "/ingest", &bearer, b"good-click");
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    assert!(accepted.json()["messageId"].is_string());
    wait_for("the ingested event is consumed", || {
        lines(&out).iter().any(|l| l.starts_with("good-click|1|"))
    });

    // To a function: its statusCode, headers and body answer the request.
    let reply = server.http("POST", "/hooks/web?x=1", &[], b"ping");
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.header("x-seen"), Some("/hooks/web"));
    assert_eq!(reply.json(), json!({"got": "ping", "query": {"x": "1"}}));

    // To a flow: an execution named by the Idempotency-Key, started once.
    for _ in 0..2 {
        let started = server.http(
            "POST",
            "/start",
            &[("Idempotency-Key", "order-7")],
            b"{\"task\": \"ship\"}",
        );
        assert_eq!(started.status, 202, "{}", started.text());
    }
    let done = server.await_status(
        "arn:aws:states:local:000000000000:execution:job:order-7",
        "SUCCEEDED",
    );
    assert_eq!(done["output"], "{\"did\":\"ship\"}");

    // On a schedule: executions named by the trigger and the time.
    wait_for("the schedule starts the flow", || {
        let listed = server.ok(
            "ListExecutions",
            json!({"stateMachineArn": "arn:aws:states:local:000000000000:stateMachine:job"}),
        );
        listed["executions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"].as_str().unwrap().starts_with("tick-") && e["status"] == "SUCCEEDED")
    });
    let listed = server.ok(
        "ListExecutions",
        json!({"stateMachineArn": "arn:aws:states:local:000000000000:stateMachine:job", "statusFilter": "FAILED"}),
    );
    assert_eq!(listed["executions"], json!([]), "a tick failed");
}

#[test]
fn the_ingest_example_partitions_clicks_dead_letters_malformed_ones_and_reports_on_logs() {
    if !sluice_engine::testing::program_available("python3") {
        return sluice_engine::testing::skip("python3, which runs the example's consumer");
    }
    let tmp = tempfile::tempdir().unwrap();
    let proj = tmp.path().join("ingest");
    common::copy_project(&common::repo().join("examples/ingest"), &proj);
    let server = Server::start(&tmp.path().join("data"), &proj);
    for (day, user) in [(1, "Ada"), (2, "Bo"), (1, "Cy")] {
        let event = json!({"user": format!(" {user} "), "url": "https://shop.example/p?ref=x", "ts": format!("2026-12-0{day}T10:00:00Z")});
        let reply = server.http("POST", "/ingest", &[], event.to_string().as_bytes());
        assert_eq!(reply.status, 202, "{}", reply.text());
    }
    assert_eq!(server.http("POST", "/ingest", &[], b"not json").status, 202);
    let partition = |day: &str| -> Vec<Value> {
        let dir = proj.join(format!("data/clicks/date=2026-12-0{day}"));
        let mut rows: Vec<Value> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flat_map(|f| {
                std::fs::read_to_string(f.unwrap().path())
                    .unwrap_or_default()
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect::<Vec<Value>>()
            })
            .collect();
        rows.sort_by_key(|r| r["user"].as_str().unwrap().to_string());
        rows
    };
    wait_for("the clean events are written by date", || {
        partition("1").len() == 2 && partition("2").len() == 1
    });
    assert_eq!(
        partition("1"),
        [
            json!({"ts": "2026-12-01T10:00:00Z", "user": "ada", "url": "https://shop.example/p"}),
            json!({"ts": "2026-12-01T10:00:00Z", "user": "cy", "url": "https://shop.example/p"}),
        ]
    );
    wait_for("the malformed event is dead-lettered", || {
        let dead = server.http("GET", "/v1/queues/clicks-dlq/messages", &[], b"");
        dead.json()["messages"]
            .as_array()
            .is_some_and(|m| m.len() == 1 && m[0]["body"] == "not json")
    });
    // Pipeline (2): a log written into the storage by another program is found by the
    // trigger's watcher, queued and parsed into a report.
    let logs = proj.join("data/raw/logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = "2026-12-06T10:00:00Z INFO GET /cart 200 12ms\ngarbage\n2026-12-06T10:00:01Z ERROR GET /pay 503 900ms\n";
    common::drop_file(logs.join("web.log"), log);
    let report = proj.join("data/reports/logs/web.json");
    wait_for("the log's report", || report.exists());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(report["lines"], 3);
    assert_eq!(report["levels"], json!({"INFO": 1, "ERROR": 1}));
    assert_eq!(report["statuses"], json!({"2xx": 1, "5xx": 1}));
    assert_eq!(report["malformedLines"], json!([2]));
    assert_eq!(report["source"]["key"], "raw/logs/web.log");
    assert_eq!(report["source"]["size"], log.len());
}

const PY_SENDER: &str = r#"
def handler(event, context):
    one = context.queues.send("outbox", {"n": 1}, attributes={"kind": "json", "n": 1})
    many = context.queues.send_batch("outbox", ["py-a", {"body": "py-b", "delay_seconds": 0}])
    codes = []
    for queue, body in (("nope", "x"), ("outbox", "x" * 300000)):
        try:
            context.queues.send(queue, body)
        except Exception as e:
            codes.append(e.code)
    return {"ids": [one] + many, "codes": codes}
"#;

const NODE_SENDER: &str = r#"
exports.handler = async (event, context) => {
  const ids = [await context.queues.send('outbox', 'node-a', { delaySeconds: 0 })];
  ids.push(...(await context.queues.sendBatch('outbox', [{ body: { node: 'b' } }])));
  const codes = [];
  try {
    await context.queues.send('nope', 'x');
  } catch (e) {
    codes.push(e.code);
  }
  return { ids, codes };
};
"#;

#[test]
fn functions_send_onto_queues_through_context_queues() {
    let runtimes = [("python3", "py"), ("node", "js")];
    if let Some((missing, _)) = runtimes
        .iter()
        .find(|(program, _)| !sluice_engine::testing::program_available(program))
    {
        return sluice_engine::testing::skip(&format!("{missing}, which runs the senders"));
    }
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
    std::fs::create_dir_all(proj.join("functions")).unwrap();
    std::fs::write(proj.join("functions/send.py"), PY_SENDER).unwrap();
    std::fs::write(proj.join("functions/send.js"), NODE_SENDER).unwrap();
    std::fs::write(
        proj.join("sluice.yaml"),
        "functions:\n\
         \x20 py: { runtime: python3, handler: functions/send.handler }\n\
         \x20 js: { runtime: node, handler: functions/send.handler }\n\
         queues:\n  outbox: {}\n",
    )
    .unwrap();
    let project_arg = proj.display().to_string();
    let py = sluice_json(&data, &["invoke", &project_arg, "py"]);
    assert_eq!(
        py["codes"],
        json!(["QueueDoesNotExist", "InvalidMessage"]),
        "{py}"
    );
    let js = sluice_json(&data, &["invoke", &project_arg, "js"]);
    assert_eq!(js["codes"], json!(["QueueDoesNotExist"]), "{js}");

    let peeked = sluice_json(
        &data,
        &["queue", "peek", "outbox", "--project", &project_arg],
    );
    let messages = peeked["messages"].as_array().unwrap();
    let bodies: Vec<&str> = messages
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        [r#"{"n": 1}"#, "py-a", "py-b", "node-a", r#"{"node":"b"}"#],
        "{peeked}"
    );
    let ids: Vec<&Value> = messages.iter().map(|m| &m["id"]).collect();
    let returned: Vec<&Value> = py["ids"]
        .as_array()
        .unwrap()
        .iter()
        .chain(js["ids"].as_array().unwrap())
        .collect();
    assert_eq!(
        ids, returned,
        "the ids the sends answered are the messages'"
    );
    assert_eq!(
        messages[0]["attributes"],
        json!({"kind": {"DataType": "String", "StringValue": "json"},
               "n": {"DataType": "Number", "StringValue": "1"}}),
        "{peeked}"
    );
}

/// The executions of `flow` whose names start with `prefix`, oldest first.
fn executions_of(server: &Server, flow: &str, prefix: &str) -> Vec<Value> {
    let listed = server.ok(
        "ListExecutions",
        json!({"stateMachineArn": format!("arn:aws:states:local:000000000000:stateMachine:{flow}")}),
    );
    let mut found: Vec<Value> = listed["executions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"].as_str().unwrap().starts_with(prefix))
        .cloned()
        .collect();
    found.sort_by(|a, b| {
        a["startDate"]
            .as_f64()
            .partial_cmp(&b["startDate"].as_f64())
            .unwrap()
    });
    found
}

#[test]
fn schedules_skip_or_cancel_runs_that_would_overlap() {
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
    std::fs::create_dir_all(&proj).unwrap();
    common::write_flow(
        &proj,
        "slow.json",
        &json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 2, "End": true}}}),
    );
    std::fs::write(
        proj.join("sluice.yaml"),
        "flows:\n  slow: slow.json\n\
         triggers:\n\
         \x20 skipper: { cron: '@every 1s', flow: slow, overlap: skip }\n\
         \x20 canceller: { cron: '@every 1s', flow: slow, overlap: cancel }\n",
    )
    .unwrap();
    let server = Server::start(&data, &proj);
    wait_for("two runs of each schedule end", || {
        let ended = |prefix: &str, status: &str| {
            executions_of(&server, "slow", prefix)
                .iter()
                .filter(|e| e["status"] == status)
                .count()
        };
        ended("skipper-", "SUCCEEDED") >= 2 && ended("canceller-", "ABORTED") >= 2
    });
    // Skip: each run starts after the one before it stopped.
    let skipped = executions_of(&server, "slow", "skipper-");
    for pair in skipped.windows(2) {
        let stopped = pair[0]["stopDate"]
            .as_f64()
            .expect("the earlier run stopped first");
        assert!(
            pair[1]["startDate"].as_f64().unwrap() >= stopped,
            "overlapping runs: {pair:?}"
        );
    }
    // Cancel: a newer firing stops the run before it, with a cause that says so.
    let cancelled = executions_of(&server, "slow", "canceller-");
    let aborted = cancelled.iter().find(|e| e["status"] == "ABORTED").unwrap();
    let described = server.ok(
        "DescribeExecution",
        json!({"executionArn": aborted["executionArn"]}),
    );
    assert_eq!(described["error"], "Sluice.Replaced", "{described}");
    assert!(
        described["cause"]
            .as_str()
            .unwrap()
            .contains("replaced by the firing 'canceller-"),
        "{described}"
    );
    assert!(
        cancelled.iter().all(|e| e["status"] != "SUCCEEDED"),
        "every run was replaced before its 2 s wait ended: {cancelled:?}"
    );
}
