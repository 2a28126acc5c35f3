//! What both backends store the same way: JSON columns, content-addressed definition ids, and
//! how a result row becomes a stored value.

use sha2::{Digest, Sha256};
use sluice_engine::callback::StoredSignal;
use sluice_engine::effects::HistoryEvent;
use sluice_engine::model::{ExecutionState, Status};
use sluice_engine::objects::ObjectClassRecord;
use sluice_engine::queue::QueueMessage;
use sluice_engine::store::{
    ExecutionSummary, MapRunRecord, ScopeValue, StopRequest, StoreError, StoredDefinition,
    StoredExecution, ValueKind,
};

/// Encodes a value for a JSON text column.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("encoding: {e}")))
}

/// Decodes a JSON text column; a value that does not decode means the row is corrupt.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s)
        .map_err(|e| StoreError::Corrupt(format!("decoding a stored value: {e}")))
}

/// The id of a definition: a hash of its name, its source and the project it belongs to.
pub(crate) fn definition_id(name: &str, source: &str, project: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(source.as_bytes());
    if let Some(project) = project {
        h.update([0]);
        h.update(project.as_bytes());
    }
    h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stored number (version, token, index) read back; a negative one means the row is corrupt.
pub(crate) fn unsigned(n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("a stored count is negative: {n}")))
}

/// A count or position passed to SQL as a 64-bit integer (saturating: "no limit").
pub(crate) fn signed<N: TryInto<i64>>(n: N) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// One result row of either backend, read column by column. A column that does not have the
/// expected type means the row is corrupt.
pub(crate) trait Row {
    /// A text column.
    fn text(&self, i: usize) -> Result<String, StoreError>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    /// An integer column.
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// A nullable integer column.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    /// A boolean column.
    fn flag(&self, i: usize) -> Result<bool, StoreError>;
}

/// The error of a column that could not be read.
pub(crate) fn bad_column(i: usize, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("decoding stored column {i}: {e}"))
}

/// The columns [`stop_request`] reads.
pub(crate) const STOP_REQUEST_COLUMNS: &str = "id, stop_request";

/// An execution's pending stop request from [`STOP_REQUEST_COLUMNS`].
pub(crate) fn stop_request(r: &dyn Row) -> Result<(String, StopRequest), StoreError> {
    Ok((r.text(0)?, from_json(&r.text(1)?)?))
}

/// The columns [`signal`] reads (of `task_signals` joined as `s`).
pub(crate) const SIGNAL_COLUMNS: &str = "s.seq, s.execution_id, s.signal";

/// A kept callback signal from [`SIGNAL_COLUMNS`].
pub(crate) fn signal(r: &dyn Row) -> Result<(u64, String, StoredSignal), StoreError> {
    Ok((r.int(0)? as u64, r.text(1)?, from_json(&r.text(2)?)?))
}

/// The columns [`queue_message`] reads.
pub(crate) const QUEUE_MESSAGE_COLUMNS: &str =
    "queue, id, body, attributes, sent_ms, visible_ms, receive_count, failed";

/// A queue message from [`QUEUE_MESSAGE_COLUMNS`].
pub(crate) fn queue_message(r: &dyn Row) -> Result<QueueMessage, StoreError> {
    Ok(QueueMessage {
        queue: r.text(0)?,
        id: r.text(1)?,
        body: r.text(2)?,
        attributes: from_json(&r.text(3)?)?,
        sent_ms: r.int(4)?,
        visible_ms: r.int(5)?,
        receive_count: u32::try_from(r.int(6)?).unwrap_or(u32::MAX),
        failed: r.opt_text(7)?,
    })
}

/// The columns [`definition`] reads.
pub(crate) const DEFINITION_COLUMNS: &str = "id, name, file, source, project";

/// A definition from [`DEFINITION_COLUMNS`].
pub(crate) fn definition(r: &dyn Row) -> Result<StoredDefinition, StoreError> {
    Ok(StoredDefinition {
        id: r.text(0)?,
        name: r.text(1)?,
        file: r.text(2)?,
        source: r.text(3)?,
        project: r.opt_text(4)?,
    })
}

/// The columns [`execution`] reads.
pub(crate) const EXECUTION_COLUMNS: &str =
    "id, root_id, version, definition_id, stop_ms, info, input, state";

/// An execution row whose stored state still lacks its Map and Parallel values.
pub(crate) struct ExecutionRow {
    execution: StoredExecution,
    state: serde_json::Value,
}

impl ExecutionRow {
    /// The execution's id.
    pub(crate) fn id(&self) -> &str {
        &self.execution.id
    }

    /// The execution, its state completed with its stored `values`.
    pub(crate) fn load(self, values: Vec<ScopeValue>) -> Result<StoredExecution, StoreError> {
        Ok(StoredExecution {
            state: sluice_engine::scopes::internalize(self.state, values)
                .map_err(StoreError::Corrupt)?,
            ..self.execution
        })
    }
}

