//! A database server of the test's own: PostgreSQL 15 (logical replication on) or MariaDB
//! (row-based binlog) in a temporary directory, listening on a free loopback port, that a test
//! may shut down, kill and start again on the same data and port without touching the
//! machine's shared servers. It is killed when dropped.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// PostgreSQL's programs.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// MariaDB's programs.
const MARIADB_INSTALL: &str = "/usr/bin/mariadb-install-db";
const MARIADBD: &str = "/usr/sbin/mariadbd";
/// How long a server may take to accept queries after it was started.
const STARTUP: Duration = Duration::from_secs(60);

/// Which database server.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// PostgreSQL 15, `wal_level = logical`.
    Postgres,
    /// MariaDB, `binlog_format = ROW`, full row images and metadata.
    MariaDb,
}

/// A running (or stopped) private server.
pub struct PrivateServer {
    kind: Kind,
    dir: tempfile::TempDir,
    port: u16,
    /// The account the server runs as (PostgreSQL and MariaDB refuse root).
    user: (u32, u32),
    child: Option<Child>,
}

impl PrivateServer {
    /// Initializes a data directory of `kind` and starts the server; an error says what is
    /// missing (the programs, or the account to run them as).
    pub fn start(kind: Kind) -> Result<PrivateServer, String> {
        let (program, account) = match kind {
            Kind::Postgres => (format!("{PG_BIN}/postgres"), "postgres"),
            Kind::MariaDb => (MARIADBD.to_string(), "mysql"),
        };
        if !Path::new(&program).exists() {
            return Err(format!("{program} is not installed"));
        }
        let user = (id(account, "-u")?, id(account, "-g")?);
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let chown = Command::new("chown")
            .arg(format!("{}:{}", user.0, user.1))
            .arg(dir.path())
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !chown.success() {
            return Err(format!("cannot give {} to {account}", dir.path().display()));
        }
        let mut server = PrivateServer {
            kind,
            port: free_port()?,
            dir,
            user,
            child: None,
        };
        server.init()?;
        server.restart();
        Ok(server)
    }

    /// The URL of database `db` on it (`postgres://postgres@…`, `mysql://root@…`).
    pub fn url(&self, db: &str) -> String {
        match self.kind {
            Kind::Postgres => format!("postgres://postgres@127.0.0.1:{}/{db}", self.port),
            Kind::MariaDb => format!("mysql://root@127.0.0.1:{}/{db}", self.port),
        }
    }

    /// Shuts the server down as an operator would (PostgreSQL's fast shutdown, MariaDB's
    /// normal one), waiting until it exited.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let signal = match self.kind {
            Kind::Postgres => "-INT",
            Kind::MariaDb => "-TERM",
        };
        let _ = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status();
        let _ = child.wait();
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server on its data directory and port (after [`stop`](Self::stop) or
    /// [`kill`](Self::kill)) and waits until it answers queries; panics after a minute.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let deadline = Instant::now() + STARTUP;
        loop {
            let mut child = self
                .command()
                .spawn()
                .expect("starting the database server");
            while Instant::now() < deadline {
                if self.answers() {
                    self.child = Some(child);
                    return;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // A server killed a moment ago may leave its memory or port busy for a while.
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "the {:?} server did not start within {STARTUP:?}: {}",
                self.kind,
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// A command running as the server's account.
    fn as_user(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.uid(self.user.0).gid(self.user.1);
        command
    }

    /// Creates the data directory (and MariaDB's database `test`).
    fn init(&self) -> Result<(), String> {
        let out = match self.kind {
            Kind::Postgres => self
                .as_user(&format!("{PG_BIN}/initdb"))
                .arg("-D")
                .arg(self.data())
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
                .output(),
            Kind::MariaDb => Command::new(MARIADB_INSTALL)
                .arg("--no-defaults")
                .arg(format!("--datadir={}", self.data().display()))
                .args([
                    "--user=mysql",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ])
                .output(),
        }
        .map_err(|e| format!("initializing a {:?} data directory: {e}", self.kind))?;
        if !out.status.success() {
            return Err(format!(
                "initializing a {:?} data directory: {}",
                self.kind,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        if self.kind == Kind::MariaDb {
            std::fs::create_dir_all(self.data().join("test")).map_err(|e| e.to_string())?;
            let chown = Command::new("chown")
                .arg(format!("{}:{}", self.user.0, self.user.1))
                .arg(self.data().join("test"))
                .status()
                .map_err(|e| e.to_string())?;
            assert!(chown.success());
        }
        Ok(())
    }

    /// The server's command line, its output appended to the log.
    fn command(&self) -> Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .expect("the server's log");
        let mut command = match self.kind {
            Kind::Postgres => {
                let mut c = self.as_user(&format!("{PG_BIN}/postgres"));
                c.arg("-D")
                    .arg(self.data())
                    .arg("-p")
                    .arg(self.port.to_string());
                for setting in [
                    "listen_addresses=127.0.0.1".to_string(),
                    format!("unix_socket_directories={}", self.dir.path().display()),
                    "wal_level=logical".into(),
                    "max_replication_slots=10".into(),
                    "max_wal_senders=10".into(),
                    "fsync=off".into(),
                ] {
                    c.arg("-c").arg(setting);
                }
                c
            }
            Kind::MariaDb => {
                let mut c = Command::new(MARIADBD);
                c.arg("--no-defaults")
                    .arg(format!("--datadir={}", self.data().display()))
                    .arg(format!("--port={}", self.port))
                    .arg(format!(
                        "--socket={}",
                        self.dir.path().join("sock").display()
                    ))
                    .arg(format!(
                        "--pid-file={}",
                        self.dir.path().join("pid").display()
                    ))
                    .arg(format!(
                        "--log-bin={}",
                        self.data().join("binlog").display()
                    ))
                    .args([
                        "--bind-address=127.0.0.1",
                        "--binlog-format=ROW",
                        "--binlog-row-image=FULL",
                        "--binlog-row-metadata=FULL",
                        "--server-id=7",
                        "--user=mysql",
                        "--skip-grant-tables",
                        "--character-set-server=utf8mb4",
                    ]);
                c
            }
        };
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the server's log"))
            .stderr(log);
        command
    }

    /// Whether the server answers a query.
    fn answers(&self) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = match self.kind {
            Kind::Postgres => self.url("postgres"),
            Kind::MariaDb => self.url("test"),
        };
        runtime.block_on(async {
            let attempt = async {
                match self.kind {
                    Kind::Postgres => {
                        let Ok((client, conn)) =
                            tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                        else {
                            return false;
                        };
                        tokio::spawn(conn);
                        client.simple_query("SELECT 1").await.is_ok()
                    }
                    Kind::MariaDb => {
                        use mysql_async::prelude::Queryable;
                        let Ok(opts) = mysql_async::Opts::from_url(&url) else {
                            return false;
                        };
                        let Ok(mut conn) = mysql_async::Conn::new(opts).await else {
                            return false;
                        };
                        let ok = conn.query_drop("SELECT 1").await.is_ok();
                        let _ = conn.disconnect().await;
                        ok
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(5), attempt)
                .await
                .unwrap_or(false)
        })
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The user or group id (`flag` `-u` or `-g`) of `account`.
fn id(account: &str, flag: &str) -> Result<u32, String> {
    let out = Command::new("id")
        .arg(flag)
        .arg(account)
        .output()
        .map_err(|e| format!("id: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("no account {account} to run the server as"))
}

/// A loopback port nothing listens on now.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
