//! The `postgres-upsert` built-in: applies Canal-JSON messages (one, or a list) to PostgreSQL
//! tables in one transaction: inserts and updates become upserts on the primary key
//! (`pkNames`), deletes delete by it, an update that changed the key first deletes the old
//! key, and a `TRUNCATE` truncates. Replaying a batch leaves the tables as they were, so
//! at-least-once delivery converges.
//!
//! ```yaml
//! functions:
//!   load:
//!     runtime: builtin
//!     handler: postgres-upsert
//!     options: { url: "postgres://127.0.0.1/analytics", tables: { public.orders: public.orders_copy } }
//! ```
//!
//! Options: `url` (required); `tables`, a mapping from source `schema.table` to target table
//! (a table not listed keeps its name); or `table`, one target for every message.

use crate::pg::catalog::split_name;
use crate::pg::connect::Database;
use crate::pg::quote_ident;
use crate::pg::types::from_latin1;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use tokio::sync::Mutex;
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

/// Most statement parameters per statement (PostgreSQL takes 65535).
const MAX_PARAMS: usize = 30_000;
/// Most rows per statement.
const MAX_ROWS: usize = 1000;

/// A loader's settings and its connection.
pub struct PostgresUpsert {
    db: Database,
    tables: BTreeMap<String, String>,
    table: Option<String>,
    session: Mutex<Option<Session>>,
}

/// A connection with the shapes of the target tables it has seen.
struct Session {
    client: Client,
    shapes: HashMap<String, Target>,
}

/// A target table: its columns' types.
#[derive(Clone)]
struct Target {
    quoted: String,
    types: HashMap<String, String>,
}

/// What one message asks for, row by row.
#[derive(Debug)]
enum Op {
    Upsert(Map<String, Value>),
    Delete(Map<String, Value>),
    Truncate,
}

impl PostgresUpsert {
    /// A loader configured by a built-in function's `options`; an error names the option.
    pub fn from_options(options: &Map<String, Value>) -> Result<PostgresUpsert, String> {
        let url = match options.get("url") {
            Some(Value::String(u)) => u,
            Some(_) => return Err("option url must be a postgres:// URL string".into()),
            None => return Err("option url is required (postgres://HOST/DB)".into()),
        };
        let db = Database::parse(url).map_err(|e| format!("option url: {e}"))?;
        let tables = match options.get("tables") {
            None => BTreeMap::new(),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(t) => Ok((k.clone(), t.clone())),
                    _ => Err(format!(
                        "option tables: the target of {k} must be a table name"
                    )),
                })
                .collect::<Result<_, String>>()?,
            Some(_) => return Err("option tables must map source tables to target tables".into()),
        };
        let table = match options.get("table") {
            None => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(_) => return Err("option table must be a table name".into()),
        };
        for key in options.keys() {
            if !["url", "tables", "table"].contains(&key.as_str()) {
                return Err(format!(
                    "unknown option {key} (options: url, tables, table)"
                ));
            }
        }
        Ok(PostgresUpsert {
            db,
            tables,
            table,
            session: Mutex::new(None),
        })
    }

    /// Applies the messages of `event` in one transaction; returns `{"applied": n}` (rows).
    pub async fn apply(&self, event: &Value) -> Result<Value, String> {
        let messages: Vec<&Value> = match event {
            Value::Array(list) => list.iter().collect(),
            Value::Object(_) => vec![event],
            _ => return Err("the event must be a Canal-JSON message or a list of them".into()),
        };
        let mut work = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let (table, pk, ops) = parse(m).map_err(|e| format!("message {i}: {e}"))?;
            work.push((self.target_name(&table), pk, ops));
        }
        let mut guard = self.session.lock().await;
        if guard.is_none() {
            *guard = Some(Session {
                client: self.db.connect().await?,
                shapes: HashMap::new(),
            });
        }
        let Some(session) = guard.as_mut() else {
            return Err("no connection".into());
        };
        let outcome = apply(session, &work).await;
        if outcome.is_err() && session.client.is_closed() {
            *guard = None;
        }
        outcome.map(|n| serde_json::json!({ "applied": n }))
    }

    fn target_name(&self, source: &str) -> String {
        if let Some(t) = &self.table {
            return t.clone();
        }
        self.tables
            .get(source)
            .cloned()
            .unwrap_or_else(|| source.to_string())
    }
}

