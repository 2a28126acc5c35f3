//! The change stream: binlog events decoded into changes (TABLE_MAP + WRITE/UPDATE/DELETE_ROWS
//! v1 and v2 with full row images; DDL from QUERY events, after which the table's columns are
//! read again), each carrying its transaction's GTID, batched, and stored with the GTID state
//! only at transaction boundaries (XID, or a QUERY `COMMIT` or DDL) the sink has accepted.

use super::catalog::{self, Shape};
use super::ddl;
use super::gtid::{Gtid, GtidState, MARIADB_GTID_EVENT};
use crate::change::{BeforeImage, Change, Datum, Ddl, EventId, Kind};
use crate::pg::stream::{TICK, until};
use crate::position::{binlog_offset, binlog_position};
use crate::sink::Sinker;
use crate::source::Checkpointer;
use futures_core::Stream;
use mysql_async::binlog::EventType;
use mysql_async::binlog::events::{Event, EventData, RowsEventData, TableMapEvent};
use mysql_async::binlog::row::BinlogRow;
use mysql_async::{BinlogStream, Conn};
use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::watch;

/// What the decoder knows and where it is.
pub struct Decoder {
    /// The captured tables by `db.table`, with the position below which each one's changes are
    /// in its snapshot already.
    tables: HashMap<String, (Shape, u64)>,
    /// The source's database, for DDL that does not name one.
    database: String,
    /// The current file.
    file: Arc<str>,
    /// Where the last event ended (where the next one begins).
    last_end: u64,
    /// Where the current transaction began.
    txn_position: u64,
    /// Between a `BEGIN` and its commit.
    in_txn: bool,
    /// Changes so far in the transaction.
    ordinal: u64,
    /// The current transaction's time, Unix ms.
    commit_ms: i64,
    /// The GTID state after the last transaction that ended, when known.
    gtid: Option<GtidState>,
    /// The current transaction's GTID, and its text for its changes.
    txn_gtid: Option<(Gtid, Arc<str>)>,
}

/// What one event means for the stream.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The changes it carries.
    pub changes: Vec<Change>,
    /// A transaction began.
    pub began: bool,
    /// A transaction ended; everything up to this position is complete.
    pub committed: Option<u64>,
}

impl Decoder {
    /// A decoder for the `tables` (each with the position its snapshot matches) of `database`,
    /// starting in binlog `file` at offset `start`, after GTID state `gtid` (MySQL's is learnt
    /// from the next file's `PREVIOUS_GTIDS` when not known).
    pub fn new(
        database: &str,
        tables: Vec<(Shape, u64)>,
        file: &str,
        start: u64,
        gtid: Option<GtidState>,
    ) -> Decoder {
        Decoder {
            tables: tables
                .into_iter()
                .map(|(s, p)| (s.table.qualified(), (s, p)))
                .collect(),
            last_end: start,
            database: database.to_string(),
            file: Arc::from(file),
            txn_position: 0,
            in_txn: false,
            ordinal: 0,
            commit_ms: 0,
            gtid,
            txn_gtid: None,
        }
    }

    /// The GTID state after the last transaction that ended, when known.
    pub fn gtid(&self) -> Option<&GtidState> {
        self.gtid.as_ref()
    }

    /// The current binlog file.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The position of `offset` in the current file.
    fn at(&self, offset: u64) -> Result<u64, String> {
        binlog_position(&self.file, offset)
    }

