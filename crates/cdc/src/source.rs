//! A CDC source as `sluice serve` runs it: one task per source that takes the source's lease in
//! the store (so one node of many streams it), takes the snapshot when none was finished, then
//! streams; on errors it retries from the stored position with growing pauses.

use crate::format::Format;
use crate::loader::Loaders;
use crate::pg::catalog::{self, SlotState};
use crate::pg::connect::Database;
use crate::pg::decoder::Decoder;
use crate::pg::snapshot::{self, SnapshotPlan};
use crate::pg::stream::{self, TICK, until};
use crate::pg::{object_name, parse_lsn, quote_ident};
use crate::sink::{FlowSink, FunctionSink, LoaderSink, QueueSink, Sink, Sinker, now_ms};
use crate::status::{Phase, Status};
use pgwire_replication::ReplicationClient;
use serde_json::{Value, json};
use sluice_engine::store::{CdcCheckpoint, Store};
use sluice_queues::triggers::Target;
use sluice_queues::{Queues, Targets};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Most snapshot rows a copying task hands over at once.
pub(crate) const SEND_ROWS: usize = 256;
/// How long a source's lease lasts unless extended.
const LEASE: Duration = Duration::from_secs(30);
/// The longest pause between attempts after errors.
const MAX_PAUSE: Duration = Duration::from_secs(30);

/// Why a `mysql://` source cannot run in a build without the `mysql` feature.
#[cfg(not(feature = "mysql"))]
const NO_MYSQL: &str = "this sluice was built without MySQL/MariaDB support (cargo feature mysql)";

/// A CDC trigger of the project.
#[derive(Clone, Debug, PartialEq)]
pub struct CdcConfig {
    /// The trigger's name (the source's name; its slot and publication are named after it).
    pub name: String,
    /// The source database, `postgres://…` or `mysql://…`.
    pub url: String,
    /// Captured tables, `schema.table` (MySQL: `db.table`, or `table` in the URL's database).
    pub tables: Vec<String>,
    /// Tables left out of the stream (`schema.table`).
    pub exclude_tables: Vec<String>,
    /// The message format.
    pub format: Format,
    /// Changes per batch.
    pub batch_size: usize,
    /// How long a partial batch waits.
    pub batch_timeout: Duration,
    /// Connections a PostgreSQL snapshot copies with at once (see [`crate::pg::chunks`]).
    pub snapshot_parallel: usize,
    /// PostgreSQL tables estimated below this many rows are copied whole, as one chunk.
    pub snapshot_chunk_rows: u64,
    /// Where batches go.
    pub target: Target,
}

impl CdcConfig {
    /// The default of `snapshot_parallel`: half the machine's cores, between 1 and 4 (the
    /// node parses and formats what the connections read, and the database often shares the
    /// machine).
    pub fn default_snapshot_parallel() -> usize {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        (cores / 2).clamp(1, 4)
    }
    /// The most connections `snapshot_parallel` may ask for.
    pub const MAX_SNAPSHOT_PARALLEL: usize = 64;
    /// The default of `snapshot_chunk_rows`.
    pub const SNAPSHOT_CHUNK_ROWS: u64 = 100_000;

    /// Checks the settings; an error names the setting at fault.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.url.starts_with("mysql://") {
            #[cfg(feature = "mysql")]
            crate::mysql::connect::Database::parse(&self.url).map_err(|e| ("cdc", e))?;
            #[cfg(not(feature = "mysql"))]
            return Err(("cdc", NO_MYSQL.into()));
        } else {
            Database::parse(&self.url).map_err(|e| ("cdc", e))?;
        }
        if self.tables.is_empty() {
            return Err(("tables", "list at least one table (schema.table)".into()));
        }
        for t in self.tables.iter().chain(&self.exclude_tables) {
            let parts: Vec<&str> = t.split('.').collect();
            if parts.len() > 2 || parts.iter().any(|p| p.is_empty()) {
                return Err((
                    "tables",
                    format!("'{t}' is not a table name (schema.table)"),
                ));
            }
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return Err((
                "batch_size",
                format!("batch_size {} is not between 1 and 10000", self.batch_size),
            ));
        }
        if !(1..=Self::MAX_SNAPSHOT_PARALLEL).contains(&self.snapshot_parallel) {
            return Err((
                "snapshot_parallel",
                format!(
                    "snapshot_parallel {} is not between 1 and {}",
                    self.snapshot_parallel,
                    Self::MAX_SNAPSHOT_PARALLEL
                ),
            ));
        }
        Ok(())
    }
}

