//! The zygote of a Python function: one process that has loaded the bootstrap and
//! imported the handler once, and forks instances on demand (`runtimes/python/zygote.py`).
//!
//! Sluice talks to it over a Unix socket (its standard input): a fork request is a JSON
//! line sent with the instance's standard output and error as `SCM_RIGHTS`, so that its
//! output is captured exactly as a spawned instance's; the zygote answers with the pid,
//! and later with the wait status when the instance ends. Each instance leads its own
//! process group, so killing it kills nothing else. The zygote is replaced when the
//! handler file's modification time changes; the instances it forked keep it alive until
//! they end, and closing its socket makes it kill them and exit.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::logs::{Capture, LogStream};
use crate::pool::lock;

/// Longest line the zygote may send.
const MAX_MESSAGE_BYTES: u64 = 64 * 1024;

/// How to start a function's zygote.
pub(crate) struct Launch<'a> {
    /// The interpreter.
    pub program: &'a Path,
    /// Working directory.
    pub code_dir: &'a Path,
    /// The whole environment of the zygote, inherited by its instances.
    pub env: &'a BTreeMap<String, String>,
    /// Resource limits, as `as=BYTES,nofile=N`, applied before the handler is imported and
    /// inherited by the instances.
    pub limits: String,
    /// Where the zygote's own output (the handler module's import) goes.
    pub capture: Arc<Capture>,
}

/// What one forked instance gets on top of the zygote's state.
pub(crate) struct ForkRequest {
    /// Variables added to the inherited environment.
    pub env: BTreeMap<String, String>,
    /// Write end of the pipe that becomes the instance's standard output.
    pub stdout: OwnedFd,
    /// Write end of the pipe that becomes the instance's standard error.
    pub stderr: OwnedFd,
}

/// A forked instance.
pub(crate) struct Fork {
    /// Its pid, also its process group.
    pub pid: u32,
    /// Its wait status once it has ended; closed when the zygote is gone.
    pub exit: oneshot::Receiver<ExitStatus>,
    /// The zygote, kept running while the instance is.
    pub zygote: Arc<Zygote>,
}

/// Why no instance was forked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ForkError {
    /// The zygote did not answer in time (it is still importing the handler, or stuck);
    /// it has been stopped.
    #[error("the zygote did not answer in time")]
    TimedOut,
    /// Anything else, described.
    #[error("{0}")]
    Failed(String),
}

/// The answer to one fork request: the pid and the receiver of its end, or why not.
type ForkAnswer = Result<(u32, oneshot::Receiver<ExitStatus>), String>;

/// Where the zygote's answers go.
#[derive(Default)]
struct Routes {
    closed: bool,
    pending: VecDeque<oneshot::Sender<ForkAnswer>>,
    exits: HashMap<u32, oneshot::Sender<ExitStatus>>,
}

/// A running zygote.
pub(crate) struct Zygote {
    child: Child,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    routes: Arc<Mutex<Routes>>,
    handler_mtime: Option<SystemTime>,
}

impl Zygote {
    fn start(
        launch: &Launch<'_>,
        script: &Path,
        handler_mtime: Option<SystemTime>,
    ) -> std::io::Result<Zygote> {
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        ours.set_nonblocking(true)?;
        let mut child = Command::new(launch.program)
            .arg(script)
            .args(["--limits", &launch.limits])
            .current_dir(launch.code_dir)
            .env_clear()
            .envs(launch.env)
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let pipes = [
            (
                child.stdout.take().map(|p| p.into_owned_fd()),
                LogStream::Stdout,
            ),
            (
                child.stderr.take().map(|p| p.into_owned_fd()),
                LogStream::Stderr,
            ),
        ];
        for (fd, stream) in pipes {
            if let Some(Ok(fd)) = fd
                && let Err(e) = launch.capture.spawn_reader(fd, stream)
            {
                tracing::warn!(%e, "cannot capture the zygote's output");
            }
        }
        let (reader, writer) = UnixStream::from_std(ours)?.into_split();
        let routes = Arc::new(Mutex::new(Routes::default()));
        tokio::spawn(read_answers(reader, routes.clone()));
        tracing::debug!(pid = child.id(), "zygote started");
        Ok(Zygote {
            child,
            writer: tokio::sync::Mutex::new(writer),
            routes,
            handler_mtime,
        })
    }

    fn is_alive(&self) -> bool {
        !lock(&self.routes).closed
    }

    /// Kills the zygote alone (each instance leads its own group) and stops handing it out.
    fn stop(&self) {
        lock(&self.routes).closed = true;
        if let Some(pid) = self.child.id() {
            kill_group(pid);
        }
    }

    /// Asks for one instance; waits at most `limit` for the answer.
    async fn fork(
        self: &Arc<Self>,
        request: ForkRequest,
        limit: Duration,
    ) -> Result<Fork, ForkError> {
        let failed = |message: &str| ForkError::Failed(message.to_string());
        let line = serde_json::json!({ "env": request.env });
        let mut line = line.to_string().into_bytes();
        line.push(b'\n');
        let (tx, rx) = oneshot::channel();
        {
            let mut writer = self.writer.lock().await;
            {
                let mut routes = lock(&self.routes);
                if routes.closed {
                    return Err(failed("the zygote has exited"));
                }
                routes.pending.push_back(tx);
            }
            send_with_fds(&mut writer, &line, [request.stdout, request.stderr])
                .await
                .map_err(|e| ForkError::Failed(format!("cannot reach the zygote: {e}")))?;
        }
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(Ok((pid, exit)))) => Ok(Fork {
                pid,
                exit,
                zygote: self.clone(),
            }),
            Ok(Ok(Err(message))) => Err(ForkError::Failed(message)),
            Ok(Err(_)) => Err(failed("the zygote exited")),
            Err(_) => {
                self.stop();
                Err(ForkError::TimedOut)
            }
        }
    }
}

