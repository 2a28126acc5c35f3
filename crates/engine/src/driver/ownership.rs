//! Sharing one store with other processes: claiming executions, renewing leases, letting go of
//! what another process took over, and watching executions other processes drive.
//!
//! A process owns the executions it starts and the ones it claims: running root executions of
//! the definitions it serves whose lease ended (or whose owner, on this host, is dead), together
//! with their Distributed Map children and open map runs. It renews its leases while it lives
//! and releases them when it stops. A write refused because the version moved means another
//! process claimed the execution: this one drops it from memory and stops writing it.

use super::{Driver, Live};
use crate::interpreter;
use crate::map_run::machine::RunEvent;
use crate::scopes::Persisted;
use crate::store::{ClaimRequest, Claimed, Lease};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Root executions claimed per store call.
const CLAIM_BATCH: usize = 500;

/// This process's owner id: `host:pid:start-time:random`. The first three let a process on the
/// same host tell that the owner is dead without waiting for its lease to end.
pub(crate) fn owner_id() -> String {
    let pid = std::process::id();
    format!(
        "{}:{pid}:{}:{}",
        hostname(),
        process_start(pid).unwrap_or_default(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// A process's start time in clock ticks since boot (field 22 of `/proc/PID/stat`).
fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesised and may hold spaces: count after its end.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_string)
}

/// Whether `owner` names a process of this host that no longer runs.
pub(crate) fn owner_is_dead_here(owner: &str) -> bool {
    let mut parts = owner.split(':');
    let (Some(host), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if host != hostname() || !std::path::Path::new("/proc/self").exists() {
        return false;
    }
    match pid.parse::<u32>() {
        Ok(pid) => process_start(pid).as_deref() != Some(start),
        Err(_) => false,
    }
}

/// Wall-clock now, epoch ms: leases run on real time whatever clock the flows use.
pub(crate) fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Driver {
    /// The lease this process writes under from now.
    pub(super) fn lease_until(&self) -> i64 {
        wall_ms().saturating_add(self.options.lease.as_millis() as i64)
    }

    /// Claims what nobody drives among the executions this process serves, and adopts it.
    pub(super) fn claim(&mut self) {
        if self.serves.is_empty() {
            return;
        }
        let now = wall_ms();
        let until = self.lease_until();
        let definitions: Vec<String> = self.serves.iter().cloned().collect();
        self.release_dead_owners();
        loop {
            let request = ClaimRequest {
                lease: Lease {
                    owner: &self.owner,
                    until_ms: until,
                },
                now_ms: now,
                definitions: &definitions,
                limit: CLAIM_BATCH,
                root: None,
            };
            match self.store.claim(request) {
                Ok(claimed) => {
                    let roots = claimed
                        .executions
                        .iter()
                        .filter(|e| e.id == e.root_id)
                        .count();
                    self.stats
                        .claimed
                        .fetch_add(roots as u64, Ordering::Relaxed);
                    self.adopt(claimed);
                    if roots < CLAIM_BATCH {
                        break;
                    }
                }
                Err(e) => {
                    eprintln!("sluice: claiming executions failed, will retry: {e}");
                    break;
                }
            }
        }
    }

    /// Frees the leases of processes of this host that died (killed, crashed) without waiting
    /// for the leases to end.
    pub(super) fn release_dead_owners(&mut self) {
        let now = wall_ms();
        let mut dead = Vec::new();
        if let Ok(roots) = self.store.running_roots() {
            for r in roots {
                if let Some(owner) = r.owner
                    && owner != self.owner
                    && r.lease_until_ms.is_some_and(|t| t >= now)
                    && !dead.contains(&owner)
                    && owner_is_dead_here(&owner)
                {
                    dead.push(owner);
                }
            }
        }
        for owner in &dead {
            if let Err(e) = self.store.release(owner) {
                eprintln!("sluice: cannot release the leases of stopped process {owner}: {e}");
            }
        }
    }

    /// Makes claimed executions and map runs live, and re-issues what they were waiting for.
    pub(super) fn adopt(&mut self, claimed: Claimed) {
        for record in claimed.map_runs {
            let id = record.spec.id.clone();
            if !self.runs.contains_key(&id) {
                let run = self.resumed_run(record);
                self.runs.insert(id.clone(), run);
                self.pumps.push(id);
            }
        }
        for record in claimed.executions {
            if let Some(live) = self.live.get_mut(&record.id) {
                // Claimed back after this process's own lease ran out: what it holds in memory
                // is as new as the store, and the claim moved the version.
                live.record.version = record.version;
                continue;
            }
            if let Some(parent) = &record.info.parent
                && let Some(run) = self.runs.get_mut(&parent.run)
            {
                run.state.apply(RunEvent::ChildAdopted);
            }
            let definition = match self.execution_definition(&record) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("sluice: cannot resume execution '{}': {e}", record.id);
                    continue;
                }
            };
            for cmd in interpreter::pending_commands(&record.state) {
                self.commands.push((record.id.clone(), cmd));
            }
            self.deadline_timer(&record.id, record.state.deadline_ms);
            self.live.insert(
                record.id.clone(),
                Live {
                    persisted: Persisted::default(),
                    record,
                    definition,
                    history: Vec::new(),
                    new: false,
                },
            );
        }
    }

    /// Drops executions another process took over: their state, their map runs and what they
    /// were waiting for. Watchers stay and learn the outcome from the store.
    pub(super) fn let_go(&mut self, lost: &[String]) {
        for id in lost {
            if self.live.remove(id).is_some() {
                eprintln!("sluice: execution '{id}' is driven by another process now");
            }
            self.runs.retain(|_, run| &run.state.record.execution != id);
        }
        self.drop_in_memory_of(lost);
        self.commands.retain(|(exec, _)| !lost.contains(exec));
    }

    /// When the next renewal, claim and watch are due.
    pub(super) fn housekeeping_at(&self) -> Instant {
        self.last_housekeeping + self.housekeeping_interval()
    }

    /// A quarter of the lease, and at most a second: stop requests, takeovers of a dead process
    /// of this host and the outcomes of executions other processes drive are seen that soon.
    fn housekeeping_interval(&self) -> Duration {
        (self.options.lease / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }

    /// Renews leases, claims executions others left, and tells watchers of executions other
    /// processes drive how they ended.
    pub(super) fn housekeeping(&mut self) {
        if Instant::now() < self.housekeeping_at() {
            return;
        }
        self.last_housekeeping = Instant::now();
        if let Err(e) = self.store.renew(&self.owner, self.lease_until()) {
            eprintln!("sluice: renewing leases failed, will retry: {e}");
        }
        self.claim();
        self.pursue_stops();
        self.take_stop_requests();
        self.take_signals();
        let remote: Vec<String> = self
            .watchers
            .keys()
            .filter(|id| !self.live.contains_key(*id))
            .cloned()
            .collect();
        for id in remote {
            if let Ok(Some(rec)) = self.store.execution(&id)
                && rec.state.status != crate::model::Status::Running
            {
                let outcome = super::outcome_of(&rec);
                for w in self.watchers.remove(&id).unwrap_or_default() {
                    let _ = w.send(Ok(outcome.clone()));
                }
            }
        }
    }
}
