//! The driver: applies events to executions, commits each batch of transitions and their history
//! in one store transaction (group commit), then dispatches the commands those transitions caused.
//!
//! It runs on a thread of its own and owns every live execution; invocations run as tasks on a
//! tokio runtime and report back through the driver's channel. Distributed Map runs live here
//! too ([`map_runs`]): their children are executions like any other.

mod callbacks;
mod children;
mod express;
mod map_runs;
mod ownership;
mod stop;

use crate::callback::{CallbackError, TaskSignal};
use crate::effects::{Command, Effects, HistoryEvent};
use crate::interpreter::{self, Event};
use crate::invoke::{Invoker, TaskError};
use crate::items::ItemStore;
use crate::model::{Status, TaskOutcome};
use crate::run_info::RunInfo;
use crate::scopes::{self, Externalized, Persisted};
use crate::store::{
    Batch, ExecutionWrite, Lease, MapRunWrite, StopRequest, Store, StoreError, StoredExecution,
};
use map_runs::{Fed, LiveRun};
use serde_json::Value;
use sluice_lang::ir::Definition;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the driver keeps time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockMode {
    /// Wall-clock time: timers sleep.
    #[default]
    Real,
    /// Virtual time: when nothing else can happen, time jumps to the next timer.
    Virtual,
}

/// Driver settings.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Clock mode.
    pub clock: ClockMode,
    /// Most events applied before a commit.
    pub max_batch: usize,
    /// How long a lease on an execution lasts unless renewed: after a process dies, others take
    /// its executions over this long after its last renewal (at once on the same host).
    pub lease: Duration,
    /// Where a virtual clock starts, epoch ms (default: the wall clock's time at start).
    pub clock_start_ms: Option<i64>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            clock: ClockMode::Real,
            max_batch: 4096,
            lease: Duration::from_secs(15),
            clock_start_ms: None,
        }
    }
}

/// History events a group commit gathers at most before it is written (a commit may pass it by
/// the events of the message that crossed it: one interpreter step, at most 1,000 states).
const MAX_COMMIT_EVENTS: usize = 20_000;

/// Longest pause between two tries of a group commit the store refused.
const MAX_COMMIT_BACKOFF: Duration = Duration::from_secs(5);

/// Loads a stored definition's source into the IR (so the driver can resume executions).
pub type DefinitionLoader = Arc<dyn Fn(&str, &str) -> Result<Definition, String> + Send + Sync>;

/// An engine error.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An execution with this name exists already, with another input or flow.
    #[error(
        "ExecutionAlreadyExists: an execution named '{0}' already exists with a different input or flow"
    )]
    Duplicate(String),
    /// No such execution.
    #[error("no execution '{0}'")]
    NotFound(String),
    /// The driver has stopped.
    #[error("the engine has stopped: {0}")]
    Stopped(String),
    /// The execution cannot be stopped.
    #[error("execution '{0}' cannot be stopped: {1}")]
    NotStoppable(String, String),
    /// The execution cannot be redriven.
    #[error("execution '{0}' cannot be redriven: {1}")]
    NotRedrivable(String, String),
}

/// How an execution ended (or that it has not).
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Execution id.
    pub id: String,
    /// Status.
    pub status: Status,
    /// Output when succeeded.
    pub output: Option<Value>,
    /// Error name when failed.
    pub error: Option<String>,
    /// Cause when failed.
    pub cause: Option<String>,
}

/// Counters the driver keeps, readable while it runs.
#[derive(Debug, Default)]
pub struct Stats {
    /// States entered.
    pub transitions: AtomicU64,
    /// Store commits.
    pub commits: AtomicU64,
    /// Invocations dispatched.
    pub invocations: AtomicU64,
    /// Executions finished.
    pub finished: AtomicU64,
    /// Distributed Map items (or batches) started as children, or failed before starting.
    pub items_started: AtomicU64,
    /// Distributed Map items that succeeded.
    pub items_succeeded: AtomicU64,
    /// Distributed Map items that failed.
    pub items_failed: AtomicU64,
    /// Root executions started by this process.
    pub started: AtomicU64,
    /// Root executions that ended `SUCCEEDED` here.
    pub succeeded: AtomicU64,
    /// Root executions that ended `FAILED` here.
    pub failed: AtomicU64,
    /// Root executions that ended `TIMED_OUT` here.
    pub timed_out: AtomicU64,
    /// Root executions that ended `ABORTED` here.
    pub aborted: AtomicU64,
    /// Root executions taken over from the store: released by, or left by, another process
    /// (or an earlier run of this one).
    pub claimed: AtomicU64,
}

