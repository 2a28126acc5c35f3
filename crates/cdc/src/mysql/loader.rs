//! The `mysql-upsert` built-in: applies Canal-JSON messages (one, or a list) to MySQL/MariaDB
//! tables in one transaction: inserts and updates become `INSERT … ON DUPLICATE KEY UPDATE`
//! on the primary key (`pkNames`), deletes delete by it, an update that changed the key first
//! deletes the old key, and a `TRUNCATE` deletes every row (inside the transaction). Replaying
//! a batch leaves the tables as they were, so at-least-once delivery converges.
//!
//! ```yaml
//! functions:
//!   load:
//!     runtime: builtin
//!     handler: mysql-upsert
//!     options: { url: "mysql://root@127.0.0.1:3306/analytics", tables: { test.orders: orders_copy } }
//! ```
//!
//! Options: `url` (required); `tables`, a mapping from source `db.table` to target table
//! (`table` in the URL's database, or `db.table`); or `table`, one target for every message. A
//! table not listed keeps its name, in the URL's database. Values are written as the text the
//! message carries (binary columns from their one-character-per-byte text, `BIT` from its
//! integer); timestamps are read in UTC.

use super::catalog::split_name;
use super::connect::{Database, rows, text};
use super::{bytes_literal, quote_ident};
use crate::change::Change;
use crate::loader::{
    Applied, Loader, Op, TargetOptions, Work, cell, change_work, groups, runs, work,
};
use crate::pg::types::from_latin1;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde_json::{Map, Value};
use std::collections::HashMap;
use tokio::sync::Mutex;

/// Most rows per statement.
const MAX_ROWS: usize = 2000;
/// Most bytes of values per statement (well under the default `max_allowed_packet`).
const MAX_BYTES: usize = 4 << 20;

/// A loader's settings and its connection.
pub struct MysqlUpsert {
    db: Database,
    targets: TargetOptions,
    session: Mutex<Option<Session>>,
}

/// A connection with the shapes of the target tables it has seen.
struct Session {
    conn: Conn,
    shapes: HashMap<String, Target>,
}

/// How a target column takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Param {
    /// Text in the connection's character set.
    Text,
    /// Bytes (from one character per byte).
    Binary,
    /// `BIT`: an integer.
    Bit,
}

/// A target table: its quoted name and columns.
#[derive(Clone)]
struct Target {
    quoted: String,
    columns: HashMap<String, Param>,
}

impl MysqlUpsert {
    /// A loader configured by a built-in function's `options`; an error names the option.
    pub fn from_options(options: &Map<String, Value>) -> Result<MysqlUpsert, String> {
        let targets = TargetOptions::parse(options, "mysql://USER@HOST:PORT/DB")?;
        let db = Database::parse(&targets.url).map_err(|e| format!("option url: {e}"))?;
        Ok(MysqlUpsert {
            db,
            targets,
            session: Mutex::new(None),
        })
    }

    /// The target of source table `source` (`db.table`).
    fn target_name(&self, source: &str) -> String {
        self.targets.target(source, |s| {
            s.split_once('.').map_or(s, |(_, t)| t).to_string()
        })
    }

    /// Applies the messages of `event` in one transaction; returns `{"applied": n}` (rows).
    pub async fn apply(&self, event: &Value) -> Result<Value, String> {
        let work = work(event, |t| self.target_name(t))?;
        self.apply_work(&work).await
    }

    /// Applies `changes` in one transaction, as it applies their Canal-JSON messages.
    pub async fn apply_changes(&self, changes: &[Change]) -> Result<Value, String> {
        let work = change_work(changes, |t| self.target_name(t))?;
        self.apply_work(&work).await
    }