    /// Decodes `event`; `tme` is the table map its rows refer to, `sql` reads a table's columns
    /// again after DDL.
    pub async fn event(
        &mut self,
        event: &Event,
        tme: Option<&TableMapEvent<'static>>,
        sql: &mut Conn,
    ) -> Result<Decoded, String> {
        let header = event.header();
        let end = u64::from(header.log_pos());
        // Events the server makes up (a heartbeat, the format description sent at the start)
        // do not move the position.
        let made_up = matches!(
            header.event_type(),
            Ok(EventType::HEARTBEAT_EVENT | EventType::FORMAT_DESCRIPTION_EVENT)
        );
        let size = u64::from(header.event_size());
        // An event of the file begins `size` bytes before its end (a stream resumed by GTID
        // skips the transactions before it, so the previous event's end is not always it).
        let start = if end >= size && end > 0 && !made_up {
            end - size
        } else {
            self.last_end
        };
        if end > 0 && !made_up {
            self.last_end = end;
        }
        let mut out = Decoded::default();
        if header.event_type_raw() == MARIADB_GTID_EVENT {
            let (gtid, standalone) = Gtid::from_mariadb_event(header.server_id(), event.data())
                .ok_or_else(|| format!("the GTID event at {}:{start} is cut short", self.file))?;
            self.gtid_begins(gtid);
            // It begins the transaction (MariaDB logs no BEGIN after it), unless its statement
            // stands alone (DDL, which begins at its own QUERY event).
            if !standalone {
                self.begin(start, header.timestamp())?;
                self.in_txn = true;
                out.began = true;
            }
            return Ok(out);
        }
        let data = event
            .read_data()
            .map_err(|e| format!("reading the binlog event at {}:{end}: {e}", self.file))?;
        match data {
            Some(EventData::RotateEvent(r)) => {
                self.file = Arc::from(rotated_name(r.name_raw()).as_str());
                self.last_end = r.position();
            }
            Some(EventData::QueryEvent(q)) => {
                let query = q.query();
                let text = query.trim();
                if text.eq_ignore_ascii_case("BEGIN") {
                    self.begin(start, header.timestamp())?;
                    self.in_txn = true;
                    out.began = true;
                } else if text.eq_ignore_ascii_case("COMMIT") {
                    self.in_txn = false;
                    out.committed = Some(self.commit(end)?);
                } else if let Some(statement) = ddl::classify(text) {
                    // DDL commits by itself; inside a transaction it is only passed on.
                    let own = !self.in_txn;
                    if own {
                        self.begin(start, header.timestamp())?;
                    }
                    out.changes = self.ddl(statement, &q.schema(), text, sql).await?;
                    if own {
                        out.committed = Some(self.commit(end)?);
                    }
                } else if !self.in_txn && self.txn_gtid.is_some() {
                    // Any other statement with a GTID of its own (`GRANT`, `ANALYZE`…) ends
                    // its transaction too.
                    out.committed = Some(self.commit(end)?);
                }
            }
            Some(EventData::XidEvent(_)) => {
                self.in_txn = false;
                out.committed = Some(self.commit(end)?);
            }
            Some(EventData::GtidEvent(g)) => {
                self.gtid_begins(Gtid::mysql(g.sid(), g.tag().map(|t| t.as_str()), g.gno()));
            }
            Some(EventData::PreviousGtidsEvent(p)) if self.gtid.is_none() => {
                self.gtid = Some(GtidState::from_previous_gtids(&p));
            }
            Some(EventData::RowsEvent(rows)) => {
                let tme = tme.ok_or_else(|| {
                    format!(
                        "the rows event at {}:{start} has no table map before it",
                        self.file
                    )
                })?;
                out.changes = self.rows(&rows, tme, sql).await?;
            }
            _ => {}
        }
        Ok(out)
    }

    /// A transaction's GTID event: the GTID of one whose end the decoder did not see is passed
    /// in the state first.
    fn gtid_begins(&mut self, gtid: Gtid) {
        if let (Some((earlier, _)), Some(state)) = (self.txn_gtid.take(), self.gtid.as_mut()) {
            state.add(&earlier);
        }
        let text = Arc::from(gtid.to_string().as_str());
        self.txn_gtid = Some((gtid, text));
    }

    /// The transaction ends at `end`: its GTID joins the state; the position of `end`.
    fn commit(&mut self, end: u64) -> Result<u64, String> {
        if let (Some((gtid, _)), Some(state)) = (self.txn_gtid.take(), self.gtid.as_mut()) {
            state.add(&gtid);
        }
        self.at(end)
    }

    /// The text of the current transaction's GTID, for its changes.
    fn txn_gtid(&self) -> Option<Arc<str>> {
        self.txn_gtid.as_ref().map(|(_, text)| text.clone())
    }

