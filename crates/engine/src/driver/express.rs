//! EXPRESS children of Distributed Maps: executions that run in memory only. Their steps go
//! through the interpreter as any execution's do, their Tasks through the invoker and their
//! timers through the driver's, but neither their record nor their history is written: only
//! the item each one finishes with is, in the commit of its last step (see
//! [`crate::map_run::rerun`] for what runs again after a restart).
//!
//! What needs a stored execution is refused, as AWS refuses it in EXPRESS workflows: Tasks
//! that wait for a job (`.sync`) or a callback (`.waitForTaskToken`), and Distributed Maps.
//! The child fails with `States.Runtime` (ASL flows with them are refused earlier, when validated).

use super::Driver;
use super::map_runs::{LiveRun, express_retries};
use crate::effects::{Command, Effects};
use crate::interpreter;
use crate::invoke::TaskError;
use crate::map_run::machine::{MapRunState, RunEvent};
use crate::model::Status;
use crate::store::MapRunRecord;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

/// Item records read at a time when a resumed run looks for those recorded past its rerun point.
const RECORDED_PAGE: usize = 1000;

/// Why an EXPRESS child may not carry out `command`, if it may not.
pub(super) fn refusal(command: &Command) -> Option<String> {
    match command {
        Command::MapRun { spec, .. } => Some(format!(
            "the Distributed Map '{}' cannot run inside an EXPRESS child",
            spec.state
        )),
        Command::Invoke { request, .. } => {
            let resource = request.resource.as_str();
            let pattern = [".sync", ".sync:2", ".waitForTaskToken"]
                .into_iter()
                .find(|suffix| resource.ends_with(suffix))?;
            Some(format!(
                "the Task resource '{resource}' uses the '{pattern}' integration pattern, which EXPRESS children do not support"
            ))
        }
        Command::Timer { .. } | Command::Continue { .. } => None,
    }
}

