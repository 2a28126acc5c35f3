//! A node copying a MariaDB table through mysql-upsert stops; while it is down the server
//! rotates its binlog and purges every file before the newest, the stored position's among
//! them. When only changes made after the purge are missing, the restarted node resumes by
//! GTID: it delivers exactly the changes made meanwhile (none missing, none again beyond one
//! batch), goes on streaming, and its checkpoint reaches the server's GTID position. When a
//! transaction it had not delivered was purged too, it stops with an error that names the
//! source, its GTID position and file, and asks for a new snapshot. The source is a MariaDB
//! server of the test's own (purging binlogs there disturbs no one); the shared one holds the
//! target. Skipped when MariaDB's programs or the shared server are missing, unless
//! `SLUICE_REQUIRE_SERVICES=1`.
mod common;

use common::cdc::{
    BOUND, Capture, Engine, ROUNDS, assert_streaming, context, mysql, source_status,
    target_available, wait_until,
};
use common::private_server::{Kind, PrivateServer};
use common::server::Server;
use std::time::Instant;

/// Changes per batch.
const BATCH: u64 = 200;
/// Rows inserted while the node is down, in transactions of 100.
const WHILE_DOWN: u64 = 500;

/// The first column of the first row of `query` on `url`.
fn one(url: &str, query: &str) -> String {
    mysql(url, query)
        .unwrap()
        .into_iter()
        .flatten()
        .next()
        .unwrap_or_default()
}

/// The server's binlog files, oldest first (`SHOW BINARY LOGS`).
fn binlog_files(url: &str) -> Vec<String> {
    use mysql_async::prelude::Queryable;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let opts = mysql_async::Opts::from_url(url).unwrap();
        let mut conn = mysql_async::Conn::new(opts).await.unwrap();
        let rows: Vec<(String, u64)> = conn.query("SHOW BINARY LOGS").await.unwrap();
        let _ = conn.disconnect().await;
        rows.into_iter().map(|(name, _)| name).collect()
    })
}

/// Waits until the node's checkpoint holds the server's GTID position (everything delivered
/// and stored); that position.
fn wait_stored(server: &Server, url: &str, deadline: Instant) -> String {
    let mut want = String::new();
    wait_until(
        deadline,
        "the checkpoint reaching the server's GTID position",
        || {
            want = one(url, "SELECT @@gtid_binlog_pos");
            source_status(server)["checkpointGtid"] == want.as_str()
        },
    );
    want
}

/// Rotates the binlog of the server at `url` three times and purges every file before the
/// newest; the file the node's checkpoint (`stored`, `FILE:OFFSET`) names must be among them.
fn purge_all_but_newest(url: &str, stored: &str, deadline: Instant) {
    for _ in 0..3 {
        mysql(url, "FLUSH BINARY LOGS").unwrap();
    }
    let newest = binlog_files(url).pop().unwrap();
    // The server keeps a file a replica still reads until it notices the replica is gone.
    wait_until(
        deadline,
        "the server purging its older binlog files",
        || {
            mysql(url, &format!("PURGE BINARY LOGS TO '{newest}'")).unwrap();
            binlog_files(url) == [newest.clone()]
        },
    );
    let file = stored.split(':').next().unwrap();
    assert_ne!(file, newest, "the stored position ({stored}) was purged");
}

/// Inserts `rows` rows into `table` from id `first` on, in transactions of 100.
fn insert(url: &str, table: &str, first: u64, rows: u64) {
    for from in (first..first + rows).step_by(100) {
        mysql(
            url,
            &format!(
                "INSERT INTO {table} (id, customer, amount)
                 WITH RECURSIVE g(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM g WHERE n < {from} + 99)
                 SELECT n, CONCAT('down', n), 1.50 FROM g"
            ),
        )
        .unwrap();
    }
}