impl Stats {
    /// Counts a root execution that ended with `status`.
    fn count_end(&self, status: Status) {
        let counter = match status {
            Status::Running => return,
            Status::Succeeded => &self.succeeded,
            Status::Failed => &self.failed,
            Status::TimedOut => &self.timed_out,
            Status::Aborted => &self.aborted,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A request to start an execution.
pub struct StartRequest {
    /// Execution id, unique in the store.
    pub id: String,
    /// Stored definition id.
    pub definition_id: String,
    /// The definition.
    pub definition: Arc<Definition>,
    /// Names and ARNs.
    pub info: RunInfo,
    /// Input.
    pub input: Value,
}

/// Where how an execution ended is sent.
type WatchReply = tokio::sync::oneshot::Sender<Result<Outcome, EngineError>>;

/// Where the id of a started execution, or why it could not start, is sent.
type StartReply = tokio::sync::oneshot::Sender<Result<String, EngineError>>;

enum Msg {
    Start(Box<StartRequest>, StartReply),
    Task {
        exec: String,
        path: Vec<u32>,
        token: u64,
        outcome: TaskOutcome,
    },
    Watch(String, WatchReply),
    /// Items read for a map run.
    Fed {
        run: String,
        items: Vec<Fed>,
        done: bool,
        error: Option<TaskError>,
    },
    /// Stop a running execution.
    Stop(
        String,
        StopRequest,
        tokio::sync::oneshot::Sender<Result<(), EngineError>>,
    ),
    /// Serve executions of these definitions: claim the ones nobody drives, now and later.
    Serve(Vec<String>, tokio::sync::oneshot::Sender<()>),
    /// Restart a stopped execution from where it failed.
    Redrive(
        String,
        tokio::sync::oneshot::Sender<Result<(), EngineError>>,
    ),
    /// A map run's outcome, once its results are collected (and written).
    RunFinished {
        run: String,
        outcome: TaskOutcome,
    },
    /// An event the driver sends an execution itself, after a commit (a paused frame's
    /// `Continue`).
    Apply(String, Event),
    /// Name the state machines that child flow Tasks start: flow name, definition id.
    Publish(Vec<(String, String)>),
    /// A worker's report on a callback Task, by task token.
    Signal(String, TaskSignal, callbacks::CallbackReply),
    Shutdown,
}

/// A running engine: a cheap handle to the driver thread.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::Sender<Msg>,
    stats: Arc<Stats>,
    thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl Engine {
    /// Starts the driver. It claims no stored execution until told which definitions it serves
    /// ([`Engine::serve`]). `items` serves Distributed Map readers and writers.
    pub fn start(
        store: Arc<dyn Store>,
        invoker: Arc<dyn Invoker>,
        items: Arc<dyn ItemStore>,
        runtime: tokio::runtime::Handle,
        loader: DefinitionLoader,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(Stats::default());
        let virtual_now = options.clock_start_ms.unwrap_or_else(now_ms);
        let driver = Driver {
            store,
            invoker,
            items,
            runtime,
            loader,
            options,
            tx: tx.clone(),
            rx,
            stats: stats.clone(),
            live: HashMap::new(),
            in_memory: HashSet::new(),
            definitions: HashMap::new(),
            timers: BinaryHeap::new(),
            watchers: HashMap::new(),
            in_flight: 0,
            virtual_now,
            dirty: Vec::new(),
            commands: Vec::new(),
            runs: HashMap::new(),
            dirty_runs: Vec::new(),
            finished_items: Vec::new(),
            pumps: Vec::new(),
            finalize: Vec::new(),
            owner: ownership::owner_id(),
            serves: BTreeSet::new(),
            last_housekeeping: Instant::now(),
            commit_retry: None,
            stopping: BTreeMap::new(),
            pending_events: 0,
            starts: Vec::new(),
            signal_replies: Vec::new(),
            applied_signals: Vec::new(),
            flows: HashMap::new(),
        };
        let thread = std::thread::Builder::new()
            .name("sluice-driver".into())
            .spawn(move || driver.run())
            .map_err(|e| EngineError::Stopped(e.to_string()))?;
        Ok(Engine {
            tx,
            stats,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Starts an execution and returns its id once its first steps are committed.
    pub async fn start_execution(&self, request: StartRequest) -> Result<String, EngineError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Start(Box::new(request), reply))?;
        rx.await
            .map_err(|_| EngineError::Stopped("driver gone".into()))?
    }

    /// Serves the executions of these stored definitions: running ones that no live process
    /// holds are claimed at once (resumed from their last committed step), and later whenever
    /// another process lets them go. Returns once the first claim is done.
    pub async fn serve(&self, definitions: Vec<String>) -> Result<(), EngineError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Serve(definitions, reply))?;
        rx.await
            .map_err(|_| EngineError::Stopped("driver gone".into()))
    }

    /// Waits until the execution stops, whichever process drives it, and returns how it ended.
    pub async fn wait(&self, id: &str) -> Result<Outcome, EngineError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Watch(id.to_string(), reply))?;
        rx.await
            .map_err(|_| EngineError::Stopped("driver gone".into()))?
    }

