//! Distributed Map runs, the I/O side: reading items on a feeder thread, starting children as
//! executions, recording every child's outcome in the same commit as the child's last step, and
//! collecting (or writing) the results once all are durable. What to start, when failures are
//! too many and when the run concludes is decided by its [`MapRunState`], which this module
//! feeds with events and whose commands it carries out.
//!
//! A run resumes after a restart from its record: children already started are executions in
//! the store (finished ones have their item recorded), and the reader skips the items consumed.

use super::{Driver, Live, Msg};
use crate::interpreter::{self, Event};
use crate::invoke::TaskError;
use crate::items::{ItemOutcome, ItemStore, ReadItem};
use crate::map_run::items::{ItemPages, with_failed_items};
pub(crate) use crate::map_run::machine::ReadInput as Fed;
use crate::map_run::machine::{MapRunState, RunCommand, RunEvent};
use crate::map_run::{Batcher, ItemSource, MapRunSpec, ScopeStep, tolerance_exceeded};
use crate::model::{Status, TaskOutcome};
use crate::run_info::{ParentRun, epoch};
use crate::scopes::Persisted;
use crate::store::{ItemRecord, MapRunProgress, MapRunRecord, Store, StoredExecution};
use serde_json::{Value, json};
use sluice_lang::ir::{Definition, Scope, StateKind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

/// A run the driver is working on: its state and the handle of its item reader.
pub(crate) struct LiveRun {
    /// The run, as its state machine holds it.
    pub state: MapRunState,
    /// Not stored yet.
    pub new: bool,
    credits: Option<mpsc::Sender<usize>>,
}

impl LiveRun {
    pub(super) fn new(record: MapRunRecord) -> LiveRun {
        LiveRun::from_state(MapRunState::new(record))
    }

    pub(super) fn from_state(state: MapRunState) -> LiveRun {
        LiveRun {
            state,
            new: false,
            credits: None,
        }
    }
}

impl Driver {
    /// Starts a run the interpreter asked for (or ignores it when it is running already). A run
    /// the store holds as ended is being redriven: see [`Driver::reopen_run`].
    pub(super) fn open_run(&mut self, exec: &str, path: Vec<u32>, token: u64, spec: MapRunSpec) {
        if self.runs.contains_key(&spec.id) {
            return;
        }
        let id = spec.id.clone();
        match self.store.map_runs_of(exec) {
            Ok(runs) => {
                if let Some(record) = runs.into_iter().find(|r| r.spec.id == id) {
                    self.reopen_run(record);
                    return;
                }
            }
            Err(e) => {
                // The Map state fails alone; the execution may catch or retry it.
                let outcome = TaskOutcome::Err {
                    error: "States.Runtime".into(),
                    cause: format!("cannot read the state of map run {id}: {e}"),
                };
                self.apply(
                    exec,
                    Event::TaskResult {
                        path,
                        token,
                        outcome,
                    },
                );
                return;
            }
        }
        let record = MapRunRecord {
            spec,
            execution: exec.to_string(),
            path,
            token,
            progress: MapRunProgress::default(),
            done: false,
        };
        let mut run = LiveRun::new(record);
        run.new = true;
        self.runs.insert(id.clone(), run);
        self.dirty_runs.push(id.clone());
        self.pumps.push(id);
        self.pump_runs();
    }

    /// Reopens an ended run for a redrive: its unsuccessful children are redriven (an item that
    /// could not be read fails again), and items it never started run as usual. Items that
    /// succeeded keep their results. EXPRESS children, which are not stored, run again from the
    /// start with their recorded input, as AWS redrives them.
    fn reopen_run(&mut self, record: MapRunRecord) {
        let id = record.spec.id.clone();
        let express = record.spec.express;
        let unsuccessful = self.unsuccessful_items(&id);
        self.runs.insert(id.clone(), LiveRun::new(record));
        self.run_event(&id, RunEvent::Redriven);
        if let Err(e) = &unsuccessful {
            self.run_event(&id, RunEvent::Failed(e.clone()));
        }
        let unsuccessful = unsuccessful.unwrap_or_default();
        if express {
            self.run_event(&id, express_retries(unsuccessful));
            return;
        }
        for item in unsuccessful {
            let child = match item.execution.as_deref().map(|c| self.store.execution(c)) {
                Some(Err(e)) => {
                    eprintln!("sluice: cannot read map child {:?}: {e}", item.execution);
                    None
                }
                Some(Ok(child)) => child,
                None => None,
            };
            self.run_event(&id, RunEvent::ChildAdopted);
            let redriven = match child {
                Some(child) => self.redrive_execution(child),
                None => Err("no child execution".into()),
            };
            if redriven.is_err() {
                self.item_finished(item, false);
            }
        }
    }

    /// A run's finished items that did not succeed.
    pub(super) fn unsuccessful_items(&self, run: &str) -> Result<Vec<ItemRecord>, TaskError> {
        let mut pages = ItemPages::new(self.store.as_ref(), run);
        let items: Vec<ItemRecord> = (&mut pages).filter(|i| i.status != "SUCCEEDED").collect();
        match pages.error {
            Some(e) => Err(e),
            None => Ok(items),
        }
    }

    /// Applies `event` to a run: marks it for the next commit when its record changed, has it
    /// advance at the next pump, and carries out what it asks for.
    pub(super) fn run_event(&mut self, id: &str, event: RunEvent) {
        let Some(run) = self.runs.get_mut(id) else {
            return;
        };
        let applied = run.state.apply(event);
        if applied.changed {
            self.dirty_runs.push(id.to_string());
        }
        self.pumps.push(id.to_string());
        for command in applied.commands {
            self.run_command(id, command);
        }
    }

    /// Advances every run that may have something to do, until none has.
    pub(super) fn pump_runs(&mut self) {
        while let Some(id) = self.pumps.pop() {
            self.pump_run(&id);
        }
    }

    fn pump_run(&mut self, id: &str) {
        loop {
            let Some(run) = self.runs.get_mut(id) else {
                return;
            };
            let applied = run.state.apply(RunEvent::Advance);
            if applied.changed {
                self.dirty_runs.push(id.to_string());
            }
            if applied.commands.is_empty() {
                return;
            }
            for command in applied.commands {
                self.run_command(id, command);
            }
        }
    }

    /// Carries out one of a run's commands.
    fn run_command(&mut self, id: &str, command: RunCommand) {
        match command {
            RunCommand::ReadItems { from, count } => self.request_items(id, from, count),
            RunCommand::StartChild { index, input } => {
                self.stats.items_started.fetch_add(1, Ordering::Relaxed);
                self.start_child(id, index, input);
            }
            RunCommand::FailItem { index, error } => {
                self.stats.items_started.fetch_add(1, Ordering::Relaxed);
                self.stats.items_failed.fetch_add(1, Ordering::Relaxed);
                let now = self.now();
                self.finished_items.push(ItemRecord {
                    run: id.to_string(),
                    index,
                    status: "FAILED".into(),
                    input: Value::Null,
                    output: json!({ "Error": error.error, "Cause": error.cause }),
                    execution: None,
                    start_ms: now,
                    stop_ms: now,
                });
            }
            RunCommand::CollectResults => self.finalize.push(id.to_string()),
            RunCommand::Deliver(outcome) => {
                let Some(run) = self.runs.get(id) else {
                    return;
                };
                let record = &run.state.record;
                let (exec, path, token) =
                    (record.execution.clone(), record.path.clone(), record.token);
                self.apply(
                    &exec,
                    Event::TaskResult {
                        path,
                        token,
                        outcome,
                    },
                );
            }
        }
    }

    /// Asks the run's reader for `count` more items, starting the reader (after the first
    /// `from` items of the source) if needed.
    fn request_items(&mut self, id: &str, from: u64, count: usize) {
        let Some(run) = self.runs.get_mut(id) else {
            return;
        };
        if run.credits.is_none() {
            let (credits, wanted) = mpsc::channel();
            let spec = run.state.record.spec.clone();
            let items = self.items.clone();
            let tx = self.tx.clone();
            let spawned = std::thread::Builder::new()
                .name("sluice-items".into())
                .spawn(move || feed(spec, items, from, wanted, tx));
            if let Err(e) = spawned {
                let error = runtime(format!("cannot start the item reader: {e}"));
                self.run_event(id, RunEvent::Failed(error));
                return;
            }
            run.credits = Some(credits);
        }
        if run.credits.as_ref().is_some_and(|c| c.send(count).is_ok()) {
            self.in_flight += 1;
        } else {
            run.credits = None;
            let error = runtime("the item reader stopped".into());
            self.run_event(
                id,
                RunEvent::ItemsRead {
                    items: Vec::new(),
                    done: true,
                    error: Some(error),
                },
            );
        }
    }

    /// Items arrived from a reader.
    pub(super) fn fed(&mut self, id: &str, items: Vec<Fed>, done: bool, error: Option<TaskError>) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let Some(run) = self.runs.get_mut(id) else {
            return;
        };
        if done {
            run.credits = None;
        }
        self.run_event(id, RunEvent::ItemsRead { items, done, error });
    }

    fn start_child(&mut self, run_id: &str, index: u64, input: Value) {
        let Some(run) = self.runs.get(run_id) else {
            return;
        };
        let processor = run.state.record.spec.processor.clone();
        let express = run.state.record.spec.express;
        let Some(parent) = self.live.get(&run.state.record.execution) else {
            let error = runtime("the execution running the Map is gone".into());
            self.run_event(run_id, RunEvent::ChildNotStarted(error));
            return;
        };
        let definition_id = parent.record.definition_id.clone();
        let root_id = parent.record.root_id.clone();
        let mut info = parent.record.info.clone();
        let child_id = format!("{run_id}/{index}");
        info.execution_name = child_id.clone();
        info.start_ms = self.now();
        info.parent = Some(ParentRun {
            run: run_id.to_string(),
            index,
            processor: processor.clone(),
        });
        let definition = match self.processor_definition(&definition_id, &processor) {
            Ok(d) => d,
            Err(cause) => {
                self.run_event(run_id, RunEvent::ChildNotStarted(runtime(cause)));
                return;
            }
        };
        let (state, fx) = interpreter::start(&definition, &info, input.clone(), info.start_ms);
        if express {
            self.in_memory.insert(child_id.clone());
        }
        self.live.insert(
            child_id.clone(),
            Live {
                persisted: Persisted::default(),
                record: StoredExecution {
                    id: child_id.clone(),
                    root_id,
                    version: 0,
                    definition_id,
                    info,
                    input,
                    state,
                    stop_ms: None,
                },
                definition,
                history: Vec::new(),
                new: true,
            },
        );
        self.absorb(&child_id, fx);
    }

    /// Records the item of a map child that just finished (in the commit of its last step).
    pub(super) fn child_finished(&mut self, exec: &str) {
        let now = self.now();
        let Some(live) = self.live.get(exec) else {
            return;
        };
        let Some(parent) = &live.record.info.parent else {
            return;
        };
        let st = &live.record.state;
        let output = match st.status {
            Status::Succeeded => st.output.clone().unwrap_or(Value::Null),
            _ => json!({
                "Error": st.error.clone().unwrap_or_else(|| st.status.as_str().to_string()),
                "Cause": st.cause.clone().unwrap_or_default(),
            }),
        };
        let item = ItemRecord {
            run: parent.run.clone(),
            index: parent.index,
            status: st.status.as_str().to_string(),
            input: live.record.input.clone(),
            output,
            execution: Some(exec.to_string()),
            start_ms: live.record.info.start_ms,
            stop_ms: now,
        };
        let succeeded = st.status == Status::Succeeded;
        self.item_finished(item, succeeded);
    }

    /// Records a finished child's item and tells its run.
    fn item_finished(&mut self, item: ItemRecord, succeeded: bool) {
        let counter = if succeeded {
            &self.stats.items_succeeded
        } else {
            &self.stats.items_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let id = item.run.clone();
        let express = self
            .runs
            .get(&id)
            .is_some_and(|r| r.state.record.spec.express);
        let event = if express {
            RunEvent::ChildRecorded {
                index: item.index,
                succeeded,
            }
        } else {
            RunEvent::ChildFinished { succeeded }
        };
        self.finished_items.push(item);
        self.run_event(&id, event);
    }

    /// Collects (and writes) a finished run's results on a thread; the outcome comes back as
    /// [`Msg::RunFinished`].
    pub(super) fn conclude(&mut self, id: &str) {
        let Some(run) = self.runs.get(id) else {
            return;
        };
        let record = run.state.record.clone();
        let store = self.store.clone();
        let items = self.items.clone();
        let tx = self.tx.clone();
        let run_id = id.to_string();
        self.in_flight += 1;
        let spawned = std::thread::Builder::new()
            .name("sluice-results".into())
            .spawn(move || {
                let outcome = match outcome(&record, store.as_ref(), items.as_ref()) {
                    Ok(v) => TaskOutcome::Ok(v),
                    Err(e) => TaskOutcome::Err {
                        error: e.error,
                        cause: e.cause,
                    },
                };
                let _ = tx.send(Msg::RunFinished {
                    run: run_id,
                    outcome,
                });
            });
        if spawned.is_err() {
            self.in_flight -= 1;
            self.run_finished(
                id,
                TaskOutcome::Err {
                    error: "States.Runtime".into(),
                    cause: "cannot start the result writer".into(),
                },
            );
        }
    }

    /// Delivers a run's outcome to the Map state that started it.
    pub(super) fn run_finished(&mut self, id: &str, outcome: TaskOutcome) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.run_event(id, RunEvent::ResultsCollected(outcome));
    }

    /// The definition whose root is the item processor at `processor`.
    pub(super) fn processor_definition(
        &mut self,
        definition_id: &str,
        processor: &[ScopeStep],
    ) -> Result<Arc<Definition>, String> {
        let key = format!("{definition_id}#{processor:?}");
        if let Some(d) = self.definitions.get(&key) {
            return Ok(d.clone());
        }
        let root = self.definition(definition_id)?;
        let scope = scope_at(&root.root, processor).ok_or_else(|| {
            format!("definition {definition_id} has no item processor at {processor:?}")
        })?;
        let def = Arc::new(Definition {
            root: scope.clone(),
            timeout_seconds: None,
            fdl: root.fdl,
        });
        self.definitions.insert(key, def.clone());
        Ok(def)
    }
}

