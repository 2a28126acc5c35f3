//! The initial copy: each captured table read inside its own consistent snapshot
//! (`START TRANSACTION WITH CONSISTENT SNAPSHOT`), which records the binlog position (and GTID
//! state) it matches, in primary-key order, in chunks, several tables at once. The stream starts at the earliest
//! of those positions and skips a table's changes logged before its own.

use super::catalog::{Head, Shape};
use super::connect::{Database, is_mariadb, rows, text};
use super::{bytes_literal, quote_ident};
use crate::change::{Change, Datum, EventId};
use crate::position::binlog_position;
use crate::sink::now_ms;
use crate::source::SEND_ROWS;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::types::ValueKind;

/// Rows fetched per round trip.
const CHUNK: usize = 5000;
/// Tables copied at once (one connection each).
const PARALLEL_TABLES: usize = 4;

/// Where a table's snapshot sits in the binlog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The table, `db.table`.
    pub table: String,
    /// The binlog file.
    pub file: String,
    /// The position (file and offset, see [`crate::position`]).
    pub position: u64,
    /// The GTID state at the position, when the server has GTIDs.
    pub gtid: Option<String>,
}

/// The estimated row count of each table (`information_schema.TABLES`).
pub async fn estimates(
    conn: &mut Conn,
    tables: &[Shape],
) -> Result<Vec<(String, Option<u64>)>, String> {
    let mut out = Vec::with_capacity(tables.len());
    for shape in tables {
        let t = &shape.table;
        let found = rows(
            conn,
            &format!(
                "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
                bytes_literal(t.schema.as_bytes(), false),
                bytes_literal(t.name.as_bytes(), false)
            ),
            &format!("estimating the size of {}", t.qualified()),
        )
        .await?;
        let n = found
            .first()
            .and_then(|r| r.first())
            .and_then(text)
            .and_then(|n| n.parse().ok());
        out.push((t.qualified(), n));
    }
    Ok(out)
}

/// Starts copying: the rows of every table come through the returned channel, up to
/// [`SEND_ROWS`] at a time (about `buffer` rows waiting at most); the join set ends with each
/// table's cut.
pub fn start(
    db: &Database,
    tables: Vec<Shape>,
    buffer: usize,
) -> (mpsc::Receiver<Vec<Change>>, JoinSet<Result<Cut, String>>) {
    let (tx, rx) = mpsc::channel((buffer / SEND_ROWS).max(2));
    let permits = Arc::new(Semaphore::new(PARALLEL_TABLES));
    let mut tasks = JoinSet::new();
    for (index, shape) in tables.into_iter().enumerate() {
        let (db, tx, permits) = (db.clone(), tx.clone(), permits.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
            let part = u32::try_from(index + 1).unwrap_or(u32::MAX);
            copy_table(&db, shape, part, tx).await
        });
    }
    (rx, tasks)
}

/// Opens a consistent snapshot on `conn` and returns the binlog position (and GTID state) it
/// matches: MariaDB reports the position without a lock; MySQL's is read under a brief global
/// read lock.
async fn open_snapshot(conn: &mut Conn) -> Result<Head, String> {
    let fail = |e: mysql_async::Error| format!("opening a consistent snapshot: {e}");
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(fail)?;
    if is_mariadb(conn) {
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            .await
            .map_err(fail)?;
        let found = rows(
            conn,
            "SHOW STATUS LIKE 'binlog_snapshot_%'",
            "reading the snapshot's binlog position",
        )
        .await?;
        let value = |name: &str| {
            found
                .iter()
                .find(|r| r.first().and_then(text).as_deref() == Some(name))
                .and_then(|r| r.get(1))
                .and_then(text)
        };
        let file = value("Binlog_snapshot_file").filter(|f| !f.is_empty());
        let pos = value("Binlog_snapshot_position").and_then(|p| p.parse().ok());
        let (Some(file), Some(offset)) = (file, pos) else {
            return Err(
                "the server reported no binlog snapshot position: is the binlog on?".into(),
            );
        };
        let gtid = super::catalog::gtid_at(conn, &file, offset).await?;
        Ok(Head { file, offset, gtid })
    } else {
        conn.query_drop("FLUSH TABLES WITH READ LOCK")
            .await
            .map_err(fail)?;
        let opened = async {
            conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                .await
                .map_err(fail)?;
            super::catalog::binlog_head(conn).await
        }
        .await;
        conn.query_drop("UNLOCK TABLES").await.map_err(fail)?;
        opened
    }
}

