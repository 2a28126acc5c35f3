//! Capture of function output: stdout and stderr read line by line, attributed to
//! the request in flight, and written to `<log_dir>/<function>.jsonl` (capped and rotated,
//! see [`LogLimits`]). Memory stays bounded whatever a function prints: per function a
//! ring of recent lines, per request the tail of its output, and a short queue to the
//! file writer that makes a function's writes wait while the files catch up.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

use crate::pool::lock;
use crate::rotate::{LogLimits, RotatingFile};

/// Longest line kept whole; longer output is split into several lines.
const MAX_LINE_BYTES: usize = 256 * 1024;
/// Most bytes read in one go before yielding to other tasks.
const READ_BUDGET: usize = 1024 * 1024;
/// How long to wait for the readers to catch up at the end of an invocation.
const DRAIN_WAIT: Duration = Duration::from_millis(500);
/// Most bytes of lines kept in memory per function.
const RING_BYTES: usize = 1024 * 1024;
/// Bytes of output kept in memory per request: the size of Lambda's `LogType: Tail` log.
pub const TAIL_BYTES: usize = 4 * 1024;
/// Requests whose output tail is kept.
const TAILS_KEPT: usize = 1024;
/// Lines waiting for the file writer; past this, reading the function's output waits.
const WRITE_QUEUE: usize = 16;

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

/// The log file of `function` under `log_dir`; rotated files carry a further `.N`
/// (see [`log_files`](crate::log_files)).
pub fn function_log_path(log_dir: &std::path::Path, function: &str) -> PathBuf {
    log_dir.join(format!("{function}.jsonl"))
}

/// The newest lines, within a number of lines and of bytes (each line counting its
/// newline). A line longer than the byte budget keeps only its end.
struct Ring {
    lines: VecDeque<LogLine>,
    bytes: usize,
    max_lines: usize,
    max_bytes: usize,
}

impl Ring {
    fn new(max_lines: usize, max_bytes: usize) -> Ring {
        Ring {
            lines: VecDeque::new(),
            bytes: 0,
            max_lines: max_lines.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    fn push(&mut self, line: &LogLine) {
        let text = end_within(&line.line, self.max_bytes - 1);
        self.bytes += text.len() + 1;
        self.lines.push_back(LogLine {
            ts: line.ts,
            function: line.function.clone(),
            request_id: line.request_id.clone(),
            stream: line.stream,
            line: text.to_string(),
        });
        while self.lines.len() > self.max_lines || self.bytes > self.max_bytes {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.line.len() + 1,
                None => break,
            }
        }
    }
}

/// The longest end of `text` of at most `max` bytes.
fn end_within(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// What is kept in memory: recent lines per function and the tails of recent requests.
#[derive(Default)]
struct Memory {
    by_function: HashMap<String, Ring>,
    by_request: HashMap<String, Ring>,
    /// Requests in `by_request`, oldest first.
    requests: VecDeque<String>,
}

enum WriterMsg {
    Line(LogLine),
    Flush(oneshot::Sender<()>),
}

/// Where captured lines go: memory (bounded) and the log files.
pub(crate) struct LogSink {
    memory: Mutex<Memory>,
    capacity: usize,
    writer: Option<mpsc::Sender<WriterMsg>>,
}

impl LogSink {
    /// A sink keeping up to `capacity` lines per function, writing files under `log_dir`
    /// capped by `limits`.
    pub(crate) fn new(
        log_dir: Option<PathBuf>,
        capacity: usize,
        limits: LogLimits,
    ) -> io::Result<LogSink> {
        let writer = match log_dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir)?;
                let (tx, rx) = mpsc::channel(WRITE_QUEUE);
                std::thread::Builder::new()
                    .name("sluice-function-logs".into())
                    .spawn(move || write_files(dir, limits, rx))?;
                Some(tx)
            }
            None => None,
        };
        Ok(LogSink {
            memory: Mutex::new(Memory::default()),
            capacity,
            writer,
        })
    }

    /// Keeps `line` in memory and queues it for its file, waiting while the queue is full.
    pub(crate) async fn push(&self, line: LogLine) {
        self.remember(&line);
        if let Some(tx) = &self.writer {
            let _ = tx.send(WriterMsg::Line(line)).await;
        }
    }

    fn remember(&self, line: &LogLine) {
        let mut memory = lock(&self.memory);
        let capacity = self.capacity;
        memory
            .by_function
            .entry(line.function.clone())
            .or_insert_with(|| Ring::new(capacity, RING_BYTES))
            .push(line);
        if let Some(id) = &line.request_id {
            if !memory.by_request.contains_key(id) {
                if memory.requests.len() >= TAILS_KEPT
                    && let Some(oldest) = memory.requests.pop_front()
                {
                    memory.by_request.remove(&oldest);
                }
                memory.requests.push_back(id.clone());
            }
            memory
                .by_request
                .entry(id.clone())
                .or_insert_with(|| Ring::new(usize::MAX, TAIL_BYTES))
                .push(line);
        }
    }

    pub(crate) fn lines(&self, function: &str) -> Vec<LogLine> {
        lock(&self.memory)
            .by_function
            .get(function)
            .map(|ring| ring.lines.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn for_request(&self, request_id: &str) -> Vec<LogLine> {
        let mut out: Vec<LogLine> = lock(&self.memory)
            .by_request
            .get(request_id)
            .map(|ring| ring.lines.iter().cloned().collect())
            .unwrap_or_default();
        out.sort_by_key(|l| l.ts);
        out
    }

    /// Waits (up to a few seconds) until every line pushed so far is written to its file.
    pub(crate) async fn flush(&self) {
        let Some(tx) = &self.writer else { return };
        let (ack, done) = oneshot::channel();
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            if tx.send(WriterMsg::Flush(ack)).await.is_ok() {
                let _ = done.await;
            }
        })
        .await;
    }
}

