//! Sinks: where a source's batches go (a function, a queue or a flow), and the [`Sinker`] that
//! gathers messages into batches by size and time and hands each over until it is accepted.

use crate::change::{Change, Kind, Table};
use crate::format::{Format, Writer};
use crate::loader::ServedLoader;
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
use tokio::task::JoinHandle;

/// The first and the longest pause before a failed batch is offered again.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(30);

/// A batch of changes, in source order.
#[derive(Debug)]
pub struct Batch {
    /// The source's name.
    pub source: String,
    /// The format its messages are made in.
    pub format: Format,
    /// The stable id of its first change.
    pub first_id: String,
    /// The stable id of its last change.
    pub last_id: String,
    /// The changes.
    pub changes: Vec<Change>,
    /// The largest batch the source makes (1: one message per call).
    pub batch_size: usize,
}

impl Batch {
    /// The changes' messages, made now.
    pub fn messages(&self) -> Vec<Value> {
        let now = now_ms();
        self.changes
            .iter()
            .map(|c| self.format.message(&self.source, c, now))
            .collect()
    }

    /// Each change's message as JSON text, made now.
    pub fn texts(&self) -> Vec<String> {
        let (now, mut writer) = (now_ms(), Writer::new(self.format));
        self.changes
            .iter()
            .map(|c| {
                let mut text = Vec::with_capacity(512);
                writer.write(&self.source, c, now, &mut text);
                // The writer writes JSON, which is UTF-8.
                String::from_utf8(text).unwrap_or_default()
            })
            .collect()
    }

    /// What a function is called with, as JSON text: the list of messages, or the one message
    /// when the source's `batch_size` is 1.
    pub fn event_text(&self) -> Vec<u8> {
        let (now, mut writer) = (now_ms(), Writer::new(self.format));
        let mut out = Vec::with_capacity(self.changes.len() * 512);
        let single = self.batch_size == 1 && self.changes.len() == 1;
        if !single {
            out.push(b'[');
        }
        for (i, c) in self.changes.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            writer.write(&self.source, c, now, &mut out);
        }
        if !single {
            out.push(b']');
        }
        out
    }
}

/// A future a sink returns.
pub type Delivery = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Where batches go. A batch is accepted when the future ends with `Ok`; a refused one is
/// offered again.
pub trait Sink: Send + Sync {
    /// Hands over `batch`.
    fn deliver(&self, batch: Arc<Batch>) -> Delivery;
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
    fn deliver(&self, batch: Arc<Batch>) -> Delivery {
        let request = InvokeRequest {
            target: Target::Function {
                name: self.function.clone(),
                wrap: false,
            },
            resource: format!("sluice:function:{}", self.function),
            payload: Value::Null,
            idempotency_key: format!("cdc/{}/{}", batch.source, batch.first_id),
            execution: format!("sluice:cdc:{}", batch.source),
            timeout_seconds: None,
        };
        let call = self.functions.invoke_text(request, batch.event_text());
        Box::pin(async move {
            call.await
                .map(|_| ())
                .map_err(|e| format!("{}: {}", e.error, e.cause))
        })
    }
}

/// Applies the batch with a built-in loader function (`postgres-upsert`, `mysql-upsert`)
/// straight from the changes: what a [`FunctionSink`] call with their Canal-JSON messages
/// does, without making and reading the messages.
pub struct LoaderSink {
    /// The loader function.
    pub loader: ServedLoader,
}

