//! The source database of a node copying a table (PostgreSQL through postgres-upsert, MariaDB
//! through mysql-upsert) goes down while the node streams and comes back on the same data and
//! port: the node keeps running, reconnects with growing pauses, resumes from its stored
//! position, and the target converges to the source (row count and a checksum over every
//! column). Each source is a server of the test's own on a free loopback port (the shared
//! servers are only the targets); skipped when PostgreSQL's or MariaDB's programs are missing,
//! unless `SLUICE_REQUIRE_SERVICES=1`.

mod common;

use common::cdc::{BOUND, Capture, Engine, ROUNDS, assert_streaming, context, target_available};
use common::private_server::{Kind, PrivateServer};
use common::server::Server;
use std::time::Instant;

/// What the node logs when a session with the source ended and it will resume.
const RESUMING: &str = "resumes from its stored position";

/// Streams half the writer's rounds, takes the source down with `down`, brings it back,
/// streams the other half and waits for convergence, all with one node process.
fn restarted_mid_stream(kind: Kind, down: fn(&mut PrivateServer)) {
    let engine = match kind {
        Kind::Postgres => Engine::Postgres,
        Kind::MariaDb => Engine::MySql,
    };
    if !target_available(engine) {
        return;
    }
    let mut database = match PrivateServer::start(kind) {
        Ok(server) => server,
        Err(e) => return sluice_engine::testing::skip(&e),
    };
    let source = match kind {
        Kind::Postgres => database.url("postgres"),
        Kind::MariaDb => database.url("test"),
    };
    let capture = Capture::create(engine, source, "cdc_restart", 3000);
    let deadline = Instant::now() + BOUND;
    let tmp = tempfile::tempdir().unwrap();
    let (proj, data) = (tmp.path().join("p"), tmp.path().join("data"));
    capture.project(&proj, 200, "");

    // Warnings on stderr, where the node says it will resume.
    let mut sluice = common::sluice(&data);
    sluice.env("SLUICE_LOG", "warn");
    let server = Server::spawn(sluice, &proj, &[]);
    capture.write(0..ROUNDS / 2);
    common::cdc::wait_until(deadline, "the stream delivering past the snapshot", || {
        capture.target_count("id >= 100000") > 300
    });
    down(&mut database);
    common::cdc::wait_until(deadline, "the node noticing the source is gone", || {
        server.stderr().contains(RESUMING)
    });
    database.restart();
    capture.write(ROUNDS / 2..ROUNDS);
    let digest = capture.converge(deadline, || context(&server));
    assert_streaming(&server, &capture);
    eprintln!("converged at {digest} after the source's restart");
    drop(server);
}

#[test]
fn a_postgres_source_shut_down_mid_stream_is_followed_after_its_restart() {
    restarted_mid_stream(Kind::Postgres, PrivateServer::stop);
}

#[test]
fn a_mariadb_source_killed_mid_stream_is_followed_after_its_restart() {
    restarted_mid_stream(Kind::MariaDb, PrivateServer::kill);
}
