//! The queue consumers, schedules and object watchers of a served project: functions get batches and events
//! through the engine's invoker, flows are started by the engine under the message's id (or
//! the trigger's name and time).

use crate::app::App;
use serde_json::Value;
use sluice_engine::run_info::RunInfo;
use sluice_engine::store::{StopRequest, Store};
use sluice_engine::{Engine, EngineError, StartRequest};
use sluice_queues::consumer::Pending;
use sluice_queues::cron::Scheduler;
use sluice_queues::triggers::CronTrigger;
use sluice_queues::uploads::Watchers;
use sluice_queues::{Consumers, FlowStarter, Targets};
use sluice_server::machines::StateMachines;
use std::sync::Arc;

/// Starts flows of the served state machines for their queues and schedules.
struct ServedFlows {
    engine: Engine,
    store: Arc<dyn Store>,
    machines: StateMachines,
}

impl FlowStarter for ServedFlows {
    fn start(&self, flow: &str, name: &str, input: Value) -> Pending<()> {
        let Some(served) = self.machines.get(flow) else {
            let flow = flow.to_string();
            return Box::pin(async move { Err(format!("no flow named '{flow}' is served")) });
        };
        let request = StartRequest {
            id: name.to_string(),
            definition_id: served.definition_id,
            definition: served.definition,
            info: RunInfo::local(flow, name, 0),
            input,
        };
        let engine = self.engine.clone();
        Box::pin(async move {
            match engine.start_execution(request).await {
                Ok(_) => Ok(()),
                Err(EngineError::Duplicate(id)) => Err(format!(
                    "an execution named '{id}' exists with another input"
                )),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn running(&self, flow: &str) -> Pending<Vec<String>> {
        let (store, flow) = (self.store.clone(), flow.to_string());
        Box::pin(async move {
            let roots = tokio::task::spawn_blocking(move || store.running_roots())
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            Ok(roots
                .into_iter()
                .filter(|e| e.flow == flow)
                .map(|e| e.id)
                .collect())
        })
    }

    fn stop(&self, name: &str, cause: &str) -> Pending<()> {
        let engine = self.engine.clone();
        let (name, cause) = (name.to_string(), cause.to_string());
        Box::pin(async move {
            let request = StopRequest {
                error: Some("Sluice.Replaced".into()),
                cause: Some(cause),
            };
            engine.stop(&name, request).await.map_err(|e| e.to_string())
        })
    }
}

/// What queue consumers and triggers call: the engine's functions and the served flows.
pub fn targets(app: &App, machines: &StateMachines) -> Targets {
    Targets {
        functions: app.invoker.clone(),
        flows: Arc::new(ServedFlows {
            engine: app.engine.clone(),
            store: app.store.clone(),
            machines: machines.clone(),
        }),
    }
}

/// Starts the consumers of the app's queues, if it has any with a consumer.
pub fn start(app: &App, targets: &Targets) -> Option<Consumers> {
    let queues = app.queues.as_ref()?;
    if queues.all().all(|q| q.consumer.is_none()) {
        return None;
    }
    Some(Consumers::start(
        queues,
        targets.clone(),
        app.runtime.handle(),
    ))
}

/// Starts the project's schedules, if it has any.
pub fn schedule(app: &App, triggers: Vec<CronTrigger>, targets: &Targets) -> Option<Scheduler> {
    let queues = app.queues.clone()?;
    if triggers.is_empty() {
        return None;
    }
    Some(Scheduler::start(
        triggers,
        queues,
        targets.clone(),
        app.runtime.handle(),
    ))
}

/// Starts the watchers of the project's object triggers, if it has any.
/// Objects already there when a trigger is first served, before `since_ms`, raise no events.
pub fn watch(app: &App, targets: &Targets, since_ms: i64) -> Option<Watchers> {
    Some(Watchers::start(
        app.uploads.clone()?,
        app.storage.clone()?,
        app.queues.clone()?,
        targets.clone(),
        since_ms,
        app.runtime.handle(),
    ))
}

/// Starts the project's CDC sources, if it has any; each streams on one node at a time (the
/// one holding its lease in the store).
pub fn capture(
    app: &App,
    configs: &[sluice_cdc::CdcConfig],
    targets: &Targets,
) -> Option<sluice_cdc::Sources> {
    let queues = app.queues.as_ref()?;
    if configs.is_empty() {
        return None;
    }
    let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
    Some(sluice_cdc::Sources::start(
        configs,
        app.store.clone(),
        targets,
        app.loaders.as_deref(),
        queues,
        &owner,
        app.runtime.handle(),
    ))
}