impl Sink for LoaderSink {
    fn deliver(&self, batch: Arc<Batch>) -> Delivery {
        let loader = self.loader.clone();
        Box::pin(async move {
            loader
                .apply_changes(&batch.changes)
                .await
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
    fn deliver(&self, batch: Arc<Batch>) -> Delivery {
        let (queues, queue) = (self.queues.clone(), self.queue.clone());
        Box::pin(async move {
            let outgoing = batch
                .texts()
                .into_iter()
                .map(|body| Outgoing {
                    body,
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
    fn deliver(&self, batch: Arc<Batch>) -> Delivery {
        let ids = format!("{}-{}", batch.first_id, batch.last_id);
        let room = 80usize.saturating_sub(ids.len() + 5);
        let source: String = batch.source.chars().take(room).collect();
        let name = format!("cdc-{source}-{ids}");
        let input = json!({ "source": batch.source, "records": batch.messages() });
        self.flows.start(&self.flow, &name, input)
    }
}

/// Gathers a source's changes into batches of up to `batch_size`, or what arrived within
/// `batch_timeout` of a batch's first change, and hands each to the sink until accepted.
///
/// One batch is delivered while the next one fills: [`Sinker::flush`] hands a batch over to a
/// task of its own and returns, after waiting for the batch before it. Each batch carries a
/// mark, the source position that may be stored once it is accepted; the caller learns the
/// marks of accepted batches from `flush` and [`Sinker::accepted`] and stores them, so a
/// position is only stored after every change before it was accepted.
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
    in_flight: Option<JoinHandle<Result<u64, Stopped>>>,
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
            in_flight: None,
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

    /// Whether no change waits to be handed over.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether no change waits and none is being delivered.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.in_flight.is_none()
    }

    /// When the waiting batch must go, if one waits.
    pub fn deadline(&self) -> Option<Instant> {
        self.opened.map(|at| at + self.batch_timeout)
    }

    /// Hands the waiting batch, marked `mark`, to a delivery task that offers it to the sink
    /// again with growing pauses until it is accepted (the error shown in the status
    /// meanwhile), or until `stop`. Waits first for the batch in flight: returns its mark.
    pub async fn flush(
        &mut self,
        mark: u64,
        stop: &watch::Receiver<bool>,
    ) -> Result<Option<u64>, Stopped> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let previous = match self.in_flight.is_some() {
            true => Some(self.accepted().await?),
            false => None,
        };
        let changes = std::mem::replace(
            &mut self.pending,
            Vec::with_capacity(self.batch_size.min(10_000)),
        );
        let (Some(first), Some(last)) = (changes.first(), changes.last()) else {
            return Ok(previous);
        };
        let batch = Arc::new(Batch {
            source: self.source.clone(),
            format: self.format,
            first_id: first.id.to_string(),
            last_id: last.id.to_string(),
            changes,
            batch_size: self.batch_size,
        });
        let reads = std::mem::take(&mut self.reads)
            .into_iter()
            .map(|(t, n)| (t.qualified(), n))
            .fold(BTreeMap::new(), |mut m, (t, n)| {
                *m.entry(t).or_default() += n;
                m
            });
        self.opened = None;
        let delivery = deliver(
            self.sink.clone(),
            batch,
            self.status.clone(),
            reads,
            stop.clone(),
        );
        self.in_flight = Some(tokio::spawn(async move { delivery.await.map(|()| mark) }));
        Ok(previous)
    }

    /// Waits until the batch in flight is accepted and returns its mark; never ends when none
    /// is in flight. Cancelling the wait keeps the batch in flight.
    pub async fn accepted(&mut self) -> Result<u64, Stopped> {
        let Some(task) = self.in_flight.as_mut() else {
            return std::future::pending().await;
        };
        let outcome = task.await;
        self.in_flight = None;
        outcome.unwrap_or(Err(Stopped))
    }

    /// Hands over the waiting batch and waits until every batch is accepted; returns the mark
    /// of the last one accepted.
    pub async fn drain(
        &mut self,
        mark: u64,
        stop: &watch::Receiver<bool>,
    ) -> Result<Option<u64>, Stopped> {
        let flushed = self.flush(mark, stop).await?;
        if self.in_flight.is_some() {
            return self.accepted().await.map(Some);
        }
        Ok(flushed)
    }
}

/// A batch still in flight when its sinker goes (its source stopped or failed) is abandoned:
/// the next session replays it from the stored position, and must not race it.
impl Drop for Sinker {
    fn drop(&mut self) {
        if let Some(task) = self.in_flight.take() {
            task.abort();
        }
    }
}

/// Offers `batch` to `sink` until it is accepted (the error shown in `status` meanwhile), or
/// until `stop`; counts it in `status` once accepted.
async fn deliver(
    sink: Arc<dyn Sink>,
    batch: Arc<Batch>,
    status: Arc<Status>,
    reads: BTreeMap<String, u64>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Stopped> {
    let mut pause = FIRST_RETRY;
    loop {
        match sink.deliver(batch.clone()).await {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(source = %batch.source, batch = %batch.first_id, error = %e, "the sink refused a batch; it is offered again");
                status.sink_failed(&e);
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
    status.delivered(batch.changes.len() as u64, reads);
    Ok(())
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
        batches: Mutex<Vec<Arc<Batch>>>,
        refuse: Mutex<u32>,
    }

    impl Sink for Recorder {
        fn deliver(&self, batch: Arc<Batch>) -> Delivery {
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

    #[test]
    fn a_function_gets_the_list_of_messages_or_the_one_message_as_text() {
        let batch = |changes: Vec<Change>, batch_size| Batch {
            source: "s".into(),
            format: Format::CanalJson,
            first_id: String::new(),
            last_id: String::new(),
            changes,
            batch_size,
        };
        let read = |text: Vec<u8>| serde_json::from_slice::<Value>(&text).unwrap();
        let two = batch(vec![change(0), change(1)], 10);
        let event = read(two.event_text());
        let without_ts = |mut v: Value| {
            for m in v.as_array_mut().into_iter().flatten() {
                m["ts"] = Value::Null;
            }
            v
        };
        assert_eq!(
            without_ts(event),
            without_ts(Value::Array(two.messages())),
            "the list"
        );
        let texts: Vec<Value> = two.texts().iter().map(|t| read(t.clone().into())).collect();
        assert_eq!(texts.len(), 2);
        assert_eq!(texts[1]["_cdc"]["id"], "00000000000000A0-1");
        let one = read(batch(vec![change(5)], 1).event_text());
        assert_eq!(
            one["_cdc"]["id"], "00000000000000A0-5",
            "the message itself"
        );
        let listed = read(batch(vec![change(5)], 2).event_text());
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "a list of one");
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
        let (_stop, stopped) = watch::channel(false);
        assert!(!sinker.push(change(0)));
        assert!(sinker.deadline().is_some());
        assert!(sinker.push(change(1)), "full at batch_size");
        assert_eq!(
            sinker.flush(7, &stopped).await.unwrap(),
            None,
            "none before"
        );
        assert!(sinker.is_empty() && sinker.deadline().is_none());
        assert!(!sinker.is_idle(), "in flight");
        sinker.push(change(2));
        assert_eq!(
            sinker.flush(8, &stopped).await.unwrap(),
            Some(7),
            "the first batch was accepted before the second was handed over"
        );
        assert_eq!(sinker.accepted().await.unwrap(), 8);
        assert!(sinker.is_idle());
        let batches = sink.batches.lock().unwrap().clone();
        assert_eq!(
            batches.len(),
            2,
            "the first delivered once, after two refusals"
        );
        assert_eq!(batches[0].messages().len(), 2);
        assert_eq!(
            (batches[0].first_id.as_str(), batches[0].last_id.as_str()),
            ("00000000000000A0-0", "00000000000000A0-1")
        );
        assert_eq!(status.events(), 3);
        assert_eq!(status.error(), None, "cleared once accepted");
        assert_eq!(
            sinker.drain(9, &stopped).await.unwrap(),
            None,
            "nothing left"
        );
    }

    /// Never answers; notes when its delivery is dropped.
    struct Hanging(Arc<std::sync::atomic::AtomicBool>);

    struct Dropped(Arc<std::sync::atomic::AtomicBool>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl Sink for Hanging {
        fn deliver(&self, _batch: Arc<Batch>) -> Delivery {
            let guard = Dropped(self.0.clone());
            Box::pin(async move {
                let _guard = guard;
                std::future::pending().await
            })
        }
    }

    #[tokio::test]
    async fn a_batch_in_flight_is_abandoned_with_its_sinker() {
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let status = Arc::new(Status::new("s", "function:f"));
        let mut sinker = Sinker::new(
            "s",
            Format::CanalJson,
            Arc::new(Hanging(dropped.clone())),
            1,
            Duration::from_secs(60),
            status,
        );
        let (_stop, stopped) = watch::channel(false);
        sinker.push(change(0));
        assert_eq!(sinker.flush(1, &stopped).await.unwrap(), None);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !dropped.load(std::sync::atomic::Ordering::SeqCst),
            "in flight"
        );
        drop(sinker);
        for _ in 0..100 {
            if dropped.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the delivery outlived its sinker");
    }

    #[tokio::test]
    async fn a_stop_while_refused_accepts_nothing() {
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
        let (stop, stopped) = watch::channel(false);
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = stop.send(true);
            stop
        });
        assert!(sinker.drain(1, &stopped).await.is_err(), "no mark to store");
        let _stop = stopper.await.unwrap();
        assert_eq!(status.events(), 0);
        assert!(status.error().unwrap().contains("down"));
        assert!(sink.batches.lock().unwrap().is_empty());
    }
}