/// A key value as a literal of the next chunk's `WHERE`.
fn key_literal(kind: &ValueKind, value: &mysql_async::Value) -> String {
    let bytes = match value {
        mysql_async::Value::Bytes(b) => b.clone(),
        mysql_async::Value::NULL => return "NULL".into(),
        other => other.as_sql(true).into_bytes(),
    };
    match kind {
        ValueKind::Integer { .. } if bytes.iter().all(|b| b.is_ascii_digit() || *b == b'-') => {
            String::from_utf8_lossy(&bytes).into_owned()
        }
        ValueKind::Binary | ValueKind::Bit => bytes_literal(&bytes, true),
        _ => bytes_literal(&bytes, false),
    }
}

/// Copies one table.
async fn copy_table(
    db: &Database,
    shape: Shape,
    part: u32,
    tx: mpsc::Sender<Vec<Change>>,
) -> Result<Cut, String> {
    let qualified = shape.table.qualified();
    let mut conn = db.connect().await?;
    let Head { file, offset, gtid } = open_snapshot(&mut conn).await?;
    let position = binlog_position(&file, offset)?;
    let binlog: Arc<str> = Arc::from(file.as_str());
    let taken_ms = now_ms();
    let table = shape.table.clone();
    let columns = table
        .columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let keys: Vec<usize> = (0..table.columns.len())
        .filter(|i| table.columns[*i].key)
        .collect();
    if keys.is_empty() {
        return Err(format!(
            "table {qualified} has no primary key to read it by"
        ));
    }
    let key_list = keys
        .iter()
        .map(|i| quote_ident(&table.columns[*i].name))
        .collect::<Vec<_>>()
        .join(", ");
    let from = format!(
        "SELECT {columns} FROM {}.{}",
        quote_ident(&table.schema),
        quote_ident(&table.name)
    );
    let mut after_key: Option<String> = None;
    let mut ordinal = 0u64;
    loop {
        let sql = match &after_key {
            None => format!("{from} ORDER BY {key_list} LIMIT {CHUNK}"),
            Some(k) => {
                format!("{from} WHERE ({key_list}) > ({k}) ORDER BY {key_list} LIMIT {CHUNK}")
            }
        };
        let chunk = rows(&mut conn, &sql, &format!("copying {qualified}")).await?;
        let fetched = chunk.len();
        if let Some(last) = chunk.last() {
            after_key = Some(
                keys.iter()
                    .map(|i| key_literal(&shape.kinds[*i], &last[*i]))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
        let mut changes = chunk.into_iter().map(|row| {
            let after: Vec<Datum> = shape
                .kinds
                .iter()
                .zip(&row)
                .map(|(kind, value)| kind.from_text(value))
                .collect();
            let id = EventId {
                position,
                part,
                ordinal,
            };
            let mut change = Change::snapshot_row(id, taken_ms, table.clone(), after);
            change.binlog = Some(binlog.clone());
            ordinal += 1;
            change
        });
        loop {
            let some: Vec<Change> = changes.by_ref().take(SEND_ROWS).collect();
            if some.is_empty() {
                break;
            }
            if tx.send(some).await.is_err() {
                return Ok(Cut {
                    table: qualified,
                    file,
                    position,
                    gtid,
                });
            }
        }
        if fetched < CHUNK {
            break;
        }
    }
    conn.query_drop("COMMIT")
        .await
        .map_err(|e| format!("copying {qualified}: {e}"))?;
    Ok(Cut {
        table: qualified,
        file,
        position,
        gtid,
    })
}