/// Sends `line` with `fds` attached, then closes our copies of them.
async fn send_with_fds(
    writer: &mut OwnedWriteHalf,
    line: &[u8],
    fds: [OwnedFd; 2],
) -> std::io::Result<()> {
    let stream: &UnixStream = writer.as_ref();
    let sent = loop {
        stream.writable().await?;
        let attempt = stream.try_io(tokio::io::Interest::WRITABLE, || {
            let borrowed = [fds[0].as_fd(), fds[1].as_fd()];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            control.push(SendAncillaryMessage::ScmRights(&borrowed));
            rustix::net::sendmsg(
                stream,
                &[IoSlice::new(line)],
                &mut control,
                SendFlags::NOSIGNAL,
            )
            .map_err(std::io::Error::from)
        });
        match attempt {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    };
    writer.write_all(&line[sent..]).await
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Answer {
    Forked { pid: u32 },
    Refused { error: String },
    Exited { exit: u32, status: i32 },
}

/// Routes the zygote's answers until its socket closes, then fails whatever waits.
async fn read_answers(reader: OwnedReadHalf, routes: Arc<Mutex<Routes>>) {
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_MESSAGE_BYTES)
            .read_until(b'\n', &mut line)
            .await;
        if !matches!(read, Ok(n) if n > 0 && line.ends_with(b"\n")) {
            break;
        }
        match serde_json::from_slice::<Answer>(&line) {
            Ok(answer) => route(&routes, answer),
            Err(e) => tracing::warn!(%e, "unexpected message from the zygote"),
        }
    }
    let mut routes = lock(&routes);
    routes.closed = true;
    routes.pending.clear();
    routes.exits.clear();
}

fn route(routes: &Mutex<Routes>, answer: Answer) {
    let mut routes = lock(routes);
    match answer {
        Answer::Forked { pid } => {
            let (exit_tx, exit_rx) = oneshot::channel();
            routes.exits.insert(pid, exit_tx);
            let delivered = routes
                .pending
                .pop_front()
                .is_some_and(|waiter| waiter.send(Ok((pid, exit_rx))).is_ok());
            if !delivered {
                // Nobody waits any more (the request timed out): the instance is not wanted.
                kill_group(pid);
            }
        }
        Answer::Refused { error } => {
            if let Some(waiter) = routes.pending.pop_front() {
                let _ = waiter.send(Err(error));
            }
        }
        Answer::Exited { exit, status } => {
            if let Some(tx) = routes.exits.remove(&exit) {
                let _ = tx.send(ExitStatus::from_raw(status));
            }
        }
    }
}

/// Sends SIGKILL to the process group `pgid`.
pub(crate) fn kill_group(pgid: u32) {
    let pid = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// The current zygote of one function, started at first need and replaced when it has
/// exited or the handler file changed.
pub(crate) struct ZygoteSlot {
    script: PathBuf,
    handler_file: Option<PathBuf>,
    current: tokio::sync::Mutex<Option<Arc<Zygote>>>,
}

impl ZygoteSlot {
    /// A slot for the zygote `script` of a handler in `handler_file` (when known).
    pub(crate) fn new(script: PathBuf, handler_file: Option<PathBuf>) -> ZygoteSlot {
        ZygoteSlot {
            script,
            handler_file,
            current: tokio::sync::Mutex::new(None),
        }
    }

    /// The running zygote, started (or restarted) first if needed.
    pub(crate) async fn ready(&self, launch: Launch<'_>) -> Result<Arc<Zygote>, ForkError> {
        let mtime = self
            .handler_file
            .as_deref()
            .and_then(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok());
        let mut current = self.current.lock().await;
        if let Some(zygote) = current.as_ref()
            && zygote.is_alive()
            && zygote.handler_mtime == mtime
        {
            return Ok(zygote.clone());
        }
        let zygote = Arc::new(Zygote::start(&launch, &self.script, mtime).map_err(|e| {
            ForkError::Failed(format!("cannot start {}: {e}", launch.program.display()))
        })?);
        *current = Some(zygote.clone());
        Ok(zygote)
    }

    /// Forks an instance from the running zygote, bounded by `limit`.
    pub(crate) async fn fork(
        &self,
        launch: Launch<'_>,
        request: ForkRequest,
        limit: Duration,
    ) -> Result<Fork, ForkError> {
        self.ready(launch).await?.fork(request, limit).await
    }

    /// Lets the zygote go: it exits once no instance it forked is left.
    pub(crate) async fn release(&self) {
        self.current.lock().await.take();
    }
}

/// The file holding a Python handler's module (`path/to/module.function`), when it
/// exists: `<module>.py` or `<module>/__init__.py` under `code_dir`.
pub(crate) fn python_handler_file(code_dir: &Path, handler: &str) -> Option<PathBuf> {
    let (module, _) = handler.rsplit_once('.')?;
    let base = code_dir.join(module.replace('.', "/"));
    [base.with_extension("py"), base.join("__init__.py")]
        .into_iter()
        .find(|p| p.is_file())
}