impl Driver {
    /// Takes what a step of the EXPRESS child `exec` produced: its commands are carried out
    /// after the next commit, its history is dropped, and once it ends its item is recorded
    /// and the child forgotten.
    pub(super) fn absorb_in_memory(&mut self, exec: &str, fx: Effects) {
        let now = self.now();
        self.stats
            .transitions
            .fetch_add(fx.transitions, Ordering::Relaxed);
        let refused = fx.commands.iter().find_map(refusal);
        if let Some(cause) = refused {
            if let Some(live) = self.live.get_mut(exec) {
                interpreter::fail_runtime(&mut live.record.state, &cause, now);
            }
        } else {
            for command in fx.commands {
                self.commands.push((exec.to_string(), command));
            }
        }
        let ended = self
            .live
            .get_mut(exec)
            .filter(|l| l.record.state.status != Status::Running);
        let Some(live) = ended else {
            return;
        };
        live.record.stop_ms = Some(now);
        self.child_finished(exec);
        self.live.remove(exec);
        self.in_memory.remove(exec);
        self.stats.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets the EXPRESS children of executions this process no longer drives.
    pub(super) fn drop_in_memory_of(&mut self, lost: &[String]) {
        let live = &self.live;
        let orphans: Vec<String> = self
            .in_memory
            .iter()
            .filter(|c| {
                live.get(*c)
                    .is_some_and(|l| lost.contains(&l.record.root_id))
            })
            .cloned()
            .collect();
        for child in orphans {
            self.live.remove(&child);
            self.in_memory.remove(&child);
        }
    }

    /// A stored run taken up again. One with EXPRESS children restarts at its rerun point,
    /// skipping the children recorded since, and runs again the items a redrive in progress
    /// had not brought to success; if those cannot be read, the run fails.
    pub(super) fn resumed_run(&self, record: MapRunRecord) -> LiveRun {
        let redriving = record.spec.express && record.progress.redriving && !record.done;
        let id = record.spec.id.clone();
        let mut run = self.resumed_from_rerun_point(record);
        if redriving {
            let event = match self.unsuccessful_items(&id) {
                Ok(items) => express_retries(items),
                Err(e) => RunEvent::Failed(e),
            };
            run.state.apply(event);
        }
        run
    }

    /// A stored run restarted at its rerun point, if it has one behind it.
    fn resumed_from_rerun_point(&self, record: MapRunRecord) -> LiveRun {
        let point = record.progress.rerun_from;
        let behind = point.filter(|p| record.spec.express && p.started < record.progress.started);
        let Some(point) = behind else {
            return LiveRun::new(record);
        };
        match self.recorded_between(&record.spec.id, point.started, record.progress.started) {
            Ok(recorded) => LiveRun::from_state(MapRunState::resume(record, recorded)),
            Err(e) => {
                let mut run = LiveRun::new(record);
                run.state.apply(RunEvent::Failed(e));
                run
            }
        }
    }

    /// The indexes of a run's recorded items in `from..to`.
    fn recorded_between(&self, run: &str, from: u64, to: u64) -> Result<BTreeSet<u64>, TaskError> {
        let mut recorded = BTreeSet::new();
        let mut next = from;
        while next < to {
            let page = self
                .store
                .map_items(run, next, RECORDED_PAGE)
                .map_err(|e| TaskError {
                    error: "States.Runtime".into(),
                    cause: format!("cannot read the items of map run {run}: {e}"),
                })?;
            let Some(last) = page.last().map(|i| i.index) else {
                break;
            };
            recorded.extend(page.iter().map(|i| i.index).filter(|i| *i < to));
            next = last + 1;
        }
        Ok(recorded)
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;
    use crate::effects::Command;
    use crate::interpreter;
    use crate::run_info::RunInfo;
    use serde_json::json;

    /// The run a flow's first state asks for, from `file` with `text`.
    fn first_run(file: &str, text: &str) -> Box<crate::map_run::MapRunSpec> {
        let definition =
            sluice_lang::compile::compile(file, text).unwrap_or_else(|d| panic!("{d:?}"));
        let info = RunInfo::local("flow", "run", 0);
        let (_, fx) = interpreter::start(&definition, &info, json!({"items": [1, 2]}), 0);
        fx.commands
            .into_iter()
            .find_map(|c| match c {
                Command::MapRun { spec, .. } => Some(spec),
                _ => None,
            })
            .expect("a map run")
    }

    fn asl(execution_type: &str, resource: &str) -> String {
        json!({"StartAt": "Fan", "States": {"Fan": {
            "Type": "Map", "ItemsPath": "$.items", "End": true,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": execution_type},
                "StartAt": "Work",
                "States": {"Work": {"Type": "Task", "Resource": resource, "End": true}}
            }
        }}})
        .to_string()
    }

    #[test]
    fn the_execution_type_reaches_the_run() {
        let work = "sluice:function:work";
        assert!(first_run("f.asl.json", &asl("EXPRESS", work)).express);
        assert!(!first_run("f.asl.json", &asl("STANDARD", work)).express);
        let fdl = |mode: &str| {
            format!(
                "Type: StateMachine\nName: f\nSpecVersion: v1\nStartAt: Fan\nStates:\n  - Type: Map\n    Name: Fan\n    ItemsPath: $Input.items\n    ProcessorConfig:\n      ExecutionMode: {mode}\n    Processor:\n      StartAt: Keep\n      States:\n        - Type: Pass\n          Name: Keep\n          End: true\n    End: true\n"
            )
        };
        assert!(first_run("f.yaml", &fdl("Express")).express);
        assert!(!first_run("f.yaml", &fdl("Standard")).express);
    }

    #[test]
    fn jobs_callbacks_and_distributed_maps_are_refused() {
        for (resource, refused) in [
            ("sluice:function:work", None),
            ("arn:aws:states:::lambda:invoke", None),
            ("arn:aws:states:::states:startExecution", None),
            (
                "arn:aws:states:::states:startExecution.sync",
                Some("'.sync'"),
            ),
            (
                "arn:aws:states:::states:startExecution.sync:2",
                Some("'.sync:2'"),
            ),
            (
                "sluice:function:work.waitForTaskToken",
                Some("'.waitForTaskToken'"),
            ),
        ] {
            let command = Command::Invoke {
                path: Vec::new(),
                token: 1,
                request: crate::invoke::InvokeRequest {
                    target: crate::invoke::Target::Integration(resource.into()),
                    resource: resource.into(),
                    payload: json!({}),
                    idempotency_key: "k".into(),
                    execution: "e".into(),
                    timeout_seconds: None,
                },
            };
            let why = refusal(&command);
            assert_eq!(why.is_some(), refused.is_some(), "{resource}: {why:?}");
            if let (Some(why), Some(pattern)) = (why, refused) {
                assert!(why.contains(resource) && why.contains(pattern), "{why}");
            }
        }
        let nested = first_run("f.asl.json", &asl("EXPRESS", "sluice:function:work"));
        let map = Command::MapRun {
            path: Vec::new(),
            token: 1,
            spec: nested,
        };
        assert!(refusal(&map).is_some_and(|why| why.contains("'Fan'")));
        let timer = Command::Timer {
            path: Vec::new(),
            token: 1,
            due_ms: 5,
        };
        assert_eq!(refusal(&timer), None, "Wait and retry timers run");
    }
}
