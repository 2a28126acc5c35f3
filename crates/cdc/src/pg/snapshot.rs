//! The initial copy: every captured table read inside the slot's exported snapshot by
//! `COPY (SELECT ...) TO STDOUT` (its text parsed as it streams in). A large table is split into
//! primary-key ranges (see [`chunks`](super::chunks)), each copied in key order by its own
//! connection importing the same snapshot, so that every chunk sees the same state; several
//! chunks, of one table or of several, are copied at once.

use super::catalog::Shape;
use super::chunks::{self, Range};
use super::connect::Database;
use super::copy_text::{CopyText, fields};
use super::types::normalize;
use super::{quote_ident, quote_literal};
use crate::change::{Change, Datum, EventId, Table};
use crate::source::SEND_ROWS;
use futures_core::Stream;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

/// Chunks per connection a large table is split into, so that the connections stay busy when
/// some chunks turn out larger than others.
const CHUNKS_PER_CONNECTION: usize = 4;

/// What a snapshot reads.
pub struct SnapshotPlan {
    /// The exported snapshot to read in.
    pub snapshot: String,
    /// The slot's consistent point: the position of every snapshot row.
    pub position: u64,
    /// When the snapshot was taken, Unix ms (the rows' `es`).
    pub taken_ms: i64,
    /// The tables, in configuration order.
    pub tables: Vec<Shape>,
    /// Connections copying at once.
    pub parallel: usize,
    /// Tables estimated below this many rows are copied as one chunk.
    pub chunk_rows: u64,
}

/// The estimated row count of each table (`pg_class.reltuples`, counted when never analysed).
pub async fn estimates(
    client: &tokio_postgres::Client,
    tables: &[Shape],
) -> Result<Vec<(String, Option<u64>)>, String> {
    let mut out = Vec::with_capacity(tables.len());
    for shape in tables {
        let qualified = shape.table.qualified();
        let row = client
            .query_one(
                "SELECT reltuples::int8 FROM pg_class WHERE oid = $1::text::regclass",
                &[&format!(
                    "{}.{}",
                    quote_ident(&shape.table.schema),
                    quote_ident(&shape.table.name)
                )],
            )
            .await
            .map_err(|e| format!("estimating the size of {qualified}: {e}"))?;
        let mut n: i64 = row.get(0);
        if n < 0 {
            // Never analysed: count it.
            let counted = client
                .query_one(
                    &format!(
                        "SELECT count(*) FROM {}.{}",
                        quote_ident(&shape.table.schema),
                        quote_ident(&shape.table.name)
                    ),
                    &[],
                )
                .await
                .map_err(|e| format!("counting the rows of {qualified}: {e}"))?;
            n = counted.get(0);
        }
        out.push((qualified, u64::try_from(n).ok()));
    }
    Ok(out)
}

/// Starts copying: the rows of every table come through the returned channel, up to
/// [`SEND_ROWS`] at a time (about `buffer` rows waiting at most); the join set ends with the
/// snapshot's outcome.
pub fn start(
    db: &Database,
    plan: SnapshotPlan,
    buffer: usize,
) -> (mpsc::Receiver<Vec<Change>>, JoinSet<Result<(), String>>) {
    let (tx, rx) = mpsc::channel((buffer / SEND_ROWS).max(2));
    let mut tasks = JoinSet::new();
    let db = db.clone();
    tasks.spawn(async move { copy_tables(&db, plan, tx).await });
    (rx, tasks)
}

/// One table being copied, shared by its chunks.
struct TableCopy {
    table: Arc<Table>,
    /// Each column's type OID.
    type_oids: Vec<u32>,
    /// The table's part in the rows' ids.
    part: u32,
    /// The key column the chunks are ranges of (`None`: one chunk).
    column: Option<String>,
    /// How many chunks it has.
    chunks: usize,
}

/// Where every chunk's rows go and what they carry.
#[derive(Clone)]
struct Output {
    snapshot: Arc<str>,
    position: u64,
    taken_ms: i64,
    tx: mpsc::Sender<Vec<Change>>,
}

