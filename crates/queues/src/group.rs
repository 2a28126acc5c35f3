//! Group commit of queue writes (sends, settlements): writes that arrive while another is under
//! way wait, and the next write takes all of them, so that concurrent callers share one
//! transaction (and its fsync). Each caller is still answered only once its part is durable, and
//! a failed write fails every caller in it, none of whose parts were kept.

use sluice_engine::store::{Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The most items one write takes (a part larger than this is written alone).
const MAX_GROUP: usize = 10_000;

/// How a group's items are written onto one queue, in one transaction.
pub(crate) type Write<T> = fn(&dyn Store, &str, &[T]) -> Result<(), StoreError>;

/// A part waiting to be written.
struct Waiting<T> {
    ticket: u64,
    queue: String,
    items: Vec<T>,
}

struct State<T> {
    waiting: Vec<Waiting<T>>,
    /// Whether a sender is writing a group.
    writing: bool,
    /// Outcomes of written sends not yet collected, by ticket.
    done: HashMap<u64, Result<(), StoreError>>,
    next: u64,
}

/// Writes the parts of many threads in shared transactions.
pub(crate) struct GroupCommit<T> {
    state: Mutex<State<T>>,
    written: Condvar,
    write: Write<T>,
}

impl<T> GroupCommit<T> {
    /// Group commits that write with `write`.
    pub(crate) fn new(write: Write<T>) -> Self {
        GroupCommit {
            state: Mutex::new(State {
                waiting: Vec::new(),
                writing: false,
                done: HashMap::new(),
                next: 0,
            }),
            written: Condvar::new(),
            write,
        }
    }

    /// Writes `items` onto `queue` with the parts waiting beside it; returns once they are
    /// durable.
    pub(crate) fn write(
        &self,
        store: &dyn Store,
        queue: &str,
        items: Vec<T>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let ticket = state.next;
        state.next += 1;
        state.waiting.push(Waiting {
            ticket,
            queue: queue.to_string(),
            items,
        });
        loop {
            if let Some(outcome) = state.done.remove(&ticket) {
                return outcome;
            }
            if state.writing {
                state = self
                    .written
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // No write under way: this caller writes what is waiting (its own part included).
            state.writing = true;
            let group = take_group(&mut state.waiting);
            drop(state);
            let outcomes = write(store, group, self.write);
            state = self.lock();
            state.writing = false;
            state.done.extend(outcomes);
            self.written.notify_all();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The oldest waiting parts, up to [`MAX_GROUP`] items (at least one part).
fn take_group<T>(waiting: &mut Vec<Waiting<T>>) -> Vec<Waiting<T>> {
    let mut total = 0;
    let n = waiting
        .iter()
        .take_while(|w| {
            total += w.items.len();
            total <= MAX_GROUP
        })
        .count()
        .max(1);
    waiting.drain(..n).collect()
}

/// Writes a group, one transaction per queue; every part gets its queue's outcome.
fn write<T>(
    store: &dyn Store,
    group: Vec<Waiting<T>>,
    write_queue: Write<T>,
) -> Vec<(u64, Result<(), StoreError>)> {
    let mut by_queue: BTreeMap<String, (Vec<u64>, Vec<T>)> = BTreeMap::new();
    for w in group {
        let (tickets, items) = by_queue
            .entry(w.queue)
            .or_insert_with(|| (Vec::new(), Vec::new()));
        tickets.push(w.ticket);
        items.extend(w.items);
    }
    let mut outcomes = Vec::new();
    for (queue, (tickets, items)) in by_queue {
        let outcome = write_queue(store, &queue, &items);
        outcomes.extend(tickets.into_iter().map(|t| (t, copy(&outcome))));
    }
    outcomes
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
    use std::sync::Arc;

    fn message(id: String) -> NewMessage {
        NewMessage {
            id,
            body: "b".into(),
            attributes: Value::Null,
            visible_ms: 0,
        }
    }

    #[test]
    fn concurrent_sends_are_all_written_once() {
        let tmp = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(sluice_store::SqliteStore::open(&tmp.path().join("s.db")).unwrap());
        let group: Arc<GroupCommit<NewMessage>> =
            Arc::new(GroupCommit::new(|store, queue, rows| {
                store.queue_send(queue, rows, 1)
            }));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (store, group) = (store.clone(), group.clone());
                std::thread::spawn(move || {
                    for s in 0..40 {
                        let rows = (0..25).map(|m| message(format!("{t}-{s}-{m}"))).collect();
                        let queue = if t % 2 == 0 { "even" } else { "odd" };
                        group.write(&*store, queue, rows).unwrap();
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
        assert!(group.lock().done.is_empty() && group.lock().waiting.is_empty());
    }

    #[test]
    fn groups_are_bounded_but_take_at_least_one_send() {
        let send = |ticket, n| Waiting {
            ticket,
            queue: "q".into(),
            items: (0..n).map(|i| message(format!("{ticket}-{i}"))).collect(),
        };
        let mut waiting = vec![send(0, 6_000), send(1, 4_000), send(2, 1)];
        assert_eq!(take_group(&mut waiting).len(), 2);
        let mut big = vec![send(3, MAX_GROUP + 1), send(4, 1)];
        assert_eq!(take_group(&mut big).len(), 1);
        assert_eq!(big.len(), 1);
    }
}
