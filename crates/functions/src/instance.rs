//! One function instance: a process in its own process group, its loopback server
//! and the hand-over of one invocation at a time.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::serve::ListenerExt;
use object_store::ObjectStore;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{Notify, OnceCell, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::bootstrap::{
    Bootstraps, NODE_OUT_OF_MEMORY, native_on_path, python_limits, with_open_files_limit,
};
use crate::config::{FunctionConfig, PoolOptions, Runtime};
use crate::error::{InvokeError, PoolError, error_names};
use crate::logs::{Capture, LogSink, LogStream};
use crate::queues::QueueSink;
use crate::server::{self, InitError, Invocation, Outcome, RuntimeState};
use crate::zygote::{self, Fork, ForkError, ForkRequest, Launch, ZygoteSlot, python_handler_file};

/// Variables a function's configuration may not set.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
];

/// Variables inherited from Sluice's own environment; nothing else is.
const INHERITED_ENV: &[(&str, Option<&str>)] = &[
    ("PATH", Some("/usr/local/bin:/usr/bin:/bin")),
    ("HOME", None),
    ("LANG", Some("C.UTF-8")),
];

/// Everything needed to start instances of one function, prepared at pool start.
pub(crate) struct FunctionSpec {
    pub config: FunctionConfig,
    pub arn: String,
    code_dir: PathBuf,
    program: PathBuf,
    args: Vec<PathBuf>,
    env: BTreeMap<String, String>,
    /// The interpreter `program` resolves to, looked up on first use.
    interpreter: OnceCell<PathBuf>,
    /// The zygote instances are forked from, for runtimes that have one.
    zygote: Option<ZygoteSlot>,
}

impl FunctionSpec {
    /// Validates `config` and computes its command line and base environment.
    pub(crate) fn new(
        config: FunctionConfig,
        options: &PoolOptions,
        bootstraps: &Bootstraps,
    ) -> Result<FunctionSpec, PoolError> {
        let invalid = |message: String| PoolError::InvalidConfig {
            function: config.name.clone(),
            message,
        };
        let name_ok = !config.name.is_empty()
            && config.name.len() <= 64
            && config
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(invalid(
                "the name must be 1-64 characters of [A-Za-z0-9_-]".into(),
            ));
        }
        if config.concurrency == 0 {
            return Err(invalid("concurrency must be at least 1".into()));
        }
        if config.timeout.is_zero() || config.init_timeout.is_zero() {
            return Err(invalid("timeouts must be positive".into()));
        }
        if config.runtime != Runtime::Provided && !config.handler.contains('.') {
            return Err(invalid(format!(
                "handler '{}' must look like module.function",
                config.handler
            )));
        }
        if let Some(key) = config.env.keys().find(|k| is_reserved(k)) {
            return Err(invalid(format!("environment variable {key} is reserved")));
        }
        let code_dir = std::fs::canonicalize(&config.code_dir)
            .map_err(|e| invalid(format!("code directory {}: {e}", config.code_dir.display())))?;
        if !code_dir.is_dir() {
            return Err(invalid(format!(
                "{} is not a directory",
                code_dir.display()
            )));
        }
        let (program, args) = bootstraps.command(&config, &code_dir);