/// A message's source table, key and row operations.
fn parse(m: &Value) -> Result<(String, Vec<String>, Vec<Op>), String> {
    let text = |key: &str| -> Result<&str, String> {
        m.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("field {key} is missing or not a string"))
    };
    let table = format!("{}.{}", text("database")?, text("table")?);
    let kind = text("type")?;
    if kind == "TRUNCATE" {
        return Ok((table, Vec::new(), vec![Op::Truncate]));
    }
    if m.get("isDdl").and_then(Value::as_bool) == Some(true) {
        return Err(format!("DDL ({kind}) is not applied by postgres-upsert"));
    }
    let pk: Vec<String> = match m.get("pkNames") {
        Some(Value::Array(names)) if !names.is_empty() => names
            .iter()
            .map(|n| {
                n.as_str()
                    .map(str::to_string)
                    .ok_or("field pkNames must list column names")
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(format!(
                "table {table} has no pkNames: rows cannot be matched"
            ));
        }
    };
    let rows = |key: &str| -> Result<Vec<Map<String, Value>>, String> {
        match m.get(key) {
            Some(Value::Array(rows)) => rows
                .iter()
                .map(|r| {
                    r.as_object()
                        .cloned()
                        .ok_or(format!("field {key} must list objects"))
                })
                .collect(),
            Some(Value::Null) | None => Ok(Vec::new()),
            Some(_) => Err(format!("field {key} must be a list")),
        }
    };
    let data = rows("data")?;
    let mut ops = Vec::with_capacity(data.len());
    match kind {
        "INSERT" => ops.extend(data.into_iter().map(Op::Upsert)),
        "DELETE" => ops.extend(data.into_iter().map(Op::Delete)),
        "UPDATE" => {
            let old = rows("old")?;
            for (i, row) in data.into_iter().enumerate() {
                // A changed key: the row under the old key goes first.
                if let Some(before) = old.get(i).filter(|o| pk.iter().any(|k| o.contains_key(k))) {
                    let mut key = Map::new();
                    for k in &pk {
                        let v = before
                            .get(k)
                            .or_else(|| row.get(k))
                            .cloned()
                            .unwrap_or(Value::Null);
                        key.insert(k.clone(), v);
                    }
                    ops.push(Op::Delete(key));
                }
                ops.push(Op::Upsert(row));
            }
        }
        other => {
            return Err(format!(
                "type {other} is not INSERT, UPDATE, DELETE or TRUNCATE"
            ));
        }
    }
    for op in &ops {
        if let Op::Upsert(row) | Op::Delete(row) = op {
            for k in &pk {
                match row.get(k) {
                    Some(Value::String(_)) => {}
                    _ => return Err(format!("key column {k} has no value")),
                }
            }
        }
    }
    Ok((table, pk, ops))
}

/// Runs the work in one transaction; returns how many rows it applied.
async fn apply(
    session: &mut Session,
    work: &[(String, Vec<String>, Vec<Op>)],
) -> Result<usize, String> {
    for (table, _, _) in work {
        if !session.shapes.contains_key(table) {
            let target = shape(&session.client, table).await?;
            session.shapes.insert(table.clone(), target);
        }
    }
    let tx = session
        .client
        .transaction()
        .await
        .map_err(|e| format!("starting a transaction: {e}"))?;
    let mut applied = 0;
    for (table, pk, ops) in work {
        let target = &session.shapes[table];
        let mut run: Vec<&Op> = Vec::new();
        let mut keys: HashSet<Vec<String>> = HashSet::new();
        for op in ops {
            let key = key_of(op, pk);
            let same_kind = run
                .last()
                .is_none_or(|last| std::mem::discriminant(*last) == std::mem::discriminant(op));
            if !same_kind || keys.contains(&key) || run.len() >= MAX_ROWS {
                applied += flush(&tx, target, pk, &run).await?;
                run.clear();
                keys.clear();
            }
            keys.insert(key);
            run.push(op);
        }
        applied += flush(&tx, target, pk, &run).await?;
    }
    tx.commit().await.map_err(|e| format!("committing: {e}"))?;
    Ok(applied)
}

