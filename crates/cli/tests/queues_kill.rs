//! A node killed with SIGKILL while its Python consumer works through a queue loses nothing:
//! once restarted, every message sent is processed at least once, and only the batches in flight
//! at the kill are processed again. Likewise for events POSTed to an HTTP trigger while the node
//! is killed: every event answered 2xx is processed after the restart.
//!
//! 100,000 messages, sent in requests of 1,000 (about 30 s for both stores on two busy cores);
//! `SLUICE_QUEUE_KILL_MESSAGES=N` sends another number.

mod common;

use common::server::{Server, try_http};
use serde_json::{Value, json};
use sluice_store::testing::TestSchema;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Messages sent by default, in requests of [`PER_REQUEST`]; at most [`MAX_MESSAGES`].
const MESSAGES: usize = 100_000;
const MAX_MESSAGES: usize = 1_000_000;
const PER_REQUEST: usize = 1000;
/// The queue's `batch_size` and `max_concurrency`: at most their product is in flight.
const BATCH_SIZE: usize = 100;
const MAX_CONCURRENCY: usize = 4;
/// How long the whole test may take before it fails.
const BOUND: Duration = Duration::from_secs(240);

/// Appends the id (or with `BODIES`, the body) of every message of a batch to `OUT`, in one
/// write per batch.
const HANDLER: &str = r#"
import os


def handler(event, context):
    key = "body" if os.environ.get("BODIES") else "messageId"
    lines = "".join(r[key] + "\n" for r in event["Records"])
    with open(os.environ["OUT"], "a") as out:
        out.write(lines)
    return {"batchItemFailures": []}
"#;

/// A project whose queue `events` the handler consumes; `ingest` adds the HTTP trigger
/// `POST /ingest` onto it, and makes the handler write bodies.
fn project(dir: &Path, out: &Path, ingest: bool) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("consume.py"), HANDLER).unwrap();
    let (bodies, triggers) = match ingest {
        true => (
            ", BODIES: '1'",
            "triggers:\n  ingest: { http: /ingest, queue: events }\n",
        ),
        false => ("", ""),
    };
    std::fs::write(
        dir.join("sluice.yaml"),
        format!(
            "functions:\n  consume: {{ runtime: python3, handler: consume.handler, concurrency: {MAX_CONCURRENCY}, env: {{ OUT: '{}'{bodies} }} }}\n\
             queues:\n  events: {{ consumer: consume, batch_size: {BATCH_SIZE}, batch_timeout: 100ms, max_concurrency: {MAX_CONCURRENCY}, visibility_timeout: 10s }}\n{triggers}",
            out.display()
        ),
    )
    .unwrap();
}

