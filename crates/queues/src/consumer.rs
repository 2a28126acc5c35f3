//! Consumers: for each queue with a consumer, a task that gathers batches, hands them to the
//! function or flow, and settles each message by the outcome. Up to `max_concurrency` batches
//! of a queue run at once; every node sharing the store consumes, and the store's leases keep a
//! message in one batch at a time.

use crate::config::{Consumer, QueueConfig};
use crate::event::{self, Retry};
use crate::queues::{Queues, now_ms};
use serde_json::{Value, json};
use sluice_engine::invoke::{InvokeRequest, Invoker, Target, TaskError};
use sluice_engine::queue::{QueueMessage, Settle, Settlement};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};

/// The shortest and longest pause between looks at an empty queue (a send through this process
/// wakes the consumer at once).
const MIN_POLL: Duration = Duration::from_millis(20);
const MAX_POLL: Duration = Duration::from_secs(1);
/// How long stopping waits for batches in flight.
const DRAIN: Duration = Duration::from_secs(30);

/// What a [`FlowStarter`] call answers, later.
pub type Pending<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send>>;

/// Starts executions for flow consumers and schedules: `start(flow, name, input)` returns once
/// the execution is durable (or was started before under that name with that input).
pub trait FlowStarter: Send + Sync {
    /// Starts `flow` as execution `name` with `input`.
    fn start(&self, flow: &str, name: &str, input: Value) -> Pending<()>;
    /// The names of the running executions of `flow` (root executions only).
    fn running(&self, flow: &str) -> Pending<Vec<String>>;
    /// Stops the running execution `name` (`ExecutionAborted`) with `cause`.
    fn stop(&self, name: &str, cause: &str) -> Pending<()>;
}

/// What the consumers call.
#[derive(Clone)]
pub struct Targets {
    /// Functions, as Tasks call them.
    pub functions: Arc<dyn Invoker>,
    /// Flows.
    pub flows: Arc<dyn FlowStarter>,
}

/// The running consumers of a node.
pub struct Consumers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Consumers {
    /// Starts a consumer for every queue of `queues` that has one.
    pub fn start(queues: &Queues, targets: Targets, runtime: &tokio::runtime::Handle) -> Consumers {
        let (stop, stopped) = watch::channel(false);
        let tasks = queues
            .all()
            .filter(|c| c.consumer.is_some())
            .map(|config| {
                let run = consume(
                    queues.clone(),
                    config.clone(),
                    targets.clone(),
                    stopped.clone(),
                );
                runtime.spawn(run)
            })
            .collect();
        Consumers { stop, tasks }
    }

    /// Stops taking batches and waits (up to 30 s) for the ones in flight to be settled; what
    /// is still leased then comes back when its lease ends.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// One queue's consumer loop. Each round takes every free slot and receives for all of them in
/// one store write, so that a busy queue pays one commit for several batches.
async fn consume(
    queues: Queues,
    config: QueueConfig,
    targets: Targets,
    mut stop: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    let slots = Arc::new(Semaphore::new(config.max_concurrency));
    let mut pause = MIN_POLL;
    while !*stop.borrow() {
        let Ok(first) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut free = vec![first];
        while let Ok(slot) = slots.clone().try_acquire_owned() {
            free.push(slot);
        }
        let messages = match gather(&queues, &config, free.len()).await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(queue = %config.name, error = %e, "receiving failed, will retry");
                Vec::new()
            }
        };
        if messages.is_empty() {
            drop(free);
            tokio::select! {
                _ = queues.woken(&config.name, pause) => {}
                _ = stop.changed() => {}
            }
            pause = (pause * 2).min(MAX_POLL);
            continue;
        }
        pause = MIN_POLL;
        let mut messages = messages.into_iter();
        // Batches in the order received, each on a slot; the slots left over are freed.
        for slot in free {
            let batch: Vec<QueueMessage> = messages.by_ref().take(config.batch_size).collect();
            if batch.is_empty() {
                break;
            }
            let (queues, config, targets) = (queues.clone(), config.clone(), targets.clone());
            tokio::spawn(async move {
                let settlements = run_batch(&config, &targets, &batch).await;
                settle(&queues, &config.name, settlements).await;
                drop(slot);
            });
        }
    }
    // Drain: every slot free means every batch settled.
    let all = u32::try_from(config.max_concurrency).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(DRAIN, slots.acquire_many(all)).await;
}

