//! A CDC capture the fault tests share: a table in a source database (PostgreSQL, or
//! MySQL/MariaDB), its copy in a target database that a `sluice serve` node keeps up to date
//! through the postgres-upsert (mysql-upsert) built-in, a writer that inserts, updates, deletes,
//! changes keys and commits one large transaction, and a digest (row count and a checksum over
//! every column) to tell when the copy converged.

use super::server::Server;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// How long one fault test may take before it fails.
pub const BOUND: Duration = Duration::from_secs(240);

/// The writer's rounds (the large transaction comes after round 20).
pub const ROUNDS: i64 = 40;

/// The source database's engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Engine {
    /// PostgreSQL with `wal_level = logical`.
    Postgres,
    /// MySQL or MariaDB with a row-based binlog.
    MySql,
}

/// The shared PostgreSQL source database (`$SLUICE_TEST_POSTGRES`).
pub fn postgres_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// The shared MySQL/MariaDB source database (`$SLUICE_TEST_MYSQL`).
pub fn mysql_url() -> String {
    std::env::var("SLUICE_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// `url` with its database replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => url.to_string(),
    }
}

/// The MySQL target database, on the shared server.
const MYSQL_TARGET_DB: &str = "sluice_cdc_copy";

const PG_COLUMNS: &str = "id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), note text, paid boolean, raw bytea, doc jsonb, at timestamptz";

const MYSQL_COLUMNS: &str = "id BIGINT UNSIGNED PRIMARY KEY, customer VARCHAR(64) NOT NULL,
    amount DECIMAL(10,2), note TEXT, raw VARBINARY(8), at DATETIME(6)";

