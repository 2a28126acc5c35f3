//! A queue's settings, with Cloudflare Queues' defaults and bounds.

use std::time::Duration;

/// The most messages a batch may hold.
pub const MAX_BATCH_SIZE: usize = 100;

/// What consumes a queue's messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consumer {
    /// A function, called with the Lambda SQS event of a batch.
    Function(String),
    /// A flow: each message starts an execution named by the message id.
    Flow(String),
    /// A function called once per message with its body (a JSON event) as the event, as
    /// Lambda is called asynchronously: the deliveries of topics and event rules.
    Event(String),
    /// An HTTP endpoint each message's body is POSTed to, its string attributes sent as
    /// headers; a failure is retried with a growing delay (the deliveries of topics).
    Webhook(String),
}

/// One queue.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueConfig {
    /// Its name.
    pub name: String,
    /// What consumes it; none for a pull queue that outside workers receive from.
    pub consumer: Option<Consumer>,
    /// The most messages a batch holds (1 to 100; 10).
    pub batch_size: usize,
    /// How long a batch waits to fill up once it has a message (5 s).
    pub batch_timeout: Duration,
    /// Retries before a message is dead-lettered or failed (3).
    pub max_retries: u32,
    /// How long a retried message waits (0 s).
    pub retry_delay: Duration,
    /// Where messages out of retries go.
    pub dead_letter: Option<String>,
    /// Batches consumed at once (1).
    pub max_concurrency: usize,
    /// How long a received message is leased (30 s).
    pub visibility_timeout: Duration,
}

impl QueueConfig {
    /// A queue with the defaults.
    pub fn new(name: &str) -> QueueConfig {
        QueueConfig {
            name: name.to_string(),
            consumer: None,
            batch_size: 10,
            batch_timeout: Duration::from_secs(5),
            max_retries: 3,
            retry_delay: Duration::ZERO,
            dead_letter: None,
            max_concurrency: 1,
            visibility_timeout: Duration::from_secs(30),
        }
    }

    /// The internal queue that holds the deliveries of a topic subscription or rule target to
    /// `consumer`: one message per batch, a few at once, leased longer than an HTTP request may
    /// take; HTTP endpoints are tried more often (with a growing delay) than functions and
    /// flows. Deliveries out of retries stay on it as failed, shown by `sluice queue`.
    pub fn delivery(name: String, consumer: Consumer) -> QueueConfig {
        let max_retries = match consumer {
            Consumer::Webhook(_) => 5,
            _ => 3,
        };
        QueueConfig {
            consumer: Some(consumer),
            batch_size: 1,
            batch_timeout: Duration::ZERO,
            max_retries,
            max_concurrency: 4,
            visibility_timeout: Duration::from_secs(90),
            ..QueueConfig::new(&name)
        }
    }

    /// Checks the bounds; the error names the setting.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            return Err(format!(
                "batch_size must be from 1 to {MAX_BATCH_SIZE}, not {}",
                self.batch_size
            ));
        }
        if self.max_concurrency == 0 {
            return Err("max_concurrency must be at least 1".into());
        }
        if self.visibility_timeout.is_zero() {
            return Err("visibility_timeout must be more than 0s".into());
        }
        if self.dead_letter.as_deref() == Some(self.name.as_str()) {
            return Err("dead_letter must name another queue".into());
        }
        Ok(())
    }
}