/// An execution from [`EXECUTION_COLUMNS`].
pub(crate) fn execution(r: &dyn Row) -> Result<ExecutionRow, StoreError> {
    Ok(ExecutionRow {
        execution: StoredExecution {
            id: r.text(0)?,
            root_id: r.text(1)?,
            version: unsigned(r.int(2)?)?,
            definition_id: r.text(3)?,
            stop_ms: r.opt_int(4)?,
            info: from_json(&r.text(5)?)?,
            input: from_json(&r.text(6)?)?,
            state: ExecutionState::new(None),
        },
        state: from_json(&r.text(7)?)?,
    })
}

/// The columns [`scope_value`] reads.
pub(crate) const SCOPE_VALUE_COLUMNS: &str = "scope, kind, idx, value";

/// A Map or Parallel value from [`SCOPE_VALUE_COLUMNS`].
pub(crate) fn scope_value(r: &dyn Row) -> Result<ScopeValue, StoreError> {
    let kind = r.text(1)?;
    Ok(ScopeValue {
        scope: r.text(0)?,
        kind: ValueKind::parse(&kind).ok_or_else(|| bad_column(1, &kind))?,
        idx: u32::try_from(r.int(2)?).map_err(|_| bad_column(2, "out of range"))?,
        value: from_json(&r.text(3)?)?,
    })
}

/// The columns [`summary`] reads.
pub(crate) const SUMMARY_COLUMNS: &str =
    "id, definition_id, flow, status, start_ms, stop_ms, owner, lease_until";

/// A row of `list` from [`SUMMARY_COLUMNS`].
pub(crate) fn summary(r: &dyn Row) -> Result<ExecutionSummary, StoreError> {
    Ok(ExecutionSummary {
        id: r.text(0)?,
        definition_id: r.text(1)?,
        flow: r.text(2)?,
        status: Status::parse(&r.text(3)?).unwrap_or(Status::Running),
        start_ms: r.int(4)?,
        stop_ms: r.opt_int(5)?,
        owner: r.opt_text(6)?,
        lease_until_ms: r.opt_int(7)?,
    })
}

/// The columns [`map_run`] reads.
pub(crate) const MAP_RUN_COLUMNS: &str = "execution_id, done, spec, path, token, progress";

/// A map run from [`MAP_RUN_COLUMNS`].
pub(crate) fn map_run(r: &dyn Row) -> Result<MapRunRecord, StoreError> {
    Ok(MapRunRecord {
        execution: r.text(0)?,
        done: r.flag(1)?,
        spec: from_json(&r.text(2)?)?,
        path: from_json(&r.text(3)?)?,
        token: unsigned(r.int(4)?)?,
        progress: from_json(&r.text(5)?)?,
    })
}

/// The columns [`history_event`] reads.
pub(crate) const HISTORY_COLUMNS: &str = "event_id, timestamp_ms, kind, details";

/// A history event from [`HISTORY_COLUMNS`].
pub(crate) fn history_event(r: &dyn Row) -> Result<HistoryEvent, StoreError> {
    Ok(HistoryEvent {
        id: unsigned(r.int(0)?)?,
        timestamp_ms: r.int(1)?,
        kind: r.text(2)?,
        details: from_json(&r.text(3)?)?,
    })
}

/// The columns [`cdc_checkpoint`] reads, in order.
pub(crate) const CDC_COLUMNS: &str =
    "source, phase, position, progress, error, owner, lease_until_ms, updated_ms";

/// A CDC checkpoint from its row (selected with [`CDC_COLUMNS`]).
pub(crate) fn cdc_checkpoint(
    r: &dyn Row,
) -> Result<sluice_engine::store::CdcCheckpoint, StoreError> {
    Ok(sluice_engine::store::CdcCheckpoint {
        source: r.text(0)?,
        phase: r.text(1)?,
        position: r.int(2)? as u64,
        progress: from_json(&r.text(3)?)?,
        error: r.opt_text(4)?,
        owner: r.opt_text(5)?,
        lease_until_ms: r.opt_int(6)?,
        updated_ms: r.int(7)?,
    })
}

/// The columns of `object_classes` [`class_record`] decodes, in order.
pub(crate) const CLASS_COLUMNS: &str = "e_tag, class, restore_ready_ms, restore_expiry_ms";

/// A storage-class record from a row of [`CLASS_COLUMNS`].
pub(crate) fn class_record(row: &dyn Row) -> Result<ObjectClassRecord, StoreError> {
    Ok(ObjectClassRecord {
        e_tag: row.text(0)?,
        class: row.text(1)?,
        restore_ready_ms: row.opt_int(2)?,
        restore_expiry_ms: row.opt_int(3)?,
    })
}
