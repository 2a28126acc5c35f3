//! A node copying a MariaDB table through mysql-upsert stops; while it is down the server
//! rotates its binlog and purges every file before the newest, the stored position's among
//! them, and the table changes; restarted, the node resumes by GTID: it delivers exactly the
//! changes made meanwhile (none missing, none again beyond one batch), goes on streaming,
//! and its checkpoint reaches the server's GTID position. The source is a MariaDB server of
//! the test's own (purging binlogs there disturbs no one); the shared one holds the target.
//! Skipped when MariaDB's programs or the shared server are missing, unless
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

#[test]
fn a_node_resumes_by_gtid_after_its_binlog_file_was_purged() {
    if !target_available(Engine::MySql) {
        return;
    }
    let database = match PrivateServer::start(Kind::MariaDb) {
        Ok(server) => server,
        Err(e) => return sluice_engine::testing::skip(&e),
    };
    let url = database.url("test");
    let capture = Capture::create(Engine::MySql, url.clone(), "cdc_gtid", 3000);
    let table = capture.table.clone();
    let deadline = Instant::now() + BOUND;
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
    capture.project(&proj, BATCH as usize);

    let mut server = Server::start(&data, &proj);
    capture.write(0..ROUNDS / 2);
    capture.converge(deadline, || context(&server));
    let before = wait_stored(&server, &url, deadline);
    let stored = source_status(&server)["checkpointBinlog"]
        .as_str()
        .unwrap()
        .to_string();
    server.kill();

    // The binlog moves on to new files and the stored position's file is purged.
    let file = stored.split(':').next().unwrap().to_string();
    for _ in 0..3 {
        mysql(&url, "FLUSH BINARY LOGS").unwrap();
    }
    let newest = binlog_files(&url).pop().unwrap();
    // The server keeps a file a replica still reads until it notices the replica is gone.
    wait_until(
        deadline,
        "the server purging its older binlog files",
        || {
            mysql(&url, &format!("PURGE BINARY LOGS TO '{newest}'")).unwrap();
            binlog_files(&url) == [newest.clone()]
        },
    );
    assert_ne!(file, newest, "the stored position ({stored}) was purged");
    for first in (0..WHILE_DOWN).step_by(100) {
        let from = 2_000_000 + first;
        mysql(
            &url,
            &format!(
                "INSERT INTO {table} (id, customer, amount)
                 WITH RECURSIVE g(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM g WHERE n < {from} + 99)
                 SELECT n, CONCAT('down', n), 1.50 FROM g"
            ),
        )
        .unwrap();
    }

    let server = Server::start(&data, &proj);
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
    assert_streaming(&server, &capture);
    let after = wait_stored(&server, &url, deadline);
    eprintln!(
        "resumed after {before} past the purge of {file} delivering {delivered} changes; converged at {digest}, stored {after}"
    );
    drop(server);
}
