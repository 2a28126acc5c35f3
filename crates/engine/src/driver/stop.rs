//! Stopping executions from outside: a stop request waits in the store until the process that
//! drives the execution aborts it, with its Distributed Map children, and stops its map runs.

use super::{Driver, EngineError};
use crate::interpreter;
use crate::map_run::machine::RunEvent;
use crate::model::Status;
use crate::store::{ClaimRequest, Lease, StopRequest};

impl Driver {
    /// Records a stop request for a running root execution and acts on it when this process can
    /// drive the execution: it holds it, or nobody does and this process claims it. Otherwise
    /// the process holding it acts on the request at its next renewal.
    pub(super) fn stop_execution(
        &mut self,
        id: &str,
        request: StopRequest,
    ) -> Result<(), EngineError> {
        let record = self
            .store
            .execution(id)?
            .ok_or_else(|| EngineError::NotFound(id.to_string()))?;
        if record.root_id != id {
            return Err(EngineError::NotStoppable(
                id.to_string(),
                format!(
                    "it runs an item of a Distributed Map; stop the execution '{}'",
                    record.root_id
                ),
            ));
        }
        if !self.store.request_stop(id, &request)? {
            return Err(EngineError::NotStoppable(
                id.to_string(),
                format!("it is {}", record.state.status.as_str()),
            ));
        }
        self.stopping
            .insert(id.to_string(), (record.definition_id, request));
        self.pursue_stops();
        Ok(())
    }

    /// Acts on the stops this process was asked for: an execution nobody holds (its process
    /// died, its lease ended) is claimed and aborted here; one another live process holds is
    /// left to it. A stop is forgotten once its execution is no longer running.
    pub(super) fn pursue_stops(&mut self) {
        if self.stopping.is_empty() {
            return;
        }
        self.release_dead_owners();
        for (id, (definition, request)) in std::mem::take(&mut self.stopping) {
            if !self.live.contains_key(&id) {
                let definitions = [definition.clone()];
                let claimed = self.store.claim(ClaimRequest {
                    lease: Lease {
                        owner: &self.owner,
                        until_ms: self.lease_until(),
                    },
                    now_ms: super::ownership::wall_ms(),
                    definitions: &definitions,
                    limit: 1,
                    root: Some(&id),
                });
                match claimed {
                    Ok(claimed) => self.adopt(claimed),
                    Err(e) => eprintln!("sluice: claiming '{id}' to stop it failed: {e}"),
                }
            }
            if self.live.contains_key(&id) {
                self.abort_family(&id, &request);
                continue;
            }
            let running = matches!(
                self.store.execution(&id),
                Ok(Some(e)) if e.state.status == Status::Running
            );
            if running {
                self.stopping.insert(id, (definition, request));
            }
        }
    }

    /// Acts on the stop requests for executions this process holds.
    pub(super) fn take_stop_requests(&mut self) {
        match self.store.stop_requests(&self.owner) {
            Ok(requests) => {
                for (id, request) in requests {
                    self.abort_family(&id, &request);
                }
            }
            Err(e) => eprintln!("sluice: reading stop requests failed, will retry: {e}"),
        }
    }

    /// Aborts a live root execution and every live execution under it; their map runs start no
    /// more children. Nothing happens when this process does not drive the root.
    fn abort_family(&mut self, root: &str, request: &StopRequest) {
        if !self.live.contains_key(root) {
            return;
        }
        let now = self.now();
        let mut family: Vec<String> = self
            .live
            .values()
            .filter(|l| l.record.root_id == root && l.record.state.status == Status::Running)
            .map(|l| l.record.id.clone())
            .collect();
        // Children first, so that their items are recorded before the root stops.
        family.sort_by_key(|id| id == root);
        for id in &family {
            self.stop_children(id);
        }
        for (id, run) in self.runs.iter_mut() {
            if family.contains(&run.state.record.execution)
                && run.state.apply(RunEvent::Stop).changed
            {
                self.dirty_runs.push(id.clone());
            }
        }
        for id in family {
            let Some(live) = self.live.get_mut(&id) else {
                continue;
            };
            let fx = if id == root {
                interpreter::abort(
                    &mut live.record.state,
                    request.error.as_deref(),
                    request.cause.as_deref(),
                    now,
                )
            } else {
                interpreter::abort(
                    &mut live.record.state,
                    None,
                    Some("the execution running this Map was stopped"),
                    now,
                )
            };
            self.absorb(&id, fx);
        }
    }
}
