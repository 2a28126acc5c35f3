//! The embedded store: one SQLite file in WAL mode with full sync, written in group commits.
//!
//! Several processes may open the same file: SQLite serialises their write transactions, and
//! leases plus versioned writes (see [`sluice_engine::store`]) decide who drives what.

use crate::codec::{
    self, DEFINITION_COLUMNS, EXECUTION_COLUMNS, HISTORY_COLUMNS, MAP_RUN_COLUMNS, Row,
    SCOPE_VALUE_COLUMNS, SIGNAL_COLUMNS, STOP_REQUEST_COLUMNS, SUMMARY_COLUMNS, bad_column,
    definition_id, from_json, signed, to_json,
};
use crate::migrations::{self, SQLITE};
use crate::{sqlite_objects, sqlite_queues};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use sluice_engine::callback::StoredSignal;
use sluice_engine::effects::HistoryEvent;
use sluice_engine::objects::{ObjectChange, ObjectClassRecord, PendingObjectEvent};
use sluice_engine::queue::{NewMessage, QueueMessage, QueueStats, Settlement};
use sluice_engine::store::{
    Batch, CdcCheckpoint, ClaimRequest, Claimed, CommitReport, ExecutionSummary, ItemRecord, Lease,
    MapRunRecord, ScopeValue, StopRequest, Store, StoreError, StoredDefinition, StoredExecution,
};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// A SQLite-backed [`Store`].
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

/// Classifies a SQLite error: a broken file is corrupt, a constraint is a conflict, anything
/// else (busy, I/O) may pass.
pub(crate) fn err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Corrupt(e.to_string())
        }
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

impl Row for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        self.get(i).map_err(|e| bad_column(i, e))
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        self.get(i).map_err(|e| bad_column(i, e))
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.get(i).map_err(|e| bad_column(i, e))
    }
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        self.get(i).map_err(|e| bad_column(i, e))
    }
    fn flag(&self, i: usize) -> Result<bool, StoreError> {
        self.get(i).map_err(|e| bad_column(i, e))
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("creating {}: {e}", dir.display())))?;
        }
        // Processes opening a new file at the same moment race to switch it to WAL and migrate
        // it; SQLite answers the loser "locked" at once instead of waiting. It opens again.
        let mut attempt = 0;
        loop {
            match open_connection(path) {
                Ok(mut conn) => {
                    migrate(&mut conn)?;
                    return Ok(SqliteStore {
                        conn: Mutex::new(conn),
                    });
                }
                Err(e) if is_locked(&e) && attempt < OPEN_ATTEMPTS => {
                    attempt += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20 * attempt));
                }
                Err(e) => return Err(err(e)),
            }
        }
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError::Unavailable("store lock poisoned".into()))
    }

    /// Rows of a query decoded by `f`.
    fn rows<T>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        f: impl FnMut(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let conn = self.conn()?;
        query(&conn, sql, args, f)
    }
}

/// An execution's Map and Parallel values.
fn scope_values(conn: &Connection, execution: &str) -> Result<Vec<ScopeValue>, StoreError> {
    query(
        conn,
        &format!(
            "SELECT {SCOPE_VALUE_COLUMNS} FROM scope_values WHERE execution_id = ?1
             ORDER BY scope, kind, idx"
        ),
        params![execution],
        codec::scope_value,
    )
}

/// Executions read from their rows, their states completed with their values.
fn load(
    conn: &Connection,
    rows: Vec<codec::ExecutionRow>,
) -> Result<Vec<StoredExecution>, StoreError> {
    rows.into_iter()
        .map(|row| {
            let values = scope_values(conn, row.id())?;
            row.load(values)
        })
        .collect()
}

pub(crate) fn query<T>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    mut f: impl FnMut(&dyn Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    let mut rows = stmt.query(args).map_err(err)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        out.push(f(row)?);
    }
    Ok(out)
}

/// How often opening is tried while another process holds the file during its own opening.
const OPEN_ATTEMPTS: u64 = 25;

/// A connection in WAL mode with full sync and a busy timeout.
fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA busy_timeout=10000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
    )?;
    Ok(conn)
}

