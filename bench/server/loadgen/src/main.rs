//! `sluice-loadgen`: starts a fixed number of executions on `sluice serve` nodes over keep-alive
//! HTTP/1.1 (the Step Functions JSON 1.0 protocol), records each start's latency, waits until
//! every execution has ended, and prints one JSON report on stdout.
//!
//! Closed loop by default: `--connections` connections each send their next start as soon as the
//! last one is answered. With `--rate R` the starts follow a fixed schedule of R per second (open
//! loop), and each start's latency counts from its scheduled time, so a node that falls behind
//! shows it in the latency rather than in a slower schedule. Only loopback targets are accepted.
//!
//! With `--post PATH` it posts a fixed number of JSON bodies to a route of the node instead (an
//! HTTP trigger), each the `--body` template with `{i}` replaced by the request's number, and
//! reports the requests answered 2xx and their latency; there is nothing to wait for.

mod http;
mod stats;

use anyhow::{Context, bail};
use clap::Parser;
use http::Connection;
use serde_json::{Value, json};
use stats::quantile_ms;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many failed calls the report quotes.
const QUOTED_ERRORS: usize = 5;
/// The pause between rounds of DescribeExecution over executions still running.
const POLL_PAUSE: Duration = Duration::from_millis(20);

/// The command line.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// A node, `127.0.0.1:PORT`; repeat for several (connections are spread over them in turn).
    #[arg(long = "target", required = true)]
    targets: Vec<SocketAddr>,
    /// The state machine to start, by ARN.
    #[arg(long, required_unless_present = "post", conflicts_with = "post")]
    machine: Option<String>,
    /// Post to this path of the node instead of starting executions.
    #[arg(long)]
    post: Option<String>,
    /// With `--post`: the body of request `i`, with `{i}` replaced by `i`.
    #[arg(long, default_value = r#"{"event":"click","n":{i}}"#)]
    body: String,
    /// How many executions to start (or requests to post).
    #[arg(long, default_value_t = 10_000)]
    executions: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Starts per second on a fixed schedule (open loop); as fast as answered when absent.
    #[arg(long)]
    rate: Option<f64>,
    /// The input of every execution (JSON text).
    #[arg(long, default_value = "{}")]
    input: String,
    /// Seconds to wait for every execution to end before giving up.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

/// What the starts and the waits found.
#[derive(Default)]
struct Tally {
    /// Execution ARNs started, with each start's latency.
    started: Vec<(String, Duration)>,
    /// Calls that failed, quoted up to [`QUOTED_ERRORS`].
    errors: Vec<String>,
    /// How many calls failed (or found an execution that did not succeed).
    failed_calls: usize,
}