/// Stores a source's position under its lease.
pub struct Checkpointer {
    store: Arc<dyn Store>,
    source: String,
    owner: String,
    status: Arc<Status>,
}

impl Checkpointer {
    /// The status of the source it stores.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Stores `phase` and `position` with the snapshot progress, extending the lease; an error
    /// when the lease is lost (another node took the source, or it was reset).
    pub async fn save(&self, phase: &str, position: u64) -> Result<(), String> {
        let progress: serde_json::Map<String, Value> = self
            .status
            .tables()
            .into_iter()
            .map(|(t, p)| (t, json!({"rows": p.rows, "total": p.total})))
            .collect();
        let now = now_ms();
        let mut details = json!({ "tables": progress });
        if let Some(binlog) = self.status.binlog_checkpoint(position) {
            details["binlog"] = binlog;
        }
        let checkpoint = CdcCheckpoint {
            source: self.source.clone(),
            phase: phase.to_string(),
            position,
            progress: details,
            error: self.status.error(),
            owner: None,
            lease_until_ms: Some(now + LEASE.as_millis() as i64),
            updated_ms: now,
        };
        let (store, owner) = (self.store.clone(), self.owner.clone());
        let kept = tokio::task::spawn_blocking(move || store.cdc_save(&owner, &checkpoint))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("storing the position: {e}"))?;
        if !kept {
            return Err(format!(
                "source {}: the lease was lost (another node took it, or it was reset)",
                self.source
            ));
        }
        self.status.checkpointed(position);
        Ok(())
    }
}

/// The running sources of a node.
pub struct Sources {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    statuses: Vec<Arc<Status>>,
}

impl Sources {
    /// Starts a task for each of `configs`, delivering through `targets` and `queues` (to a
    /// loader function of `loaders` straight from the changes); `owner` names this process in
    /// the sources' leases.
    pub fn start(
        configs: &[CdcConfig],
        store: Arc<dyn Store>,
        targets: &Targets,
        loaders: Option<&Loaders>,
        queues: &Queues,
        owner: &str,
        runtime: &tokio::runtime::Handle,
    ) -> Sources {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut statuses = Vec::new();
        for config in configs {
            let loader = match &config.target {
                Target::Function(f) => loaders.and_then(|l| l.get(f)),
                _ => None,
            };
            let (sink, target): (Arc<dyn Sink>, String) = match (&config.target, loader) {
                (Target::Function(f), Some(loader)) => {
                    (Arc::new(LoaderSink { loader }), format!("function:{f}"))
                }
                (Target::Function(f), None) => (
                    Arc::new(FunctionSink {
                        functions: targets.functions.clone(),
                        function: f.clone(),
                    }),
                    format!("function:{f}"),
                ),
                (Target::Queue(q), _) => (
                    Arc::new(QueueSink {
                        queues: queues.clone(),
                        queue: q.clone(),
                    }),
                    format!("queue:{q}"),
                ),
                (Target::Flow(f), _) => (
                    Arc::new(FlowSink {
                        flows: targets.flows.clone(),
                        flow: f.clone(),
                    }),
                    format!("flow:{f}"),
                ),
            };
            let status = Arc::new(Status::new(&config.name, &target));
            statuses.push(status.clone());
            let source = Source {
                config: config.clone(),
                store: store.clone(),
                sink,
                owner: owner.to_string(),
                status,
            };
            tasks.push(runtime.spawn(source.run(stopped.clone())));
        }
        Sources {
            stop,
            tasks,
            statuses,
        }
    }

    /// Every source's status.
    pub fn statuses(&self) -> &[Arc<Status>] {
        &self.statuses
    }