/// The scope reached from `root` by following `path`.
fn scope_at<'a>(root: &'a Scope, path: &[ScopeStep]) -> Option<&'a Scope> {
    let mut scope = root;
    for (name, branch) in path {
        scope = match &scope.state(name)?.kind {
            StateKind::Map(spec) => &spec.processor,
            StateKind::Parallel { branches } => branches.get(*branch as usize)?,
            _ => return None,
        };
    }
    Some(scope)
}

/// A run's items from the source, after the first `skip`.
fn source(
    spec: &MapRunSpec,
    items: &dyn ItemStore,
    skip: u64,
) -> Result<Box<dyn Iterator<Item = Result<ReadItem, TaskError>> + Send>, TaskError> {
    Ok(match &spec.source {
        ItemSource::Inline(values) => Box::new(
            values
                .clone()
                .into_iter()
                .skip(skip as usize)
                .map(|v| Ok(ReadItem::Item(v))),
        ),
        ItemSource::Reader(reader) => items.read(reader, skip)?,
    })
}

/// Reads items on demand: each number received asks for that many child inputs.
fn feed(
    spec: MapRunSpec,
    items: Arc<dyn ItemStore>,
    skip: u64,
    wanted: mpsc::Receiver<usize>,
    tx: mpsc::Sender<Msg>,
) {
    let send = |items: Vec<Fed>, done: bool, error: Option<TaskError>| {
        tx.send(Msg::Fed {
            run: spec.id.clone(),
            items,
            done,
            error,
        })
        .is_ok()
    };
    let mut source = match source(&spec, items.as_ref(), skip) {
        Ok(iter) => iter,
        Err(e) => {
            if wanted.recv().is_ok() {
                send(Vec::new(), true, Some(e));
            }
            return;
        }
    };
    let mut batcher = spec.batcher.as_ref().map(Batcher::new);
    let mut inputs = interpreter::ItemInputs::new(&spec);
    let mut consumed = skip;
    while let Ok(n) = wanted.recv() {
        let mut out = Vec::new();
        while out.len() < n {
            let next = source.next();
            let input = match next {
                None => {
                    if let Some(batch) = batcher.take().and_then(Batcher::finish) {
                        out.push(Fed {
                            consumed,
                            input: Ok(batch),
                        });
                    }
                    send(out, true, None);
                    return;
                }
                Some(Err(e)) => {
                    send(out, true, Some(e));
                    return;
                }
                Some(Ok(ReadItem::Malformed(e))) => Err(e),
                Some(Ok(ReadItem::Item(v))) => inputs.input(consumed, v),
            };
            consumed += 1;
            match (input, &mut batcher) {
                (Ok(v), None) => out.push(Fed {
                    consumed,
                    input: Ok(v),
                }),
                (Ok(v), Some(b)) => {
                    if let Some(batch) = b.push(v) {
                        out.push(Fed {
                            consumed: consumed - 1,
                            input: Ok(batch),
                        });
                    }
                }
                (Err(e), batch) => {
                    // A failed item closes the batch being filled, so that the items consumed
                    // stay in order with the children created.
                    if let Some(b) = batch.take() {
                        if let Some(closed) = b.finish() {
                            out.push(Fed {
                                consumed: consumed - 1,
                                input: Ok(closed),
                            });
                        }
                        *batch = spec.batcher.as_ref().map(Batcher::new);
                    }
                    out.push(Fed {
                        consumed,
                        input: Err(e),
                    });
                }
            }
        }
        if !send(out, false, None) {
            return;
        }
    }
}