/// Plans each table's chunks and copies them, `plan.parallel` at once, in table then key
/// order; the first failure ends the others.
async fn copy_tables(
    db: &Database,
    plan: SnapshotPlan,
    tx: mpsc::Sender<Vec<Change>>,
) -> Result<(), String> {
    let parallel = plan.parallel.max(1);
    let permits = Arc::new(Semaphore::new(parallel));
    let output = Output {
        snapshot: plan.snapshot.into(),
        position: plan.position,
        taken_ms: plan.taken_ms,
        tx,
    };
    let planner = db.connect().await?;
    let mut copies = JoinSet::new();
    for (index, shape) in plan.tables.into_iter().enumerate() {
        let split = chunks::split(
            &planner,
            &shape,
            plan.chunk_rows,
            parallel * CHUNKS_PER_CONNECTION,
        )
        .await?;
        let table = Arc::new(TableCopy {
            table: Arc::new(shape.table),
            type_oids: shape.type_oids,
            part: u32::try_from(index + 1).unwrap_or(u32::MAX),
            column: split.column,
            chunks: split.ranges.len(),
        });
        for (chunk, range) in split.ranges.into_iter().enumerate() {
            let (db, permits, table, output) =
                (db.clone(), permits.clone(), table.clone(), output.clone());
            copies.spawn(async move {
                let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
                copy_chunk(&db, &table, chunk, &range, &output).await
            });
        }
    }
    drop(planner);
    while let Some(done) = copies.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    Ok(())
}

/// Copies chunk `chunk` (its key `range`) of `table`.
async fn copy_chunk(
    db: &Database,
    table: &TableCopy,
    chunk: usize,
    range: &Range,
    output: &Output,
) -> Result<(), String> {
    let captured = &table.table;
    let qualified = match &table.column {
        None => captured.qualified(),
        Some(_) => format!(
            "{} (chunk {} of {})",
            captured.qualified(),
            chunk + 1,
            table.chunks
        ),
    };
    let client = db.connect().await?;
    let columns = captured
        .columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let keys = captured
        .columns
        .iter()
        .filter(|c| c.key)
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>();
    let order = if keys.is_empty() {
        String::new()
    } else {
        format!(" ORDER BY {}", keys.join(", "))
    };
    let fail = |e: tokio_postgres::Error| format!("copying {qualified}: {e}");
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT {}",
            quote_literal(&output.snapshot),
        ))
        .await
        .map_err(fail)?;
    let condition = match &table.column {
        Some(column) => range.condition(column),
        None => String::new(),
    };
    let copy = client
        .copy_out(&format!(
            "COPY (SELECT {columns} FROM {}.{}{condition}{order}) TO STDOUT",
            quote_ident(&captured.schema),
            quote_ident(&captured.name),
        ))
        .await
        .map_err(fail)?;
    let mut copy = std::pin::pin!(copy);
    let width = captured.columns.len();
    let mut text = CopyText::default();
    let mut rows = Vec::new();
    let mut row = 0u64;
    let mut out = Vec::with_capacity(SEND_ROWS);
    while let Some(data) = std::future::poll_fn(|cx| copy.as_mut().poll_next(cx)).await {
        let data = data.map_err(fail)?;
        text.feed(&data, |line| {
            rows.push(fields(line, width)?);
            Ok(())
        })
        .map_err(|e| format!("copying {qualified}: {e}"))?;
        for values in rows.drain(..) {
            let after = values
                .into_iter()
                .enumerate()
                .map(|(i, value)| match value {
                    None => Datum::Null,
                    Some(text) => Datum::Text(normalize(
                        table.type_oids.get(i).copied().unwrap_or(0),
                        text,
                    )),
                })
                .collect();
            let id = EventId {
                position: output.position,
                part: table.part,
                ordinal: chunks::ordinal(chunk, row),
            };
            row += 1;
            out.push(Change::snapshot_row(
                id,
                output.taken_ms,
                table.table.clone(),
                after,
            ));
            if out.len() >= SEND_ROWS {
                let full = std::mem::replace(&mut out, Vec::with_capacity(SEND_ROWS));
                if output.tx.send(full).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    if !out.is_empty() && output.tx.send(out).await.is_err() {
        return Ok(());
    }
    if text.unfinished() {
        return Err(format!(
            "copying {qualified}: the COPY output ended inside a row"
        ));
    }
    client.batch_execute("COMMIT").await.map_err(fail)?;
    Ok(())
}