/// Whether SQLite refused because another connection held the file.
fn is_locked(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Applies the migrations the file has not seen, each in its own transaction, tracked by
/// `PRAGMA user_version`. A file from a newer binary is refused.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let current: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    for (number, step) in migrations::pending(SQLITE, current)? {
        tx.execute_batch(step).map_err(err)?;
        if number == 2 {
            link_children_to_roots(&tx)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {number}"))
            .map_err(err)?;
    }
    tx.commit().map_err(err)
}

/// Sets `root_id` of Distributed Map children stored before executions had roots: the root of
/// the execution that runs their map run, followed up nested runs.
fn link_children_to_roots(tx: &Transaction) -> Result<(), StoreError> {
    for _ in 0..32 {
        let changed = tx
            .execute(
                "UPDATE executions SET root_id = (
                     SELECT COALESCE(NULLIF(parent.root_id, ''), parent.id)
                     FROM map_runs m JOIN executions parent ON parent.id = m.execution_id
                     WHERE m.id = json_extract(executions.info, '$.parent.run'))
                 WHERE json_extract(info, '$.parent') IS NOT NULL
                   AND root_id IS NOT (
                     SELECT COALESCE(NULLIF(parent.root_id, ''), parent.id)
                     FROM map_runs m JOIN executions parent ON parent.id = m.execution_id
                     WHERE m.id = json_extract(executions.info, '$.parent.run'))",
                [],
            )
            .map_err(err)?;
        if changed == 0 {
            break;
        }
    }
    Ok(())
}

impl Store for SqliteStore {
    fn put_definition(
        &self,
        name: &str,
        file: &str,
        source: &str,
        project: Option<&str>,
    ) -> Result<String, StoreError> {
        let id = definition_id(name, source, project);
        self.conn()?
            .execute(
                "INSERT OR IGNORE INTO definitions (id, name, file, source, project) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, name, file, source, project],
            )
            .map_err(err)?;
        Ok(id)
    }

    fn definition(&self, id: &str) -> Result<Option<StoredDefinition>, StoreError> {
        let rows = self.rows(
            &format!("SELECT {DEFINITION_COLUMNS} FROM definitions WHERE id = ?1"),
            params![id],
            codec::definition,
        )?;
        Ok(rows.into_iter().next())
    }

