//! The transition function: `(execution state, event) -> (new state, effects)`.
//!
//! No I/O and no clock of its own: the caller passes `now_ms`, applies the returned
//! [`Effects`] (commit history, dispatch commands) and feeds outcomes back as [`Event`]s.
//! A frame runs until it must wait (a task, a timer) or its scope ends; Map and Parallel
//! states hold child frames, addressed by a path of child indices.
//!
//! One call enters at most [`MAX_TRANSITIONS_PER_STEP`] states, so that a loop of Pass and
//! Choice states never piles up an unbounded history before a commit: past that, a frame that
//! could go on pauses at the state it just entered and asks for a [`Command::Continue`], which
//! the caller answers with [`Event::Continue`] after committing.

mod delay;
mod distributed;
mod errors;
mod fanout;
mod fault;
mod io;
mod redrive;
mod states;
#[cfg(test)]
mod tests;

use crate::callback::TaskSignal;
use crate::effects::{Command, Effects, HistoryEvent};
use crate::invoke::TaskError;
use crate::map_run::ScopeStep;
use crate::model::{ExecutionState, Frame, Redriven, Status, Step, TaskOutcome};
use crate::run_info::RunInfo;
use serde_json::{Map, Value, json};
use sluice_jsonata::{Ambient, mix64, text_seed};
use sluice_lang::dataflow::Failure;
use sluice_lang::ir::{Definition, Io, Scope, State, StateKind};
use std::cell::Cell;

/// Something that happened to an execution.
#[derive(Clone, Debug)]
pub enum Event {
    /// A task attempt finished.
    TaskResult {
        /// Frame path.
        path: Vec<u32>,
        /// Attempt token.
        token: u64,
        /// Result or error.
        outcome: TaskOutcome,
    },
    /// A timer fired.
    TimerFired {
        /// Frame path.
        path: Vec<u32>,
        /// Timer token.
        token: u64,
    },
    /// The whole-execution timeout passed.
    ExecutionTimeout,
    /// A paused frame may go on (the answer to [`Command::Continue`]).
    Continue {
        /// Frame path.
        path: Vec<u32>,
        /// Pause token.
        token: u64,
    },
    /// A worker reported on a `.waitForTaskToken` Task (see [`crate::callback`]).
    Callback {
        /// Frame path.
        path: Vec<u32>,
        /// Attempt token.
        token: u64,
        /// The outcome, or a heartbeat.
        signal: TaskSignal,
    },
}

/// The most states one call into the interpreter enters before a frame that could go on pauses.
pub const MAX_TRANSITIONS_PER_STEP: u64 = 1_000;

/// Starts an execution: records `ExecutionStarted` and runs until the first wait.
pub fn start(
    def: &Definition,
    info: &RunInfo,
    input: Value,
    now_ms: i64,
) -> (ExecutionState, Effects) {
    let mut st = ExecutionState::new(def.timeout_seconds.map(|s| delay::after_whole(now_ms, s)));
    let mut fx = Effects::default();
    let execution_input = input.clone();
    let mut cx = Cx::new(info, &execution_input, &mut st, &mut fx, now_ms);
    cx.event(
        "ExecutionStarted",
        json!({ "input": input, "roleArn": info.role_arn }),
    );
    let mut root = cx.new_frame(&def.root, input, Map::new());
    let progress = run(&mut cx, &def.root, &mut root, &[]);
    finish(cx, &mut st, root, progress);
    (st, fx)
}

/// Applies an event to a running execution.
pub fn apply(
    def: &Definition,
    info: &RunInfo,
    execution_input: &Value,
    st: &mut ExecutionState,
    event: Event,
    now_ms: i64,
) -> Effects {
    let mut fx = Effects::default();
    let Some(mut root) = st.root.take() else {
        return fx;
    };
    let mut cx = Cx::new(info, execution_input, st, &mut fx, now_ms);
    let (path, delivery) = match event {
        Event::ExecutionTimeout => {
            time_out(cx, st, root);
            return fx;
        }
        Event::TaskResult {
            path,
            token,
            outcome,
        } => (path, Delivery::Task(token, outcome)),
        Event::TimerFired { path, token } => (path, Delivery::Timer(token)),
        Event::Continue { path, token } => (path, Delivery::Continue(token)),
        Event::Callback {
            path,
            token,
            signal,
        } => (path, Delivery::Callback(token, signal)),
    };
    let progress = deliver(&mut cx, &def.root, &mut root, &[], &path, delivery);
    finish(cx, st, root, progress);
    fx
}