/// A private MariaDB source whose table a node copied and streamed (half the writer's rounds)
/// until its checkpoint held the server's GTID position; the node is killed then.
struct Stopped {
    _database: PrivateServer,
    capture: Capture,
    url: String,
    _tmp: tempfile::TempDir,
    data: std::path::PathBuf,
    proj: std::path::PathBuf,
    deadline: Instant,
    /// The node's last checkpoint: `FILE:OFFSET` and the GTID position.
    stored: (String, String),
}

impl Stopped {
    /// `None` (said) when a server is missing.
    fn new(name: &str) -> Option<Stopped> {
        if !target_available(Engine::MySql) {
            return None;
        }
        let database = match PrivateServer::start(Kind::MariaDb) {
            Ok(server) => server,
            Err(e) => {
                sluice_engine::testing::skip(&e);
                return None;
            }
        };
        let url = database.url("test");
        let capture = Capture::create(Engine::MySql, url.clone(), name, 3000);
        let deadline = Instant::now() + BOUND;
        let tmp = tempfile::tempdir().unwrap();
        let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
        capture.project(&proj, BATCH as usize, "");
        let mut server = Server::start(&data, &proj);
        capture.write(0..ROUNDS / 2);
        capture.converge(deadline, || context(&server));
        let gtid = wait_stored(&server, &url, deadline);
        let file = source_status(&server)["checkpointBinlog"]
            .as_str()
            .unwrap()
            .to_string();
        server.kill();
        Some(Stopped {
            _database: database,
            capture,
            url,
            _tmp: tmp,
            data,
            proj,
            deadline,
            stored: (file, gtid),
        })
    }
}

#[test]
fn a_node_resumes_by_gtid_after_its_binlog_file_was_purged() {
    let Some(s) = Stopped::new("cdc_gtid") else {
        return;
    };
    let (capture, url, deadline) = (&s.capture, &s.url, s.deadline);
    purge_all_but_newest(url, &s.stored.0, deadline);
    insert(url, &capture.table, 2_000_000, WHILE_DOWN);

    let server = Server::start(&s.data, &s.proj);
    capture.converge(deadline, || context(&server));
    let status = source_status(&server);
    let delivered = status["events"].as_u64().unwrap();
    assert!(
        (WHILE_DOWN..=WHILE_DOWN + BATCH).contains(&delivered),
        "{delivered} changes delivered for the {WHILE_DOWN} made while down: {status}"
    );
    assert!(status["error"].is_null(), "{status}");
    capture.write(ROUNDS / 2..ROUNDS);
    let digest = capture.converge(deadline, || context(&server));
    assert_streaming(&server, capture);
    let after = wait_stored(&server, url, deadline);
    eprintln!(
        "resumed after {} past the purge of {} delivering {delivered} changes; converged at {digest}, stored {after}",
        s.stored.1, s.stored.0
    );
    drop(server);
}

#[test]
fn a_node_whose_next_transaction_was_purged_stops_until_a_resnapshot() {
    let Some(s) = Stopped::new("cdc_gtid_gone") else {
        return;
    };
    let (capture, url, deadline) = (&s.capture, &s.url, s.deadline);
    // A transaction the node has not seen goes into a file that is purged.
    insert(url, &capture.table, 2_000_000, 100);
    purge_all_but_newest(url, &s.stored.0, deadline);

    let server = Server::start(&s.data, &s.proj);
    wait_until(deadline, "the source failing", || {
        source_status(&server)["phase"] == "failed"
    });
    let status = source_status(&server);
    let error = status["error"].as_str().unwrap_or_default();
    let (file, gtid) = &s.stored;
    for part in [
        capture.table.as_str(),
        &format!("refused its GTID position {gtid}"),
        &format!("{file} was purged"),
        "sluice cdc resnapshot",
    ] {
        assert!(error.contains(part), "{part:?} not in: {status}");
    }
    assert_eq!(status["events"], 0, "nothing delivered: {status}");
    eprintln!("stopped: {error}");
    drop(server);
}
