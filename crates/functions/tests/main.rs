//! End-to-end tests of the function pool: real processes, real HTTP.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::local::LocalFileSystem;
use serde_json::{Value, json};
use sluice_engine::invoke::{InvokeRequest, Invoker, Target};
use sluice_functions::{
    FunctionConfig, FunctionPool, InvokeError, InvokeMeta, LogStream, PoolInvoker, PoolOptions,
    Runtime,
};
use tempfile::TempDir;

/// The environment of every instance with one setting (`MY_SETTING`) configured: Lambda's
/// variables, plus `PATH`, `HOME` and `LANG` from the node's own.
const LAMBDA_ENVIRONMENT: [&str; 19] = [
    "AWS_DEFAULT_REGION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_TIMEOUT",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "HOME",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
    "LANG",
    "MY_SETTING",
    "PATH",
    "TZ",
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn python(name: &str, module: &str) -> FunctionConfig {
    FunctionConfig::new(
        name,
        Runtime::Python3,
        format!("functions/{module}.handler"),
        fixtures().join("python"),
    )
}

fn node(name: &str, module: &str) -> FunctionConfig {
    FunctionConfig::new(
        name,
        Runtime::Node,
        format!("{module}.handler"),
        fixtures().join("node"),
    )
}

/// A custom runtime: the fixture `bootstrap` copied to a fresh directory and made
/// executable.
fn provided(name: &str, dir: &Path) -> FunctionConfig {
    use std::os::unix::fs::PermissionsExt;
    let code = dir.join(format!("code-{name}"));
    std::fs::create_dir_all(&code).unwrap();
    let target = code.join("bootstrap");
    std::fs::copy(fixtures().join("provided/bootstrap"), &target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    FunctionConfig::new(name, Runtime::Provided, "bootstrap", code)
}

fn node_available() -> bool {
    let found = sluice_engine::testing::program_available("node");
    if !found {
        sluice_engine::testing::skip("the Node.js test: node is not installed");
    }
    found
}

struct Harness {
    pool: FunctionPool,
    dir: TempDir,
}

impl Harness {
    async fn new(functions: Vec<FunctionConfig>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        Self::in_dir(functions, dir).await
    }

    async fn in_dir(functions: Vec<FunctionConfig>, dir: TempDir) -> Harness {
        let objects = dir.path().join("objects");
        std::fs::create_dir_all(&objects).unwrap();
        let mut options = PoolOptions::new(dir.path().join("cache"));
        options.objects = Some(Arc::new(
            LocalFileSystem::new_with_prefix(&objects).unwrap(),
        ));
        options.log_dir = Some(dir.path().join("logs"));
        let pool = FunctionPool::start(functions, options).await.unwrap();
        Harness { pool, dir }
    }

    async fn invoke(&self, function: &str, payload: Value) -> Result<Value, InvokeError> {
        self.pool
            .invoke(function, payload, InvokeMeta::default())
            .await
    }

    async fn invoke_as(
        &self,
        function: &str,
        payload: Value,
        request_id: &str,
    ) -> Result<Value, InvokeError> {
        let meta = InvokeMeta {
            request_id: Some(request_id.to_string()),
            ..InvokeMeta::default()
        };
        self.pool.invoke(function, payload, meta).await
    }
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !(state.starts_with('Z') || state.starts_with('X'))
        }
        Err(_) => false,
    }
}

async fn eventually_dead(pid: u64) -> bool {
    for _ in 0..100 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    false
}

fn pid_of(v: &Value) -> u64 {
    v["pid"].as_u64().expect("result carries a pid")
}