/// Receives up to `batches` batches in one write: up to `batches * batch_size` messages, and
/// when fewer than a batch came, waits up to `batch_timeout` for that batch to fill.
async fn gather(
    queues: &Queues,
    config: &QueueConfig,
    batches: usize,
) -> Result<Vec<QueueMessage>, String> {
    let mut batch = receive(queues, config, config.batch_size * batches).await?;
    if batch.is_empty() || batch.len() >= config.batch_size {
        return Ok(batch);
    }
    let deadline = Instant::now() + config.batch_timeout;
    while batch.len() < config.batch_size {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        queues.woken(&config.name, left.min(MAX_POLL)).await;
        let more = receive(queues, config, config.batch_size - batch.len()).await?;
        batch.extend(more);
    }
    Ok(batch)
}

async fn receive(
    queues: &Queues,
    config: &QueueConfig,
    max: usize,
) -> Result<Vec<QueueMessage>, String> {
    let store = queues.store().clone();
    let (queue, lease) = (
        config.name.clone(),
        config.visibility_timeout.as_millis() as i64,
    );
    tokio::task::spawn_blocking(move || {
        let now = now_ms();
        store.queue_receive(&queue, max, now, now.saturating_add(lease))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

/// Hands a batch to its consumer and decides what becomes of each message.
async fn run_batch(
    config: &QueueConfig,
    targets: &Targets,
    batch: &[QueueMessage],
) -> Vec<Settlement> {
    let retries: Vec<Retry> = match &config.consumer {
        Some(Consumer::Function(name)) => call_function(config, targets, name, batch).await,
        Some(Consumer::Flow(flow)) => start_flows(targets, flow, batch).await,
        Some(Consumer::Event(name)) => call_each(config, targets, name, batch).await,
        Some(Consumer::Webhook(url)) => post_each(config, targets, url, batch).await,
        None => Vec::new(),
    };
    batch
        .iter()
        .map(|m| {
            let action = match retries.iter().find(|r| r.id == m.id) {
                None => Settle::Delete,
                Some(r) => retry(config, m, r.delay),
            };
            Settlement {
                id: m.id.clone(),
                receive_count: m.receive_count,
                action,
            }
        })
        .collect()
}

/// Calls the function with the batch's SQS event; returns the messages to retry: none on
/// success, those of a partial batch response, every one on an error.
async fn call_function(
    config: &QueueConfig,
    targets: &Targets,
    name: &str,
    batch: &[QueueMessage],
) -> Vec<Retry> {
    let request = InvokeRequest {
        target: Target::Function {
            name: name.to_string(),
            wrap: false,
        },
        resource: format!("sluice:function:{name}"),
        payload: event::sqs_event(&config.name, batch),
        idempotency_key: format!("{}/{}", config.name, batch[0].receipt()),
        execution: event::queue_arn(&config.name),
        timeout_seconds: Some(config.visibility_timeout.as_secs().max(1)),
    };
    match targets.functions.invoke(request).await {
        Ok(result) => event::batch_item_failures(&result),
        Err(TaskError { error, cause }) => {
            tracing::info!(queue = %config.name, %error, %cause, "the consumer failed; the batch is retried");
            batch
                .iter()
                .map(|m| Retry {
                    id: m.id.clone(),
                    delay: None,
                })
                .collect()
        }
    }
}

/// Calls the function once per message, with the message's body as its event; returns the
/// messages whose call failed.
async fn call_each(
    config: &QueueConfig,
    targets: &Targets,
    name: &str,
    batch: &[QueueMessage],
) -> Vec<Retry> {
    let mut failed = Vec::new();
    for m in batch {
        let request = InvokeRequest {
            target: Target::Function {
                name: name.to_string(),
                wrap: false,
            },
            resource: format!("sluice:function:{name}"),
            payload: serde_json::from_str(&m.body).unwrap_or_else(|_| json!({ "body": m.body })),
            idempotency_key: format!("{}/{}", config.name, m.receipt()),
            execution: event::queue_arn(&config.name),
            timeout_seconds: Some(config.visibility_timeout.as_secs().max(1)),
        };
        if let Err(TaskError { error, cause }) = targets.functions.invoke(request).await {
            tracing::info!(queue = %config.name, message = %m.id, %error, %cause, "the delivery failed; it is retried");
            failed.push(Retry {
                id: m.id.clone(),
                delay: None,
            });
        }
    }
    failed
}

/// POSTs each message's body to `url` through the HTTP Task integration, its string
/// attributes as headers; returns the messages whose request failed, each to be retried after
/// [`webhook_backoff`].
async fn post_each(
    config: &QueueConfig,
    targets: &Targets,
    url: &str,
    batch: &[QueueMessage],
) -> Vec<Retry> {
    let mut failed = Vec::new();
    for m in batch {
        let headers: serde_json::Map<String, Value> = m
            .attributes
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(name, a)| Some((name.clone(), a.get("StringValue")?.clone())))
            .collect();
        let request = InvokeRequest {
            target: Target::Integration(HTTP_INVOKE.into()),
            resource: HTTP_INVOKE.into(),
            payload: json!({
                "ApiEndpoint": url,
                "Method": "POST",
                "Headers": headers,
                "RequestBody": m.body,
            }),
            idempotency_key: format!("{}/{}", config.name, m.receipt()),
            execution: event::queue_arn(&config.name),
            timeout_seconds: Some(config.visibility_timeout.as_secs().max(1)),
        };
        if let Err(TaskError { error, cause }) = targets.functions.invoke(request).await {
            tracing::info!(queue = %config.name, message = %m.id, url, %error, %cause, "the HTTP delivery failed; it is retried");
            failed.push(Retry {
                id: m.id.clone(),
                delay: Some(webhook_backoff(m.receive_count)),
            });
        }
    }
    failed
}

/// The HTTP Task integration, which webhook deliveries are made through.
const HTTP_INVOKE: &str = "arn:aws:states:::http:invoke";

/// The longest wait between two tries of an HTTP delivery.
const MAX_WEBHOOK_BACKOFF: Duration = Duration::from_secs(60);

/// How long a failed HTTP delivery waits before its next try: 1 s after the first, doubling
/// up to a minute.
pub fn webhook_backoff(receive_count: u32) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << doublings).min(MAX_WEBHOOK_BACKOFF)
}

