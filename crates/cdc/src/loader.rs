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
//!
//! DDL messages other than `TRUNCATE` are skipped: the target's schema is its owner's to change.
//! The `mysql-upsert` built-in (feature `mysql`, see [`crate::mysql::loader`]) does the same
//! into MySQL/MariaDB; [`Loaders`] serves both.

use crate::change::{Change, Datum, Kind, Table};
use crate::pg::catalog::split_name;
use crate::pg::connect::Database;
use crate::pg::quote_ident;
use crate::pg::types::from_latin1;
use serde_json::{Map, Value};
use sluice_engine::invoke::{
    InvokeFuture, InvokeRequest, Invoker, Target as Callee, TaskError, invoke_read, within_timeout,
};
use sluice_io::{BuiltinFunction, Handler};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{Mutex, Semaphore};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

/// Most rows per statement.
const MAX_ROWS: usize = 5000;
/// Most prepared statements kept per connection.
const MAX_STATEMENTS: usize = 256;

/// A loader's settings and its connection.
pub struct PostgresUpsert {
    db: Database,
    targets: TargetOptions,
    session: Mutex<Option<Session>>,
}

/// A connection with the shapes of the target tables it has seen.
struct Session {
    client: Client,
    shapes: HashMap<String, Target>,
    statements: HashMap<String, Statement>,
}

/// A target table: its columns' types.
#[derive(Clone)]
struct Target {
    quoted: String,
    types: HashMap<String, String>,
}

/// A row as a loader writes it: the values of the columns it has (NULL as `None`), in
/// column order, borrowed from a message or a change where they can be.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Row<'a> {
    /// Column names and values.
    pub cells: Vec<(&'a str, Option<Cow<'a, str>>)>,
}

impl<'a> Row<'a> {
    /// The row of a Canal-JSON `data` or `old` entry: strings as they are, other JSON values as
    /// their JSON text.
    fn of_message(map: &'a Map<String, Value>) -> Row<'a> {
        let cells = map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::Null => None,
                    Value::String(s) => Some(Cow::Borrowed(s.as_str())),
                    other => Some(Cow::Owned(other.to_string())),
                };
                (k.as_str(), value)
            })
            .collect();
        Row { cells }
    }

    /// The known values of `values`, one per column of `table`.
    fn of_change(table: &'a Table, values: &'a [Datum]) -> Row<'a> {
        let cells = table
            .columns
            .iter()
            .zip(values)
            .filter_map(|(c, d)| match d {
                Datum::Null => Some((c.name.as_str(), None)),
                Datum::Text(t) => Some((c.name.as_str(), Some(Cow::Borrowed(t.as_str())))),
                Datum::Unknown => None,
            })
            .collect();
        Row { cells }
    }

    /// Whether the row has a value (or NULL) for `column`.
    fn has(&self, column: &str) -> bool {
        self.cells.iter().any(|(c, _)| *c == column)
    }

    /// The value of `column`: `None` when NULL or absent.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.cells
            .iter()
            .find(|(c, _)| *c == column)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The column names, in order.
    pub fn columns(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.cells.iter().map(|(c, _)| *c)
    }
}

/// What one message asks for, row by row.
#[derive(Debug, PartialEq)]
pub(crate) enum Op<'a> {
    Upsert(Row<'a>),
    Delete(Row<'a>),
    Truncate,
}

impl Op<'_> {
    /// The row an upsert writes or a delete matches (none for a truncate).
    pub(crate) fn row(&self) -> Option<&Row<'_>> {
        match self {
            Op::Upsert(row) | Op::Delete(row) => Some(row),
            Op::Truncate => None,
        }
    }
}

