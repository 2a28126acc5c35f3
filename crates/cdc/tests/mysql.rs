//! MySQL/MariaDB sources on a real server: a table with a column of every type is copied and
//! streamed with a concurrent writer into another database through the mysql-upsert loader until
//! the target equals the source; snapshot rows and streamed rows of the same values give the
//! same text; a DDL statement mid-stream passes through and later rows carry the new column;
//! messages carry their transaction's GTID; a source whose binlog file is gone resumes by GTID,
//! and one whose GTID position is gone too stops until a re-snapshot. Needs MariaDB (or MySQL) with a row-based
//! binlog at `$SLUICE_TEST_MYSQL` (default `mysql://root@127.0.0.1:3306/test`; skipped when
//! absent or the binlog is off, unless `SLUICE_REQUIRE_SERVICES=1`).

mod common;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};
use serde_json::Value;
use sluice_cdc::mysql::loader::MysqlUpsert;
use sluice_cdc::status::Status;
use sluice_cdc::{Batch, Sink};
use sluice_engine::store::Store;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The source database.
fn source_url() -> String {
    std::env::var("SLUICE_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// The target database, on the same server.
const TARGET_DB: &str = "sluice_cdc_copy";

fn target_url() -> String {
    common::with_database(&source_url(), TARGET_DB)
}

async fn connect(url: &str) -> Option<Conn> {
    Conn::new(Opts::from_url(url).ok()?).await.ok()
}

/// Both connections, or `None` (said) when the server is absent or its binlog is off.
async fn databases() -> Option<(Conn, Conn)> {
    let Some(mut source) = connect(&source_url()).await else {
        sluice_engine::testing::skip(&format!("MySQL not reachable at {}", source_url()));
        return None;
    };
    let on: Option<String> = source
        .query_first("SELECT CONCAT(@@log_bin + 0, ' ', @@binlog_format)")
        .await
        .ok()
        .flatten();
    if on.as_deref() != Some("1 ROW") {
        sluice_engine::testing::skip(&format!(
            "MySQL at {} has no row-based binlog (log_bin, binlog_format: {on:?}); .ci/run turns it on",
            source_url()
        ));
        return None;
    }
    source
        .query_drop(format!("CREATE DATABASE IF NOT EXISTS {TARGET_DB}"))
        .await
        .unwrap();
    source.query_drop("SET time_zone = '+00:00'").await.unwrap();
    let mut target = connect(&target_url()).await?;
    target.query_drop("SET time_zone = '+00:00'").await.unwrap();
    Some((source, target))
}

/// A column of every type a source maps.
const COLUMNS: &str = "id BIGINT UNSIGNED PRIMARY KEY, customer VARCHAR(64) NOT NULL,
    amount DECIMAL(10,2), note TEXT, flag TINYINT(1), tiny TINYINT UNSIGNED, small SMALLINT,
    medium MEDIUMINT UNSIGNED, big BIGINT, ratio FLOAT, score DOUBLE, born DATE,
    at DATETIME(3), stamp TIMESTAMP(6) NULL DEFAULT NULL, span TIME, yr YEAR, code CHAR(3),
    doc JSON, raw VARBINARY(8), blob_col BLOB, mood ENUM('sad','ok','glad'),
    tags SET('a','b','c'), bits BIT(10)";

/// The columns, for the checksum.
const NAMES: &str = "id, customer, amount, note, flag, tiny, small, medium, big, ratio, score, born, at, stamp, span, yr, code, doc, HEX(raw), HEX(blob_col), mood, tags, bits + 0";

/// Row count and a checksum over every column.
async fn digest(conn: &mut Conn, table: &str) -> (u64, u64) {
    let coalesced = NAMES
        .split(", ")
        .map(|c| format!("COALESCE({c}, '~')"))
        .collect::<Vec<_>>()
        .join(", ");
    conn.query_first(format!(
        "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', {coalesced}))), 0) FROM {table}"
    ))
    .await
    .unwrap()
    .unwrap()
}

/// Values for rows `g` of a `SELECT … FROM seq_A_to_B`-like generator (MariaDB's `seq`
/// engine is not assumed: a recursive CTE).
fn rows_sql(table: &str, from: u64, to: u64, customer: &str) -> String {
    format!(
        "INSERT INTO {table} (id, customer, amount, note, flag, tiny, small, medium, big, ratio, score,
           born, at, stamp, span, yr, code, doc, raw, blob_col, mood, tags, bits)
         WITH RECURSIVE g(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM g WHERE n < {to})
         SELECT n, CONCAT('{customer}', n), n % 1000 + 0.25,
           CASE WHEN n % 3 = 0 THEN NULL ELSE CONCAT('zoë ✓ 日本 ', n) END, n % 2, n % 256,
           -(n % 30000), n % 16777215, -n * 1000003, n / 7, n / 3, DATE('2026-01-01') + INTERVAL (n % 365) DAY,
           TIMESTAMP('2026-11-22 11:39:34.062') + INTERVAL n SECOND,
           FROM_UNIXTIME(1795347574 + n, '%Y-%m-%d %H:%i:%s.123456'),
           SEC_TO_TIME(n % 90000 - 40000), 1990 + n % 60, 'abc',
           JSON_OBJECT('g', n, 'tags', JSON_ARRAY('a', n)), UNHEX(CONCAT(LPAD(HEX(n % 256), 2, '0'), '00FF')),
           UNHEX('DEADBEEF00'), 1 + n % 3, n % 8, n % 1024
         FROM g"
    )
}

/// Lets the row generator's recursive CTE run 10,000 deep (MariaDB's and MySQL's settings).
async fn deep_recursion(conn: &mut Conn) {
    let _ = conn
        .query_drop("SET SESSION max_recursive_iterations = 100000")
        .await;
    let _ = conn
        .query_drop("SET SESSION cte_max_recursion_depth = 100000")
        .await;
}

/// The loader as a sink that also keeps every message it accepted.
struct LoaderSink {
    loader: Arc<MysqlUpsert>,
    /// The messages of the batches it accepted.
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Sink for LoaderSink {
    fn deliver(&self, batch: Arc<Batch>) -> sluice_cdc::sink::Delivery {
        let loader = self.loader.clone();
        let seen = self.seen.clone();
        Box::pin(async move {
            let messages = Value::Array(batch.messages());
            loader.apply(&messages).await?;
            if let Value::Array(list) = messages {
                seen.lock().unwrap().extend(list);
            }
            Ok(())
        })
    }
}

struct Fixture {
    source: Conn,
    target: Conn,
    table: String,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new(initial_rows: u64) -> Option<Fixture> {
        let (mut source, mut target) = databases().await?;
        let table = common::unique("cdc_my");
        source
            .query_drop(format!("CREATE TABLE {table} ({COLUMNS})"))
            .await
            .unwrap();
        if initial_rows > 0 {
            deep_recursion(&mut source).await;
            source
                .query_drop(rows_sql(&table, 1, initial_rows, "pre"))
                .await
                .unwrap();
        }
        target
            .query_drop(format!("CREATE TABLE {table} ({COLUMNS})"))
            .await
            .unwrap();
        let (store, dir) = common::store();
        Some(Fixture {
            source,
            target,
            table,
            store,
            _dir: dir,
        })
    }

    fn sink(&self) -> Arc<LoaderSink> {
        let options = serde_json::json!({ "url": target_url() });
        Arc::new(LoaderSink {
            loader: Arc::new(MysqlUpsert::from_options(options.as_object().unwrap()).unwrap()),
            seen: Arc::new(Mutex::new(Vec::new())),
        })
    }

    fn start(
        &self,
        sink: Arc<LoaderSink>,
    ) -> (
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
        Arc<Status>,
    ) {
        let config = common::config(&self.table, source_url(), self.table.clone());
        common::start(config, self.store.clone(), sink, "node-a")
    }

    /// Waits until the target equals the source (a generous bound so that a broken build ends).
    async fn converge(&mut self, status: &Status) {
        let mut last = None;
        for _ in 0..600 {
            let want = digest(&mut self.source, &self.table).await;
            let got = digest(&mut self.target, &self.table).await;
            if want == got {
                return;
            }
            last = Some((want, got));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "the target never matched the source: {last:?}; status {}",
            status.to_json()
        );
    }

    /// A loader sink, and the source started into it and streaming.
    async fn streaming(
        &self,
    ) -> (
        Arc<LoaderSink>,
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
        Arc<Status>,
    ) {
        let sink = self.sink();
        let (stop, task, status) = self.start(sink.clone());
        self.wait_streaming(&status).await;
        (sink, stop, task, status)
    }

    async fn wait_streaming(&self, status: &Status) {
        for _ in 0..600 {
            if status.phase().as_str() == "streaming" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the source never streamed: {}", status.to_json());
    }

    async fn cleanup(mut self) {
        let drop = format!("DROP TABLE IF EXISTS {}", self.table);
        let _ = self.source.query_drop(&drop).await;
        let _ = self.target.query_drop(&drop).await;
    }
}

/// Inserts, updates, deletes and key updates in many transactions, and one of 10,000 rows.
async fn write(conn: &mut Conn, table: &str) {
    deep_recursion(conn).await;
    for round in 0..20u64 {
        let base = 100_000 + round * 100;
        let m = round % 7;
        let mut tx = conn.start_transaction(Default::default()).await.unwrap();
        tx.query_drop(rows_sql(table, base, base + 49, "c"))
            .await
            .unwrap();
        tx.query_drop(format!(
            "UPDATE {table} SET amount = amount + 1, note = NULL, tags = 'a,c', mood = 'glad' WHERE id % 7 = {m} AND id < 2000"
        ))
        .await
        .unwrap();
        tx.query_drop(format!(
            "DELETE FROM {table} WHERE id % 11 = {m} AND id < 2000"
        ))
        .await
        .unwrap();
        tx.query_drop(format!(
            "UPDATE {table} SET id = id + 500000 WHERE id BETWEEN {base} AND {base} + 4"
        ))
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = conn.start_transaction(Default::default()).await.unwrap();
    tx.query_drop(rows_sql(table, 1_000_000, 1_009_999, "bulk"))
        .await
        .unwrap();
    tx.query_drop(format!(
        "UPDATE {table} SET customer = CONCAT('bulk-', id) WHERE id BETWEEN 1000000 AND 1000099"
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_binlog_with_a_concurrent_writer_converges() {
    let Some(mut f) = Fixture::new(3000).await else {
        return;
    };
    let (stop, task, status) = f.start(f.sink());
    let table = f.table.clone();
    write(&mut f.source, &table).await;
    f.converge(&status).await;
    let bulk: u64 = f
        .target
        .query_first(format!(
            "SELECT COUNT(*) FROM {table} WHERE customer LIKE 'bulk%'"
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bulk, 10_000, "the large transaction arrived whole");
    let _ = stop.send(true);
    task.await.unwrap();
    let stored = f.store.cdc_checkpoint(&f.table).unwrap().unwrap();
    assert_eq!(stored.phase, "streaming");
    let binlog = &stored.progress["binlog"];
    assert!(binlog["file"].as_str().unwrap().contains('.'), "{binlog}");
    assert!(binlog["pos"].as_u64().unwrap() > 4, "{binlog}");
    let view = status.to_json();
    assert!(
        view["checkpointBinlog"].as_str().unwrap().contains(':'),
        "{view}"
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_rows_and_streamed_rows_read_the_same() {
    let Some(mut f) = Fixture::new(0).await else {
        return;
    };
    let table = f.table.clone();
    let values = "'x', 10.50, NULL, 1, 255, -32768, 16777215, -9223372036854775808, 5.18, 0.1,
        '2024-02-29', '2026-11-22 11:39:34.062', '2026-11-22 11:39:34.123456', '-838:59:59',
        2024, 'é', '{\"a\": [1, 2]}', X'00FF', X'DEADBEEF', 'glad', 'a,c', b'1000000101'";
    let columns = "customer, amount, note, flag, tiny, small, medium, big, ratio, score, born, at, stamp, span, yr, code, doc, raw, blob_col, mood, tags, bits";
    f.source
        .query_drop(format!(
            "INSERT INTO {table} (id, {columns}) VALUES (18446744073709551615, {values})"
        ))
        .await
        .unwrap();
    let (sink, stop, task, status) = f.streaming().await;
    f.source
        .query_drop(format!(
            "INSERT INTO {table} (id, {columns}) VALUES (1, {values})"
        ))
        .await
        .unwrap();
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    let seen = sink.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let (snap, streamed) = (&seen[0], &seen[1]);
    assert_eq!(snap["_cdc"]["snapshot"], true);
    assert_eq!(streamed["_cdc"]["snapshot"], false);
    assert_eq!(snap["data"][0]["id"], "18446744073709551615");
    assert_eq!(streamed["data"][0]["id"], "1");
    let want = serde_json::json!({
        "customer": "x", "amount": "10.50", "note": null, "flag": "1", "tiny": "255",
        "small": "-32768", "medium": "16777215", "big": "-9223372036854775808", "ratio": "5.18",
        "score": "0.1", "born": "2024-02-29", "at": "2026-11-22 11:39:34.062",
        "stamp": "2026-11-22 11:39:34.123456", "span": "-838:59:59", "yr": "2024", "code": "é",
        "raw": "\u{0}\u{ff}", "blob_col": "\u{de}\u{ad}\u{be}\u{ef}", "mood": "glad",
        "tags": "a,c", "bits": "517"
    });
    for message in [snap, streamed] {
        for (column, value) in want.as_object().unwrap() {
            assert_eq!(
                &message["data"][0][column], value,
                "column {column} of {message}"
            );
        }
        let doc: Value = serde_json::from_str(message["data"][0]["doc"].as_str().unwrap()).unwrap();
        assert_eq!(doc, serde_json::json!({"a": [1, 2]}));
        assert_eq!(message["database"], "test");
        assert_eq!(message["pkNames"], serde_json::json!(["id"]));
        assert_eq!(message["mysqlType"]["id"], "bigint(20) unsigned");
        assert_eq!(message["mysqlType"]["mood"], "enum('sad','ok','glad')");
        assert_eq!(message["sqlType"]["id"], 3);
        assert_eq!(message["sqlType"]["amount"], 3);
        assert_eq!(message["sqlType"]["note"], 2005);
        assert_eq!(message["sqlType"]["raw"], 2004);
        assert_eq!(message["sqlType"]["at"], 93);
        assert!(message["_cdc"]["file"].as_str().unwrap().contains('.'));
    }
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ddl_statement_passes_through_and_later_rows_carry_the_new_column() {
    let Some(mut f) = Fixture::new(100).await else {
        return;
    };
    let table = f.table.clone();
    let (sink, stop, task, status) = f.streaming().await;
    f.source
        .query_drop(format!("UPDATE {table} SET note = 'before' WHERE id = 1"))
        .await
        .unwrap();
    // The target learns the column first (a loader does not change its target's schema).
    f.target
        .query_drop(format!(
            "ALTER TABLE {table} ADD COLUMN status VARCHAR(16) DEFAULT 'new'"
        ))
        .await
        .unwrap();
    f.source
        .query_drop(format!(
            "ALTER TABLE {table} ADD COLUMN status VARCHAR(16) DEFAULT 'new'"
        ))
        .await
        .unwrap();
    f.source
        .query_drop(format!(
            "UPDATE {table} SET status = 'shipped' WHERE id <= 10; {}",
            rows_sql(&table, 5000, 5009, "after")
        ))
        .await
        .unwrap();
    f.converge(&status).await;
    let shipped: u64 = f
        .target
        .query_first(format!(
            "SELECT COUNT(*) FROM {table} WHERE status = 'shipped'"
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shipped, 10);
    let _ = stop.send(true);
    task.await.unwrap();
    let seen = sink.seen.lock().unwrap().clone();
    let ddl = seen
        .iter()
        .position(|m| m["isDdl"] == true)
        .expect("a DDL message");
    assert_eq!(seen[ddl]["type"], "ALTER");
    let gtid = seen[ddl]["gtid"].as_str().unwrap();
    assert_eq!(
        gtid.split('-').count(),
        3,
        "the statement's own GTID: {gtid}"
    );
    assert_ne!(seen[ddl - 1]["gtid"], seen[ddl]["gtid"]);
    assert!(
        seen[ddl]["sql"]
            .as_str()
            .unwrap()
            .contains("ADD COLUMN status"),
        "{}",
        seen[ddl]
    );
    assert_eq!(seen[ddl]["data"], Value::Null);
    assert!(
        seen[..ddl]
            .iter()
            .all(|m| m["data"][0].get("status").is_none())
    );
    let after: Vec<&Value> = seen[ddl + 1..].iter().collect();
    assert!(after.len() >= 20, "{after:?}");
    assert!(after.iter().all(|m| m["data"][0].get("status").is_some()));
    assert!(after.iter().any(|m| m["data"][0]["status"] == "shipped"));
    assert_eq!(after.last().unwrap()["data"][0]["status"], "new");
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_source_resumes_from_its_binlog_position() {
    let Some(mut f) = Fixture::new(500).await else {
        return;
    };
    let table = f.table.clone();
    let (stop, task, status) = f.start(f.sink());
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    // Changes while no source runs arrive after the restart, from the stored position.
    write(&mut f.source, &table).await;
    let sink = f.sink();
    let (stop, task, status) = f.start(sink.clone());
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    let seen = sink.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|m| m["_cdc"]["snapshot"] == false),
        "no second snapshot"
    );
    f.cleanup().await;
}

/// Stores `change` applied to the source's stored binlog progress (as a node that stopped would
/// have left it), taking and releasing the lease as a node does.
fn rewrite_stored(f: &Fixture, change: impl FnOnce(&mut Value)) {
    let mut stored = f.store.cdc_checkpoint(&f.table).unwrap().unwrap();
    change(&mut stored.progress["binlog"]);
    store_checkpoint(f, &stored);
}

/// Stores `checkpoint` for the source, taking and releasing the lease as a node does.
fn store_checkpoint(f: &Fixture, checkpoint: &sluice_engine::store::CdcCheckpoint) {
    let now = sluice_cdc::sink::now_ms();
    assert!(
        f.store
            .cdc_lease(&f.table, "node-a", now, now + 60_000)
            .unwrap()
    );
    assert!(f.store.cdc_save("node-a", checkpoint).unwrap());
    f.store.cdc_release(&f.table, "node-a").unwrap();
}

/// The messages `sink` accepted, once there are at least `n` (failing the test after a minute).
async fn wait_seen(sink: &LoaderSink, n: usize) -> Vec<Value> {
    for _ in 0..600 {
        let seen = sink.seen.lock().unwrap().clone();
        if seen.len() >= n {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} messages arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_sent_again_after_a_resume_by_gtid_keeps_its_id() {
    let Some(mut f) = Fixture::new(0).await else {
        return;
    };
    let table = f.table.clone();
    let (stop, task, status) = f.start(f.sink());
    f.wait_streaming(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    let before = f.store.cdc_checkpoint(&f.table).unwrap().unwrap();
    let sink = f.sink();
    let (stop, task, status) = f.start(sink.clone());
    f.source
        .query_drop(format!(
            "START TRANSACTION; {}; UPDATE {table} SET note = 'again' WHERE id = 2; COMMIT",
            rows_sql(&table, 1, 3, "t")
        ))
        .await
        .unwrap();
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    let first = sink.seen.lock().unwrap().clone();
    assert_eq!(first.len(), 4, "{first:?}");
    // Back to the position before the transaction, in a file the server does not have: the
    // server finds the transaction by the GTID position and sends it again.
    let mut rewound = before.clone();
    rewound.progress["binlog"]["file"] = "mysql-bin.000000".into();
    store_checkpoint(&f, &rewound);
    let sink = f.sink();
    let (stop, task, _) = f.start(sink.clone());
    let again = wait_seen(&sink, first.len()).await;
    let _ = stop.send(true);
    task.await.unwrap();
    let ids = |messages: &[Value]| -> Vec<(Value, Value)> {
        messages
            .iter()
            .map(|m| (m["_cdc"]["id"].clone(), m["gtid"].clone()))
            .collect()
    };
    assert_eq!(ids(&again), ids(&first));
    assert!(first.iter().all(|m| m["gtid"] == first[0]["gtid"]));
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_whose_binlog_file_is_gone_resumes_by_gtid() {
    let Some(mut f) = Fixture::new(10).await else {
        return;
    };
    let table = f.table.clone();
    let (stop, task, status) = f.start(f.sink());
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    let stored = f.store.cdc_checkpoint(&f.table).unwrap().unwrap();
    let gtid = stored.progress["binlog"]["gtid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        gtid.contains('-'),
        "MariaDB's GTID position is stored: {stored:?}"
    );
    // The stored file is one the server does not have (as after PURGE BINARY LOGS).
    rewrite_stored(&f, |binlog| binlog["file"] = "mysql-bin.000000".into());
    f.source
        .query_drop(rows_sql(&table, 5000, 5099, "while-away"))
        .await
        .unwrap();
    let sink = f.sink();
    let (stop, task, status) = f.start(sink.clone());
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    let seen = sink.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 100, "exactly the changes made meanwhile");
    assert!(seen.iter().all(|m| m["_cdc"]["snapshot"] == false));
    let view = status.to_json();
    assert!(view["error"].is_null(), "{view}");
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_carry_their_transactions_gtid() {
    let Some(mut f) = Fixture::new(0).await else {
        return;
    };
    let table = f.table.clone();
    let (sink, stop, task, status) = f.streaming().await;
    let mut gtids = Vec::new();
    for (from, to) in [(1, 3), (4, 4)] {
        f.source
            .query_drop(rows_sql(&table, from, to, "g"))
            .await
            .unwrap();
        // This session's last GTID (other sessions write to the server meanwhile).
        let last: String = f
            .source
            .query_first("SELECT @@last_gtid")
            .await
            .unwrap()
            .unwrap();
        gtids.push(last);
    }
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    let seen = sink.seen.lock().unwrap().clone();
    let of = |id: &str| -> Vec<&Value> {
        seen.iter()
            .filter(|m| m["data"][0]["id"] == id)
            .map(|m| &m["gtid"])
            .collect()
    };
    for id in ["1", "2", "3"] {
        assert_eq!(of(id), [&Value::from(gtids[0].clone())], "row {id}");
    }
    assert_eq!(of("4"), [&Value::from(gtids[1].clone())]);
    assert_ne!(gtids[0], gtids[1]);
    // The stored GTID position is at least as far as the last message's.
    let stored = f.store.cdc_checkpoint(&f.table).unwrap().unwrap();
    let position = stored.progress["binlog"]["gtid"]
        .as_str()
        .unwrap()
        .to_string();
    let seq = |gtid: &str| -> u64 { gtid.rsplit('-').next().unwrap().parse().unwrap() };
    let domain = gtids[1].split('-').next().unwrap().to_string();
    let entry = position
        .split(',')
        .find(|e| e.split('-').next() == Some(domain.as_str()))
        .unwrap_or_else(|| panic!("domain {domain} in {position}"));
    assert!(
        seq(entry) >= seq(&gtids[1]),
        "{position} after {}",
        gtids[1]
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_binlog_file_stops_the_source_until_a_resnapshot() {
    let Some(mut f) = Fixture::new(10).await else {
        return;
    };
    let (stop, task, status) = f.start(f.sink());
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    // Neither the stored file nor a transaction of the stored GTID position is on the server
    // (as when the files holding them were purged).
    let position: String = f
        .source
        .query_first("SELECT @@gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    let unknown: Vec<String> = position
        .split(',')
        .map(|e| format!("{}-999999999999", e.rsplit_once('-').unwrap().0))
        .collect();
    let unknown = unknown.join(",");
    rewrite_stored(&f, |binlog| {
        binlog["file"] = "mysql-bin.000000".into();
        binlog["gtid"] = unknown.clone().into();
    });
    let (stop, task, status) = f.start(f.sink());
    let error = common::failure(&status).await;
    assert!(error.contains("was purged"), "{error}");
    assert!(error.contains(&f.table), "names the source: {error}");
    assert!(error.contains(&unknown), "names the GTID position: {error}");
    assert!(
        error.contains("mysql-bin.000000:"),
        "names the position: {error}"
    );
    assert!(error.contains("sluice cdc resnapshot"), "{error}");
    let _ = stop.send(true);
    task.await.unwrap();
    assert!(f.store.cdc_reset(&f.table).unwrap());
    let (stop, task, status) = f.start(f.sink());
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    f.cleanup().await;
}