fn key_of(op: &Op, pk: &[String]) -> Vec<String> {
    match op {
        Op::Upsert(row) | Op::Delete(row) => pk
            .iter()
            .map(|k| {
                row.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            })
            .collect(),
        Op::Truncate => Vec::new(),
    }
}

/// The columns and types of target table `name`.
async fn shape(client: &Client, name: &str) -> Result<Target, String> {
    let (schema, table) = split_name(name);
    let rows = client
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
            &[&schema, &table],
        )
        .await
        .map_err(|e| format!("reading the columns of {name}: {e}"))?;
    if rows.is_empty() {
        return Err(format!("target table {name} does not exist"));
    }
    Ok(Target {
        quoted: format!("{}.{}", quote_ident(&schema), quote_ident(&table)),
        types: rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
    })
}

/// A value as the text parameter PostgreSQL casts to the column's type (binary columns from
/// their one-character-per-byte text to `\x` hex).
fn param(target: &Target, column: &str, value: &Value) -> Result<Option<String>, String> {
    let Some(type_name) = target.types.get(column) else {
        return Err(format!(
            "column {column} is not in target table {}",
            target.quoted
        ));
    };
    match value {
        Value::Null => Ok(None),
        Value::String(s) if type_name == "bytea" => {
            let bytes = from_latin1(s).ok_or_else(|| {
                format!("column {column}: a bytea value has characters beyond U+00FF")
            })?;
            Ok(Some(format!(
                "\\x{}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            )))
        }
        Value::String(s) => Ok(Some(s.clone())),
        other => Ok(Some(other.to_string())),
    }
}

/// Upserts with the same columns: the column names and the rows.
type Group<'a> = (Vec<&'a String>, Vec<&'a Map<String, Value>>);

/// Applies a run of operations of one kind with distinct keys.
async fn flush(
    tx: &tokio_postgres::Transaction<'_>,
    target: &Target,
    pk: &[String],
    run: &[&Op],
) -> Result<usize, String> {
    let Some(first) = run.first() else {
        return Ok(0);
    };
    let mut params: Vec<Option<String>> = Vec::new();
    let sql = match first {
        Op::Truncate => format!("TRUNCATE TABLE {}", target.quoted),
        Op::Delete(_) => {
            let cast = |k: &String| -> Result<String, String> {
                target.types.get(k).cloned().ok_or_else(|| {
                    format!("key column {k} is not in target table {}", target.quoted)
                })
            };
            let types = pk.iter().map(cast).collect::<Result<Vec<_>, _>>()?;
            let mut tuples = Vec::with_capacity(run.len());
            for op in run {
                let Op::Delete(row) = op else { continue };
                let mut slots = Vec::with_capacity(pk.len());
                for (k, t) in pk.iter().zip(&types) {
                    params.push(param(target, k, row.get(k).unwrap_or(&Value::Null))?);
                    slots.push(format!("${}::text::{t}", params.len()));
                }
                tuples.push(format!("({})", slots.join(", ")));
            }
            let keys = pk
                .iter()
                .map(|k| quote_ident(k))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "DELETE FROM {} WHERE ({keys}) IN ({})",
                target.quoted,
                tuples.join(", ")
            )
        }
        Op::Upsert(_) => {
            // The columns of the first row; rows with other columns go in their own statement.
            let mut groups: Vec<Group> = Vec::new();
            for op in run {
                let Op::Upsert(row) = op else { continue };
                let cols: Vec<&String> = row.keys().collect();
                match groups
                    .iter_mut()
                    .find(|(c, rows)| *c == cols && rows.len() * cols.len().max(1) < MAX_PARAMS)
                {
                    Some((_, rows)) => rows.push(row),
                    None => groups.push((cols, vec![row])),
                }
            }
            let mut applied = 0;
            for (cols, rows) in groups {
                let mut params: Vec<Option<String>> = Vec::new();
                let mut tuples = Vec::with_capacity(rows.len());
                for row in &rows {
                    let mut slots = Vec::with_capacity(cols.len());
                    for c in &cols {
                        params.push(param(target, c, &row[c.as_str()])?);
                        slots.push(format!(
                            "${}::text::{}",
                            params.len(),
                            target.types[c.as_str()]
                        ));
                    }
                    tuples.push(format!("({})", slots.join(", ")));
                }
                let names = cols
                    .iter()
                    .map(|c| quote_ident(c))
                    .collect::<Vec<_>>()
                    .join(", ");
                let keys = pk
                    .iter()
                    .map(|k| quote_ident(k))
                    .collect::<Vec<_>>()
                    .join(", ");
                let updates: Vec<String> = cols
                    .iter()
                    .filter(|c| !pk.contains(c))
                    .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
                    .collect();
                let conflict = if updates.is_empty() {
                    "DO NOTHING".to_string()
                } else {
                    format!("DO UPDATE SET {}", updates.join(", "))
                };
                let sql = format!(
                    "INSERT INTO {} ({names}) VALUES {} ON CONFLICT ({keys}) {conflict}",
                    target.quoted,
                    tuples.join(", ")
                );
                applied += execute(tx, &sql, &params).await?;
            }
            return Ok(applied.max(run.len()));
        }
    };
    execute(tx, &sql, &params).await?;
    Ok(run.len())
}

async fn execute(
    tx: &tokio_postgres::Transaction<'_>,
    sql: &str,
    params: &[Option<String>],
) -> Result<usize, String> {
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    tx.execute(sql, &refs)
        .await
        .map(|n| n as usize)
        .map_err(|e| format!("applying to the target: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_are_checked() {
        let opts = |v: Value| v.as_object().cloned().unwrap();
        let err = |v: Value| {
            PostgresUpsert::from_options(&opts(v))
                .err()
                .unwrap_or_default()
        };
        assert!(err(json!({})).contains("url is required"));
        assert!(
            err(json!({"url": "postgres://h/db", "tabels": {}})).contains("unknown option tabels")
        );
        let l = PostgresUpsert::from_options(&opts(
            json!({"url": "postgres://h/db", "tables": {"public.a": "x.b"}}),
        ))
        .unwrap();
        assert_eq!(l.target_name("public.a"), "x.b");
        assert_eq!(l.target_name("public.c"), "public.c");
    }

    #[test]
    fn a_key_update_deletes_the_old_key_first() {
        let m = json!({"database": "public", "table": "t", "type": "UPDATE", "isDdl": false,
            "pkNames": ["id"], "data": [{"id": "3", "v": "x"}], "old": [{"id": "2"}]});
        let (table, pk, ops) = parse(&m).unwrap();
        assert_eq!((table.as_str(), pk), ("public.t", vec!["id".to_string()]));
        assert!(matches!(&ops[0], Op::Delete(k) if k["id"] == "2"));
        assert!(matches!(&ops[1], Op::Upsert(r) if r["id"] == "3"));
    }

    #[test]
    fn malformed_messages_name_the_field() {
        let no_pk = json!({"database": "public", "table": "t", "type": "INSERT", "pkNames": null, "data": [{}]});
        assert!(parse(&no_pk).unwrap_err().contains("no pkNames"));
        let no_key = json!({"database": "public", "table": "t", "type": "DELETE", "pkNames": ["id"], "data": [{"v": "1"}]});
        assert!(parse(&no_key).unwrap_err().contains("key column id"));
        assert!(
            parse(&json!({"table": "t"}))
                .unwrap_err()
                .contains("field database")
        );
    }
}