    /// Stops every source (each stores nothing more and gives up its lease).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// One source.
pub struct Source {
    /// Its settings.
    pub config: CdcConfig,
    /// Where its position is kept.
    pub store: Arc<dyn Store>,
    /// Where its batches go.
    pub sink: Arc<dyn Sink>,
    /// This process, in the lease.
    pub owner: String,
    /// Its live status.
    pub status: Arc<Status>,
}

/// An error that needs an operator: retrying does not help until the source is reset.
pub(crate) struct Fatal(pub(crate) String);

/// Why a session ended.
pub(crate) enum Failure {
    /// Worth another session from the stored position.
    Retry(String),
    /// Needs an operator.
    Fatal(Fatal),
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Retry(e)
    }
}

impl Source {
    /// Runs until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let name = self.config.name.clone();
        let mut pause = Duration::from_millis(500);
        while !*stop.borrow() {
            match self.lease().await {
                Ok(true) => {}
                Ok(false) => {
                    self.status.set_phase(Phase::Standby);
                    sleep_or_stop(LEASE / 3, &mut stop).await;
                    continue;
                }
                Err(e) => {
                    self.status.failed(&e);
                    sleep_or_stop(pause, &mut stop).await;
                    continue;
                }
            }
            match self.run_once(&mut stop).await {
                Ok(()) => break,
                Err(Failure::Retry(e)) => {
                    tracing::warn!(source = %name, error = %e, "the CDC source stopped; it resumes from its stored position");
                    self.status.failed(&e);
                    self.save_error().await;
                    sleep_or_stop(pause, &mut stop).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                Err(Failure::Fatal(Fatal(e))) => {
                    tracing::error!(source = %name, error = %e, "the CDC source cannot go on");
                    self.status.failed(&e);
                    self.status.set_phase(Phase::Failed);
                    self.save_error().await;
                    sleep_or_stop(MAX_PAUSE, &mut stop).await;
                }
            }
        }
        let (store, owner) = (self.store.clone(), self.owner.clone());
        let _ = tokio::task::spawn_blocking(move || store.cdc_release(&name, &owner)).await;
    }

    /// Takes or extends the lease.
    async fn lease(&self) -> Result<bool, String> {
        let (store, name, owner) = (
            self.store.clone(),
            self.config.name.clone(),
            self.owner.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let now = now_ms();
            store.cdc_lease(&name, &owner, now, now + LEASE.as_millis() as i64)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| {
            format!(
                "taking the lease of source {name}: {e}",
                name = self.config.name
            )
        })
    }