    async fn apply_work(&self, work: &Work<'_>) -> Result<Value, String> {
        let mut guard = self.session.lock().await;
        if guard.is_none() {
            *guard = Some(Session {
                conn: self.db.connect().await?,
                shapes: HashMap::new(),
            });
        }
        let Some(session) = guard.as_mut() else {
            return Err("no connection".into());
        };
        let outcome = apply(session, &self.db.dbname, work).await;
        if outcome.is_err() {
            // The transaction may be open, or the connection broken: start afresh.
            if let Some(mut s) = guard.take() {
                let _ = s.conn.query_drop("ROLLBACK").await;
            }
        }
        outcome.map(|n| serde_json::json!({ "applied": n }))
    }
}

impl Loader for MysqlUpsert {
    fn apply<'a>(&'a self, event: &'a Value) -> Applied<'a> {
        Box::pin(MysqlUpsert::apply(self, event))
    }

    fn apply_changes<'a>(&'a self, changes: &'a [Change]) -> Applied<'a> {
        Box::pin(MysqlUpsert::apply_changes(self, changes))
    }
}

/// The columns of target table `name` (in `default_db` unless qualified).
async fn shape(conn: &mut Conn, default_db: &str, name: &str) -> Result<Target, String> {
    let (db, table) = split_name(name, default_db);
    let found = rows(
        conn,
        &format!(
            "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_SET_NAME FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
            bytes_literal(db.as_bytes(), false),
            bytes_literal(table.as_bytes(), false)
        ),
        &format!("reading the columns of {db}.{table}"),
    )
    .await?;
    if found.is_empty() {
        return Err(format!("target table {db}.{table} does not exist"));
    }
    let columns = found
        .iter()
        .map(|r| {
            let field = |i: usize| r.get(i).and_then(text);
            let data_type = field(1).unwrap_or_default().to_ascii_lowercase();
            let param = match (data_type.as_str(), field(2).as_deref()) {
                ("bit", _) => Param::Bit,
                ("binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob", _)
                | (_, Some("binary")) => Param::Binary,
                _ => Param::Text,
            };
            (field(0).unwrap_or_default(), param)
        })
        .collect();
    Ok(Target {
        quoted: format!("{}.{}", quote_ident(db), quote_ident(table)),
        columns,
    })
}

/// A value as an SQL literal for `column` of `target` (`None`: NULL).
fn literal(target: &Target, column: &str, value: Option<&str>) -> Result<String, String> {
    let Some(param) = target.columns.get(column) else {
        return Err(format!(
            "column {column} is not in target table {}",
            target.quoted
        ));
    };
    let Some(text) = value else {
        return Ok("NULL".into());
    };
    match param {
        Param::Text => Ok(bytes_literal(text.as_bytes(), false)),
        Param::Binary => from_latin1(text)
            .map(|b| bytes_literal(&b, true))
            .ok_or_else(|| format!("column {column}: a binary value has characters beyond U+00FF")),
        Param::Bit => text
            .parse::<u64>()
            .map(|n| n.to_string())
            .map_err(|_| format!("column {column}: BIT value '{text}' is not an integer")),
    }
}

/// Runs the work in one transaction; returns how many rows it applied, a run per statement.
async fn apply(session: &mut Session, default_db: &str, work: &Work<'_>) -> Result<usize, String> {
    for (table, _, _) in work {
        if !session.shapes.contains_key(table) {
            let target = shape(&mut session.conn, default_db, table).await?;
            session.shapes.insert(table.clone(), target);
        }
    }
    let Session { conn, shapes } = session;
    let fail = |e: mysql_async::Error| format!("applying to the target: {e}");
    conn.query_drop("START TRANSACTION").await.map_err(fail)?;
    let mut applied = 0;
    for run in runs(work, MAX_ROWS) {
        applied += flush(conn, &shapes[run.table], run.pk, &run.ops).await?;
    }
    conn.query_drop("COMMIT").await.map_err(fail)?;
    Ok(applied)
}

