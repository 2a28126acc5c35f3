//! The `lambda-echo` binary, built with AWS's `lambda_runtime` crate, served by a Sluice function
//! pool as a `provided` runtime and called the way the engine calls functions.

use serde_json::{Value, json};
use sluice_engine::invoke::{InvokeRequest, Target, TaskError};
use sluice_functions::{FunctionConfig, FunctionPool, PoolInvoker, PoolOptions, Runtime};
use std::path::Path;

fn request(payload: Value) -> InvokeRequest {
    InvokeRequest {
        target: Target::Function {
            name: "echo".into(),
            wrap: false,
        },
        resource: "sluice:function:echo".into(),
        payload,
        idempotency_key: "exec-1/0/Echo#0".into(),
        execution: "exec-1".into(),
        timeout_seconds: Some(30),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_runtime_client_runs_warm_and_reports_errors() {
    let exe = Path::new(env!("CARGO_BIN_EXE_lambda-echo"));
    let function = FunctionConfig::new(
        "echo",
        Runtime::Provided,
        exe.file_name().and_then(|n| n.to_str()).expect("file name"),
        exe.parent().expect("directory"),
    );
    let cache = tempfile::tempdir().expect("temporary directory");
    let pool = FunctionPool::start(vec![function], PoolOptions::new(cache.path()))
        .await
        .expect("pool starts");
    let invoker = PoolInvoker::new(pool.clone());

    let mut pids = Vec::new();
    for n in 0..3 {
        let request_id = format!("req-{n}");
        let out = invoker
            .call(request(json!({"n": n})), request_id.clone())
            .await
            .expect("echo answers");
        assert_eq!(out["echo"], json!({"n": n}));
        assert_eq!(out["request_id"], request_id);
        assert_eq!(out["function"], "echo");
        pids.push(out["pid"].as_u64().expect("pid"));
    }

    let err = invoker
        .call(request(json!({"fail": "no thanks"})), "req-fail".into())
        .await
        .expect_err("the handler fails");
    let TaskError { error, cause } = err;
    assert_eq!(error, "EchoError");
    let cause: Value = serde_json::from_str(&cause).expect("the cause is a JSON document");
    assert_eq!(cause["errorType"], "EchoError");
    assert_eq!(cause["errorMessage"], "no thanks");
    assert_eq!(cause["requestId"], "req-fail");

    let after = invoker
        .call(request(json!("again")), "req-after".into())
        .await
        .expect("a handled error leaves the instance serving");
    pids.push(after["pid"].as_u64().expect("pid"));
    assert!(
        pids.windows(2).all(|w| w[0] == w[1]),
        "one warm process: {pids:?}"
    );
    let stats = &pool.stats()[0];
    assert_eq!((stats.cold_starts, stats.invocations), (1, 5));

    pool.shutdown().await;
}