/// Body of the file-writer thread: appends lines, flushing whenever the queue empties.
fn write_files(dir: PathBuf, limits: LogLimits, mut rx: mpsc::Receiver<WriterMsg>) {
    let mut files: HashMap<String, RotatingFile> = HashMap::new();
    let mut acks = Vec::new();
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                WriterMsg::Line(line) => write_line(&dir, limits, &mut files, &line),
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

fn write_line(
    dir: &std::path::Path,
    limits: LogLimits,
    files: &mut HashMap<String, RotatingFile>,
    line: &LogLine,
) {
    let file = match files.entry(line.function.clone()) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            let path = function_log_path(dir, &line.function);
            match RotatingFile::open(&path, limits) {
                Ok(f) => e.insert(f),
                Err(err) => {
                    tracing::warn!(path = %path.display(), %err, "cannot open log file");
                    return;
                }
            }
        }
    };
    if let Ok(json) = serde_json::to_vec(line)
        && let Err(err) = file.write_line(&json)
    {
        tracing::warn!(function = %line.function, %err, "cannot write log file");
    }
}

/// Output capture of one instance: two reader tasks and the request the lines are
/// attributed to.
pub(crate) struct Capture {
    function: Arc<str>,
    sink: Arc<LogSink>,
    /// A line the runtime prints on stderr when it dies out of memory.
    out_of_memory_line: Option<&'static str>,
    /// Whether that line was seen.
    out_of_memory: AtomicBool,
    current: Mutex<Option<Arc<str>>>,
    drains: Mutex<Vec<mpsc::UnboundedSender<oneshot::Sender<()>>>>,
}

impl Capture {
    pub(crate) fn new(function: Arc<str>, sink: Arc<LogSink>) -> Arc<Capture> {
        Self::watching(function, sink, None)
    }

