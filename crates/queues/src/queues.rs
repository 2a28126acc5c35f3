//! The queues of a node: sending onto them and reading their state, by name.

use crate::config::QueueConfig;
use crate::group::GroupCommit;
use serde_json::Value;
use sluice_engine::queue::{MAX_MESSAGE_BYTES, NewMessage, QueueMessage, QueueStats, Settlement};
use sluice_engine::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The longest delay of a send, as on Cloudflare Queues (12 hours).
pub const MAX_DELAY: Duration = Duration::from_secs(12 * 3600);

/// Why a send was refused.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No queue by that name is declared.
    #[error("no queue named '{0}' (declare it under `queues:` in sluice.yaml)")]
    UnknownQueue(String),
    /// The body is over [`MAX_MESSAGE_BYTES`].
    #[error("the message is {0} bytes, over the limit of {MAX_MESSAGE_BYTES} bytes")]
    TooLarge(usize),
    /// The delay is over [`MAX_DELAY`].
    #[error("a delay of {0}s is over the limit of {max}s", max = MAX_DELAY.as_secs())]
    DelayTooLong(u64),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A message to send.
#[derive(Clone, Debug, Default)]
pub struct Outgoing {
    /// The body.
    pub body: String,
    /// SQS message attributes (`{"name": {"DataType", "StringValue"}}`), or null.
    pub attributes: Value,
    /// How long it stays invisible.
    pub delay: Duration,
}

/// A message sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    /// Its id.
    pub id: String,
    /// The MD5 of its body, hex, as SQS reports it.
    pub md5_of_body: String,
}

/// The declared queues over a store. Cheap to clone.
#[derive(Clone)]
pub struct Queues {
    store: Arc<dyn Store>,
    configs: Arc<BTreeMap<String, QueueConfig>>,
    wake: Arc<BTreeMap<String, Notify>>,
    sends: Arc<GroupCommit<NewMessage>>,
    /// Sends onto many queues at once (a topic's or an event's deliveries), all kept under one
    /// key so that concurrent ones share a transaction.
    fan_outs: Arc<GroupCommit<(String, NewMessage)>>,
    settles: Arc<GroupCommit<Settlement>>,
}

impl Queues {
    /// The queues `configs` declares, kept in `store`.
    pub fn new(store: Arc<dyn Store>, configs: Vec<QueueConfig>) -> Queues {
        let wake = configs
            .iter()
            .map(|c| (c.name.clone(), Notify::new()))
            .collect();
        let configs = configs.into_iter().map(|c| (c.name.clone(), c)).collect();
        Queues {
            configs: Arc::new(configs),
            wake: Arc::new(wake),
            sends: Arc::new(GroupCommit::new(store.clone(), |store, queue, rows| {
                store.queue_send(queue, rows, now_ms())
            })),
            fan_outs: Arc::new(GroupCommit::new(store.clone(), |store, _, rows| {
                store.queue_send_many(rows, now_ms())
            })),
            settles: Arc::new(GroupCommit::new(
                store.clone(),
                |store, queue, settlements| {
                    store.queue_settle(queue, settlements, now_ms()).map(|_| ())
                },
            )),
            store,
        }
    }

    /// The store the messages are kept in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// A queue's settings.
    pub fn get(&self, name: &str) -> Option<&QueueConfig> {
        self.configs.get(name)
    }

    /// Every queue, by name.
    pub fn all(&self) -> impl Iterator<Item = &QueueConfig> {
        self.configs.values()
    }

    fn known(&self, name: &str) -> Result<&QueueConfig, SendError> {
        self.get(name)
            .ok_or_else(|| SendError::UnknownQueue(name.to_string()))
    }

    /// Sends messages onto `queue` in one write (shared with the sends of other callers under
    /// way); answers once they are durable. Blocking: async tasks call [`Queues::send_async`].
    pub fn send(&self, queue: &str, messages: Vec<Outgoing>) -> Result<Vec<Sent>, SendError> {
        let (rows, sent) = self.rows(queue, messages)?;
        self.sends.write(queue, rows)?;
        self.wake(queue);
        Ok(sent)
    }

    /// Like [`Queues::send`], for async tasks: waits without holding a thread.
    pub async fn send_async(
        &self,
        queue: &str,
        messages: Vec<Outgoing>,
    ) -> Result<Vec<Sent>, SendError> {
        let (rows, sent) = self.rows(queue, messages)?;
        self.sends.write_async(queue, rows).await?;
        self.wake(queue);
        Ok(sent)
    }

