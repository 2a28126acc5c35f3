//! One session of a MySQL/MariaDB source: the snapshot when none was finished, then the binlog
//! from the stored position (or from the snapshot's), found by GTID where the server has them.

use super::catalog::{self, Head, Shape};
use super::connect::Database;
use super::resume::{self, Start};
use super::snapshot::{self, Cut};
use super::stream::{self, Decoder};
use crate::position::{binlog_base, binlog_offset, binlog_position};
use crate::source::{Checkpointer, Failure, Fatal, Source, deliver_snapshot};
use crate::status::Phase;
use mysql_async::Conn;
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
    let name = &source.config.name;
    let checkpointer = source.checkpointer();
    let mut sinker = source.sinker();
    let status = checkpointer.status();
    let start = match source.checkpoint().await? {
        Some(c) if c.phase == "streaming" => {
            let binlog = c.progress.get("binlog");
            let Some(file) = binlog
                .and_then(|b| b.get("file"))
                .and_then(|f| f.as_str())
                .map(str::to_string)
            else {
                return Err(Failure::Fatal(Fatal(format!(
                    "the stored position of {name} names no binlog file; take a new snapshot with `sluice cdc resnapshot {name}`"
                ))));
            };
            let cuts: BTreeMap<String, u64> = binlog
                .and_then(|b| b.get("snapshot"))
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .unwrap_or_default();
            let gtid = binlog
                .and_then(|b| b.get("gtid"))
                .and_then(|g| g.as_str())
                .map(str::to_string);
            status.use_binlog(binlog_base(&file));
            status.set_binlog_cuts(cuts.clone());
            status.set_gtid(gtid.clone());
            status.set_phase(Phase::Streaming);
            status.checkpointed(c.position);
            Start {
                file,
                position: c.position,
                gtid,
                cuts,
            }
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
                resume = Some(Head {
                    file: file.to_string(),
                    offset: binlog_offset(c.position),
                    gtid: c.progress["binlog"]["gtid"].as_str().map(str::to_string),
                });
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
    let opened = resume::open(&db, name, &mut sql, &start).await?;
    let (mut position, mut cuts) = (start.position, start.cuts);
    if !resume::same_binlog(&start.file, position, &opened.file, opened.offset) {
        // Another server of the same GTID history: its positions start over from its file,
        // and the snapshot positions of the first say nothing of it.
        tracing::warn!(source = %name, stored = %start.file, served = %opened.file, "the server sends another binlog than the stored position's; positions start over from it");
        position = binlog_position(&opened.file, opened.offset)?;
        cuts.clear();
        status.use_binlog(binlog_base(&opened.file));
    }
    tracing::info!(source = %name, file = %opened.file, by_gtid = opened.by_gtid, "binlog stream opened");
    let tables = shapes
        .into_iter()
        .map(|s| {
            let at = cuts.get(&s.table.qualified()).copied().unwrap_or(0);
            (s, at)
        })
        .collect();
    let mut decoder = Decoder::new(&db.dbname, tables, &opened.file, opened.offset, opened.gtid);
    let mut binlog = opened.stream;
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

/// Copies the tables, each in its own consistent snapshot, and returns where the stream
/// starts (the earliest table's binlog position and GTID state) with each table's position;
/// `None` when told to stop meanwhile.
///
/// With `resume`, the binlog position where a snapshot cut short began, the stream starts
/// there instead and passes no table's changes over, so that the changes made since the first
/// attempt (a row it delivered and that was deleted since, above all) still arrive. Replaying
/// changes a table's snapshot already holds is harmless: each brings its row to a state it
/// had, and the last one to its present state.
#[allow(clippy::too_many_arguments)]
async fn take_snapshot(
    source: &Source,
    db: &Database,
    sql: &mut Conn,
    shapes: Vec<Shape>,
    resume: Option<Head>,
    checkpointer: &Checkpointer,
    sinker: &mut crate::sink::Sinker,
    stop: &mut watch::Receiver<bool>,
) -> Result<Option<Start>, Failure> {
    let status = checkpointer.status();
    let resumed = resume.is_some();
    let head_at = match resume {
        Some(head) => head,
        None => catalog::binlog_head(sql).await?,
    };
    status.use_binlog(binlog_base(&head_at.file));
    status.set_gtid(head_at.gtid.clone());
    let estimates = snapshot::estimates(sql, &shapes).await?;
    status.snapshot_started(&estimates);
    let head = binlog_position(&head_at.file, head_at.offset)?;
    checkpointer.save("snapshot", head).await?;
    tracing::info!(source = %source.config.name, file = %head_at.file, "snapshot started");
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
    let Some(first) = cuts.iter().min_by_key(|c| c.position).cloned() else {
        return Err(Failure::Fatal(Fatal("the source captures no table".into())));
    };
    let start = if resumed {
        Start {
            file: head_at.file,
            position: head,
            gtid: head_at.gtid,
            cuts: BTreeMap::new(),
        }
    } else {
        Start {
            file: first.file,
            position: first.position,
            gtid: first.gtid,
            cuts: cuts.into_iter().map(|c| (c.table, c.position)).collect(),
        }
    };
    status.set_binlog_cuts(start.cuts.clone());
    status.set_gtid(start.gtid.clone());
    checkpointer.save("streaming", start.position).await?;
    status.set_phase(Phase::Streaming);
    tracing::info!(source = %source.config.name, rows = status.events(), file = %start.file, "snapshot done; streaming");
    Ok(Some(start))
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
