//! What the engine needs from durable storage. Implemented by `sluice-store` (SQLite, PostgreSQL).

use crate::effects::HistoryEvent;
use crate::invoke::TaskError;
use crate::map_run::MapRunSpec;
use crate::model::{ExecutionState, Status};
use crate::run_info::RunInfo;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

/// A stored flow definition.
#[derive(Clone, Debug)]
pub struct StoredDefinition {
    /// Content-addressed id.
    pub id: String,
    /// Flow name.
    pub name: String,
    /// File it came from.
    pub file: String,
    /// Source text.
    pub source: String,
}

/// An execution row: its fixed facts and its latest state.
#[derive(Clone, Debug)]
pub struct StoredExecution {
    /// Execution id (its name, unique in the store).
    pub id: String,
    /// Definition id.
    pub definition_id: String,
    /// Names and ARNs.
    pub info: RunInfo,
    /// Execution input.
    pub input: Value,
    /// Latest committed state.
    pub state: ExecutionState,
    /// When it stopped, epoch ms.
    pub stop_ms: Option<i64>,
}

/// A row of `list`.
#[derive(Clone, Debug)]
pub struct ExecutionSummary {
    /// Execution id.
    pub id: String,
    /// Flow name.
    pub flow: String,
    /// Status.
    pub status: Status,
    /// Start, epoch ms.
    pub start_ms: i64,
    /// Stop, epoch ms.
    pub stop_ms: Option<i64>,
}

/// One execution's part of a group commit.
#[derive(Clone, Debug)]
pub struct ExecutionWrite<'a> {
    /// The execution (inserted when new, updated otherwise).
    pub execution: &'a StoredExecution,
    /// Whether the row must be inserted.
    pub new: bool,
    /// History events to append.
    pub history: &'a [HistoryEvent],
}

/// A Distributed Map run's durable record: its spec and how far it got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapRunRecord {
    /// What runs.
    pub spec: MapRunSpec,
    /// The parent execution.
    pub execution: String,
    /// The Map state's frame path in the parent.
    pub path: Vec<u32>,
    /// The Map state's run token in the parent.
    pub token: u64,
    /// Progress so far.
    pub progress: MapRunProgress,
    /// Whether the outcome was delivered to the parent.
    pub done: bool,
}

/// How far a map run got. Every counter moves in the same commit as the children it counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MapRunProgress {
    /// Children created (each batch or item is one), i.e. the next child index.
    pub started: u64,
    /// Items taken from the source (before batching), where a resumed reader continues.
    pub consumed: u64,
    /// Children that succeeded.
    pub succeeded: u64,
    /// Children (or unreadable items) that failed.
    pub failed: u64,
    /// Whether the source has no more items.
    pub source_done: bool,
    /// Set when the run failed (too many failures, unreadable source).
    pub failure: Option<TaskError>,
}

/// One finished item of a map run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// The map run.
    pub run: String,
    /// Child index.
    pub index: u64,
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    /// The child's input.
    pub input: Value,
    /// Its output, or `{"Error", "Cause"}`.
    pub output: Value,
    /// The child execution, if one ran.
    pub execution: Option<String>,
    /// Start and stop, epoch ms.
    pub start_ms: i64,
    /// Stop, epoch ms.
    pub stop_ms: i64,
}

/// One map run's part of a group commit.
#[derive(Clone, Debug)]
pub struct MapRunWrite<'a> {
    /// The run.
    pub record: &'a MapRunRecord,
    /// Whether it must be inserted (its spec is written once, its progress every time).
    pub new: bool,
}

/// Everything one group commit writes, in one transaction.
#[derive(Clone, Debug, Default)]
pub struct Batch<'a> {
    /// Executions' new state and history.
    pub executions: Vec<ExecutionWrite<'a>>,
    /// Map runs inserted or updated.
    pub map_runs: Vec<MapRunWrite<'a>>,
    /// Items finished.
    pub items: Vec<ItemRecord>,
}

/// Durable storage of definitions, executions and their histories.
pub trait Store: Send + Sync {
    /// Stores a definition (idempotent by content) and returns its id.
    fn put_definition(&self, name: &str, file: &str, source: &str) -> Result<String, StoreError>;
    /// A definition by id.
    fn definition(&self, id: &str) -> Result<Option<StoredDefinition>, StoreError>;
    /// Writes a batch (executions, map runs, items) in one transaction.
    fn commit(&self, batch: &Batch<'_>) -> Result<(), StoreError>;
    /// Executions still running, to resume after a restart.
    fn running(&self) -> Result<Vec<StoredExecution>, StoreError>;
    /// One execution.
    fn execution(&self, id: &str) -> Result<Option<StoredExecution>, StoreError>;
    /// The newest executions first; the children of Distributed Maps only when asked for.
    fn list(&self, limit: usize, with_children: bool) -> Result<Vec<ExecutionSummary>, StoreError>;
    /// An execution's history, oldest first.
    fn history(&self, id: &str) -> Result<Vec<HistoryEvent>, StoreError>;
    /// Map runs whose outcome has not been delivered yet.
    fn open_map_runs(&self) -> Result<Vec<MapRunRecord>, StoreError>;
    /// The map runs of an execution, oldest first.
    fn map_runs_of(&self, execution: &str) -> Result<Vec<MapRunRecord>, StoreError>;
    /// A run's finished items with index >= `from`, in index order, at most `limit`.
    fn map_items(&self, run: &str, from: u64, limit: usize) -> Result<Vec<ItemRecord>, StoreError>;
}
