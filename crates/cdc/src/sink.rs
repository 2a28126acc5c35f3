//! Sinks: where a source's batches go (a function, a queue or a flow), and the [`Sinker`] that
//! gathers messages into batches by size and time and hands each over until it is accepted.

use crate::change::{Change, Kind, Table};
use crate::format::Format;
use crate::status::Status;
use serde_json::{Value, json};
use sluice_engine::invoke::{InvokeRequest, Invoker, Target};
use sluice_queues::{FlowStarter, Outgoing, Queues};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// The first and the longest pause before a failed batch is offered again.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(30);

/// A batch of messages, in source order.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The source's name.
    pub source: String,
    /// The stable id of its first change.
    pub first_id: String,
    /// The stable id of its last change.
    pub last_id: String,
    /// The messages.
    pub messages: Vec<Value>,
    /// The largest batch the source makes (1: one message per call).
    pub batch_size: usize,
}

/// A future a sink returns.
pub type Delivery = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Where batches go. A batch is accepted when the future ends with `Ok`.
pub trait Sink: Send + Sync {
    /// Hands over `batch`.
    fn deliver(&self, batch: Batch) -> Delivery;
}

/// Calls a function with the batch: the list of messages, or the one message when the source's
/// `batch_size` is 1.
pub struct FunctionSink {
    /// The functions.
    pub functions: Arc<dyn Invoker>,
    /// The function called.
    pub function: String,
}

impl Sink for FunctionSink {
    fn deliver(&self, batch: Batch) -> Delivery {
        let payload = if batch.batch_size == 1 && batch.messages.len() == 1 {
            batch.messages.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(batch.messages)
        };
        let request = InvokeRequest {
            target: Target::Function {
                name: self.function.clone(),
                wrap: false,
            },
            resource: format!("sluice:function:{}", self.function),
            payload,
            idempotency_key: format!("cdc/{}/{}", batch.source, batch.first_id),
            execution: format!("sluice:cdc:{}", batch.source),
            timeout_seconds: None,
        };
        let call = self.functions.invoke(request);
        Box::pin(async move {
            call.await
                .map(|_| ())
                .map_err(|e| format!("{}: {}", e.error, e.cause))
        })
    }
}

/// Puts one message per change on a queue.
pub struct QueueSink {
    /// The queues.
    pub queues: Queues,
    /// The queue.
    pub queue: String,
}

impl Sink for QueueSink {
    fn deliver(&self, batch: Batch) -> Delivery {
        let (queues, queue) = (self.queues.clone(), self.queue.clone());
        Box::pin(async move {
            let outgoing = batch
                .messages
                .iter()
                .map(|m| Outgoing {
                    body: m.to_string(),
                    attributes: Value::Null,
                    delay: Duration::ZERO,
                })
                .collect();
            let sent = tokio::task::spawn_blocking(move || {
                let sent = queues.send(&queue, outgoing);
                if sent.is_ok() {
                    queues.wake(&queue);
                }
                sent
            })
            .await
            .map_err(|e| e.to_string())?;
            sent.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

/// Starts one execution of a flow per batch, named after the batch's first and last changes
/// (`cdc-SOURCE-FIRST-LAST`, the source's name shortened to keep within 80 characters) so that
/// a replayed batch starts nothing new; its input is `{"source", "records": [messages]}`.
pub struct FlowSink {
    /// The flows.
    pub flows: Arc<dyn FlowStarter>,
    /// The flow started.
    pub flow: String,
}

impl Sink for FlowSink {
    fn deliver(&self, batch: Batch) -> Delivery {
        let ids = format!("{}-{}", batch.first_id, batch.last_id);
        let room = 80usize.saturating_sub(ids.len() + 5);
        let source: String = batch.source.chars().take(room).collect();
        let name = format!("cdc-{source}-{ids}");
        let input = json!({ "source": batch.source, "records": batch.messages });
        self.flows.start(&self.flow, &name, input)
    }
}

/// Gathers a source's changes into batches of up to `batch_size`, or what arrived within
/// `batch_timeout` of a batch's first change, and hands each to the sink until accepted. The
/// messages are made from the waiting changes for each offer, so a batch is never copied.
pub struct Sinker {
    source: String,
    format: Format,
    sink: Arc<dyn Sink>,
    batch_size: usize,
    batch_timeout: Duration,
    status: Arc<Status>,
    pending: Vec<Change>,
    opened: Option<Instant>,
    reads: Vec<(Arc<Table>, u64)>,
}

/// The source was told to stop while a batch waited to be accepted.
#[derive(Debug)]
pub struct Stopped;

impl Sinker {
    /// A sinker for `source`.
    pub fn new(
        source: &str,
        format: Format,
        sink: Arc<dyn Sink>,
        batch_size: usize,
        batch_timeout: Duration,
        status: Arc<Status>,
    ) -> Sinker {
        Sinker {
            source: source.to_string(),
            format,
            sink,
            batch_size: batch_size.max(1),
            batch_timeout,
            status,
            pending: Vec::with_capacity(batch_size.clamp(1, 10_000)),
            opened: None,
            reads: Vec::new(),
        }
    }

    /// Adds a change; true when the batch is full and must be flushed.
    pub fn push(&mut self, change: Change) -> bool {
        if self.pending.is_empty() {
            self.opened = Some(Instant::now());
        }
        if change.kind == Kind::Read {
            let table = &change.table;
            match self.reads.iter_mut().find(|(t, _)| Arc::ptr_eq(t, table)) {
                Some((_, n)) => *n += 1,
                None => self.reads.push((table.clone(), 1)),
            }
        }
        self.pending.push(change);
        self.pending.len() >= self.batch_size
    }

    /// Whether no message waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// When the waiting batch must go, if one waits.
    pub fn deadline(&self) -> Option<Instant> {
        self.opened.map(|at| at + self.batch_timeout)
    }

    /// Hands the waiting batch to the sink, offering it again with growing pauses until it is
    /// accepted (the error shown in the status meanwhile), or until `stop`.
    pub async fn flush(&mut self, stop: &mut watch::Receiver<bool>) -> Result<(), Stopped> {
        let (Some(first), Some(last)) = (self.pending.first(), self.pending.last()) else {
            return Ok(());
        };
        let (first_id, last_id) = (first.id.to_string(), last.id.to_string());
        let mut pause = FIRST_RETRY;
        loop {
            let now = now_ms();
            let batch = Batch {
                source: self.source.clone(),
                first_id: first_id.clone(),
                last_id: last_id.clone(),
                messages: self
                    .pending
                    .iter()
                    .map(|c| self.format.message(&self.source, c, now))
                    .collect(),
                batch_size: self.batch_size,
            };
            match self.sink.deliver(batch).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(source = %self.source, batch = %first_id, error = %e, "the sink refused a batch; it is offered again");
                    self.status.sink_failed(&e);
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => {}
                    }
                    if *stop.borrow() {
                        return Err(Stopped);
                    }
                    pause = (pause * 2).min(LAST_RETRY);
                }
            }
        }
        let reads = std::mem::take(&mut self.reads)
            .into_iter()
            .map(|(t, n)| (t.qualified(), n))
            .fold(BTreeMap::new(), |mut m, (t, n)| {
                *m.entry(t).or_default() += n;
                m
            });
        self.status.delivered(self.pending.len() as u64, reads);
        self.pending.clear();
        self.opened = None;
        Ok(())
    }
}

/// Now, Unix ms.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{BeforeImage, EventId, Table};
    use std::sync::Mutex;

