//! Sluice functions: user handlers run as warm worker processes that speak the
//! [AWS Lambda Runtime API](https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
//!
//! A [`FunctionPool`] owns one warm pool per configured function: from zero up to
//! `concurrency` instances started on demand, one invocation at a time each, idle
//! instances reused and stopped after `idle_timeout`, callers queued first come,
//! first served while every instance is busy. [`FunctionPool::start`] must be called
//! inside a Tokio runtime.
//!
//! # Instances
//!
//! Each instance is a process in its own process group, started in the function's
//! code directory with an environment made only of `PATH`, `HOME` and `LANG` from
//! Sluice's own environment, Lambda's variables (`AWS_LAMBDA_RUNTIME_API`,
//! `_HANDLER`, `LAMBDA_TASK_ROOT`, `AWS_LAMBDA_FUNCTION_NAME`,
//! `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, `AWS_LAMBDA_FUNCTION_VERSION`, `AWS_REGION`,
//! `AWS_LAMBDA_LOG_GROUP_NAME`, `AWS_LAMBDA_LOG_STREAM_NAME`, `TZ`, ...) and the
//! function's configured variables. `AWS_LAMBDA_RUNTIME_API` is a loopback
//! `host:port` of the instance's own listener, so any Lambda custom runtime runs
//! unchanged. Sluice ships bootstraps for `python3` (`def handler(event, context)`)
//! and `node` (`exports.handler`), so plain handler files work too.
//!
//! # Zygotes and limits
//!
//! A Python function's instances are forked from a zygote (unless
//! [`FunctionConfig::fork`] is off): a process, started in the background with the pool,
//! that has loaded the bootstrap and imported the handler's module once, under the
//! function's limits, which its forks inherit. Each fork gets its own Runtime API address,
//! log stream, output pipes and process group, so its output is captured and it is killed
//! exactly as a spawned instance. The zygote is
//! replaced at the next cold start after the handler file's modification time changes
//! (warm instances keep the code they loaded); what the module prints while it is
//! imported is logged once, by the zygote, outside any request.
//!
//! Python instances, forked or not, run with `memory_mb` as their address-space limit
//! (`RLIMIT_AS`) and 1024 open files (`RLIMIT_NOFILE`), set before the handler is
//! imported. An allocation past the limit fails the invocation (or the instance's start,
//! when the import allocates it) with `Runtime.OutOfMemory`, and the instance is replaced. The address space counts reservations (thread stacks,
//! malloc arenas) as well as memory in use, so it is a stricter bound than Lambda's.
//!
//! Node instances get V8's heap sized from `memory_mb` as Lambda's Node runtime sizes it
//! (`--max-old-space-size` 90%, `--max-semi-space-size` 5%) and 1024 open files (set by
//! `/bin/sh`, which `exec`s `node`); V8's fatal "JavaScript heap out of memory" on stderr
//! fails the invocation (or the start) with `Runtime.OutOfMemory`, and the instance is
//! replaced. Each Node function keeps one spare instance, started with the pool and again
//! after each call that took it, which the next cold start uses unless the handler file
//! changed since it started. Custom runtimes run without limits.
//!
//! # Object API
//!
//! The same listener serves the pool's [`object_store::ObjectStore`] to the function:
//! `GET /sluice/objects/{key}` (bytes, 404 when missing), `PUT /sluice/objects/{key}`
//! (body = bytes, answers `{"key","size"}`) and `GET /sluice/objects?prefix=p`
//! (`[{"key","size"}]`). Keys are checked by [`validate_key`]; a rejected key answers
//! 400. The bootstraps expose it as `context.objects` (`get`, `put`, `list`).
//!
//! # Queue API
//!
//! With [`PoolOptions::queues`] set, the listener also takes
//! `POST /sluice/queues/{name}/messages` (`{"messages": [{"body", "delaySeconds",
//! "messageAttributes"}]}`, 1 to [`MAX_BATCH`] messages), answered once the messages are durable
//! with their ids; an unknown queue answers 404 `QueueDoesNotExist`, a refused message 400
//! `InvalidMessage`. The bootstraps expose it as `context.queues` (`send`, `send_batch` in
//! Python; `send`, `sendBatch` in Node).
//!
//! # Errors
//!
//! Every failure is an [`InvokeError`] carrying a Step Functions error name and cause.
//! A function's own error keeps the `errorType` it reported, with the JSON text of
//! `{"errorMessage","errorType","requestId","stackTrace"}` as cause (the text the function
//! posted when it posted exactly that, as AWS's runtimes do); the names the pool produces
//! itself are listed in [`error_names`].
//!
//! # Flows
//!
//! [`PoolInvoker`] is the engine's [`Invoker`](sluice_engine::invoke::Invoker) over a pool: it
//! calls the function a Task names, bounds the call by the Task's `TimeoutSeconds`, and gives
//! errors raised by the service itself (an unknown function, a pool shut down) the SDK details
//! Step Functions shows with them.
//!
//! # Logs
//!
//! Standard output and error are captured line by line and attributed to the
//! request in flight ([`FunctionPool::logs`], [`FunctionPool::logs_for_request`]);
//! results never travel over standard output. Memory stays bounded whatever a function
//! prints: recent lines per function, the last [`TAIL_BYTES`] per request, and the rest
//! streamed to `<log_dir>/<function>.jsonl`, rotated by [`LogLimits`] (see [`log_files`]).
//! Writes to a full pipe wait while the files catch up, as on a terminal.

mod bootstrap;
mod byte_range;
mod config;
mod error;
mod instance;
pub mod invoker;
mod latency;
mod logs;
mod objects;
mod pool;
mod queues;
mod rotate;
mod server;
mod spare;
mod zygote;

pub use config::{
    DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_RESPONSE_BYTES, FunctionConfig, InvokeMeta, PoolOptions,
    Runtime,
};
pub use error::{InvokeError, PoolError, error_names};
pub use invoker::PoolInvoker;
pub use logs::{LogLine, LogStream, TAIL_BYTES, function_log_path};
pub use objects::validate_key;
pub use pool::{Event, FunctionPool, FunctionStats};
pub use queues::{MAX_BATCH, QueueSend, QueueSendError, QueueSink};
pub use rotate::{LogLimits, RotatingFile, log_files};
