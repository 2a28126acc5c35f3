//! The PostgreSQL store: the tables and semantics of the SQLite store, for processes on many
//! hosts sharing one database.
//!
//! Opened from a URL, `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?PARAMS]` (or
//! `postgresql://`), with the parameters of libpq URLs that tokio-postgres knows
//! (`connect_timeout`, `application_name`, `options`, `host=/run/postgresql` for a Unix socket,
//! ...) and one of its own: `schema=NAME` keeps the store's tables in that schema, created when
//! missing, so several stores can share a database. Connections are plain TCP or Unix sockets,
//! without TLS (`sslmode=require` is refused): reach a remote server through a tunnel.
//!
//! Each store holds one connection on a thread of its own, so that it can be called from any
//! thread, inside a tokio runtime or not; a broken connection is opened again at the next call.
//! A group commit is one statement, whatever its size: the executions are
//! inserted and compare-and-swap updated from arrays (`unnest`), and the history, map runs and
//! items go in from arrays too, only for the executions whose write went through. Claims lock
//! free root executions with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait for each
//! other nor take the same root.

pub(crate) mod connection;
mod objects;
mod queues;

use crate::codec::{
    self, DEFINITION_COLUMNS, EXECUTION_COLUMNS, HISTORY_COLUMNS, MAP_RUN_COLUMNS, Row,
    SCOPE_VALUE_COLUMNS, SIGNAL_COLUMNS, STOP_REQUEST_COLUMNS, SUMMARY_COLUMNS, definition_id,
    from_json, signed, to_json,
};
use crate::migrations::{self, POSTGRES};
use connection::{Connection, Target, Worker, classify};
use sluice_engine::callback::StoredSignal;
use sluice_engine::effects::HistoryEvent;
use sluice_engine::objects::{ObjectChange, ObjectClassRecord, PendingObjectEvent};
use sluice_engine::queue::{NewMessage, QueueMessage, QueueStats, Settlement};
use sluice_engine::store::{
    Batch, CdcCheckpoint, ClaimRequest, Claimed, CommitReport, ExecutionSummary, ItemRecord, Lease,
    MapRunRecord, ScopeValue, StopRequest, Store, StoreError, StoredDefinition, StoredExecution,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use tokio_postgres::types::ToSql;

/// A PostgreSQL-backed [`Store`].
pub struct PostgresStore {
    worker: Worker,
}

/// Checks a PostgreSQL store URL without connecting: its scheme, its parameters, its `schema`.
pub fn check_url(url: &str) -> Result<(), String> {
    Target::parse(url).map(|_| ())
}

/// Serialises the schema migrations of every process opening a store in the same database.
const MIGRATION_LOCK: i64 = 0x736c_7569_6365;

/// Applies the migrations the database has not seen, in one transaction under an advisory lock
/// (so processes opening the same fresh database at once take turns), creating the schema first
/// when one is given. A database migrated by a newer binary is refused.
async fn migrate(c: &mut Connection, schema: Option<String>) -> Result<(), StoreError> {
    let tx = c.client().transaction().await.map_err(classify)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(classify)?;
    if let Some(schema) = schema {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .map_err(classify)?;
    }
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version BIGINT PRIMARY KEY,
             applied_ms BIGINT NOT NULL
         )",
    )
    .await
    .map_err(classify)?;
    let current = tx
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(classify)?
        .int(0)?;
    for (number, step) in migrations::pending(POSTGRES, current)? {
        tx.batch_execute(step).await.map_err(classify)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_ms)
             VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
            &[&signed(number)],
        )
        .await
        .map_err(classify)?;
    }
    tx.commit().await.map_err(classify)
}

impl PostgresStore {
    /// Connects to the database at `url` (see the [module docs](self)) and brings its schema up
    /// to date.
    pub fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let target = Target::parse(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        let schema = target.schema().map(str::to_owned);
        let worker = Worker::start(target)?;
        worker.call(move |c| Box::pin(migrate(c, schema)))?;
        Ok(PostgresStore { worker })
    }

