//! A `sluice serve` process driven over raw HTTP/1.1, as AWS's Step Functions clients drive it.

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

/// A `sluice serve` process on a free loopback port, killed when dropped.
pub struct Server {
    child: Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Serves `project` with its data in `data_dir`, once it says where it listens.
    pub fn start(data_dir: &Path, project: &Path) -> Server {
        Server::spawn(super::sluice(data_dir), project)
    }

    /// Runs `sluice` (a command with its data directory and store set) as `serve PROJECT`,
    /// once it says where it listens.
    pub fn spawn(mut sluice: Command, project: &Path) -> Server {
        let mut child = sluice
            .arg("serve")
            .arg(project)
            .args(["--listen", "127.0.0.1:0"])
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

    /// What the process has written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends `body` to the operation named by `target` and returns the status and JSON reply.
    pub fn raw(&self, target: &str, body: &str) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(REPLY)).unwrap();
        stream.set_write_timeout(Some(REPLY)).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Target: {target}\r\n\
             Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = serde_json::from_str(body)
            .unwrap_or_else(|e| panic!("{e}: {reply}\nserver: {}", self.stderr()));
        (status, body)
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
        assert_eq!(status, 200, "{operation}: {body}");
        body
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
