//! What the engine needs from durable storage. Implemented by `sluice-store` (SQLite, PostgreSQL).
//!
//! Many processes may share one store. Executions are owned through leases: a process claims
//! runnable executions (a root execution together with its Distributed Map children), renews its
//! leases while it lives, and every write is a compare-and-swap on the execution's version. Every
//! change of owner bumps the version, so a process that lost an execution to another one finds
//! out at its next write, which the store refuses (see [`CommitReport::lost`]).

use crate::callback::StoredSignal;
use crate::effects::HistoryEvent;
use crate::invoke::TaskError;
use crate::map_run::MapRunSpec;
use crate::model::{ExecutionState, Status};
use crate::objects::{ObjectChange, ObjectClassRecord, PendingObjectEvent};
use crate::queue::{NewMessage, QueueMessage, QueueStats, Settlement};
use crate::run_info::RunInfo;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A storage failure, classified once so that callers decide whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process changed what this one meant to write (a name taken, a lease lost).
    #[error("store conflict: {0}")]
    Conflict(String),
    /// The store cannot be reached or refused the operation for now; a retry may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data cannot be decoded, or the schema is newer than this binary.
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

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
    /// The project directory it belongs to, or `None` for a flow run from a single file.
    pub project: Option<String>,
}

/// An execution row: its fixed facts and its latest state.
#[derive(Clone, Debug)]
pub struct StoredExecution {
    /// Execution id (its name, unique in the store).
    pub id: String,
    /// The top-level execution it belongs to (itself for a top-level execution). Ownership is
    /// claimed per root: a Distributed Map child is driven by whoever drives its root.
    pub root_id: String,
    /// The stored row's version: 0 before the first write, then bumped by every write and every
    /// change of owner. A write succeeds only against the version it read.
    pub version: u64,
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
    /// Definition id.
    pub definition_id: String,
    /// Flow name.
    pub flow: String,
    /// Status.
    pub status: Status,
    /// Start, epoch ms.
    pub start_ms: i64,
    /// Stop, epoch ms.
    pub stop_ms: Option<i64>,
    /// The process holding its lease, if any lease was taken.
    pub owner: Option<String>,
    /// When that lease ends, epoch ms (wall clock).
    pub lease_until_ms: Option<i64>,
}

/// One execution's part of a group commit.
#[derive(Clone, Debug)]
pub struct ExecutionWrite<'a> {
    /// The execution (inserted when new, updated otherwise). Its `version` is the version the
    /// writer read; the write stores `version + 1` and takes the lease.
    pub execution: &'a StoredExecution,
    /// Whether the row must be inserted (refused, as lost, when the id is taken).
    pub new: bool,
    /// History events to append.
    pub history: &'a [HistoryEvent],
    /// The state to store instead of `execution.state`: its Map and Parallel values left out
    /// (see [`crate::scopes`]).
    pub state: &'a Value,
    /// Map and Parallel values to store (replacing any stored under the same key).
    pub values: &'a [ScopeValue],
}

/// Which value of a Map or Parallel state a [`ScopeValue`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// The state's raw input.
    StateInput,
    /// The state's effective input.
    Effective,
    /// A child's input.
    Input,
    /// A child's result.
    Result,
}

impl ValueKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::StateInput => "state_input",
            ValueKind::Effective => "effective",
            ValueKind::Input => "input",
            ValueKind::Result => "result",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<ValueKind> {
        Some(match s {
            "state_input" => ValueKind::StateInput,
            "effective" => ValueKind::Effective,
            "input" => ValueKind::Input,
            "result" => ValueKind::Result,
            _ => return None,
        })
    }
}

/// One value of a Map or Parallel state, stored apart from the execution's state.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeValue {
    /// The Map or Parallel state's visit and attempt (see [`crate::scopes`]).
    pub scope: String,
    /// What the value is.
    pub kind: ValueKind,
    /// The child's index (0 for the state's own values).
    pub idx: u32,
    /// The value.
    pub value: Value,
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
    /// With EXPRESS children, which are not stored: where a resumed run starts again, before
    /// the first child whose item is not recorded yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_from: Option<RerunPoint>,
    /// With EXPRESS children, set while a redrive runs the unsuccessful items again: a run
    /// resumed after a restart runs again those not recorded as succeeded since.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redriving: bool,
}