    /// The rows of a query, decoded by `decode` on the caller's thread.
    fn rows<T>(
        &self,
        sql: String,
        params: Params,
        decode: impl Fn(&dyn Row) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self
            .worker
            .call(move |c| Box::pin(async move { c.query(&sql, &params.refs()).await }))?;
        rows.iter().map(|r| decode(r)).collect()
    }

    /// Runs a statement; returns how many rows it changed.
    fn execute(&self, sql: &'static str, params: Params) -> Result<u64, StoreError> {
        self.worker
            .call(move |c| Box::pin(async move { c.execute(sql, &params.refs()).await }))
    }
}

/// Owned statement parameters, sent to the connection's thread.
#[derive(Default)]
struct Params(Vec<Box<dyn ToSql + Send + Sync>>);

impl Params {
    /// Adds a parameter.
    fn with(mut self, value: impl ToSql + Send + Sync + 'static) -> Params {
        self.0.push(Box::new(value));
        self
    }

    /// The parameters as the client takes them.
    fn refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.0
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// Takes free running roots of the given definitions (skipping the ones another claimer has
/// locked), and every running execution under them, bumping their versions.
fn claim_sql() -> String {
    format!(
        "WITH roots AS (
             SELECT id FROM executions
             WHERE status = 'RUNNING' AND id = root_id
               AND (owner IS NULL OR lease_until IS NULL OR lease_until < $3)
               AND definition_id = ANY($4::text[])
               AND ($6::text IS NULL OR id = $6)
             ORDER BY start_ms, id
             LIMIT $5
             FOR UPDATE SKIP LOCKED
         ), taken AS (
             UPDATE executions SET owner = $1, lease_until = $2, version = version + 1
             WHERE status = 'RUNNING' AND root_id IN (SELECT id FROM roots)
             RETURNING {EXECUTION_COLUMNS}, start_ms
         )
         SELECT {EXECUTION_COLUMNS} FROM taken ORDER BY id <> root_id, start_ms, id"
    )
}

/// The open map runs of the given executions, oldest first.
fn open_runs_sql() -> String {
    format!(
        "SELECT {MAP_RUN_COLUMNS} FROM map_runs
         WHERE NOT done AND execution_id = ANY($1::text[]) ORDER BY seq"
    )
}

