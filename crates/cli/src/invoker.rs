//! The project's functions as the engine calls them: [`PoolInvoker`], recording which execution
//! each request belongs to so that `sluice logs EXECUTION` can find its lines. The records are
//! capped and rotated like the function logs.

use serde_json::json;
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Invoker, Target};
use sluice_functions::{FunctionPool, LogLimits, PoolInvoker, RotatingFile};
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
    /// Records `request` under a new request id, then calls it (with `text`, its payload as
    /// JSON text, when set).
    fn record_and_call(&self, request: InvokeRequest, text: Option<Vec<u8>>) -> InvokeFuture {
        let request_id = uuid::Uuid::new_v4().to_string();
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
        self.inner.call_with(request, text, request_id)
    }
}

impl Invoker for RecordingInvoker {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        self.record_and_call(request, None)
    }

    fn invoke_text(&self, request: InvokeRequest, payload: Vec<u8>) -> InvokeFuture {
        self.record_and_call(request, Some(payload))
    }
}