    fn begin(&mut self, start: u64, timestamp: u32) -> Result<(), String> {
        self.txn_position = self.at(start)?;
        self.ordinal = 0;
        self.commit_ms = i64::from(timestamp) * 1000;
        Ok(())
    }

    fn next_id(&mut self) -> EventId {
        let id = EventId {
            position: self.txn_position,
            part: 0,
            ordinal: self.ordinal,
        };
        self.ordinal += 1;
        id
    }

    /// A DDL statement: a DDL change when it is about a captured table, whose columns are then
    /// read again (or which is no longer captured when dropped or renamed away).
    async fn ddl(
        &mut self,
        statement: ddl::Statement,
        schema: &str,
        sql_text: &str,
        sql: &mut Conn,
    ) -> Result<Vec<Change>, String> {
        let Some(table) = &statement.table else {
            return Ok(Vec::new());
        };
        let db = statement.database.clone().unwrap_or_else(|| {
            if schema.is_empty() {
                self.database.clone()
            } else {
                schema.to_string()
            }
        });
        let qualified = format!("{db}.{table}");
        let Some((shape, _)) = self.tables.get(&qualified) else {
            return Ok(Vec::new());
        };
        let before = shape.table.clone();
        let kind = if statement.kind == "TRUNCATE" {
            Kind::Truncate
        } else {
            Kind::Ddl
        };
        let change = Change {
            id: self.next_id(),
            txid: None,
            commit_ms: self.commit_ms,
            table: before,
            kind,
            after: Vec::new(),
            before: None,
            before_image: BeforeImage::Full,
            truncate_options: Vec::new(),
            binlog: Some(self.file.clone()),
            gtid: self.txn_gtid(),
            ddl: Some(Ddl {
                kind: statement.kind,
                sql: sql_text.to_string(),
            }),
        };
        match statement.kind {
            "ERASE" | "RENAME" => {
                self.tables.remove(&qualified);
            }
            "ALTER" | "CREATE" | "CINDEX" | "DINDEX" => {
                let shape = catalog::shape(sql, &db, table).await?;
                if let Some(entry) = self.tables.get_mut(&qualified) {
                    entry.0 = shape;
                }
            }
            _ => {}
        }
        Ok(vec![change])
    }

    /// The changes of a rows event of a captured table logged after its snapshot.
    async fn rows(
        &mut self,
        rows: &RowsEventData<'_>,
        tme: &TableMapEvent<'static>,
        sql: &mut Conn,
    ) -> Result<Vec<Change>, String> {
        let qualified = format!("{}.{}", tme.database_name(), tme.table_name());
        let Some((_, snapshot_at)) = self.tables.get(&qualified) else {
            return Ok(Vec::new());
        };
        if self.txn_position < *snapshot_at {
            return Ok(Vec::new());
        }
        let width = rows.num_columns() as usize;
        if self.tables[&qualified].0.kinds.len() != width && !names_logged(tme) {
            // Columns changed without DDL seen here (the stream resumed after it): read them
            // again, and give up clearly if they still differ.
            let (db, table) = catalog::split_name(&qualified, &self.database);
            let shape = catalog::shape(sql, db, table).await?;
            if shape.kinds.len() != width {
                return Err(format!(
                    "table {qualified} has {width} columns at {}:{} of the binlog but {} now, and the server does not log column names (set binlog_row_metadata=FULL), so its rows cannot be read; take a new snapshot with `sluice cdc resnapshot`",
                    self.file,
                    binlog_offset(self.txn_position),
                    shape.kinds.len()
                ));
            }
            if let Some(entry) = self.tables.get_mut(&qualified) {
                entry.0 = shape;
            }
        }
        let shape = &self.tables[&qualified].0;
        let (kind, table) = (rows_kind(rows), shape.table.clone());
        let mut decoded = Vec::new();
        for row in rows.rows(tme) {
            let (before, after) = row.map_err(|e| {
                format!(
                    "reading a row of {qualified} at {}:{}: {e}",
                    self.file,
                    binlog_offset(self.txn_position)
                )
            })?;
            let before = before.map(|r| values(shape, &r)).transpose()?;
            let after = after.map(|r| values(shape, &r)).transpose()?;
            decoded.push((before, after));
        }
        let mut changes = Vec::with_capacity(decoded.len());
        for (before, after) in decoded {
            changes.push(Change {
                id: self.next_id(),
                txid: None,
                commit_ms: self.commit_ms,
                table: table.clone(),
                kind,
                after: if kind == Kind::Delete {
                    Vec::new()
                } else {
                    after.unwrap_or_default()
                },
                before,
                before_image: BeforeImage::Full,
                truncate_options: Vec::new(),
                binlog: Some(self.file.clone()),
                gtid: self.txn_gtid(),
                ddl: None,
            });
        }
        Ok(changes)
    }
}