/// A group commit in one statement. `$1`/`$2` are the lease; then, as parallel arrays: new
/// executions ($3-$12), updated executions ($13-$17, compare-and-swap on the version read),
/// history ($18-$22), new map runs ($23-$29), updated map runs ($30-$33), items ($34-$36) and
/// Map and Parallel values ($37-$41). History and values go in only for executions written; map runs and items only for executions this
/// owner holds after the write: written now, or (not in the batch) owned already, which is
/// locked against a concurrent claim. Returns the ids of the executions written.
const COMMIT: &str = "
WITH inserted AS (
    INSERT INTO executions (id, root_id, version, owner, lease_until, definition_id, flow, status,
                            start_ms, stop_ms, info, input, state)
    SELECT id, root_id, 1, $1, $2, definition_id, flow, status, start_ms, stop_ms, info, input, state
    FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[], $9::int8[],
                $10::text[], $11::text[], $12::text[])
        AS n(id, root_id, definition_id, flow, status, start_ms, stop_ms, info, input, state)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
), updated AS (
    UPDATE executions e
    SET status = u.status, stop_ms = u.stop_ms, state = u.state, version = e.version + 1,
        owner = $1, lease_until = $2,
        stop_request = CASE WHEN u.status = 'RUNNING' THEN e.stop_request END
    FROM unnest($13::text[], $14::int8[], $15::text[], $16::int8[], $17::text[])
        AS u(id, version, status, stop_ms, state)
    WHERE e.id = u.id AND e.version = u.version
    RETURNING e.id
), written AS (
    SELECT id FROM inserted UNION ALL SELECT id FROM updated
), new_history AS (
    INSERT INTO history (execution_id, event_id, timestamp_ms, kind, details)
    SELECT execution_id, event_id, timestamp_ms, kind, details
    FROM unnest($18::text[], $19::int8[], $20::int8[], $21::text[], $22::text[])
        AS h(execution_id, event_id, timestamp_ms, kind, details)
    WHERE execution_id IN (SELECT id FROM written)
    ON CONFLICT DO NOTHING
), new_values AS (
    INSERT INTO scope_values (execution_id, scope, kind, idx, value)
    SELECT execution_id, scope, kind, idx, value
    FROM unnest($37::text[], $38::text[], $39::text[], $40::int8[], $41::text[])
        AS v(execution_id, scope, kind, idx, value)
    WHERE execution_id IN (SELECT id FROM written)
    ON CONFLICT (execution_id, scope, kind, idx) DO UPDATE SET value = excluded.value
), runs AS (
    SELECT id, execution_id FROM unnest($23::text[], $24::text[]) AS r(id, execution_id)
    UNION ALL
    SELECT id, execution_id FROM unnest($30::text[], $31::text[]) AS r(id, execution_id)
), items AS (
    SELECT i.run_id, i.idx, i.record, COALESCE(r.execution_id, m.execution_id) AS parent
    FROM unnest($34::text[], $35::int8[], $36::text[]) AS i(run_id, idx, record)
    LEFT JOIN runs r ON r.id = i.run_id
    LEFT JOIN map_runs m ON m.id = i.run_id
), held_before AS (
    SELECT id FROM executions
    WHERE owner = $1
      AND id IN (SELECT execution_id FROM runs UNION SELECT parent FROM items)
      AND id <> ALL($3::text[]) AND id <> ALL($13::text[])
    FOR SHARE
), held AS (
    SELECT id FROM written UNION ALL SELECT id FROM held_before
), new_runs AS (
    INSERT INTO map_runs (id, execution_id, done, spec, path, token, progress)
    SELECT id, execution_id, done, spec, path, token, progress
    FROM unnest($23::text[], $24::text[], $25::bool[], $26::text[], $27::text[], $28::int8[],
                $29::text[]) WITH ORDINALITY AS r(id, execution_id, done, spec, path, token, progress, n)
    WHERE execution_id IN (SELECT id FROM held)
    ORDER BY n
    ON CONFLICT (id) DO UPDATE SET done = excluded.done, progress = excluded.progress
), updated_runs AS (
    UPDATE map_runs m SET done = r.done, progress = r.progress
    FROM unnest($30::text[], $31::text[], $32::bool[], $33::text[]) AS r(id, execution_id, done, progress)
    WHERE m.id = r.id AND r.execution_id IN (SELECT id FROM held)
), new_items AS (
    INSERT INTO map_items (run_id, idx, record)
    SELECT run_id, idx, record FROM items WHERE parent IN (SELECT id FROM held)
    ON CONFLICT (run_id, idx) DO UPDATE SET record = excluded.record
)
SELECT id FROM written";

/// A group commit laid out as the columns of [`COMMIT`], one array per column, encoded on the
/// caller's thread.
#[derive(Default)]
struct CommitColumns {
    /// The executions of the batch, in order, to tell which were lost.
    ids: Vec<String>,
    new: NewExecutions,
    updated: UpdatedExecutions,
    history: HistoryColumns,
    values: ValueColumns,
    new_runs: NewRuns,
    updated_runs: UpdatedRuns,
    items: ItemColumns,
}

#[derive(Default)]
struct NewExecutions {
    id: Vec<String>,
    root_id: Vec<String>,
    definition_id: Vec<String>,
    flow: Vec<String>,
    status: Vec<String>,
    start_ms: Vec<i64>,
    stop_ms: Vec<Option<i64>>,
    info: Vec<String>,
    input: Vec<String>,
    state: Vec<String>,
}

#[derive(Default)]
struct UpdatedExecutions {
    id: Vec<String>,
    version: Vec<i64>,
    status: Vec<String>,
    stop_ms: Vec<Option<i64>>,
    state: Vec<String>,
}

