//! Due times of Wait states, retry backoffs and execution deadlines, kept in range whatever
//! numbers a definition or its input holds: delays are clamped and epoch-millisecond arithmetic
//! saturates, so no value overflows.

use sluice_lang::ir::Retrier;

/// The longest delay a Wait state or a retry backoff waits, in seconds: the largest number of
/// seconds ASL accepts in timeouts and waits (99999999, a little over three years).
pub(super) const MAX_DELAY_SECONDS: u64 = 99_999_999;

/// The instant `seconds` after `now_ms`, in epoch milliseconds. Negative and NaN delays are
/// none; delays past [`MAX_DELAY_SECONDS`] are cut to it.
pub(super) fn after(now_ms: i64, seconds: f64) -> i64 {
    let seconds = if seconds.is_nan() {
        0.0
    } else {
        seconds.clamp(0.0, MAX_DELAY_SECONDS as f64)
    };
    now_ms.saturating_add((seconds * 1000.0) as i64)
}

/// The instant a whole number of seconds after `now_ms`, in epoch milliseconds, saturating.
pub(super) fn after_whole(now_ms: i64, seconds: u64) -> i64 {
    let ms = i64::try_from(seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    now_ms.saturating_add(ms)
}

/// The delay before the retry that follows `attempt` earlier retries, in seconds:
/// `IntervalSeconds × BackoffRate^attempt`, capped by `MaxDelaySeconds` and by
/// [`MAX_DELAY_SECONDS`]. With full jitter the delay is scaled by `jitter`, a draw from `[0, 1]`.
pub(super) fn retry_delay(retrier: &Retrier, attempt: u32, jitter: f64) -> f64 {
    let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
    let delay = retrier.interval_seconds * retrier.backoff_rate.powi(exponent);
    // 0 × ∞ is NaN: no interval means no delay, however large the rate.
    let delay = if delay.is_nan() { 0.0 } else { delay };
    let cap = retrier
        .max_delay_seconds
        .unwrap_or(f64::INFINITY)
        .min(MAX_DELAY_SECONDS as f64);
    let delay = delay.min(cap).max(0.0);
    if retrier.jitter_full {
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        delay * jitter
    } else {
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_MS: i64 = MAX_DELAY_SECONDS as i64 * 1000;

    fn retrier(interval: f64, rate: f64, cap: Option<f64>, full: bool) -> Retrier {
        Retrier {
            error_equals: vec!["States.ALL".into()],
            interval_seconds: interval,
            max_attempts: u32::MAX,
            backoff_rate: rate,
            max_delay_seconds: cap,
            jitter_full: full,
        }
    }

    const EXTREMES: [f64; 14] = [
        0.0,
        -0.0,
        1e-300,
        0.5,
        1.0,
        2.0,
        99_999_999.0,
        1e18,
        1e300,
        f64::MAX,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -1e18,
    ];
    const NOWS: [i64; 5] = [i64::MIN, -1, 0, 1_700_000_000_000, i64::MAX];

    #[test]
    fn a_huge_backoff_rate_with_full_jitter_is_capped() {
        let r = retrier(1.0, f64::MAX, None, true);
        for attempt in [0, 1, 2, 1000, u32::MAX] {
            for jitter in [0.0, 0.5, 1.0] {
                let delay = retry_delay(&r, attempt, jitter);
                assert!(
                    (0.0..=MAX_DELAY_SECONDS as f64).contains(&delay),
                    "attempt {attempt}: {delay}"
                );
            }
        }
        let r = retrier(1.0, f64::MAX, None, false);
        assert_eq!(retry_delay(&r, 5, 0.0), MAX_DELAY_SECONDS as f64);
    }

    #[test]
    fn backoff_follows_the_spec_below_the_caps() {
        let r = retrier(3.0, 2.0, Some(20.0), false);
        let delays: Vec<f64> = (0..5).map(|a| retry_delay(&r, a, 0.0)).collect();
        assert_eq!(delays, [3.0, 6.0, 12.0, 20.0, 20.0]);
        let jittered = retrier(3.0, 2.0, Some(20.0), true);
        assert_eq!(retry_delay(&jittered, 2, 0.5), 6.0);
        assert_eq!(retry_delay(&jittered, 2, 0.0), 0.0);
        let none = retrier(0.0, f64::MAX, None, false);
        assert_eq!(retry_delay(&none, 1000, 1.0), 0.0, "0 × ∞ is no delay");
    }

    #[test]
    fn wait_due_times_saturate() {
        assert_eq!(after(1_000, 1e18), 1_000 + MAX_MS);
        assert_eq!(after(1_000, -5.0), 1_000);
        assert_eq!(after(1_000, f64::NAN), 1_000);
        assert_eq!(after(1_000, 1.5), 2_500);
        assert_eq!(after(i64::MAX, 1e18), i64::MAX);
        assert_eq!(after_whole(1_000, 2), 3_000);
        assert_eq!(after_whole(1_000, u64::MAX), i64::MAX);
        assert_eq!(after_whole(i64::MAX - 1, 1), i64::MAX);
    }

    /// Every combination of extreme numbers: no panic, and every delay within its bounds.
    #[test]
    fn extreme_numbers_never_overflow() {
        let attempts = [
            0,
            1,
            2,
            63,
            64,
            1_000,
            99_999_999,
            i32::MAX as u32,
            u32::MAX,
        ];
        let caps = EXTREMES.iter().map(|c| Some(*c)).chain([None]);
        for cap in caps {
            for interval in EXTREMES {
                for rate in EXTREMES {
                    for full in [false, true] {
                        let r = retrier(interval, rate, cap, full);
                        for attempt in attempts {
                            for jitter in [0.0, 0.3, 1.0, f64::NAN, 7.0] {
                                let delay = retry_delay(&r, attempt, jitter);
                                assert!(
                                    (0.0..=MAX_DELAY_SECONDS as f64).contains(&delay),
                                    "{r:?} attempt {attempt} jitter {jitter}: {delay}"
                                );
                                for now in NOWS {
                                    let due = after(now, delay);
                                    assert!(due >= now && due <= now.saturating_add(MAX_MS));
                                }
                            }
                        }
                    }
                }
            }
        }
        for now in NOWS {
            for seconds in EXTREMES {
                let due = after(now, seconds);
                assert!(
                    due >= now && due <= now.saturating_add(MAX_MS),
                    "{now} {seconds}"
                );
            }
            for seconds in [0, 1, MAX_DELAY_SECONDS, i64::MAX as u64, u64::MAX] {
                assert!(after_whole(now, seconds) >= now);
            }
        }
    }
}