    /// Restarts a failed, timed out or aborted execution from the state that stopped it, keeping
    /// what succeeded (see [`interpreter::redrive`]). Returns once the restart is committed.
    pub async fn redrive(&self, id: &str) -> Result<(), EngineError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Redrive(id.to_string(), reply))?;
        rx.await
            .map_err(|_| EngineError::Stopped("driver gone".into()))?
    }

    /// Stops a running execution (`ExecutionAborted`), with its Distributed Map children,
    /// whichever process drives it: this one acts at once when it holds the execution or can
    /// claim it; otherwise the holder acts at its next lease renewal. [`Engine::wait`] tells
    /// when it stopped.
    pub async fn stop(&self, id: &str, request: StopRequest) -> Result<(), EngineError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Stop(id.to_string(), request, reply))?;
        rx.await
            .map_err(|_| EngineError::Stopped("driver gone".into()))?
    }

    /// Names the current definition of served flows, which `states:startExecution` Tasks
    /// start by state machine name or ARN: `(flow name, definition id)` pairs, replacing earlier
    /// ones of the same names.
    pub fn publish(&self, flows: Vec<(String, String)>) -> Result<(), EngineError> {
        self.send(Msg::Publish(flows))
    }

    /// Reports on the `.waitForTaskToken` Task `token` names (`SendTaskSuccess`,
    /// `SendTaskFailure`, `SendTaskHeartbeat`), whichever process drives it. Returns once the
    /// report is durable: applied and committed here, or kept in the store for the process that
    /// drives the execution.
    pub async fn send_task_signal(
        &self,
        token: &str,
        signal: TaskSignal,
    ) -> Result<(), CallbackError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Msg::Signal(token.to_string(), signal, reply))
            .map_err(|_| CallbackError::Store("the engine stopped".into()))?;
        rx.await
            .map_err(|_| CallbackError::Store("the engine stopped".into()))?
    }

    /// The driver's counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether the driver still runs (it stops on [`Engine::shutdown`] or when it fails).
    pub fn is_running(&self) -> bool {
        self.thread
            .lock()
            .is_ok_and(|t| t.as_ref().is_some_and(|t| !t.is_finished()))
    }

    /// Stops the driver after its current batch and releases its leases.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Msg::Shutdown);
        if let Some(t) = self.thread.lock().ok().and_then(|mut g| g.take()) {
            let _ = t.join();
        }
    }

    fn send(&self, msg: Msg) -> Result<(), EngineError> {
        self.tx
            .send(msg)
            .map_err(|_| EngineError::Stopped("driver gone".into()))
    }
}

struct Live {
    record: StoredExecution,
    definition: Arc<Definition>,
    history: Vec<HistoryEvent>,
    new: bool,
    /// Which of its Map and Parallel values are stored already.
    persisted: Persisted,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    due_ms: i64,
    exec: String,
    path: Vec<u32>,
    token: u64,
    deadline: bool,
}