fn cause_json(e: &InvokeError) -> Value {
    serde_json::from_str(&e.cause).expect("cause is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_echo_with_context_and_warm_reuse() {
    let h = Harness::new(vec![python("echo", "echo")]).await;
    let meta = InvokeMeta {
        request_id: Some("req-1".into()),
        idempotency_key: Some("exec-1/Map/0/1".into()),
        execution: Some("exec-1".into()),
        trace_id: None,
    };
    let cold = Instant::now();
    let first = h
        .pool
        .invoke("echo", json!({"hello": "world", "n": [1, 2.5]}), meta)
        .await
        .unwrap();
    println!("python echo cold invoke: {:?}", cold.elapsed());
    assert_eq!(first["event"], json!({"hello": "world", "n": [1, 2.5]}));
    assert_eq!(first["request_id"], "req-1");
    assert_eq!(first["function_name"], "echo");
    assert_eq!(first["memory_limit_in_mb"], "128");
    assert_eq!(
        first["invoked_function_arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:echo"
    );
    assert_eq!(first["log_group_name"], "/aws/lambda/echo");
    assert!(
        first["log_stream_name"]
            .as_str()
            .unwrap()
            .contains("[$LATEST]")
    );
    assert_eq!(first["execution"], "exec-1");
    assert_eq!(first["idempotency_key"], "exec-1/Map/0/1");
    assert!(first["trace"].as_str().unwrap().starts_with("Root=1-"));
    let remaining = first["remaining_ms"].as_u64().unwrap();
    assert!(remaining > 1000 && remaining <= 3000, "{remaining}");
    let code_dir = std::fs::canonicalize(fixtures().join("python")).unwrap();
    assert_eq!(first["cwd"], code_dir.display().to_string());

    let second = h.invoke("echo", json!(2)).await.unwrap();
    assert_eq!(second["execution"], Value::Null);
    assert_eq!(pid_of(&first), pid_of(&second), "warm instance reused");
    let stats = &h.pool.stats()[0];
    assert_eq!(
        (stats.instances, stats.cold_starts, stats.invocations),
        (1, 1, 2)
    );

    // Warm invoke latency (informative, not asserted).
    let rounds = 200;
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let t = Instant::now();
        h.invoke("echo", json!({ "i": i })).await.unwrap();
        samples.push(t.elapsed());
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / rounds as u32;
    println!(
        "python echo warm invoke over {rounds} calls: mean {:?}, p50 {:?}, p99 {:?}",
        mean,
        samples[rounds / 2],
        samples[rounds * 99 / 100]
    );
    h.pool.shutdown().await;
    assert!(eventually_dead(pid_of(&first)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_handlers() {
    if !node_available() {
        return;
    }
    let h = Harness::new(vec![
        node("echo", "echo"),
        node("sync", "sync"),
        node("callback", "callback"),
        node("fail", "fail"),
        node("objects", "objects"),
        node("esm", "esm/echo"),
    ])
    .await;
    let meta = InvokeMeta {
        execution: Some("e-7".into()),
        idempotency_key: Some("k-7".into()),
        ..InvokeMeta::default()
    };
    let a = h.pool.invoke("echo", json!({"x": 1}), meta).await.unwrap();
    assert_eq!(a["event"], json!({"x": 1}));
    assert_eq!(a["functionName"], "echo");
    assert_eq!(a["memoryLimitInMB"], "128");
    assert_eq!(a["execution"], "e-7");
    assert_eq!(a["idempotencyKey"], "k-7");
    assert!(a["remaining"].as_u64().unwrap() > 1000);
    let b = h.invoke("echo", json!(null)).await.unwrap();
    assert_eq!(pid_of(&a), pid_of(&b));
    // An event of many socket reads, and the call after it on the same connection.
    let blob = "x".repeat(3_000_000);
    let big = h.invoke("echo", json!({"blob": blob})).await.unwrap();
    assert_eq!(
        big["event"]["blob"].as_str().map(str::len),
        Some(blob.len())
    );
    let after = h.invoke("echo", json!({"after": true})).await.unwrap();
    assert_eq!(after["event"], json!({"after": true}));
    assert_eq!(pid_of(&after), pid_of(&a));

    assert_eq!(
        h.invoke("sync", json!({"n": 21})).await.unwrap(),
        json!({"doubled": 42})
    );
    assert_eq!(
        h.invoke("callback", json!({"n": 5})).await.unwrap(),
        json!({"viaCallback": 5})
    );

    let err = h.invoke("fail", json!({})).await.unwrap_err();
    assert_eq!(err.error, "TypeError");
    let cause = cause_json(&err);
    assert_eq!(cause["errorMessage"], "bad input");
    assert_eq!(cause["errorType"], "TypeError");
    assert!(
        cause["trace"][0]
            .as_str()
            .unwrap()
            .starts_with("TypeError: bad input")
    );

    assert_eq!(
        h.invoke("esm", json!({"m": 1})).await.unwrap(),
        json!({"event": {"m": 1}, "module": "echo.mjs"})
    );

    let o = h.invoke_as("objects", json!({}), "node-req").await.unwrap();
    assert_eq!(o["got"], "from node");
    assert_eq!(o["put"], json!({"key": "node/x.txt", "size": 9}));
    assert_eq!(o["listed"], json!([{"key": "node/x.txt", "size": 9}]));
    assert_eq!(o["missing"], "NoSuchKey");
    assert_eq!(o["escape"], "InvalidKey");
    assert_eq!(o["slice"], json!(b"node".to_vec()));
    assert_eq!(o["last"], "node");
    assert_eq!(o["size"], 9);
    assert!(o["etag"].as_str().is_some_and(|t| t.len() > 2), "{o}");
    assert_eq!(o["pastEnd"], "InvalidRange");
    assert_eq!(o["headMissing"], "NoSuchKey");
    let logs = h.pool.logs_for_request("node-req");
    assert!(
        logs.iter()
            .any(|l| l.line == "node log line node-req" && l.stream == LogStream::Stdout),
        "{logs:?}"
    );
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_exception_becomes_step_functions_error() {
    let h = Harness::new(vec![python("fail", "fail")]).await;
    let err = h
        .invoke_as("fail", json!({}), "req-boom")
        .await
        .unwrap_err();
    assert_eq!(err.error, "ValueError");
    let cause = cause_json(&err);
    assert_eq!(cause["errorMessage"], "boom");
    assert_eq!(cause["errorType"], "ValueError");
    assert_eq!(cause["requestId"], "req-boom");
    let trace = cause["stackTrace"].as_array().unwrap();
    assert!(
        trace
            .iter()
            .any(|f| f.as_str().unwrap().contains("fail.py")),
        "{trace:?}"
    );
    assert!(
        !trace
            .iter()
            .any(|f| f.as_str().unwrap().contains("bootstrap.py"))
    );
    assert!(
        err.cause
            .starts_with(r#"{"errorMessage": "boom", "errorType": "ValueError", "requestId""#),
        "the document as the runtime posted it: {}",
        err.cause
    );
    // A handled error leaves the instance usable.
    assert!(h.invoke("fail", json!({})).await.is_err());
    assert_eq!(h.pool.stats()[0].cold_starts, 1);
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_instance_and_the_next_call_works() {
    let mut config = python("sleepy", "sleepy");
    config.timeout = Duration::from_secs(1);
    let h = Harness::new(vec![config]).await;
    let warm = h.invoke("sleepy", json!({"sleep": 0})).await.unwrap();
    let started = Instant::now();
    let err = h.invoke("sleepy", json!({"sleep": 30})).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.error, "States.Timeout");
    assert!(
        err.cause.contains("Task timed out after 1.00 seconds"),
        "{}",
        err.cause
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(
        eventually_dead(pid_of(&warm)).await,
        "timed-out instance killed"
    );
    let next = h.invoke("sleepy", json!({"sleep": 0})).await.unwrap();
    assert_ne!(
        pid_of(&next),
        pid_of(&warm),
        "a new instance serves the next call"
    );
    assert_eq!(h.pool.stats()[0].instances, 1);
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_init_times_out() {
    let mut config = python("slow", "slow_init");
    config.init_timeout = Duration::from_secs(1);
    let h = Harness::new(vec![config]).await;
    let started = Instant::now();
    let err = h
        .invoke_as("slow", json!({}), "req-init")
        .await
        .unwrap_err();
    assert_eq!(err.error, "States.Timeout");
    assert_eq!(
        err.cause,
        "RequestId: req-init Error: Init timed out after 1.00 seconds"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(h.pool.stats()[0].instances, 0);
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_init_and_marshal_failures() {
    let h = Harness::new(vec![
        python("exits", "exits"),
        python("broken", "broken"),
        python("unserialisable", "unserialisable"),
        python("missing-handler", "nowhere"),
    ])
    .await;
    let err = h
        .invoke_as("exits", json!({}), "req-exit")
        .await
        .unwrap_err();
    assert_eq!(err.error, "Runtime.ExitError");
    assert_eq!(
        err.cause,
        "RequestId: req-exit Error: Runtime exited with error: exit status 3"
    );
    assert_eq!(h.pool.stats()[0].instances, 0);

    let err = h.invoke("broken", json!({})).await.unwrap_err();
    assert_eq!(err.error, "Runtime.ImportModuleError");
    let cause = cause_json(&err);
    assert!(
        cause["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("Unable to import module 'functions/broken': No module named"),
        "{cause}"
    );
    let err = h.invoke("missing-handler", json!({})).await.unwrap_err();
    assert_eq!(err.error, "Runtime.ImportModuleError");

    let err = h.invoke("unserialisable", json!({})).await.unwrap_err();
    assert_eq!(err.error, "Runtime.MarshalError");
    assert!(
        cause_json(&err)["errorMessage"]
            .as_str()
            .unwrap()
            .contains("not JSON serializable")
    );
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_response_is_rejected_and_the_instance_survives() {
    let mut config = python("big", "big");
    config.max_response_bytes = 1024 * 1024;
    let h = Harness::new(vec![config]).await;
    let before = h.invoke("big", json!({})).await.unwrap();
    let err = h
        .invoke("big", json!({"size": 2_000_000}))
        .await
        .unwrap_err();
    assert_eq!(err.error, "Function.ResponseSizeTooLarge");
    assert!(err.cause.contains("2000002 bytes"), "{}", err.cause);
    let after = h.invoke("big", json!({})).await.unwrap();
    assert_eq!(pid_of(&before), pid_of(&after));
    // Just under the limit passes.
    let ok = h
        .invoke("big", json!({"size": 1024 * 1024 - 2}))
        .await
        .unwrap();
    assert_eq!(ok.as_str().unwrap().len(), 1024 * 1024 - 2);
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_result_over_256_kib_fails_before_it_is_parsed_named_after_the_resource() {
    let h = Harness::new(vec![python("big", "big")]).await;
    let invoker = PoolInvoker::new(h.pool.clone());
    let call = |resource: &str, size: usize| {
        invoker.invoke(InvokeRequest {
            target: Target::Function {
                name: "big".into(),
                wrap: resource.contains(":::lambda:invoke"),
            },
            resource: resource.into(),
            payload: json!({"size": size}),
            idempotency_key: "k".into(),
            execution: "e".into(),
            timeout_seconds: None,
        })
    };
    let limit = 256 * 1024;
    // A JSON string of n characters is n + 2 bytes.
    let fits = call("sluice:function:big", limit - 2).await.unwrap();
    assert_eq!(fits.as_str().map(str::len), Some(limit - 2));
    let arn = "arn:aws:lambda:us-east-1:000000000000:function:big";
    let e = call(arn, limit - 1).await.unwrap_err();
    assert_eq!(e.error, "States.DataLimitExceeded");
    assert_eq!(
        e.cause,
        format!(
            "The state/task '{arn}' returned a result with a size exceeding the maximum number of bytes service limit."
        )
    );
    let e = call("arn:aws:states:::lambda:invoke", limit)
        .await
        .unwrap_err();
    assert!(
        e.cause.starts_with("The state/task 'lambda' returned"),
        "{}",
        e.cause
    );
    // The direct call has Lambda's limit only.
    let direct = h.invoke("big", json!({"size": limit})).await.unwrap();
    assert_eq!(direct.as_str().map(str::len), Some(limit));
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_over_the_request_limit_is_refused_before_any_instance_starts() {
    let mut config = python("echo", "echo");
    config.max_request_bytes = 1000;
    let h = Harness::new(vec![config]).await;
    let e = h
        .invoke("echo", json!({"data": "x".repeat(2000)}))
        .await
        .unwrap_err();
    assert_eq!(e.error, "Lambda.RequestEntityTooLargeException");
    assert_eq!(
        e.cause,
        "Request must be smaller than 1000 bytes for the InvokeFunction operation"
    );
    assert_eq!(h.pool.stats()[0].cold_starts, 0);
    let event = json!({"data": "x".repeat(900)});
    let out = h.invoke("echo", event.clone()).await.unwrap();
    assert_eq!(out["event"], event);

    // Through a Task, the cause carries the SDK details, as Step Functions shows them.
    let e = PoolInvoker::new(h.pool.clone())
        .call(
            InvokeRequest {
                target: Target::Function {
                    name: "echo".into(),
                    wrap: true,
                },
                resource: "arn:aws:states:::lambda:invoke".into(),
                payload: json!({"data": "x".repeat(2000)}),
                idempotency_key: "k".into(),
                execution: "e".into(),
                timeout_seconds: None,
            },
            "req-big".into(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.error, "Lambda.RequestEntityTooLargeException");
    assert!(
        e.cause.ends_with("(Service: AWSLambda; Status Code: 413; Error Code: RequestEntityTooLargeException; Request ID: req-big; Proxy: null)"),
        "{}",
        e.cause
    );
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_bounded_and_callers_wait() {
    let mut config = python("sleepy", "sleepy");
    config.concurrency = 2;
    let h = Arc::new(Harness::new(vec![config]).await);
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.invoke("sleepy", json!({"sleep": 0.4})).await })
        })
        .collect();
    let mut max_instances = 0;
    while !calls.iter().all(|c| c.is_finished()) {
        let s = &h.pool.stats()[0];
        max_instances = max_instances.max(s.instances);
        assert!(s.instances <= 2 && s.busy <= 2, "{s:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap().unwrap());
    }
    let pids: BTreeSet<u64> = results.iter().map(pid_of).collect();
    assert_eq!(pids.len(), 2, "{results:?}");
    assert_eq!(max_instances, 2);
    // At no moment did more than two invocations overlap.
    for r in &results {
        let t = r["start"].as_f64().unwrap() + 0.2;
        let overlapping = results
            .iter()
            .filter(|o| o["start"].as_f64().unwrap() <= t && t <= o["end"].as_f64().unwrap())
            .count();
        assert!(overlapping <= 2, "{results:?}");
    }
    let s = &h.pool.stats()[0];
    assert_eq!((s.instances, s.idle, s.busy, s.cold_starts), (2, 2, 0, 2));
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_caller_does_not_leak_capacity() {
    let mut config = python("sleepy", "sleepy");
    config.concurrency = 1;
    let h = Arc::new(Harness::new(vec![config]).await);
    let busy = {
        let h = h.clone();
        tokio::spawn(async move { h.invoke("sleepy", json!({"sleep": 0.5})).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waited = tokio::time::timeout(
        Duration::from_millis(50),
        h.invoke("sleepy", json!({"sleep": 0})),
    )
    .await;
    assert!(waited.is_err(), "the second caller had to wait");
    let first = busy.await.unwrap().unwrap();
    let next = h.invoke("sleepy", json!({"sleep": 0})).await.unwrap();
    assert_eq!(pid_of(&first), pid_of(&next));
    let s = &h.pool.stats()[0];
    assert_eq!((s.instances, s.busy, s.waiting), (1, 0, 0));

    // A caller cancelled in the middle of an invocation kills that instance.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(300),
        h.invoke("sleepy", json!({"sleep": 5})),
    )
    .await;
    assert!(cancelled.is_err());
    assert!(eventually_dead(pid_of(&next)).await);
    let again = h.invoke("sleepy", json!({"sleep": 0})).await.unwrap();
    assert_ne!(pid_of(&again), pid_of(&next));
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_instances_are_reaped() {
    let mut config = python("echo", "echo");
    config.idle_timeout = Duration::from_millis(300);
    let h = Harness::new(vec![config]).await;
    let first = h.invoke("echo", json!(1)).await.unwrap();
    assert_eq!(h.pool.pids("echo"), vec![pid_of(&first) as u32]);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(h.pool.stats()[0].instances, 0);
    assert!(h.pool.pids("echo").is_empty());
    assert!(eventually_dead(pid_of(&first)).await);
    let second = h.invoke("echo", json!(2)).await.unwrap();
    assert_ne!(pid_of(&first), pid_of(&second));
    assert_eq!(h.pool.stats()[0].cold_starts, 2);
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_attributed_to_their_request() {
    let mut config = python("logs", "logs");
    config.concurrency = 1;
    let h = Harness::new(vec![config]).await;
    let a = h
        .invoke_as("logs", json!({"tag": "A"}), "req-a")
        .await
        .unwrap();
    let b = h
        .invoke_as("logs", json!({"tag": "B"}), "req-b")
        .await
        .unwrap();
    assert_eq!(a, json!({"tag": "A"}), "prints never reach the result");
    assert_eq!(b, json!({"tag": "B"}));

    let lines = |id: &str| {
        h.pool
            .logs_for_request(id)
            .into_iter()
            .map(|l| (l.stream, l.line))
            .collect::<Vec<_>>()
    };
    let a_lines = lines("req-a");
    assert!(
        a_lines.contains(&(LogStream::Stdout, "stdout says A req-a".into())),
        "{a_lines:?}"
    );
    assert!(
        a_lines.contains(&(LogStream::Stderr, "stderr says A".into())),
        "{a_lines:?}"
    );
    assert!(
        a_lines.contains(&(LogStream::Stdout, "no newline A".into())),
        "{a_lines:?}"
    );
    assert!(a_lines.iter().all(|(_, l)| !l.contains('B')), "{a_lines:?}");
    let b_lines = lines("req-b");
    assert!(
        b_lines.contains(&(LogStream::Stdout, "stdout says B req-b".into())),
        "{b_lines:?}"
    );
    assert!(
        b_lines.iter().all(|(_, l)| !l.contains(" A")),
        "{b_lines:?}"
    );

    let all = h.pool.logs("logs");
    let init: Vec<_> = all.iter().filter(|l| l.request_id.is_none()).collect();
    assert!(init.iter().any(|l| l.line == "module loaded"), "{all:?}");
    assert!(all.iter().all(|l| l.function == "logs"));

    h.pool.flush_logs().await;
    let file = std::fs::read_to_string(h.dir.path().join("logs/logs.jsonl")).unwrap();
    let parsed: Vec<sluice_functions::LogLine> = file
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        parsed
            .iter()
            .any(|l| l.request_id.as_deref() == Some("req-b")
                && l.line == "stderr says B"
                && l.stream == LogStream::Stderr)
    );
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_api_from_python() {
    let h = Harness::new(vec![python("objects", "objects")]).await;
    let out = h.invoke("objects", json!({})).await.unwrap();
    assert_eq!(out["put_text"], json!({"key": "out/a.txt", "size": 5}));
    assert_eq!(out["get_text"], "hello");
    assert_eq!(out["get_bytes"], json!([0, 1, 2]));
    let both = json!([{"key": "out/a.txt", "size": 5}, {"key": "out/sub/b.bin", "size": 3}]);
    assert_eq!(out["list_out"], both);
    assert_eq!(out["list_all"], both);
    assert_eq!(
        out["list_partial"],
        json!([{"key": "out/a.txt", "size": 5}])
    );
    assert_eq!(out["missing"], "NoSuchKey");
    assert_eq!(out["escape"], "InvalidKey");
    assert_eq!(out["absolute"], "InvalidKey");
    assert_eq!(out["empty_segment"], "InvalidKey");
    assert_eq!(out["raw_dotdot"], 400);
    assert_eq!(out["raw_encoded"], 400);
    assert_eq!(out["raw_backslash"], 400);
    assert_eq!(out["raw_nul"], 400);
    assert_eq!(out["raw_missing"], 404);
    let root = h.dir.path().join("objects");
    assert_eq!(
        std::fs::read_to_string(root.join("out/a.txt")).unwrap(),
        "hello"
    );
    assert!(!h.dir.path().join("x").exists());
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranged_reads_heads_and_streamed_puts_from_python() {
    let h = Harness::new(vec![python("ranges", "ranges")]).await;
    let out = h.invoke("ranges", json!({})).await.unwrap();
    assert_eq!(out["slice"], json!([10, 11, 12, 13]));
    assert_eq!(out["from"], 24);
    assert_eq!(out["last"], json!([253, 254, 255]));
    assert_eq!(out["past_end"], 4, "a range past the end is cut at the end");
    assert_eq!(out["empty"], "");
    assert_eq!(out["head"]["key"], "r/data.bin");
    assert_eq!(out["head"]["size"], 1024);
    assert!(out["head"]["etag"].as_str().is_some(), "{out}");
    assert!(
        out["head"]["last_modified"]
            .as_str()
            .is_some_and(|t| t.ends_with(" GMT")),
        "{out}"
    );
    assert_eq!(out["at_end"], "InvalidRange");
    assert_eq!(out["missing"], "NoSuchKey");
    assert_eq!(out["head_missing"], "NoSuchKey");
    let streamed_size = 1024 * 1024 + 3;
    assert_eq!(
        out["streamed"],
        json!({"key": "r/streamed.bin", "size": streamed_size})
    );
    assert_eq!(out["streamed_back"], true);
    let root = h.dir.path().join("objects");
    assert_eq!(
        std::fs::metadata(root.join("r/streamed.bin"))
            .unwrap()
            .len(),
        streamed_size
    );

    let bounded = &out["raw_bounded"];
    assert_eq!(bounded["status"], 206);
    assert_eq!(bounded["content_range"], "bytes 1-3/1024");
    assert_eq!(bounded["content_length"], "3");
    assert_eq!(bounded["body"], "\u{1}\u{2}\u{3}");
    assert_eq!(out["raw_suffix"]["status"], 206);
    assert_eq!(out["raw_suffix"]["content_range"], "bytes 1022-1023/1024");
    assert_eq!(out["raw_whole"], "1024");
    let unsatisfiable = &out["raw_unsatisfiable"];
    assert_eq!(unsatisfiable["status"], 416);
    assert_eq!(unsatisfiable["content_range"], "bytes */1024");
    assert!(
        unsatisfiable["body"]
            .as_str()
            .unwrap()
            .contains("r/data.bin of 1024 bytes"),
        "{unsatisfiable}"
    );
    assert_eq!(out["raw_empty_suffix"], 416);
    let malformed = &out["raw_malformed"];
    assert_eq!(malformed["status"], 400);
    assert!(
        malformed["body"]
            .as_str()
            .unwrap()
            .contains("Range 'bytes=5-1' ends before it starts"),
        "{malformed}"
    );
    let head = &out["raw_head"];
    assert_eq!(head["status"], 200);
    assert_eq!(head["content_length"], "1024");
    assert_eq!(head["body"], "");
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provided_runtime_speaks_the_api_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut missing = FunctionConfig::new("missing", Runtime::Provided, "no-such-file", dir.path());
    missing.timeout = Duration::from_secs(1);
    let h = Harness::in_dir(vec![provided("custom", dir.path()), missing], dir).await;

    let meta = InvokeMeta {
        request_id: Some("custom-1".into()),
        execution: Some("exec-9".into()),
        trace_id: Some(
            "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0".into(),
        ),
        ..InvokeMeta::default()
    };
    let out = h
        .pool
        .invoke("custom", json!({"a": 1}), meta)
        .await
        .unwrap();
    assert_eq!(out["event"], json!({"a": 1}));
    assert_eq!(out["handler"], "bootstrap");
    let headers = &out["headers"];
    assert_eq!(headers["lambda-runtime-aws-request-id"], "custom-1");
    assert_eq!(
        headers["lambda-runtime-invoked-function-arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:custom"
    );
    assert!(
        headers["lambda-runtime-trace-id"]
            .as_str()
            .unwrap()
            .starts_with("Root=1-0000")
    );
    let cc: Value =
        serde_json::from_str(headers["lambda-runtime-client-context"].as_str().unwrap()).unwrap();
    assert_eq!(cc["custom"]["execution"], "exec-9");
    assert!(headers.get("lambda-runtime-cognito-identity").is_none());
    let deadline: u128 = headers["lambda-runtime-deadline-ms"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert!(
        deadline > now && deadline <= now + 3_000,
        "{deadline} vs {now}"
    );

    let err = h
        .invoke("custom", json!({"mode": "garbage"}))
        .await
        .unwrap_err();
    assert_eq!(err.error, "Runtime.InvalidResponse");

    let err = h
        .invoke_as("custom", json!({"mode": "error"}), "custom-err")
        .await
        .unwrap_err();
    assert_eq!(err.error, "CustomError");
    assert_eq!(
        err.cause,
        r#"{"errorMessage":"custom failure","errorType":"CustomError","requestId":"custom-err","stackTrace":[]}"#
    );

    let probed = h.invoke("custom", json!({"mode": "probe"})).await.unwrap();
    assert_eq!(probed, json!({"probed": true}));
    let report = h.invoke("custom", json!({"mode": "report"})).await.unwrap();
    assert_eq!(
        report,
        json!({
            "error_post": 202,
            "unknown_id": 403,
            "late_init_error": 403,
            "unknown_path": 404,
            "first_response": 202,
            "second_response": 403,
        })
    );
    assert_eq!(
        h.pool.stats()[0].cold_starts,
        1,
        "one process served every call"
    );

    let err = h.invoke("missing", json!({})).await.unwrap_err();
    assert_eq!(err.error, "Runtime.InvalidEntrypoint");
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_function_is_resource_not_found() {
    let h = Harness::new(vec![python("echo", "echo")]).await;
    let err = h.invoke("nope", json!({})).await.unwrap_err();
    assert_eq!(
        err,
        InvokeError::new(
            "Lambda.ResourceNotFoundException",
            "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope:$LATEST"
        )
    );
    h.pool.shutdown().await;
    let err = h.invoke("echo", json!({})).await.unwrap_err();
    assert_eq!(err.error, "Lambda.ServiceException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configurations_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let try_start = |config: FunctionConfig| {
        let options = PoolOptions::new(dir.path().join("cache"));
        async move { FunctionPool::start(vec![config], options).await.err() }
    };
    let mut reserved = python("echo", "echo");
    reserved
        .env
        .insert("AWS_LAMBDA_RUNTIME_API".into(), "x".into());
    assert!(try_start(reserved).await.is_some());
    assert!(try_start(python("../evil", "echo")).await.is_some());
    let mut zero = python("echo", "echo");
    zero.concurrency = 0;
    assert!(try_start(zero).await.is_some());
    let mut nodir = python("echo", "echo");
    nodir.code_dir = dir.path().join("absent");
    assert!(try_start(nodir).await.is_some());
    assert!(try_start(python("echo", "echo")).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_leaves_no_process_behind() {
    let h = Harness::new(vec![python("spawner", "spawner")]).await;
    let out = h.invoke("spawner", json!({})).await.unwrap();
    let grandchild = out["grandchild"].as_u64().unwrap();
    assert!(alive(pid_of(&out)) && alive(grandchild));
    h.pool.shutdown().await;
    assert!(eventually_dead(pid_of(&out)).await);
    assert!(
        eventually_dead(grandchild).await,
        "the whole process group is killed"
    );
    assert_eq!(h.pool.stats()[0].instances, 0);
}

const LEAK_VAR: &str = "SLUICE_TEST_PARENT_SECRET";

/// Re-runs this binary with a variable set in its environment, and checks there
/// (in `env_probe`) that functions do not see it.
#[test]
fn environment_does_not_leak() {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "env_probe",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(LEAK_VAR, "do-not-leak")
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by environment_does_not_leak with a variable set"]
async fn env_probe() {
    assert_eq!(std::env::var(LEAK_VAR).as_deref(), Ok("do-not-leak"));
    let mut config = python("env", "env");
    config.env.insert("MY_SETTING".into(), "42".into());
    config.memory_mb = 256;
    let h = Harness::new(vec![config]).await;
    let env = h.invoke("env", json!({})).await.unwrap();
    let env = env.as_object().unwrap();
    assert!(!env.contains_key(LEAK_VAR), "{env:?}");
    assert!(!env.keys().any(|k| k.starts_with("CARGO")), "{env:?}");
    assert_eq!(env["MY_SETTING"], "42");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "env");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["_HANDLER"], "functions/env.handler");
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(env["PATH"], std::env::var("PATH").unwrap().as_str());
    let expected: Vec<&str> = [LAMBDA_ENVIRONMENT.as_slice(), &["PYTHONPYCACHEPREFIX"]].concat();
    let unexpected: Vec<&String> = env
        .keys()
        .filter(|k| !expected.contains(&k.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected variables: {unexpected:?}"
    );
    for key in [
        "LAMBDA_TASK_ROOT",
        "LANG",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
    ] {
        assert!(env.contains_key(key), "{key} missing");
    }
    h.pool.shutdown().await;
}

fn limits(name: &str, fork: bool) -> FunctionConfig {
    let mut config = python(name, "limits");
    config.fork = fork;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_instances_fork_from_a_zygote_unless_fork_is_off() {
    let h = Harness::new(vec![limits("forked", true), limits("plain", false)]).await;
    let forked = h.invoke("forked", json!({})).await.unwrap();
    let plain = h.invoke("plain", json!({})).await.unwrap();
    let ours = u64::from(std::process::id());
    // A plain instance is Sluice's child; a forked one the zygote's.
    assert_eq!(plain["ppid"].as_u64(), Some(ours));
    assert_ne!(forked["ppid"].as_u64(), Some(ours));
    assert!(alive(forked["ppid"].as_u64().unwrap()));
    for v in [&forked, &plain] {
        // Each instance leads its own process group, so killing it kills nothing else.
        assert_eq!(v["pgid"], v["pid"]);
        assert_eq!(v["nofile"], 1024);
        assert_eq!(v["address_space"], 128 * 1024 * 1024);
    }
    let zygote = forked["ppid"].as_u64().unwrap();
    h.pool.shutdown().await;
    assert!(eventually_dead(pid_of(&forked)).await);
    assert!(eventually_dead(zygote).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn going_over_memory_is_out_of_memory_and_the_next_call_works() {
    let h = Harness::new(vec![limits("forked", true), limits("plain", false)]).await;
    for function in ["forked", "plain"] {
        let first = h
            .invoke(function, json!({"allocate_mb": 16}))
            .await
            .unwrap();
        assert_eq!(first["allocated"], 16 * 1024 * 1024);
        let err = h
            .invoke_as(function, json!({"allocate_mb": 256}), "req-oom")
            .await
            .unwrap_err();
        assert_eq!(err.error, "Runtime.OutOfMemory", "{function}: {err:?}");
        assert_eq!(cause_json(&err)["errorType"], "Runtime.OutOfMemory");
        assert!(err.cause.contains("req-oom"), "{}", err.cause);
        // The instance that ran out is replaced.
        assert!(eventually_dead(pid_of(&first)).await);
        let next = h.invoke(function, json!({})).await.unwrap();
        assert_ne!(next["pid"], first["pid"]);
    }
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_handler_file_restarts_the_zygote() {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir_all(code.join("functions")).unwrap();
    let file = code.join("functions/limits.py");
    let source = std::fs::read_to_string(fixtures().join("python/functions/limits.py")).unwrap();
    std::fs::write(&file, &source).unwrap();
    let config = FunctionConfig::new(
        "changing",
        Runtime::Python3,
        "functions/limits.handler",
        &code,
    );
    let h = Harness::in_dir(vec![config], dir).await;
    let first = h.invoke("changing", json!({})).await.unwrap();
    assert_eq!(first["version"], 1);

    std::fs::write(&file, source.replace("VERSION = 1", "VERSION = 2")).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    // The warm instance keeps the code it loaded until it ends.
    assert_eq!(h.invoke("changing", json!({})).await.unwrap()["version"], 1);
    let err = h
        .invoke("changing", json!({"exit": true}))
        .await
        .unwrap_err();
    assert_eq!(err.error, "Runtime.ExitError");

    let second = h.invoke("changing", json!({})).await.unwrap();
    assert_eq!(second["version"], 2);
    assert_ne!(second["ppid"], first["ppid"]);
    // The old zygote exits once its last instance has.
    assert!(eventually_dead(first["ppid"].as_u64().unwrap()).await);
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_forked_instance_kills_only_that_instance() {
    let mut config = python("sleepy", "sleepy");
    config.concurrency = 2;
    config.timeout = Duration::from_secs(1);
    let h = Harness::new(vec![config]).await;
    let slow = tokio::spawn({
        let pool = h.pool.clone();
        async move {
            pool.invoke("sleepy", json!({"sleep": 30}), InvokeMeta::default())
                .await
        }
    });
    // Once the overrunning call holds the first instance, a second call starts another.
    for _ in 0..300 {
        if h.pool.pids("sleepy").len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let quick = pid_of(&h.invoke("sleepy", json!({})).await.unwrap());
    let doomed = h.pool.pids("sleepy").into_iter().map(u64::from);
    let doomed: Vec<u64> = doomed.filter(|p| *p != quick).collect();
    assert_eq!(doomed.len(), 1);
    let status = std::fs::read_to_string(format!("/proc/{quick}/status")).unwrap();
    let zygote: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let err = slow.await.unwrap().unwrap_err();
    assert_eq!(err.error, "States.Timeout");
    assert!(eventually_dead(doomed[0]).await);
    assert!(alive(quick) && alive(zygote));
    let again = h.invoke("sleepy", json!({})).await.unwrap();
    assert_eq!(pid_of(&again), quick);
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_importing_over_memory_fails_to_start_out_of_memory() {
    let mut plain = python("plain", "import_hog");
    plain.fork = false;
    let h = Harness::new(vec![python("forked", "import_hog"), plain]).await;
    for function in ["forked", "plain"] {
        let err = h
            .invoke_as(function, json!({}), "req-init-oom")
            .await
            .unwrap_err();
        assert_eq!(err.error, "Runtime.OutOfMemory", "{function}: {err:?}");
        let cause = cause_json(&err);
        assert_eq!(
            cause["errorMessage"],
            "Init Error: Runtime exited with error: memory limit of 128 MB exceeded"
        );
        assert_eq!(h.pool.stats().iter().map(|s| s.instances).sum::<usize>(), 0);
    }
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_instances_run_limited_in_their_own_environment() {
    if !node_available() {
        return;
    }
    let mut config = node("limits", "limits");
    config.env.insert("MY_SETTING".into(), "42".into());
    let h = Harness::new(vec![config]).await;
    let v = h.invoke("limits", json!({})).await.unwrap();
    assert_eq!(v["nofile"], json!({"soft": 1024, "hard": 1024}));
    assert_eq!(v["pgid"], v["pid"]);
    // V8's heap limit follows `memory` (128 MB): 90% old generation, 10% young.
    let heap = v["heapLimitMb"].as_u64().unwrap();
    assert!((116..=140).contains(&heap), "heap limit {heap} MB");
    let code_dir = std::fs::canonicalize(fixtures().join("node")).unwrap();
    assert_eq!(v["cwd"], code_dir.display().to_string());
    let expected = LAMBDA_ENVIRONMENT;
    let got: Vec<&str> = v["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .filter(|k| *k != "HOME" || std::env::var("HOME").is_ok())
        .collect();
    let wanted: Vec<&str> = expected
        .into_iter()
        .filter(|k| *k != "HOME" || std::env::var("HOME").is_ok())
        .collect();
    assert_eq!(got, wanted);
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_going_over_its_heap_is_out_of_memory_and_the_next_call_works() {
    if !node_available() {
        return;
    }
    let mut config = node("limits", "limits");
    // Room for V8's last garbage collections before it gives up, on a loaded machine.
    config.timeout = Duration::from_secs(60);
    let h = Harness::new(vec![config]).await;
    let first = h
        .invoke("limits", json!({"allocate_mb": 16}))
        .await
        .unwrap();
    let err = h
        .invoke_as("limits", json!({"allocate_mb": 512}), "req-node-oom")
        .await
        .unwrap_err();
    assert_eq!(err.error, "Runtime.OutOfMemory", "{err:?}");
    let cause = cause_json(&err);
    assert_eq!(
        cause["errorMessage"],
        "RequestId: req-node-oom Error: Runtime exited with error: memory limit of 128 MB exceeded"
    );
    assert_eq!(cause["requestId"], "req-node-oom");
    // V8's last words are in the request's log.
    let logs = h.pool.logs_for_request("req-node-oom");
    assert!(
        logs.iter()
            .any(|l| l.line.contains("JavaScript heap out of memory")),
        "{logs:?}"
    );
    // The instance that ran out is replaced.
    assert!(eventually_dead(pid_of(&first)).await);
    let next = h.invoke("limits", json!({})).await.unwrap();
    assert_ne!(next["pid"], first["pid"]);
    h.pool.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_module_loading_over_its_heap_fails_to_start_out_of_memory() {
    if !node_available() {
        return;
    }
    let mut config = node("hog", "import_hog");
    config.init_timeout = Duration::from_secs(60);
    let h = Harness::new(vec![config]).await;
    let err = h
        .invoke_as("hog", json!({}), "req-node-init-oom")
        .await
        .unwrap_err();
    assert_eq!(err.error, "Runtime.OutOfMemory", "{err:?}");
    assert_eq!(
        cause_json(&err)["errorMessage"],
        "Init Error: Runtime exited with error: memory limit of 128 MB exceeded"
    );
    assert_eq!(h.pool.stats()[0].instances, 0);
    h.pool.shutdown().await;
}

/// Live processes whose environment has `LAMBDA_TASK_ROOT=code`: a function's instances,
/// spare included.
fn instances_in(code: &Path) -> BTreeSet<u64> {
    let wanted = format!("LAMBDA_TASK_ROOT={}", code.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == wanted.as_bytes()))
        })
        .filter(|pid| alive(*pid))
        .collect()
}

async fn eventually_instances(code: &Path, count: usize) -> BTreeSet<u64> {
    for _ in 0..300 {
        let found = instances_in(code);
        if found.len() == count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("expected {count} instances, found {:?}", instances_in(code));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_spare_instance_serves_cold_starts_and_follows_the_code() {
    if !node_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir_all(&code).unwrap();
    let file = code.join("index.js");
    let source = "exports.handler = async () => ({ version: 1, pid: process.pid });\n";
    std::fs::write(&file, source).unwrap();
    let code = std::fs::canonicalize(&code).unwrap();
    let mut config = FunctionConfig::new("spare", Runtime::Node, "index.handler", &code);
    config.concurrency = 1;
    config.idle_timeout = Duration::from_millis(200);
    let h = Harness::in_dir(vec![config], dir).await;

    // The spare starts with the pool, before any call, and serves the first one.
    let spare = eventually_instances(&code, 1).await;
    let first = h.invoke("spare", json!({})).await.unwrap();
    assert_eq!(BTreeSet::from([pid_of(&first)]), spare);
    assert_eq!(h.pool.stats()[0].cold_starts, 1);
    // The next spare starts after that call; the idle instance is reaped, the spare stays.
    assert!(eventually_dead(pid_of(&first)).await);
    let spare = eventually_instances(&code, 1).await;
    let second = h.invoke("spare", json!({})).await.unwrap();
    assert_eq!(BTreeSet::from([pid_of(&second)]), spare);
    assert_eq!(second["version"], 1);

    // A spare started before the handler file changed is not used.
    assert!(eventually_dead(pid_of(&second)).await);
    let stale = eventually_instances(&code, 1).await;
    std::fs::write(&file, source.replace("version: 1", "version: 2")).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let third = h.invoke("spare", json!({})).await.unwrap();
    assert_eq!(third["version"], 2);
    assert!(!stale.contains(&pid_of(&third)));
    for pid in stale {
        assert!(eventually_dead(pid).await);
    }

    h.pool.shutdown().await;
    eventually_instances(&code, 0).await;
}
