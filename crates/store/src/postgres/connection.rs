//! One PostgreSQL connection, kept on a thread of its own and reachable from any thread.
//!
//! The thread runs a current-thread tokio runtime that drives the connection; a call is a job
//! sent to it over a channel, and the caller waits for the answer on a std channel. Waiting on a
//! std channel blocks the same way on a plain thread and on a thread inside a tokio runtime, so
//! the synchronous [`Store`](sluice_engine::store::Store) methods work from both (inside a
//! runtime they block that worker thread for the call, as the SQLite store does).
//!
//! A connection found closed (the server restarted, the backend was terminated, the network
//! dropped) is opened again on the next call.

use crate::codec::{Row, bad_column};
use sluice_engine::store::StoreError;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Statement};

/// A future run on the connection's thread, borrowing the connection.
pub(crate) type Local<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What the connection's thread runs: one call, answering on its own channel.
type Job = Box<dyn for<'a> FnOnce(&'a mut Session) -> Local<'a, ()> + Send>;

/// Where to connect: the settings of a store URL, and the schema its tables live in.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    config: Config,
    schema: Option<String>,
}

impl Target {
    /// Parses `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?PARAMS]` (or `postgresql://`): the
    /// parameters tokio-postgres knows, plus `schema=NAME` (lower-case letters, digits and `_`),
    /// which puts the store's tables in that schema through the connection's `search_path`.
    /// Without TLS support, `sslmode=require` is refused.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("a PostgreSQL URL starts with postgres:// or postgresql://".into());
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut schema = None;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("schema", name)) => schema = Some(schema_name(name)?),
                _ => rest.push(pair),
            }
        }
        let url = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut config: Config = url.parse().map_err(|e| describe(&e))?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err(
                "sslmode=require: this build connects without TLS (reach a remote server through a tunnel)"
                    .into(),
            );
        }
        if config.get_application_name().is_none() {
            config.application_name("sluice");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if let Some(schema) = &schema {
            let options = match config.get_options() {
                Some(o) => format!("{o} -csearch_path={schema}"),
                None => format!("-csearch_path={schema}"),
            };
            config.options(&options);
        }
        Ok(Target { config, schema })
    }

    /// The schema given with `schema=`, if any.
    pub(crate) fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
}

/// A schema name usable unquoted: lower-case ASCII letters, digits and `_`, not starting with
/// a digit, at most 63 bytes.
fn schema_name(name: &str) -> Result<String, String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(name.to_string())
    } else {
        Err(format!(
            "schema '{name}': use lower-case letters, digits and _ (not starting with a digit)"
        ))
    }
}

/// The message of a client error, with the server's own message for a database error.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Classifies a client error: constraint violations are conflicts; bad data, corrupt files and
/// tables not shaped as expected are corruption; anything else (connection lost, server
/// shutting down, serialization failures, deadlocks, permissions) may pass on a retry.
pub(crate) fn classify(e: tokio_postgres::Error) -> StoreError {
    let message = describe(&e);
    match e.code().map(|c| c.code()) {
        Some(c) if c.starts_with("23") => StoreError::Conflict(message),
        Some(c)
            if c.starts_with("22")
                || matches!(c, "42P01" | "42703" | "42804" | "XX001" | "XX002") =>
        {
            StoreError::Corrupt(message)
        }
        _ => StoreError::Unavailable(message),
    }
}

impl Row for tokio_postgres::Row {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.try_get(i).map_err(|e| bad_column(i, describe(&e)))
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.try_get(i).map_err(|e| bad_column(i, describe(&e)))
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.try_get(i).map_err(|e| bad_column(i, describe(&e)))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.try_get(i).map_err(|e| bad_column(i, describe(&e)))
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.try_get(i).map_err(|e| bad_column(i, describe(&e)))
    }
}

/// An open connection with the statements it prepared.
pub(crate) struct Connection {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl Connection {
    async fn open(target: &Target) -> Result<Connection, StoreError> {
        let (client, connection) = target.config.connect(NoTls).await.map_err(classify)?;
        // Drives the socket until the connection closes; the client then reports it closed.
        tokio::spawn(connection);
        Ok(Connection {
            client,
            statements: HashMap::new(),
        })
    }

    /// The statement for `sql`, prepared once per connection.
    pub(crate) async fn prepare(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let statement = self.client.prepare(sql).await.map_err(classify)?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// The rows of a (prepared) query.
    pub(crate) async fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        let statement = self.prepare(sql).await?;
        self.client
            .query(&statement, params)
            .await
            .map_err(classify)
    }

    /// Runs a (prepared) statement; returns how many rows it changed.
    pub(crate) async fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let statement = self.prepare(sql).await?;
        self.client
            .execute(&statement, params)
            .await
            .map_err(classify)
    }

    /// The client, to open a transaction on.
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// The connection's thread-side state: where to connect, and the connection once open.
struct Session {
    target: Target,
    connection: Option<Connection>,
}

impl Session {
    /// Runs `job` on the connection, opening one first if there is none or it closed.
    async fn run<T>(
        &mut self,
        job: impl for<'a> FnOnce(&'a mut Connection) -> Local<'a, Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self
            .connection
            .as_ref()
            .is_none_or(|c| c.client.is_closed())
        {
            self.connection = None;
            self.connection = Some(Connection::open(&self.target).await?);
        }
        let Some(connection) = self.connection.as_mut() else {
            return Err(StoreError::Unavailable("no PostgreSQL connection".into()));
        };
        let result = job(connection).await;
        if connection.client.is_closed() {
            self.connection = None;
        }
        result
    }
}

/// The thread a connection lives on. Dropping it ends the thread and closes the connection.
pub(crate) struct Worker {
    jobs: Option<mpsc::UnboundedSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the PostgreSQL connection thread stopped".into())
}

impl Worker {
    /// Starts the thread; the connection opens with the first call.
    pub(crate) fn start(target: Target) -> Result<Worker, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("starting the PostgreSQL client: {e}")))?;
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("sluice-postgres".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut session = Session {
                        target,
                        connection: None,
                    };
                    while let Some(job) = queue.recv().await {
                        job(&mut session).await;
                    }
                });
            })
            .map_err(|e| StoreError::Unavailable(format!("starting the PostgreSQL client: {e}")))?;
        Ok(Worker {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `job` on the connection's thread and waits for its result.
    pub(crate) fn call<T, F>(&self, job: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a mut Connection) -> Local<'a, Result<T, StoreError>> + Send + 'static,
    {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move |session| {
            Box::pin(async move {
                // Nobody to tell when the caller is gone (its thread panicked).
                let _ = answer.send(session.run(job).await);
            })
        });
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        answered.recv().map_err(|_| stopped())?
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