impl PostgresUpsert {
    /// A loader configured by a built-in function's `options`; an error names the option.
    pub fn from_options(options: &Map<String, Value>) -> Result<PostgresUpsert, String> {
        let targets = TargetOptions::parse(options, "postgres://HOST/DB")?;
        let db = Database::parse(&targets.url).map_err(|e| format!("option url: {e}"))?;
        Ok(PostgresUpsert {
            db,
            targets,
            session: Mutex::new(None),
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
                client: self.db.connect().await?,
                shapes: HashMap::new(),
                statements: HashMap::new(),
            });
        }
        let Some(session) = guard.as_mut() else {
            return Err("no connection".into());
        };
        let outcome = apply(session, work).await;
        if outcome.is_err() && session.client.is_closed() {
            *guard = None;
        }
        outcome.map(|n| serde_json::json!({ "applied": n }))
    }

    fn target_name(&self, source: &str) -> String {
        self.targets.target(source, str::to_string)
    }
}

/// A loader's options: where it writes and which target each source table has.
pub(crate) struct TargetOptions {
    /// The target database's URL.
    pub url: String,
    /// Source table to target table.
    pub tables: BTreeMap<String, String>,
    /// One target for every message.
    pub table: Option<String>,
}

impl TargetOptions {
    /// Reads `url` (required, shaped like `example`), `tables` and `table`; an error names the
    /// option at fault.
    pub fn parse(options: &Map<String, Value>, example: &str) -> Result<TargetOptions, String> {
        let url = match options.get("url") {
            Some(Value::String(u)) => u.clone(),
            Some(_) => return Err(format!("option url must be a URL string ({example})")),
            None => return Err(format!("option url is required ({example})")),
        };
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
        Ok(TargetOptions { url, tables, table })
    }

    /// The target of source table `source`: `table`, else its entry in `tables`, else
    /// `unlisted(source)`.
    pub fn target(&self, source: &str, unlisted: impl Fn(&str) -> String) -> String {
        if let Some(t) = &self.table {
            return t.clone();
        }
        match self.tables.get(source) {
            Some(t) => t.clone(),
            None => unlisted(source),
        }
    }
}

/// A run of operations of one kind on one table with distinct keys: what one statement applies.
pub(crate) struct Run<'a> {
    /// The target table.
    pub table: &'a String,
    /// Its key columns.
    pub pk: &'a [String],
    /// The operations, in order.
    pub ops: Vec<&'a Op<'a>>,
}

/// The work cut into runs of at most `max_rows` operations, in order.
pub(crate) fn runs<'a>(work: &'a Work<'a>, max_rows: usize) -> Vec<Run<'a>> {
    let mut out: Vec<Run> = Vec::new();
    let mut keys: HashSet<Vec<&str>> = HashSet::new();
    for (table, pk, ops) in work {
        for op in ops {
            let key = key_of(op, pk);
            let joins = out.last().is_some_and(|run| {
                run.table == table
                    && run.pk == pk.as_slice()
                    && run.ops.last().is_none_or(|last| {
                        std::mem::discriminant(*last) == std::mem::discriminant(op)
                    })
                    && !keys.contains(&key)
                    && run.ops.len() < max_rows
            });
            if !joins {
                keys.clear();
                out.push(Run {
                    table,
                    pk,
                    ops: Vec::new(),
                });
            }
            keys.insert(key);
            if let Some(run) = out.last_mut() {
                run.ops.push(op);
            }
        }
    }
    out
}

/// Row operations by target table, with the table's key: what one call applies.
pub(crate) type Work<'a> = Vec<(String, Vec<String>, Vec<Op<'a>>)>;

/// The row operations of `event` (one Canal-JSON message or a list), each message's with its
/// target table (`target` of its source `db.table`) and key.
pub(crate) fn work(event: &Value, target: impl Fn(&str) -> String) -> Result<Work<'_>, String> {
    let messages: Vec<&Value> = match event {
        Value::Array(list) => list.iter().collect(),
        Value::Object(_) => vec![event],
        _ => return Err("the event must be a Canal-JSON message or a list of them".into()),
    };
    let mut work = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let (table, pk, ops) = parse(m).map_err(|e| format!("message {i}: {e}"))?;
        if !ops.is_empty() {
            work.push((target(&table), pk, ops));
        }
    }
    Ok(work)
}

