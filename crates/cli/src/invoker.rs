//! The project's functions as the engine calls them: [`PoolInvoker`], recording which execution
//! each request belongs to so that `sluice logs EXECUTION` can find its lines. The records are
//! capped and rotated like the function logs.

use serde_json::{Value, json};
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Invoker, Target};
use sluice_functions::{FunctionPool, LogLimits, PoolInvoker, RotatingFile};
use sluice_server::lambda::FunctionHost;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The file mapping request ids to executions, inside the logs directory.
pub const REQUESTS_FILE: &str = "requests.jsonl";

/// Calls project functions through the warm pool, appending a record of each call.
pub struct RecordingInvoker {
    inner: PoolInvoker,
    requests: Arc<Mutex<RotatingFile>>,
}

impl RecordingInvoker {
    /// An invoker over `pool` that appends request records under `log_dir`.
    pub fn new(pool: FunctionPool, log_dir: &Path) -> std::io::Result<RecordingInvoker> {
        std::fs::create_dir_all(log_dir)?;
        let file = RotatingFile::open(requests_path(log_dir), LogLimits::default())?;
        Ok(RecordingInvoker {
            inner: PoolInvoker::new(pool),
            requests: Arc::new(Mutex::new(file)),
        })
    }
}

/// Where request records are kept.
pub fn requests_path(log_dir: &Path) -> PathBuf {
    log_dir.join(REQUESTS_FILE)
}

impl RecordingInvoker {
    /// Makes `request` under the given Lambda request id, recording it first.
    pub fn call(&self, request: InvokeRequest, request_id: String) -> InvokeFuture {
        if let Target::Function { name, .. } = &request.target
            && let Ok(mut f) = self.requests.lock()
        {
            let line = json!({
                "request_id": request_id,
                "execution": request.execution,
                "function": name,
                "idempotency_key": request.idempotency_key,
            });
            let _ = f
                .write_line(line.to_string().as_bytes())
                .and_then(|()| f.flush());
        }
        self.inner.call(request, request_id)
    }
}

impl Invoker for RecordingInvoker {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        self.call(request, uuid::Uuid::new_v4().to_string())
    }
}

/// The project's process functions as the Lambda Invoke API of `sluice serve` calls them:
/// recorded like the engine's calls, with each request's output tail kept by the pool.
pub struct ServedFunctions {
    invoker: Arc<RecordingInvoker>,
    pool: FunctionPool,
    names: Vec<String>,
}

impl ServedFunctions {
    /// The functions `names` of `pool`, called through `invoker`.
    pub fn new(invoker: Arc<RecordingInvoker>, pool: FunctionPool, names: Vec<String>) -> Self {
        ServedFunctions {
            invoker,
            pool,
            names,
        }
    }
}

impl FunctionHost for ServedFunctions {
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn invoke(&self, request: InvokeRequest, request_id: String) -> InvokeFuture {
        self.invoker.call(request, request_id)
    }

    fn log_tail(&self, request_id: &str) -> Vec<String> {
        self.pool
            .logs_for_request(request_id)
            .into_iter()
            .map(|l| l.line)
            .collect()
    }

    fn stats(&self) -> Vec<Value> {
        self.pool
            .stats()
            .into_iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "instances": f.instances,
                    "busy": f.busy,
                    "idle": f.idle,
                    "waiting": f.waiting,
                    "invocations": f.invocations,
                    "coldStarts": f.cold_starts,
                })
            })
            .collect()
    }

    fn logs(&self, function: &str, tail: usize) -> Vec<Value> {
        let lines = self.pool.logs(function);
        let skip = lines.len().saturating_sub(tail);
        lines
            .into_iter()
            .skip(skip)
            .map(|l| {
                json!({
                    "ts": l.ts.to_rfc3339(),
                    "requestId": l.request_id,
                    "stream": format!("{:?}", l.stream).to_lowercase(),
                    "line": l.line,
                })
            })
            .collect()
    }
}
