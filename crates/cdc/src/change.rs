//! The source-neutral change model: what a Poller produces and a Format turns into messages.
//!
//! Positions are opaque to everything but their source: a PostgreSQL source records commit LSNs,
//! a binlog source records file and offset (see [`crate::mysql::position`]). What travels with every change is an
//! [`EventId`], stable across replays, so a consumer can drop duplicates.

use std::fmt;
use std::sync::Arc;

/// What happened to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A row was inserted.
    Insert,
    /// A row was updated.
    Update,
    /// A row was deleted.
    Delete,
    /// The table was truncated (no row values).
    Truncate,
    /// A row read by the initial snapshot.
    Read,
    /// A schema change (a binlog source's DDL statement; see [`Change::ddl`]).
    Ddl,
}

/// A DDL statement as the source logged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ddl {
    /// Canal's name of its kind: `CREATE`, `ALTER`, `ERASE`, `RENAME`, `CINDEX`, `DINDEX` or
    /// `QUERY`.
    pub kind: &'static str,
    /// The statement.
    pub sql: String,
}

/// One column value as the source rendered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datum {
    /// SQL NULL.
    Null,
    /// The value's text, normalised (see [`crate::pg::types::normalize`]).
    Text(String),
    /// Not sent by the source (a key-only old row's other columns, an unchanged TOASTed
    /// value): unknown, never to be reported as NULL.
    Unknown,
}

impl Datum {
    /// Whether the value is known (NULL or text).
    pub fn is_known(&self) -> bool {
        !matches!(self, Datum::Unknown)
    }
}

/// A column of a captured table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// The declared type as the source spells it (PostgreSQL `format_type`, e.g.
    /// `numeric(10,2)`).
    pub type_name: String,
    /// The type's JDBC code (`java.sql.Types`).
    pub sql_type: i32,
    /// Whether it is part of the key that identifies rows (the primary key).
    pub key: bool,
}

/// A captured table as of a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The database the source reads (PostgreSQL: the database name).
    pub catalog: String,
    /// The namespace (PostgreSQL schema).
    pub schema: String,
    /// The table name.
    pub name: String,
    /// Its columns in table order.
    pub columns: Vec<Column>,
}

impl Table {
    /// `schema.name`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// The key columns' names, in table order.
    pub fn key_names(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| c.key)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// How much of the old row a change carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeforeImage {
    /// Nothing of the old row.
    None,
    /// The key columns only.
    Key,
    /// Every column.
    Full,
}

impl BeforeImage {
    /// `none`, `key` or `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            BeforeImage::None => "none",
            BeforeImage::Key => "key",
            BeforeImage::Full => "full",
        }
    }
}

/// A stable identity of a change: the source position of its transaction and its index in
/// it. Replays of the same change carry the same id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    /// The position of the transaction (PostgreSQL: its commit end LSN; a snapshot: the
    /// slot's consistent point; a binlog: where the transaction begins, see
    /// [`crate::mysql::position`]).
    pub position: u64,
    /// Which part of the source: `0` for the change stream, `1 + table index` for the
    /// snapshot rows of a table.
    pub part: u32,
    /// The change's index inside its transaction; for a snapshot row, its index inside its
    /// table. A PostgreSQL snapshot copies a large table in primary-key chunks: there the
    /// chunk's index is in the high bits and the row's index inside the chunk (in key order)
    /// in the low 40 (see [`crate::pg::chunks::ordinal`]), unique within the table and the same
    /// for the same snapshot and chunk plan.
    pub ordinal: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.part == 0 {
            write!(f, "{:016X}-{}", self.position, self.ordinal)
        } else {
            write!(
                f,
                "{:016X}-s{}-{}",
                self.position,
                self.part - 1,
                self.ordinal
            )
        }
    }
}

/// One row change (or a truncate) of a captured table.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Its stable id.
    pub id: EventId,
    /// The source transaction id, when the source has one.
    pub txid: Option<u64>,
    /// When the transaction committed (a snapshot: when it was taken), Unix ms.
    pub commit_ms: i64,
    /// The table.
    pub table: Arc<Table>,
    /// What happened.
    pub kind: Kind,
    /// The row after the change (insert, update, snapshot read), one value per column; empty
    /// for a delete or truncate.
    pub after: Vec<Datum>,
    /// The row before the change: a delete's row; an update's old row when the source sent
    /// one. Columns the source did not send are [`Datum::Unknown`].
    pub before: Option<Vec<Datum>>,
    /// How much of the old row the source sends for this table.
    pub before_image: BeforeImage,
    /// For a truncate: `CASCADE` and `RESTART IDENTITY` flags as SQL words.
    pub truncate_options: Vec<&'static str>,
    /// The binlog file of the change's position, for a binlog source (`None` for PostgreSQL).
    pub binlog: Option<Arc<str>>,
    /// The GTID of the change's transaction, for a binlog source whose server has GTIDs
    /// (MariaDB's `domain-server-seq`, MySQL's `uuid:n`).
    pub gtid: Option<Arc<str>>,
    /// For a DDL change: the statement.
    pub ddl: Option<Ddl>,
}

impl Change {
    /// A row read by a snapshot: `after` of `table` as of `commit_ms`.
    pub fn snapshot_row(
        id: EventId,
        commit_ms: i64,
        table: Arc<Table>,
        after: Vec<Datum>,
    ) -> Change {
        Change {
            id,
            txid: None,
            commit_ms,
            table,
            kind: Kind::Read,
            after,
            before: None,
            before_image: BeforeImage::None,
            truncate_options: Vec::new(),
            binlog: None,
            gtid: None,
            ddl: None,
        }
    }

    /// The row the change is about: the new row, or a delete's old row.
    pub fn row(&self) -> &[Datum] {
        match self.kind {
            Kind::Delete => self.before.as_deref().unwrap_or(&[]),
            _ => &self.after,
        }
    }
}
