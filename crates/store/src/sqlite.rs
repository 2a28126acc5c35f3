//! The embedded store: one SQLite file in WAL mode with full sync, written in group commits.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sluice_engine::effects::HistoryEvent;
use sluice_engine::model::{ExecutionState, Status};
use sluice_engine::store::{
    Batch, ExecutionSummary, ItemRecord, MapRunRecord, Store, StoreError, StoredDefinition,
    StoredExecution,
};
use std::path::Path;
use std::sync::Mutex;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS definitions (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    file TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    definition_id TEXT NOT NULL REFERENCES definitions(id),
    flow TEXT NOT NULL,
    status TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    stop_ms INTEGER,
    info TEXT NOT NULL,
    input TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_status ON executions(status);
CREATE INDEX IF NOT EXISTS executions_start ON executions(start_ms);
CREATE TABLE IF NOT EXISTS history (
    execution_id TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (execution_id, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS map_runs (
    id TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    done INTEGER NOT NULL,
    spec TEXT NOT NULL,
    path TEXT NOT NULL,
    token INTEGER NOT NULL,
    progress TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS map_runs_open ON map_runs(done);
CREATE INDEX IF NOT EXISTS map_runs_execution ON map_runs(execution_id);
CREATE TABLE IF NOT EXISTS map_items (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
";

/// A SQLite-backed [`Store`].
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;",
        )
        .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    /// Rows of one JSON `record` column, decoded.
    fn records<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<T>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(sql).map_err(err)?;
        let rows = stmt
            .query_map(args, |r| r.get::<_, String>(0))
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        rows.iter().map(|r| from_json(r)).collect()
    }

    /// Map runs matching `condition`, oldest first.
    fn map_runs_where(
        &self,
        condition: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<MapRunRecord>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT execution_id, done, spec, path, token, progress FROM map_runs WHERE {condition} ORDER BY rowid"
            ))
            .map_err(err)?;
        let rows = stmt
            .query_map(args, |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, bool>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        rows.into_iter()
            .map(|(execution, done, spec, path, token, progress)| {
                Ok(MapRunRecord {
                    spec: from_json(&spec)?,
                    execution,
                    path: from_json(&path)?,
                    token: token as u64,
                    progress: from_json(&progress)?,
                    done,
                })
            })
            .collect()
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn
            .lock()
            .map_err(|_| StoreError("store lock poisoned".into()))
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(err)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(err)
}

fn row_to_execution(
    row: &rusqlite::Row,
) -> rusqlite::Result<(String, String, Option<i64>, String, String, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn build_execution(
    (id, definition_id, stop_ms, info, input, state): (
        String,
        String,
        Option<i64>,
        String,
        String,
        String,
    ),
) -> Result<StoredExecution, StoreError> {
    Ok(StoredExecution {
        id,
        definition_id,
        info: from_json(&info)?,
        input: from_json::<Value>(&input)?,
        state: from_json::<ExecutionState>(&state)?,
        stop_ms,
    })
}

const SELECT_EXECUTION: &str =
    "SELECT id, definition_id, stop_ms, info, input, state FROM executions";

impl Store for SqliteStore {
    fn put_definition(&self, name: &str, file: &str, source: &str) -> Result<String, StoreError> {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([0]);
        h.update(source.as_bytes());
        let id: String = h.finalize()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.conn()?
            .execute(
                "INSERT OR IGNORE INTO definitions (id, name, file, source) VALUES (?1, ?2, ?3, ?4)",
                params![id, name, file, source],
            )
            .map_err(err)?;
        Ok(id)
    }

    fn definition(&self, id: &str) -> Result<Option<StoredDefinition>, StoreError> {
        self.conn()?
            .query_row(
                "SELECT id, name, file, source FROM definitions WHERE id = ?1",
                params![id],
                |r| {
                    Ok(StoredDefinition {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        file: r.get(2)?,
                        source: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(err)
    }

    fn commit(&self, batch: &Batch<'_>) -> Result<(), StoreError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(err)?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO executions (id, definition_id, flow, status, start_ms, stop_ms, info, input, state)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(err)?;
            let mut update = tx
                .prepare_cached(
                    "UPDATE executions SET status = ?2, stop_ms = ?3, state = ?4 WHERE id = ?1",
                )
                .map_err(err)?;
            let mut history = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO history (execution_id, event_id, timestamp_ms, kind, details) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            for w in &batch.executions {
                let e = w.execution;
                let state = to_json(&e.state)?;
                if w.new {
                    insert
                        .execute(params![
                            e.id,
                            e.definition_id,
                            e.info.state_machine_name,
                            e.state.status.as_str(),
                            e.info.start_ms,
                            e.stop_ms,
                            to_json(&e.info)?,
                            to_json(&e.input)?,
                            state
                        ])
                        .map_err(err)?;
                } else {
                    update
                        .execute(params![e.id, e.state.status.as_str(), e.stop_ms, state])
                        .map_err(err)?;
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
            }
            let mut new_run = tx
                .prepare_cached(
                    "INSERT INTO map_runs (id, execution_id, done, spec, path, token, progress) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(err)?;
            let mut run = tx
                .prepare_cached("UPDATE map_runs SET done = ?2, progress = ?3 WHERE id = ?1")
                .map_err(err)?;
            for w in &batch.map_runs {
                let r = w.record;
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
            for i in &batch.items {
                item.execute(params![i.run, i.index as i64, to_json(i)?])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn open_map_runs(&self) -> Result<Vec<MapRunRecord>, StoreError> {
        self.map_runs_where("done = 0", params![])
    }

    fn map_runs_of(&self, execution: &str) -> Result<Vec<MapRunRecord>, StoreError> {
        self.map_runs_where("execution_id = ?1", params![execution])
    }

    fn map_items(&self, run: &str, from: u64, limit: usize) -> Result<Vec<ItemRecord>, StoreError> {
        self.records(
            "SELECT record FROM map_items WHERE run_id = ?1 AND idx >= ?2 ORDER BY idx LIMIT ?3",
            params![run, from as i64, limit as i64],
        )
    }

    fn running(&self) -> Result<Vec<StoredExecution>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(&format!(
                "{SELECT_EXECUTION} WHERE status = 'RUNNING' ORDER BY start_ms"
            ))
            .map_err(err)?;
        let rows = stmt
            .query_map([], row_to_execution)
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        rows.into_iter().map(build_execution).collect()
    }

    fn execution(&self, id: &str) -> Result<Option<StoredExecution>, StoreError> {
        let conn = self.conn()?;
        let row = conn
            .query_row(
                &format!("{SELECT_EXECUTION} WHERE id = ?1"),
                params![id],
                row_to_execution,
            )
            .optional()
            .map_err(err)?;
        row.map(build_execution).transpose()
    }

    fn list(&self, limit: usize, with_children: bool) -> Result<Vec<ExecutionSummary>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(
                "SELECT id, flow, status, start_ms, stop_ms FROM executions
                 WHERE ?2 OR json_extract(info, '$.parent') IS NULL
                 ORDER BY start_ms DESC, id LIMIT ?1",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![limit as i64, with_children], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|(id, flow, status, start_ms, stop_ms)| ExecutionSummary {
                id,
                flow,
                status: Status::parse(&status).unwrap_or(Status::Running),
                start_ms,
                stop_ms,
            })
            .collect())
    }

    fn history(&self, id: &str) -> Result<Vec<HistoryEvent>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare("SELECT event_id, timestamp_ms, kind, details FROM history WHERE execution_id = ?1 ORDER BY event_id")
            .map_err(err)?;
        let rows = stmt
            .query_map(params![id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        rows.into_iter()
            .map(|(id, ts, kind, details)| {
                Ok(HistoryEvent {
                    id: id as u64,
                    timestamp_ms: ts,
                    kind,
                    details: from_json(&details)?,
                })
            })
            .collect()
    }
}
