//! Durable queues: messages kept in the store, sent by the CLI, the APIs, flows and functions,
//! and consumed in batches by a function (which gets the Lambda SQS event) or a flow (one
//! execution per message, named by its id).
//!
//! Delivery is at least once. A batch's messages are leased for the queue's visibility timeout
//! while its consumer runs; a consumer that dies mid-batch loses nothing, its messages come back
//! when the lease ends. Success deletes the batch; an error retries it after `retry_delay`; a
//! partial batch response (`batchItemFailures`) retries only those. After `max_retries` retries a
//! message moves to the dead-letter queue, or, without one, stays on its queue as failed, shown
//! by `sluice queue`.
//!
//! Topics ([`topics`]) and the event bus ([`bus`]) are built on the queues: a publish or a put
//! writes every delivery onto the subscriber's queue, or onto an internal delivery queue
//! consumed like any other, in one transaction. Filter policies and event patterns are one
//! matcher ([`pattern`]).

pub mod bus;
pub mod config;
pub mod consumer;
pub mod cron;
mod deliver;
pub mod event;
mod group;
pub mod integration;
pub mod pattern;
pub mod queues;
pub mod s3_event;
pub mod sns;
pub mod topics;
pub mod triggers;
pub mod uploads;

pub use bus::EventBus;
pub use config::{Consumer, QueueConfig};
pub use consumer::{Consumers, FlowStarter, Targets};
pub use integration::QueueIntegration;
pub use queues::{Outgoing, Queues, SendError, Sent};
pub use topics::{Publication, PublishError, Published, Topics};
