//! Where a map run with EXPRESS children starts again after a restart.
//!
//! EXPRESS children are not stored: only their items are, in the commit of their last step.
//! A child in flight when the process stops is therefore lost, and runs again (at least once,
//! as AWS runs EXPRESS executions). The run's record keeps a [`RerunPoint`]: the first child
//! whose item is not recorded yet, with the items consumed before it. A resumed run reads the
//! source again from there and skips the children recorded since, so that every item ends up
//! recorded once.
//!
//! What is tracked is bounded by the run's concurrency (children in flight), plus, only after a
//! restart, the indexes recorded past the rerun point.

use crate::store::{MapRunProgress, RerunPoint};
use std::collections::{BTreeMap, BTreeSet};

/// The children of an EXPRESS run that are not recorded yet, and those to skip after a restart.
#[derive(Clone, Debug, Default)]
pub struct Rerun {
    /// Children in flight: index, and the items consumed before it.
    in_flight: BTreeMap<u64, u64>,
    /// Children past the rerun point whose items were recorded before the restart.
    recorded: BTreeSet<u64>,
}

impl Rerun {
    /// Rewinds `progress` to its rerun point (if it has one behind it) and returns the tracker
    /// that skips `recorded`, the indexes of the items recorded past that point.
    pub fn resume(progress: &mut MapRunProgress, recorded: BTreeSet<u64>) -> Rerun {
        if let Some(point) = progress.rerun_from
            && point.started < progress.started
        {
            progress.started = point.started;
            progress.consumed = point.consumed;
            progress.source_done = false;
        }
        let recorded = recorded
            .into_iter()
            .filter(|i| *i >= progress.started)
            .collect();
        Rerun {
            in_flight: BTreeMap::new(),
            recorded,
        }
    }

    /// Whether child `index` was recorded before a restart (and is not to run again).
    pub fn skip(&mut self, index: u64) -> bool {
        self.recorded.remove(&index)
    }

    /// Child `index` started, after `consumed` items of the source.
    pub fn started(&mut self, index: u64, consumed: u64) {
        self.in_flight.insert(index, consumed);
    }

    /// Child `index` finished; its item is recorded in the next commit.
    pub fn finished(&mut self, index: u64) {
        self.in_flight.remove(&index);
    }

    /// Where a run at `progress` would start again: its first child in flight, else its next.
    pub fn point(&self, progress: &MapRunProgress) -> RerunPoint {
        match self.in_flight.first_key_value() {
            Some((&started, &consumed)) => RerunPoint { started, consumed },
            None => RerunPoint {
                started: progress.started,
                consumed: progress.consumed,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_point_is_the_oldest_child_in_flight() {
        let mut r = Rerun::default();
        let progress = MapRunProgress {
            started: 5,
            consumed: 9,
            ..MapRunProgress::default()
        };
        assert_eq!(
            r.point(&progress),
            RerunPoint {
                started: 5,
                consumed: 9
            }
        );
        r.started(3, 6);
        r.started(4, 7);
        assert_eq!(
            r.point(&progress),
            RerunPoint {
                started: 3,
                consumed: 6
            }
        );
        r.finished(3);
        assert_eq!(
            r.point(&progress),
            RerunPoint {
                started: 4,
                consumed: 7
            }
        );
        r.finished(4);
        assert_eq!(r.point(&progress).started, 5);
    }

    #[test]
    fn a_resumed_run_rewinds_and_skips_what_was_recorded() {
        let mut progress = MapRunProgress {
            started: 10,
            consumed: 10,
            succeeded: 7,
            source_done: true,
            rerun_from: Some(RerunPoint {
                started: 4,
                consumed: 4,
            }),
            ..MapRunProgress::default()
        };
        let mut r = Rerun::resume(&mut progress, [1, 5, 6, 9].into());
        assert_eq!((progress.started, progress.consumed), (4, 4));
        assert!(!progress.source_done, "the source is read again");
        assert_eq!(progress.succeeded, 7, "recorded items stay counted");
        assert!(!r.skip(1), "before the point: never read again");
        assert!(!r.skip(4));
        assert!(r.skip(5));
        assert!(!r.skip(5), "skipped once");
        assert!(r.skip(9));
    }

    #[test]
    fn a_run_without_a_point_behind_it_is_not_rewound() {
        let mut progress = MapRunProgress {
            started: 3,
            consumed: 3,
            rerun_from: Some(RerunPoint {
                started: 3,
                consumed: 3,
            }),
            ..MapRunProgress::default()
        };
        let mut r = Rerun::resume(&mut progress, BTreeSet::new());
        assert_eq!(progress.started, 3);
        assert!(!r.skip(3));
    }
}