/// The ids the consumer wrote, in order, one per processing.
fn processed(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// How many messages to send: `SLUICE_QUEUE_KILL_MESSAGES`, else [`MESSAGES`].
fn message_count() -> usize {
    match std::env::var("SLUICE_QUEUE_KILL_MESSAGES") {
        Err(_) => MESSAGES,
        Ok(n) => match n.parse() {
            Ok(n) if (1..=MAX_MESSAGES).contains(&n) => n,
            _ => panic!("SLUICE_QUEUE_KILL_MESSAGES must be from 1 to {MAX_MESSAGES}, not '{n}'"),
        },
    }
}

/// Sends `count` messages over the REST API; returns their ids.
fn send_all(server: &Server, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for start in (0..count).step_by(PER_REQUEST) {
        let messages: Vec<Value> = (start..(start + PER_REQUEST).min(count))
            .map(|n| json!({"body": {"n": n}}))
            .collect();
        let reply = server.http(
            "POST",
            "/v1/queues/events/messages",
            &[("Content-Type", "application/json")],
            json!({ "messages": messages }).to_string().as_bytes(),
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
        ids.extend(
            reply.json()["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_string()),
        );
    }
    ids
}

/// The queue's messages not yet acknowledged (ready, delayed or in flight) and failed ones.
fn left(server: &Server) -> (u64, u64) {
    let reply = server.http("GET", "/v1/queues", &[], b"");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let queues = reply.json();
    let stats = &queues["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "events")
        .expect("the queue events is listed")["stats"];
    let n = |k: &str| stats[k].as_u64().unwrap();
    (n("ready") + n("delayed") + n("inFlight"), n("failed"))
}

fn wait_until(deadline: Instant, what: &str, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(Instant::now() < deadline, "not within {BOUND:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn killed_mid_queue_loses_nothing(store: Option<&str>) {
    if !sluice_engine::testing::program_available("python3") {
        return sluice_engine::testing::skip("python3, which runs the queue's consumer");
    }
    let count = message_count();
    let deadline = Instant::now() + BOUND;
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data, out) = (
        tmp.path().join("p"),
        tmp.path().join("data"),
        tmp.path().join("processed.txt"),
    );
    project(&proj, &out, false);

    let mut server = Server::spawn(common::sluice_on(&data, store), &proj, &[]);
    let sent = send_all(&server, count);
    assert_eq!(sent.len(), count);
    wait_until(
        deadline,
        "the consumer processing a fifth of the queue",
        || processed(&out).len() >= count / 5,
    );
    server.kill();
    let at_kill = processed(&out).len();
    assert!(
        at_kill < count,
        "the consumer finished before the kill; nothing was tested"
    );

    let server = Server::spawn(common::sluice_on(&data, store), &proj, &[]);
    wait_until(deadline, "the restarted node draining the queue", || {
        left(&server).0 == 0
    });
    let (_, failed) = left(&server);
    assert_eq!(failed, 0, "{}", server.stderr());

    let seen = processed(&out);
    let distinct: HashSet<&str> = seen.iter().map(String::as_str).collect();
    let sent: HashSet<&str> = sent.iter().map(String::as_str).collect();
    let lost = sent.difference(&distinct).count();
    assert_eq!(lost, 0, "{lost} messages were never processed");
    assert_eq!(distinct.len(), count, "ids processed that were never sent");
    let redelivered = seen.len() - distinct.len();
    eprintln!(
        "{count} messages, {at_kill} processed at the kill, {redelivered} processed again after it"
    );
    assert!(
        redelivered <= MAX_CONCURRENCY * BATCH_SIZE,
        "{redelivered} messages processed twice, more than the {} in flight at most",
        MAX_CONCURRENCY * BATCH_SIZE
    );
}

#[test]
fn a_node_killed_mid_queue_loses_nothing_on_sqlite() {
    killed_mid_queue_loses_nothing(None);
}

#[test]
fn a_node_killed_mid_queue_loses_nothing_on_postgres() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    killed_mid_queue_loses_nothing(Some(schema.url()));
}

/// Events POSTed to the ingest route by each of [`SENDERS`] threads, at most.
const EVENTS_PER_SENDER: usize = 5_000;
const SENDERS: usize = 4;
/// Events answered 2xx before the kill.
const ACKED_BEFORE_KILL: usize = 1_000;

fn ingest_killed_loses_no_acknowledged_event(store: Option<&str>) {
    if !sluice_engine::testing::program_available("python3") {
        return sluice_engine::testing::skip("python3, which runs the queue's consumer");
    }
    let deadline = Instant::now() + BOUND;
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data, out) = (
        tmp.path().join("p"),
        tmp.path().join("data"),
        tmp.path().join("processed.txt"),
    );
    project(&proj, &out, true);
    let mut server = Server::spawn(common::sluice_on(&data, store), &proj, &[]);

    let acked = Mutex::new(Vec::new());
    let killed = AtomicBool::new(false);
    let unanswered = AtomicUsize::new(0);
    let addr = server.addr.clone();
    std::thread::scope(|scope| {
        for sender in 0..SENDERS {
            let (addr, acked, killed, unanswered) = (&addr, &acked, &killed, &unanswered);
            scope.spawn(move || {
                for i in 0..EVENTS_PER_SENDER {
                    if killed.load(Ordering::SeqCst) {
                        break;
                    }
                    let n = sender * EVENTS_PER_SENDER + i;
                    let body = format!("event-{n}");
                    match try_http(addr, "POST", "/ingest", &[], body.as_bytes()) {
                        Some(reply) if reply.status == 202 => acked.lock().unwrap().push(body),
                        Some(reply) => panic!("{} {}", reply.status, reply.text()),
                        None => {
                            unanswered.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            });
        }
        wait_until(deadline, "events answered before the kill", || {
            acked.lock().unwrap().len() >= ACKED_BEFORE_KILL
        });
        server.kill();
        killed.store(true, Ordering::SeqCst);
    });
    let acked = acked.into_inner().unwrap();

    let server = Server::spawn(common::sluice_on(&data, store), &proj, &[]);
    wait_until(deadline, "the restarted node draining the queue", || {
        left(&server).0 == 0
    });
    let seen = processed(&out);
    let seen: HashSet<&str> = seen.iter().map(String::as_str).collect();
    let lost: Vec<&String> = acked
        .iter()
        .filter(|e| !seen.contains(e.as_str()))
        .collect();
    eprintln!(
        "{} events answered 202 before the kill, {} requests unanswered",
        acked.len(),
        unanswered.load(Ordering::SeqCst)
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
}

#[test]
fn an_ingest_node_killed_mid_load_keeps_every_acknowledged_event_on_sqlite() {
    ingest_killed_loses_no_acknowledged_event(None);
}

#[test]
fn an_ingest_node_killed_mid_load_keeps_every_acknowledged_event_on_postgres() {
    let Some(schema) = TestSchema::create() else {
        return;
    };
    ingest_killed_loses_no_acknowledged_event(Some(schema.url()));
}