pub use distributed::ItemInputs;
pub use fault::{abort, fail_runtime, failed_start};
pub use redrive::redrive;

/// Commands needed to resume a loaded execution: every pending task, timer and pause, again.
pub fn pending_commands(st: &ExecutionState) -> Vec<Command> {
    let mut out = Vec::new();
    if let Some(root) = &st.root {
        collect_pending(root, &mut Vec::new(), &mut out);
    }
    out
}

fn collect_pending(frame: &Frame, path: &mut Vec<u32>, out: &mut Vec<Command>) {
    match &frame.step {
        Step::Task {
            token,
            request,
            deadline_ms,
            callback,
        } => {
            // A callback Task's call is made again unless it returned: its worker has the token.
            if !callback.as_ref().is_some_and(|cb| cb.submitted) {
                out.push(Command::Invoke {
                    path: path.clone(),
                    token: *token,
                    request: request.clone(),
                });
            }
            if let Some((beat, due_ms)) = callback.as_ref().and_then(|cb| cb.heartbeat) {
                out.push(Command::Timer {
                    path: path.clone(),
                    token: beat,
                    due_ms,
                });
            }
            if let Some(due_ms) = deadline_ms {
                out.push(Command::Timer {
                    path: path.clone(),
                    token: *token,
                    due_ms: *due_ms,
                });
            }
        }
        Step::Timer { token, due_ms, .. } => out.push(Command::Timer {
            path: path.clone(),
            token: *token,
            due_ms: *due_ms,
        }),
        Step::MapRun { token, spec } => out.push(Command::MapRun {
            path: path.clone(),
            token: *token,
            spec: spec.clone(),
        }),
        Step::Paused { token } => out.push(Command::Continue {
            path: path.clone(),
            token: *token,
        }),
        Step::Fanout(fan) => {
            for (i, child) in &fan.running {
                path.push(*i);
                collect_pending(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn finish(cx: Cx, st: &mut ExecutionState, root: Frame, progress: Progress) {
    let (kind, details) = match progress {
        Progress::Blocked => {
            cx.st.put(st);
            st.root = Some(root);
            return;
        }
        Progress::Done(Ok(output)) => {
            st.status = Status::Succeeded;
            let d = json!({ "output": output });
            st.output = Some(output);
            ("ExecutionSucceeded", d)
        }
        Progress::Done(Err(f)) => {
            st.failed_at = Some(root);
            st.status = Status::Failed;
            let d = json!({ "error": f.error, "cause": f.cause });
            st.error = Some(f.error).filter(|e| !e.is_empty());
            st.cause = Some(f.cause).filter(|c| !c.is_empty());
            ("ExecutionFailed", d)
        }
    };
    record_end(cx, st, kind, details);
}

/// Stops the execution at its `TimeoutSeconds`, keeping where it stood for a redrive.
fn time_out(cx: Cx, st: &mut ExecutionState, root: Frame) {
    st.status = Status::TimedOut;
    st.error = None;
    st.cause = None;
    st.failed_at = Some(root);
    record_end(cx, st, "ExecutionTimedOut", json!({}));
}

/// Puts the counters back and records the event that ends the execution.
fn record_end(cx: Cx, st: &mut ExecutionState, kind: &str, details: Value) {
    let Cx {
        st: counters,
        fx,
        now_ms,
        ..
    } = cx;
    counters.put(st);
    let id = st.next_event_id;
    st.next_event_id += 1;
    fx.history.push(HistoryEvent {
        id,
        timestamp_ms: now_ms,
        kind: kind.to_string(),
        details,
    });
}

/// Counters and execution-wide values taken out of the state while frames are borrowed.
struct Counters {
    next_event_id: u64,
    next_token: u64,
    globals: Map<String, Value>,
    redriven: Option<Redriven>,
}

impl Counters {
    fn take(st: &mut ExecutionState) -> Counters {
        Counters {
            next_event_id: st.next_event_id,
            next_token: st.next_token,
            globals: std::mem::take(&mut st.globals),
            redriven: st.redriven,
        }
    }

    fn put(self, st: &mut ExecutionState) {
        st.next_event_id = self.next_event_id;
        st.next_token = self.next_token;
        st.globals = self.globals;
    }
}

/// Everything a transition needs besides the frame it works on.
struct Cx<'a> {
    info: &'a RunInfo,
    execution_input: &'a Value,
    st: Counters,
    fx: &'a mut Effects,
    now_ms: i64,
    path: Vec<u32>,
    /// The scopes entered on the way to the current frame, for naming item processors.
    scopes: Vec<ScopeStep>,
    /// Evaluation environments handed out in this call (see [`Cx::ambient`]).
    ambients: Cell<u64>,
    /// The task token of the callback Task whose input is being built (`$$.Task.Token`).
    task_token: Option<String>,
}

/// The first word of the salt of a retry's jitter (see [`Cx::random_bits`]); event ids, the
/// first word for JSONata evaluations, start at 1.
const JITTER: u64 = 0;
/// The first word of the salt of a task token's random part: above every event id.
const CALLBACK: u64 = u64::MAX;

impl<'a> Cx<'a> {
    /// A transition of `st` at `now_ms`, recording into `fx`.
    fn new(
        info: &'a RunInfo,
        execution_input: &'a Value,
        st: &mut ExecutionState,
        fx: &'a mut Effects,
        now_ms: i64,
    ) -> Cx<'a> {
        Cx {
            info,
            execution_input,
            st: Counters::take(st),
            fx,
            now_ms,
            path: Vec::new(),
            scopes: Vec::new(),
            ambients: Cell::new(0),
            task_token: None,
        }
    }

    /// 64 random bits for the decision named by `salt`: the same seed, execution and salt give
    /// the same bits, so no generator state needs to be kept.
    fn random_bits(&self, salt: [u64; 2]) -> u64 {
        let execution = self.info.seed ^ text_seed(&self.info.execution_name);
        salt.iter().fold(mix64(execution), |h, s| mix64(h ^ s))
    }

    /// The clock and seed of one JSONata environment: this step's time, and a seed named by the
    /// next event id and how many environments this call handed out before.
    fn ambient(&self) -> Ambient {
        let n = self.ambients.get();
        self.ambients.set(n + 1);
        Ambient {
            now_millis: Some(self.now_ms),
            seed: Some(self.random_bits([self.st.next_event_id, n])),
        }
    }

    /// Enters child `index` of `state`.
    fn descend(&mut self, state: &State, index: u32) {
        self.path.push(index);
        let branch = if matches!(state.kind, StateKind::Map(_)) {
            0
        } else {
            index
        };
        self.scopes.push((state.name.clone(), branch));
    }

    /// Leaves the child entered last.
    fn ascend(&mut self) {
        self.path.pop();
        self.scopes.pop();
    }

    /// Records a history event and returns its id.
    fn event(&mut self, kind: &str, details: Value) -> u64 {
        let id = self.st.next_event_id;
        self.st.next_event_id += 1;
        self.fx.history.push(HistoryEvent {
            id,
            timestamp_ms: self.now_ms,
            kind: kind.to_string(),
            details,
        });
        id
    }

    fn token(&mut self) -> u64 {
        let t = self.st.next_token;
        self.st.next_token += 1;
        t
    }

    /// A frame at the scope's first state, with its entered event recorded.
    fn new_frame(&mut self, scope: &Scope, input: Value, vars: Map<String, Value>) -> Frame {
        let mut frame = Frame {
            vars,
            state: scope.start_at.clone(),
            input,
            entered_event: 0,
            entered_ms: self.now_ms,
            retries: Vec::new(),
            step: Step::Ready,
            map_item: None,
        };
        self.enter(scope, &mut frame);
        frame
    }

    /// Records that the frame entered its current state.
    fn enter(&mut self, scope: &Scope, frame: &mut Frame) {
        let type_name = scope
            .state(&frame.state)
            .map(|s| s.type_name())
            .unwrap_or("Pass");
        frame.entered_event = self.event(
            &format!("{type_name}StateEntered"),
            json!({ "name": frame.state, "input": frame.input }),
        );
        frame.entered_ms = self.now_ms;
        frame.retries.clear();
        self.fx.transitions += 1;
    }

    /// The context object for the frame's current state. `RetryCount` is only there for states
    /// that can retry (Task, Parallel, Map), as on AWS.
    fn context(&self, state: &State, frame: &Frame) -> Value {
        let mut m = self.info.context_base(self.execution_input);
        if let (Some(r), Some(Value::Object(execution))) =
            (self.st.redriven, m.get_mut("Execution"))
        {
            execution.insert("RedriveCount".into(), json!(r.count));
            execution.insert(
                "RedriveTime".into(),
                json!(sluice_lang::timestamp::format(crate::run_info::epoch(
                    r.last_ms
                ))),
            );
        }
        let mut current = json!({
            "EnteredTime": sluice_lang::timestamp::format(crate::run_info::epoch(frame.entered_ms)),
            "Name": frame.state,
        });
        if matches!(
            state.kind,
            StateKind::Task(_) | StateKind::Parallel { .. } | StateKind::Map(_)
        ) {
            let retry_count: u32 = frame.retries.iter().sum();
            current["RetryCount"] = json!(retry_count);
        }
        m.insert("State".into(), current);
        if let Some(token) = &self.task_token {
            // FDL names it `$Context.Current.TaskToken`.
            let (key, value) = match state.io {
                Io::Fdl { .. } => ("Current", json!({ "TaskToken": token })),
                _ => ("Task", json!({ "Token": token })),
            };
            m.insert(key.into(), value);
        }
        Value::Object(m)
    }
}

/// How far a frame got.
enum Progress {
    /// It waits for a task, a timer or a `Continue`.
    Blocked,
    /// Its scope ended with an output or an error.
    Done(Result<Value, Failure>),
}

/// An outcome addressed to one frame.
enum Delivery {
    Task(u64, TaskOutcome),
    Timer(u64),
    Continue(u64),
    Callback(u64, TaskSignal),
}

/// Walks down `path` and hands the delivery to the frame there, then lets each frame on the way
/// back up react to its child finishing.
fn deliver(
    cx: &mut Cx,
    scope: &Scope,
    frame: &mut Frame,
    outer: &[&Map<String, Value>],
    path: &[u32],
    delivery: Delivery,
) -> Progress {
    let Some((&index, rest)) = path.split_first() else {
        let accepted = accept(cx, frame, delivery);
        return if accepted {
            run(cx, scope, frame, outer)
        } else {
            Progress::Blocked
        };
    };
    let Some(state) = scope.state(&frame.state) else {
        return Progress::Blocked;
    };
    let Frame { vars, step, .. } = frame;
    let Step::Fanout(fan) = step else {
        return Progress::Blocked;
    };
    let Some(child) = fan.running.get_mut(&index) else {
        return Progress::Blocked;
    };
    let Some(child_scope) = fanout::child_scope(state, index) else {
        return Progress::Blocked;
    };
    let mut chain: Vec<&Map<String, Value>> = Vec::with_capacity(outer.len() + 1);
    chain.push(vars);
    chain.extend_from_slice(outer);
    cx.descend(state, index);
    let progress = deliver(cx, child_scope, child, &chain, rest, delivery);
    cx.ascend();
    match progress {
        Progress::Blocked => Progress::Blocked,
        Progress::Done(result) => {
            fanout::child_done(cx, state, fan, index, result);
            run(cx, scope, frame, outer)
        }
    }
}

/// Hands a delivery to the frame it is addressed to; returns whether the frame can go on.
/// Outcomes for an attempt, timer or pause the frame no longer waits for are dropped.
fn accept(cx: &mut Cx, frame: &mut Frame, delivery: Delivery) -> bool {
    match (&mut frame.step, delivery) {
        (
            Step::Task {
                token,
                callback: Some(cb),
                ..
            },
            Delivery::Task(t, outcome),
        ) if *token == t => match outcome {
            // The call that handed the token out returned: the Task waits for its callback.
            TaskOutcome::Ok(_) => {
                cb.submitted = true;
                false
            }
            failed => {
                frame.step = Step::TaskDone(failed);
                true
            }
        },
        (Step::Task { token, .. }, Delivery::Task(t, outcome)) if *token == t => {
            frame.step = Step::TaskDone(outcome);
            true
        }
        (
            Step::Task {
                token,
                callback: Some(_),
                ..
            },
            Delivery::Callback(t, TaskSignal::Outcome(outcome)),
        ) if *token == t => {
            frame.step = Step::TaskDone(outcome);
            true
        }
        (
            Step::Task {
                token,
                callback: Some(cb),
                ..
            },
            Delivery::Callback(t, TaskSignal::Heartbeat),
        ) if *token == t => {
            if let Some(secs) = cb.heartbeat_seconds {
                cb.heartbeat = Some(states::heartbeat_timer(cx, secs));
            }
            false
        }
        (Step::MapRun { token, .. }, Delivery::Task(t, outcome)) if *token == t => {
            if let Step::MapRun { token, spec } = std::mem::replace(&mut frame.step, Step::Ready) {
                frame.step = Step::MapRunDone {
                    token,
                    spec,
                    outcome,
                };
            }
            true
        }
        (
            Step::Timer {
                token, wait_state, ..
            },
            Delivery::Timer(t),
        ) if *token == t => {
            frame.step = Step::TimerFired {
                wait_state: *wait_state,
            };
            true
        }
        (
            Step::Task {
                token,
                deadline_ms,
                callback,
                ..
            },
            Delivery::Timer(t),
        ) if (*token == t && deadline_ms.is_some())
            || callback
                .as_ref()
                .and_then(|cb| cb.heartbeat)
                .is_some_and(|(beat, _)| beat == t) =>
        {
            // The attempt ran past its `TimeoutSeconds`, or its worker fell silent for longer
            // than `HeartbeatSeconds`: both are `States.Timeout`.
            let TaskError { error, cause } = TaskError::timeout();
            frame.step = Step::TaskDone(TaskOutcome::Err { error, cause });
            true
        }
        (Step::Paused { token }, Delivery::Continue(t)) if *token == t => {
            frame.step = Step::Ready;
            true
        }
        _ => false,
    }
}

/// What a state decided.
pub(crate) enum Flow {
    /// The frame waits (its step says for what).
    Block,
    /// Go to the next state with this output.
    Goto(String, Value),
    /// The scope ends with this output.
    End(Value),
    /// The state raised an error; Retry and Catch apply.
    Raise(Failure),
    /// The scope fails with this error; no Retry or Catch at this state (a Fail state).
    Fail(Failure),
}

/// Runs a frame until it blocks, pauses (see [`MAX_TRANSITIONS_PER_STEP`]) or its scope ends.
fn run(cx: &mut Cx, scope: &Scope, frame: &mut Frame, outer: &[&Map<String, Value>]) -> Progress {
    loop {
        let Some(state) = scope.state(&frame.state) else {
            return Progress::Done(Err(Failure::runtime(format!(
                "the state '{}' does not exist",
                frame.state
            ))));
        };
        let flow = states::step(cx, state, frame, outer);
        let flow = match flow {
            Flow::Raise(failure) => errors::handle(cx, state, frame, outer, failure),
            other => other,
        };
        match flow {
            Flow::Block => return Progress::Blocked,
            Flow::Goto(next, output) => {
                exit(cx, state.type_name(), frame, &output);
                frame.state = next;
                frame.input = output;
                frame.step = Step::Ready;
                cx.enter(scope, frame);
                if cx.fx.transitions >= MAX_TRANSITIONS_PER_STEP {
                    let token = cx.token();
                    frame.step = Step::Paused { token };
                    cx.fx.commands.push(Command::Continue {
                        path: cx.path.clone(),
                        token,
                    });
                    return Progress::Blocked;
                }
            }
            Flow::End(output) => {
                exit(cx, state.type_name(), frame, &output);
                return Progress::Done(Ok(output));
            }
            Flow::Raise(failure) | Flow::Fail(failure) => {
                return Progress::Done(Err(failure));
            }
        }
    }
}

fn exit(cx: &mut Cx, type_name: &str, frame: &Frame, output: &Value) {
    cx.event(
        &format!("{type_name}StateExited"),
        json!({ "name": frame.state, "output": output }),
    );
}
