//! A Distributed Map run as a pure state machine: [`MapRunState::apply`] takes what happened
//! ([`RunEvent`]) and answers with what to do ([`RunCommand`]), deciding which items start,
//! when failures are too many ([`Tolerance`](super::Tolerance)), how many children run at once
//! and when the run concludes. It does no I/O: the driver reads items, starts children,
//! collects results and commits the record, and feeds back what came of it.
//!
//! Events only record facts; [`RunEvent::Advance`] is where the run decides what to start next,
//! so that a driver can apply several events (children finishing within one step) before it
//! advances the run.

use super::rerun::Rerun;
use super::{ItemTotal, tolerance_exceeded};
use crate::invoke::TaskError;
use crate::model::TaskOutcome;
use crate::store::MapRunRecord;
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};

/// Children running at once when the Map sets no `MaxConcurrency`.
pub const DEFAULT_RUN_CONCURRENCY: usize = 1000;

/// Fewest items asked of the reader at a time, so that small runs still read in large chunks.
const MIN_ITEMS_REQUEST: usize = 1024;

/// One child's input as the reader produced it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadInput {
    /// Items consumed from the source up to and including this child.
    pub consumed: u64,
    /// The input, or why the item could not become one.
    pub input: Result<Value, TaskError>,
}

/// What happened to a run.
#[derive(Clone, Debug)]
pub enum RunEvent {
    /// Decide what to do next: start children, read items, conclude.
    Advance,
    /// The reader produced inputs; `done` when the source has no more, `error` when reading
    /// broke off.
    ItemsRead {
        /// The inputs, in order.
        items: Vec<ReadInput>,
        /// Whether the source is exhausted.
        done: bool,
        /// Why reading stopped, if it failed.
        error: Option<TaskError>,
    },
    /// A child started elsewhere (resumed from the store, or redriven) runs for this run.
    ChildAdopted,
    /// Items of a run with EXPRESS children that did not succeed run again, each as a new
    /// child with its recorded input, as the run's concurrency allows (a redrive). The failures
    /// counted so far are replaced by `unreadable`, the items that could not be read and stay
    /// failed: every other failure runs again.
    ItemsRetried {
        /// Index and input of each item to run again.
        items: Vec<(u64, Value)>,
        /// Failed items that do not run again.
        unreadable: u64,
    },
    /// A child the run asked for could not be started.
    ChildNotStarted(TaskError),
    /// A child finished.
    ChildFinished {
        /// Whether it succeeded.
        succeeded: bool,
    },
    /// A child of a run with EXPRESS children finished; its item is recorded in the next commit.
    ChildRecorded {
        /// The child's index in the run.
        index: u64,
        /// Whether it succeeded.
        succeeded: bool,
    },
    /// The run cannot go on (its items or its processor cannot be had).
    Failed(TaskError),
    /// An ended run is redriven: its failures are forgotten, its unsuccessful children are
    /// adopted again ([`RunEvent::ChildAdopted`]) and its unstarted items run.
    Redriven,
    /// The run's results were collected (or written).
    ResultsCollected(TaskOutcome),
    /// The execution running the Map was stopped: start nothing more, deliver nothing.
    Stop,
}

/// What the driver is to do for a run.
#[derive(Clone, Debug)]
pub enum RunCommand {
    /// Read up to `count` more inputs; a reader not started yet starts after the first `from`
    /// items of the source.
    ReadItems {
        /// Items of the source already taken.
        from: u64,
        /// Inputs wanted.
        count: usize,
    },
    /// Start child `index` with `input`.
    StartChild {
        /// The child's index in the run.
        index: u64,
        /// Its input.
        input: Value,
    },
    /// Record item `index` as failed without a child: it could not be read.
    FailItem {
        /// The item's index in the run.
        index: u64,
        /// Why.
        error: TaskError,
    },
    /// Every child is finished and recorded: collect the results once that is durable.
    CollectResults,
    /// Hand the run's outcome to the Map state.
    Deliver(TaskOutcome),
}

/// A run: its durable record and what is known only while it is live.
#[derive(Clone, Debug)]
pub struct MapRunState {
    /// The durable part, committed with the children it counts.
    pub record: MapRunRecord,
    running: usize,
    buffer: VecDeque<ReadInput>,
    requested: bool,
    exhausted: bool,
    concluding: bool,
    rerun: Rerun,
    retries: VecDeque<(u64, Value)>,
}

