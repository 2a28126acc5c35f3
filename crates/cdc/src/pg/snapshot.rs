//! The initial copy: every captured table read inside the slot's exported snapshot, in
//! primary-key order, by `COPY (SELECT ...) TO STDOUT` (its text parsed as it streams in),
//! several tables at once.

use super::catalog::Shape;
use super::connect::Database;
use super::copy_text::{CopyText, fields};
use super::types::normalize;
use super::{quote_ident, quote_literal};
use crate::change::{Change, Datum, EventId};
use futures_core::Stream;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

/// Tables copied at once (one connection each).
const PARALLEL_TABLES: usize = 4;

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

/// Starts copying: the rows of every table come through the returned channel (at most
/// `buffer` waiting); the join set ends with each table's outcome.
pub fn start(
    db: &Database,
    plan: SnapshotPlan,
    buffer: usize,
) -> (mpsc::Receiver<Change>, JoinSet<Result<(), String>>) {
    let (tx, rx) = mpsc::channel(buffer.max(1));
    let permits = Arc::new(Semaphore::new(PARALLEL_TABLES));
    let snapshot = Arc::new(plan.snapshot);
    let mut tasks = JoinSet::new();
    for (index, shape) in plan.tables.into_iter().enumerate() {
        let (db, tx, permits, snapshot) =
            (db.clone(), tx.clone(), permits.clone(), snapshot.clone());
        let (position, taken_ms) = (plan.position, plan.taken_ms);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
            let part = u32::try_from(index + 1).unwrap_or(u32::MAX);
            copy_table(&db, &snapshot, shape, position, part, taken_ms, tx).await
        });
    }
    (rx, tasks)
}

/// Copies one table.
async fn copy_table(
    db: &Database,
    snapshot: &str,
    shape: Shape,
    position: u64,
    part: u32,
    taken_ms: i64,
    tx: mpsc::Sender<Change>,
) -> Result<(), String> {
    let qualified = shape.table.qualified();
    let client = db.connect().await?;
    let columns = shape
        .table
        .columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let keys = shape
        .table
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
            quote_literal(snapshot),
        ))
        .await
        .map_err(fail)?;
    let copy = client
        .copy_out(&format!(
            "COPY (SELECT {columns} FROM {}.{}{order}) TO STDOUT",
            quote_ident(&shape.table.schema),
            quote_ident(&shape.table.name),
        ))
        .await
        .map_err(fail)?;
    let mut copy = std::pin::pin!(copy);
    let width = shape.table.columns.len();
    let table = Arc::new(shape.table);
    let mut text = CopyText::default();
    let mut rows = Vec::new();
    let mut ordinal = 0u64;
    while let Some(chunk) = std::future::poll_fn(|cx| copy.as_mut().poll_next(cx)).await {
        let chunk = chunk.map_err(fail)?;
        text.feed(&chunk, |line| {
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
                        shape.type_oids.get(i).copied().unwrap_or(0),
                        text,
                    )),
                })
                .collect();
            let id = EventId {
                position,
                part,
                ordinal,
            };
            ordinal += 1;
            if tx
                .send(Change::snapshot_row(id, taken_ms, table.clone(), after))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
    }
    if text.unfinished() {
        return Err(format!(
            "copying {qualified}: the COPY output ended inside a row"
        ));
    }
    client.batch_execute("COMMIT").await.map_err(fail)?;
    Ok(())
}
