//! Function and pool configuration.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;

use crate::queues::QueueSink;
use crate::rotate::LogLimits;

/// Largest buffered response a function may return by default: Lambda's 6 MB limit
/// including its 100-byte slack.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 6_291_556;

/// Largest event a function may be invoked with by default: Lambda's 6 MB limit on a
/// synchronous invocation's request.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 6_291_456;

/// How a function's process is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// `python3` with Sluice's bootstrap; the handler is `path/to/module.function`.
    Python3,
    /// `node` with Sluice's bootstrap; the handler is `path/to/module.export`.
    Node,
    /// A custom runtime: the handler is an executable path relative to the code
    /// directory (`bootstrap` when empty), run as-is.
    Provided,
}

impl Runtime {
    /// The canonical name of the runtime, as accepted by [`Runtime::from_str`].
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Python3 => "python3",
            Runtime::Node => "node",
            Runtime::Provided => "provided",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Runtime {
    type Err = String;

    /// Accepts Sluice's names and Lambda's versioned identifiers
    /// (`python3.12`, `nodejs20.x`, `provided.al2023`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        if s == "python" || s.starts_with("python3") {
            Ok(Runtime::Python3)
        } else if s == "node" || s.starts_with("nodejs") {
            Ok(Runtime::Node)
        } else if s == "executable" || s.starts_with("provided") {
            Ok(Runtime::Provided)
        } else {
            Err(format!(
                "unknown runtime '{s}' (expected python3, node or provided)"
            ))
        }
    }
}

/// One function: its code, how to run it and its limits.
#[derive(Clone, Debug)]
pub struct FunctionConfig {
    /// Function name (`[A-Za-z0-9_-]`, at most 64 characters).
    pub name: String,
    /// How the process is started.
    pub runtime: Runtime,
    /// Handler string (`functions/mapper.handler`, `index.handler`, or an executable path).
    pub handler: String,
    /// Directory holding the code; the process's working directory and `LAMBDA_TASK_ROOT`.
    pub code_dir: PathBuf,
    /// Longest time one invocation may run, from the moment the runtime receives it.
    pub timeout: Duration,
    /// Longest time a new instance may take to ask for its first invocation.
    pub init_timeout: Duration,
    /// Memory in MB, reported to the function as `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`. Python
    /// instances get it as their address-space limit (`RLIMIT_AS`), Node instances as the
    /// size of V8's heap; exceeding it fails the invocation with `Runtime.OutOfMemory` and
    /// replaces the instance.
    pub memory_mb: u32,
    /// Most instances running at once (at least 1).
    pub concurrency: usize,
    /// An instance idle for this long is stopped.
    pub idle_timeout: Duration,
    /// Extra environment variables (Lambda's reserved names are rejected).
    pub env: BTreeMap<String, String>,
    /// Largest response body accepted from the function.
    pub max_response_bytes: usize,
    /// Largest event (serialised) the function may be invoked with.
    pub max_request_bytes: usize,
    /// Start Python instances by forking a zygote that has already imported the handler
    /// (the default); off for handlers that are not fork-safe. Other runtimes ignore it.
    pub fork: bool,
}

impl FunctionConfig {
    /// A configuration with Lambda-like defaults: 3 s timeout, 10 s init timeout,
    /// 128 MB, concurrency 4, 5 min idle timeout, 6 MB events and responses, forked
    /// Python instances.
    pub fn new(
        name: impl Into<String>,
        runtime: Runtime,
        handler: impl Into<String>,
        code_dir: impl Into<PathBuf>,
    ) -> Self {
        FunctionConfig {
            name: name.into(),
            runtime,
            handler: handler.into(),
            code_dir: code_dir.into(),
            timeout: Duration::from_secs(3),
            init_timeout: Duration::from_secs(10),
            memory_mb: 128,
            concurrency: 4,
            idle_timeout: Duration::from_secs(300),
            env: BTreeMap::new(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            fork: true,
        }
    }
}

/// Settings shared by every function of a pool.
#[derive(Clone)]
pub struct PoolOptions {
    /// Backing store of the object API; without it the API answers 503.
    pub objects: Option<Arc<dyn ObjectStore>>,
    /// The node's queues, for the queue API; without them the API answers 503.
    pub queues: Option<Arc<dyn QueueSink>>,
    /// When set, logs are also appended as JSON lines to `<log_dir>/<function>.jsonl`.
    pub log_dir: Option<PathBuf>,
    /// Size cap of each function's log file and its rotated files.
    pub log_limits: LogLimits,
    /// Directory where the bootstraps are written.
    pub cache_dir: PathBuf,
    /// Region reported to functions (`AWS_REGION`) and used in ARNs.
    pub region: String,
    /// Account id used in ARNs.
    pub account_id: String,
    /// Log lines kept in memory per function (also bounded to 1 MiB of text).
    pub log_capacity: usize,
}

impl PoolOptions {
    /// Options with no object store, no queues, no log directory (default [`LogLimits`] once one is
    /// set), region `us-east-1` and account `000000000000`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        PoolOptions {
            objects: None,
            queues: None,
            log_dir: None,
            log_limits: LogLimits::default(),
            cache_dir: cache_dir.into(),
            region: "us-east-1".to_string(),
            account_id: "000000000000".to_string(),
            log_capacity: 10_000,
        }
    }

    /// The ARN of function `name` in this pool's region and account.
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account_id
        )
    }
}

impl fmt::Debug for PoolOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolOptions")
            .field("objects", &self.objects.as_ref().map(|o| o.to_string()))
            .field("queues", &self.queues.is_some())
            .field("log_dir", &self.log_dir)
            .field("log_limits", &self.log_limits)
            .field("cache_dir", &self.cache_dir)
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("log_capacity", &self.log_capacity)
            .finish()
    }
}

/// Per-invocation metadata passed to the function.
#[derive(Clone, Debug, Default)]
pub struct InvokeMeta {
    /// Request id; a fresh UUID when absent.
    pub request_id: Option<String>,
    /// Stable key of this call, exposed as `context.idempotency_key`.
    pub idempotency_key: Option<String>,
    /// Execution the call belongs to, exposed as `context.execution`.
    pub execution: Option<String>,
    /// X-Ray style trace header; generated when absent.
    pub trace_id: Option<String>,
}
