//! What a source must know of a captured table: its columns from `information_schema`, each
//! with how its values are read ([`ValueKind`]), and the checks that it can be captured.

use super::connect::{is_mariadb, rows, text};
use super::types::{ValueKind, sql_type};
use crate::change::{Column, Table};
use mysql_async::Conn;
use std::sync::Arc;

/// A captured table and how to read each of its columns.
#[derive(Clone, Debug)]
pub struct Shape {
    /// The table (catalog and schema are the database).
    pub table: Arc<Table>,
    /// How each column's values are read, in table order.
    pub kinds: Vec<ValueKind>,
}

/// `db.table` split; a bare name is in `default_db`.
pub fn split_name<'a>(name: &'a str, default_db: &'a str) -> (&'a str, &'a str) {
    name.split_once('.').unwrap_or((default_db, name))
}

/// A string literal for `information_schema` lookups.
fn literal(text: &str) -> String {
    super::bytes_literal(text.as_bytes(), false)
}

/// The shape of table `db.name`; an error when it does not exist.
pub async fn shape(conn: &mut Conn, db: &str, name: &str) -> Result<Shape, String> {
    let found = rows(
        conn,
        &format!(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, COLUMN_KEY, CHARACTER_SET_NAME, DATETIME_PRECISION
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}
             ORDER BY ORDINAL_POSITION",
            literal(db),
            literal(name)
        ),
        &format!("reading the columns of {db}.{name}"),
    )
    .await?;
    if found.is_empty() {
        return Err(format!("table {db}.{name} does not exist"));
    }
    let mut columns = Vec::with_capacity(found.len());
    let mut kinds = Vec::with_capacity(found.len());
    for row in &found {
        let field = |i: usize| row.get(i).and_then(text);
        let column_name = field(0).unwrap_or_default();
        let data_type = field(1).unwrap_or_default().to_ascii_lowercase();
        let column_type = field(2).unwrap_or_default();
        let charset = field(4);
        let precision = field(5).and_then(|p| p.parse().ok()).unwrap_or(0);
        let kind = ValueKind::of(&data_type, &column_type, charset.as_deref(), precision);
        columns.push(Column {
            name: column_name,
            sql_type: sql_type(&data_type, &column_type),
            type_name: column_type,
            key: field(3).as_deref() == Some("PRI"),
        });
        kinds.push(kind);
    }
    Ok(Shape {
        table: Arc::new(Table {
            catalog: db.to_string(),
            schema: db.to_string(),
            name: name.to_string(),
            columns,
        }),
        kinds,
    })
}

/// Why table `db.name` cannot be captured (no primary key), or `None`.
pub fn capture_problem(shape: &Shape) -> Option<String> {
    if shape.table.key_names().is_empty() {
        return Some(format!(
            "table {} has no primary key: its rows cannot be matched by a loader; add one",
            shape.table.qualified()
        ));
    }
    None
}

/// The server settings a binlog source needs, with what is wrong with them, if anything.
pub async fn binlog_problem(conn: &mut Conn) -> Result<Option<String>, String> {
    let found = rows(
        conn,
        "SELECT @@log_bin, @@binlog_format, @@binlog_row_image",
        "reading the binlog settings",
    )
    .await?;
    let row = found.first().cloned().unwrap_or_default();
    let get = |i: usize| row.get(i).and_then(text).unwrap_or_default();
    let (log_bin, format, image) = (get(0), get(1), get(2));
    if log_bin != "1" {
        return Ok(Some(
            "the server's binlog is off: set log_bin, binlog_format=ROW and binlog_row_image=FULL, and restart it".into(),
        ));
    }
    if !format.eq_ignore_ascii_case("ROW") {
        return Ok(Some(format!(
            "the server logs binlog_format={format}: a source needs ROW (SET GLOBAL binlog_format=ROW)"
        )));
    }
    if !image.eq_ignore_ascii_case("FULL") {
        return Ok(Some(format!(
            "the server logs binlog_row_image={image}: a source needs FULL (SET GLOBAL binlog_row_image=FULL)"
        )));
    }
    Ok(None)
}

/// The binlog files the server still has.
pub async fn binlog_files(conn: &mut Conn) -> Result<Vec<String>, String> {
    let found = rows(conn, "SHOW BINARY LOGS", "listing the binlog files").await?;
    Ok(found
        .iter()
        .filter_map(|r| r.first().and_then(text))
        .collect())
}

/// A binlog position of the server, with its GTID state there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The binlog file.
    pub file: String,
    /// The offset in the file.
    pub offset: u64,
    /// The GTID state at that position as the server writes it (MariaDB's GTID position,
    /// MySQL's executed GTID set), when the server has GTIDs.
    pub gtid: Option<String>,
}

/// The server's current binlog position and GTID state.
pub async fn binlog_head(conn: &mut Conn) -> Result<Head, String> {
    let found = rows(conn, "SHOW MASTER STATUS", "reading the binlog position").await?;
    let row = found
        .first()
        .ok_or("SHOW MASTER STATUS returned nothing: is the binlog on?")?;
    let file = row.first().and_then(text).unwrap_or_default();
    let offset = row
        .get(1)
        .and_then(text)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4);
    let gtid = if is_mariadb(conn) {
        gtid_at(conn, &file, offset).await?
    } else if gtids_enabled(conn).await {
        // MySQL's fifth column, `Executed_Gtid_Set`.
        Some(row.get(4).and_then(text).unwrap_or_default())
    } else {
        None
    };
    Ok(Head { file, offset, gtid })
}

/// Whether the server gives every transaction a GTID: MariaDB always does, MySQL with
/// `gtid_mode=ON` (a MySQL too old to know `gtid_mode` has none).
pub async fn gtids_enabled(conn: &mut Conn) -> bool {
    if is_mariadb(conn) {
        return true;
    }
    let Ok(found) = rows(conn, "SELECT @@GLOBAL.gtid_mode", "reading gtid_mode").await else {
        return false;
    };
    let mode = found.first().and_then(|r| r.first()).and_then(text);
    mode.is_some_and(|m| m.eq_ignore_ascii_case("ON"))
}

/// MariaDB's GTID position matching binlog `file` and `offset` (`BINLOG_GTID_POS`; empty
/// before the first GTID of the binlog), or `None` when the server does not have that
/// position (the file was purged).
pub async fn gtid_at(conn: &mut Conn, file: &str, offset: u64) -> Result<Option<String>, String> {
    let found = rows(
        conn,
        &format!("SELECT BINLOG_GTID_POS({}, {offset})", literal(file)),
        &format!("reading the GTID position of {file}:{offset}"),
    )
    .await?;
    Ok(found.first().and_then(|r| r.first()).and_then(text))
}