        let mut env = BTreeMap::new();
        for (key, default) in INHERITED_ENV {
            if let Some(value) = std::env::var(key)
                .ok()
                .or_else(|| default.map(str::to_string))
            {
                env.insert(key.to_string(), value);
            }
        }
        let set = |env: &mut BTreeMap<String, String>, k: &str, v: String| {
            env.insert(k.to_string(), v);
        };
        set(&mut env, "TZ", ":UTC".into());
        set(&mut env, "_HANDLER", config.handler.clone());
        set(&mut env, "LAMBDA_TASK_ROOT", code_dir.display().to_string());
        set(
            &mut env,
            "LAMBDA_RUNTIME_DIR",
            bootstraps.dir.display().to_string(),
        );
        set(&mut env, "AWS_LAMBDA_FUNCTION_NAME", config.name.clone());
        set(
            &mut env,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        );
        set(&mut env, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into());
        set(
            &mut env,
            "AWS_LAMBDA_FUNCTION_TIMEOUT",
            config.timeout.as_secs().max(1).to_string(),
        );
        set(
            &mut env,
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.name),
        );
        set(
            &mut env,
            "AWS_LAMBDA_INITIALIZATION_TYPE",
            "on-demand".into(),
        );
        set(&mut env, "AWS_REGION", options.region.clone());
        set(&mut env, "AWS_DEFAULT_REGION", options.region.clone());
        if config.runtime == Runtime::Python3 {
            let cache = std::path::absolute(options.cache_dir.join("pycache"))
                .unwrap_or_else(|_| options.cache_dir.join("pycache"));
            set(&mut env, "PYTHONPYCACHEPREFIX", cache.display().to_string());
        }
        env.extend(config.env.clone());

        let arn = options.function_arn(&config.name);
        let zygote = bootstraps
            .zygote(&config)
            .map(|script| ZygoteSlot::new(script, python_handler_file(&code_dir, &config.handler)));
        Ok(FunctionSpec {
            config,
            arn,
            code_dir,
            program,
            args,
            env,
            interpreter: OnceCell::new(),
            zygote,
        })
    }

    /// The function's code directory, absolute.
    pub(crate) fn code_dir(&self) -> &std::path::Path {
        &self.code_dir
    }

    /// Starts the zygote ahead of the first invocation, when there is one.
    pub(crate) async fn prestart(self: Arc<Self>, sink: Arc<LogSink>) {
        if let Some(slot) = &self.zygote {
            let program = self.executable().await;
            if let Err(e) = slot.ready(self.launch(&program, sink)).await {
                tracing::warn!(function = %self.config.name, %e, "cannot start the zygote");
            }
        }
    }

    /// Stops handing out the zygote; it exits once its instances have.
    pub(crate) async fn release_zygote(&self) {
        if let Some(slot) = &self.zygote {
            slot.release().await;
        }
    }

    fn launch<'a>(&'a self, program: &'a std::path::Path, sink: Arc<LogSink>) -> Launch<'a> {
        Launch {
            program,
            code_dir: &self.code_dir,
            env: &self.env,
            limits: python_limits(&self.config),
            capture: Capture::new(Arc::from(self.config.name.as_str()), sink),
        }
    }

    /// The executable to start. For the bundled runtimes this is the interpreter's
    /// real path, asked once from `python3`/`node` themselves (in the code directory
    /// and environment of the function, so version managers pick the same version),
    /// which skips wrapper scripts such as version-manager shims on every cold start. A
    /// `program` that is a native executable on the function's `PATH` is used as it is,
    /// without that probe.
    async fn executable(&self) -> PathBuf {
        let probe: &[&str] = match self.config.runtime {
            Runtime::Provided => return self.program.clone(),
            Runtime::Python3 => &["-c", "import sys; sys.stdout.write(sys.executable)"],
            Runtime::Node => &["-e", "process.stdout.write(process.execPath)"],
        };
        self.interpreter
            .get_or_init(|| async {
                let path = self.env.get("PATH").map(String::as_str);
                if let Some(native) = native_on_path(&self.program, path) {
                    return native;
                }
                let output = Command::new(&self.program)
                    .args(probe)
                    .current_dir(&self.code_dir)
                    .env_clear()
                    .envs(&self.env)
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .output();
                match tokio::time::timeout(Duration::from_secs(30), output).await {
                    Ok(Ok(out)) if out.status.success() => {
                        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                        if path.is_absolute() && path.is_file() {
                            path
                        } else {
                            self.program.clone()
                        }
                    }
                    _ => self.program.clone(),
                }
            })
            .await
            .clone()
    }
}

fn is_reserved(key: &str) -> bool {
    RESERVED_ENV.contains(&key) || key.starts_with("AWS_LAMBDA_")
}

/// One invocation as handed to an instance.
pub(crate) struct Call {
    pub request_id: String,
    pub payload: Bytes,
    pub trace_id: String,
    pub client_context: Option<String>,
}

/// A running instance.
pub(crate) struct Instance {
    pub id: u64,
    pub pid: u32,
    spec: Arc<FunctionSpec>,
    queue: mpsc::Sender<Invocation>,
    capture: Arc<Capture>,
    exit: watch::Receiver<Option<String>>,
    init_error: watch::Receiver<Option<InitError>>,
    kill_now: Arc<Notify>,
    killed: AtomicBool,
    server: JoinHandle<()>,
}

