//! A source copies and streams a table with a concurrent writer into a target table through
//! the postgres-upsert loader; the target ends equal to the source. Needs PostgreSQL with
//! `wal_level=logical` at `$SLUICE_TEST_POSTGRES` (skipped when absent, unless
//! `SLUICE_REQUIRE_SERVICES=1`).

mod common;

use serde_json::Value;
use sluice_cdc::loader::PostgresUpsert;
use sluice_cdc::source::{CdcConfig, Source};
use sluice_cdc::status::Status;
use sluice_cdc::{Batch, Format, Sink};
use sluice_engine::store::Store;
use sluice_queues::triggers::Target;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_postgres::{Client, NoTls};

/// The server, and the database standing in for the analytics store.
fn source_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn target_url() -> String {
    common::with_database(&source_url(), "postgres")
}

async fn connect(url: &str) -> Option<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.ok()?;
    tokio::spawn(conn);
    Some(client)
}

/// Both databases, or `None` (said) when the server is absent or not logical.
async fn databases() -> Option<(Client, Client)> {
    let reached = match (connect(&source_url()).await, connect(&target_url()).await) {
        (Some(s), Some(t)) => Some((s, t)),
        _ => None,
    };
    let Some((s, t)) = reached else {
        sluice_engine::testing::skip(&format!("PostgreSQL not reachable at {}", source_url()));
        return None;
    };
    let level: String = s.query_one("SHOW wal_level", &[]).await.ok()?.get(0);
    if level != "logical" {
        sluice_engine::testing::skip(&format!("PostgreSQL has wal_level={level}, not logical"));
        return None;
    }
    Some((s, t))
}

const COLUMNS: &str =
    "id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2), note text,
    paid boolean, raw bytea, doc jsonb, at timestamptz";

/// Count and checksum over every column, in key order.
async fn digest(client: &Client, table: &str) -> (i64, String) {
    let row = client
        .query_one(
            &format!(
                "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY id)), '') FROM {table} t"
            ),
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// The loader as a sink, refusing every `fail_every`th batch; it applies the changes of every
/// other batch straight and the others' Canal-JSON messages, so that both paths converge, and
/// notes the key and the `_cdc.ordinal` of every snapshot row it delivered.
struct LoaderSink {
    loader: Arc<PostgresUpsert>,
    calls: AtomicU64,
    fail_every: Option<u64>,
    refused: AtomicU64,
    reads: Arc<Mutex<Vec<(String, u64)>>>,
}

impl Sink for LoaderSink {
    fn deliver(&self, batch: Arc<Batch>) -> sluice_cdc::sink::Delivery {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if self.fail_every.is_some_and(|every| n.is_multiple_of(every)) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Box::pin(async { Err("refused on purpose".to_string()) });
        }
        let loader = self.loader.clone();
        let reads: Vec<(String, u64)> = batch
            .messages()
            .iter()
            .filter(|m| m["_cdc"]["snapshot"] == true)
            .map(|m| {
                let key = m["data"][0]["id"].as_str().unwrap_or_default().to_string();
                (key, m["_cdc"]["ordinal"].as_u64().unwrap_or(u64::MAX))
            })
            .collect();
        let noted = self.reads.clone();
        Box::pin(async move {
            if n.is_multiple_of(2) {
                loader.apply_changes(&batch.changes).await?;
            } else {
                loader.apply(&Value::Array(batch.messages())).await?;
            }
            noted.lock().unwrap().extend(reads);
            Ok(())
        })
    }
}

/// Writes inserts, updates, deletes, key updates and one 10,000-row transaction.
async fn write(client: &Client, table: &str) {
    for round in 0..20i64 {
        let base = 100_000 + round * 100;
        client
            .batch_execute(&format!(
                "INSERT INTO {table} (id, customer, amount, note, paid, raw, doc, at)
                 SELECT g, 'c' || g, g % 1000 + 0.25, CASE WHEN g % 3 = 0 THEN NULL ELSE 'zoë ✓ ' || g END,
                        g % 2 = 0, decode(lpad(to_hex(g % 256), 2, '0') || '00ff', 'hex'),
                        jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g)), now()
                 FROM generate_series({base}, {base} + 49) g;
                 UPDATE {table} SET amount = amount + 1, note = NULL WHERE id % 7 = {m} AND id < 2000;
                 DELETE FROM {table} WHERE id % 11 = {m} AND id < 2000;
                 UPDATE {table} SET id = id + 500000 WHERE id BETWEEN {base} AND {base} + 4;",
                m = round % 7
            ))
            .await
            .unwrap();
    }
    client
        .batch_execute(&format!(
            "BEGIN;
             INSERT INTO {table} (id, customer, amount, paid, doc, at)
             SELECT g, 'bulk', 1.00, true, '{{}}', now() FROM generate_series(1000000, 1009999) g;
             UPDATE {table} SET customer = 'bulk-' || id WHERE id BETWEEN 1000000 AND 1000099;
             COMMIT;"
        ))
        .await
        .unwrap();
}

