//! Group commit of queue writes (sends, settlements): parts from every caller go to one writer
//! thread, which takes all that are waiting and writes them in shared transactions (one per
//! queue, and one `fsync`). Each caller is answered only once its part is durable, and a failed
//! write fails every caller in it, none of whose parts were kept. Async callers wait without
//! holding a thread; blocking callers block.

use sluice_engine::store::{Store, StoreError};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The most items one write takes (a part larger than this is written alone).
const MAX_GROUP: usize = 10_000;
/// Parts waiting for the writer, at most; more callers wait to hand theirs over.
const PARTS_WAITING: usize = 4_096;

/// How a group's items are written onto one queue, in one transaction.
pub(crate) type Write<T> = fn(&dyn Store, &str, &[T]) -> Result<(), StoreError>;

/// Tells a caller how its part went.
type Answer = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A part waiting to be written.
struct Waiting<T> {
    queue: String,
    items: Vec<T>,
    answer: Answer,
}

/// Writes the parts of many callers in shared transactions, on a thread of its own (which ends
/// when the last handle is dropped).
pub(crate) struct GroupCommit<T> {
    parts: mpsc::Sender<Waiting<T>>,
}

impl<T: Send + 'static> GroupCommit<T> {
    /// Group commits into `store` that write with `write`.
    pub(crate) fn new(store: Arc<dyn Store>, write: Write<T>) -> Self {
        let (parts, waiting) = mpsc::channel(PARTS_WAITING);
        std::thread::Builder::new()
            .name("sluice-queue-writes".into())
            .spawn(move || writer(&*store, waiting, write))
            .expect("starting the queue writer thread");
        GroupCommit { parts }
    }

    /// Writes `items` onto `queue` with the parts waiting beside it; returns once they are
    /// durable. Blocking: not for async tasks (see [`GroupCommit::write_async`]).
    pub(crate) fn write(&self, queue: &str, items: Vec<T>) -> Result<(), StoreError> {
        let (tell, told) = std::sync::mpsc::channel();
        let part = Waiting {
            queue: queue.to_string(),
            items,
            answer: Box::new(move |outcome| {
                let _ = tell.send(outcome);
            }),
        };
        self.parts.blocking_send(part).map_err(|_| stopped())?;
        told.recv().unwrap_or_else(|_| Err(stopped()))
    }

    /// Like [`GroupCommit::write`], for async tasks.
    pub(crate) async fn write_async(&self, queue: &str, items: Vec<T>) -> Result<(), StoreError> {
        let (tell, told) = tokio::sync::oneshot::channel();
        let part = Waiting {
            queue: queue.to_string(),
            items,
            answer: Box::new(move |outcome| {
                let _ = tell.send(outcome);
            }),
        };
        self.parts.send(part).await.map_err(|_| stopped())?;
        told.await.unwrap_or_else(|_| Err(stopped()))
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the queue writer stopped".into())
}

/// The writer thread: takes every part waiting (up to [`MAX_GROUP`] items), writes them, answers
/// their callers, and again, until every handle is dropped.
fn writer<T>(store: &dyn Store, mut waiting: mpsc::Receiver<Waiting<T>>, write_queue: Write<T>) {
    while let Some(first) = waiting.blocking_recv() {
        let mut total = first.items.len();
        let mut group = vec![first];
        while total < MAX_GROUP {
            match waiting.try_recv() {
                Ok(part) => {
                    total += part.items.len();
                    group.push(part);
                }
                Err(_) => break,
            }
        }
        write(store, group, write_queue);
    }
}

/// Writes a group, one transaction per queue, and answers every part with its queue's outcome.
/// A panic while writing fails the parts of that queue, not the writer.
fn write<T>(store: &dyn Store, group: Vec<Waiting<T>>, write_queue: Write<T>) {
    let mut by_queue: BTreeMap<String, (Vec<Answer>, Vec<T>)> = BTreeMap::new();
    for w in group {
        let (answers, items) = by_queue
            .entry(w.queue)
            .or_insert_with(|| (Vec::new(), Vec::new()));
        answers.push(w.answer);
        items.extend(w.items);
    }
    for (queue, (answers, items)) in by_queue {
        let outcome = catch_unwind(AssertUnwindSafe(|| write_queue(store, &queue, &items)))
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "writing to queue '{queue}' panicked"
                )))
            });
        for answer in answers {
            answer(copy(&outcome));
        }
    }
}

/// The same outcome for another part of the group.
fn copy(outcome: &Result<(), StoreError>) -> Result<(), StoreError> {
    match outcome {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(m)) => Err(StoreError::Conflict(m.clone())),
        Err(StoreError::Unavailable(m)) => Err(StoreError::Unavailable(m.clone())),
        Err(StoreError::Corrupt(m)) => Err(StoreError::Corrupt(m.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use sluice_engine::queue::NewMessage;

    fn message(id: String) -> NewMessage {
        NewMessage {
            id,
            body: "b".into(),
            attributes: Value::Null,
            visible_ms: 0,
        }
    }

    fn send(store: &dyn Store, queue: &str, rows: &[NewMessage]) -> Result<(), StoreError> {
        store.queue_send(queue, rows, 1)
    }

    #[test]
    fn concurrent_sends_are_all_written_once() {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(sluice_store::SqliteStore::open(&tmp.path().join("s.db")).unwrap());
        let group = Arc::new(GroupCommit::new(store.clone(), send));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let group = group.clone();
                std::thread::spawn(move || {
                    for s in 0..40 {
                        let rows = (0..25).map(|m| message(format!("{t}-{s}-{m}"))).collect();
                        let queue = if t % 2 == 0 { "even" } else { "odd" };
                        group.write(queue, rows).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for queue in ["even", "odd"] {
            assert_eq!(store.queue_stats(queue, 1).unwrap().ready, 4 * 40 * 25);
        }
    }

    #[tokio::test]
    async fn async_writers_are_answered_once_durable() {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(sluice_store::SqliteStore::open(&tmp.path().join("s.db")).unwrap());
        let group = Arc::new(GroupCommit::new(store.clone(), send));
        let tasks: Vec<_> = (0..50)
            .map(|t| {
                let group = group.clone();
                tokio::spawn(async move {
                    let rows = (0..3).map(|m| message(format!("{t}-{m}"))).collect();
                    group.write_async("q", rows).await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(store.queue_stats("q", 1).unwrap().ready, 150);
    }

    #[test]
    fn a_failed_or_panicking_write_fails_its_callers_and_the_writer_goes_on() {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(sluice_store::SqliteStore::open(&tmp.path().join("s.db")).unwrap());
        let group = GroupCommit::new(store.clone(), |store, queue, rows: &[NewMessage]| {
            if queue == "panics" {
                panic!("a bad write");
            }
            store.queue_send(queue, rows, 1)
        });
        let e = group
            .write("panics", vec![message("p".into())])
            .unwrap_err();
        assert!(e.to_string().contains("panicked"), "{e}");
        group.write("fine", vec![message("f".into())]).unwrap();
        assert_eq!(store.queue_stats("fine", 1).unwrap().ready, 1);
    }
}