/// Starts one execution per message, named by its id, with the body as input (JSON, or
/// `{"body": TEXT}`); returns the messages whose start failed.
async fn start_flows(targets: &Targets, flow: &str, batch: &[QueueMessage]) -> Vec<Retry> {
    let mut failed = Vec::new();
    for m in batch {
        let input = serde_json::from_str(&m.body).unwrap_or_else(|_| json!({ "body": m.body }));
        if let Err(e) = targets.flows.start(flow, &m.id, input).await {
            tracing::info!(flow, message = %m.id, error = %e, "starting the flow failed; the message is retried");
            failed.push(Retry {
                id: m.id.clone(),
                delay: None,
            });
        }
    }
    failed
}

/// What becomes of a message to retry: visible again after its delay, or, out of retries,
/// onto the dead-letter queue or failed.
fn retry(config: &QueueConfig, m: &QueueMessage, delay: Option<Duration>) -> Settle {
    if m.receive_count > config.max_retries {
        return match &config.dead_letter {
            Some(dlq) => Settle::MoveTo(dlq.clone()),
            None => Settle::Fail(format!("failed {} times", m.receive_count)),
        };
    }
    let delay = delay.unwrap_or(config.retry_delay);
    Settle::VisibleAt(now_ms().saturating_add(delay.as_millis() as i64))
}

async fn settle(queues: &Queues, queue: &str, settlements: Vec<Settlement>) {
    match queues.settle(queue, settlements).await {
        Ok(()) => queues.wake(queue),
        Err(e) => {
            tracing::warn!(queue, error = %e, "settling a batch failed; its messages come back when their lease ends")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_retries_wait_longer_each_time_up_to_a_minute() {
        let waits: Vec<u64> = (1..=8).map(|n| webhook_backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(webhook_backoff(u32::MAX), MAX_WEBHOOK_BACKOFF);
    }
}
