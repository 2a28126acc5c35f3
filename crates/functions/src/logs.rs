//! Capture of function output: stdout and stderr read line by line, attributed to
//! the request in flight, kept in a bounded ring per function and optionally
//! appended to `<log_dir>/<function>.jsonl`.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

use crate::pool::lock;

/// Longest line kept whole; longer output is split into several lines.
const MAX_LINE_BYTES: usize = 256 * 1024;
/// Most bytes read in one go before yielding to other tasks.
const READ_BUDGET: usize = 1024 * 1024;
/// How long to wait for the readers to catch up at the end of an invocation.
const DRAIN_WAIT: Duration = Duration::from_millis(500);

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of function output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When the line was read.
    pub ts: DateTime<Utc>,
    /// Function that printed it.
    pub function: String,
    /// Request in flight when it was printed; `None` for init and between invocations.
    pub request_id: Option<String>,
    /// Stream it was printed on.
    pub stream: LogStream,
    /// The line, without its trailing newline (invalid UTF-8 replaced).
    pub line: String,
}

enum WriterMsg {
    Line(LogLine),
    Flush(oneshot::Sender<()>),
}

/// Where captured lines go: one bounded ring per function, plus JSON-lines files.
pub(crate) struct LogSink {
    rings: Mutex<HashMap<String, VecDeque<LogLine>>>,
    capacity: usize,
    writer: Mutex<Option<std_mpsc::Sender<WriterMsg>>>,
}

impl LogSink {
    /// A sink keeping `capacity` lines per function, writing files under `log_dir`.
    pub(crate) fn new(log_dir: Option<PathBuf>, capacity: usize) -> io::Result<LogSink> {
        let writer = match log_dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                let (tx, rx) = std_mpsc::channel();
                std::thread::Builder::new()
                    .name("sluice-function-logs".into())
                    .spawn(move || write_files(dir, rx))?;
                Some(tx)
            }
            None => None,
        };
        Ok(LogSink {
            rings: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            writer: Mutex::new(writer),
        })
    }

    pub(crate) fn push(&self, line: LogLine) {
        if let Some(tx) = lock(&self.writer).as_ref() {
            let _ = tx.send(WriterMsg::Line(line.clone()));
        }
        let mut rings = lock(&self.rings);
        let ring = rings.entry(line.function.clone()).or_default();
        if ring.len() >= self.capacity {
            ring.pop_front();
        }
        ring.push_back(line);
    }

    pub(crate) fn lines(&self, function: &str) -> Vec<LogLine> {
        lock(&self.rings)
            .get(function)
            .map(|ring| ring.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn for_request(&self, request_id: &str) -> Vec<LogLine> {
        let rings = lock(&self.rings);
        let mut out: Vec<LogLine> = rings
            .values()
            .flat_map(|ring| ring.iter())
            .filter(|l| l.request_id.as_deref() == Some(request_id))
            .cloned()
            .collect();
        out.sort_by_key(|l| l.ts);
        out
    }

    /// Waits until every line pushed so far is written to its file.
    pub(crate) async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        let sent = match lock(&self.writer).as_ref() {
            Some(tx) => tx.send(WriterMsg::Flush(ack)).is_ok(),
            None => false,
        };
        if sent {
            let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
        }
    }
}

/// Body of the file-writer thread: appends lines, flushing whenever the queue empties.
fn write_files(dir: PathBuf, rx: std_mpsc::Receiver<WriterMsg>) {
    let mut files: HashMap<String, BufWriter<File>> = HashMap::new();
    let mut acks = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                WriterMsg::Line(line) => {
                    let file = match files.entry(line.function.clone()) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(e) => {
                            let path = dir.join(format!("{}.jsonl", line.function));
                            match OpenOptions::new().create(true).append(true).open(&path) {
                                Ok(f) => e.insert(BufWriter::new(f)),
                                Err(err) => {
                                    tracing::warn!(path = %path.display(), %err, "cannot open log file");
                                    next = rx.try_recv().ok();
                                    continue;
                                }
                            }
                        }
                    };
                    if let Ok(mut json) = serde_json::to_vec(&line) {
                        json.push(b'\n');
                        if let Err(err) = file.write_all(&json) {
                            tracing::warn!(function = %line.function, %err, "cannot write log file");
                        }
                    }
                }
                WriterMsg::Flush(ack) => acks.push(ack),
            }
            next = rx.try_recv().ok();
        }
        for file in files.values_mut() {
            let _ = file.flush();
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
}