/// The row operations of `changes`, the same as those of their Canal-JSON messages, each
/// change's with its target table (`target` of its source `schema.table`) and key.
pub(crate) fn change_work(
    changes: &[Change],
    target: impl Fn(&str) -> String,
) -> Result<Work<'_>, String> {
    let mut work: Work = Vec::new();
    let mut last: Option<(&Arc<Table>, String, Vec<String>)> = None;
    for change in changes {
        let table = &change.table;
        let ops = change_ops(change)?;
        if ops.is_empty() {
            continue;
        }
        // Consecutive changes of one table share its target and key.
        let (name, pk) = match &last {
            Some((t, name, pk)) if Arc::ptr_eq(t, table) => (name.clone(), pk.clone()),
            _ => {
                let name = target(&table.qualified());
                let pk: Vec<String> = table.key_names().into_iter().map(str::to_string).collect();
                last = Some((table, name.clone(), pk.clone()));
                (name, pk)
            }
        };
        if matches!(ops[0], Op::Truncate) {
            work.push((name, Vec::new(), ops));
            continue;
        }
        if pk.is_empty() {
            return Err(format!(
                "table {} has no pkNames: rows cannot be matched",
                table.qualified()
            ));
        }
        work.push((name, pk, ops));
    }
    Ok(work)
}

/// What a change asks for: what [`parse`] reads from its Canal-JSON message.
fn change_ops(change: &Change) -> Result<Vec<Op<'_>>, String> {
    let table = &*change.table;
    let row = |values| Row::of_change(table, values);
    let ops = match change.kind {
        Kind::Truncate => vec![Op::Truncate],
        Kind::Ddl => Vec::new(),
        Kind::Insert | Kind::Read => vec![Op::Upsert(row(&change.after))],
        Kind::Delete => vec![Op::Delete(row(change.row()))],
        Kind::Update => {
            let after = row(&change.after);
            let mut ops = Vec::with_capacity(2);
            // A changed key: the row under the old key goes first.
            if let Some(before) = &change.before {
                let moved = table.columns.iter().enumerate().any(|(i, c)| {
                    c.key
                        && matches!((before.get(i), change.after.get(i)),
                            (Some(old), Some(new)) if old.is_known() && new.is_known() && old != new)
                });
                if moved {
                    let cells = table
                        .columns
                        .iter()
                        .zip(before.iter().zip(&change.after))
                        .filter(|(c, _)| c.key)
                        .map(|(c, (old, new))| {
                            let value = match (old, new) {
                                (Datum::Text(t), _) | (Datum::Unknown, Datum::Text(t)) => {
                                    Some(Cow::Borrowed(t.as_str()))
                                }
                                _ => None,
                            };
                            (c.name.as_str(), value)
                        })
                        .collect();
                    ops.push(Op::Delete(Row { cells }));
                }
            }
            ops.push(Op::Upsert(after));
            ops
        }
    };
    check_keys(&ops, &table.key_names())?;
    Ok(ops)
}

/// Every row of `ops` has a value for each key column.
fn check_keys<K: AsRef<str>>(ops: &[Op<'_>], pk: &[K]) -> Result<(), String> {
    for row in ops.iter().filter_map(Op::row) {
        for k in pk {
            if row.get(k.as_ref()).is_none() {
                return Err(format!("key column {} has no value", k.as_ref()));
            }
        }
    }
    Ok(())
}

/// `column` as one of `rows` names it ("" when none has it).
fn name_in<'a>(rows: [&Row<'a>; 2], column: &str) -> &'a str {
    rows.iter()
        .flat_map(|r| r.columns())
        .find(|c| *c == column)
        .unwrap_or("")
}