impl Instance {
    /// Binds the instance's listener and starts its process; `request_id`, the invocation
    /// it starts for, names a timeout while the zygote still imports the handler.
    pub(crate) async fn start(
        id: u64,
        spec: Arc<FunctionSpec>,
        sink: Arc<LogSink>,
        objects: Option<Arc<dyn ObjectStore>>,
        queues: Option<Arc<dyn QueueSink>>,
        request_id: &str,
    ) -> Result<Instance, InvokeError> {
        let service = |what: &str, e: io::Error| InvokeError::service(format!("{what}: {e}"));
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| service("cannot bind the runtime API", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| service("cannot bind the runtime API", e))?;
        // No Nagle delay on answers: a runtime that pipelines its next `GET /next` behind a
        // result would otherwise wait for its delayed acknowledgement (40 ms) on each event.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(%e, "cannot set TCP_NODELAY on the runtime API");
            }
        });

        let (queue_tx, queue_rx) = mpsc::channel(1);
        let (init_tx, init_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let capture = Capture::watching(
            Arc::from(spec.config.name.as_str()),
            sink.clone(),
            (spec.config.runtime == Runtime::Node).then_some(NODE_OUT_OF_MEMORY),
        );
        let state = RuntimeState::new(
            queue_rx,
            init_tx,
            stop_rx.clone(),
            capture.clone(),
            spec.config.max_response_bytes,
        );
        let app = server::router(state, objects, queues);
        let mut stop_signal = stop_rx;
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_signal.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(%e, "runtime API server failed");
            }
        });

        let log_stream = format!(
            "{}/[$LATEST]{}",
            chrono::Utc::now().format("%Y/%m/%d"),
            uuid::Uuid::new_v4().simple()
        );
        let env = BTreeMap::from([
            ("AWS_LAMBDA_RUNTIME_API".to_string(), addr.to_string()),
            ("AWS_LAMBDA_LOG_STREAM_NAME".to_string(), log_stream),
        ]);
        let started = match &spec.zygote {
            Some(slot) => {
                let program = spec.executable().await;
                fork(slot, &spec, &program, env, sink, request_id).await
            }
            None => spawn(&spec, &spec.executable().await, env),
        };
        let Started { pid, outputs, exit } = match started {
            Ok(started) => started,
            Err(e) => {
                server.abort();
                return Err(e);
            }
        };
        for (fd, stream) in outputs {
            if let Err(e) = capture.spawn_reader(fd, stream) {
                tracing::warn!(%e, "cannot capture function output");
            }
        }

        let (exit_tx, exit_rx) = watch::channel(None);
        let kill_now = Arc::new(Notify::new());
        let kill = kill_now.clone();
        tokio::spawn(async move {
            let status = match exit {
                Exit::Child(mut child) => tokio::select! {
                    status = child.wait() => status,
                    _ = kill.notified() => {
                        let _ = child.start_kill();
                        child.wait().await
                    }
                },
                Exit::Forked(fork) => {
                    let status = fork.exit.await;
                    if status.is_err() {
                        zygote::kill_group(pid);
                    }
                    drop(fork.zygote);
                    status.map_err(|_| io::Error::other("the zygote exited"))
                }
            };
            exit_tx.send_replace(Some(describe_exit(status)));
            stop_tx.send_replace(true);
        });
        tracing::debug!(function = %spec.config.name, pid, %addr, "instance started");
        Ok(Instance {
            id,
            pid,
            spec,
            queue: queue_tx,
            capture,
            exit: exit_rx,
            init_error: init_rx,
            kill_now,
            killed: AtomicBool::new(false),
            server,
        })
    }

    /// True while the process runs and has not been told to stop.
    pub(crate) fn is_alive(&self) -> bool {
        !self.killed.load(Ordering::SeqCst) && self.exit.borrow().is_none()
    }

    /// Kills the instance's whole process group.
    pub(crate) fn kill(&self) {
        if self.killed.swap(true, Ordering::SeqCst) {
            return;
        }
        if self.pid != 0 {
            kill_process_group(self.pid);
        }
        self.kill_now.notify_one();
    }

    /// Waits (up to `limit`) until the process has exited and been reaped.
    pub(crate) async fn wait_exit(&self, limit: Duration) {
        let mut exit = self.exit.clone();
        let _ = tokio::time::timeout(limit, exit.wait_for(Option::is_some)).await;
    }

    /// Runs one invocation. Returns the response body and whether the instance may be reused.
    pub(crate) async fn invoke(&self, call: Call) -> (Result<Bytes, InvokeError>, bool) {
        let config = &self.spec.config;
        let id = call.request_id;
        let (dispatched_tx, dispatched_rx) = oneshot::channel();
        let (done_tx, mut done_rx) = oneshot::channel();
        let invocation = Invocation {
            request_id: id.clone(),
            payload: call.payload,
            timeout: config.timeout,
            function_arn: self.spec.arn.clone(),
            trace_id: call.trace_id,
            client_context: call.client_context,
            dispatched: dispatched_tx,
            done: done_tx,
        };
        if self.queue.try_send(invocation).is_err() {
            return self
                .fail(InvokeError::service("the instance is not accepting work"))
                .await;
        }
        let mut exit = self.exit.clone();
        let mut init_error = self.init_error.clone();

        // Until the runtime takes the event, the instance is initialising.
        let deadline = tokio::select! {
            biased;
            deadline = dispatched_rx => match deadline {
                Ok(d) => d,
                Err(_) => return self.lost(&id, "Init", &mut exit).await,
            },
            report = wait_some(&mut init_error) => {
                return self.fail(init_failure(&id, &report)).await;
            }
            status = wait_some(&mut exit) => {
                let report = self.init_error.borrow().clone();
                let error = match report {
                    Some(report) => init_failure(&id, &report),
                    None => self.exit_error(&id, "Init", &status).await,
                };
                return self.fail(error).await;
            }
            _ = tokio::time::sleep(config.init_timeout) => {
                return self.fail(InvokeError::timeout(&id, "Init", config.init_timeout)).await;
            }
        };

        let outcome = tokio::select! {
            biased;
            outcome = &mut done_rx => match outcome {
                Ok(o) => o,
                Err(_) => {
                    let where_ = format!("RequestId: {id}");
                    return self.lost(&id, &where_, &mut exit).await;
                }
            },
            status = wait_some(&mut exit) => match done_rx.try_recv() {
                Ok(o) => o,
                Err(_) => {
                    let error = self.exit_error(&id, &format!("RequestId: {id}"), &status).await;
                    return self.fail(error).await;
                }
            },
            _ = tokio::time::sleep_until(deadline) => {
                return self.fail(InvokeError::timeout(&id, "Task", config.timeout)).await;
            }
        };
        let result = outcome_result(&id, outcome);
        if let Err(error) = &result
            && error.error == error_names::OUT_OF_MEMORY
        {
            // Over its limit, whatever it still holds: the instance is replaced.
            return self.fail(error.clone()).await;
        }
        self.end_invocation().await;
        (result, self.is_alive())
    }

    /// The server dropped the invocation, which only happens when it stops because
    /// the process exited: reports that exit (`where_`: `Init` or `RequestId: <id>`).
    async fn lost(
        &self,
        request_id: &str,
        where_: &str,
        exit: &mut watch::Receiver<Option<String>>,
    ) -> (Result<Bytes, InvokeError>, bool) {
        let error = match tokio::time::timeout(Duration::from_secs(2), wait_some(exit)).await {
            Ok(status) => {
                let report = self.init_error.borrow().clone();
                match report {
                    Some(report) => init_failure(request_id, &report),
                    None => self.exit_error(request_id, where_, &status).await,
                }
            }
            Err(_) => InvokeError::service("the runtime API dropped the invocation"),
        };
        self.fail(error).await
    }

    /// The error of a process that exited on its own: out of memory when its runtime said so
    /// on stderr (`where_` tells when: `Init` or `RequestId: <id>`), else its exit status.
    async fn exit_error(&self, request_id: &str, where_: &str, status: &str) -> InvokeError {
        self.capture.drain().await;
        if self.capture.ran_out_of_memory() {
            InvokeError::out_of_memory(request_id, where_, self.spec.config.memory_mb)
        } else {
            InvokeError::exit(request_id, status)
        }
    }

    /// Kills the instance after a failure and collects its last output.
    async fn fail(&self, error: InvokeError) -> (Result<Bytes, InvokeError>, bool) {
        tracing::debug!(function = %self.spec.config.name, pid = self.pid, error = %error.error, "instance failed");
        self.kill();
        self.wait_exit(Duration::from_secs(2)).await;
        self.end_invocation().await;
        (Err(error), false)
    }

    async fn end_invocation(&self) {
        self.capture.drain().await;
        self.capture.set_current(None);
    }
}

