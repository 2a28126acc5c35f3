//! What a source reports while it runs: its phase, snapshot progress, positions, rate and last
//! error, read by `GET /v1/cdc` and the metrics.

use crate::pg::lsn_text;
use crate::sink::now_ms;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

/// Where a source is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the lease (another node runs the source), or not started.
    Standby,
    /// Copying the tables.
    Snapshot,
    /// Streaming changes.
    Streaming,
    /// Stopped by an error that needs an operator (a lost slot).
    Failed,
}

impl Phase {
    /// `standby`, `snapshot`, `streaming` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Standby => "standby",
            Phase::Snapshot => "snapshot",
            Phase::Streaming => "streaming",
            Phase::Failed => "failed",
        }
    }
}

/// Rows copied of one table, and its estimated total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableProgress {
    /// Rows delivered.
    pub rows: u64,
    /// Rows estimated (`pg_class.reltuples`), if known.
    pub total: Option<u64>,
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    tables: BTreeMap<String, TableProgress>,
    checkpoint_lsn: u64,
    checkpoint_ms: Option<i64>,
    server_lsn: u64,
    events: u64,
    rate: f64,
    window: (Instant, u64),
    error: Option<String>,
}

/// Events per second: over the last window, or since it began when it has run long (so that
/// the rate falls to zero when the source goes quiet).
fn current_rate(i: &Inner) -> f64 {
    let elapsed = i.window.0.elapsed().as_secs_f64();
    if elapsed > 5.0 {
        (i.events - i.window.1) as f64 / elapsed
    } else {
        i.rate
    }
}

/// A source's live status. Shared between the source's task and readers.
#[derive(Debug)]
pub struct Status {
    name: String,
    target: String,
    inner: Mutex<Inner>,
}

impl Status {
    /// The status of source `name` delivering to `target` (`function:NAME`, …).
    pub fn new(name: &str, target: &str) -> Status {
        Status {
            name: name.to_string(),
            target: target.to_string(),
            inner: Mutex::new(Inner {
                phase: Phase::Standby,
                tables: BTreeMap::new(),
                checkpoint_lsn: 0,
                checkpoint_ms: None,
                server_lsn: 0,
                events: 0,
                rate: 0.0,
                window: (Instant::now(), 0),
                error: None,
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut inner)
    }

    /// The source's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Enters `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.with(|i| i.phase = phase);
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.with(|i| i.phase)
    }

    /// Starts a snapshot of `tables` with their estimated sizes.
    pub fn snapshot_started(&self, tables: &[(String, Option<u64>)]) {
        self.with(|i| {
            i.phase = Phase::Snapshot;
            i.tables = tables
                .iter()
                .map(|(t, total)| {
                    (
                        t.clone(),
                        TableProgress {
                            rows: 0,
                            total: *total,
                        },
                    )
                })
                .collect();
        });
    }

    /// Snapshot progress by table.
    pub fn tables(&self) -> BTreeMap<String, TableProgress> {
        self.with(|i| i.tables.clone())
    }

    /// A batch of `events` was accepted, with `reads` snapshot rows by table.
    pub fn delivered(&self, events: u64, reads: BTreeMap<String, u64>) {
        self.with(|i| {
            i.events += events;
            for (table, n) in reads {
                i.tables.entry(table).or_default().rows += n;
            }
            let elapsed = i.window.0.elapsed().as_secs_f64();
            if elapsed >= 1.0 {
                i.rate = (i.events - i.window.1) as f64 / elapsed;
                i.window = (Instant::now(), i.events);
            }
            i.error = None;
        });
    }

    /// The sink refused a batch.
    pub fn sink_failed(&self, error: &str) {
        self.with(|i| i.error = Some(format!("the sink refused a batch: {error}")));
    }

    /// The source stopped on `error` (it is retried unless the phase is failed).
    pub fn failed(&self, error: &str) {
        self.with(|i| i.error = Some(error.to_string()));
    }

    /// The last error, if the source has not recovered from it.
    pub fn error(&self) -> Option<String> {
        self.with(|i| i.error.clone())
    }

    /// The position up to which everything was accepted was stored.
    pub fn checkpointed(&self, lsn: u64) {
        self.with(|i| {
            i.checkpoint_lsn = lsn;
            i.checkpoint_ms = Some(now_ms());
            i.server_lsn = i.server_lsn.max(lsn);
        });
    }

    /// The server reported its WAL position.
    pub fn server_at(&self, lsn: u64) {
        self.with(|i| i.server_lsn = i.server_lsn.max(lsn));
    }

    /// Bytes of WAL between the server's position and the checkpoint.
    pub fn lag_bytes(&self) -> u64 {
        self.with(|i| i.server_lsn.saturating_sub(i.checkpoint_lsn))
    }

    /// Changes delivered since the process started.
    pub fn events(&self) -> u64 {
        self.with(|i| i.events)
    }

    /// The status as `GET /v1/cdc` shows it.
    pub fn to_json(&self) -> Value {
        self.with(|i| {
            let tables: serde_json::Map<String, Value> = i
                .tables
                .iter()
                .map(|(t, p)| (t.clone(), json!({"rows": p.rows, "total": p.total})))
                .collect();
            json!({
                "name": self.name,
                "target": self.target,
                "phase": i.phase.as_str(),
                "snapshot": tables,
                "checkpointLsn": lsn_text(i.checkpoint_lsn),
                "checkpointAt": i.checkpoint_ms,
                "serverLsn": lsn_text(i.server_lsn),
                "lagBytes": i.server_lsn.saturating_sub(i.checkpoint_lsn),
                "events": i.events,
                "eventsPerSecond": (current_rate(i) * 10.0).round() / 10.0,
                "error": i.error,
            })
        })
    }
}