/// A point a map run with EXPRESS children starts again from after a restart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerunPoint {
    /// The child index to start again at.
    pub started: u64,
    /// Items taken from the source before that child.
    pub consumed: u64,
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
    pub items: &'a [ItemRecord],
}

/// A process's hold on the executions it drives.
#[derive(Clone, Copy, Debug)]
pub struct Lease<'a> {
    /// The process (a unique id per process).
    pub owner: &'a str,
    /// The lease ends then unless renewed, epoch ms (wall clock).
    pub until_ms: i64,
}

/// What a claim asks for.
#[derive(Clone, Copy, Debug)]
pub struct ClaimRequest<'a> {
    /// The lease to take.
    pub lease: Lease<'a>,
    /// Now, epoch ms (wall clock): leases that ended before are free.
    pub now_ms: i64,
    /// Only executions of these definitions (the ones this process has loaded).
    pub definitions: &'a [String],
    /// At most this many root executions.
    pub limit: usize,
    /// Only this root execution, when given.
    pub root: Option<&'a str>,
}

/// A request to stop a running execution, kept in the store until the process that drives the
/// execution acts on it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StopRequest {
    /// The error recorded (`ExecutionAborted.error`).
    pub error: Option<String>,
    /// The cause recorded.
    pub cause: Option<String>,
}

/// Executions taken over by a claim: running root executions, their running descendants, and
/// the Distributed Map runs among them whose outcome was not delivered yet.
#[derive(Clone, Debug, Default)]
pub struct Claimed {
    /// Root executions first (oldest first), then their descendants.
    pub executions: Vec<StoredExecution>,
    /// Open map runs of those executions.
    pub map_runs: Vec<MapRunRecord>,
}

/// How a group commit went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CommitReport {
    /// Executions whose write was refused because another process owns them now (or, for a new
    /// one, because its id was taken). Nothing of theirs was written: not their history, not the
    /// map runs they drive, not those runs' items.
    pub lost: Vec<String>,
}

/// Where a change-data-capture source is, as stored: one row per source, which is also the
/// source's lease (one process streams a source at a time).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CdcCheckpoint {
    /// The source (its trigger's name).
    pub source: String,
    /// `new` (nothing done yet), `snapshot` (copying) or `streaming`.
    pub phase: String,
    /// The position up to which every change was accepted by the sink (PostgreSQL: the LSN).
    pub position: u64,
    /// Snapshot progress and other source-specific details, JSON.
    pub progress: serde_json::Value,
    /// The error that stops the source, if any.
    pub error: Option<String>,
    /// The process holding the lease.
    pub owner: Option<String>,
    /// When the lease ends, epoch ms.
    pub lease_until_ms: Option<i64>,
    /// When the row was last written, epoch ms.
    pub updated_ms: i64,
}