/// A started process: its pid (also its process group), its output pipes and its end.
struct Started {
    pid: u32,
    outputs: Vec<(OwnedFd, LogStream)>,
    exit: Exit,
}

/// How a started process's end is awaited.
enum Exit {
    /// A child of Sluice's.
    Child(tokio::process::Child),
    /// An instance forked by a zygote, which reports its end.
    Forked(Fork),
}

/// Starts a new process running the function's runtime.
fn spawn(
    spec: &FunctionSpec,
    program: &std::path::Path,
    env: BTreeMap<String, String>,
) -> Result<Started, InvokeError> {
    let mut command = match spec.config.runtime {
        Runtime::Node => with_open_files_limit(program),
        _ => Command::new(program),
    };
    command
        .args(&spec.args)
        .current_dir(&spec.code_dir)
        .env_clear()
        .envs(&spec.env)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|e| {
        InvokeError::new(
            error_names::INVALID_ENTRYPOINT,
            format!("cannot start {}: {e}", program.display()),
        )
    })?;
    let pid = child.id().unwrap_or(0);
    let outputs = [
        (
            child.stdout.take().map(|p| p.into_owned_fd()),
            LogStream::Stdout,
        ),
        (
            child.stderr.take().map(|p| p.into_owned_fd()),
            LogStream::Stderr,
        ),
    ]
    .into_iter()
    .filter_map(|(fd, stream)| match fd {
        Some(Ok(fd)) => Some((fd, stream)),
        _ => None,
    })
    .collect();
    Ok(Started {
        pid,
        outputs,
        exit: Exit::Child(child),
    })
}

