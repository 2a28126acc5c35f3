//! A `sluice serve` process on a free loopback port, driven over raw HTTP/1.1.

use super::sluice;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long a node may take to say where it listens.
const STARTUP: Duration = Duration::from_secs(60);
/// How long a request may take to be answered.
const REPLY: Duration = Duration::from_secs(60);

/// A `sluice serve` process, killed when dropped.
pub struct Server {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    stderr: Arc<Mutex<String>>,
}

/// An HTTP reply.
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: status {} body {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Server {
    /// Serves `project` with its data in `data_dir`, once it says where it listens.
    pub fn start(data_dir: &Path, project: &Path) -> Server {
        Server::start_with(data_dir, project, &[])
    }

    /// Serves `project` with `args` added to `sluice serve`.
    pub fn start_with(data_dir: &Path, project: &Path, args: &[&str]) -> Server {
        Server::spawn(sluice(data_dir), project, args)
    }

    /// Runs `sluice` (a command with its data directory and store set) as
    /// `serve PROJECT ARGS`, once it says where it listens.
    pub fn spawn(mut sluice: Command, project: &Path, args: &[&str]) -> Server {
        let mut child = sluice
            .arg("serve")
            .arg(project)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (said, address) = mpsc::channel();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(rest) = line.split("on http://").nth(1) {
                    let _ = said.send(rest.split_whitespace().next().map(str::to_string));
                }
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let Ok(Some(addr)) = address.recv_timeout(STARTUP) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no address: {}", stderr.lock().unwrap());
        };
        Server {
            child,
            addr,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// What the server printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends one request and reads the whole reply.
    pub fn http(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        try_http(&self.addr, method, path, headers, body)
            .unwrap_or_else(|| panic!("no reply to {method} {path}: {}", self.stderr()))
    }

    /// Sends `body` to the operation named by `target` and returns the status and JSON reply.
    pub fn raw(&self, target: &str, body: &str) -> (u16, Value) {
        let reply = self.http(
            "POST",
            "/",
            &[
                ("X-Amz-Target", target),
                ("Content-Type", "application/x-amz-json-1.0"),
            ],
            body.as_bytes(),
        );
        (reply.status, reply.json())
    }

    /// Calls a Step Functions operation.
    pub fn call(&self, operation: &str, request: Value) -> (u16, Value) {
        self.raw(
            &format!("AWSStepFunctions.{operation}"),
            &request.to_string(),
        )
    }

    /// Calls an operation that must succeed.
    pub fn ok(&self, operation: &str, request: Value) -> Value {
        let (status, body) = self.call(operation, request);
        assert_eq!(
            status,
            200,
            "{operation}: {body}\nserver: {}",
            self.stderr()
        );
        body
    }

    /// Reads an execution over REST until it is no longer running (at most `limit`), calling
    /// `each` between reads; returns its last description.
    pub fn await_end(&self, id: &str, limit: Duration, mut each: impl FnMut()) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            each();
            let execution = self
                .http("GET", &format!("/v1/executions/{id}"), &[], b"")
                .json();
            if execution["status"] != "RUNNING" {
                return execution;
            }
            assert!(Instant::now() < deadline, "still running: {execution}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Describes an execution until its status is `status`.
    pub fn await_status(&self, arn: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let e = self.ok("DescribeExecution", json!({"executionArn": arn}));
            if e["status"] == status {
                return e;
            }
            assert!(Instant::now() < deadline, "still {e}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one request to the server at `addr` and reads the whole reply; `None` when the
/// connection fails or closes before a reply head (a server killed mid-request).
pub fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Reply> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(REPLY)).ok()?;
    stream.set_write_timeout(Some(REPLY)).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    // A server may answer (413) before reading the whole body, and close.
    let _ = stream.write_all(body);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&reply[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: reply[split + 4..].to_vec(),
    })
}
