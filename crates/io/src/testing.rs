//! Support for tests that run against a real S3 server (feature `test-support`): `s3s-fs`, found
//! at `$SLUICE_S3S_FS` or on `PATH` (`.ci/run` installs it), started on a free loopback port over
//! a local directory and killed when dropped. Where it is missing, a test says it skipped, or
//! fails under `SLUICE_REQUIRE_SERVICES=1` (see [`sluice_engine::testing::skip`]).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "sluice";
/// The secret key the server accepts.
pub const SECRET_KEY: &str = "sluice-secret";
/// How long the server may take to listen.
const STARTUP: Duration = Duration::from_secs(20);

/// The `s3s-fs` binary: `$SLUICE_S3S_FS` when it names a file, else the first on `PATH`.
pub fn s3s_fs() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("SLUICE_S3S_FS") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Some(path);
        }
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("s3s-fs"))
        .find(|p| p.is_file())
}

/// A running `s3s-fs` serving a directory (bucket `B` is the folder `ROOT/B`), killed on drop.
pub struct S3Server {
    child: Child,
    port: u16,
    root: PathBuf,
}

impl S3Server {
    /// Starts a server over `root` (created if missing) once it listens, or returns `None`
    /// after saying that `what` is skipped because `s3s-fs` is not installed.
    pub fn start(root: &Path, what: &str) -> Option<S3Server> {
        let Some(binary) = s3s_fs() else {
            sluice_engine::testing::skip(&format!(
                "{what}: s3s-fs not found (.ci/run installs it)"
            ));
            return None;
        };
        std::fs::create_dir_all(root)
            .unwrap_or_else(|e| panic!("creating {}: {e}", root.display()));
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let server = S3Server {
            child,
            port,
            root: root.to_path_buf(),
        };
        let deadline = Instant::now() + STARTUP;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "s3s-fs did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    /// The port it listens on (loopback).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory it serves.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The storage URL of `bucket/prefix` on this server, with its credentials.
    pub fn storage_url(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "s3://{bucket}/{prefix}?endpoint=http://127.0.0.1:{}&region=us-east-1&path_style=true\
             &access_key_id={ACCESS_KEY}&secret_access_key={SECRET_KEY}",
            self.port
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
