//! Schedules of `cron` triggers: five-field cron expressions (minute, hour, day of month, month,
//! day of week; `*`, lists, ranges and steps) read in UTC or in an IANA time zone, the
//! `@hourly`-style aliases and `@every DURATION`, and the scheduler that fires them once per due
//! time across every node sharing the store.
//!
//! In a time zone, an expression matches wall-clock times: a time that a daylight-saving change
//! skips does not fire that day, and a time that the change repeats fires once, at its first
//! occurrence.

use crate::consumer::Targets;
use crate::deliver::{Delivery, deliver};
use crate::queues::{Queues, now_ms};
use crate::triggers::{CronTrigger, Missed, Overlap, Target};
use chrono::{DateTime, Datelike, LocalResult, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// When a trigger fires.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// A cron expression, matched against wall-clock time in a zone.
    Cron(Fields, Tz),
    /// At a fixed interval from when the node first saw the trigger.
    Every(Duration),
}

/// The matching values of each cron field, as bit sets.
#[derive(Clone, Debug, PartialEq)]
pub struct Fields {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Whether day of month and day of week were both restricted (then either matches).
    either_day: bool,
}

impl Schedule {
    /// Reads a schedule in UTC; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        Schedule::parse_in(text, None)
    }

    /// Reads a schedule whose cron expression is read in the IANA time zone `zone`
    /// (`Europe/Berlin`; UTC when `None`); the error says what is wrong.
    pub fn parse_in(text: &str, zone: Option<&str>) -> Result<Schedule, String> {
        let text = text.trim();
        let expr = match text {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            _ => text,
        };
        if let Some(every) = expr.strip_prefix("@every") {
            if zone.is_some() {
                return Err(format!(
                    "'{text}' runs at a fixed interval, which a time zone does not change"
                ));
            }
            return every_duration(every.trim()).map(Schedule::Every);
        }
        let zone = match zone {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                format!("'{name}' is not an IANA time zone (such as UTC, Europe/Berlin or America/New_York)")
            })?,
        };
        Ok(Schedule::Cron(Fields::parse(text, expr)?, zone))
    }

    /// The first firing time after `after_ms` (epoch ms), or `None` when it never fires
    /// again (such as February 30).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match self {
            Schedule::Every(every) => Some(after_ms + every.as_millis().max(1) as i64),
            Schedule::Cron(f, zone) => f.next_after(after_ms, zone),
        }
    }
}

impl Fields {
    /// Reads the five fields of `expr` (`text` as written, for messages).
    fn parse(text: &str, expr: &str) -> Result<Fields, String> {
        let parts: Vec<&str> = expr.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = parts.as_slice() else {
            return Err(format!(
                "'{text}' is not a schedule: expected five fields (minute hour day month weekday), an alias such as @daily, or @every 5m"
            ));
        };
        let field = |f: &str, name: &str, lo: u32, hi: u32| {
            bits(f, lo, hi).map_err(|e| format!("'{text}': {name} field '{f}': {e}"))
        };
        let mut weekdays = field(weekday, "weekday", 0, 7)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        Ok(Fields {
            minutes: field(minute, "minute", 0, 59)?,
            hours: field(hour, "hour", 0, 23)? as u32,
            days: field(day, "day of month", 1, 31)? as u32,
            months: field(month, "month", 1, 12)? as u16,
            weekdays: (weekdays & 0x7f) as u8,
            either_day: *day != "*" && *weekday != "*",
        })
    }