    /// A capture that also notes whether a stderr line contains `out_of_memory_line`, the
    /// runtime's last words when it dies out of memory.
    pub(crate) fn watching(
        function: Arc<str>,
        sink: Arc<LogSink>,
        out_of_memory_line: Option<&'static str>,
    ) -> Arc<Capture> {
        Arc::new(Capture {
            function,
            sink,
            out_of_memory_line,
            out_of_memory: AtomicBool::new(false),
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

    /// Whether the runtime said on stderr that it ran out of memory (see [`Capture::watching`]);
    /// [`Capture::drain`] first to see its last lines.
    pub(crate) fn ran_out_of_memory(&self) -> bool {
        self.out_of_memory.load(Ordering::SeqCst)
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

    async fn emit(&self, stream: LogStream, bytes: &[u8]) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if stream == LogStream::Stderr
            && let Some(needle) = self.out_of_memory_line
            && bytes
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
        {
            self.out_of_memory.store(true, Ordering::SeqCst);
        }
        let request_id = lock(&self.current).as_deref().map(str::to_string);
        let line = LogLine {
            ts: Utc::now(),
            function: self.function.to_string(),
            request_id,
            stream,
            line: String::from_utf8_lossy(bytes).into_owned(),
        };
        self.sink.push(line).await;
    }
}

struct Reader {
    capture: Arc<Capture>,
    stream: LogStream,
    pending: Vec<u8>,
}

#[derive(Clone, Copy)]
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
                    if let ReadState::Eof = self.read_available(&receiver, &mut buf, READ_BUDGET).await {
                        break;
                    }
                }
                ack = drains.recv() => {
                    let Some(ack) = ack else { break };
                    let state = self.read_available(&receiver, &mut buf, usize::MAX).await;
                    self.flush_partial().await;
                    let _ = ack.send(());
                    if let ReadState::Eof = state {
                        break;
                    }
                }
            }
        }
        self.flush_partial().await;
        drop(receiver);
        while let Some(ack) = drains.recv().await {
            let _ = ack.send(());
        }
    }

    /// Reads what the pipe holds right now, up to `budget` bytes.
    async fn read_available(
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
                    self.consume(&buf[..n]).await;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadState::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return ReadState::Eof,
            }
        }
        ReadState::Open
    }

    /// Emits the complete lines of `data`, keeping the unfinished end (at most
    /// [`MAX_LINE_BYTES`]) for the next read.
    async fn consume(&mut self, mut data: &[u8]) {
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            if self.pending.is_empty() {
                self.capture.emit(self.stream, &data[..pos]).await;
            } else {
                self.pending.extend_from_slice(&data[..pos]);
                let line = std::mem::take(&mut self.pending);
                self.capture.emit(self.stream, &line).await;
            }
            data = &data[pos + 1..];
        }
        self.pending.extend_from_slice(data);
        while self.pending.len() >= MAX_LINE_BYTES {
            let rest = self.pending.split_off(MAX_LINE_BYTES);
            let line = std::mem::replace(&mut self.pending, rest);
            self.capture.emit(self.stream, &line).await;
        }
    }

    async fn flush_partial(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.capture.emit(self.stream, &line).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(request: &str, text: &str) -> LogLine {
        LogLine {
            ts: Utc::now(),
            function: "f".into(),
            request_id: Some(request.into()),
            stream: LogStream::Stdout,
            line: text.into(),
        }
    }

    #[test]
    fn rings_keep_the_newest_lines_within_their_bytes() {
        let mut ring = Ring::new(100, 10);
        for text in ["aaa", "bbb", "ccc"] {
            ring.push(&line("r", text));
        }
        let kept: Vec<&str> = ring.lines.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(kept, ["bbb", "ccc"]);
        assert_eq!(ring.bytes, 8);
        ring.push(&line("r", "0123456789éabcdefgh"));
        let kept: Vec<&str> = ring.lines.iter().map(|l| l.line.as_str()).collect();
        assert_eq!(
            kept,
            ["abcdefgh"],
            "the end of a long line, on a character boundary"
        );
        let mut counted = Ring::new(2, 1000);
        for text in ["", "", ""] {
            counted.push(&line("r", text));
        }
        assert_eq!(counted.lines.len(), 2);
    }

    #[test]
    fn request_tails_are_bounded_in_size_and_number() {
        let sink = LogSink::new(None, 10, LogLimits::default()).unwrap();
        let big = "x".repeat(1500);
        for n in 0..TAILS_KEPT + 5 {
            let id = format!("req-{n}");
            for _ in 0..3 {
                sink.remember(&line(&id, &big));
            }
        }
        assert!(
            sink.for_request("req-0").is_empty(),
            "the oldest are dropped"
        );
        let last = sink.for_request(&format!("req-{}", TAILS_KEPT + 4));
        let bytes: usize = last.iter().map(|l| l.line.len() + 1).sum();
        assert!(bytes <= TAIL_BYTES, "{bytes}");
        assert_eq!(last.len(), 2);
        assert_eq!(lock(&sink.memory).by_request.len(), TAILS_KEPT);
        let ring_bytes: usize = sink.lines("f").iter().map(|l| l.line.len()).sum();
        assert!(ring_bytes <= 10 * 1500);
    }
}