/// Forks an instance from the function's zygote, with fresh pipes for its output.
async fn fork(
    slot: &ZygoteSlot,
    spec: &FunctionSpec,
    program: &std::path::Path,
    env: BTreeMap<String, String>,
    sink: Arc<LogSink>,
    request_id: &str,
) -> Result<Started, InvokeError> {
    let failed = |message: String| {
        InvokeError::new(
            error_names::INVALID_ENTRYPOINT,
            format!(
                "cannot start an instance of {}: {message}",
                spec.config.name
            ),
        )
    };
    let (stdout, stdout_w) = std::io::pipe().map_err(|e| failed(e.to_string()))?;
    let (stderr, stderr_w) = std::io::pipe().map_err(|e| failed(e.to_string()))?;
    let request = ForkRequest {
        env,
        stdout: stdout_w.into(),
        stderr: stderr_w.into(),
    };
    let launch = spec.launch(program, sink);
    let fork = slot
        .fork(launch, request, spec.config.init_timeout)
        .await
        .map_err(|e| match e {
            ForkError::TimedOut => {
                InvokeError::timeout(request_id, "Init", spec.config.init_timeout)
            }
            ForkError::Failed(message) => failed(message),
        })?;
    Ok(Started {
        pid: fork.pid,
        outputs: vec![
            (stdout.into(), LogStream::Stdout),
            (stderr.into(), LogStream::Stderr),
        ],
        exit: Exit::Forked(fork),
    })
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
        self.server.abort();
    }
}

/// Resolves with the value once the watched option is set; never if it is closed unset.
async fn wait_some<T: Clone>(rx: &mut watch::Receiver<Option<T>>) -> T {
    let value = match rx.wait_for(Option::is_some).await {
        Ok(value) => value.clone(),
        Err(_) => None,
    };
    match value {
        Some(value) => value,
        None => std::future::pending().await,
    }
}

fn init_failure(request_id: &str, report: &InitError) -> InvokeError {
    InvokeError::from_reported(
        request_id,
        report.error_type.as_deref(),
        &report.body,
        error_names::RUNTIME_UNKNOWN,
    )
}

/// Maps what the runtime reported to the invocation's response body.
fn outcome_result(request_id: &str, outcome: Outcome) -> Result<Bytes, InvokeError> {
    match outcome {
        Outcome::Response(body) => Ok(body),
        Outcome::TooLarge { size, limit } => Err(InvokeError::new(
            error_names::RESPONSE_TOO_LARGE,
            format!(
                "RequestId: {request_id} Error: Response payload size ({size} bytes) exceeded maximum allowed payload size ({limit} bytes)."
            ),
        )),
        Outcome::Error { error_type, body } => Err(InvokeError::from_reported(
            request_id,
            error_type.as_deref(),
            &body,
            error_names::UNKNOWN,
        )),
    }
}

/// Describes an exit the way Lambda does (`exit status 1`, `signal: killed`).
fn describe_exit(status: io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("signal: {}", signal_name(signal)),
            _ => "unknown exit".to_string(),
        },
        Err(e) => format!("cannot wait for the process: {e}"),
    }
}

fn signal_name(signal: i32) -> String {
    match signal {
        1 => "hangup".into(),
        2 => "interrupt".into(),
        6 => "aborted".into(),
        9 => "killed".into(),
        11 => "segmentation fault".into(),
        13 => "broken pipe".into(),
        15 => "terminated".into(),
        n => format!("signal {n}"),
    }
}

/// Sends SIGKILL to every process of the group led by `pgid`.
fn kill_process_group(pgid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if let Err(e) = status {
        tracing::warn!(pgid, %e, "cannot run kill; only the leader will be stopped");
    }
}
