//! The durations of a function's most recent invocations, for its percentiles.

use std::collections::VecDeque;
use std::time::Duration;

/// How many durations are kept: the percentiles describe the most recent invocations.
pub const KEPT: usize = 1024;

/// A bounded window of invocation durations.
#[derive(Debug, Default)]
pub struct Latencies {
    recent: VecDeque<Duration>,
}

impl Latencies {
    /// Adds one invocation's duration, forgetting the oldest beyond [`KEPT`].
    pub fn record(&mut self, took: Duration) {
        if self.recent.len() == KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(took);
    }

    /// The `p`-th percentile (0 to 100) of the kept durations in milliseconds, by the nearest
    /// rank; `None` before the first invocation.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        if self.recent.is_empty() {
            return None;
        }
        let mut sorted: Vec<Duration> = self.recent.iter().copied().collect();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        let at = rank.clamp(1, sorted.len()) - 1;
        Some(sorted[at].as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank_of_the_recent_durations() {
        let mut l = Latencies::default();
        assert_eq!(l.percentile_ms(50.0), None);
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.percentile_ms(50.0), Some(50.0));
        assert_eq!(l.percentile_ms(99.0), Some(99.0));
        assert_eq!(l.percentile_ms(100.0), Some(100.0));
    }

    #[test]
    fn only_the_most_recent_are_kept() {
        let mut l = Latencies::default();
        for _ in 0..KEPT {
            l.record(Duration::from_secs(10));
        }
        for _ in 0..KEPT {
            l.record(Duration::from_millis(2));
        }
        assert_eq!(l.percentile_ms(99.0), Some(2.0));
    }
}
