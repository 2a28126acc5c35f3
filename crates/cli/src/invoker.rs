//! The engine's [`Invoker`] over a project's function pool, recording which execution each
//! request belongs to so that `sluice logs EXECUTION` can find its lines.

use serde_json::json;
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Invoker, Target, TaskError};
use sluice_functions::{FunctionPool, InvokeMeta};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The file mapping request ids to executions, inside the logs directory.
pub const REQUESTS_FILE: &str = "requests.jsonl";

/// Calls project functions through the warm pool.
pub struct PoolInvoker {
    pool: FunctionPool,
    requests: Arc<Mutex<std::fs::File>>,
}

impl PoolInvoker {
    /// An invoker over `pool` that appends request records under `log_dir`.
    pub fn new(pool: FunctionPool, log_dir: &Path) -> std::io::Result<PoolInvoker> {
        std::fs::create_dir_all(log_dir)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(requests_path(log_dir))?;
        Ok(PoolInvoker {
            pool,
            requests: Arc::new(Mutex::new(file)),
        })
    }
}

/// Where request records are kept.
pub fn requests_path(log_dir: &Path) -> PathBuf {
    log_dir.join(REQUESTS_FILE)
}

impl Invoker for PoolInvoker {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let pool = self.pool.clone();
        let requests = self.requests.clone();
        Box::pin(async move {
            let name = match &request.target {
                Target::Function { name, .. } => name.clone(),
                Target::Integration(resource) => {
                    return Err(TaskError {
                        error: "States.Runtime".into(),
                        cause: format!("The resource '{resource}' is not supported"),
                    });
                }
            };
            let request_id = uuid::Uuid::new_v4().to_string();
            if let Ok(mut f) = requests.lock() {
                let line = json!({
                    "request_id": request_id,
                    "execution": request.execution,
                    "function": name,
                    "idempotency_key": request.idempotency_key,
                });
                let _ = writeln!(f, "{line}");
            }
            let meta = InvokeMeta {
                request_id: Some(request_id),
                idempotency_key: Some(request.idempotency_key.clone()),
                execution: Some(request.execution.clone()),
                trace_id: None,
            };
            let call = pool.invoke(&name, request.payload, meta);
            let result = match request.timeout_seconds {
                Some(secs) => match tokio::time::timeout(Duration::from_secs(secs), call).await {
                    Ok(r) => r,
                    Err(_) => {
                        return Err(TaskError {
                            error: "States.Timeout".into(),
                            cause: format!("Task timed out after {secs} seconds (TimeoutSeconds)"),
                        });
                    }
                },
                None => call.await,
            };
            result.map_err(|e| TaskError {
                error: e.error,
                cause: e.cause,
            })
        })
    }
}
