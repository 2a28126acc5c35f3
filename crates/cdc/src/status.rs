//! What a source reports while it runs: its phase, snapshot progress, positions, rate and last
//! error, read by `GET /v1/cdc` and the metrics.

use crate::pg::lsn_text;
use crate::position::{binlog_offset, binlog_sequence, binlog_text};
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
    binlog: Option<Binlog>,
}

/// What a binlog source adds to its positions.
#[derive(Clone, Debug, Default)]
struct Binlog {
    /// The files' base name (`mysql-bin`).
    base: String,
    /// The GTID state of the checkpoint (MariaDB's GTID position, MySQL's GTID set), when known.
    gtid: Option<String>,
    /// Each table's snapshot position: its changes logged before it are in the snapshot.
    cuts: BTreeMap<String, u64>,
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

/// How far the server is ahead of the checkpoint, in bytes: of WAL, or of binlog (the
/// server's offset in its file when it has moved to a later file).
fn lag(i: &Inner) -> u64 {
    if i.binlog.is_some() && binlog_sequence(i.server_lsn) != binlog_sequence(i.checkpoint_lsn) {
        binlog_offset(i.server_lsn)
    } else {
        i.server_lsn.saturating_sub(i.checkpoint_lsn)
    }
}

/// A stored checkpoint's position as shown: `("storedBinlog", "FILE:OFFSET")` for a binlog
/// source (its progress names the file), else `("storedLsn", LSN)`.
pub fn stored_position(checkpoint: &sluice_engine::store::CdcCheckpoint) -> (&'static str, String) {
    match checkpoint
        .progress
        .get("binlog")
        .and_then(|b| b.get("file"))
        .and_then(Value::as_str)
    {
        Some(file) => (
            "storedBinlog",
            binlog_text(crate::position::binlog_base(file), checkpoint.position),
        ),
        None => ("storedLsn", lsn_text(checkpoint.position)),
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
                binlog: None,
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

    /// Positions are binlog positions of files named `base.NNNNNN` (a MySQL/MariaDB source).
    pub fn use_binlog(&self, base: &str) {
        self.with(|i| {
            i.binlog = Some(Binlog {
                base: base.to_string(),
                ..Binlog::default()
            })
        });
    }

    /// The GTID position matching the checkpoint (a binlog source).
    pub fn set_gtid(&self, gtid: Option<String>) {
        self.with(|i| {
            if let Some(b) = i.binlog.as_mut() {
                b.gtid = gtid;
            }
        });
    }

    /// Each table's snapshot position (a binlog source).
    pub fn set_binlog_cuts(&self, cuts: BTreeMap<String, u64>) {
        self.with(|i| {
            if let Some(b) = i.binlog.as_mut() {
                b.cuts = cuts;
            }
        });
    }

    /// For a binlog source: `position`'s file and offset, with the GTID, as stored with it.
    pub fn binlog_checkpoint(&self, position: u64) -> Option<Value> {
        self.with(|i| {
            i.binlog.as_ref().map(|b| {
                json!({
                    "file": crate::position::binlog_file(&b.base, position),
                    "pos": binlog_offset(position),
                    "gtid": b.gtid,
                    "snapshot": b.cuts,
                })
            })
        })
    }

    /// The server reported its WAL position.
    pub fn server_at(&self, lsn: u64) {
        self.with(|i| i.server_lsn = i.server_lsn.max(lsn));
    }

    /// Bytes of WAL (or binlog) between the server's position and the checkpoint.
    pub fn lag_bytes(&self) -> u64 {
        self.with(|i| lag(i))
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
            let mut view = json!({
                "name": self.name,
                "target": self.target,
                "phase": i.phase.as_str(),
                "snapshot": tables,
                "checkpointLsn": lsn_text(i.checkpoint_lsn),
                "checkpointAt": i.checkpoint_ms,
                "serverLsn": lsn_text(i.server_lsn),
                "lagBytes": lag(i),
                "events": i.events,
                "eventsPerSecond": (current_rate(i) * 10.0).round() / 10.0,
                "error": i.error,
            });
            if let (Some(b), Some(out)) = (&i.binlog, view.as_object_mut()) {
                out.remove("checkpointLsn");
                out.remove("serverLsn");
                out.insert(
                    "checkpointBinlog".into(),
                    json!(binlog_text(&b.base, i.checkpoint_lsn)),
                );
                out.insert("checkpointGtid".into(), json!(b.gtid));
                out.insert(
                    "serverBinlog".into(),
                    json!(binlog_text(&b.base, i.server_lsn)),
                );
            }
            view
        })
    }
}