#[derive(Default)]
struct HistoryColumns {
    execution_id: Vec<String>,
    event_id: Vec<i64>,
    timestamp_ms: Vec<i64>,
    kind: Vec<String>,
    details: Vec<String>,
}

#[derive(Default)]
struct ValueColumns {
    execution_id: Vec<String>,
    scope: Vec<String>,
    kind: Vec<String>,
    idx: Vec<i64>,
    value: Vec<String>,
}

#[derive(Default)]
struct NewRuns {
    id: Vec<String>,
    execution_id: Vec<String>,
    done: Vec<bool>,
    spec: Vec<String>,
    path: Vec<String>,
    token: Vec<i64>,
    progress: Vec<String>,
}

#[derive(Default)]
struct UpdatedRuns {
    id: Vec<String>,
    execution_id: Vec<String>,
    done: Vec<bool>,
    progress: Vec<String>,
}

#[derive(Default)]
struct ItemColumns {
    run_id: Vec<String>,
    idx: Vec<i64>,
    record: Vec<String>,
}

impl CommitColumns {
    /// Lays out a batch. A map run named more than once is written once, as last given (inserted
    /// if any mention inserts it); an item given more than once is written as last given.
    fn of(batch: &Batch<'_>) -> Result<CommitColumns, StoreError> {
        let mut c = CommitColumns::default();
        for w in &batch.executions {
            let e = w.execution;
            c.ids.push(e.id.clone());
            let state = to_json(w.state)?;
            let status = e.state.status.as_str().to_string();
            if w.new {
                let n = &mut c.new;
                n.id.push(e.id.clone());
                n.root_id.push(e.root_id.clone());
                n.definition_id.push(e.definition_id.clone());
                n.flow.push(e.info.state_machine_name.clone());
                n.status.push(status);
                n.start_ms.push(e.info.start_ms);
                n.stop_ms.push(e.stop_ms);
                n.info.push(to_json(&e.info)?);
                n.input.push(to_json(&e.input)?);
                n.state.push(state);
            } else {
                let u = &mut c.updated;
                u.id.push(e.id.clone());
                u.version.push(signed(e.version));
                u.status.push(status);
                u.stop_ms.push(e.stop_ms);
                u.state.push(state);
            }
            for h in w.history {
                let hc = &mut c.history;
                hc.execution_id.push(e.id.clone());
                hc.event_id.push(signed(h.id));
                hc.timestamp_ms.push(h.timestamp_ms);
                hc.kind.push(h.kind.clone());
                hc.details.push(to_json(&h.details)?);
            }
            for v in w.values {
                let vc = &mut c.values;
                vc.execution_id.push(e.id.clone());
                vc.scope.push(v.scope.clone());
                vc.kind.push(v.kind.as_str().to_string());
                vc.idx.push(i64::from(v.idx));
                vc.value.push(to_json(&v.value)?);
            }
        }
        let mut runs: Vec<(&MapRunRecord, bool)> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        for w in &batch.map_runs {
            match at.get(w.record.spec.id.as_str()) {
                Some(&i) => runs[i] = (w.record, runs[i].1 || w.new),
                None => {
                    at.insert(&w.record.spec.id, runs.len());
                    runs.push((w.record, w.new));
                }
            }
        }
        for (r, new) in runs {
            if new {
                let n = &mut c.new_runs;
                n.id.push(r.spec.id.clone());
                n.execution_id.push(r.execution.clone());
                n.done.push(r.done);
                n.spec.push(to_json(&r.spec)?);
                n.path.push(to_json(&r.path)?);
                n.token.push(signed(r.token));
                n.progress.push(to_json(&r.progress)?);
            } else {
                let u = &mut c.updated_runs;
                u.id.push(r.spec.id.clone());
                u.execution_id.push(r.execution.clone());
                u.done.push(r.done);
                u.progress.push(to_json(&r.progress)?);
            }
        }
        let items: BTreeMap<(&str, u64), &ItemRecord> = batch
            .items
            .iter()
            .map(|i| ((i.run.as_str(), i.index), i))
            .collect();
        for ((run, index), item) in items {
            c.items.run_id.push(run.to_string());
            c.items.idx.push(signed(index));
            c.items.record.push(to_json(item)?);
        }
        Ok(c)
    }

