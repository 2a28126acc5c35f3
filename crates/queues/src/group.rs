//! Group commit of sends: sends that arrive while another is being written wait, and the next
//! write takes all of them, so that concurrent senders share one transaction (and its fsync).
//! Each send is still answered only once its messages are durable, and a failed write fails
//! every send in it, none of whose messages were kept.

use sluice_engine::queue::NewMessage;
use sluice_engine::store::{Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The most messages one write takes (a send larger than this is written alone).
const MAX_GROUP: usize = 10_000;

/// A send waiting to be written.
struct Waiting {
    ticket: u64,
    queue: String,
    messages: Vec<NewMessage>,
}

#[derive(Default)]
struct State {
    waiting: Vec<Waiting>,
    /// Whether a sender is writing a group.
    writing: bool,
    /// Outcomes of written sends not yet collected, by ticket.
    done: HashMap<u64, Result<(), StoreError>>,
    next: u64,
}

/// Writes the sends of many threads in shared transactions.
#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    written: Condvar,
}

impl GroupCommit {
    /// Writes `messages` onto `queue` with the sends waiting beside it; returns once they are
    /// durable. `now` gives the send time of a write.
    pub(crate) fn send(
        &self,
        store: &dyn Store,
        queue: &str,
        messages: Vec<NewMessage>,
        now: impl Fn() -> i64,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let ticket = state.next;
        state.next += 1;
        state.waiting.push(Waiting {
            ticket,
            queue: queue.to_string(),
            messages,
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
            // No write under way: this sender writes what is waiting (its own send included).
            state.writing = true;
            let group = take_group(&mut state.waiting);
            drop(state);
            let outcomes = write(store, group, now());
            state = self.lock();
            state.writing = false;
            state.done.extend(outcomes);
            self.written.notify_all();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The oldest waiting sends, up to [`MAX_GROUP`] messages (at least one send).
fn take_group(waiting: &mut Vec<Waiting>) -> Vec<Waiting> {
    let mut total = 0;
    let n = waiting
        .iter()
        .take_while(|w| {
            total += w.messages.len();
            total <= MAX_GROUP
        })
        .count()
        .max(1);
    waiting.drain(..n).collect()
}

/// Writes a group, one transaction per queue; every send gets its queue's outcome.
fn write(
    store: &dyn Store,
    group: Vec<Waiting>,
    now_ms: i64,
) -> Vec<(u64, Result<(), StoreError>)> {
    let mut by_queue: BTreeMap<String, (Vec<u64>, Vec<NewMessage>)> = BTreeMap::new();
    for w in group {
        let (tickets, rows) = by_queue.entry(w.queue).or_default();
        tickets.push(w.ticket);
        rows.extend(w.messages);
    }
    let mut outcomes = Vec::new();
    for (queue, (tickets, rows)) in by_queue {
        let outcome = store.queue_send(&queue, &rows, now_ms);
        outcomes.extend(tickets.into_iter().map(|t| (t, copy(&outcome))));
    }
    outcomes
}

/// The same outcome for another send of the group.
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
        let group = Arc::new(GroupCommit::default());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (store, group) = (store.clone(), group.clone());
                std::thread::spawn(move || {
                    for s in 0..40 {
                        let rows = (0..25).map(|m| message(format!("{t}-{s}-{m}"))).collect();
                        let queue = if t % 2 == 0 { "even" } else { "odd" };
                        group.send(&*store, queue, rows, || 1).unwrap();
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
            messages: (0..n).map(|i| message(format!("{ticket}-{i}"))).collect(),
        };
        let mut waiting = vec![send(0, 6_000), send(1, 4_000), send(2, 1)];
        assert_eq!(take_group(&mut waiting).len(), 2);
        let mut big = vec![send(3, MAX_GROUP + 1), send(4, 1)];
        assert_eq!(take_group(&mut big).len(), 1);
        assert_eq!(big.len(), 1);
    }
}