/// Whether the shared server of `engine` can be captured; when not, the test reports itself
/// skipped (or fails under `SLUICE_REQUIRE_SERVICES=1`) and should return.
pub fn shared_available(engine: Engine) -> bool {
    let url = match engine {
        Engine::Postgres => postgres_url(),
        Engine::MySql => mysql_url(),
    };
    match capturable(engine, &url) {
        Ok(()) => true,
        Err(e) => {
            sluice_engine::testing::skip(&e);
            false
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Whether the shared server of `engine` can hold the target (no replication needed); when
/// not, the test reports itself skipped (or fails) and should return.
pub fn target_available(engine: Engine) -> bool {
    let (url, reply) = match engine {
        Engine::Postgres => (postgres_url(), sql(&postgres_url(), "SELECT 1")),
        Engine::MySql => (mysql_url(), mysql(&mysql_url(), "SELECT 1")),
    };
    match reply {
        Ok(_) => true,
        Err(e) => {
            sluice_engine::testing::skip(&format!("{engine:?} not reachable at {url} ({e})"));
            false
        }
    }
}

/// Whether the server at `url` has logical replication (a row-based binlog).
fn capturable(engine: Engine, url: &str) -> Result<(), String> {
    match engine {
        Engine::Postgres => match sql(url, "SHOW wal_level") {
            Err(e) => Err(format!("PostgreSQL not reachable at {url} ({e})")),
            Ok(level) if level.first().cloned().flatten().as_deref() != Some("logical") => {
                Err("PostgreSQL without wal_level=logical".into())
            }
            Ok(_) => Ok(()),
        },
        Engine::MySql => match mysql(url, "SELECT CONCAT(@@log_bin + 0, ' ', @@binlog_format)") {
            Err(e) => Err(format!("MySQL not reachable at {url} ({e})")),
            Ok(on) if on.first().cloned().flatten().as_deref() != Some("1 ROW") => {
                Err("MySQL without a row-based binlog".into())
            }
            Ok(_) => Ok(()),
        },
    }
}

/// A captured table and its copy; dropped (with the slot), even when the test fails, when it
/// is dropped.
pub struct Capture {
    /// The source's engine.
    pub engine: Engine,
    /// The source database.
    pub source: String,
    /// The target database (on the shared server of the same engine).
    pub target: String,
    /// The table's name, in both.
    pub table: String,
}

impl Capture {
    /// A table named `name` and this process's id, captured from `source` (a database of
    /// `engine`) into the shared server's target database; both tables created anew, the
    /// source's holding rows 1 to `rows`.
    pub fn create(engine: Engine, source: String, name: &str, rows: i64) -> Capture {
        let table = format!("{name}_{}", std::process::id());
        let target = match engine {
            Engine::Postgres => with_database(&postgres_url(), "postgres"),
            Engine::MySql => with_database(&mysql_url(), MYSQL_TARGET_DB),
        };
        let capture = Capture {
            engine,
            source,
            target,
            table,
        };
        capture.cleanup();
        let table = &capture.table;
        match engine {
            Engine::Postgres => {
                sql(
                    &capture.source,
                    &format!(
                        "CREATE TABLE {table} ({PG_COLUMNS});
                         INSERT INTO {table} (id, customer, amount, note, paid, raw, doc, at)
                         SELECT g, 'pre' || g, g * 1.5, 'first ' || g, g % 3 = 0, '\\x0001ff', '[1, 2]', now()
                         FROM generate_series(1, {rows}) g;
                         ANALYZE {table}"
                    ),
                )
                .unwrap();
                sql(
                    &capture.target,
                    &format!("CREATE TABLE {table} ({PG_COLUMNS})"),
                )
                .unwrap();
            }
            Engine::MySql => {
                mysql(
                    &capture.source,
                    &format!(
                        "CREATE TABLE {table} ({MYSQL_COLUMNS}); {}",
                        mysql_rows(table, 1, rows, "pre")
                    ),
                )
                .unwrap();
                mysql(
                    &capture.target,
                    &format!("CREATE TABLE {table} ({MYSQL_COLUMNS})"),
                )
                .unwrap();
            }
        }
        capture
    }

    /// Writes a project in `dir` whose trigger (named after the table) loads each batch of
    /// `batch_size` changes into the target, with the trigger's further `settings` (`, key:
    /// value` each).
    pub fn project(&self, dir: &Path, batch_size: usize, settings: &str) {
        let (handler, captured) = match self.engine {
            Engine::Postgres => ("postgres-upsert", format!("public.{}", self.table)),
            Engine::MySql => ("mysql-upsert", self.table.clone()),
        };
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("sluice.yaml"),
            format!(
                "functions:\n  load: {{ runtime: builtin, handler: {handler}, options: {{ url: '{}' }} }}\n\
                 triggers:\n  {}: {{ cdc: '{}', tables: [{captured}], function: load, batch_size: {batch_size}, batch_timeout: 100ms{settings} }}\n",
                self.target, self.table, self.source
            ),
        )
        .unwrap();
    }

    /// Writes `rounds` of inserts (ids 100,000 and up), updates, deletes and key updates,
    /// each round one transaction; after round 20 a 10,000-row transaction.
    pub fn write(&self, rounds: std::ops::Range<i64>) {
        let table = &self.table;
        for round in rounds {
            let base = 100_000 + round * 100;
            let m = round % 7;
            match self.engine {
                Engine::Postgres => {
                    sql(
                        &self.source,
                        &format!(
                            "INSERT INTO {table} (id, customer, amount, note, paid, raw, doc, at)
                             SELECT g, 'c' || g, g % 1000 + 0.25, CASE WHEN g % 3 = 0 THEN NULL ELSE 'zoë ✓ ' || g END,
                                    g % 2 = 0, decode('00ff', 'hex'), jsonb_build_object('g', g), now()
                             FROM generate_series({base}, {base} + 49) g;
                             UPDATE {table} SET amount = amount + 1, note = NULL WHERE id % 7 = {m} AND id < 3000;
                             DELETE FROM {table} WHERE id % 13 = {m} AND id < 3000;
                             UPDATE {table} SET id = id + 500000 WHERE id BETWEEN {base} AND {base} + 4;"
                        ),
                    )
                    .unwrap();
                    if round == 20 {
                        sql(
                            &self.source,
                            &format!(
                                "INSERT INTO {table} (id, customer, amount, paid, doc, at)
                                 SELECT g, 'bulk', 1.00, true, '{{}}', now() FROM generate_series(1000000, 1009999) g"
                            ),
                        )
                        .unwrap();
                    }
                }
                Engine::MySql => {
                    mysql(
                        &self.source,
                        &format!(
                            "START TRANSACTION; {};
                             UPDATE {table} SET amount = amount + 1, note = NULL WHERE id % 7 = {m} AND id < 3000;
                             DELETE FROM {table} WHERE id % 13 = {m} AND id < 3000;
                             UPDATE {table} SET id = id + 500000 WHERE id BETWEEN {base} AND {base} + 4;
                             COMMIT",
                            mysql_rows(table, base, base + 49, "c")
                        ),
                    )
                    .unwrap();
                    if round == 20 {
                        mysql(
                            &self.source,
                            &mysql_rows(table, 1_000_000, 1_009_999, "bulk"),
                        )
                        .unwrap();
                    }
                }
            }
        }
    }

    /// Rows of the target meeting `condition` (0 while the target cannot be read).
    pub fn target_count(&self, condition: &str) -> u64 {
        let query = format!(
            "SELECT CAST(COUNT(*) AS CHAR(20)) FROM {} WHERE {condition}",
            self.table
        );
        let rows = match self.engine {
            Engine::Postgres => sql(&self.target, &query),
            Engine::MySql => mysql(&self.target, &query),
        };
        rows.ok()
            .and_then(|r| r.into_iter().flatten().next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The row count and a checksum over every column of the table in `url` (`None` while the
    /// database cannot be read).
    pub fn digest(&self, url: &str) -> Option<String> {
        let table = &self.table;
        let query = match self.engine {
            Engine::Postgres => format!(
                "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY id)), '') FROM {table} t"
            ),
            Engine::MySql => format!(
                "SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', id, customer,
                   COALESCE(amount, '~'), COALESCE(note, '~'), COALESCE(HEX(raw), '~'), COALESCE(at, '~')))), 0))
                 FROM {table}"
            ),
        };
        let rows = match self.engine {
            Engine::Postgres => sql(url, &query),
            Engine::MySql => mysql(url, &query),
        };
        rows.ok().and_then(|r| r.into_iter().flatten().next())
    }

    /// Waits until the target equals the source; the digest. At `deadline` the test fails
    /// with both digests and what `context` tells (the node's status and log).
    pub fn converge(&self, deadline: Instant, context: impl Fn() -> String) -> String {
        loop {
            let (source, target) = (self.digest(&self.source), self.digest(&self.target));
            if source.is_some() && source == target {
                return target.unwrap_or_default();
            }
            assert!(
                Instant::now() < deadline,
                "the target did not match the source within {BOUND:?}: source {source:?}, target {target:?}\n{}",
                context()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Drops both tables, and on PostgreSQL the trigger's slot and publication.
    fn cleanup(&self) {
        let table = &self.table;
        let drop_table = format!("DROP TABLE IF EXISTS {table}");
        match self.engine {
            Engine::Postgres => {
                let slot = format!("sluice_{table}");
                let _ = sql(
                    &self.source,
                    &format!(
                        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active_pid IS NOT NULL"
                    ),
                );
                for _ in 0..50 {
                    let dropped = sql(
                        &self.source,
                        &format!(
                            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}'"
                        ),
                    );
                    if dropped.is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = sql(
                    &self.source,
                    &format!("DROP PUBLICATION IF EXISTS {slot}; {drop_table}"),
                );
                let _ = sql(&self.target, &drop_table);
            }
            Engine::MySql => {
                let _ = mysql(
                    &with_database(&self.target, ""),
                    &format!("CREATE DATABASE IF NOT EXISTS {MYSQL_TARGET_DB}"),
                );
                let _ = mysql(&self.source, &drop_table);
                let _ = mysql(&self.target, &drop_table);
            }
        }
    }
}

/// The node's only CDC source, as `GET /v1/cdc` shows it.
pub fn source_status(server: &Server) -> Value {
    server.http("GET", "/v1/cdc", &[], b"").json()["sources"][0].clone()
}

/// The node's status of its source and its log, for a failure's message.
pub fn context(server: &Server) -> String {
    format!("{}\n{}", source_status(server), server.stderr())
}

/// Checks that the node streams without an error and that the large transaction
/// arrived whole; the source's status.
pub fn assert_streaming(server: &Server, capture: &Capture) -> Value {
    let source = source_status(server);
    assert_eq!(source["name"], capture.table.as_str());
    assert_eq!(source["phase"], "streaming", "{source}");
    assert!(source["error"].is_null(), "{source}");
    let bulk = match capture.engine {
        Engine::Postgres => "customer = 'bulk'",
        Engine::MySql => "customer LIKE 'bulk%'",
    };
    assert_eq!(
        capture.target_count(bulk),
        10_000,
        "the large transaction arrived whole"
    );
    source
}

/// Waits until `done` (failing the test at `deadline`, naming `what`).
pub fn wait_until(deadline: Instant, what: &str, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(Instant::now() < deadline, "not within {BOUND:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `sql` on PostgreSQL `url`; the first column of each row, or the error.
pub fn sql(url: &str, sql: &str) -> Result<Vec<Option<String>>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let messages = client.simple_query(sql).await.map_err(|e| e.to_string())?;
        Ok(messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
                _ => None,
            })
            .collect())
    })
}

/// Runs `statements` on MySQL `url`; the first column of the last one's rows, or the error.
pub fn mysql(url: &str, statements: &str) -> Result<Vec<Option<String>>, String> {
    use mysql_async::prelude::Queryable;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let opts = mysql_async::Opts::from_url(url).map_err(|e| e.to_string())?;
        let mut conn = mysql_async::Conn::new(opts)
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn
            .query_drop("SET SESSION max_recursive_iterations = 1000000")
            .await;
        let rows: Vec<Option<String>> = conn.query(statements).await.map_err(|e| e.to_string())?;
        let _ = conn.disconnect().await;
        Ok(rows)
    })
}

/// MySQL rows `from..=to` of `table` named `customer`.
fn mysql_rows(table: &str, from: i64, to: i64, customer: &str) -> String {
    format!(
        "INSERT INTO {table} (id, customer, amount, note, raw, at)
         WITH RECURSIVE g(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM g WHERE n < {to})
         SELECT n, CONCAT('{customer}', n), n % 1000 + 0.25,
                CASE WHEN n % 3 = 0 THEN NULL ELSE CONCAT('zoë ✓ ', n) END, X'00FF', NOW(6)
         FROM g"
    )
}
