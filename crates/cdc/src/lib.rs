//! Change data capture: a Poller reads a consistent snapshot of PostgreSQL tables and then
//! their changes from a logical replication slot (pgoutput), or of MySQL/MariaDB tables and then
//! their row-based binlog ([`mysql`], feature `mysql`); a [`Format`] turns each change into a
//! Canal-JSON or Debezium message, and a [`Sinker`] hands batches of them to a function, a queue
//! or a flow. The position is stored only after the sink accepted a batch: at-least-once
//! delivery with no gap, duplicates only from the last unacknowledged batch, each message
//! carrying a stable id (`_cdc.id`).

pub mod change;
pub mod format;
pub mod loader;
#[cfg(feature = "mysql")]
pub mod mysql;
pub mod pg;
pub mod position;
pub mod sink;
pub mod source;
pub mod status;

pub use format::Format;
pub use sink::{Batch, FlowSink, FunctionSink, QueueSink, Sink, Sinker};
pub use source::{CdcConfig, Sources};
pub use status::Status;
