//! A node streaming a PostgreSQL table into another database through the postgres-upsert
//! built-in (and a MariaDB table through mysql-upsert) is killed with SIGKILL while a writer
//! inserts, updates, deletes, changes keys and commits a 10,000-row transaction; once restarted
//! it converges: the target table equals the source (row count and a checksum over every
//! column). Needs PostgreSQL with `wal_level=logical` and MariaDB (or MySQL) with a row-based
//! binlog (each skipped when absent, unless `SLUICE_REQUIRE_SERVICES=1`).

mod common;

use common::server::Server;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// How long the whole test may take before it fails.
const BOUND: Duration = Duration::from_secs(240);

fn source_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// `url` with its database replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => url.to_string(),
    }
}

fn target_url() -> String {
    with_database(&source_url(), "postgres")
}

/// Runs `sql` on `url`; the first column of each row, or the error.
fn sql(url: &str, sql: &str) -> Result<Vec<Option<String>>, String> {
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

fn one(url: &str, query: &str) -> String {
    sql(url, query)
        .unwrap()
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_default()
}

fn digest(url: &str, table: &str) -> String {
    one(
        url,
        &format!(
            "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY id)), '') FROM {table} t"
        ),
    )
}

const COLUMNS: &str = "id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), note text, paid boolean, raw bytea, doc jsonb, at timestamptz";

fn project(dir: &Path, table: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("sluice.yaml"),
        format!(
            "functions:\n  load: {{ runtime: builtin, handler: postgres-upsert, options: {{ url: '{}' }} }}\n\
             triggers:\n  {table}: {{ cdc: '{}', tables: [public.{table}], function: load, batch_size: 200, batch_timeout: 100ms }}\n",
            target_url(),
            source_url()
        ),
    )
    .unwrap();
}

/// Inserts, updates, deletes and key updates in many transactions, then a large one.
fn write(table: &str) {
    let url = source_url();
    for round in 0..40i64 {
        let base = 100_000 + round * 100;
        sql(
            &url,
            &format!(
                "INSERT INTO {table} (id, customer, amount, note, paid, raw, doc, at)
                 SELECT g, 'c' || g, g % 1000 + 0.25, CASE WHEN g % 3 = 0 THEN NULL ELSE 'zoë ✓ ' || g END,
                        g % 2 = 0, decode('00ff', 'hex'), jsonb_build_object('g', g), now()
                 FROM generate_series({base}, {base} + 49) g;
                 UPDATE {table} SET amount = amount + 1, note = NULL WHERE id % 7 = {m} AND id < 3000;
                 DELETE FROM {table} WHERE id % 13 = {m} AND id < 3000;
                 UPDATE {table} SET id = id + 500000 WHERE id BETWEEN {base} AND {base} + 4;",
                m = round % 7
            ),
        )
        .unwrap();
        if round == 20 {
            sql(
                &url,
                &format!(
                    "INSERT INTO {table} (id, customer, amount, paid, doc, at)
                     SELECT g, 'bulk', 1.00, true, '{{}}', now() FROM generate_series(1000000, 1009999) g"
                ),
            )
            .unwrap();
        }
    }
}