    fn day_matches(&self, t: &NaiveDateTime) -> bool {
        let dom = self.days & (1 << t.day()) != 0;
        let dow = self.weekdays & (1 << t.weekday().num_days_from_sunday()) != 0;
        if self.either_day {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// The first instant after `after_ms` whose wall-clock time in `zone` matches.
    fn next_after(&self, after_ms: i64, zone: &Tz) -> Option<i64> {
        let start = DateTime::from_timestamp_millis(after_ms)?
            .with_timezone(zone)
            .naive_local();
        let mut t = start.with_second(0)?.with_nanosecond(0)? + chrono::Duration::minutes(1);
        // Five years of days is enough for every expression that fires at all.
        let limit = t + chrono::Duration::days(5 * 366);
        while t < limit {
            if self.months & (1 << t.month()) == 0 || !self.day_matches(&t) {
                t = (t + chrono::Duration::days(1))
                    .with_hour(0)?
                    .with_minute(0)?;
            } else if self.hours & (1 << t.hour()) == 0 {
                t = (t + chrono::Duration::hours(1)).with_minute(0)?;
            } else if self.minutes & (1 << t.minute()) == 0 {
                t += chrono::Duration::minutes(1);
            } else {
                let fires = match zone.from_local_datetime(&t) {
                    LocalResult::Single(at) => Some(at.timestamp_millis()),
                    // A repeated wall-clock time fires at its first occurrence only.
                    LocalResult::Ambiguous(first, _) => {
                        Some(first.timestamp_millis()).filter(|ms| *ms > after_ms)
                    }
                    // A skipped wall-clock time does not fire.
                    LocalResult::None => None,
                };
                match fires {
                    Some(ms) => return Some(ms),
                    None => t += chrono::Duration::minutes(1),
                }
            }
        }
        None
    }
}

/// The values of one cron field, `lo..=hi`, as a bit set.
fn bits(field: &str, lo: u32, hi: u32) -> Result<u64, String> {
    let mut set = 0u64;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| format!("bad step '{s}'"))?),
            None => (part, 1),
        };
        if step == 0 {
            return Err("a step must be at least 1".into());
        }
        let (from, to) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (number(a, lo, hi)?, number(b, lo, hi)?),
                None if part.contains('/') => (number(r, lo, hi)?, hi),
                None => {
                    let n = number(r, lo, hi)?;
                    (n, n)
                }
            },
        };
        if from > to {
            return Err(format!("the range {from}-{to} is empty"));
        }
        for v in (from..=to).step_by(step as usize) {
            set |= 1 << v;
        }
    }
    Ok(set)
}

fn number(text: &str, lo: u32, hi: u32) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| format!("'{text}' is not a number from {lo} to {hi}"))
}

/// `@every` durations: `30s`, `5m`, `2h`.
fn every_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("'@every {text}': expected a duration such as 30s, 5m or 2h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => {
            return Err(format!(
                "'@every {text}': expected a duration such as 30s, 5m or 2h"
            ));
        }
    };
    if secs == 0 {
        return Err("'@every' needs a duration longer than 0".into());
    }
    Ok(Duration::from_secs(secs))
}

/// The running schedules of a node.
pub struct Scheduler {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// How often a waiting schedule looks at the store again (another node may have fired it).
const LOOK_AGAIN: Duration = Duration::from_secs(1);
/// A firing found this long after its due time was missed (no node ran then).
const MISSED_AFTER_MS: i64 = 60_000;

impl Scheduler {
    /// Starts every cron trigger.
    pub fn start(
        triggers: Vec<CronTrigger>,
        queues: Queues,
        targets: Targets,
        runtime: &tokio::runtime::Handle,
    ) -> Scheduler {
        let (stop, stopped) = watch::channel(false);
        let tasks = triggers
            .into_iter()
            .map(|t| {
                let run = schedule(
                    Arc::new(t),
                    queues.clone(),
                    targets.clone(),
                    stopped.clone(),
                );
                runtime.spawn(run)
            })
            .collect();
        Scheduler { stop, tasks }
    }