struct Driver {
    store: Arc<dyn Store>,
    invoker: Arc<dyn Invoker>,
    items: Arc<dyn ItemStore>,
    runtime: tokio::runtime::Handle,
    loader: DefinitionLoader,
    options: EngineOptions,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    stats: Arc<Stats>,
    live: HashMap<String, Live>,
    definitions: HashMap<String, Arc<Definition>>,
    timers: BinaryHeap<Reverse<Timer>>,
    watchers: HashMap<String, Vec<WatchReply>>,
    in_flight: usize,
    virtual_now: i64,
    dirty: Vec<String>,
    commands: Vec<(String, Command)>,
    /// The live executions that are EXPRESS map children, never stored (see [`express`]).
    in_memory: HashSet<String>,
    /// Map runs in progress, by id.
    runs: HashMap<String, LiveRun>,
    /// Map runs changed since the last commit.
    dirty_runs: Vec<String>,
    /// Map items finished since the last commit.
    finished_items: Vec<crate::store::ItemRecord>,
    /// Map runs that may start more children.
    pumps: Vec<String>,
    /// Map runs to conclude once the next commit made their items durable.
    finalize: Vec<String>,
    /// This process's id in leases.
    owner: String,
    /// Definitions whose executions this process drives.
    serves: BTreeSet<String>,
    /// When leases were last renewed and claims last made.
    last_housekeeping: Instant,
    /// History events waiting for the next commit.
    pending_events: usize,
    /// Executions started and not committed yet, with who waits for that.
    starts: Vec<(String, StartReply)>,
    /// Stops asked of this process and not done yet: execution, its definition, the request.
    stopping: BTreeMap<String, (String, StopRequest)>,
    /// After a failed commit: when to try again, and the pause before that.
    commit_retry: Option<(Instant, Duration)>,
    /// Callbacks applied and not committed yet, with who waits for that.
    signal_replies: Vec<callbacks::CallbackReply>,
    /// Kept callbacks applied, to drop from the store after the next commit.
    applied_signals: Vec<u64>,
    /// The current definition of each published flow, by name (see [`Engine::publish`]).
    flows: HashMap<String, String>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Driver {
    fn now(&self) -> i64 {
        match self.options.clock {
            ClockMode::Real => now_ms(),
            ClockMode::Virtual => self.virtual_now,
        }
    }

    /// The definition an execution runs: its flow's, or for a map child its item processor.
    fn execution_definition(
        &mut self,
        record: &StoredExecution,
    ) -> Result<Arc<Definition>, String> {
        match &record.info.parent {
            Some(p) => self.processor_definition(&record.definition_id, &p.processor),
            None => self.definition(&record.definition_id),
        }
    }

    fn definition(&mut self, id: &str) -> Result<Arc<Definition>, String> {
        if let Some(d) = self.definitions.get(id) {
            return Ok(d.clone());
        }
        let stored = self
            .store
            .definition(id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("definition {id} is missing"))?;
        let def = Arc::new((self.loader)(&stored.file, &stored.source)?);
        self.definitions.insert(id.to_string(), def.clone());
        Ok(def)
    }

    fn run(mut self) {
        loop {
            let first = match self.rx.try_recv() {
                Ok(m) => Some(m),
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.shut_down();
                    return;
                }
                Err(mpsc::TryRecvError::Empty) if self.has_work() => None,
                Err(mpsc::TryRecvError::Empty) => {
                    let jump = self.options.clock == ClockMode::Virtual
                        && self.in_flight == 0
                        && self.commit_retry.is_none();
                    if jump && let Some(Reverse(t)) = self.timers.peek() {
                        // Nothing else can happen: time moves to the next timer.
                        self.virtual_now = self.virtual_now.max(t.due_ms);
                        None
                    } else {
                        let timer = self.timers.peek().map(|Reverse(t)| {
                            Duration::from_millis(t.due_ms.saturating_sub(self.now()).max(0) as u64)
                        });
                        let chores = self.next_chore().saturating_duration_since(Instant::now());
                        self.recv_blocking(timer.map_or(chores, |t| t.min(chores)))
                    }
                }
            };
            let mut handled = 0;
            let mut next = first;
            loop {
                match next {
                    Some(Msg::Shutdown) => {
                        self.shut_down();
                        return;
                    }
                    Some(m) => {
                        self.handle(m);
                        handled += 1;
                    }
                    None => {}
                }
                if handled >= self.options.max_batch || self.pending_events >= MAX_COMMIT_EVENTS {
                    break;
                }
                next = match self.rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(_) => break,
                };
            }
            self.fire_due_timers();
            self.pump_runs();
            self.housekeeping();
            if self.commit() {
                self.dispatch();
            }
        }
    }

    /// Commits what is left and gives up this process's leases so others may go on at once.
    fn shut_down(&mut self) {
        self.commit_retry = None;
        if self.commit()
            && let Err(e) = self.store.release(&self.owner)
        {
            eprintln!("sluice: releasing leases failed: {e}");
        }
    }

    /// When the driver must wake up without a message: the next renewal or claim, or the next
    /// try of a refused commit.
    fn next_chore(&self) -> Instant {
        let chores = self.housekeeping_at();
        match self.commit_retry {
            Some((at, _)) => chores.min(at),
            None => chores,
        }
    }

    /// Whether something is waiting to be committed or started without any message arriving.
    fn has_work(&self) -> bool {
        if self.commit_retry.is_some_and(|(at, _)| Instant::now() < at) {
            return false;
        }
        !self.dirty.is_empty()
            || !self.dirty_runs.is_empty()
            || !self.finished_items.is_empty()
            || !self.pumps.is_empty()
            || !self.commands.is_empty()
            || !self.finalize.is_empty()
    }

    /// The next message, or `None` when `wait` passed without one.
    fn recv_blocking(&self, wait: Duration) -> Option<Msg> {
        match self.rx.recv_timeout(wait) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Msg::Shutdown),
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Start(req, reply) => match self.start_execution(*req) {
                // A new execution is answered once its first steps are committed.
                Ok(id) if self.live.get(&id).is_some_and(|l| l.new) => {
                    self.starts.push((id, reply));
                }
                result => {
                    let _ = reply.send(result);
                }
            },
            Msg::Task {
                exec,
                path,
                token,
                outcome,
            } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                self.apply(
                    &exec,
                    Event::TaskResult {
                        path,
                        token,
                        outcome,
                    },
                );
            }
            Msg::Watch(id, reply) => self.watch(id, reply),
            Msg::Fed {
                run,
                items,
                done,
                error,
            } => self.fed(&run, items, done, error),
            Msg::RunFinished { run, outcome } => self.run_finished(&run, outcome),
            Msg::Apply(exec, event) => self.apply(&exec, event),
            Msg::Signal(token, signal, reply) => self.task_signal(&token, signal, reply),
            Msg::Publish(flows) => self.flows.extend(flows),
            Msg::Redrive(id, reply) => {
                let result = self.redrive(&id);
                let _ = reply.send(result);
            }
            Msg::Serve(definitions, reply) => {
                self.serves.extend(definitions);
                self.claim();
                self.take_stop_requests();
                let _ = reply.send(());
            }
            Msg::Stop(id, request, reply) => {
                let result = self.stop_execution(&id, request);
                let _ = reply.send(result);
            }
            Msg::Shutdown => {}
        }
    }

    /// Tells `reply` how the execution ends, whichever process drives it.
    fn watch(&mut self, id: String, reply: WatchReply) {
        if self.live.contains_key(&id) {
            self.watchers.entry(id).or_default().push(reply);
            return;
        }
        match self.store.execution(&id) {
            Ok(Some(rec)) if rec.state.status == Status::Running => {
                // Another process drives it: housekeeping reads how it ended.
                self.watchers.entry(id).or_default().push(reply);
            }
            Ok(Some(rec)) => {
                let _ = reply.send(Ok(outcome_of(&rec)));
            }
            Ok(None) => {
                let _ = reply.send(Err(EngineError::NotFound(id)));
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
            }
        }
    }

    /// Starts an execution, or finds the one started earlier under the same name with the same
    /// flow and input (as Step Functions does); another one under that name is refused.
    fn start_execution(&mut self, req: StartRequest) -> Result<String, EngineError> {
        let id = req.id.clone();
        let existing = match self.live.get(&id) {
            Some(live) => Some((live.record.definition_id.clone(), live.record.input.clone())),
            None => self
                .store
                .execution(&id)?
                .map(|e| (e.definition_id, e.input)),
        };
        if let Some((definition_id, input)) = existing {
            return if definition_id == req.definition_id && input == req.input {
                Ok(id)
            } else {
                Err(EngineError::Duplicate(id))
            };
        }
        let mut info = req.info;
        info.start_ms = self.now();
        let started = guarded("starting the execution", || {
            interpreter::start(&req.definition, &info, req.input.clone(), info.start_ms)
        });
        let (state, fx) =
            started.unwrap_or_else(|cause| interpreter::failed_start(&cause, info.start_ms));
        self.deadline_timer(&id, state.deadline_ms);
        self.definitions
            .insert(req.definition_id.clone(), req.definition.clone());
        self.live.insert(
            id.clone(),
            Live {
                persisted: Persisted::default(),
                record: StoredExecution {
                    id: id.clone(),
                    root_id: id.clone(),
                    version: 0,
                    definition_id: req.definition_id,
                    info,
                    input: req.input,
                    state,
                    stop_ms: None,
                },
                definition: req.definition,
                history: Vec::new(),
                new: true,
            },
        );
        tracing::info!(execution = %id, "execution started");
        self.absorb(&id, fx);
        Ok(id)
    }

    fn redrive(&mut self, id: &str) -> Result<(), EngineError> {
        let refuse = |why: &str| EngineError::NotRedrivable(id.to_string(), why.to_string());
        if self.live.contains_key(id) {
            return Err(refuse("it is still running"));
        }
        let record = self
            .store
            .execution(id)?
            .ok_or_else(|| EngineError::NotFound(id.to_string()))?;
        if record.info.parent.is_some() {
            return Err(refuse(
                "it runs an item of a Distributed Map; redrive the execution that runs the Map",
            ));
        }
        self.redrive_execution(record).map_err(|why| refuse(&why))
    }

    /// Restarts a stored execution that stopped unsuccessfully and makes it live again.
    fn redrive_execution(&mut self, mut record: StoredExecution) -> Result<(), String> {
        let definition = self.execution_definition(&record)?;
        let now = self.now();
        let fx = interpreter::redrive(
            &definition,
            &record.info,
            &record.input,
            &mut record.state,
            now,
        )?;
        record.stop_ms = None;
        let id = record.id.clone();
        self.deadline_timer(&id, record.state.deadline_ms);
        self.live.insert(
            id.clone(),
            Live {
                persisted: Persisted::default(),
                record,
                definition,
                history: Vec::new(),
                new: false,
            },
        );
        self.absorb(&id, fx);
        Ok(())
    }

    fn apply(&mut self, exec: &str, event: Event) {
        let now = self.now();
        let Some(live) = self.live.get_mut(exec) else {
            return;
        };
        let state = &mut live.record.state;
        let applied = guarded("running a transition", || {
            interpreter::apply(
                &live.definition,
                &live.record.info,
                &live.record.input,
                state,
                event,
                now,
            )
        });
        let fx = applied
            .unwrap_or_else(|cause| interpreter::fail_runtime(&mut live.record.state, &cause, now));
        self.absorb(exec, fx);
    }

    fn absorb(&mut self, exec: &str, fx: Effects) {
        if self.in_memory.contains(exec) {
            self.absorb_in_memory(exec, fx);
            return;
        }
        let now = self.now();
        let Some(live) = self.live.get_mut(exec) else {
            return;
        };
        self.stats
            .transitions
            .fetch_add(fx.transitions, Ordering::Relaxed);
        self.pending_events += fx.history.len();
        live.history.extend(fx.history);
        let just_finished =
            live.record.state.status != Status::Running && live.record.stop_ms.is_none();
        if just_finished {
            live.record.stop_ms = Some(now);
        }
        self.dirty.push(exec.to_string());
        for cmd in fx.commands {
            self.commands.push((exec.to_string(), cmd));
        }
        if just_finished {
            self.child_finished(exec);
        }
    }

    /// Arms the timer that times the execution out at its deadline, if it has one.
    fn deadline_timer(&mut self, exec: &str, deadline: Option<i64>) {
        if let Some(due_ms) = deadline {
            self.timers.push(Reverse(Timer {
                due_ms,
                exec: exec.to_string(),
                path: Vec::new(),
                token: 0,
                deadline: true,
            }));
        }
    }

    fn fire_due_timers(&mut self) {
        let now = self.now();
        while let Some(Reverse(t)) = self.timers.peek() {
            if t.due_ms > now {
                break;
            }
            let Some(Reverse(t)) = self.timers.pop() else {
                break;
            };
            let event = if t.deadline {
                let current = self
                    .live
                    .get(&t.exec)
                    .and_then(|l| l.record.state.deadline_ms);
                if current != Some(t.due_ms) {
                    continue;
                }
                Event::ExecutionTimeout
            } else {
                Event::TimerFired {
                    path: t.path,
                    token: t.token,
                }
            };
            self.apply(&t.exec, event);
        }
    }

    /// Writes everything changed since the last commit in one transaction. Returns whether it
    /// is durable (nothing to write counts as durable). A refused commit keeps everything in
    /// memory and is tried again after a pause that doubles up to [`MAX_COMMIT_BACKOFF`].
    fn commit(&mut self) -> bool {
        if self.dirty.is_empty() && self.dirty_runs.is_empty() && self.finished_items.is_empty() {
            return true;
        }
        if self.commit_retry.is_some_and(|(at, _)| Instant::now() < at) {
            return false;
        }
        self.dirty.sort();
        self.dirty.dedup();
        self.dirty_runs.sort();
        self.dirty_runs.dedup();
        let dirty = std::mem::take(&mut self.dirty);
        let dirty_runs = std::mem::take(&mut self.dirty_runs);
        let items = std::mem::take(&mut self.finished_items);
        let lease_until = self.lease_until();
        let written: Vec<Option<Externalized>> = dirty
            .iter()
            .map(|id| {
                let l = self.live.get_mut(id)?;
                Some(scopes::externalize(&mut l.record.state, &l.persisted))
            })
            .collect();
        let result = {
            let batch = Batch {
                executions: dirty
                    .iter()
                    .zip(&written)
                    .filter_map(|(id, x)| Some((self.live.get(id)?, x.as_ref()?)))
                    .map(|(l, x)| ExecutionWrite {
                        execution: &l.record,
                        new: l.new,
                        history: &l.history,
                        state: &x.state,
                        values: &x.values,
                    })
                    .collect(),
                map_runs: dirty_runs
                    .iter()
                    .filter_map(|id| self.runs.get(id))
                    .map(|r| MapRunWrite {
                        record: &r.state.record,
                        new: r.new,
                    })
                    .collect(),
                items: &items,
            };
            let lease = Lease {
                owner: &self.owner,
                until_ms: lease_until,
            };
            self.store.commit(lease, &batch)
        };
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                let pause = self
                    .commit_retry
                    .map_or(Duration::from_millis(100), |(_, p)| {
                        (p * 2).min(MAX_COMMIT_BACKOFF)
                    });
                eprintln!(
                    "sluice: the store refused a commit ({e}); {} executions wait, retrying in {pause:?}",
                    dirty.len()
                );
                self.commit_retry = Some((Instant::now() + pause, pause));
                self.dirty = dirty;
                self.dirty_runs = dirty_runs;
                self.finished_items = items;
                return false;
            }
        };
        if self.commit_retry.take().is_some() {
            eprintln!("sluice: the store accepts commits again");
        }
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.pending_events = 0;
        self.let_go(&report.lost);
        for id in dirty_runs {
            match self.runs.get_mut(&id) {
                Some(r) if r.state.record.done => {
                    self.runs.remove(&id);
                }
                Some(r) => r.new = false,
                None => {}
            }
        }
        for (id, x) in dirty.into_iter().zip(written) {
            let finished = match self.live.get_mut(&id) {
                Some(l) => {
                    if let Some(x) = x {
                        l.persisted.stored(&x);
                    }
                    l.history.clear();
                    l.new = false;
                    l.record.version += 1;
                    l.record.state.status != Status::Running
                }
                None => false,
            };
            if finished && let Some(l) = self.live.remove(&id) {
                tracing::info!(
                    execution = %id,
                    status = l.record.state.status.as_str(),
                    "execution ended"
                );
                self.stats.finished.fetch_add(1, Ordering::Relaxed);
                if l.record.info.parent.is_none() {
                    self.stats.count_end(l.record.state.status);
                }
                let outcome = outcome_of(&l.record);
                for w in self.watchers.remove(&id).unwrap_or_default() {
                    let _ = w.send(Ok(outcome.clone()));
                }
            }
        }
        self.answer_starts(&report.lost);
        self.signals_committed();
        true
    }

    /// Answers the starts the last commit made durable. A start whose name another process
    /// took first is `ExecutionAlreadyExists`.
    fn answer_starts(&mut self, lost: &[String]) {
        for (id, reply) in std::mem::take(&mut self.starts) {
            let result = if lost.contains(&id) {
                Err(EngineError::Duplicate(id))
            } else {
                self.stats.started.fetch_add(1, Ordering::Relaxed);
                Ok(id)
            };
            let _ = reply.send(result);
        }
    }

    fn dispatch(&mut self) {
        for run in std::mem::take(&mut self.finalize) {
            self.conclude(&run);
        }
        for (exec, cmd) in std::mem::take(&mut self.commands) {
            if !self.live.contains_key(&exec) {
                continue;
            }
            match cmd {
                Command::Timer {
                    path,
                    token,
                    due_ms,
                } => self.timers.push(Reverse(Timer {
                    due_ms,
                    exec,
                    path,
                    token,
                    deadline: false,
                })),
                Command::MapRun { path, token, spec } => self.open_run(&exec, path, token, *spec),
                Command::Continue { path, token } => {
                    let _ = self
                        .tx
                        .send(Msg::Apply(exec, Event::Continue { path, token }));
                }
                Command::Invoke {
                    path,
                    token,
                    request,
                } if children::starts_child(&request) => {
                    self.stats.invocations.fetch_add(1, Ordering::Relaxed);
                    self.start_child_flow(&exec, path, token, request);
                }
                Command::Invoke {
                    path,
                    token,
                    request,
                } => {
                    self.in_flight += 1;
                    self.stats.invocations.fetch_add(1, Ordering::Relaxed);
                    let invoker = self.invoker.clone();
                    let tx = self.tx.clone();
                    let span = tracing::info_span!(
                        "task",
                        execution = %exec,
                        resource = %request.resource,
                        attempt = %request.idempotency_key,
                    );
                    let call = async move {
                        let outcome = match invoker.invoke(request).await {
                            Ok(v) => TaskOutcome::Ok(v),
                            Err(e) => TaskOutcome::Err {
                                error: e.error,
                                cause: e.cause,
                            },
                        };
                        if let TaskOutcome::Err { error, .. } = &outcome {
                            tracing::info!(%error, "task failed");
                        }
                        let _ = tx.send(Msg::Task {
                            exec,
                            path,
                            token,
                            outcome,
                        });
                    };
                    self.runtime
                        .spawn(tracing::Instrument::instrument(call, span));
                }
            }
        }
    }
}

