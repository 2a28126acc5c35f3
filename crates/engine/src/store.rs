//! What the engine needs from durable storage. Implemented by `sluice-store` (SQLite, PostgreSQL).

use crate::effects::HistoryEvent;
use crate::model::{ExecutionState, Status};
use crate::run_info::RunInfo;
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

/// Durable storage of definitions, executions and their histories.
pub trait Store: Send + Sync {
    /// Stores a definition (idempotent by content) and returns its id.
    fn put_definition(&self, name: &str, file: &str, source: &str) -> Result<String, StoreError>;
    /// A definition by id.
    fn definition(&self, id: &str) -> Result<Option<StoredDefinition>, StoreError>;
    /// Writes every execution's new state and history in one transaction.
    fn commit(&self, writes: &[ExecutionWrite<'_>]) -> Result<(), StoreError>;
    /// Executions still running, to resume after a restart.
    fn running(&self) -> Result<Vec<StoredExecution>, StoreError>;
    /// One execution.
    fn execution(&self, id: &str) -> Result<Option<StoredExecution>, StoreError>;
    /// The newest executions first.
    fn list(&self, limit: usize) -> Result<Vec<ExecutionSummary>, StoreError>;
    /// An execution's history, oldest first.
    fn history(&self, id: &str) -> Result<Vec<HistoryEvent>, StoreError>;
}