/// A finished run's result: the children's outputs in order (or the `ResultWriter`'s details),
/// or the run's error.
fn outcome(
    record: &MapRunRecord,
    store: &dyn Store,
    items: &dyn ItemStore,
) -> Result<Value, TaskError> {
    let spec = &record.spec;
    let progress = &record.progress;
    let failure = progress.failure.clone().map(|f| {
        if f == tolerance_exceeded() {
            with_failed_items(f, store, &spec.id)
        } else {
            f
        }
    });
    let mut pages = ItemPages::new(store, &spec.id);
    if let Some(writer) = &spec.writer {
        let finished = (&mut pages).map(|i| ItemOutcome {
            status: i.status.clone(),
            entry: result_entry(record, &i),
        });
        let pending = match &failure {
            Some(_) if !progress.source_done => pending_entries(record, items),
            _ => Box::new(std::iter::empty()),
        };
        let mut outcomes = finished.chain(pending);
        let details = items.write_results(writer, &spec.arn, &mut outcomes)?;
        if let Some(e) = pages.error.take() {
            return Err(e);
        }
        return match failure {
            Some(f) => Err(f),
            None => Ok(details),
        };
    }
    if let Some(f) = failure {
        return Err(f);
    }
    let outputs: Vec<Value> = (&mut pages).map(|i| i.output).collect();
    if let Some(e) = pages.error.take() {
        return Err(e);
    }
    Ok(if spec.fdl {
        json!({ "Items": outputs })
    } else {
        Value::Array(outputs)
    })
}