/// Runs one transition; a panic becomes the cause its execution fails with (what was being
/// done and the panic's message), so that it stays local to that execution.
fn guarded<T>(doing: &str, transition: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(transition)).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        format!("internal error while {doing}: {message}")
    })
}

fn outcome_of(rec: &StoredExecution) -> Outcome {
    Outcome {
        id: rec.id.clone(),
        status: rec.state.status,
        output: rec.state.output.clone(),
        error: rec.state.error.clone(),
        cause: rec.state.cause.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_transition_fails_its_execution_with_states_runtime() {
        let cause = guarded("running a transition", || -> Effects {
            panic!("index out of bounds")
        })
        .unwrap_err();
        assert_eq!(
            cause,
            "internal error while running a transition: index out of bounds"
        );
        let (state, fx) = interpreter::failed_start(&cause, 7);
        assert_eq!(state.status, Status::Failed);
        assert_eq!(state.error.as_deref(), Some("States.Runtime"));
        assert_eq!(state.cause.as_deref(), Some(cause.as_str()));
        assert_eq!(fx.history.len(), 1);
        assert_eq!(fx.history[0].kind, "ExecutionFailed");
        assert_eq!(fx.history[0].timestamp_ms, 7);
    }

    #[test]
    fn a_transition_that_returns_is_passed_through() {
        assert_eq!(guarded("x", || 5), Ok(5));
    }
}
