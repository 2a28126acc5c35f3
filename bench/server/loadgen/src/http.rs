//! A keep-alive HTTP/1.1 connection for JSON POSTs (the Step Functions JSON 1.0 protocol, HTTP
//! triggers): one request at a time, replies read by their `Content-Length`, every read bounded.

use anyhow::{Context, bail};
use serde_json::Value;
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The longest reply head accepted, in bytes.
const MAX_HEAD: usize = 16 << 10;
/// The largest reply body accepted, in bytes.
const MAX_BODY: usize = 16 << 20;

/// One connection to a node.
pub struct Connection {
    addr: SocketAddr,
    stream: BufReader<TcpStream>,
}

impl Connection {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            addr,
            stream: BufReader::new(stream),
        })
    }

    /// Calls `AWSStepFunctions.<operation>` and returns the HTTP status and the JSON reply.
    pub async fn call(&mut self, operation: &str, request: &Value) -> anyhow::Result<(u16, Value)> {
        let headers = format!(
            "X-Amz-Target: AWSStepFunctions.{operation}\r\nContent-Type: application/x-amz-json-1.0\r\n"
        );
        self.post("/", &headers, request.to_string().as_bytes())
            .await
            .with_context(|| format!("{operation} on {}", self.addr))
    }

    /// Posts `body` to `path` with `headers` (each line ending in CRLF) and returns the HTTP
    /// status and the JSON reply.
    pub async fn post(
        &mut self,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> anyhow::Result<(u16, Value)> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{headers}Content-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        self.read_reply()
            .await
            .with_context(|| format!("POST {path} on {}", self.addr))
    }

    /// Reads one reply: the status line, the headers, then `Content-Length` bytes of JSON.
    async fn read_reply(&mut self) -> anyhow::Result<(u16, Value)> {
        let mut head_bytes = 0;
        let mut status = None;
        let mut length = None;
        loop {
            let mut line = String::new();
            let n = (&mut self.stream)
                .take((MAX_HEAD - head_bytes) as u64)
                .read_line(&mut line)
                .await?;
            if n == 0 || !line.ends_with('\n') {
                bail!("the connection closed or the reply head passed {MAX_HEAD} bytes");
            }
            head_bytes += n;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            match status {
                None => {
                    let code = line.split_whitespace().nth(1).unwrap_or_default();
                    status = Some(
                        code.parse::<u16>()
                            .with_context(|| format!("bad status line {line:?}"))?,
                    );
                }
                Some(_) => {
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = Some(value.trim().parse::<usize>()?);
                    }
                }
            }
        }
        let status = status.context("a reply without a status line")?;
        let length = length.context("a reply without Content-Length")?;
        if length > MAX_BODY {
            bail!("a reply body of {length} bytes (at most {MAX_BODY})");
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        let value = serde_json::from_slice(&body).with_context(|| {
            format!(
                "a reply that is not JSON: {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        Ok((status, value))
    }
}