    /// Stops the schedules.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// One trigger's loop: wait for its due time, take it (exactly one node advances the stored
/// due time), fire. Runs missed while no node ran are fired once, for the earliest missed time.
async fn schedule(
    trigger: Arc<CronTrigger>,
    queues: Queues,
    targets: Targets,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let now = now_ms();
        let store = queues.store().clone();
        let name = trigger.name.clone();
        let stored = tokio::task::spawn_blocking(move || store.trigger_next(&name)).await;
        let due = match stored {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                tracing::warn!(trigger = %trigger.name, error = %e, "reading the schedule failed");
                None
            }
            Err(_) => None,
        };
        let wait = match due {
            None => {
                let first = trigger.schedule.next_after(now);
                advance(&queues, &trigger.name, None, first).await;
                Duration::ZERO
            }
            Some(due) if due > now => Duration::from_millis((due - now) as u64).min(LOOK_AGAIN),
            Some(due) => {
                let next = trigger.schedule.next_after(now);
                if advance(&queues, &trigger.name, Some(due), next).await {
                    if trigger.missed == Missed::Skip && now - due > MISSED_AFTER_MS {
                        tracing::info!(trigger = %trigger.name, due, "skipped a firing missed while no node ran");
                    } else {
                        fire(&trigger, &queues, &targets, due).await;
                    }
                }
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// Moves the stored due time from `from` to `to` (`None`: never fires again); whether this
/// node did it.
async fn advance(queues: &Queues, name: &str, from: Option<i64>, to: Option<i64>) -> bool {
    let store = queues.store().clone();
    let name = name.to_string();
    let to = to.unwrap_or(i64::MAX);
    matches!(
        tokio::task::spawn_blocking(move || store.trigger_advance(&name, from, to)).await,
        Ok(Ok(true))
    )
}

/// One firing, for the scheduled time `due`: a flow execution named by the trigger and the
/// time with the trigger's input and `time`, or a message or function call with EventBridge's
/// scheduled event (the input as `detail`).
async fn fire(trigger: &CronTrigger, queues: &Queues, targets: &Targets, due: i64) {
    let time = DateTime::from_timestamp_millis(due)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let event = json!({
        "version": "0",
        "id": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{}@{due}", trigger.name).as_bytes()).to_string(),
        "detail-type": "Scheduled Event",
        "source": "sluice.cron",
        "time": time,
        "resources": [format!("trigger/{}", trigger.name)],
        "detail": trigger.input,
    });
    let mut input = match &trigger.input {
        Value::Object(fields) => Value::Object(fields.clone()),
        Value::Null => json!({}),
        other => json!({ "input": other }),
    };
    input["time"] = json!(time);
    let execution = format!("{}-{}", trigger.name, time.replace(':', ""));
    if let Target::Flow(flow) = &trigger.target {
        match make_room(trigger, flow, targets, &execution).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(trigger = %trigger.name, %time, "skipped: an earlier execution still runs");
                return;
            }
            Err(e) => {
                tracing::warn!(trigger = %trigger.name, %time, error = %e, "firing failed");
                return;
            }
        }
    }
    let delivery = Delivery {
        trigger: trigger.name.clone(),
        event,
        execution,
        input,
        key: format!("trigger/{}/{due}", trigger.name),
    };
    let result = deliver(&trigger.target, queues, targets, delivery).await;
    match result {
        Ok(()) => tracing::info!(trigger = %trigger.name, %time, "fired"),
        Err(e) => tracing::warn!(trigger = %trigger.name, %time, error = %e, "firing failed"),
    }
}

/// Applies the trigger's overlap policy before it starts execution `name` of `flow`: whether
/// to start it (with `cancel`, once the earlier executions were asked to stop).
async fn make_room(
    trigger: &CronTrigger,
    flow: &str,
    targets: &Targets,
    name: &str,
) -> Result<bool, String> {
    if trigger.overlap == Overlap::Allow {
        return Ok(true);
    }
    let earlier: Vec<String> = targets
        .flows
        .running(flow)
        .await?
        .into_iter()
        .filter(|running| running != name && fired_by(&trigger.name, running))
        .collect();
    if earlier.is_empty() {
        return Ok(true);
    }
    if trigger.overlap == Overlap::Skip {
        return Ok(false);
    }
    for running in earlier {
        let cause = format!(
            "replaced by the firing '{name}' of schedule '{}'",
            trigger.name
        );
        targets.flows.stop(&running, &cause).await?;
    }
    Ok(true)
}

/// Whether the execution `name` is one a firing of `trigger` started (`TRIGGER-YYYY-MM-DDTHHMMSSZ`).
fn fired_by(trigger: &str, name: &str) -> bool {
    name.strip_prefix(trigger)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|time| chrono::NaiveDateTime::parse_from_str(time, "%Y-%m-%dT%H%M%SZ").is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    fn next(expr: &str, after: &str) -> String {
        next_in_zone(expr, None, after)
    }

    #[test]
    fn cron_expressions_fire_at_their_next_match() {
        assert_eq!(
            next("*/15 * * * *", "2026-12-06T10:07:30Z"),
            "2026-12-06T10:15:00+00:00"
        );
        assert_eq!(
            next("0 3 * * *", "2026-12-06T03:00:00Z"),
            "2026-12-07T03:00:00+00:00"
        );
        assert_eq!(
            next("30 9 * * 1-5", "2026-12-05T12:00:00Z"),
            "2026-12-07T09:30:00+00:00"
        );
        assert_eq!(
            next("0 0 1 1 *", "2026-12-06T00:00:00Z"),
            "2027-01-01T00:00:00+00:00"
        );
        assert_eq!(
            next("@hourly", "2026-12-06T10:59:59Z"),
            "2026-12-06T11:00:00+00:00"
        );
        assert_eq!(
            next("0 12 29 2 *", "2026-03-01T00:00:00Z"),
            "2028-02-29T12:00:00+00:00"
        );
        // Day of month and day of week both given: either matches (Sunday the 6th).
        assert_eq!(
            next("0 0 13 * 0", "2026-12-05T01:00:00Z"),
            "2026-12-06T00:00:00+00:00"
        );
        assert_eq!(Schedule::parse("0 0 30 2 *").unwrap().next_after(0), None);
    }

    fn next_in(expr: &str, zone: &str, after: &str) -> String {
        next_in_zone(expr, Some(zone), after)
    }

    /// The first firing of `expr` (read in `zone`) after the time `after`, as RFC 3339 in UTC.
    fn next_in_zone(expr: &str, zone: Option<&str>, after: &str) -> String {
        let ms = Schedule::parse_in(expr, zone)
            .unwrap()
            .next_after(at(after))
            .unwrap();
        DateTime::from_timestamp_millis(ms).unwrap().to_rfc3339()
    }

    #[test]
    fn expressions_in_a_time_zone_follow_its_wall_clock() {
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        assert_eq!(
            next_in("0 9 * * *", "Europe/Berlin", "2026-12-06T10:00:00Z"),
            "2026-12-07T08:00:00+00:00"
        );
        assert_eq!(
            next_in("0 9 * * *", "Europe/Berlin", "2026-07-01T10:00:00Z"),
            "2026-07-02T07:00:00+00:00"
        );
        // New York moves to daylight time on 2026-03-08: 02:30 does not exist that day.
        assert_eq!(
            next_in("30 2 * * *", "America/New_York", "2026-03-07T08:00:00Z"),
            "2026-03-09T06:30:00+00:00"
        );
        // It moves back on 2026-11-01: 01:30 happens twice and fires at the first (EDT).
        assert_eq!(
            next_in("30 1 * * *", "America/New_York", "2026-11-01T04:00:00Z"),
            "2026-11-01T05:30:00+00:00"
        );
        assert_eq!(
            next_in("30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z"),
            "2026-11-02T06:30:00+00:00"
        );
        // Every 15 minutes through the repeated hour: each wall-clock time once.
        assert_eq!(
            next_in("*/15 * * * *", "America/New_York", "2026-11-01T05:45:00Z"),
            "2026-11-01T07:00:00+00:00"
        );
    }

    #[test]
    fn time_zones_are_checked() {
        let e = Schedule::parse_in("0 9 * * *", Some("Mars/Olympus")).unwrap_err();
        assert!(e.contains("'Mars/Olympus' is not an IANA time zone"), "{e}");
        let e = Schedule::parse_in("@every 5m", Some("Europe/Berlin")).unwrap_err();
        assert!(e.contains("fixed interval"), "{e}");
        assert_eq!(
            Schedule::parse_in("@daily", Some("UTC")).unwrap(),
            Schedule::parse("0 0 * * *").unwrap()
        );
    }

    #[test]
    fn executions_are_matched_to_the_schedule_that_started_them() {
        assert!(fired_by("nightly", "nightly-2026-12-06T030000Z"));
        assert!(!fired_by("nightly", "nightly-2-2026-12-06T030000Z"));
        assert!(!fired_by("nightly", "nightly-manual"));
        assert!(!fired_by("night", "nightly-2026-12-06T030000Z"));
    }

    #[test]
    fn every_adds_its_interval() {
        assert_eq!(
            Schedule::parse("@every 5m").unwrap().next_after(1_000),
            Some(301_000)
        );
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        for (bad, says) in [
            ("* * *", "expected five fields"),
            ("61 * * * *", "minute field '61'"),
            ("*/0 * * * *", "step must be at least 1"),
            ("@every soon", "expected a duration"),
            ("5-1 * * * *", "is empty"),
        ] {
            let e = Schedule::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