/// A message's source table, key and row operations (none for DDL other than `TRUNCATE`).
pub(crate) fn parse(m: &Value) -> Result<(String, Vec<String>, Vec<Op<'_>>), String> {
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
        return Ok((table, Vec::new(), Vec::new()));
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
    let rows = |key: &str| -> Result<Vec<Row<'_>>, String> {
        match m.get(key) {
            Some(Value::Array(rows)) => rows
                .iter()
                .map(|r| {
                    r.as_object()
                        .map(Row::of_message)
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
                if let Some(before) = old.get(i).filter(|o| pk.iter().any(|k| o.has(k))) {
                    let cells = pk
                        .iter()
                        .map(|k| {
                            let v = before.get(k).or_else(|| row.get(k));
                            (
                                name_in([before, &row], k),
                                v.map(|v| Cow::Owned(v.to_string())),
                            )
                        })
                        .collect();
                    ops.push(Op::Delete(Row { cells }));
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
    check_keys(&ops, &pk)?;
    Ok((table, pk, ops))
}

/// Runs the work in one transaction; returns how many rows it applied, a [`Run`] per statement.
async fn apply(session: &mut Session, work: &Work<'_>) -> Result<usize, String> {
    for (table, _, _) in work {
        if !session.shapes.contains_key(table) {
            let target = shape(&session.client, table).await?;
            session.shapes.insert(table.clone(), target);
        }
    }
    let Session {
        client,
        shapes,
        statements,
    } = session;
    let tx = client
        .transaction()
        .await
        .map_err(|e| format!("starting a transaction: {e}"))?;
    let mut applied = 0;
    for run in runs(work, MAX_ROWS) {
        applied += flush(&tx, statements, &shapes[run.table], run.pk, &run.ops).await?;
    }
    tx.commit().await.map_err(|e| format!("committing: {e}"))?;
    Ok(applied)
}

/// The key values of a row operation, as text (empty for a truncate).
pub(crate) fn key_of<'a>(op: &'a Op<'_>, pk: &[String]) -> Vec<&'a str> {
    let Some(row) = op.row() else {
        return Vec::new();
    };
    pk.iter().map(|k| row.get(k).unwrap_or_default()).collect()
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
fn param<'v>(
    target: &Target,
    column: &str,
    value: Option<&'v str>,
) -> Result<Option<Cow<'v, str>>, String> {
    let Some(type_name) = target.types.get(column) else {
        return Err(format!(
            "column {column} is not in target table {}",
            target.quoted
        ));
    };
    match value {
        None => Ok(None),
        Some(s) if type_name == "bytea" => {
            let bytes = from_latin1(s).ok_or_else(|| {
                format!("column {column}: a bytea value has characters beyond U+00FF")
            })?;
            Ok(Some(Cow::Owned(format!(
                "\\x{}",
                bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ))))
        }
        Some(s) => Ok(Some(Cow::Borrowed(s))),
    }
}

/// Rows with the same columns: the column names and the rows.
pub(crate) type Group<'a> = (Vec<&'a str>, Vec<&'a Row<'a>>);

/// The rows of a run by column set (a delete's: the key), in order of first appearance.
pub(crate) fn groups<'a>(run: &[&'a Op<'a>], pk: &'a [String]) -> Vec<Group<'a>> {
    let mut groups: Vec<Group> = Vec::new();
    for op in run {
        let Some(row) = op.row() else {
            continue;
        };
        let delete = matches!(op, Op::Delete(_));
        let same = |cols: &Vec<&str>| {
            if delete {
                cols.iter().copied().eq(pk.iter().map(String::as_str))
            } else {
                cols.iter().copied().eq(row.columns())
            }
        };
        match groups.iter_mut().find(|(c, _)| same(c)) {
            Some((_, rows)) => rows.push(row),
            None => {
                let cols = if delete {
                    pk.iter().map(String::as_str).collect()
                } else {
                    row.columns().collect()
                };
                groups.push((cols, vec![row]));
            }
        }
    }
    groups
}

/// The value of the `index`th column of a group, `column`, in `row`: found in place when the
/// row has the group's columns in order, as it does unless it is a delete's.
pub(crate) fn cell<'r>(row: &'r Row<'_>, index: usize, column: &str) -> Option<&'r str> {
    match row.cells.get(index) {
        Some((c, value)) if *c == column => value.as_deref(),
        _ => row.get(column),
    }
}