fn wait_until(deadline: Instant, what: &str, mut done: impl FnMut() -> bool) {
    while !done() {
        assert!(Instant::now() < deadline, "not within {BOUND:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn cleanup(table: &str) {
    let slot = format!("sluice_{table}");
    let _ = sql(
        &source_url(),
        &format!(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active_pid IS NOT NULL"
        ),
    );
    for _ in 0..50 {
        let dropped = sql(
            &source_url(),
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
        &source_url(),
        &format!("DROP PUBLICATION IF EXISTS {slot}; DROP TABLE IF EXISTS {table}"),
    );
    let _ = sql(&target_url(), &format!("DROP TABLE IF EXISTS {table}"));
}

#[test]
fn a_node_killed_mid_stream_converges_after_a_restart() {
    match sql(&source_url(), "SHOW wal_level") {
        Err(e) => {
            return sluice_engine::testing::skip(&format!(
                "PostgreSQL not reachable at {} ({e})",
                source_url()
            ));
        }
        Ok(level) if level.first().cloned().flatten().as_deref() != Some("logical") => {
            return sluice_engine::testing::skip("PostgreSQL without wal_level=logical");
        }
        Ok(_) => {}
    }
    let table = format!("cdc_kill_{}", std::process::id());
    cleanup(&table);
    sql(
        &source_url(),
        &format!(
            "CREATE TABLE {table} ({COLUMNS});
             INSERT INTO {table} (id, customer, amount, note, paid, raw, doc, at)
             SELECT g, 'pre' || g, g * 1.5, 'first ' || g, g % 3 = 0, '\\x0001ff', '[1, 2]', now()
             FROM generate_series(1, 3000) g"
        ),
    )
    .unwrap();
    sql(&target_url(), &format!("CREATE TABLE {table} ({COLUMNS})")).unwrap();
    let deadline = Instant::now() + BOUND;
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
    project(&proj, &table);

    let mut server = Server::start(&data, &proj);
    let writer = {
        let table = table.clone();
        std::thread::spawn(move || write(&table))
    };
    wait_until(deadline, "the stream delivering past the snapshot", || {
        one(
            &target_url(),
            &format!("SELECT count(*) FROM {table} WHERE id >= 100000"),
        )
        .parse::<u64>()
        .unwrap_or(0)
            > 300
    });
    server.kill();
    let at_kill = one(&target_url(), &format!("SELECT count(*) FROM {table}"));
    let server = Server::start(&data, &proj);
    writer.join().unwrap();
    wait_until(deadline, "the target matching the source", || {
        digest(&source_url(), &table) == digest(&target_url(), &table)
    });
    let bulk = one(
        &target_url(),
        &format!("SELECT count(*) FROM {table} WHERE customer = 'bulk'"),
    );
    assert_eq!(bulk, "10000", "the large transaction arrived whole");
    let status = server.http("GET", "/v1/cdc", &[], b"").json();
    let source = &status["sources"][0];
    assert_eq!(source["name"], table.as_str());
    assert_eq!(source["phase"], "streaming", "{status}");
    assert!(source["error"].is_null(), "{status}");
    eprintln!(
        "{} rows in the target at the kill; converged at {}",
        at_kill,
        digest(&target_url(), &table)
    );
    drop(server);
    cleanup(&table);
}

/// The MySQL/MariaDB source database (`$SLUICE_TEST_MYSQL`).
fn mysql_url() -> String {
    std::env::var("SLUICE_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// The MySQL target database, on the same server.
const MYSQL_TARGET_DB: &str = "sluice_cdc_copy";

fn mysql_target_url() -> String {
    with_database(&mysql_url(), MYSQL_TARGET_DB)
}

/// Runs `statements` on MySQL `url`; the first column of the last one's rows, or the error.
fn mysql(url: &str, statements: &str) -> Result<Vec<Option<String>>, String> {
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
            .query_drop("SET SESSION max_recursive_iterations = 100000")
            .await;
        let rows: Vec<Option<String>> = conn.query(statements).await.map_err(|e| e.to_string())?;
        let _ = conn.disconnect().await;
        Ok(rows)
    })
}

fn mysql_digest(url: &str, table: &str) -> String {
    mysql(
        url,
        &format!(
            "SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(CONCAT_WS('|', id, customer,
               COALESCE(amount, '~'), COALESCE(note, '~'), COALESCE(HEX(raw), '~'), COALESCE(at, '~')))), 0))
             FROM {table}"
        ),
    )
    .unwrap()
    .into_iter()
    .flatten()
    .next()
    .unwrap_or_default()
}

const MYSQL_COLUMNS: &str = "id BIGINT UNSIGNED PRIMARY KEY, customer VARCHAR(64) NOT NULL,
    amount DECIMAL(10,2), note TEXT, raw VARBINARY(8), at DATETIME(6)";

/// Rows `from..=to` named `customer`.
fn mysql_rows(table: &str, from: u64, to: u64, customer: &str) -> String {
    format!(
        "INSERT INTO {table} (id, customer, amount, note, raw, at)
         WITH RECURSIVE g(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM g WHERE n < {to})
         SELECT n, CONCAT('{customer}', n), n % 1000 + 0.25,
                CASE WHEN n % 3 = 0 THEN NULL ELSE CONCAT('zoë ✓ ', n) END, X'00FF', NOW(6)
         FROM g"
    )
}