    fn definitions_of(&self, project: Option<&str>) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT id FROM definitions WHERE project IS ?1 ORDER BY id",
            params![project],
            |r| r.text(0),
        )
    }

    fn commit(&self, lease: Lease<'_>, batch: &Batch<'_>) -> Result<CommitReport, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let report = write_batch(&tx, lease, batch)?;
        tx.commit().map_err(err)?;
        Ok(report)
    }

    fn claim(&self, request: ClaimRequest<'_>) -> Result<Claimed, StoreError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let roots: Vec<String> = query(
            &tx,
            "SELECT id FROM executions
             WHERE status = 'RUNNING' AND id = root_id
               AND (owner IS NULL OR lease_until IS NULL OR lease_until < ?1)
               AND definition_id IN (SELECT value FROM json_each(?2))
               AND (?4 IS NULL OR id = ?4)
             ORDER BY start_ms, id LIMIT ?3",
            params![
                request.now_ms,
                to_json(&request.definitions)?,
                signed(request.limit),
                request.root
            ],
            |r| r.text(0),
        )?;
        if roots.is_empty() {
            return Ok(Claimed::default());
        }
        let roots_json = to_json(&roots)?;
        tx.execute(
            "UPDATE executions SET owner = ?1, lease_until = ?2, version = version + 1
             WHERE status = 'RUNNING' AND root_id IN (SELECT value FROM json_each(?3))",
            params![request.lease.owner, request.lease.until_ms, roots_json],
        )
        .map_err(err)?;
        let executions = query(
            &tx,
            &format!(
                "SELECT {EXECUTION_COLUMNS} FROM executions
                 WHERE status = 'RUNNING' AND root_id IN (SELECT value FROM json_each(?1))
                 ORDER BY id != root_id, start_ms, id"
            ),
            params![roots_json],
            codec::execution,
        )?;
        let executions = load(&tx, executions)?;
        let ids = to_json(&executions.iter().map(|e| &e.id).collect::<Vec<_>>())?;
        let map_runs = query(
            &tx,
            &format!(
                "SELECT {MAP_RUN_COLUMNS} FROM map_runs
                 WHERE done = 0 AND execution_id IN (SELECT value FROM json_each(?1)) ORDER BY rowid"
            ),
            params![ids],
            codec::map_run,
        )?;
        tx.commit().map_err(err)?;
        Ok(Claimed {
            executions,
            map_runs,
        })
    }

    fn renew(&self, owner: &str, until_ms: i64) -> Result<u64, StoreError> {
        let n = self
            .conn()?
            .execute(
                "UPDATE executions SET lease_until = ?2 WHERE owner = ?1 AND status = 'RUNNING'",
                params![owner, until_ms],
            )
            .map_err(err)?;
        Ok(n as u64)
    }

    fn release(&self, owner: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "UPDATE executions SET owner = NULL, lease_until = NULL, version = version + 1
                 WHERE owner = ?1 AND status = 'RUNNING'",
                params![owner],
            )
            .map_err(err)?;
        Ok(())
    }

    fn request_stop(&self, id: &str, request: &StopRequest) -> Result<bool, StoreError> {
        let n = self
            .conn()?
            .execute(
                "UPDATE executions SET stop_request = ?2
                 WHERE id = ?1 AND id = root_id AND status = 'RUNNING'",
                params![id, to_json(request)?],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn stop_requests(&self, owner: &str) -> Result<Vec<(String, StopRequest)>, StoreError> {
        self.rows(
            &format!(
                "SELECT {STOP_REQUEST_COLUMNS} FROM executions
                 WHERE owner = ?1 AND status = 'RUNNING' AND stop_request IS NOT NULL"
            ),
            params![owner],
            codec::stop_request,
        )
    }

    fn put_signal(&self, execution: &str, signal: &StoredSignal) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "INSERT INTO task_signals (execution_id, signal) VALUES (?1, ?2)",
                params![execution, to_json(signal)?],
            )
            .map_err(err)?;
        Ok(())
    }

    fn signals(&self, owner: &str) -> Result<Vec<(u64, String, StoredSignal)>, StoreError> {
        self.rows(
            &format!(
                "SELECT {SIGNAL_COLUMNS} FROM task_signals s JOIN executions e ON e.id = s.execution_id
                 WHERE e.owner = ?1 AND e.status = 'RUNNING' ORDER BY s.seq"
            ),
            params![owner],
            codec::signal,
        )
    }

    fn drop_signals(&self, seqs: &[u64]) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(err)?;
        {
            let mut delete = tx
                .prepare_cached("DELETE FROM task_signals WHERE seq = ?1")
                .map_err(err)?;
            for seq in seqs {
                delete.execute(params![*seq as i64]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn queue_send(
        &self,
        queue: &str,
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let addressed = messages.iter().map(|m| (queue, m));
        sqlite_queues::send(&mut *self.conn()?, addressed, now_ms)
    }

    fn queue_send_many(
        &self,
        messages: &[(String, NewMessage)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let addressed = messages.iter().map(|(q, m)| (q.as_str(), m));
        sqlite_queues::send(&mut *self.conn()?, addressed, now_ms)
    }

    fn queue_receive(
        &self,
        queue: &str,
        max: usize,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Vec<QueueMessage>, StoreError> {
        sqlite_queues::receive(&mut *self.conn()?, queue, max, now_ms, lease_until_ms)
    }

    fn queue_settle(
        &self,
        queue: &str,
        settlements: &[Settlement],
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        sqlite_queues::settle(&mut *self.conn()?, queue, settlements, now_ms)
    }

    fn queue_peek(
        &self,
        queue: &str,
        limit: usize,
        failed: bool,
    ) -> Result<Vec<QueueMessage>, StoreError> {
        sqlite_queues::peek(&*self.conn()?, queue, limit, failed)
    }

    fn queue_stats(&self, queue: &str, now_ms: i64) -> Result<QueueStats, StoreError> {
        sqlite_queues::stats(&*self.conn()?, queue, now_ms)
    }

    fn queue_purge(&self, queue: &str) -> Result<u64, StoreError> {
        sqlite_queues::purge(&*self.conn()?, queue)
    }

    fn queue_redrive(&self, from: &str, to: &str, now_ms: i64) -> Result<u64, StoreError> {
        sqlite_queues::redrive(&*self.conn()?, from, to, now_ms)
    }

    fn trigger_next(&self, trigger: &str) -> Result<Option<i64>, StoreError> {
        let rows = self.rows(
            "SELECT next_ms FROM trigger_state WHERE name = ?1",
            params![trigger],
            |r| r.int(0),
        )?;
        Ok(rows.into_iter().next())
    }

    fn trigger_advance(
        &self,
        trigger: &str,
        from: Option<i64>,
        to: i64,
    ) -> Result<bool, StoreError> {
        let conn = self.conn()?;
        let n = match from {
            None => conn.execute(
                "INSERT OR IGNORE INTO trigger_state (name, next_ms) VALUES (?1, ?2)",
                params![trigger, to],
            ),
            Some(from) => conn.execute(
                "UPDATE trigger_state SET next_ms = ?3 WHERE name = ?1 AND next_ms = ?2",
                params![trigger, from, to],
            ),
        }
        .map_err(err)?;
        Ok(n == 1)
    }

    fn object_known(&self, watch: &str, key: &str) -> Result<Option<String>, StoreError> {
        sqlite_objects::known(&*self.conn()?, watch, key)
    }

    fn object_known_page(
        &self,
        watch: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        sqlite_objects::known_page(&*self.conn()?, watch, after, limit)
    }

    fn object_record(&self, watch: &str, changes: &[ObjectChange]) -> Result<u64, StoreError> {
        sqlite_objects::record(&mut *self.conn()?, watch, changes)
    }

    fn object_events(
        &self,
        watch: &str,
        limit: usize,
    ) -> Result<Vec<PendingObjectEvent>, StoreError> {
        sqlite_objects::events(&*self.conn()?, watch, limit)
    }

    fn object_events_done(&self, watch: &str, seqs: &[i64]) -> Result<(), StoreError> {
        sqlite_objects::events_done(&mut *self.conn()?, watch, seqs)
    }

    fn object_class(&self, path: &str) -> Result<Option<ObjectClassRecord>, StoreError> {
        sqlite_objects::class(&*self.conn()?, path)
    }

    fn object_class_put(
        &self,
        path: &str,
        record: Option<&ObjectClassRecord>,
    ) -> Result<(), StoreError> {
        sqlite_objects::put_class(&*self.conn()?, path, record)
    }

    fn object_class_swap(
        &self,
        path: &str,
        before: &ObjectClassRecord,
        after: &ObjectClassRecord,
    ) -> Result<bool, StoreError> {
        sqlite_objects::swap_class(&*self.conn()?, path, before, after)
    }

    fn cdc_checkpoint(&self, source: &str) -> Result<Option<CdcCheckpoint>, StoreError> {
        let rows = self.rows(
            &format!(
                "SELECT {} FROM cdc_checkpoints WHERE source = ?1",
                codec::CDC_COLUMNS
            ),
            params![source],
            codec::cdc_checkpoint,
        )?;
        Ok(rows.into_iter().next())
    }

    fn cdc_checkpoints(&self) -> Result<Vec<CdcCheckpoint>, StoreError> {
        self.rows(
            &format!(
                "SELECT {} FROM cdc_checkpoints ORDER BY source",
                codec::CDC_COLUMNS
            ),
            params![],
            codec::cdc_checkpoint,
        )
    }

    fn cdc_lease(
        &self,
        source: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn()?
            .execute(
                "INSERT INTO cdc_checkpoints
                     (source, phase, position, progress, owner, lease_until_ms, updated_ms)
                 VALUES (?1, 'new', 0, 'null', ?2, ?4, ?3)
                 ON CONFLICT (source) DO UPDATE SET owner = ?2, lease_until_ms = ?4
                 WHERE cdc_checkpoints.owner IS NULL OR cdc_checkpoints.owner = ?2
                    OR cdc_checkpoints.lease_until_ms IS NULL
                    OR cdc_checkpoints.lease_until_ms < ?3",
                params![source, owner, now_ms, until_ms],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn cdc_save(&self, owner: &str, c: &CdcCheckpoint) -> Result<bool, StoreError> {
        let n = self
            .conn()?
            .execute(
                "UPDATE cdc_checkpoints SET phase = ?3, position = ?4, progress = ?5, error = ?6,
                     lease_until_ms = ?7, updated_ms = ?8
                 WHERE source = ?1 AND owner = ?2",
                params![
                    c.source,
                    owner,
                    c.phase,
                    c.position as i64,
                    codec::to_json(&c.progress)?,
                    c.error,
                    c.lease_until_ms,
                    c.updated_ms
                ],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn cdc_release(&self, source: &str, owner: &str) -> Result<(), StoreError> {
        self.conn()?
            .execute(
                "UPDATE cdc_checkpoints SET owner = NULL, lease_until_ms = NULL
                 WHERE source = ?1 AND owner = ?2",
                params![source, owner],
            )
            .map_err(err)?;
        Ok(())
    }

    fn cdc_reset(&self, source: &str) -> Result<bool, StoreError> {
        let n = self
            .conn()?
            .execute(
                "DELETE FROM cdc_checkpoints WHERE source = ?1",
                params![source],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn running_roots(&self) -> Result<Vec<ExecutionSummary>, StoreError> {
        self.rows(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM executions
                 WHERE status = 'RUNNING' AND id = root_id ORDER BY start_ms, id"
            ),
            [],
            codec::summary,
        )
    }

    fn scope_values(&self, execution: &str) -> Result<Vec<ScopeValue>, StoreError> {
        let conn = self.conn()?;
        scope_values(&conn, execution)
    }

    fn execution(&self, id: &str) -> Result<Option<StoredExecution>, StoreError> {
        let conn = self.conn()?;
        let rows = query(
            &conn,
            &format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ?1"),
            params![id],
            codec::execution,
        )?;
        Ok(load(&conn, rows)?.into_iter().next())
    }

    fn list(&self, limit: usize, with_children: bool) -> Result<Vec<ExecutionSummary>, StoreError> {
        self.rows(
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM executions
                 WHERE ?2 OR id = root_id
                 ORDER BY start_ms DESC, id LIMIT ?1"
            ),
            params![signed(limit), with_children],
            codec::summary,
        )
    }

    fn history(&self, id: &str, after: u64, limit: usize) -> Result<Vec<HistoryEvent>, StoreError> {
        self.rows(
            &format!(
                "SELECT {HISTORY_COLUMNS} FROM history
                 WHERE execution_id = ?1 AND event_id > ?2 ORDER BY event_id LIMIT ?3"
            ),
            params![id, signed(after), signed(limit)],
            codec::history_event,
        )
    }

    fn map_runs_of(&self, execution: &str) -> Result<Vec<MapRunRecord>, StoreError> {
        self.rows(
            &format!(
                "SELECT {MAP_RUN_COLUMNS} FROM map_runs WHERE execution_id = ?1 ORDER BY rowid"
            ),
            params![execution],
            codec::map_run,
        )
    }

    fn map_items(&self, run: &str, from: u64, limit: usize) -> Result<Vec<ItemRecord>, StoreError> {
        self.rows(
            "SELECT record FROM map_items WHERE run_id = ?1 AND idx >= ?2 ORDER BY idx LIMIT ?3",
            params![run, signed(from), signed(limit)],
            |r| from_json(&r.text(0)?),
        )
    }
}

/// Writes a group commit inside `tx`: each execution against the version it read, then the map
/// runs and items whose driving execution this owner still holds.
fn write_batch(
    tx: &Transaction,
    lease: Lease<'_>,
    batch: &Batch<'_>,
) -> Result<CommitReport, StoreError> {
    let mut report = CommitReport::default();
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO executions (id, root_id, version, owner, lease_until, definition_id, flow, status, start_ms, stop_ms, info, input, state)
             VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT (id) DO NOTHING",
        )
        .map_err(err)?;
    let mut update = tx
        .prepare_cached(
            "UPDATE executions SET status = ?3, stop_ms = ?4, state = ?5, version = version + 1, owner = ?6, lease_until = ?7,
                 stop_request = CASE WHEN ?3 = 'RUNNING' THEN stop_request END
             WHERE id = ?1 AND version = ?2",
        )
        .map_err(err)?;
    let mut history = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO history (execution_id, event_id, timestamp_ms, kind, details) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(err)?;
    let mut values = tx
        .prepare_cached(
            "INSERT INTO scope_values (execution_id, scope, kind, idx, value) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (execution_id, scope, kind, idx) DO UPDATE SET value = excluded.value",
        )
        .map_err(err)?;
    for w in &batch.executions {
        let e = w.execution;
        let state = to_json(w.state)?;
        let written = if w.new {
            insert
                .execute(params![
                    e.id,
                    e.root_id,
                    lease.owner,
                    lease.until_ms,
                    e.definition_id,
                    e.info.state_machine_name,
                    e.state.status.as_str(),
                    e.info.start_ms,
                    e.stop_ms,
                    to_json(&e.info)?,
                    to_json(&e.input)?,
                    state
                ])
                .map_err(err)?
        } else {
            update
                .execute(params![
                    e.id,
                    e.version as i64,
                    e.state.status.as_str(),
                    e.stop_ms,
                    state,
                    lease.owner,
                    lease.until_ms
                ])
                .map_err(err)?
        };
        if written != 1 {
            report.lost.push(e.id.clone());
            continue;
        }
        for h in w.history {
            history
                .execute(params![
                    e.id,
                    h.id as i64,
                    h.timestamp_ms,
                    h.kind,
                    to_json(&h.details)?
                ])
                .map_err(err)?;
        }
        for v in w.values {
            values
                .execute(params![
                    e.id,
                    v.scope,
                    v.kind.as_str(),
                    v.idx,
                    to_json(&v.value)?
                ])
                .map_err(err)?;
        }
    }
    let mut owner_of = tx
        .prepare_cached("SELECT owner FROM executions WHERE id = ?1")
        .map_err(err)?;
    // Whether this owner still drives the execution a map run belongs to.
    let mut held: HashMap<String, bool> = HashMap::new();
    let mut holds = |execution: &'_ str| -> Result<bool, StoreError> {
        if report.lost.iter().any(|l| l == execution) {
            return Ok(false);
        }
        let owner: Option<Option<String>> = owner_of
            .query_row(params![execution], |r| r.get(0))
            .optional()
            .map_err(err)?;
        Ok(owner.flatten().as_deref() == Some(lease.owner))
    };
    let mut new_run = tx
        .prepare_cached(
            "INSERT INTO map_runs (id, execution_id, done, spec, path, token, progress) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET done = excluded.done, progress = excluded.progress",
        )
        .map_err(err)?;
    let mut run = tx
        .prepare_cached("UPDATE map_runs SET done = ?2, progress = ?3 WHERE id = ?1")
        .map_err(err)?;
    let mut run_parent: HashMap<&str, &str> = HashMap::new();
    for w in &batch.map_runs {
        let r = w.record;
        run_parent.insert(&r.spec.id, &r.execution);
        let ok = match held.get(r.execution.as_str()) {
            Some(ok) => *ok,
            None => {
                let ok = holds(&r.execution)?;
                held.insert(r.execution.clone(), ok);
                ok
            }
        };
        if !ok {
            continue;
        }
        if w.new {
            new_run
                .execute(params![
                    r.spec.id,
                    r.execution,
                    r.done,
                    to_json(&r.spec)?,
                    to_json(&r.path)?,
                    r.token as i64,
                    to_json(&r.progress)?
                ])
                .map_err(err)?;
        } else {
            run.execute(params![r.spec.id, r.done, to_json(&r.progress)?])
                .map_err(err)?;
        }
    }
    let mut item = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO map_items (run_id, idx, record) VALUES (?1, ?2, ?3)",
        )
        .map_err(err)?;
    let mut parent_of_run = tx
        .prepare_cached("SELECT execution_id FROM map_runs WHERE id = ?1")
        .map_err(err)?;
    for i in batch.items {
        let parent: String = match run_parent.get(i.run.as_str()) {
            Some(p) => p.to_string(),
            None => match parent_of_run
                .query_row(params![i.run], |r| r.get(0))
                .optional()
                .map_err(err)?
            {
                Some(p) => p,
                None => continue,
            },
        };
        let ok = match held.get(parent.as_str()) {
            Some(ok) => *ok,
            None => {
                let ok = holds(&parent)?;
                held.insert(parent, ok);
                ok
            }
        };
        if ok {
            item.execute(params![i.run, i.index as i64, to_json(i)?])
                .map_err(err)?;
        }
    }
    Ok(report)
}
