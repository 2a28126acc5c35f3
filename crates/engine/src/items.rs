//! What a Distributed Map needs from object storage: reading its items and writing its results.
//!
//! Implemented by `sluice-io` over the configured storage. The engine calls [`ItemStore::read`]
//! and drains the iterator on a thread of its own, so implementations may block.

use crate::invoke::TaskError;
use serde_json::Value;

/// One item as the reader produced it.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadItem {
    /// A well-formed item.
    Item(Value),
    /// A record that could not be read (a bad CSV row, a JSON line that does not parse): it
    /// fails its own item, with an error naming the object, the line and the reason.
    Malformed(TaskError),
}

/// The items of one `ItemReader`, in order. An `Err` ends the read and fails the whole Map
/// (`States.ItemReaderFailed`): the object vanished, the connection broke.
pub type ItemIter = Box<dyn Iterator<Item = Result<ReadItem, TaskError>> + Send>;

/// One child's outcome, as the `ResultWriter` writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemOutcome {
    /// `SUCCEEDED`, `FAILED` or `PENDING` (never started, e.g. after the run failed).
    pub status: String,
    /// The entry AWS writes for it: `ExecutionArn`, `Input`, `Output` or `Error`/`Cause`,
    /// `Name`, `StartDate`, `StopDate`, `Status`, ...
    pub entry: Value,
}

/// Reads Distributed Map items and writes their results.
pub trait ItemStore: Send + Sync {
    /// Opens the reader. `reader` is the state's `ItemReader` with its `Parameters` /
    /// `Arguments` already evaluated: `{"Resource": ..., "Parameters": {...} | "Arguments":
    /// {...}, "ReaderConfig": {...}}`. Items are yielded from index `skip` on (after
    /// `ReaderConfig.MaxItems` is applied), so a resumed run continues where it stopped.
    fn read(&self, reader: &Value, skip: u64) -> Result<ItemIter, TaskError>;

    /// Writes the results of a finished run as AWS lays them out under the writer's prefix
    /// (`<Prefix>/<map run id>/manifest.json`, `SUCCEEDED_0.json`, `FAILED_0.json`, ...), the
    /// outcomes in item order, and returns the `ResultWriterDetails` value
    /// (`{"Bucket": ..., "Key": ".../manifest.json"}`). `writer` is the state's `ResultWriter`
    /// with its parameters evaluated; `map_run_arn` names the run.
    fn write_results(
        &self,
        writer: &Value,
        map_run_arn: &str,
        outcomes: &mut dyn Iterator<Item = ItemOutcome>,
    ) -> Result<Value, TaskError>;
}

/// An item store for engines with no storage configured: every read and write fails clearly.
pub struct NoStorage;

impl ItemStore for NoStorage {
    fn read(&self, _reader: &Value, _skip: u64) -> Result<ItemIter, TaskError> {
        Err(no_storage())
    }

    fn write_results(
        &self,
        _writer: &Value,
        _map_run_arn: &str,
        _outcomes: &mut dyn Iterator<Item = ItemOutcome>,
    ) -> Result<Value, TaskError> {
        Err(no_storage())
    }
}

fn no_storage() -> TaskError {
    TaskError {
        error: "States.ItemReaderFailed".into(),
        cause: "no object storage is configured (set `storage:` in sluice.yaml)".into(),
    }
}
