//! Canal-JSON written straight as text: what serialising Canal's `FlatMessage` gives, field by
//! field in the same order, without building a JSON tree first. The parts that only depend on
//! the table (`pkNames`, `sqlType`, `mysqlType`) are written once per table and reused.

use crate::change::{Change, Datum, Kind, Table};
use crate::pg::lsn_text;
use crate::position::binlog_offset;
use std::sync::Arc;

/// The text of a table's fixed parts, from `"pkNames"` to the end of `"mysqlType"`'s object,
/// without `isDdl` .. `sql` in between: they are written around these.
struct TableParts {
    /// `"pkNames":[...]` or `"pkNames":null`.
    pk_names: Vec<u8>,
    /// `"sqlType":{...},"mysqlType":{...}`.
    types: Vec<u8>,
}

impl TableParts {
    fn of(table: &Table) -> TableParts {
        let mut pk_names = b"\"pkNames\":".to_vec();
        let keys = table.key_names();
        if keys.is_empty() {
            pk_names.extend_from_slice(b"null");
        } else {
            pk_names.push(b'[');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    pk_names.push(b',');
                }
                string(&mut pk_names, k);
            }
            pk_names.push(b']');
        }
        let mut types = b"\"sqlType\":{".to_vec();
        for (i, c) in table.columns.iter().enumerate() {
            if i > 0 {
                types.push(b',');
            }
            string(&mut types, &c.name);
            types.push(b':');
            number(&mut types, c.sql_type);
        }
        types.extend_from_slice(b"},\"mysqlType\":{");
        for (i, c) in table.columns.iter().enumerate() {
            if i > 0 {
                types.push(b',');
            }
            string(&mut types, &c.name);
            types.push(b':');
            string(&mut types, &c.type_name);
        }
        types.push(b'}');
        TableParts { pk_names, types }
    }
}

/// Writes the Canal-JSON messages of one source, keeping each table's fixed parts.
#[derive(Default)]
pub struct CanalWriter {
    tables: Vec<(Arc<Table>, TableParts)>,
}

impl CanalWriter {
    /// Appends the message for `change` of source `source`, made at `now_ms`, to `out`.
    pub fn write(&mut self, source: &str, change: &Change, now_ms: i64, out: &mut Vec<u8>) {
        let table = &change.table;
        out.extend_from_slice(b"{\"id\":");
        number(out, change.id.position);
        out.extend_from_slice(b",\"database\":");
        string(out, &table.schema);
        out.extend_from_slice(b",\"table\":");
        string(out, &table.name);
        let mut unknown = false;
        if matches!(change.kind, Kind::Truncate | Kind::Ddl) {
            out.extend_from_slice(b",\"pkNames\":null,\"isDdl\":true,\"type\":");
            let sql = match &change.ddl {
                Some(ddl) => {
                    string(out, ddl.kind);
                    ddl.sql.clone()
                }
                None => {
                    string(out, "TRUNCATE");
                    let mut sql = format!("TRUNCATE TABLE {}", table.qualified());
                    for option in &change.truncate_options {
                        sql.push(' ');
                        sql.push_str(option);
                    }
                    sql
                }
            };
            times(out, change, now_ms);
            out.extend_from_slice(b",\"sql\":");
            string(out, &sql);
            out.extend_from_slice(
                b",\"sqlType\":null,\"mysqlType\":null,\"data\":null,\"old\":null",
            );
        } else {
            let parts = self.parts(table);
            out.push(b',');
            out.extend_from_slice(&parts.pk_names);
            out.extend_from_slice(b",\"isDdl\":false,\"type\":");
            string(
                out,
                match change.kind {
                    Kind::Insert | Kind::Read => "INSERT",
                    Kind::Update => "UPDATE",
                    _ => "DELETE",
                },
            );
            times(out, change, now_ms);
            out.extend_from_slice(b",\"sql\":\"\",");
            out.extend_from_slice(&parts.types);
            out.extend_from_slice(b",\"data\":[");
            let row = change.row();
            values(out, table, row);
            out.extend_from_slice(b"],\"old\":");
            if change.kind == Kind::Update {
                out.push(b'[');
                changed(out, change);
                out.push(b']');
            } else {
                out.extend_from_slice(b"null");
            }
            unknown = row.iter().any(|d| !d.is_known());
        }
        out.extend_from_slice(b",\"gtid\":");
        string(out, change.gtid.as_deref().unwrap_or(""));
        out.extend_from_slice(b",\"_cdc\":");
        extension(out, source, change);
        if unknown {
            out.pop();
            out.extend_from_slice(b",\"unknown\":[");
            let names = table
                .columns
                .iter()
                .zip(change.row())
                .filter(|(_, d)| !d.is_known());
            for (i, (c, _)) in names.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, &c.name);
            }
            out.extend_from_slice(b"]}");
        }
        out.push(b'}');
    }

    fn parts(&mut self, table: &Arc<Table>) -> &TableParts {
        let found = self.tables.iter().position(|(t, _)| Arc::ptr_eq(t, table));
        let index = found.unwrap_or_else(|| {
            self.tables.push((table.clone(), TableParts::of(table)));
            self.tables.len() - 1
        });
        &self.tables[index].1
    }
}

