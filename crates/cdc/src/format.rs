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
            Format::CanalJson => canal(source, change, now_ms),
            Format::Debezium => debezium(source, change, now_ms),
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

/// The known values of `row` by column name, strings or null.
fn text_row(change: &Change, row: &[Datum]) -> Map<String, Value> {
    let columns = &change.table.columns;
    let mut map = Map::with_capacity(columns.len());
    for (c, d) in columns.iter().zip(row) {
        let value = match d {
            Datum::Null => Value::Null,
            Datum::Text(t) => Value::String(t.clone()),
            Datum::Unknown => continue,
        };
        map.insert(c.name.clone(), value);
    }
    map
}

/// The names of the columns `row` does not know.
fn unknown_columns(change: &Change, row: &[Datum]) -> Vec<String> {
    change
        .table
        .columns
        .iter()
        .zip(row)
        .filter(|(_, d)| !d.is_known())
        .map(|(c, _)| c.name.clone())
        .collect()
}

/// An update's changed columns with their previous values: the columns whose old value is
/// known and differs from the new one.
fn changed_columns(change: &Change) -> Map<String, Value> {
    let Some(before) = &change.before else {
        return Map::new();
    };
    change
        .table
        .columns
        .iter()
        .zip(before.iter().zip(&change.after))
        .filter(|(_, (old, new))| old.is_known() && new.is_known() && old != new)
        .map(|(c, (old, _))| {
            let value = match old {
                Datum::Text(t) => Value::String(t.clone()),
                _ => Value::Null,
            };
            (c.name.clone(), value)
        })
        .collect()
}

fn canal(source: &str, change: &Change, now_ms: i64) -> Value {
    let table = &change.table;
    let mut cdc = extension(source, change);
    let mut message = Map::with_capacity(15);
    message.insert("id".into(), json!(change.id.position));
    message.insert("database".into(), json!(table.schema));
    message.insert("table".into(), json!(table.name));
    if matches!(change.kind, Kind::Truncate | Kind::Ddl) {
        let (kind, sql) = match &change.ddl {
            Some(ddl) => (ddl.kind, ddl.sql.clone()),
            None => {
                let mut sql = format!("TRUNCATE TABLE {}", table.qualified());
                for option in &change.truncate_options {
                    sql.push(' ');
                    sql.push_str(option);
                }
                ("TRUNCATE", sql)
            }
        };
        message.insert("pkNames".into(), Value::Null);
        message.insert("isDdl".into(), json!(true));
        message.insert("type".into(), json!(kind));
        message.insert("es".into(), json!(change.commit_ms));
        message.insert("ts".into(), json!(now_ms));
        message.insert("sql".into(), json!(sql));
        for key in ["sqlType", "mysqlType", "data", "old"] {
            message.insert(key.into(), Value::Null);
        }
    } else {
        let keys = table.key_names();
        let kind = match change.kind {
            Kind::Insert | Kind::Read => "INSERT",
            Kind::Update => "UPDATE",
            _ => "DELETE",
        };
        message.insert(
            "pkNames".into(),
            if keys.is_empty() {
                Value::Null
            } else {
                json!(keys)
            },
        );
        message.insert("isDdl".into(), json!(false));
        message.insert("type".into(), json!(kind));
        message.insert("es".into(), json!(change.commit_ms));
        message.insert("ts".into(), json!(now_ms));
        message.insert("sql".into(), json!(""));
        let mut sql_types = Map::with_capacity(table.columns.len());
        let mut type_names = Map::with_capacity(table.columns.len());
        for c in &table.columns {
            sql_types.insert(c.name.clone(), Value::from(c.sql_type));
            type_names.insert(c.name.clone(), Value::String(c.type_name.clone()));
        }
        message.insert("sqlType".into(), Value::Object(sql_types));
        message.insert("mysqlType".into(), Value::Object(type_names));
        let row = change.row();
        message.insert("data".into(), json!([text_row(change, row)]));
        let old = match change.kind {
            Kind::Update => json!([changed_columns(change)]),
            _ => Value::Null,
        };
        message.insert("old".into(), old);
        let unknown = unknown_columns(change, row);
        if !unknown.is_empty() {
            cdc.insert("unknown".into(), json!(unknown));
        }
    }
    message.insert("gtid".into(), json!(change.gtid.as_deref().unwrap_or("")));
    message.insert("_cdc".into(), Value::Object(cdc));
    Value::Object(message)
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

#[cfg(test)]
mod tests;