    /// The rows of a send onto `queue`, and what it answers; refuses too large a message or too
    /// long a delay.
    fn rows(
        &self,
        queue: &str,
        messages: Vec<Outgoing>,
    ) -> Result<(Vec<NewMessage>, Vec<Sent>), SendError> {
        self.known(queue)?;
        let now = now_ms();
        let mut rows = Vec::with_capacity(messages.len());
        let mut sent = Vec::with_capacity(messages.len());
        for m in messages {
            if m.body.len() > MAX_MESSAGE_BYTES {
                return Err(SendError::TooLarge(m.body.len()));
            }
            if m.delay > MAX_DELAY {
                return Err(SendError::DelayTooLong(m.delay.as_secs()));
            }
            // Time-ordered ids: the store's index on them grows at one end, and the messages of
            // a batch, sent together, sit side by side in it when their settles delete them.
            let id = uuid::Uuid::now_v7().to_string();
            sent.push(Sent {
                id: id.clone(),
                md5_of_body: crate::event::md5_hex(m.body.as_bytes()),
            });
            rows.push(NewMessage {
                id,
                body: m.body,
                attributes: m.attributes,
                visible_ms: now.saturating_add(m.delay.as_millis() as i64),
            });
        }
        Ok((rows, sent))
    }

    /// Puts messages whose ids are given, each on its queue, in one transaction (shared with
    /// the sends of this kind other callers have under way); answers once every one of them is
    /// durable (or, on an error, none was kept). The bodies are the caller's to bound: a topic's
    /// envelopes wrap a message of at most [`MAX_MESSAGE_BYTES`].
    pub fn send_many(&self, messages: Vec<(String, NewMessage)>) -> Result<(), SendError> {
        for (queue, _) in &messages {
            self.known(queue)?;
        }
        if messages.is_empty() {
            return Ok(());
        }
        let mut woken: Vec<String> = messages.iter().map(|(q, _)| q.clone()).collect();
        self.fan_outs.write("", messages)?;
        woken.sort_unstable();
        woken.dedup();
        for queue in &woken {
            self.wake(queue);
        }
        Ok(())
    }

    /// Settles received messages of `queue`, in one write shared with the settlements of other
    /// batches under way.
    pub(crate) async fn settle(
        &self,
        queue: &str,
        settlements: Vec<Settlement>,
    ) -> Result<(), StoreError> {
        self.settles.write_async(queue, settlements).await
    }

    /// Wakes the consumers of `queue` (a message may be ready).
    pub fn wake(&self, queue: &str) {
        if let Some(n) = self.wake.get(queue) {
            n.notify_waiters();
        }
    }

    /// Waits until a send through this process wakes the consumers of `queue`, or `timeout`
    /// passes.
    pub async fn woken(&self, queue: &str, timeout: Duration) {
        if let Some(n) = self.wake.get(queue) {
            let _ = tokio::time::timeout(timeout, n.notified()).await;
        }
    }

    /// Counts of a queue's messages by state.
    pub fn stats(&self, queue: &str) -> Result<QueueStats, SendError> {
        self.known(queue)?;
        Ok(self.store.queue_stats(queue, now_ms())?)
    }

    /// Up to `limit` messages in order, without receiving them (the failed ones when `failed`).
    pub fn peek(
        &self,
        queue: &str,
        limit: usize,
        failed: bool,
    ) -> Result<Vec<QueueMessage>, SendError> {
        self.known(queue)?;
        Ok(self.store.queue_peek(queue, limit, failed)?)
    }

    /// Deletes every message of a queue.
    pub fn purge(&self, queue: &str) -> Result<u64, SendError> {
        self.known(queue)?;
        Ok(self.store.queue_purge(queue)?)
    }

    /// Moves the messages of `queue`'s dead-letter queue (or its failed ones, without one) back
    /// onto it.
    pub fn redrive(&self, queue: &str) -> Result<u64, SendError> {
        let config = self.known(queue)?;
        let from = config
            .dead_letter
            .clone()
            .unwrap_or_else(|| queue.to_string());
        let moved = self.store.queue_redrive(&from, queue, now_ms())?;
        self.wake(queue);
        Ok(moved)
    }
}

/// The wall clock, epoch ms.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Functions send through the queue API of their loopback listener (`context.queues`).
impl sluice_functions::QueueSink for Queues {
    fn send(
        &self,
        queue: &str,
        messages: Vec<sluice_functions::QueueSend>,
    ) -> Result<Vec<String>, sluice_functions::QueueSendError> {
        use sluice_functions::QueueSendError as Refused;
        let outgoing = messages
            .into_iter()
            .map(|m| Outgoing {
                body: m.body,
                attributes: m.attributes,
                delay: m.delay,
            })
            .collect();
        match Queues::send(self, queue, outgoing) {
            Ok(sent) => Ok(sent.into_iter().map(|s| s.id).collect()),
            Err(e @ SendError::UnknownQueue(_)) => Err(Refused::UnknownQueue(e.to_string())),
            Err(e @ (SendError::TooLarge(_) | SendError::DelayTooLong(_))) => {
                Err(Refused::Invalid(e.to_string()))
            }
            Err(e @ SendError::Store(_)) => Err(Refused::Failed(e.to_string())),
        }
    }
}