    /// Records batches, refusing the first `refuse` offers.
    struct Recorder {
        batches: Mutex<Vec<Batch>>,
        refuse: Mutex<u32>,
    }

    impl Sink for Recorder {
        fn deliver(&self, batch: Batch) -> Delivery {
            let mut refuse = self.refuse.lock().unwrap();
            if *refuse > 0 {
                *refuse -= 1;
                return Box::pin(async { Err("down".to_string()) });
            }
            self.batches.lock().unwrap().push(batch);
            Box::pin(async { Ok(()) })
        }
    }

    fn change(ordinal: u64) -> Change {
        Change {
            id: EventId {
                position: 0xA0,
                part: 0,
                ordinal,
            },
            txid: Some(1),
            commit_ms: 0,
            table: Arc::new(Table {
                catalog: "db".into(),
                schema: "public".into(),
                name: "t".into(),
                columns: Vec::new(),
            }),
            kind: Kind::Insert,
            after: Vec::new(),
            before: None,
            before_image: BeforeImage::None,
            truncate_options: Vec::new(),
            binlog: None,
            gtid: None,
            ddl: None,
        }
    }

    #[tokio::test]
    async fn batches_fill_to_size_and_a_refused_one_is_offered_again() {
        let sink = Arc::new(Recorder {
            batches: Mutex::new(Vec::new()),
            refuse: Mutex::new(2),
        });
        let status = Arc::new(Status::new("s", "function:f"));
        let mut sinker = Sinker::new(
            "s",
            Format::CanalJson,
            sink.clone(),
            2,
            Duration::from_secs(60),
            status.clone(),
        );
        let (_stop, mut stopped) = watch::channel(false);
        assert!(!sinker.push(change(0)));
        assert!(sinker.deadline().is_some());
        assert!(sinker.push(change(1)), "full at batch_size");
        sinker.flush(&mut stopped).await.unwrap();
        assert!(sinker.is_empty() && sinker.deadline().is_none());
        let batches = sink.batches.lock().unwrap().clone();
        assert_eq!(batches.len(), 1, "delivered once, after two refusals");
        assert_eq!(batches[0].messages.len(), 2);
        assert_eq!(
            (batches[0].first_id.as_str(), batches[0].last_id.as_str()),
            ("00000000000000A0-0", "00000000000000A0-1")
        );
        assert_eq!(status.events(), 2);
        assert_eq!(status.error(), None, "cleared once accepted");
    }

    #[tokio::test]
    async fn a_stop_while_refused_keeps_the_batch() {
        let sink = Arc::new(Recorder {
            batches: Mutex::new(Vec::new()),
            refuse: Mutex::new(u32::MAX),
        });
        let status = Arc::new(Status::new("s", "function:f"));
        let mut sinker = Sinker::new(
            "s",
            Format::CanalJson,
            sink.clone(),
            10,
            Duration::from_secs(60),
            status.clone(),
        );
        sinker.push(change(0));
        let (stop, mut stopped) = watch::channel(false);
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = stop.send(true);
            stop
        });
        assert!(sinker.flush(&mut stopped).await.is_err());
        let _stop = stopper.await.unwrap();
        assert!(!sinker.is_empty(), "nothing was dropped");
        assert!(status.error().unwrap().contains("down"));
        assert!(sink.batches.lock().unwrap().is_empty());
    }
}