/// Applies a run of operations of one kind with distinct keys: one statement per set of
/// columns, split when its values grow past [`MAX_BYTES`].
async fn flush(
    conn: &mut Conn,
    target: &Target,
    pk: &[String],
    run: &[&Op<'_>],
) -> Result<usize, String> {
    let Some(first) = run.first() else {
        return Ok(0);
    };
    let fail = |e: mysql_async::Error| format!("applying to {}: {e}", target.quoted);
    if let Op::Truncate = first {
        conn.query_drop(format!("DELETE FROM {}", target.quoted))
            .await
            .map_err(fail)?;
        return Ok(run.len());
    }
    let names = |cols: &[&str]| {
        cols.iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (cols, rows) in &groups(run, pk) {
        let head = match first {
            Op::Delete(_) => format!("DELETE FROM {} WHERE ({}) IN (", target.quoted, names(cols)),
            _ => format!("INSERT INTO {} ({}) VALUES ", target.quoted, names(cols)),
        };
        let tail = match first {
            Op::Delete(_) => ")".to_string(),
            _ => {
                let updates: Vec<String> = cols
                    .iter()
                    .filter(|c| !pk.iter().any(|k| k == *c))
                    .map(|c| format!("{0} = VALUES({0})", quote_ident(c)))
                    .collect();
                if updates.is_empty() {
                    // Nothing but the key: keep the row as it is.
                    let k = quote_ident(&pk[0]);
                    format!(" ON DUPLICATE KEY UPDATE {k} = {k}")
                } else {
                    format!(" ON DUPLICATE KEY UPDATE {}", updates.join(", "))
                }
            }
        };
        let mut values = String::new();
        for row in rows {
            let tuple = cols
                .iter()
                .enumerate()
                .map(|(i, c)| literal(target, c, cell(row, i, c)))
                .collect::<Result<Vec<_>, _>>()?
                .join(", ");
            if !values.is_empty() {
                values.push_str(", ");
            }
            values.push('(');
            values.push_str(&tuple);
            values.push(')');
            if values.len() > MAX_BYTES {
                conn.query_drop(format!("{head}{values}{tail}"))
                    .await
                    .map_err(fail)?;
                values.clear();
            }
        }
        if !values.is_empty() {
            conn.query_drop(format!("{head}{values}{tail}"))
                .await
                .map_err(fail)?;
        }
    }
    Ok(run.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_url_is_mysql_and_tables_land_in_its_database() {
        let opts = |v: Value| v.as_object().cloned().unwrap();
        let refused = MysqlUpsert::from_options(&opts(json!({"url": "postgres://h/db"})));
        assert!(
            refused
                .err()
                .unwrap_or_default()
                .contains("not a mysql:// URL")
        );
        let l = MysqlUpsert::from_options(&opts(
            json!({"url": "mysql://root@h/copy", "tables": {"test.a": "other.b"}}),
        ))
        .unwrap();
        assert_eq!(l.target_name("test.a"), "other.b");
        assert_eq!(l.target_name("test.c"), "c");
    }

    #[test]
    fn values_become_literals_by_column_kind() {
        let target = Target {
            quoted: "`d`.`t`".into(),
            columns: [
                ("s".to_string(), Param::Text),
                ("b".to_string(), Param::Binary),
                ("f".to_string(), Param::Bit),
            ]
            .into(),
        };
        assert_eq!(
            literal(&target, "s", Some("é")).unwrap(),
            "CONVERT(X'C3A9' USING utf8mb4)"
        );
        assert_eq!(
            literal(&target, "b", Some("\u{0}\u{ff}")).unwrap(),
            "X'00FF'"
        );
        assert_eq!(literal(&target, "f", Some("5")).unwrap(), "5");
        assert_eq!(literal(&target, "s", None).unwrap(), "NULL");
        assert!(
            literal(&target, "f", Some("x"))
                .unwrap_err()
                .contains("BIT")
        );
        assert!(
            literal(&target, "nope", Some("1"))
                .unwrap_err()
                .contains("not in target table")
        );
    }
}
