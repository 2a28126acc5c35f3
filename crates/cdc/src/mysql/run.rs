//! One session of a MySQL/MariaDB source: the snapshot when none was finished, then the binlog
//! from the stored position (or from the snapshot's).

use super::catalog::{self, Shape};
use super::connect::Database;
use super::snapshot::{self, Cut};
use super::stream::{self, Decoder, binlog_error};
use crate::position::{binlog_base, binlog_offset, binlog_position};
use crate::source::{Checkpointer, Failure, Fatal, Source, deliver_snapshot};
use crate::status::Phase;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn};
use std::collections::BTreeMap;
use tokio::sync::watch;

/// The replica id a source registers with: the same for a source on every node (the lease
/// lets one stream at a time, and the server drops an older session of the same id), distinct
/// between sources.
pub fn server_id(source: &str) -> u32 {
    let hash = source.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    100_000 + (hash % 2_000_000_000) as u32
}

/// Runs one session of `source` until `stop` or an error.
pub(crate) async fn run_once(
    source: &Source,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Failure> {
    let db = Database::parse(&source.config.url)?;
    let mut sql = db.connect().await?;
    if let Some(problem) = catalog::binlog_problem(&mut sql).await? {
        return Err(Failure::Fatal(Fatal(problem)));
    }
    let mut shapes = Vec::new();
    for t in &source.config.tables {
        if source.config.exclude_tables.contains(t) {
            continue;
        }
        let (d, n) = catalog::split_name(t, &db.dbname);
        let shape = catalog::shape(&mut sql, d, n).await?;
        if let Some(problem) = catalog::capture_problem(&shape) {
            return Err(Failure::Fatal(Fatal(problem)));
        }
        shapes.push(shape);
    }
    let checkpointer = source.checkpointer();
    let mut sinker = source.sinker();
    let status = checkpointer.status();
    let (file, position, cuts) = match source.checkpoint().await? {
        Some(c) if c.phase == "streaming" => {
            let binlog = c.progress.get("binlog");
            let Some(file) = binlog
                .and_then(|b| b.get("file"))
                .and_then(|f| f.as_str())
                .map(str::to_string)
            else {
                return Err(Failure::Fatal(Fatal(format!(
                    "the stored position of {} names no binlog file; take a new snapshot with `sluice cdc resnapshot {}`",
                    source.config.name, source.config.name
                ))));
            };
            if !catalog::binlog_files(&mut sql).await?.contains(&file) {
                return Err(Failure::Fatal(Fatal(format!(
                    "the binlog file {file} was purged from the server: changes after {file}:{} may be missing; take a new snapshot with `sluice cdc resnapshot {}`",
                    binlog_offset(c.position),
                    source.config.name
                ))));
            }
            let cuts: BTreeMap<String, u64> = binlog
                .and_then(|b| b.get("snapshot"))
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .unwrap_or_default();
            status.use_binlog(binlog_base(&file));
            status.set_binlog_cuts(cuts.clone());
            status.set_phase(Phase::Streaming);
            status.checkpointed(c.position);
            (file, c.position, cuts)
        }
        stored => {
            // A snapshot cut short stored where its binlog began: while that file is kept,
            // the stream goes on from there after the new snapshot.
            let mut resume = None;
            if let Some(c) = stored.filter(|c| c.phase == "snapshot")
                && let Some(file) = c.progress["binlog"]["file"].as_str()
                && catalog::binlog_files(&mut sql)
                    .await?
                    .iter()
                    .any(|f| f == file)
            {
                resume = Some((file.to_string(), c.position));
            }
            let Some(taken) = take_snapshot(
                source,
                &db,
                &mut sql,
                shapes.clone(),
                resume,
                &checkpointer,
                &mut sinker,
                stop,
            )
            .await?
            else {
                return Ok(());
            };
            taken
        }
    };
    let tables = shapes
        .into_iter()
        .map(|s| {
            let at = cuts.get(&s.table.qualified()).copied().unwrap_or(0);
            (s, at)
        })
        .collect();
    let offset = binlog_offset(position);
    let mut decoder = Decoder::new(&db.dbname, tables, &file, offset);
    let mut binlog = open_stream(&db, &source.config.name, &file, offset).await?;
    let outcome = stream::stream(
        &mut binlog,
        &mut sql,
        &mut decoder,
        &mut sinker,
        &checkpointer,
        position,
        stop,
    )
    .await;
    let _ = binlog.close().await;
    outcome?;
    Ok(())
}

/// A binlog stream of `db`'s server from `file` at `offset`.
async fn open_stream(
    db: &Database,
    source: &str,
    file: &str,
    offset: u64,
) -> Result<BinlogStream, String> {
    let mut conn: Conn = db.connect_plain().await?;
    // Heartbeats every second: a dead connection shows, and the server position is reported.
    conn.query_drop("SET @master_heartbeat_period = 1000000000")
        .await
        .map_err(|e| format!("setting up the binlog session: {e}"))?;
    let request = BinlogStreamRequest::new(server_id(source))
        .with_filename(file.as_bytes())
        .with_pos(offset);
    conn.get_binlog_stream(request)
        .await
        .map_err(|e| binlog_error(&e.to_string()))
}

/// Copies the tables, each in its own consistent snapshot, and returns where the stream
/// starts (the earliest table's binlog file and position) with each table's position; `None`
/// when told to stop meanwhile.
///
/// With `resume`, the binlog file and position where a snapshot cut short began, the stream
/// starts there instead and passes no table's changes over, so that the changes made since
/// the first attempt (a row it delivered and that was deleted since, above all) still arrive.
/// Replaying changes a table's snapshot already holds is harmless: each brings its row to a
/// state it had, and the last one to its present state.
#[allow(clippy::too_many_arguments)]
async fn take_snapshot(
    source: &Source,
    db: &Database,
    sql: &mut Conn,
    shapes: Vec<Shape>,
    resume: Option<(String, u64)>,
    checkpointer: &Checkpointer,
    sinker: &mut crate::sink::Sinker,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<(String, u64, BTreeMap<String, u64>)>, Failure> {
    let status = checkpointer.status();
    let (head_file, head_offset) = match &resume {
        Some((file, position)) => (file.clone(), binlog_offset(*position)),
        None => catalog::binlog_head(sql).await?,
    };
    status.use_binlog(binlog_base(&head_file));
    let estimates = snapshot::estimates(sql, &shapes).await?;
    status.snapshot_started(&estimates);
    let head = binlog_position(&head_file, head_offset)?;
    checkpointer.save("snapshot", head).await?;
    tracing::info!(source = %source.config.name, file = %head_file, "snapshot started");
    let (mut rows, mut tasks) = snapshot::start(db, shapes, source.config.batch_size * 2);
    if !deliver_snapshot(&mut rows, sinker, checkpointer, head, stop).await? {
        return Ok(None);
    }
    let mut cuts: Vec<Cut> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        cuts.push(done.map_err(|e| e.to_string())??);
    }
    if sinker.drain(head, stop).await.is_err() {
        return Ok(None);
    }
    let Some(mut first) = cuts.iter().min_by_key(|c| c.position).cloned() else {
        return Err(Failure::Fatal(Fatal("the source captures no table".into())));
    };
    let mut by_table: BTreeMap<String, u64> =
        cuts.into_iter().map(|c| (c.table, c.position)).collect();
    if resume.is_some() {
        (first.file, first.position) = (head_file, head);
        by_table.clear();
    }
    status.set_binlog_cuts(by_table.clone());
    checkpointer.save("streaming", first.position).await?;
    status.set_phase(Phase::Streaming);
    tracing::info!(source = %source.config.name, rows = status.events(), file = %first.file, "snapshot done; streaming");
    Ok(Some((first.file, first.position, by_table)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ids_are_stable_and_distinct() {
        assert_eq!(server_id("orders"), server_id("orders"));
        assert_ne!(server_id("orders"), server_id("orders2"));
        assert!(server_id("x") >= 100_000);
    }
}