/// Durable storage of definitions, executions and their histories.
pub trait Store: Send + Sync {
    /// Stores a definition (idempotent by content and project) and returns its id.
    fn put_definition(
        &self,
        name: &str,
        file: &str,
        source: &str,
        project: Option<&str>,
    ) -> Result<String, StoreError>;
    /// A definition by id.
    fn definition(&self, id: &str) -> Result<Option<StoredDefinition>, StoreError>;
    /// Ids of the definitions stored for `project` (`None`: those run from single files).
    fn definitions_of(&self, project: Option<&str>) -> Result<Vec<String>, StoreError>;
    /// Writes a batch (executions, map runs, items) in one transaction under `lease`, leaving
    /// out (and reporting) the executions another process owns now.
    fn commit(&self, lease: Lease<'_>, batch: &Batch<'_>) -> Result<CommitReport, StoreError>;
    /// Takes over running root executions that nobody holds (never leased, released, or whose
    /// lease ended), with their running descendants, bumping their versions.
    fn claim(&self, request: ClaimRequest<'_>) -> Result<Claimed, StoreError>;
    /// Extends every lease `owner` holds on running executions until `until_ms`; returns how many
    /// executions it holds.
    fn renew(&self, owner: &str, until_ms: i64) -> Result<u64, StoreError>;
    /// Gives up `owner`'s leases at once (a process stopping), so others may claim them.
    fn release(&self, owner: &str) -> Result<(), StoreError>;
    /// Asks whoever drives the running root execution `id` to stop it. Returns false when no
    /// such execution is running. The request is dropped once the execution stops.
    fn request_stop(&self, id: &str, request: &StopRequest) -> Result<bool, StoreError>;
    /// Stop requests for the running executions `owner` holds.
    fn stop_requests(&self, owner: &str) -> Result<Vec<(String, StopRequest)>, StoreError>;
    /// Keeps a worker's report on a callback Task of the running execution `execution` until the
    /// process driving it applies it (see [`crate::callback`]).
    fn put_signal(&self, execution: &str, signal: &StoredSignal) -> Result<(), StoreError>;
    /// The signals kept for the running executions `owner` holds, oldest first, each with its
    /// sequence number and execution.
    fn signals(&self, owner: &str) -> Result<Vec<(u64, String, StoredSignal)>, StoreError>;
    /// Forgets applied signals, by sequence number.
    fn drop_signals(&self, seqs: &[u64]) -> Result<(), StoreError>;
    /// Puts messages on `queue` (see [`crate::queue`]).
    fn queue_send(
        &self,
        queue: &str,
        messages: &[NewMessage],
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Puts each message on its own queue, all in one transaction: every message is kept, or
    /// (on an error) none is. A topic's fan-out and an event's rules write through it.
    fn queue_send_many(
        &self,
        messages: &[(String, NewMessage)],
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Receives up to `max` ready messages of `queue` (those visible earliest first; the batch
    /// in the order they were sent), leasing them until `lease_until_ms` and counting the
    /// receive.
    fn queue_receive(
        &self,
        queue: &str,
        max: usize,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Vec<QueueMessage>, StoreError>;
    /// Settles received messages of `queue`; returns how many settlements still matched their
    /// message's receive.
    fn queue_settle(
        &self,
        queue: &str,
        settlements: &[Settlement],
        now_ms: i64,
    ) -> Result<u64, StoreError>;
    /// Up to `limit` messages of `queue` in order, without receiving them: the failed ones
    /// only when `failed` is true, else the others.
    fn queue_peek(
        &self,
        queue: &str,
        limit: usize,
        failed: bool,
    ) -> Result<Vec<QueueMessage>, StoreError>;
    /// Counts of `queue`'s messages by state.
    fn queue_stats(&self, queue: &str, now_ms: i64) -> Result<QueueStats, StoreError>;
    /// Deletes every message of `queue`; returns how many.
    fn queue_purge(&self, queue: &str) -> Result<u64, StoreError>;
    /// Moves every message of `from` (a dead-letter queue, or the failed messages of a queue
    /// when `from == to`) to `to`, visible now with no receive counted; returns how many.
    fn queue_redrive(&self, from: &str, to: &str, now_ms: i64) -> Result<u64, StoreError>;
    /// The stored next due time of the schedule `trigger`, if it has one.
    fn trigger_next(&self, trigger: &str) -> Result<Option<i64>, StoreError>;
    /// Moves the schedule `trigger`'s due time from `from` (`None`: it has none yet) to `to`;
    /// returns whether it was still `from`, so that of the processes sharing the store exactly
    /// one takes each due time.
    fn trigger_advance(
        &self,
        trigger: &str,
        from: Option<i64>,
        to: i64,
    ) -> Result<bool, StoreError>;
    /// The entity tag the watch `watch` knows for the object `key`, if it knows it.
    fn object_known(&self, watch: &str, key: &str) -> Result<Option<String>, StoreError>;
    /// Up to `limit` objects the watch knows, with their entity tags, in key order (by bytes),
    /// after the key `after` if given.
    fn object_known_page(
        &self,
        watch: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// Records changes in one transaction: each one whose `before` is still what the watch
    /// knows is applied, and its event queued (an event id already queued is not queued again);
    /// returns how many were applied.
    fn object_record(&self, watch: &str, changes: &[ObjectChange]) -> Result<u64, StoreError>;
    /// Up to `limit` of the watch's undelivered events, oldest first.
    fn object_events(
        &self,
        watch: &str,
        limit: usize,
    ) -> Result<Vec<PendingObjectEvent>, StoreError>;
    /// Forgets delivered events, by sequence number.
    fn object_events_done(&self, watch: &str, seqs: &[i64]) -> Result<(), StoreError>;
    /// The storage-class record of the object at `path` (`BUCKET/KEY`), if it has one.
    fn object_class(&self, path: &str) -> Result<Option<ObjectClassRecord>, StoreError>;
    /// Sets (or, with `None`, forgets) the storage-class record of the object at `path`.
    fn object_class_put(
        &self,
        path: &str,
        record: Option<&ObjectClassRecord>,
    ) -> Result<(), StoreError>;
    /// Replaces the record of `path` with `after` if it is still `before`; returns whether it
    /// was, so that of the processes restoring one object at once exactly one starts it.
    fn object_class_swap(
        &self,
        path: &str,
        before: &ObjectClassRecord,
        after: &ObjectClassRecord,
    ) -> Result<bool, StoreError>;
    /// Running root executions, oldest first, with their owners.
    fn running_roots(&self) -> Result<Vec<ExecutionSummary>, StoreError>;
    /// The Map and Parallel values stored for an execution.
    fn scope_values(&self, execution: &str) -> Result<Vec<ScopeValue>, StoreError>;
    /// One execution.
    fn execution(&self, id: &str) -> Result<Option<StoredExecution>, StoreError>;
    /// The newest executions first; the children of Distributed Maps only when asked for.
    fn list(&self, limit: usize, with_children: bool) -> Result<Vec<ExecutionSummary>, StoreError>;
    /// A page of an execution's history: events with id > `after`, oldest first, at most `limit`.
    fn history(&self, id: &str, after: u64, limit: usize) -> Result<Vec<HistoryEvent>, StoreError>;
    /// The map runs of an execution, oldest first.
    fn map_runs_of(&self, execution: &str) -> Result<Vec<MapRunRecord>, StoreError>;
    /// A run's finished items with index >= `from`, in index order, at most `limit`.
    fn map_items(&self, run: &str, from: u64, limit: usize) -> Result<Vec<ItemRecord>, StoreError>;
    /// The checkpoint of CDC source `source`, if it has one.
    fn cdc_checkpoint(&self, source: &str) -> Result<Option<CdcCheckpoint>, StoreError>;
    /// Every CDC source's checkpoint, by name.
    fn cdc_checkpoints(&self) -> Result<Vec<CdcCheckpoint>, StoreError>;
    /// Takes (or extends) the lease of CDC source `source` for `owner` until `until_ms`,
    /// creating its row (phase `new`) if it has none; false when another owner holds a lease
    /// that has not ended at `now_ms`.
    fn cdc_lease(
        &self,
        source: &str,
        owner: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Writes the phase, position, progress and error of `checkpoint.source` and extends the
    /// lease to `checkpoint.lease_until_ms`, if `owner` still holds the lease; returns whether it
    /// did.
    fn cdc_save(&self, owner: &str, checkpoint: &CdcCheckpoint) -> Result<bool, StoreError>;
    /// Gives up `owner`'s lease of `source`.
    fn cdc_release(&self, source: &str, owner: &str) -> Result<(), StoreError>;
    /// Forgets the checkpoint of `source` (its next run takes a new snapshot); returns whether
    /// there was one. The lease goes with it, so whoever streams the source stops.
    fn cdc_reset(&self, source: &str) -> Result<bool, StoreError>;
}