/// Output capture of one instance: two reader tasks and the request the lines are
/// attributed to.
pub(crate) struct Capture {
    function: Arc<str>,
    sink: Arc<LogSink>,
    current: Mutex<Option<Arc<str>>>,
    drains: Mutex<Vec<mpsc::UnboundedSender<oneshot::Sender<()>>>>,
}

impl Capture {
    pub(crate) fn new(function: Arc<str>, sink: Arc<LogSink>) -> Arc<Capture> {
        Arc::new(Capture {
            function,
            sink,
            current: Mutex::new(None),
            drains: Mutex::new(Vec::new()),
        })
    }

    /// Starts reading one of the process's pipes.
    pub(crate) fn spawn_reader(self: &Arc<Self>, fd: OwnedFd, stream: LogStream) -> io::Result<()> {
        let receiver = pipe::Receiver::from_owned_fd(fd)?;
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.drains).push(tx);
        let reader = Reader {
            capture: self.clone(),
            stream,
            pending: Vec::new(),
        };
        tokio::spawn(reader.run(receiver, rx));
        Ok(())
    }

    /// Attributes the lines read from now on to `request_id`.
    pub(crate) fn set_current(&self, request_id: Option<&str>) {
        *lock(&self.current) = request_id.map(Arc::from);
    }

    /// Waits until the readers have consumed everything already written to the
    /// pipes, so that it is attributed to the current request.
    pub(crate) async fn drain(&self) {
        let waits: Vec<_> = lock(&self.drains)
            .iter()
            .filter_map(|tx| {
                let (ack, done) = oneshot::channel();
                tx.send(ack).ok().map(|_| done)
            })
            .collect();
        let _ = tokio::time::timeout(DRAIN_WAIT, async {
            for done in waits {
                let _ = done.await;
            }
        })
        .await;
    }

    fn emit(&self, stream: LogStream, bytes: &[u8]) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let request_id = lock(&self.current).as_deref().map(str::to_string);
        self.sink.push(LogLine {
            ts: Utc::now(),
            function: self.function.to_string(),
            request_id,
            stream,
            line: String::from_utf8_lossy(bytes).into_owned(),
        });
    }
}

struct Reader {
    capture: Arc<Capture>,
    stream: LogStream,
    pending: Vec<u8>,
}

enum ReadState {
    Open,
    Eof,
}

impl Reader {
    async fn run(
        mut self,
        receiver: pipe::Receiver,
        mut drains: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    ) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            tokio::select! {
                ready = receiver.readable() => {
                    if ready.is_err() {
                        break;
                    }
                    if let ReadState::Eof = self.read_available(&receiver, &mut buf, READ_BUDGET) {
                        break;
                    }
                }
                ack = drains.recv() => {
                    let Some(ack) = ack else { break };
                    let state = self.read_available(&receiver, &mut buf, usize::MAX);
                    self.flush_partial();
                    let _ = ack.send(());
                    if let ReadState::Eof = state {
                        break;
                    }
                }
            }
        }
        self.flush_partial();
        drop(receiver);
        while let Some(ack) = drains.recv().await {
            let _ = ack.send(());
        }
    }

    /// Reads what the pipe holds right now, up to `budget` bytes.
    fn read_available(
        &mut self,
        receiver: &pipe::Receiver,
        buf: &mut [u8],
        budget: usize,
    ) -> ReadState {
        let mut read = 0usize;
        while read < budget {
            match receiver.try_read(buf) {
                Ok(0) => return ReadState::Eof,
                Ok(n) => {
                    read += n;
                    self.consume(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadState::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return ReadState::Eof,
            }
        }
        ReadState::Open
    }

    fn consume(&mut self, mut data: &[u8]) {
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            if self.pending.is_empty() {
                self.capture.emit(self.stream, &data[..pos]);
            } else {
                self.pending.extend_from_slice(&data[..pos]);
                let line = std::mem::take(&mut self.pending);
                self.capture.emit(self.stream, &line);
            }
            data = &data[pos + 1..];
        }
        self.pending.extend_from_slice(data);
        while self.pending.len() >= MAX_LINE_BYTES {
            let rest = self.pending.split_off(MAX_LINE_BYTES);
            let line = std::mem::replace(&mut self.pending, rest);
            self.capture.emit(self.stream, &line);
        }
    }

    fn flush_partial(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.capture.emit(self.stream, &line);
        }
    }
}