/// What applying an event did.
#[derive(Debug, Default)]
pub struct Applied {
    /// What to do, in order.
    pub commands: Vec<RunCommand>,
    /// Whether the durable record changed (and needs a commit).
    pub changed: bool,
}

impl MapRunState {
    /// A run as its record holds it, with no child running yet.
    pub fn new(record: MapRunRecord) -> MapRunState {
        MapRunState {
            record,
            running: 0,
            buffer: VecDeque::new(),
            requested: false,
            exhausted: false,
            concluding: false,
            rerun: Rerun::default(),
            retries: VecDeque::new(),
        }
    }

    /// A run with EXPRESS children resumed after a restart: it starts again at its rerun point
    /// (see [`super::rerun`]), skipping the children in `recorded`, whose items are recorded.
    pub fn resume(mut record: MapRunRecord, recorded: BTreeSet<u64>) -> MapRunState {
        let rerun = Rerun::resume(&mut record.progress, recorded);
        MapRunState {
            rerun,
            ..MapRunState::new(record)
        }
    }

    /// Children running now.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Children allowed to run at once.
    pub fn capacity(&self) -> usize {
        match self.record.spec.max_concurrency {
            0 => DEFAULT_RUN_CONCURRENCY,
            n => n,
        }
    }

    /// Applies `event`: updates the run and says what to do.
    pub fn apply(&mut self, event: RunEvent) -> Applied {
        let before = (self.record.progress.clone(), self.record.done);
        let mut commands = Vec::new();
        match event {
            RunEvent::Advance => self.advance(&mut commands),
            RunEvent::ItemsRead { items, done, error } => {
                self.requested = false;
                self.buffer.extend(items);
                if let Some(e) = error {
                    self.fail(e);
                }
                if done && !self.exhausted {
                    self.exhausted = true;
                    // The total is known now: judge the failures so far against it.
                    self.judge_failures();
                }
            }
            RunEvent::ChildAdopted => self.running += 1,
            RunEvent::ItemsRetried { items, unreadable } => {
                self.record.progress.failed = unreadable;
                self.record.progress.redriving = true;
                self.retries.extend(items);
            }
            RunEvent::ChildNotStarted(e) => {
                self.running = self.running.saturating_sub(1);
                self.fail(e);
            }
            RunEvent::ChildFinished { succeeded } => self.child_finished(succeeded),
            RunEvent::ChildRecorded { index, succeeded } => {
                self.rerun.finished(index);
                self.child_finished(succeeded);
            }
            RunEvent::Failed(e) => self.fail(e),
            RunEvent::Redriven => {
                self.record.done = false;
                self.record.progress.failure = None;
                self.record.progress.failed = 0;
                self.concluding = false;
            }
            RunEvent::ResultsCollected(outcome) => {
                if !self.record.done {
                    self.record.done = true;
                    self.record.progress.redriving = false;
                    commands.push(RunCommand::Deliver(outcome));
                }
            }
            RunEvent::Stop => self.record.done = true,
        }
        if self.record.spec.express {
            self.record.progress.rerun_from = Some(self.rerun.point(&self.record.progress));
        }
        let changed = before != (self.record.progress.clone(), self.record.done);
        Applied { commands, changed }
    }

    /// Starts what may start, asks for items when none are left, concludes when all is done.
    fn advance(&mut self, out: &mut Vec<RunCommand>) {
        while !self.concluding && !self.record.done {
            if self.record.progress.failure.is_some() {
                self.conclude_when_idle(out);
                return;
            }
            if self.running >= self.capacity() {
                return;
            }
            if let Some((index, input)) = self.retries.pop_front() {
                self.running += 1;
                out.push(RunCommand::StartChild { index, input });
                continue;
            }
            let Some(next) = self.buffer.pop_front() else {
                if self.exhausted {
                    self.record.progress.source_done = true;
                    self.conclude_when_idle(out);
                } else if !self.requested {
                    self.requested = true;
                    let count = (self.capacity() * 2).max(MIN_ITEMS_REQUEST);
                    out.push(RunCommand::ReadItems {
                        from: self.record.progress.consumed,
                        count,
                    });
                }
                return;
            };
            let progress = &mut self.record.progress;
            let index = progress.started;
            let before = progress.consumed;
            progress.started += 1;
            progress.consumed = next.consumed;
            if self.rerun.skip(index) {
                continue;
            }
            match next.input {
                Ok(input) => {
                    self.running += 1;
                    if self.record.spec.express {
                        self.rerun.started(index, before);
                    }
                    out.push(RunCommand::StartChild { index, input });
                }
                Err(error) => {
                    self.item_failed();
                    out.push(RunCommand::FailItem { index, error });
                }
            }
        }
    }

