//! Formats: a [`Change`] as a Canal-JSON message (Canal's `FlatMessage`) or a Debezium change
//! event.
//!
//! Canal-JSON keeps every value a string (or `null`); `database` is the PostgreSQL schema (the
//! MySQL database), `mysqlType` the declared type, `sqlType` its JDBC code, `es` the commit time
//! and `ts` the time the message was made. Snapshot rows are `INSERT`s marked `_cdc.snapshot`.
//! `old` holds, per row, the columns whose value changed with their previous value; from
//! PostgreSQL it is only complete for tables with `REPLICA IDENTITY FULL` (`_cdc.before_image`
//! says what was known). Columns the source did not send are left out and listed in
//! `_cdc.unknown`, never given as `null`. DDL (a binlog's statements, PostgreSQL's `TRUNCATE`)
//! is a message with `isDdl: true` and its `sql`.
//!
//! Both formats carry `_cdc.id`, the change's stable id, for consumers to drop duplicates, and
//! the source position: `_cdc.lsn`, or `_cdc.file` and `_cdc.pos` of a binlog.

use crate::change::{Change, Datum, Kind};
use crate::pg::lsn_text;
use crate::position::binlog_offset;
use base64::Engine as _;
use canal::CanalWriter;
use serde_json::{Map, Value, json};

/// A message format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Canal's flat JSON message.
    #[default]
    CanalJson,
    /// Debezium's change event envelope (the value, without a schema).
    Debezium,
}

impl Format {
    /// The format named `canal-json` or `debezium`.
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "canal-json" => Ok(Format::CanalJson),
            "debezium" => Ok(Format::Debezium),
            other => Err(format!(
                "unknown format '{other}' (formats: canal-json, debezium)"
            )),
        }
    }

    /// The message for `change` of the source `source`, made at `now_ms`.
    pub fn message(self, source: &str, change: &Change, now_ms: i64) -> Value {
        match self {
            Format::CanalJson => {
                let mut text = Vec::new();
                CanalWriter::default().write(source, change, now_ms, &mut text);
                // The writer writes JSON: reading it back cannot fail.
                serde_json::from_slice(&text).unwrap_or(Value::Null)
            }
            Format::Debezium => debezium(source, change, now_ms),
        }
    }
}

/// Writes the messages of one source in one format as JSON text.
pub struct Writer {
    format: Format,
    canal: CanalWriter,
}

impl Writer {
    /// A writer of `format`.
    pub fn new(format: Format) -> Writer {
        Writer {
            format,
            canal: CanalWriter::default(),
        }
    }

    /// Appends the message for `change` of the source `source`, made at `now_ms`, to `out`:
    /// the text of [`Format::message`].
    pub fn write(&mut self, source: &str, change: &Change, now_ms: i64, out: &mut Vec<u8>) {
        match self.format {
            Format::CanalJson => self.canal.write(source, change, now_ms, out),
            Format::Debezium => {
                // Writing to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, &debezium(source, change, now_ms));
            }
        }
    }
}

/// What every message carries under `_cdc`.
fn extension(source: &str, change: &Change) -> Map<String, Value> {
    let mut cdc = Map::with_capacity(11);
    cdc.insert("id".into(), json!(change.id.to_string()));
    cdc.insert("source".into(), json!(source));
    cdc.insert("catalog".into(), json!(change.table.catalog));
    match &change.binlog {
        Some(file) => {
            cdc.insert("file".into(), json!(&**file));
            cdc.insert("pos".into(), json!(binlog_offset(change.id.position)));
        }
        None => {
            cdc.insert("lsn".into(), json!(lsn_text(change.id.position)));
        }
    }
    cdc.insert("txid".into(), json!(change.txid));
    cdc.insert("ordinal".into(), json!(change.id.ordinal));
    cdc.insert("snapshot".into(), json!(change.kind == Kind::Read));
    cdc.insert("before_image".into(), json!(change.before_image.as_str()));
    cdc
}

/// A value typed as Debezium gives it: integers, floats and booleans as JSON numbers and
/// booleans, binary values of a binlog source in base64, everything else (numeric, temporal,
/// json, bytea of PostgreSQL) as its string.
fn typed(sql_type: i32, text: &str, binlog: bool) -> Value {
    let parsed = match sql_type {
        -6 | 5 | 4 | -5 => text.parse::<i64>().ok().map(Value::from),
        -2 | -3 | -4 | 2004 if binlog => crate::pg::types::from_latin1(text)
            .map(|bytes| Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))),
        6..=8 => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        -7 => text.parse::<bool>().ok().map(Value::Bool),
        _ => None,
    };
    parsed.unwrap_or_else(|| Value::String(text.to_string()))
}

fn typed_row(change: &Change, row: &[Datum]) -> Value {
    let map: Map<String, Value> = change
        .table
        .columns
        .iter()
        .zip(row)
        .filter_map(|(c, d)| match d {
            Datum::Null => Some((c.name.clone(), Value::Null)),
            Datum::Text(t) => Some((
                c.name.clone(),
                typed(c.sql_type, t, change.binlog.is_some()),
            )),
            Datum::Unknown => None,
        })
        .collect();
    Value::Object(map)
}

fn debezium(source: &str, change: &Change, now_ms: i64) -> Value {
    let (op, before, after) = match change.kind {
        Kind::Insert => ("c", Value::Null, typed_row(change, &change.after)),
        Kind::Read => ("r", Value::Null, typed_row(change, &change.after)),
        Kind::Update => (
            "u",
            change
                .before
                .as_deref()
                .map_or(Value::Null, |b| typed_row(change, b)),
            typed_row(change, &change.after),
        ),
        Kind::Delete => ("d", typed_row(change, change.row()), Value::Null),
        Kind::Truncate => ("t", Value::Null, Value::Null),
        Kind::Ddl => return debezium_schema_change(source, change, now_ms),
    };
    json!({
        "before": before,
        "after": after,
        "source": debezium_source(source, change),
        "op": op,
        "ts_ms": now_ms,
        "_cdc": extension(source, change),
    })
}

/// Debezium's `source` block: the PostgreSQL or the MySQL connector's fields.
fn debezium_source(source: &str, change: &Change) -> Value {
    let table = &change.table;
    let snapshot = if change.kind == Kind::Read {
        "true"
    } else {
        "false"
    };
    match &change.binlog {
        Some(file) => json!({
            "version": env!("CARGO_PKG_VERSION"),
            "connector": "mysql",
            "name": source,
            "ts_ms": change.commit_ms,
            "snapshot": snapshot,
            "db": table.schema,
            "table": table.name,
            "file": &**file,
            "pos": binlog_offset(change.id.position),
            "row": change.id.ordinal,
            "gtid": change.gtid.as_deref(),
        }),
        None => json!({
            "version": env!("CARGO_PKG_VERSION"),
            "connector": "postgresql",
            "name": source,
            "ts_ms": change.commit_ms,
            "snapshot": snapshot,
            "db": table.catalog,
            "schema": table.schema,
            "table": table.name,
            "txId": change.txid,
            "lsn": change.id.position,
        }),
    }
}

/// A DDL statement as Debezium's schema change event (without `tableChanges` details).
fn debezium_schema_change(source: &str, change: &Change, now_ms: i64) -> Value {
    json!({
        "source": debezium_source(source, change),
        "ts_ms": now_ms,
        "databaseName": change.table.schema,
        "schemaName": Value::Null,
        "ddl": change.ddl.as_ref().map(|d| d.sql.as_str()),
        "tableChanges": [],
        "_cdc": extension(source, change),
    })
}

mod canal;
#[cfg(test)]
mod tests;