/// The `PENDING` entries of a run that failed before starting every item: one per item left in
/// the source, with the input its child would have had. Unreadable items are left out.
fn pending_entries<'a>(
    record: &'a MapRunRecord,
    items: &dyn ItemStore,
) -> Box<dyn Iterator<Item = ItemOutcome> + 'a> {
    let spec = &record.spec;
    let Ok(rest) = source(spec, items, record.progress.consumed) else {
        return Box::new(std::iter::empty());
    };
    let mut inputs = interpreter::ItemInputs::new(spec);
    let mut index = record.progress.consumed;
    Box::new(rest.map_while(Result::ok).filter_map(move |read| {
        index += 1;
        let ReadItem::Item(item) = read else {
            return None;
        };
        let input = inputs.input(index - 1, item).ok()?;
        Some(ItemOutcome {
            status: "PENDING".into(),
            entry: json!({
                "Input": input.to_string(),
                "InputDetails": { "Included": true },
                "StateMachineArn": spec.arn,
                "Status": "PENDING",
            }),
        })
    }))
}

/// The entry AWS writes in a `ResultWriter` file for one child.
fn result_entry(record: &MapRunRecord, item: &ItemRecord) -> Value {
    let date = |ms: i64| sluice_lang::timestamp::format(epoch(ms));
    let name = item.execution.clone().unwrap_or_default();
    let mut entry = json!({
        "ExecutionArn": format!("{}:{}", record.spec.arn, item.index),
        "Input": item.input.to_string(),
        "InputDetails": { "Included": true },
        "Name": name,
        "StartDate": date(item.start_ms),
        "StateMachineArn": record.spec.arn,
        "Status": item.status,
        "StopDate": date(item.stop_ms),
    });
    if item.status == "SUCCEEDED" {
        entry["Output"] = json!(item.output.to_string());
        entry["OutputDetails"] = json!({ "Included": true });
    } else {
        entry["Error"] = item.output.get("Error").cloned().unwrap_or(Value::Null);
        entry["Cause"] = item.output.get("Cause").cloned().unwrap_or(Value::Null);
    }
    entry
}

/// A `States.Runtime` error with `cause`.
fn runtime(cause: String) -> TaskError {
    TaskError {
        error: "States.Runtime".into(),
        cause,
    }
}

/// The redrive of a run with EXPRESS children whose unsuccessful items are `items`: those a
/// child ran run again with their input; those that could not be read stay failed.
pub(super) fn express_retries(items: Vec<ItemRecord>) -> RunEvent {
    let (ran, unread): (Vec<ItemRecord>, Vec<ItemRecord>) =
        items.into_iter().partition(|i| i.execution.is_some());
    RunEvent::ItemsRetried {
        items: ran.into_iter().map(|i| (i.index, i.input)).collect(),
        unreadable: unread.len() as u64,
    }
}