    fn conclude_when_idle(&mut self, out: &mut Vec<RunCommand>) {
        if self.running == 0 {
            self.concluding = true;
            out.push(RunCommand::CollectResults);
        }
    }

    fn child_finished(&mut self, succeeded: bool) {
        self.running = self.running.saturating_sub(1);
        if succeeded {
            self.record.progress.succeeded += 1;
        } else {
            self.item_failed();
        }
    }

    /// Counts a failed item and fails the run once failures exceed its tolerance.
    fn item_failed(&mut self) {
        self.record.progress.failed += 1;
        self.judge_failures();
    }

    /// Fails the run if its failures exceed its tolerance, as far as the total is known.
    fn judge_failures(&mut self) {
        let total = if self.exhausted {
            ItemTotal::Known(self.record.progress.started + self.buffer.len() as u64)
        } else {
            ItemTotal::Unknown
        };
        if self
            .record
            .spec
            .tolerance()
            .exceeded(self.record.progress.failed, total)
        {
            self.fail(tolerance_exceeded());
        }
    }

    /// Fails the run with `e` unless it failed already.
    fn fail(&mut self, e: TaskError) {
        self.record.progress.failure.get_or_insert(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map_run::{ItemSource, MapRunSpec, Tolerance};
    use crate::store::MapRunProgress;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde_json::json;
    use std::collections::BTreeSet;

    fn run(max_concurrency: usize, tolerance: Tolerance) -> MapRunState {
        MapRunState::new(MapRunRecord {
            spec: MapRunSpec {
                id: "e/Fan:1".into(),
                arn: "arn".into(),
                state: "Fan".into(),
                label: "Fan".into(),
                source: ItemSource::Inline(Vec::new()),
                selector: None,
                batcher: None,
                max_concurrency,
                tolerated_count: tolerance.count,
                tolerated_percent: tolerance.percent,
                writer: None,
                processor: Vec::new(),
                fdl: false,
                express: false,
            },
            execution: "e".into(),
            path: Vec::new(),
            token: 1,
            progress: MapRunProgress::default(),
            done: false,
        })
    }

    fn inputs(range: std::ops::Range<u64>) -> Vec<ReadInput> {
        range
            .map(|i| ReadInput {
                consumed: i + 1,
                input: Ok(json!(i)),
            })
            .collect()
    }

    fn started(commands: &[RunCommand]) -> Vec<u64> {
        commands
            .iter()
            .filter_map(|c| match c {
                RunCommand::StartChild { index, .. } => Some(*index),
                _ => None,
            })
            .collect()
    }

    fn read(items: Vec<ReadInput>, done: bool) -> RunEvent {
        RunEvent::ItemsRead {
            items,
            done,
            error: None,
        }
    }

    #[test]
    fn a_run_reads_then_starts_no_more_than_its_concurrency() {
        let mut r = run(2, Tolerance::default());
        let first = r.apply(RunEvent::Advance).commands;
        assert!(matches!(
            first[..],
            [RunCommand::ReadItems { from: 0, count }] if count >= 4
        ));
        assert!(r.apply(RunEvent::Advance).commands.is_empty(), "asked once");
        r.apply(read(inputs(0..5), true));
        assert_eq!(started(&r.apply(RunEvent::Advance).commands), [0, 1]);
        r.apply(RunEvent::ChildFinished { succeeded: true });
        assert_eq!(started(&r.apply(RunEvent::Advance).commands), [2]);
        assert_eq!(r.running(), 2);
        assert_eq!(r.record.progress.consumed, 3);
    }

    #[test]
    fn without_tolerance_the_first_failure_stops_the_run_once_its_children_finish() {
        let mut r = run(2, Tolerance::default());
        r.apply(RunEvent::Advance);
        r.apply(read(inputs(0..5), false));
        r.apply(RunEvent::Advance);
        r.apply(RunEvent::ChildFinished { succeeded: false });
        assert!(r.record.progress.failure.is_some());
        assert!(
            r.apply(RunEvent::Advance).commands.is_empty(),
            "one still runs"
        );
        r.apply(RunEvent::ChildFinished { succeeded: true });
        let cmds = r.apply(RunEvent::Advance).commands;
        assert!(matches!(cmds[..], [RunCommand::CollectResults]));
        assert!(r.apply(RunEvent::Advance).commands.is_empty());
        let outcome = TaskOutcome::Ok(json!([]));
        let cmds = r
            .apply(RunEvent::ResultsCollected(outcome.clone()))
            .commands;
        assert!(matches!(cmds[..], [RunCommand::Deliver(_)]));
        assert!(r.record.done);
        let again = r.apply(RunEvent::ResultsCollected(outcome)).commands;
        assert!(again.is_empty(), "delivered once");
    }

    #[test]
    fn an_unreadable_item_fails_without_a_child() {
        let mut r = run(
            0,
            Tolerance {
                count: Some(1),
                percent: None,
            },
        );
        r.apply(RunEvent::Advance);
        let bad = ReadInput {
            consumed: 1,
            input: Err(tolerance_exceeded()),
        };
        r.apply(read(vec![bad], true));
        let cmds = r.apply(RunEvent::Advance).commands;
        assert!(matches!(
            cmds[..],
            [
                RunCommand::FailItem { index: 0, .. },
                RunCommand::CollectResults
            ]
        ));
        assert_eq!(r.record.progress.failed, 1);
        assert!(r.record.progress.failure.is_none(), "one failure tolerated");
        assert!(r.record.progress.source_done);
    }

    #[test]
    fn a_percentage_is_judged_when_the_source_ends() {
        let mut r = run(
            0,
            Tolerance {
                count: None,
                percent: Some(50.0),
            },
        );
        r.apply(RunEvent::Advance);
        r.apply(read(inputs(0..2), false));
        r.apply(RunEvent::Advance);
        r.apply(RunEvent::ChildFinished { succeeded: false });
        r.apply(RunEvent::ChildFinished { succeeded: false });
        assert!(r.record.progress.failure.is_none(), "more items may come");
        r.apply(read(inputs(2..3), true));
        assert!(r.record.progress.failure.is_some(), "2 of 3 failed");
    }

    #[test]
    fn a_stopped_run_starts_and_delivers_nothing() {
        let mut r = run(0, Tolerance::default());
        r.apply(RunEvent::Advance);
        r.apply(read(inputs(0..3), true));
        assert!(r.apply(RunEvent::Stop).changed);
        assert!(r.apply(RunEvent::Advance).commands.is_empty());
        let cmds = r.apply(RunEvent::ResultsCollected(TaskOutcome::Ok(json!([]))));
        assert!(cmds.commands.is_empty());
    }

    #[test]
    fn a_redriven_run_forgets_its_failures_and_concludes_again() {
        let mut r = run(2, Tolerance::default());
        r.apply(RunEvent::Advance);
        r.apply(read(inputs(0..1), true));
        r.apply(RunEvent::Advance);
        r.apply(RunEvent::ChildFinished { succeeded: false });
        r.apply(RunEvent::Advance);
        r.apply(RunEvent::ResultsCollected(TaskOutcome::Ok(json!(null))));
        let mut again = MapRunState::new(r.record.clone());
        again.apply(RunEvent::Redriven);
        again.apply(RunEvent::ChildAdopted);
        assert!(!again.record.done && again.record.progress.failure.is_none());
        assert_eq!(again.record.progress.failed, 0);
        assert!(matches!(
            again.apply(RunEvent::Advance).commands[..],
            [RunCommand::ReadItems { from: 1, .. }]
        ));
        again.apply(read(Vec::new(), true));
        again.apply(RunEvent::ChildFinished { succeeded: true });
        assert!(matches!(
            again.apply(RunEvent::Advance).commands[..],
            [RunCommand::CollectResults]
        ));
        assert!(again.record.progress.failure.is_none());
    }

    #[test]
    fn a_redriven_express_run_retries_its_failed_items_within_its_concurrency() {
        let mut r = run(2, Tolerance::default());
        r.record.spec.express = true;
        r.record.progress = MapRunProgress {
            started: 6,
            consumed: 6,
            succeeded: 2,
            failed: 4,
            source_done: true,
            ..MapRunProgress::default()
        };
        r.record.done = true;
        let mut again = MapRunState::new(r.record.clone());
        again.apply(RunEvent::Redriven);
        let retried = (0..3).map(|i| (i * 2, json!(i))).collect();
        let applied = again.apply(RunEvent::ItemsRetried {
            items: retried,
            unreadable: 1,
        });
        assert!(applied.changed && again.record.progress.redriving);
        assert_eq!(
            again.record.progress.failed, 1,
            "the unreadable item stays failed"
        );
        assert_eq!(started(&again.apply(RunEvent::Advance).commands), [0, 2]);
        again.apply(RunEvent::ChildRecorded {
            index: 0,
            succeeded: true,
        });
        let next = again.apply(RunEvent::Advance).commands;
        assert!(matches!(
            next[..],
            [RunCommand::StartChild { index: 4, ref input }] if *input == json!(2)
        ));
        for index in [2, 4] {
            again.apply(RunEvent::ChildRecorded {
                index,
                succeeded: true,
            });
        }
        assert!(matches!(
            again.apply(RunEvent::Advance).commands[..],
            [RunCommand::ReadItems { from: 6, .. }]
        ));
        again.apply(read(Vec::new(), true));
        assert!(matches!(
            again.apply(RunEvent::Advance).commands[..],
            [RunCommand::CollectResults]
        ));
        assert!(
            again.record.progress.failure.is_some(),
            "the unreadable item fails the run again"
        );
        again.apply(RunEvent::ResultsCollected(TaskOutcome::Ok(json!(null))));
        assert!(again.record.done && !again.record.progress.redriving);
        assert_eq!(again.record.progress.succeeded, 5);
    }

    /// Drives a run through a random interleaving of reads and child outcomes and checks the
    /// invariants of every step and of the end.
    fn simulate(rng: &mut StdRng) {
        let total = rng.random_range(0..40u64);
        let unreadable: BTreeSet<u64> = (0..total).filter(|_| rng.random_bool(0.05)).collect();
        let fail_rate = rng.random_range(0.0..0.5);
        let capacity = rng.random_range(1..6usize);
        let tolerance = Tolerance {
            count: rng.random_bool(0.5).then(|| rng.random_range(0..5)),
            percent: rng.random_bool(0.5).then(|| rng.random_range(0.0..60.0)),
        };
        let mut r = run(capacity, tolerance);
        let mut next_item = 0u64;
        let mut pending_read: Option<usize> = None;
        let mut running: Vec<u64> = Vec::new();
        let mut seen = BTreeSet::new();
        let (mut failed, mut collected, mut delivered) = (0u64, false, 0);
        let mut events = vec![RunEvent::Advance];
        for _ in 0..10_000 {
            for event in events.drain(..) {
                let finishing = matches!(event, RunEvent::ResultsCollected(_));
                for cmd in r.apply(event).commands {
                    match cmd {
                        RunCommand::ReadItems { from, count } => {
                            assert!(pending_read.is_none(), "one read at a time");
                            assert_eq!(from, next_item);
                            pending_read = Some(count);
                        }
                        RunCommand::StartChild { index, .. } => {
                            assert!(seen.insert(index), "item {index} started twice");
                            assert!(!unreadable.contains(&index));
                            running.push(index);
                        }
                        RunCommand::FailItem { index, .. } => {
                            assert!(seen.insert(index), "item {index} started twice");
                            assert!(unreadable.contains(&index));
                            failed += 1;
                        }
                        RunCommand::CollectResults => {
                            assert!(running.is_empty() && !collected);
                            collected = true;
                        }
                        RunCommand::Deliver(_) => {
                            assert!(collected && finishing);
                            delivered += 1;
                        }
                    }
                }
                assert!(running.len() <= capacity, "over MaxConcurrency");
                assert_eq!(r.running(), running.len());
            }
            if delivered > 0 {
                break;
            }
            // What happens next: a read answered, a child finished, or the results collected.
            let mut choices = Vec::new();
            if pending_read.is_some() {
                choices.push(0);
            }
            if !running.is_empty() {
                choices.push(1);
            }
            if collected {
                choices.push(2);
            }
            assert!(!choices.is_empty(), "the run is stuck");
            match choices[rng.random_range(0..choices.len())] {
                0 => {
                    let want = pending_read.take().unwrap_or(0);
                    let n = rng.random_range(1..=want).min((total - next_item) as usize);
                    let items = (next_item..next_item + n as u64)
                        .map(|i| ReadInput {
                            consumed: i + 1,
                            input: if unreadable.contains(&i) {
                                Err(tolerance_exceeded())
                            } else {
                                Ok(json!(i))
                            },
                        })
                        .collect();
                    next_item += n as u64;
                    let done = next_item == total;
                    events.push(read(items, done));
                }
                1 => {
                    let at = rng.random_range(0..running.len());
                    running.swap_remove(at);
                    let succeeded = !rng.random_bool(fail_rate);
                    failed += u64::from(!succeeded);
                    events.push(RunEvent::ChildFinished { succeeded });
                }
                _ => {
                    let outcome = TaskOutcome::Ok(json!(null));
                    events.push(RunEvent::ResultsCollected(outcome));
                }
            }
            events.push(RunEvent::Advance);
        }
        assert_eq!(delivered, 1, "the outcome is delivered once");
        let p = &r.record.progress;
        assert_eq!(p.started, seen.len() as u64);
        assert_eq!(
            seen,
            (0..p.started).collect(),
            "indexes in order, none skipped"
        );
        assert_eq!(p.failed, failed);
        assert_eq!(
            p.succeeded + p.failed,
            p.started,
            "every started item finished"
        );
        let exceeded = tolerance.exceeded(failed, ItemTotal::Known(p.started));
        assert_eq!(
            p.failure.is_some(),
            exceeded,
            "{tolerance:?} {failed}/{}",
            p.started
        );
        if !exceeded {
            assert_eq!(p.started, total, "every item started");
            assert!(p.source_done);
        }
    }

    /// Drives a run with EXPRESS children through reads, children finishing and restarts that
    /// lose the children in flight; every item must end up recorded exactly once.
    fn simulate_express(rng: &mut StdRng) {
        let total = rng.random_range(0..60u64);
        let unreadable: BTreeSet<u64> = (0..total).filter(|_| rng.random_bool(0.05)).collect();
        let tolerance = Tolerance {
            count: Some(u64::MAX),
            percent: None,
        };
        let mut r = run(rng.random_range(1..6usize), tolerance);
        r.record.spec.express = true;
        let mut recorded = std::collections::BTreeMap::<u64, u32>::new();
        let (mut reading, mut running): (Option<(u64, usize)>, Vec<u64>) = (None, Vec::new());
        let mut events = vec![RunEvent::Advance];
        let mut delivered = false;
        for _ in 0..10_000 {
            for event in std::mem::take(&mut events) {
                for cmd in r.apply(event).commands {
                    match cmd {
                        RunCommand::ReadItems { from, count } => reading = Some((from, count)),
                        RunCommand::StartChild { index, .. } => running.push(index),
                        RunCommand::FailItem { index, .. } => {
                            *recorded.entry(index).or_default() += 1
                        }
                        RunCommand::CollectResults => {
                            events.push(RunEvent::ResultsCollected(TaskOutcome::Ok(json!(null))))
                        }
                        RunCommand::Deliver(_) => delivered = true,
                    }
                }
            }
            if delivered {
                break;
            }
            if !events.is_empty() {
                continue;
            }
            match rng.random_range(0..4) {
                // The process dies: what is committed is the record and the items recorded.
                0 => {
                    let kept = recorded.keys().copied().collect();
                    r = MapRunState::resume(r.record.clone(), kept);
                    (reading, running) = (None, Vec::new());
                }
                1 | 2 if !running.is_empty() => {
                    let index = running.swap_remove(rng.random_range(0..running.len()));
                    *recorded.entry(index).or_default() += 1;
                    let succeeded = rng.random_bool(0.8);
                    events.push(RunEvent::ChildRecorded { index, succeeded });
                }
                _ => {
                    if let Some((from, count)) = reading.take() {
                        let n = rng.random_range(1..=count).min((total - from) as usize) as u64;
                        let items = (from..from + n)
                            .map(|i| ReadInput {
                                consumed: i + 1,
                                input: if unreadable.contains(&i) {
                                    Err(tolerance_exceeded())
                                } else {
                                    Ok(json!(i))
                                },
                            })
                            .collect();
                        events.push(read(items, from + n == total));
                    }
                }
            }
            events.push(RunEvent::Advance);
        }
        assert!(delivered, "the run concludes");
        let once: BTreeSet<u64> = recorded
            .iter()
            .filter(|(_, n)| **n == 1)
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(
            once,
            (0..total).collect(),
            "every item recorded exactly once: {recorded:?}"
        );
        let p = &r.record.progress;
        assert_eq!(p.succeeded + p.failed, total);
        assert_eq!(p.started, total);
    }

    #[test]
    fn express_runs_record_every_item_once_across_restarts() {
        for seed in 0..2000 {
            simulate_express(&mut StdRng::seed_from_u64(seed));
        }
    }

    #[test]
    fn random_runs_keep_their_invariants() {
        for seed in 0..2000 {
            simulate(&mut StdRng::seed_from_u64(seed));
        }
    }
}