/// Applies a run of operations of one kind with distinct keys: one statement per set of
/// columns, its values passed as one text array per column and cast to the columns' types, so
/// that the statement is prepared once per table and column set.
async fn flush(
    tx: &tokio_postgres::Transaction<'_>,
    statements: &mut HashMap<String, Statement>,
    target: &Target,
    pk: &[String],
    run: &[&Op<'_>],
) -> Result<usize, String> {
    let Some(first) = run.first() else {
        return Ok(0);
    };
    let keys = pk
        .iter()
        .map(|k| quote_ident(k))
        .collect::<Vec<_>>()
        .join(", ");
    if let Op::Truncate = first {
        let sql = format!("TRUNCATE TABLE {}", target.quoted);
        execute(tx, statements, &sql, &[]).await?;
        return Ok(run.len());
    }
    for (cols, rows) in &groups(run, pk) {
        let mut columns: Vec<Vec<Option<Cow<str>>>> =
            vec![Vec::with_capacity(rows.len()); cols.len()];
        for row in rows {
            for (i, (values, c)) in columns.iter_mut().zip(cols).enumerate() {
                values.push(param(target, c, cell(row, i, c))?);
            }
        }
        let arrays = (1..=cols.len())
            .map(|i| format!("${i}::text[]"))
            .collect::<Vec<_>>()
            .join(", ");
        let aliases = (0..cols.len())
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let casts = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("u.c{i}::{}", target.types[*c]))
            .collect::<Vec<_>>()
            .join(", ");
        let rows_of = format!("SELECT {casts} FROM unnest({arrays}) AS u({aliases})");
        let sql = match first {
            Op::Delete(_) => format!(
                "DELETE FROM {} WHERE ({keys}) IN ({rows_of})",
                target.quoted
            ),
            _ => {
                let names = cols
                    .iter()
                    .map(|c| quote_ident(c))
                    .collect::<Vec<_>>()
                    .join(", ");
                let updates: Vec<String> = cols
                    .iter()
                    .filter(|c| !pk.iter().any(|k| k == *c))
                    .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(c)))
                    .collect();
                let conflict = if updates.is_empty() {
                    "DO NOTHING".to_string()
                } else {
                    format!("DO UPDATE SET {}", updates.join(", "))
                };
                format!(
                    "INSERT INTO {} ({names}) {rows_of} ON CONFLICT ({keys}) {conflict}",
                    target.quoted
                )
            }
        };
        execute(tx, statements, &sql, &columns).await?;
    }
    Ok(run.len())
}