/// The MySQL writer: as [`write`], in MySQL's SQL.
fn mysql_write(table: &str) {
    let url = mysql_url();
    for round in 0..40u64 {
        let base = 100_000 + round * 100;
        let m = round % 7;
        mysql(
            &url,
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
            mysql(&url, &mysql_rows(table, 1_000_000, 1_009_999, "bulk")).unwrap();
        }
    }
}

#[test]
fn a_node_killed_mid_binlog_converges_after_a_restart() {
    match mysql(
        &mysql_url(),
        "SELECT CONCAT(@@log_bin + 0, ' ', @@binlog_format)",
    ) {
        Err(e) => {
            return sluice_engine::testing::skip(&format!(
                "MySQL not reachable at {} ({e})",
                mysql_url()
            ));
        }
        Ok(on) if on.first().cloned().flatten().as_deref() != Some("1 ROW") => {
            return sluice_engine::testing::skip("MySQL without a row-based binlog");
        }
        Ok(_) => {}
    }
    let table = format!("cdc_kill_my_{}", std::process::id());
    mysql(
        &mysql_url(),
        &format!("CREATE DATABASE IF NOT EXISTS {MYSQL_TARGET_DB}"),
    )
    .unwrap();
    let drop_table = format!("DROP TABLE IF EXISTS {table}");
    mysql(&mysql_url(), &drop_table).unwrap();
    mysql(&mysql_target_url(), &drop_table).unwrap();
    mysql(
        &mysql_url(),
        &format!(
            "CREATE TABLE {table} ({MYSQL_COLUMNS}); {}",
            mysql_rows(&table, 1, 3000, "pre")
        ),
    )
    .unwrap();
    mysql(
        &mysql_target_url(),
        &format!("CREATE TABLE {table} ({MYSQL_COLUMNS})"),
    )
    .unwrap();
    let deadline = Instant::now() + BOUND;
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("sluice.yaml"),
        format!(
            "functions:\n  load: {{ runtime: builtin, handler: mysql-upsert, options: {{ url: '{}' }} }}\n\
             triggers:\n  {table}: {{ cdc: '{}', tables: [{table}], function: load, batch_size: 200, batch_timeout: 100ms }}\n",
            mysql_target_url(),
            mysql_url()
        ),
    )
    .unwrap();
    let count = |condition: &str| -> u64 {
        mysql(
            &mysql_target_url(),
            &format!("SELECT CAST(COUNT(*) AS CHAR) FROM {table} WHERE {condition}"),
        )
        .ok()
        .and_then(|r| r.into_iter().flatten().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
    };

    let mut server = Server::start(&data, &proj);
    let writer = {
        let table = table.clone();
        std::thread::spawn(move || mysql_write(&table))
    };
    wait_until(deadline, "the binlog delivering past the snapshot", || {
        count("id >= 100000") > 300
    });
    server.kill();
    let at_kill = count("1");
    let server = Server::start(&data, &proj);
    writer.join().unwrap();
    wait_until(deadline, "the target matching the source", || {
        mysql_digest(&mysql_url(), &table) == mysql_digest(&mysql_target_url(), &table)
    });
    assert_eq!(
        count("customer LIKE 'bulk%'"),
        10_000,
        "the large transaction arrived whole"
    );
    let status = server.http("GET", "/v1/cdc", &[], b"").json();
    let source = &status["sources"][0];
    assert_eq!(source["phase"], "streaming", "{status}");
    assert!(source["error"].is_null(), "{status}");
    let stored = source["storedBinlog"].as_str().unwrap_or_default();
    assert!(stored.contains(".0") && stored.contains(':'), "{status}");
    assert!(source["checkpointBinlog"].as_str().is_some(), "{status}");
    eprintln!(
        "{at_kill} rows in the target at the kill; converged at {}",
        mysql_digest(&mysql_target_url(), &table)
    );
    drop(server);
    let _ = mysql(&mysql_url(), &drop_table);
    let _ = mysql(&mysql_target_url(), &drop_table);
}
