//! The CLI as a client of a running node (`--server URL` or `SLUICE_SERVER`): `start`, `list`,
//! `describe`, `history`, `stop`, `redrive` and the task token commands go to the node's REST
//! API (`/v1`) instead of the local store. Plain HTTP over one connection per request; a node
//! beyond one machine sits behind a TLS-terminating proxy, which a client reaches through a
//! local tunnel or the proxy's plain listener.

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The largest reply read, in bytes.
const MAX_REPLY_BYTES: u64 = 64 << 20;
/// How long a request may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A running node's REST API.
pub struct Client {
    /// `host:port`.
    authority: String,
    /// The bearer token, when the node has one.
    token: Option<String>,
}

impl Client {
    /// A client of the node at `url` (`http://HOST:PORT`).
    pub fn new(url: &str, token: Option<String>) -> anyhow::Result<Client> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            anyhow!("--server {url}: only http:// URLs are spoken (put https behind a local tunnel or proxy)")
        })?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            bail!("--server {url}: expected http://HOST:PORT");
        }
        Ok(Client {
            authority: authority.to_string(),
            token: token.filter(|t| !t.is_empty()),
        })
    }

    /// Sends one request and returns the JSON reply, or the node's error as an error.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(&self.authority)
            .with_context(|| format!("connecting to the node at {}", self.authority))?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.authority,
            body.len()
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let mut reader = BufReader::new(stream.take(MAX_REPLY_BYTES));
        let mut status_line = String::new();
        reader.read_line(&mut status_line)?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("the node sent no HTTP status: {status_line:?}"))?;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 || line == "\r\n" {
                break;
            }
            let lower = line.to_ascii_lowercase();
            chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
        }
        let mut raw = Vec::new();
        reader.read_to_end(&mut raw)?;
        let text = if chunked { dechunk(&raw)? } else { raw };
        let reply: Value = serde_json::from_slice(&text).with_context(|| {
            format!(
                "the node answered {status} with no JSON: {}",
                String::from_utf8_lossy(&text)
            )
        })?;
        if status >= 400 {
            bail!(
                "{} ({status}): {}",
                reply["error"].as_str().unwrap_or("error"),
                reply["message"].as_str().unwrap_or_default()
            );
        }
        Ok(reply)
    }
}

/// The body of a chunked reply.
fn dechunk(raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = raw;
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| anyhow!("a chunked reply was cut short"))?;
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| anyhow!("a chunk size is malformed: {size_text:?}"))?;
        rest = &rest[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest
            .get(..size)
            .ok_or_else(|| anyhow!("a chunked reply was cut short"))?;
        out.extend_from_slice(chunk);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

/// Percent-encodes a path segment or query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `sluice start FLOW`: starts an execution on the node and prints its id and ARN.
pub fn start(
    client: &Client,
    flow: &str,
    name: Option<String>,
    input: Option<String>,
) -> anyhow::Result<ExitCode> {
    let input: Value = match input {
        Some(text) => serde_json::from_str(&text).context("--input is not JSON")?,
        None => json!({}),
    };
    let mut body = json!({ "input": input });
    if let Some(name) = name {
        body["name"] = json!(name);
    }
    let started = client.call(
        "POST",
        &format!("/v1/flows/{}/executions", encode(flow)),
        Some(&body),
    )?;
    outln!("{started}");
    Ok(ExitCode::SUCCESS)
}

/// `sluice list --server`: the node's executions, newest first, as JSON lines.
pub fn list(client: &Client, limit: usize, all: bool) -> anyhow::Result<ExitCode> {
    let mut left = limit;
    let mut next: Option<String> = None;
    while left > 0 {
        let mut path = format!("/v1/executions?limit={}", left.min(1000));
        if all {
            path.push_str("&children=true");
        }
        if let Some(n) = &next {
            path.push_str(&format!("&next={}", encode(n)));
        }
        let page = client.call("GET", &path, None)?;
        let rows = page["executions"].as_array().cloned().unwrap_or_default();
        for row in &rows {
            outln!("{row}");
        }
        left = left.saturating_sub(rows.len());
        match page["next"].as_str() {
            Some(n) if !rows.is_empty() => next = Some(n.to_string()),
            _ => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `sluice describe --server`: one execution as the node describes it.
pub fn describe(client: &Client, id: &str) -> anyhow::Result<ExitCode> {
    let e = client.call("GET", &format!("/v1/executions/{}", encode(id)), None)?;
    outln!("{}", serde_json::to_string_pretty(&e).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

/// `sluice history --server`: every history event of an execution, as JSON lines.
pub fn history(client: &Client, id: &str) -> anyhow::Result<ExitCode> {
    let mut after = 0;
    loop {
        let path = format!(
            "/v1/executions/{}/history?after={after}&limit=1000",
            encode(id)
        );
        let page = client.call("GET", &path, None)?;
        for event in page["events"].as_array().into_iter().flatten() {
            outln!("{event}");
        }
        match page["next"].as_u64() {
            Some(n) => after = n,
            None => return Ok(ExitCode::SUCCESS),
        }
    }
}

/// `sluice stop --server`: stops an execution and waits until it is ABORTED.
pub fn stop(
    client: &Client,
    id: &str,
    error: Option<String>,
    cause: Option<String>,
) -> anyhow::Result<ExitCode> {
    let body = json!({ "error": error, "cause": cause });
    let path = format!("/v1/executions/{}", encode(id));
    client.call("POST", &format!("{path}/stop"), Some(&body))?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let e = client.call("GET", &path, None)?;
        if e["status"] != "RUNNING" {
            outln!("{}", json!({"execution": id, "status": e["status"]}));
            return Ok(if e["status"] == "ABORTED" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        if Instant::now() > deadline {
            bail!("'{id}' is still RUNNING; the node driving it stops it at its next renewal");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `sluice redrive --server`: restarts an execution on the node.
pub fn redrive(client: &Client, id: &str) -> anyhow::Result<ExitCode> {
    let path = format!("/v1/executions/{}/redrive", encode(id));
    let reply = client.call("POST", &path, None)?;
    outln!("{reply}");
    Ok(ExitCode::SUCCESS)
}

/// `sluice send-task-success|failure|heartbeat --server`: reports on a callback Task.
pub fn task_token(client: &Client, kind: &str, body: &Value) -> anyhow::Result<ExitCode> {
    client.call("POST", &format!("/v1/task-tokens/{kind}"), Some(body))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_replies_are_joined() {
        let raw = b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(dechunk(raw).unwrap(), b"{\"a\":1}");
        assert!(dechunk(b"4\r\n{\"").is_err());
    }

    #[test]
    fn only_plain_http_urls_are_taken() {
        assert!(Client::new("http://127.0.0.1:8787/", None).is_ok());
        assert!(Client::new("https://node:8787", None).is_err());
        assert!(Client::new("http://node:8787/v1", None).is_err());
    }
}