/// The file a ROTATE event names: its name through the sequence number, the six or more digits
/// after a dot (the event's bytes may carry the 4-byte checksum after the name, which may hold a
/// dot and up to three digits of its own).
pub(super) fn rotated_name(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let digits_after = |dot: usize| {
        text[dot + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count()
    };
    let found = text
        .rmatch_indices('.')
        .map(|(dot, _)| (dot, digits_after(dot)))
        .find(|(_, n)| *n >= 6);
    match found {
        Some((dot, n)) => text[..dot + 1 + n].to_string(),
        None => text.into_owned(),
    }
}

/// Whether the table map names its columns (`binlog_row_metadata=FULL`).
fn names_logged(tme: &TableMapEvent<'_>) -> bool {
    mysql_async::binlog::events::OptionalMetaExtractor::new(tme.iter_optional_meta())
        .is_ok_and(|m| m.iter_column_name().next().is_some())
}

fn rows_kind(rows: &RowsEventData<'_>) -> Kind {
    match rows {
        RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => Kind::Insert,
        RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_) => Kind::Delete,
        _ => Kind::Update,
    }
}

/// A binlog row in the shape's column order: by column name when the binlog names them (a
/// column the row lacks is unknown), else by position.
fn values(shape: &Shape, row: &BinlogRow) -> Result<Vec<Datum>, String> {
    let columns = row.columns_ref();
    let named = columns.iter().all(|c| !c.name_str().starts_with('@'));
    let mut out = vec![Datum::Unknown; shape.kinds.len()];
    for (i, column) in columns.iter().enumerate() {
        let index = if named {
            let name = column.name_str();
            match shape.table.columns.iter().position(|c| c.name == name) {
                Some(index) => index,
                None => continue,
            }
        } else {
            i
        };
        let (Some(kind), Some(value)) = (shape.kinds.get(index), row.as_ref(i)) else {
            continue;
        };
        out[index] = kind.from_binlog(value).map_err(|e| {
            format!(
                "column {} of {}: {e}",
                shape.table.columns[index].name,
                shape.table.qualified()
            )
        })?;
    }
    Ok(out)
}

/// Where the stream is: what was stored, and what may be stored next, each with the GTID
/// state there.
struct Positions {
    /// Stored.
    stored: (u64, Option<GtidState>),
    /// End of the last transaction whose changes were all pushed to the sinker.
    committed: (u64, Option<GtidState>),
    /// Inside a transaction.
    in_txn: bool,
    /// The marks of the batches handed to the sinker and not yet accepted, in order.
    handed: VecDeque<(u64, Option<GtidState>)>,
}

impl Positions {
    /// The mark of the handed batch accepted at `position`, with its GTID state; the marks
    /// before it go.
    fn accepted(&mut self, position: u64) -> Option<(u64, Option<GtidState>)> {
        while let Some(mark) = self.handed.pop_front() {
            if mark.0 == position {
                return Some(mark);
            }
        }
        None
    }
}