/// `,"es":COMMIT,"ts":NOW` after `type`.
fn times(out: &mut Vec<u8>, change: &Change, now_ms: i64) {
    out.extend_from_slice(b",\"es\":");
    number(out, change.commit_ms);
    out.extend_from_slice(b",\"ts\":");
    number(out, now_ms);
}

/// The known values of `row` as an object of strings and nulls.
fn values(out: &mut Vec<u8>, table: &Table, row: &[Datum]) {
    out.push(b'{');
    let mut first = true;
    for (c, d) in table.columns.iter().zip(row) {
        let text = match d {
            Datum::Unknown => continue,
            Datum::Null => None,
            Datum::Text(t) => Some(t),
        };
        if !first {
            out.push(b',');
        }
        first = false;
        string(out, &c.name);
        out.push(b':');
        match text {
            Some(t) => string(out, t),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
}

/// An update's changed columns with their previous values: the columns whose old value is
/// known and differs from the new one.
fn changed(out: &mut Vec<u8>, change: &Change) {
    out.push(b'{');
    if let Some(before) = &change.before {
        let mut first = true;
        let columns = change.table.columns.iter();
        for (c, (old, new)) in columns.zip(before.iter().zip(&change.after)) {
            if !(old.is_known() && new.is_known() && old != new) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            string(out, &c.name);
            out.push(b':');
            match old {
                Datum::Text(t) => string(out, t),
                _ => out.extend_from_slice(b"null"),
            }
        }
    }
    out.push(b'}');
}

/// The `_cdc` object: what [`super::extension`] makes for a Debezium event.
fn extension(out: &mut Vec<u8>, source: &str, change: &Change) {
    out.extend_from_slice(b"{\"id\":");
    string(out, &change.id.to_string());
    out.extend_from_slice(b",\"source\":");
    string(out, source);
    out.extend_from_slice(b",\"catalog\":");
    string(out, &change.table.catalog);
    match &change.binlog {
        Some(file) => {
            out.extend_from_slice(b",\"file\":");
            string(out, file);
            out.extend_from_slice(b",\"pos\":");
            number(out, binlog_offset(change.id.position));
        }
        None => {
            out.extend_from_slice(b",\"lsn\":");
            string(out, &lsn_text(change.id.position));
        }
    }
    out.extend_from_slice(b",\"txid\":");
    match change.txid {
        Some(t) => number(out, t),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"ordinal\":");
    number(out, change.id.ordinal);
    out.extend_from_slice(if change.kind == Kind::Read {
        b",\"snapshot\":true"
    } else {
        b",\"snapshot\":false"
    });
    out.extend_from_slice(b",\"before_image\":");
    string(out, change.before_image.as_str());
    out.push(b'}');
}

/// A JSON string.
fn string(out: &mut Vec<u8>, text: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// A JSON number.
fn number(out: &mut Vec<u8>, n: impl serde::Serialize) {
    let _ = serde_json::to_writer(&mut *out, &n);
}