    /// Whether there is nothing to write.
    fn is_empty(&self) -> bool {
        self.ids.is_empty()
            && self.new_runs.id.is_empty()
            && self.updated_runs.id.is_empty()
            && self.items.run_id.is_empty()
    }

    /// The parameters of [`COMMIT`] under `lease`.
    fn params(self, lease: Lease<'_>) -> Params {
        let CommitColumns {
            ids: _,
            new: n,
            updated: u,
            history: h,
            values: v,
            new_runs: nr,
            updated_runs: ur,
            items: i,
        } = self;
        Params::default()
            .with(lease.owner.to_string())
            .with(lease.until_ms)
            .with(n.id)
            .with(n.root_id)
            .with(n.definition_id)
            .with(n.flow)
            .with(n.status)
            .with(n.start_ms)
            .with(n.stop_ms)
            .with(n.info)
            .with(n.input)
            .with(n.state)
            .with(u.id)
            .with(u.version)
            .with(u.status)
            .with(u.stop_ms)
            .with(u.state)
            .with(h.execution_id)
            .with(h.event_id)
            .with(h.timestamp_ms)
            .with(h.kind)
            .with(h.details)
            .with(nr.id)
            .with(nr.execution_id)
            .with(nr.done)
            .with(nr.spec)
            .with(nr.path)
            .with(nr.token)
            .with(nr.progress)
            .with(ur.id)
            .with(ur.execution_id)
            .with(ur.done)
            .with(ur.progress)
            .with(i.run_id)
            .with(i.idx)
            .with(i.record)
            .with(v.execution_id)
            .with(v.scope)
            .with(v.kind)
            .with(v.idx)
            .with(v.value)
    }
}

impl PostgresStore {
    /// An execution read from its row, its state completed with its values.
    fn load(&self, row: codec::ExecutionRow) -> Result<StoredExecution, StoreError> {
        let values = self.scope_values(row.id())?;
        row.load(values)
    }
}

impl Store for PostgresStore {
    fn put_definition(
        &self,
        name: &str,
        file: &str,
        source: &str,
        project: Option<&str>,
    ) -> Result<String, StoreError> {
        let id = definition_id(name, source, project);
        self.execute(
            "INSERT INTO definitions (id, name, file, source, project) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO NOTHING",
            Params::default()
                .with(id.clone())
                .with(name.to_string())
                .with(file.to_string())
                .with(source.to_string())
                .with(project.map(str::to_string)),
        )?;
        Ok(id)
    }

    fn definition(&self, id: &str) -> Result<Option<StoredDefinition>, StoreError> {
        let rows = self.rows(
            format!("SELECT {DEFINITION_COLUMNS} FROM definitions WHERE id = $1"),
            Params::default().with(id.to_string()),
            codec::definition,
        )?;
        Ok(rows.into_iter().next())
    }

