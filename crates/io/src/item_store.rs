//! The engine's [`ItemStore`] over a [`Storage`].

use crate::readers;
use crate::storage::Storage;
use crate::writer::{self, WriterOptions};
use serde_json::Value;
use sluice_engine::invoke::TaskError;
use sluice_engine::items::{ItemIter, ItemOutcome, ItemStore};
use tokio::runtime::Handle;

use crate::readers::ReadOptions;

/// Reads Distributed Map items from, and writes their results to, a [`Storage`]. Its reads
/// and writes block on the runtime `handle`: the engine calls them on a thread of its own.
#[derive(Clone)]
pub struct ObjectItemStore {
    storage: Storage,
    handle: Handle,
    read: ReadOptions,
    write: WriterOptions,
}

impl ObjectItemStore {
    /// An item store over `storage`, blocking on `handle`, with default options.
    pub fn new(storage: Storage, handle: Handle) -> Self {
        ObjectItemStore {
            storage,
            handle,
            read: ReadOptions::default(),
            write: WriterOptions::default(),
        }
    }

    /// With other read options (range size, listing page size).
    pub fn with_read_options(self, read: ReadOptions) -> Self {
        ObjectItemStore { read, ..self }
    }

    /// With other result file limits.
    pub fn with_writer_options(self, write: WriterOptions) -> Self {
        ObjectItemStore { write, ..self }
    }

    /// The storage it reads and writes.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }
}

impl ItemStore for ObjectItemStore {
    fn read(&self, reader: &Value, skip: u64) -> Result<ItemIter, TaskError> {
        readers::open(&self.storage, &self.handle, self.read, reader, skip)
    }

    fn write_results(
        &self,
        writer: &Value,
        map_run_arn: &str,
        outcomes: &mut dyn Iterator<Item = ItemOutcome>,
    ) -> Result<Value, TaskError> {
        writer::write_results(
            &self.storage,
            &self.handle,
            self.write,
            writer,
            map_run_arn,
            outcomes,
        )
    }
}
