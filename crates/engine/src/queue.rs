//! Durable queue messages as the store keeps them (see [`crate::store::Store`]'s `queue_*`
//! methods).
//!
//! A message is ready once its visible time has come; receiving it leases it (it becomes
//! visible again at the lease's end) and counts the receive. Whoever received it settles it with
//! the receive count it got, so that a stale settle (the lease ran out and another consumer has
//! it now) changes nothing: delete it, make it visible again later, move it to another queue
//! (a dead-letter queue), or mark it failed, kept for `sluice queue` to show.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The largest message body, in bytes, as on SQS and Cloudflare Queues.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A message to put on a queue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMessage {
    /// Its id, unique in the store.
    pub id: String,
    /// The body.
    pub body: String,
    /// Message attributes, as SQS's `MessageAttributes` (a JSON object).
    pub attributes: Value,
    /// When it becomes visible, epoch ms (a delayed send: later than now).
    pub visible_ms: i64,
}

/// A message as the store holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueMessage {
    /// The queue it is on.
    pub queue: String,
    /// Its id.
    pub id: String,
    /// The body.
    pub body: String,
    /// Message attributes.
    pub attributes: Value,
    /// When it was sent, epoch ms.
    pub sent_ms: i64,
    /// When it is (or was) visible, epoch ms; for a received message, the end of its lease.
    pub visible_ms: i64,
    /// How many times it was received.
    pub receive_count: u32,
    /// Why it failed for good, when it did and has no dead-letter queue.
    pub failed: Option<String>,
}

impl QueueMessage {
    /// The receipt handle of this receive: the id and the receive count.
    pub fn receipt(&self) -> String {
        format!("{}#{}", self.id, self.receive_count)
    }
}

/// Reads a receipt handle back: the message id and the receive count it was given with.
pub fn parse_receipt(receipt: &str) -> Option<(&str, u32)> {
    let (id, count) = receipt.rsplit_once('#')?;
    Some((id, count.parse().ok()?))
}

/// What becomes of a received message.
#[derive(Clone, Debug, PartialEq)]
pub enum Settle {
    /// Processed: delete it.
    Delete,
    /// Not processed: visible again at this time, epoch ms (a retry's delay, or a new lease end).
    VisibleAt(i64),
    /// Out of retries: onto this (dead-letter) queue, visible at once, its receive count reset.
    MoveTo(String),
    /// Out of retries without a dead-letter queue: kept, failed, with why.
    Fail(String),
}

/// One message's settlement: the receive it answers and what becomes of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Settlement {
    /// The message.
    pub id: String,
    /// The receive count it was received with; a settle of an older receive changes nothing.
    pub receive_count: u32,
    /// What becomes of it.
    pub action: Settle,
}

/// How many messages a queue holds, by state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    /// Visible now.
    pub ready: u64,
    /// Sent with a delay (or to be retried) and not visible yet, never received.
    pub delayed: u64,
    /// Received and leased, or waiting for a retry.
    pub in_flight: u64,
    /// Failed for good (no dead-letter queue).
    pub failed: u64,
    /// When the oldest message not failed was sent, epoch ms.
    pub oldest_sent_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_name_the_receive() {
        let m = QueueMessage {
            queue: "q".into(),
            id: "a#b".into(),
            body: String::new(),
            attributes: Value::Null,
            sent_ms: 0,
            visible_ms: 0,
            receive_count: 3,
            failed: None,
        };
        assert_eq!(parse_receipt(&m.receipt()), Some(("a#b", 3)));
        assert_eq!(parse_receipt("nohash"), None);
        assert_eq!(parse_receipt("x#y"), None);
    }
}