/// Drops the slots and publications of earlier runs whose process is gone (a failed test
/// leaves them behind, and a slot holds WAL).
async fn drop_orphans(client: &Client) {
    let rows = client
        .query(
            "SELECT slot_name::text FROM pg_replication_slots
             WHERE slot_name LIKE 'sluice_cdc_conv_%' AND NOT active",
            &[],
        )
        .await
        .unwrap_or_default();
    for row in rows {
        let slot: String = row.get(0);
        let pid = slot.split('_').nth(3).unwrap_or_default();
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = client
            .batch_execute(&format!(
                "SELECT pg_drop_replication_slot('{slot}'); DROP PUBLICATION IF EXISTS {slot}"
            ))
            .await;
    }
}

struct Fixture {
    source: Client,
    target: Client,
    table: String,
    store: Arc<dyn Store>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Option<Fixture> {
        let (source, target) = databases().await?;
        drop_orphans(&source).await;
        let table = common::unique("cdc_conv");
        source
            .batch_execute(&format!(
                "CREATE TABLE {table} ({COLUMNS});
                 INSERT INTO {table} (id, customer, amount, note, paid, raw, doc, at)
                 SELECT g, 'pre' || g, g * 1.5, 'first ' || g, g % 3 = 0, '\\x0001ff', '[1, 2]', now()
                 FROM generate_series(1, 3000) g;"
            ))
            .await
            .unwrap();
        target
            .batch_execute(&format!("CREATE TABLE {table} ({COLUMNS})"))
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

    fn config(&self) -> CdcConfig {
        common::config(&self.table, source_url(), format!("public.{}", self.table))
    }

    fn sink(&self, fail_every: Option<u64>) -> Arc<LoaderSink> {
        let options = serde_json::json!({ "url": target_url() });
        Arc::new(LoaderSink {
            loader: Arc::new(PostgresUpsert::from_options(options.as_object().unwrap()).unwrap()),
            calls: AtomicU64::new(0),
            fail_every,
            refused: AtomicU64::new(0),
            reads: Arc::default(),
        })
    }

    /// Runs a source with `sink` until stopped through the returned sender.
    fn start(
        &self,
        sink: Arc<LoaderSink>,
        owner: &str,
    ) -> (
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
        Arc<Status>,
    ) {
        common::start(self.config(), self.store.clone(), sink, owner)
    }

    /// Runs a source of `config` with `sink` until stopped through the returned sender.
    fn start_with(
        &self,
        config: CdcConfig,
        sink: Arc<LoaderSink>,
    ) -> (
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
        Arc<Status>,
    ) {
        common::start(config, self.store.clone(), sink, "node-a")
    }

    /// Waits until the target equals the source (giving up after a generous bound so a broken
    /// build ends instead of hanging).
    async fn converge(&self, status: &Status) {
        let mut last = None;
        for _ in 0..600 {
            let want = digest(&self.source, &self.table).await;
            let got = digest(&self.target, &self.table).await;
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

    async fn cleanup(self) {
        let slot = sluice_cdc::pg::object_name(&self.table);
        let _ = self
            .source
            .batch_execute(&format!(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{slot}';
                 DROP PUBLICATION IF EXISTS {slot}; DROP TABLE IF EXISTS {t}",
                t = self.table
            ))
            .await;
        let _ = self
            .target
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", self.table))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_stream_with_a_concurrent_writer_converges() {
    let Some(f) = Fixture::new().await else {
        return;
    };
    let sink = f.sink(None);
    let (stop, task, status) = f.start(sink.clone(), "node-a");
    write(&f.source, &f.table).await;
    f.converge(&status).await;
    let bulk: i64 = f
        .target
        .query_one(
            &format!(
                "SELECT count(*) FROM {} WHERE customer LIKE 'bulk%'",
                f.table
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(bulk, 10_000, "the large transaction arrived whole");
    let _ = stop.send(true);
    task.await.unwrap();
    let stored = f.store.cdc_checkpoint(&f.table).unwrap().unwrap();
    assert_eq!(stored.phase, "streaming");
    assert!(stored.position > 0);
    assert_eq!(stored.owner, None, "the lease was given up");
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_table_is_copied_in_key_chunks_with_every_row_once() {
    let Some(f) = Fixture::new().await else {
        return;
    };
    f.source
        .batch_execute(&format!(
            "INSERT INTO {t} (id, customer, amount, note, paid, doc, at)
             SELECT g, 'more' || g, g * 0.5, 'later ' || g, g % 2 = 0, '{{}}', now()
             FROM generate_series(3001, 20000) g;
             ANALYZE {t};",
            t = f.table
        ))
        .await
        .unwrap();
    let mut config = f.config();
    config.snapshot_chunk_rows = 1000;
    config.snapshot_parallel = 3;
    let sink = f.sink(None);
    let (stop, task, status) = f.start_with(config, sink.clone());
    write(&f.source, &f.table).await;
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    let reads = sink.reads.lock().unwrap().clone();
    let keys: std::collections::HashSet<&str> = reads.iter().map(|(k, _)| k.as_str()).collect();
    let ordinals: std::collections::HashSet<u64> = reads.iter().map(|(_, o)| *o).collect();
    assert_eq!(keys.len(), reads.len(), "a snapshot row came twice");
    assert_eq!(ordinals.len(), reads.len(), "two snapshot rows share an id");
    // The writer never touches these rows: the snapshot holds each of them.
    for id in 2000..=20000 {
        assert!(
            keys.contains(id.to_string().as_str()),
            "row {id} is missing"
        );
    }
    let chunks: std::collections::HashSet<u64> = ordinals.iter().map(|o| o >> 40).collect();
    assert!(chunks.len() > 3, "the table was split: chunks {chunks:?}");
    let progress = status.tables();
    let table = progress.values().next().unwrap();
    assert_eq!(table.rows, reads.len() as u64, "{}", status.to_json());
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_failing_every_third_batch_still_converges() {
    let Some(f) = Fixture::new().await else {
        return;
    };
    let sink = f.sink(Some(3));
    let (stop, task, status) = f.start(sink.clone(), "node-a");
    write(&f.source, &f.table).await;
    f.converge(&status).await;
    assert!(sink.refused.load(Ordering::Relaxed) > 0);
    let _ = stop.send(true);
    task.await.unwrap();
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_source_resumes_from_its_checkpoint_and_a_second_owner_waits() {
    let Some(f) = Fixture::new().await else {
        return;
    };
    let (stop, task, status) = f.start(f.sink(None), "node-a");
    f.converge(&status).await;
    // A second node with the same store stands by while the first holds the lease.
    let (stop_b, task_b, status_b) = f.start(f.sink(None), "node-b");
    let writer = write(&f.source, &f.table);
    let stopper = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = stop.send(true);
    };
    tokio::join!(writer, stopper);
    task.await.unwrap();
    // The first node is gone: the second takes over from the stored position.
    f.converge(&status_b).await;
    assert_eq!(status.phase().as_str(), "streaming");
    let _ = stop_b.send(true);
    task_b.await.unwrap();
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_slot_stops_the_source_until_a_resnapshot() {
    let Some(f) = Fixture::new().await else {
        return;
    };
    let (stop, task, status) = f.start(f.sink(None), "node-a");
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    let slot = sluice_cdc::pg::object_name(&f.table);
    let mut dropped = Err(String::new());
    for _ in 0..100 {
        dropped = f
            .source
            .batch_execute(&format!("SELECT pg_drop_replication_slot('{slot}')"))
            .await
            .map_err(|e| e.to_string());
        if dropped.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    dropped.unwrap();
    let (stop, task, status) = f.start(f.sink(None), "node-a");
    let error = common::failure(&status).await;
    assert!(error.contains("is gone"), "{error}");
    assert!(error.contains("sluice cdc resnapshot"), "{error}");
    let stored = f.store.cdc_checkpoint(&f.table).unwrap().unwrap();
    assert!(stored.error.unwrap_or_default().contains("is gone"));
    let _ = stop.send(true);
    task.await.unwrap();
    // A re-snapshot (the reset) starts over and converges again.
    f.source
        .batch_execute(&format!(
            "INSERT INTO {} (id, customer) VALUES (424242, 'late')",
            f.table
        ))
        .await
        .unwrap();
    assert!(f.store.cdc_reset(&f.table).unwrap());
    let (stop, task, status) = f.start(f.sink(None), "node-a");
    f.converge(&status).await;
    let _ = stop.send(true);
    task.await.unwrap();
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_go_onto_a_queue_one_debezium_message_each() {
    let Some(f) = Fixture::new().await else {
        return;
    };
    let queues = sluice_queues::Queues::new(
        f.store.clone(),
        vec![sluice_queues::QueueConfig::new("changes")],
    );
    let mut config = f.config();
    config.format = Format::Debezium;
    config.target = Target::Queue("changes".into());
    let status = Arc::new(Status::new(&f.table, "queue:changes"));
    let source = Source {
        config,
        store: f.store.clone(),
        sink: Arc::new(sluice_cdc::QueueSink {
            queues: queues.clone(),
            queue: "changes".into(),
        }),
        owner: "node-a".into(),
        status: status.clone(),
    };
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(source.run(stopped));
    // Changes after the snapshot, so that they come from the stream.
    for _ in 0..600 {
        if status.phase().as_str() == "streaming" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status.phase().as_str(), "streaming", "{}", status.to_json());
    f.source
        .batch_execute(&format!(
            "UPDATE {t} SET amount = 7.25 WHERE id = 1; DELETE FROM {t} WHERE id = 2",
            t = f.table
        ))
        .await
        .unwrap();
    // 3000 snapshot reads, then the update and the delete.
    let mut messages = Vec::new();
    for _ in 0..600 {
        messages = f.store.queue_peek("changes", 5000, false).unwrap();
        if messages.len() >= 3002 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(messages.len(), 3002, "status {}", status.to_json());
    let bodies: Vec<Value> = messages
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect();
    assert!(bodies[..3000].iter().all(|b| b["op"] == "r"));
    assert_eq!(bodies[0]["after"]["id"], 1);
    assert_eq!(bodies[3000]["op"], "u");
    assert_eq!(bodies[3000]["after"]["amount"], "7.25");
    assert_eq!(bodies[3001]["op"], "d");
    assert_eq!(bodies[3001]["before"], serde_json::json!({"id": 2}));
    let ids: std::collections::HashSet<&str> = bodies
        .iter()
        .map(|b| b["_cdc"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3002, "every change has its own id");
    let _ = stop.send(true);
    task.await.unwrap();
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_a_key_is_refused_before_it_is_published() {
    let Some(f) = Fixture::new().await else {
        return;
    };
    f.source
        .batch_execute(&format!(
            "ALTER TABLE {t} DROP CONSTRAINT {t}_pkey",
            t = f.table
        ))
        .await
        .unwrap();
    let (stop, task, status) = f.start(f.sink(None), "node-a");
    let error = common::failure(&status).await;
    assert!(error.contains("has no primary key"), "{error}");
    // The application's statements still work: the table was not published.
    f.source
        .batch_execute(&format!("UPDATE {} SET note = 'x' WHERE id = 1", f.table))
        .await
        .unwrap();
    let _ = stop.send(true);
    task.await.unwrap();
    f.cleanup().await;
}