/// Runs `sql` (prepared once per connection) with one text array per column.
async fn execute(
    tx: &tokio_postgres::Transaction<'_>,
    statements: &mut HashMap<String, Statement>,
    sql: &str,
    columns: &[Vec<Option<Cow<'_, str>>>],
) -> Result<(), String> {
    let fail = |e: tokio_postgres::Error| format!("applying to the target: {e}");
    let statement = match statements.get(sql) {
        Some(s) => s.clone(),
        None => {
            let s = tx.prepare(sql).await.map_err(fail)?;
            if statements.len() >= MAX_STATEMENTS {
                statements.clear();
            }
            statements.insert(sql.to_string(), s.clone());
            s
        }
    };
    let refs: Vec<&(dyn ToSql + Sync)> = columns.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
    tx.execute(&statement, &refs).await.map_err(fail)?;
    Ok(())
}

/// A future a loader returns.
pub type Applied<'a> = Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'a>>;

/// A built-in loader: applies Canal-JSON messages to a database.
pub trait Loader: Send + Sync {
    /// Applies the messages of `event` in one transaction; returns `{"applied": n}` (rows).
    fn apply<'a>(&'a self, event: &'a Value) -> Applied<'a>;

    /// Applies `changes` in one transaction, exactly as it applies their Canal-JSON messages,
    /// without making them.
    fn apply_changes<'a>(&'a self, changes: &'a [Change]) -> Applied<'a>;
}

impl Loader for PostgresUpsert {
    fn apply<'a>(&'a self, event: &'a Value) -> Applied<'a> {
        Box::pin(PostgresUpsert::apply(self, event))
    }

    fn apply_changes<'a>(&'a self, changes: &'a [Change]) -> Applied<'a> {
        Box::pin(PostgresUpsert::apply_changes(self, changes))
    }
}

/// The loader a built-in function of `handler` runs with `options`; `None` when the handler is
/// not a loader, an error naming the option at fault.
pub fn loader(
    handler: Handler,
    options: &Map<String, Value>,
) -> Option<Result<Arc<dyn Loader>, String>> {
    match handler {
        Handler::PostgresUpsert => {
            Some(PostgresUpsert::from_options(options).map(|l| Arc::new(l) as Arc<dyn Loader>))
        }
        #[cfg(feature = "mysql")]
        Handler::MysqlUpsert => Some(
            crate::mysql::loader::MysqlUpsert::from_options(options)
                .map(|l| Arc::new(l) as Arc<dyn Loader>),
        ),
        #[cfg(not(feature = "mysql"))]
        Handler::MysqlUpsert => Some(Err(
            "this sluice was built without MySQL/MariaDB support (cargo feature mysql)".into(),
        )),
        _ => None,
    }
}

/// A loader function as the node serves it: its loader (or why its options are wrong) and
/// the permits of its calls at once.
#[derive(Clone)]
pub struct ServedLoader {
    loader: Result<Arc<dyn Loader>, String>,
    permits: Arc<Semaphore>,
}

impl ServedLoader {
    /// Runs `apply` with the loader once a permit is free; errors as a call's task errors.
    async fn call<'a, F>(&'a self, timeout: Option<u64>, apply: F) -> Result<Value, TaskError>
    where
        F: FnOnce(&'a dyn Loader) -> Applied<'a>,
    {
        let failed = |cause: String| TaskError {
            error: "Sluice.LoaderError".into(),
            cause,
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| failed("the loaders have shut down".into()))?;
        let loader = self.loader.as_ref().map_err(|cause| TaskError {
            error: "Sluice.InvalidEvent".into(),
            cause: cause.clone(),
        })?;
        within_timeout(timeout, apply(loader.as_ref()))
            .await?
            .map_err(failed)
    }

    /// Applies `changes` as a call with their Canal-JSON messages would.
    pub async fn apply_changes(&self, changes: &[Change]) -> Result<Value, TaskError> {
        self.call(None, |l| l.apply_changes(changes)).await
    }
}

/// The project's `postgres-upsert` and `mysql-upsert` functions, served in front of the invoker
/// that calls every other function (the built-in ones included), each with its `concurrency`.
pub struct Loaders {
    loaders: HashMap<String, ServedLoader>,
    inner: Arc<dyn Invoker>,
}

impl Loaders {
    /// Serves the loader functions among `functions`; every other call goes to `inner`. A
    /// function whose options are wrong fails each call with why.
    pub fn new(functions: &[BuiltinFunction], inner: Arc<dyn Invoker>) -> Loaders {
        let loaders = functions
            .iter()
            .filter_map(|f| {
                let loader = loader(f.handler, &f.options)?;
                let permits = Arc::new(Semaphore::new(f.concurrency.max(1)));
                Some((f.name.clone(), ServedLoader { loader, permits }))
            })
            .collect();
        Loaders { loaders, inner }
    }

    /// The loader function `name`, for a caller that has the changes themselves; `None` when
    /// `name` is not one.
    pub fn get(&self, name: &str) -> Option<ServedLoader> {
        self.loaders.get(name).cloned()
    }
}

impl Invoker for Loaders {
    fn invoke_text(&self, request: InvokeRequest, payload: Vec<u8>) -> InvokeFuture {
        let served = match &request.target {
            Callee::Function { name, .. } => self.loaders.contains_key(name),
            Callee::Integration(_) => false,
        };
        match served {
            true => invoke_read(self, request, &payload),
            false => self.inner.invoke_text(request, payload),
        }
    }

    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let found = match &request.target {
            Callee::Function { name, .. } => self.get(name),
            Callee::Integration(_) => None,
        };
        let Some(served) = found else {
            return self.inner.invoke(request);
        };
        Box::pin(async move {
            served
                .call(request.timeout_seconds, |l| l.apply(&request.payload))
                .await
        })
    }
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
        assert!(matches!(&ops[0], Op::Delete(k) if k.get("id") == Some("2")));
        assert!(matches!(&ops[1], Op::Upsert(r) if r.get("id") == Some("3")));
    }

    /// A change's operations, its rows' cells in name order.
    fn sorted<'a>(ops: Vec<Op<'a>>) -> Vec<Op<'a>> {
        let sort = |mut row: Row<'a>| {
            row.cells.sort_by(|a, b| a.0.cmp(b.0));
            row
        };
        ops.into_iter()
            .map(|op| match op {
                Op::Upsert(r) => Op::Upsert(sort(r)),
                Op::Delete(r) => Op::Delete(sort(r)),
                Op::Truncate => Op::Truncate,
            })
            .collect()
    }

    #[test]
    fn changes_apply_as_their_canal_json_messages() {
        use crate::change::{BeforeImage, Column, EventId};
        use crate::format::Format;
        let col = |name: &str, key: bool| Column {
            name: name.into(),
            type_name: "text".into(),
            sql_type: 12,
            key,
        };
        let table = Arc::new(Table {
            catalog: "db".into(),
            schema: "public".into(),
            name: "t".into(),
            columns: vec![col("id", true), col("region", true), col("v", false)],
        });
        let t = |s: &str| Datum::Text(s.into());
        let change = |kind, after: Vec<Datum>, before: Option<Vec<Datum>>| Change {
            id: EventId {
                position: 1,
                part: 0,
                ordinal: 0,
            },
            txid: None,
            commit_ms: 0,
            table: table.clone(),
            kind,
            after,
            before,
            before_image: BeforeImage::Key,
            truncate_options: Vec::new(),
            binlog: None,
            gtid: None,
            ddl: None,
        };
        let cases = [
            change(Kind::Insert, vec![t("1"), t("eu"), Datum::Null], None),
            change(Kind::Read, vec![t("1"), t("eu"), t("x")], None),
            change(Kind::Update, vec![t("1"), t("eu"), t("y")], None),
            // The key moved; the old row's other columns unknown.
            change(
                Kind::Update,
                vec![t("2"), t("eu"), t("y")],
                Some(vec![t("1"), t("eu"), Datum::Unknown]),
            ),
            // An unchanged TOASTed value stays unknown.
            change(
                Kind::Update,
                vec![t("2"), t("us"), Datum::Unknown],
                Some(vec![t("2"), t("eu"), t("y")]),
            ),
            change(
                Kind::Delete,
                Vec::new(),
                Some(vec![t("2"), t("us"), Datum::Unknown]),
            ),
            change(Kind::Truncate, Vec::new(), None),
        ];
        for c in &cases {
            let message = Format::CanalJson.message("s", c, 0);
            let (name, pk, from_message) = parse(&message).unwrap();
            let work = change_work(std::slice::from_ref(c), str::to_string).unwrap();
            assert_eq!(work.len(), 1, "{:?}", c.kind);
            let (target, key, from_change) = work.into_iter().next().unwrap();
            assert_eq!((&target, &key), (&name, &pk), "{:?}", c.kind);
            assert_eq!(
                sorted(from_change),
                sorted(from_message),
                "{:?}: {message}",
                c.kind
            );
        }
        let keyless = Arc::new(Table {
            columns: vec![col("v", false)],
            ..(*table).clone()
        });
        let mut c = change(Kind::Insert, vec![t("1")], None);
        c.table = keyless;
        let message = Format::CanalJson.message("s", &c, 0);
        assert_eq!(
            change_work(std::slice::from_ref(&c), str::to_string).err(),
            parse(&message).err(),
            "the same error"
        );
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