    /// The stored checkpoint.
    pub(crate) async fn checkpoint(&self) -> Result<Option<CdcCheckpoint>, String> {
        let (store, name) = (self.store.clone(), self.config.name.clone());
        tokio::task::spawn_blocking(move || store.cdc_checkpoint(&name))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("reading the position: {e}"))
    }

    /// Keeps the status's error in the store (best effort: the lease may be gone).
    async fn save_error(&self) {
        if let Ok(Some(mut c)) = self.checkpoint().await {
            c.error = self.status.error();
            c.updated_ms = now_ms();
            let (store, owner) = (self.store.clone(), self.owner.clone());
            let _ = tokio::task::spawn_blocking(move || store.cdc_save(&owner, &c)).await;
        }
    }

    pub(crate) fn checkpointer(&self) -> Checkpointer {
        Checkpointer {
            store: self.store.clone(),
            source: self.config.name.clone(),
            owner: self.owner.clone(),
            status: self.status.clone(),
        }
    }

    pub(crate) fn sinker(&self) -> Sinker {
        Sinker::new(
            &self.config.name,
            self.config.format,
            self.sink.clone(),
            self.config.batch_size,
            self.config.batch_timeout,
            self.status.clone(),
        )
    }

    fn decoder(&self, db: &Database) -> Decoder {
        let excluded = self
            .config
            .exclude_tables
            .iter()
            .map(|t| {
                let (s, n) = catalog::split_name(t);
                format!("{s}.{n}")
            })
            .collect();
        Decoder::new(&db.dbname, excluded)
    }

    /// One session: the snapshot if none was finished, then the stream.
    async fn run_once(&self, stop: &mut watch::Receiver<bool>) -> Result<(), Failure> {
        if self.config.url.starts_with("mysql://") {
            #[cfg(feature = "mysql")]
            return crate::mysql::run::run_once(self, stop).await;
            #[cfg(not(feature = "mysql"))]
            return Err(Failure::Fatal(Fatal(NO_MYSQL.into())));
        }
        self.run_postgres(stop).await
    }

    /// One session of a PostgreSQL source.
    async fn run_postgres(&self, stop: &mut watch::Receiver<bool>) -> Result<(), Failure> {
        let db = Database::parse(&self.config.url)?;
        let sql = db.connect().await?;
        let slot = object_name(&self.config.name);
        let tables: Vec<String> = self
            .config
            .tables
            .iter()
            .filter(|t| !self.config.exclude_tables.contains(t))
            .cloned()
            .collect();
        for t in &tables {
            if let Some(problem) = catalog::capture_problem(&sql, t).await? {
                return Err(Failure::Fatal(Fatal(problem)));
            }
        }
        catalog::ensure_publication(&sql, &slot, &tables).await?;
        let stored = self.checkpoint().await?;
        let checkpointer = self.checkpointer();
        let mut sinker = self.sinker();
        let mut decoder = self.decoder(&db);
        let (mut client, position) = match stored {
            Some(c) if c.phase == "streaming" => {
                match catalog::slot_state(&sql, &slot).await? {
                    SlotState::Missing => {
                        return Err(Failure::Fatal(Fatal(format!(
                            "the replication slot {slot} is gone (dropped, or lost in a failover): changes after LSN {} may be missing; take a new snapshot with `sluice cdc resnapshot {}`",
                            crate::pg::lsn_text(c.position),
                            self.config.name
                        ))));
                    }
                    SlotState::Present { lost: true, .. } => {
                        return Err(Failure::Fatal(Fatal(format!(
                            "the replication slot {slot} was invalidated (its WAL was removed, see max_slot_wal_keep_size): changes after LSN {} are lost; take a new snapshot with `sluice cdc resnapshot {}`",
                            crate::pg::lsn_text(c.position),
                            self.config.name
                        ))));
                    }
                    SlotState::Present { .. } => {}
                }
                self.status.set_phase(Phase::Streaming);
                self.status.checkpointed(c.position);
                let client = ReplicationClient::connect(db.replication(&slot, &slot, c.position))
                    .await
                    .map_err(|e| format!("starting replication from slot {slot}: {e}"))?;
                (client, c.position)
            }
            stored => {
                // A snapshot cut short leaves its slot, which has kept every change since the
                // first attempt began: the stream goes on from there after the new snapshot.
                let resume = match stored {
                    Some(c) if c.phase == "snapshot" => {
                        match catalog::slot_state(&sql, &slot).await? {
                            SlotState::Present { lost: false, .. } => Some(c.position),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let Some(session) = self
                    .snapshot(
                        &db,
                        &sql,
                        &slot,
                        &tables,
                        resume,
                        &checkpointer,
                        &mut sinker,
                        stop,
                    )
                    .await?
                else {
                    return Ok(());
                };
                session
            }
        };
        let outcome = stream::stream(
            &mut client,
            &sql,
            &mut decoder,
            &mut sinker,
            &checkpointer,
            position,
            stop,
        )
        .await;
        // Ends the session before returning, so that the slot is free for the next owner.
        let _ = client.shutdown().await;
        outcome?;
        Ok(())
    }

    /// Creates the slot with an exported snapshot, copies the tables in it, and starts the
    /// stream at the slot's consistent point; `None` when told to stop meanwhile.
    ///
    /// With `resume`, the position a snapshot cut short began at, the slot of that attempt is
    /// kept: the tables are copied in the snapshot of a temporary slot, and the stream starts
    /// at `resume`, so that the changes made since the first attempt (a row it delivered and
    /// that was deleted since, above all) still arrive. Replaying changes the new snapshot
    /// already holds is harmless: each brings its row to a state it had, and the last one to
    /// its present state.
    #[allow(clippy::too_many_arguments)]
    async fn snapshot(
        &self,
        db: &Database,
        sql: &tokio_postgres::Client,
        slot: &str,
        tables: &[String],
        resume: Option<u64>,
        checkpointer: &Checkpointer,
        sinker: &mut Sinker,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Option<(ReplicationClient, u64)>, Failure> {
        if resume.is_none() {
            catalog::drop_slot(sql, slot).await?;
        }
        let mut shapes = Vec::with_capacity(tables.len());
        for t in tables {
            shapes.push(catalog::shape(sql, &db.dbname, t).await?);
        }
        let mut client = ReplicationClient::connect_gated(db.replication(slot, slot, 0))
            .await
            .map_err(|e| format!("opening a replication session: {e}"))?;
        let exporter = match resume {
            None => slot.to_string(),
            // Within the 63 characters of a slot name.
            Some(_) => format!("{}_snapshot", &slot[..slot.len().min(54)]),
        };
        let rows = client
            .simple_query(&format!(
                "CREATE_REPLICATION_SLOT {} {}LOGICAL pgoutput (SNAPSHOT 'export')",
                quote_ident(&exporter),
                if resume.is_some() { "TEMPORARY " } else { "" }
            ))
            .await
            .map_err(|e| format!("creating replication slot {exporter}: {e}"))?;
        let field = |i: usize| -> Result<String, String> {
            rows.first()
                .and_then(|r| r.get(i).cloned().flatten())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .ok_or_else(|| format!("CREATE_REPLICATION_SLOT returned no column {i}"))
        };
        let taken_at = parse_lsn(&field(1)?)?;
        let position = resume.unwrap_or(taken_at);
        let snapshot_name = field(2)?;
        let estimates = snapshot::estimates(sql, &shapes).await?;
        self.status.snapshot_started(&estimates);
        checkpointer.save("snapshot", position).await?;
        tracing::info!(source = %self.config.name, slot, lsn = %crate::pg::lsn_text(taken_at), stream_from = %crate::pg::lsn_text(position), "snapshot started");
        let plan = SnapshotPlan {
            snapshot: snapshot_name,
            position: taken_at,
            taken_ms: now_ms(),
            tables: shapes,
            parallel: self.config.snapshot_parallel,
            chunk_rows: self.config.snapshot_chunk_rows,
        };
        let (mut rows, mut tasks) = snapshot::start(db, plan, self.config.batch_size * 2);
        if !deliver_snapshot(&mut rows, sinker, checkpointer, position, stop).await? {
            return Ok(None);
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| e.to_string())??;
        }
        if sinker.drain(position, stop).await.is_err() {
            return Ok(None);
        }
        checkpointer.save("streaming", position).await?;
        self.status.set_phase(Phase::Streaming);
        tracing::info!(source = %self.config.name, rows = self.status.events(), "snapshot done; streaming");
        if resume.is_some() {
            // Dropping the session that never started ends it, and with it the temporary
            // slot; the stream reads the kept one.
            drop(client);
            let client = ReplicationClient::connect(db.replication(slot, slot, position))
                .await
                .map_err(|e| format!("starting replication from slot {slot}: {e}"))?;
            return Ok(Some((client, position)));
        }
        client
            .start()
            .await
            .map_err(|e| format!("starting replication from slot {slot}: {e}"))?;
        client
            .wait_started()
            .await
            .map_err(|e| format!("starting replication from slot {slot}: {e}"))?;
        Ok(Some((client, position)))
    }
}

/// Hands the snapshot's rows from `rows` to `sinker` until the channel closes, storing the
/// `position` the snapshot started at (and extending the lease) meanwhile; false when told to
/// stop first. Progress is only stored by the tick: a snapshot cut short starts over anyway.
pub(crate) async fn deliver_snapshot(
    rows: &mut tokio::sync::mpsc::Receiver<Vec<crate::change::Change>>,
    sinker: &mut Sinker,
    checkpointer: &Checkpointer,
    position: u64,
    stop: &mut watch::Receiver<bool>,
) -> Result<bool, String> {
    let mut tick = tokio::time::interval(TICK);
    loop {
        let deadline = sinker.deadline();
        tokio::select! {
            changes = rows.recv() => {
                let Some(changes) = changes else { return Ok(true) };
                for change in changes {
                    if sinker.push(change) && sinker.flush(position, stop).await.is_err() {
                        return Ok(false);
                    }
                }
            }
            accepted = sinker.accepted() => {
                if accepted.is_err() {
                    return Ok(false);
                }
            }
            () = until(deadline) => {
                if sinker.flush(position, stop).await.is_err() {
                    return Ok(false);
                }
            }
            _ = tick.tick() => checkpointer.save("snapshot", position).await?,
            _ = stop.changed() => return Ok(false),
        }
    }
}

async fn sleep_or_stop(pause: Duration, stop: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(pause) => {}
        _ = stop.changed() => {}
    }
}