impl Tally {
    fn error(&mut self, message: String) {
        self.failed_calls += 1;
        if self.errors.len() < QUOTED_ERRORS {
            self.errors.push(message);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.started.extend(other.started);
        self.failed_calls += other.failed_calls;
        for e in other.errors {
            if self.errors.len() < QUOTED_ERRORS {
                self.errors.push(e);
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(addr) = args.targets.iter().find(|a| !a.ip().is_loopback()) {
        bail!("--target {addr}: only loopback addresses (127.0.0.1, ::1) can be loaded");
    }
    if args.connections == 0 || args.executions == 0 {
        bail!("--connections and --executions must be at least 1");
    }
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate must be a positive number of starts per second");
    }
    serde_json::from_str::<Value>(&args.input).context("--input is not valid JSON")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(Arc::new(args)))?;
    println!("{report}");
    if report["succeeded"] != report["executions"] || report["failed_calls"] != 0 {
        bail!("not every call succeeded");
    }
    Ok(())
}

/// The connection `k`'s node.
fn target_of(args: &Args, k: usize) -> SocketAddr {
    args.targets[k % args.targets.len()]
}

async fn run(args: Arc<Args>) -> anyhow::Result<Value> {
    let mut connections = Vec::with_capacity(args.connections);
    for k in 0..args.connections {
        connections.push(Connection::open(target_of(&args, k)).await?);
    }
    let start_epoch = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
    let t0 = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for connection in connections {
        tasks.push(tokio::spawn(start_loop(
            args.clone(),
            connection,
            next.clone(),
            t0,
        )));
    }
    let mut tally = Tally::default();
    let mut connections = Vec::new();
    for task in tasks {
        let (connection, part) = task.await?;
        tally.merge(part);
        connections.push(connection);
    }
    let starts_s = t0.elapsed().as_secs_f64();
    if args.post.is_some() {
        let latencies = sorted_latencies(&tally);
        return Ok(json!({
            "targets": args.targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "post": args.post,
            "mode": if args.rate.is_some() { "open" } else { "closed" },
            "rate": args.rate,
            "connections": args.connections,
            "executions": args.executions,
            "succeeded": latencies.len(),
            "failed_calls": tally.failed_calls,
            "errors": tally.errors,
            "seconds": starts_s,
            "requests_per_s": latencies.len() as f64 / starts_s,
            "latency_ms": latency_summary(&latencies),
        }));
    }

    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let arns: Vec<String> = tally.started.iter().map(|(a, _)| a.clone()).collect();
    let share = arns.len().div_ceil(connections.len()).max(1);
    let mut waits = Vec::new();
    for (connection, chunk) in connections.into_iter().zip(arns.chunks(share)) {
        waits.push(tokio::spawn(wait_loop(
            connection,
            chunk.to_vec(),
            deadline,
        )));
    }
    let (mut succeeded, mut last_stop) = (0usize, start_epoch);
    for wait in waits {
        let outcome = wait.await?;
        succeeded += outcome.succeeded;
        last_stop = last_stop.max(outcome.last_stop);
        tally.merge(outcome.tally);
    }

    let latencies = sorted_latencies(&tally);
    let started = latencies.len();
    let all_done_s = last_stop - start_epoch;
    Ok(json!({
        "targets": args.targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "machine": args.machine,
        "mode": if args.rate.is_some() { "open" } else { "closed" },
        "rate": args.rate,
        "connections": args.connections,
        "executions": args.executions,
        "started": started,
        "succeeded": succeeded,
        "failed_calls": tally.failed_calls,
        "errors": tally.errors,
        "starts_s": starts_s,
        "starts_per_s": started as f64 / starts_s,
        "all_succeeded_s": all_done_s,
        "executions_per_s": if all_done_s > 0.0 { succeeded as f64 / all_done_s } else { 0.0 },
        "start_latency_ms": latency_summary(&latencies),
    }))
}

/// The latencies of the calls that succeeded, sorted.
fn sorted_latencies(tally: &Tally) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = tally.started.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    latencies
}

/// Percentiles and mean of sorted latencies, in milliseconds.
fn latency_summary(sorted: &[Duration]) -> Value {
    let mean_ms = match sorted.len() {
        0 => 0.0,
        n => sorted.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / n as f64,
    };
    json!({
        "p50": quantile_ms(sorted, 0.50),
        "p90": quantile_ms(sorted, 0.90),
        "p99": quantile_ms(sorted, 0.99),
        "max": quantile_ms(sorted, 1.0),
        "mean": mean_ms,
    })
}

/// One call: a start, or with `--post` a post. A refused call is `Ok(Err(why))`; otherwise
/// the id its reply names (the execution ARN or the message id). `Err` is a failed connection.
async fn one_call(
    args: &Args,
    connection: &mut Connection,
    request: &Value,
    i: usize,
) -> anyhow::Result<Result<String, String>> {
    let (status, reply) = match &args.post {
        Some(path) => {
            let body = args.body.replace("{i}", &i.to_string());
            let json = "Content-Type: application/json\r\n";
            connection.post(path, json, body.as_bytes()).await?
        }
        None => connection.call("StartExecution", request).await?,
    };
    let id = ["executionArn", "messageId"]
        .iter()
        .find_map(|k| reply[k].as_str());
    Ok(match (status, id) {
        (200..=299, Some(id)) => Ok(id.to_string()),
        _ => Err(format!("{status} {reply}")),
    })
}

/// Sends starts on one connection until every execution is taken, returning the connection
/// for the waits.
async fn start_loop(
    args: Arc<Args>,
    mut connection: Connection,
    next: Arc<AtomicUsize>,
    t0: Instant,
) -> (Connection, Tally) {
    let mut tally = Tally::default();
    let request = json!({"stateMachineArn": args.machine, "input": args.input});
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= args.executions {
            break;
        }
        let begin = match args.rate {
            Some(rate) => {
                let at = t0 + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(at.into()).await;
                at
            }
            None => Instant::now(),
        };
        match one_call(&args, &mut connection, &request, i).await {
            Ok(Ok(id)) => tally.started.push((id, begin.elapsed())),
            Ok(Err(refused)) => tally.error(refused),
            Err(e) => {
                tally.error(format!("{e:#}"));
                break;
            }
        }
    }
    (connection, tally)
}

/// How the executions one connection waited for ended.
struct Outcome {
    succeeded: usize,
    /// The latest `stopDate` of those that succeeded, epoch seconds.
    last_stop: f64,
    /// Failed calls, and executions that ended other than SUCCEEDED or still ran at the deadline.
    tally: Tally,
}

/// Describes `arns` in rounds until none is RUNNING or the deadline passes.
async fn wait_loop(
    mut connection: Connection,
    mut arns: Vec<String>,
    deadline: Instant,
) -> Outcome {
    let mut outcome = Outcome {
        succeeded: 0,
        last_stop: 0.0,
        tally: Tally::default(),
    };
    while !arns.is_empty() {
        let mut running = Vec::new();
        for arn in arns {
            match connection
                .call("DescribeExecution", &json!({"executionArn": arn}))
                .await
            {
                Ok((200, e)) if e["status"] == "RUNNING" => running.push(arn),
                Ok((200, e)) if e["status"] == "SUCCEEDED" => {
                    outcome.succeeded += 1;
                    outcome.last_stop =
                        outcome.last_stop.max(e["stopDate"].as_f64().unwrap_or(0.0));
                }
                Ok((200, e)) => outcome.tally.error(format!("{arn} ended {}", e["status"])),
                Ok((status, reply)) => outcome
                    .tally
                    .error(format!("DescribeExecution: {status} {reply}")),
                Err(e) => {
                    outcome.tally.error(format!("{e:#}"));
                    return outcome;
                }
            }
        }
        if !running.is_empty() {
            if Instant::now() >= deadline {
                for arn in running {
                    outcome
                        .tally
                        .error(format!("{arn} still RUNNING at the deadline"));
                }
                break;
            }
            tokio::time::sleep(POLL_PAUSE).await;
        }
        arns = running;
    }
    outcome
}
