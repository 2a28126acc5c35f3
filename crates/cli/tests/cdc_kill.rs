//! A node copying a PostgreSQL table into another database through the postgres-upsert
//! built-in (and a MariaDB table through mysql-upsert) is killed with SIGKILL, once while it
//! streams (as a writer inserts, updates, deletes, changes keys and commits a 10,000-row
//! transaction) and once in the middle of the snapshot; restarted, it converges: the target
//! table equals the source (row count and a checksum over every column). Needs PostgreSQL with
//! `wal_level=logical` and MariaDB (or MySQL) with a row-based binlog (each skipped when absent,
//! unless `SLUICE_REQUIRE_SERVICES=1`).

mod common;

use common::cdc::{
    BOUND, Capture, Engine, ROUNDS, assert_streaming, context, mysql_url, postgres_url,
    shared_available, source_status, target_available,
};
use common::private_server::{Kind, PrivateServer};
use common::server::Server;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// Rows in the table before the node starts, for the mid-stream kill.
const STREAM_ROWS: i64 = 3000;
/// Rows in the table before the node starts, for the mid-snapshot kill: with batches of
/// [`SNAPSHOT_BATCH`] changes, the snapshot is long enough to be caught at it.
const SNAPSHOT_ROWS: i64 = 20_000;
const SNAPSHOT_BATCH: usize = 20;

/// Kills the node once the stream delivered past the snapshot, restarts it, and waits for
/// convergence; the restarted node's status of the source.
fn killed_mid_stream(engine: Engine, source: String) -> Value {
    let capture = Arc::new(Capture::create(engine, source, "cdc_kill", STREAM_ROWS));
    let deadline = Instant::now() + BOUND;
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
    capture.project(&proj, 200, "");

    let mut server = Server::start(&data, &proj);
    let writer = {
        let capture = capture.clone();
        std::thread::spawn(move || capture.write(0..ROUNDS))
    };
    common::cdc::wait_until(deadline, "the stream delivering past the snapshot", || {
        capture.target_count("id >= 100000") > 300
    });
    server.kill();
    let at_kill = capture.target_count("1 = 1");
    let server = Server::start(&data, &proj);
    writer.join().unwrap();
    let digest = capture.converge(deadline, || context(&server));
    let status = assert_streaming(&server, &capture);
    eprintln!("{at_kill} rows in the target at the kill; converged at {digest}");
    drop(server);
    status
}

/// Kills the node while it delivers the snapshot (as a writer changes the table), restarts it
/// (the snapshot starts over), and waits for convergence.
fn killed_mid_snapshot(engine: Engine, source: String) {
    let capture = Arc::new(Capture::create(
        engine,
        source,
        "cdc_kill_snap",
        SNAPSHOT_ROWS,
    ));
    let deadline = Instant::now() + BOUND;
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
    // A PostgreSQL table is copied in key ranges by several connections.
    capture.project(&proj, SNAPSHOT_BATCH, ", snapshot_chunk_rows: 1000");

    let mut server = Server::start(&data, &proj);
    let writer = {
        let capture = capture.clone();
        std::thread::spawn(move || capture.write(0..ROUNDS))
    };
    let snapshotted = format!("id <= {SNAPSHOT_ROWS}");
    common::cdc::wait_until(deadline, "the snapshot delivering rows", || {
        capture.target_count(&snapshotted) >= 1000
    });
    let phase = source_status(&server)["phase"].clone();
    server.kill();
    let at_kill = capture.target_count(&snapshotted);
    assert_eq!(phase, "snapshot", "the node was not taking the snapshot");
    assert!(
        at_kill < SNAPSHOT_ROWS as u64,
        "{at_kill} rows of the snapshot were delivered before the kill"
    );
    let server = Server::start(&data, &proj);
    writer.join().unwrap();
    let digest = capture.converge(deadline, || context(&server));
    assert_streaming(&server, &capture);
    eprintln!(
        "{at_kill} of {SNAPSHOT_ROWS} snapshot rows in the target at the kill; converged at {digest}"
    );
    drop(server);
}

#[test]
fn a_node_killed_mid_stream_converges_after_a_restart() {
    if shared_available(Engine::Postgres) {
        killed_mid_stream(Engine::Postgres, postgres_url());
    }
}

#[test]
fn a_node_killed_mid_snapshot_converges_after_a_restart() {
    if shared_available(Engine::Postgres) {
        killed_mid_snapshot(Engine::Postgres, postgres_url());
    }
}

#[test]
fn a_node_killed_mid_binlog_converges_after_a_restart() {
    if !shared_available(Engine::MySql) {
        return;
    }
    let status = killed_mid_stream(Engine::MySql, mysql_url());
    let stored = status["storedBinlog"].as_str().unwrap_or_default();
    assert!(stored.contains(".0") && stored.contains(':'), "{status}");
    assert!(status["checkpointBinlog"].as_str().is_some(), "{status}");
}

/// On a MariaDB server of the test's own as the source (the shared one holds the target), as
/// the snapshot needs no more than a binlog.
#[test]
fn a_node_killed_mid_mysql_snapshot_converges_after_a_restart() {
    if !target_available(Engine::MySql) {
        return;
    }
    match PrivateServer::start(Kind::MariaDb) {
        Ok(source) => killed_mid_snapshot(Engine::MySql, source.url("test")),
        Err(e) => sluice_engine::testing::skip(&e),
    }
}