/// The next event of `stream`.
pub(super) async fn next(stream: &mut BinlogStream) -> Option<mysql_async::Result<Event>> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Streams from `stream` (started at `position`) until `stop`; an error ends the session. `sql`
/// reads columns after DDL.
pub async fn stream(
    stream: &mut BinlogStream,
    sql: &mut Conn,
    decoder: &mut Decoder,
    sinker: &mut Sinker,
    checkpointer: &Checkpointer,
    position: u64,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let start = (position, decoder.gtid().cloned());
    let mut at = Positions {
        stored: start.clone(),
        committed: start,
        in_txn: false,
        handed: VecDeque::new(),
    };
    let status = checkpointer.status();
    let mut tick = tokio::time::interval(TICK);
    loop {
        let deadline = sinker.deadline();
        tokio::select! {
            event = next(stream) => {
                let event = event
                    .ok_or("the binlog stream ended")?
                    .map_err(|e| binlog_error(&e.to_string()))?;
                let log_pos = u64::from(event.header().log_pos());
                if log_pos > 0 {
                    status.server_at(binlog_position(decoder.file(), log_pos)?);
                }
                let tme = match event.read_data() {
                    Ok(Some(EventData::RowsEvent(rows))) => stream.get_tme(rows.table_id()).cloned(),
                    _ => None,
                };
                let mut decoded = decoder.event(&event, tme.as_ref(), sql).await?;
                if decoded.began {
                    at.in_txn = true;
                }
                for change in std::mem::take(&mut decoded.changes) {
                    if sinker.push(change) && !flush(sinker, checkpointer, &mut at, stop).await? {
                        return Ok(());
                    }
                }
                if let Some(end) = decoded.committed {
                    at.committed = (end, decoder.gtid().cloned());
                    at.in_txn = false;
                }
            }
            accepted = sinker.accepted() => {
                let Ok(mark) = accepted else { return Ok(()) };
                let stored = at.accepted(mark);
                save(checkpointer, &mut at, stored).await?;
            }
            () = until(deadline) => {
                if !flush(sinker, checkpointer, &mut at, stop).await? {
                    return Ok(());
                }
            }
            _ = tick.tick() => {
                let committed = (!at.in_txn && sinker.is_idle()).then(|| at.committed.clone());
                save(checkpointer, &mut at, committed).await?;
            }
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Hands the waiting batch to the sinker, marked with the last committed position, and stores
/// the position of the batch accepted meanwhile; false when told to stop.
async fn flush(
    sinker: &mut Sinker,
    checkpointer: &Checkpointer,
    at: &mut Positions,
    stop: &watch::Receiver<bool>,
) -> Result<bool, String> {
    let mark = at.committed.clone();
    let Ok(accepted) = sinker.flush(mark.0, stop).await else {
        return Ok(false);
    };
    at.handed.push_back(mark);
    if let Some(position) = accepted {
        let stored = at.accepted(position);
        save(checkpointer, at, stored).await?;
    }
    Ok(true)
}

/// A binlog error, with what to do when the position is gone.
pub fn binlog_error(error: &str) -> String {
    if error.contains("1236") || error.contains("first log file") {
        format!(
            "reading the binlog: {error} (the file was purged: take a new snapshot with `sluice cdc resnapshot`)"
        )
    } else {
        format!("reading the binlog: {error}")
    }
}

/// Stores `mark`, the position after the last change accepted with its GTID state, when it
/// moved forward, else the stored position again (extending the lease).
async fn save(
    checkpointer: &Checkpointer,
    at: &mut Positions,
    mark: Option<(u64, Option<GtidState>)>,
) -> Result<(), String> {
    if let Some(mark) = mark.filter(|m| m.0 > at.stored.0) {
        at.stored = mark;
    }
    let (position, gtid) = &at.stored;
    checkpointer
        .status()
        .set_gtid(gtid.as_ref().map(ToString::to_string));
    checkpointer.save("streaming", *position).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_name_ends_with_its_sequence() {
        assert_eq!(
            rotated_name(b"mysql-bin.000002\x74\xe2\x7c\x6b"),
            "mysql-bin.000002"
        );
        assert_eq!(rotated_name(b"mysql-bin.000010"), "mysql-bin.000010");
        assert_eq!(rotated_name(b"mysql-bin.000001TO."), "mysql-bin.000001");
        assert_eq!(rotated_name(b"my.bin.000003\x01.12"), "my.bin.000003");
    }
}