    fn definitions_of(&self, project: Option<&str>) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT id FROM definitions WHERE project IS NOT DISTINCT FROM $1 ORDER BY id".into(),
            Params::default().with(project.map(str::to_string)),
            |r| r.text(0),
        )
    }

    fn commit(&self, lease: Lease<'_>, batch: &Batch<'_>) -> Result<CommitReport, StoreError> {
        let mut columns = CommitColumns::of(batch)?;
        if columns.is_empty() {
            return Ok(CommitReport::default());
        }
        let ids = std::mem::take(&mut columns.ids);
        let written: HashSet<String> = self
            .rows(COMMIT.into(), columns.params(lease), |r| r.text(0))?
            .into_iter()
            .collect();
        Ok(CommitReport {
            lost: ids.into_iter().filter(|id| !written.contains(id)).collect(),
        })
    }

    fn claim(&self, request: ClaimRequest<'_>) -> Result<Claimed, StoreError> {
        let params = Params::default()
            .with(request.lease.owner.to_string())
            .with(request.lease.until_ms)
            .with(request.now_ms)
            .with(request.definitions.to_vec())
            .with(signed(request.limit))
            .with(request.root.map(str::to_string));
        let (executions, runs) = self.worker.call(move |c| {
            Box::pin(async move {
                let take = c.prepare(&claim_sql()).await?;
                let open_runs = c.prepare(&open_runs_sql()).await?;
                let tx = c.client().transaction().await.map_err(classify)?;
                let executions = tx.query(&take, &params.refs()).await.map_err(classify)?;
                let ids = executions
                    .iter()
                    .map(|r| r.text(0))
                    .collect::<Result<Vec<_>, _>>()?;
                let runs = if ids.is_empty() {
                    Vec::new()
                } else {
                    tx.query(&open_runs, &[&ids]).await.map_err(classify)?
                };
                tx.commit().await.map_err(classify)?;
                Ok((executions, runs))
            })
        })?;
        Ok(Claimed {
            executions: executions
                .iter()
                .map(|r| self.load(codec::execution(r)?))
                .collect::<Result<_, _>>()?,
            map_runs: runs
                .iter()
                .map(|r| codec::map_run(r))
                .collect::<Result<_, _>>()?,
        })
    }

    fn renew(&self, owner: &str, until_ms: i64) -> Result<u64, StoreError> {
        self.execute(
            "UPDATE executions SET lease_until = $2 WHERE owner = $1 AND status = 'RUNNING'",
            Params::default().with(owner.to_string()).with(until_ms),
        )
    }

    fn release(&self, owner: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE executions SET owner = NULL, lease_until = NULL, version = version + 1
             WHERE owner = $1 AND status = 'RUNNING'",
            Params::default().with(owner.to_string()),
        )?;
        Ok(())
    }

    fn request_stop(&self, id: &str, request: &StopRequest) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE executions SET stop_request = $2
             WHERE id = $1 AND id = root_id AND status = 'RUNNING'",
            Params::default()
                .with(id.to_string())
                .with(to_json(request)?),
        )?;
        Ok(n == 1)
    }

    fn stop_requests(&self, owner: &str) -> Result<Vec<(String, StopRequest)>, StoreError> {
        self.rows(
            format!(
                "SELECT {STOP_REQUEST_COLUMNS} FROM executions
                 WHERE owner = $1 AND status = 'RUNNING' AND stop_request IS NOT NULL"
            ),
            Params::default().with(owner.to_string()),
            codec::stop_request,
        )
    }

    fn put_signal(&self, execution: &str, signal: &StoredSignal) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO task_signals (execution_id, signal) VALUES ($1, $2)",
            Params::default()
                .with(execution.to_string())
                .with(to_json(signal)?),
        )?;
        Ok(())
    }

    fn signals(&self, owner: &str) -> Result<Vec<(u64, String, StoredSignal)>, StoreError> {
        self.rows(
            format!(
                "SELECT {SIGNAL_COLUMNS} FROM task_signals s JOIN executions e ON e.id = s.execution_id
                 WHERE e.owner = $1 AND e.status = 'RUNNING' ORDER BY s.seq"
            ),
            Params::default().with(owner.to_string()),
            codec::signal,
        )
    }

    fn drop_signals(&self, seqs: &[u64]) -> Result<(), StoreError> {
        let seqs: Vec<i64> = seqs.iter().map(|&s| s as i64).collect();
        self.execute(
            "DELETE FROM task_signals WHERE seq = ANY($1)",
            Params::default().with(seqs),
        )?;
        Ok(())
    }

    fn queue_send(
        &self,
        queue: &str,
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let addressed = messages.iter().map(|m| (queue, m));
        self.send_messages(addressed, now_ms)
    }

    fn queue_send_many(
        &self,
        messages: &[(String, NewMessage)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let addressed = messages.iter().map(|(q, m)| (q.as_str(), m));
        self.send_messages(addressed, now_ms)
    }

    fn queue_receive(
        &self,
        queue: &str,
        max: usize,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Vec<QueueMessage>, StoreError> {
        self.receive_messages(queue, max, now_ms, lease_until_ms)
    }

    fn queue_settle(
        &self,
        queue: &str,
        settlements: &[Settlement],
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        self.settle_messages(queue, settlements, now_ms)
    }

    fn queue_peek(
        &self,
        queue: &str,
        limit: usize,
        failed: bool,
    ) -> Result<Vec<QueueMessage>, StoreError> {
        self.peek_messages(queue, limit, failed)
    }

    fn queue_stats(&self, queue: &str, now_ms: i64) -> Result<QueueStats, StoreError> {
        self.message_stats(queue, now_ms)
    }

    fn queue_purge(&self, queue: &str) -> Result<u64, StoreError> {
        self.purge_messages(queue)
    }

    fn queue_redrive(&self, from: &str, to: &str, now_ms: i64) -> Result<u64, StoreError> {
        self.redrive_messages(from, to, now_ms)
    }

    fn trigger_next(&self, trigger: &str) -> Result<Option<i64>, StoreError> {
        let rows = self.rows(
            "SELECT next_ms FROM trigger_state WHERE name = $1".to_string(),
            Params::default().with(trigger.to_string()),
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
        let params = Params::default().with(trigger.to_string()).with(to);
        let n = match from {
            None => self.execute(
                "INSERT INTO trigger_state (name, next_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                params,
            )?,
            Some(from) => self.execute(
                "UPDATE trigger_state SET next_ms = $2 WHERE name = $1 AND next_ms = $3",
                params.with(from),
            )?,
        };
        Ok(n == 1)
    }

    fn object_known(&self, watch: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.known_object(watch, key)
    }

    fn object_known_page(
        &self,
        watch: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.known_objects(watch, after, limit)
    }

    fn object_record(&self, watch: &str, changes: &[ObjectChange]) -> Result<u64, StoreError> {
        self.record_objects(watch, changes)
    }

    fn object_events(
        &self,
        watch: &str,
        limit: usize,
    ) -> Result<Vec<PendingObjectEvent>, StoreError> {
        self.pending_object_events(watch, limit)
    }

    fn object_events_done(&self, watch: &str, seqs: &[i64]) -> Result<(), StoreError> {
        self.object_events_delivered(watch, seqs)
    }

    fn object_class(&self, path: &str) -> Result<Option<ObjectClassRecord>, StoreError> {
        self.class_of(path)
    }

    fn object_class_put(
        &self,
        path: &str,
        record: Option<&ObjectClassRecord>,
    ) -> Result<(), StoreError> {
        self.put_class(path, record)
    }

    fn object_class_swap(
        &self,
        path: &str,
        before: &ObjectClassRecord,
        after: &ObjectClassRecord,
    ) -> Result<bool, StoreError> {
        self.swap_class(path, before, after)
    }

    fn cdc_checkpoint(&self, source: &str) -> Result<Option<CdcCheckpoint>, StoreError> {
        let rows = self.rows(
            format!(
                "SELECT {} FROM cdc_checkpoints WHERE source = $1",
                codec::CDC_COLUMNS
            ),
            Params::default().with(source.to_string()),
            codec::cdc_checkpoint,
        )?;
        Ok(rows.into_iter().next())
    }

    fn cdc_checkpoints(&self) -> Result<Vec<CdcCheckpoint>, StoreError> {
        self.rows(
            format!(
                "SELECT {} FROM cdc_checkpoints ORDER BY source",
                codec::CDC_COLUMNS
            ),
            Params::default(),
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
        let n = self.execute(
            "INSERT INTO cdc_checkpoints
                 (source, phase, position, progress, owner, lease_until_ms, updated_ms)
             VALUES ($1, 'new', 0, 'null', $2, $4, $3)
             ON CONFLICT (source) DO UPDATE SET owner = $2, lease_until_ms = $4
             WHERE cdc_checkpoints.owner IS NULL OR cdc_checkpoints.owner = $2
                OR cdc_checkpoints.lease_until_ms IS NULL
                OR cdc_checkpoints.lease_until_ms < $3",
            Params::default()
                .with(source.to_string())
                .with(owner.to_string())
                .with(now_ms)
                .with(until_ms),
        )?;
        Ok(n == 1)
    }

    fn cdc_save(&self, owner: &str, c: &CdcCheckpoint) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE cdc_checkpoints SET phase = $3, position = $4, progress = $5, error = $6,
                 lease_until_ms = $7, updated_ms = $8
             WHERE source = $1 AND owner = $2",
            Params::default()
                .with(c.source.clone())
                .with(owner.to_string())
                .with(c.phase.clone())
                .with(c.position as i64)
                .with(codec::to_json(&c.progress)?)
                .with(c.error.clone())
                .with(c.lease_until_ms)
                .with(c.updated_ms),
        )?;
        Ok(n == 1)
    }

    fn cdc_release(&self, source: &str, owner: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE cdc_checkpoints SET owner = NULL, lease_until_ms = NULL
             WHERE source = $1 AND owner = $2",
            Params::default()
                .with(source.to_string())
                .with(owner.to_string()),
        )?;
        Ok(())
    }

    fn cdc_reset(&self, source: &str) -> Result<bool, StoreError> {
        let n = self.execute(
            "DELETE FROM cdc_checkpoints WHERE source = $1",
            Params::default().with(source.to_string()),
        )?;
        Ok(n == 1)
    }

    fn running_roots(&self) -> Result<Vec<ExecutionSummary>, StoreError> {
        self.rows(
            format!(
                "SELECT {SUMMARY_COLUMNS} FROM executions
                 WHERE status = 'RUNNING' AND id = root_id ORDER BY start_ms, id"
            ),
            Params::default(),
            codec::summary,
        )
    }

    fn execution(&self, id: &str) -> Result<Option<StoredExecution>, StoreError> {
        let rows = self.rows(
            format!("SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = $1"),
            Params::default().with(id.to_string()),
            codec::execution,
        )?;
        rows.into_iter().next().map(|r| self.load(r)).transpose()
    }

    fn scope_values(&self, execution: &str) -> Result<Vec<ScopeValue>, StoreError> {
        self.rows(
            format!(
                "SELECT {SCOPE_VALUE_COLUMNS} FROM scope_values WHERE execution_id = $1
                 ORDER BY scope, kind, idx"
            ),
            Params::default().with(execution.to_string()),
            codec::scope_value,
        )
    }

    fn list(&self, limit: usize, with_children: bool) -> Result<Vec<ExecutionSummary>, StoreError> {
        self.rows(
            format!(
                "SELECT {SUMMARY_COLUMNS} FROM executions
                 WHERE $2 OR id = root_id
                 ORDER BY start_ms DESC, id LIMIT $1"
            ),
            Params::default().with(signed(limit)).with(with_children),
            codec::summary,
        )
    }

    fn history(&self, id: &str, after: u64, limit: usize) -> Result<Vec<HistoryEvent>, StoreError> {
        self.rows(
            format!(
                "SELECT {HISTORY_COLUMNS} FROM history
                 WHERE execution_id = $1 AND event_id > $2 ORDER BY event_id LIMIT $3"
            ),
            Params::default()
                .with(id.to_string())
                .with(signed(after))
                .with(signed(limit)),
            codec::history_event,
        )
    }

    fn map_runs_of(&self, execution: &str) -> Result<Vec<MapRunRecord>, StoreError> {
        self.rows(
            format!("SELECT {MAP_RUN_COLUMNS} FROM map_runs WHERE execution_id = $1 ORDER BY seq"),
            Params::default().with(execution.to_string()),
            codec::map_run,
        )
    }

    fn map_items(&self, run: &str, from: u64, limit: usize) -> Result<Vec<ItemRecord>, StoreError> {
        self.rows(
            "SELECT record FROM map_items WHERE run_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3"
                .into(),
            Params::default()
                .with(run.to_string())
                .with(signed(from))
                .with(signed(limit)),
            |r| from_json(&r.text(0)?),
        )
    }
}
