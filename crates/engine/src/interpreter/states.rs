//! What each state type does when it runs or resumes.

use super::delay::{self, MAX_DELAY_SECONDS};
use super::io::{self, Eval};
use super::{CALLBACK, Cx, Flow, fanout};
use crate::callback::TaskToken;
use crate::effects::Command;
use crate::invoke::{self, InvokeRequest, TaskError};
use crate::model::{Callback, Frame, Step, TaskOutcome};
use serde_json::{Map, Value};
use sluice_lang::dataflow::{self, Failure, FdlVars};
use sluice_lang::ir::{Field, Io, State, StateKind, Transition, WaitSpec};
use sluice_lang::timestamp;

/// Runs or resumes the frame's current state.
pub(super) fn step(
    cx: &mut Cx,
    state: &State,
    frame: &mut Frame,
    outer: &[&Map<String, Value>],
) -> Flow {
    let step = std::mem::replace(&mut frame.step, Step::Ready);
    let result = match step {
        Step::Ready => start(cx, state, frame, outer),
        Step::TimerFired { wait_state: true } => {
            let effective = effective_or_raw(cx, state, frame, outer);
            effective.and_then(|eff| finish_passthrough(cx, state, frame, outer, &eff, None, None))
        }
        Step::TimerFired { wait_state: false } => start(cx, state, frame, outer),
        Step::MapRunDone {
            token,
            spec,
            outcome,
        } => super::distributed::done(cx, state, frame, outer, (token, spec), outcome),
        Step::TaskDone(outcome) => task_done(cx, state, frame, outer, outcome),
        Step::Fanout(fan) => {
            frame.step = Step::Fanout(fan);
            fanout::pump(cx, state, frame, outer)
        }
        waiting @ (Step::Task { .. }
        | Step::Timer { .. }
        | Step::MapRun { .. }
        | Step::Paused { .. }) => {
            frame.step = waiting;
            Ok(Flow::Block)
        }
    };
    result.unwrap_or_else(Flow::Raise)
}

fn effective_or_raw(
    cx: &Cx,
    state: &State,
    frame: &Frame,
    outer: &[&Map<String, Value>],
) -> Result<Value, Failure> {
    let ev = Eval::new(cx, state, frame, outer);
    match &state.io {
        Io::JsonPath { input_path, .. } => {
            dataflow::apply_path(input_path, frame.input.clone(), &ev.env())
        }
        _ => io::effective_input(state, &frame.input, &ev, &cx.st.globals),
    }
}

fn start(
    cx: &mut Cx,
    state: &State,
    frame: &mut Frame,
    outer: &[&Map<String, Value>],
) -> Result<Flow, Failure> {
    match &state.kind {
        StateKind::Pass { result } => {
            let ev = Eval::new(cx, state, frame, outer);
            let res = match (result, &state.io) {
                (Some(r), Io::JsonPath { .. }) => {
                    dataflow::check_result_size(&state.name, r)?;
                    r.clone()
                }
                _ => io::effective_input(state, &frame.input, &ev, &cx.st.globals)?,
            };
            let (output, assigned) = match &state.io {
                Io::Jsonata { output, .. } => {
                    let states = ev.states(&frame.input, None, None);
                    let assigned = io::assign_jsonata(state.assign.as_ref(), &states, &ev)?;
                    let out = match output {
                        Some(o) => ev.jsonata(o, &states, "Output")?,
                        None => frame.input.clone(),
                    };
                    (out, assigned)
                }
                _ => io::output_with_result(state, &frame.input, res, &ev, &mut cx.st.globals)?,
            };
            drop(ev);
            Ok(transition(state, frame, output, assigned))
        }
        StateKind::Succeed => {
            let eff = effective_or_raw(cx, state, frame, outer)?;
            let (out, assigned) = {
                let ev = Eval::new(cx, state, frame, outer);
                match &state.io {
                    Io::JsonPath { output_path, .. } => {
                        (dataflow::apply_path(output_path, eff, &ev.env())?, None)
                    }
                    _ => io::passthrough_output(state, &frame.input, &eff, &ev, None, None)?,
                }
            };
            if let Some(vars) = assigned {
                frame.vars.extend(vars);
            }
            Ok(Flow::End(out))
        }
        StateKind::Fail { error, cause } => {
            let ev = Eval::new(cx, state, frame, outer);
            let error = fail_field(state, error.as_ref(), "ErrorPath", frame, &ev)?;
            let cause = fail_field(state, cause.as_ref(), "CausePath", frame, &ev)?;
            Ok(Flow::Fail(Failure::new(error, cause)))
        }
        StateKind::Choice { rules, default } => {
            let eff = effective_or_raw(cx, state, frame, outer)?;
            choose(cx, state, frame, outer, &eff, rules, default.as_deref())
        }
        StateKind::Wait(spec) => {
            let eff = effective_or_raw(cx, state, frame, outer)?;
            let due = {
                let ev = Eval::new(cx, state, frame, outer);
                wait_until(cx.now_ms, spec, &frame.input, &eff, &ev)?
            };
            if due <= cx.now_ms {
                return finish_passthrough(cx, state, frame, outer, &eff, None, None);
            }
            let token = cx.token();
            frame.step = Step::Timer {
                token,
                due_ms: due,
                wait_state: true,
            };
            cx.fx.commands.push(Command::Timer {
                path: cx.path.clone(),
                token,
                due_ms: due,
            });
            Ok(Flow::Block)
        }
        StateKind::Task(spec) => {
            // A callback Task's token is known before its input is built (`$$.Task.Token`).
            let mut callback = invoke::waits_for_token(&spec.resource).then(|| {
                let attempt = cx.token();
                let nonce = cx.random_bits([CALLBACK, attempt]);
                cx.task_token = Some(
                    TaskToken {
                        execution: cx.info.execution_name.clone(),
                        path: cx.path.clone(),
                        attempt,
                        nonce,
                    }
                    .encode(),
                );
                (attempt, nonce)
            });
            let ev = Eval::new(cx, state, frame, outer);
            let effective = io::effective_input(state, &frame.input, &ev, &cx.st.globals);
            let timeout = match &spec.timeout {
                Some(f) => Some(positive_seconds(f, "TimeoutSeconds", &frame.input, &ev)),
                None => None,
            };
            let heartbeat = match &spec.heartbeat {
                Some(f) => Some(positive_seconds(f, "HeartbeatSeconds", &frame.input, &ev)),
                None => None,
            };
            drop(ev);
            cx.task_token = None;
            let effective = effective?;
            let timeout = timeout.transpose()?;
            let heartbeat = heartbeat.transpose()?;
            let (target, payload) =
                invoke::resolve(&spec.resource, &effective).map_err(Failure::runtime)?;
            let retry: u32 = frame.retries.iter().sum();
            let token = match callback {
                Some((attempt, _)) => attempt,
                None => cx.token(),
            };
            let request = InvokeRequest {
                idempotency_key: format!(
                    "{}/{}/{}#{}",
                    cx.info.execution_name,
                    path_text(&cx.path),
                    state.name,
                    retry
                ),
                execution: cx.info.execution_arn(),
                target,
                resource: spec.resource.clone(),
                payload,
                timeout_seconds: timeout,
            };
            cx.event(
                "TaskScheduled",
                serde_json::json!({ "resource": spec.resource, "parameters": request.payload }),
            );
            cx.fx.commands.push(Command::Invoke {
                path: cx.path.clone(),
                token,
                request: request.clone(),
            });
            let deadline_ms = timeout.map(|secs| cx.now_ms + secs as i64 * 1000);
            if let Some(due_ms) = deadline_ms {
                cx.fx.commands.push(Command::Timer {
                    path: cx.path.clone(),
                    token,
                    due_ms,
                });
            }
            let callback = callback.take().map(|(_, nonce)| Callback {
                nonce,
                submitted: false,
                heartbeat_seconds: heartbeat,
                heartbeat: heartbeat.map(|secs| heartbeat_timer(cx, secs)),
            });
            frame.step = Step::Task {
                token,
                request,
                deadline_ms,
                callback,
            };
            Ok(Flow::Block)
        }
        StateKind::Parallel { .. } | StateKind::Map(_) => fanout::begin(cx, state, frame, outer),
    }
}

/// Arms a callback Task's heartbeat timer, `secs` from now, and returns its token and due time.
pub(super) fn heartbeat_timer(cx: &mut Cx, secs: u64) -> (u64, i64) {
    let token = cx.token();
    let due_ms = delay::after_whole(cx.now_ms, secs);
    cx.fx.commands.push(Command::Timer {
        path: cx.path.clone(),
        token,
        due_ms,
    });
    (token, due_ms)
}

fn path_text(path: &[u32]) -> String {
    path.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn task_done(
    cx: &mut Cx,
    state: &State,
    frame: &mut Frame,
    outer: &[&Map<String, Value>],
    outcome: TaskOutcome,
) -> Result<Flow, Failure> {
    let result = match outcome {
        TaskOutcome::Ok(v) => {
            dataflow::check_result_size(&state.name, &v)?;
            cx.event("TaskSucceeded", serde_json::json!({ "output": v }));
            v
        }
        TaskOutcome::Err { error, cause } => {
            let timed_out = TaskError::timeout();
            let kind = if error == timed_out.error && cause == timed_out.cause {
                "TaskTimedOut"
            } else {
                "TaskFailed"
            };
            cx.event(kind, serde_json::json!({ "error": error, "cause": cause }));
            return Err(Failure::from_resource(error, cause));
        }
    };
    let result = match &state.kind {
        StateKind::Task(t) => invoke::shape_result(&t.resource, result),
        _ => result,
    };
    let ev = Eval::new(cx, state, frame, outer);
    let (output, assigned) =
        io::output_with_result(state, &frame.input, result, &ev, &mut cx.st.globals)?;
    drop(ev);
    Ok(transition(state, frame, output, assigned))
}

/// Applies assignments and moves on along the state's `Next`/`End`.
pub(super) fn transition(
    state: &State,
    frame: &mut Frame,
    output: Value,
    assigned: Option<Map<String, Value>>,
) -> Flow {
    if let Some(vars) = assigned {
        frame.vars.extend(vars);
    }
    match &state.transition {
        Some(Transition::Next(n)) => Flow::Goto(n.clone(), output),
        _ => Flow::End(output),
    }
}

fn finish_passthrough(
    cx: &mut Cx,
    state: &State,
    frame: &mut Frame,
    outer: &[&Map<String, Value>],
    effective: &Value,
    output: Option<&Value>,
    assign: Option<&Value>,
) -> Result<Flow, Failure> {
    let (out, assigned) = {
        let ev = Eval::new(cx, state, frame, outer);
        io::passthrough_output(state, &frame.input, effective, &ev, output, assign)?
    };
    Ok(transition(state, frame, out, assigned))
}

fn choose(
    cx: &mut Cx,
    state: &State,
    frame: &mut Frame,
    outer: &[&Map<String, Value>],
    effective: &Value,
    rules: &[sluice_lang::ir::ChoiceRule],
    default: Option<&str>,
) -> Result<Flow, Failure> {
    let matched = {
        let ev = Eval::new(cx, state, frame, outer);
        let mut matched = None;
        for rule in rules {
            let hit = match &state.io {
                Io::JsonPath { .. } => {
                    sluice_lang::choice::evaluate(&rule.condition, effective, &ev.env())?
                }
                Io::Jsonata { .. } => {
                    let states = ev.states(&frame.input, None, None);
                    match ev.jsonata(&rule.condition, &states, "Condition")? {
                        Value::Bool(b) => b,
                        other => {
                            return Err(Failure::query(format!(
                                "The Condition field evaluated to a non-boolean value: {}",
                                dataflow::compact(&other)
                            )));
                        }
                    }
                }
                Io::Fdl { .. } => {
                    let src = rule.condition.as_str().unwrap_or("false");
                    let global = Value::Object(cx.st.globals.clone());
                    let vars = FdlVars::new(effective, &ev.context, &global, ev.field_ambient());
                    dataflow::fdl_expression(src, &vars, "Condition")?.as_bool() == Some(true)
                }
            };
            if hit {
                matched = Some(rule);
                break;
            }
        }
        matched
    };
    match matched {
        Some(rule) => {
            let flow = finish_passthrough(
                cx,
                state,
                frame,
                outer,
                effective,
                rule.output.as_ref(),
                rule.assign
                    .as_ref()
                    .or(Some(&Value::Null))
                    .filter(|v| !v.is_null()),
            )?;
            Ok(match flow {
                Flow::Goto(_, out) | Flow::End(out) => Flow::Goto(rule.next.clone(), out),
                other => other,
            })
        }
        None => match default {
            Some(d) => {
                let flow = finish_passthrough(cx, state, frame, outer, effective, None, None)?;
                Ok(match flow {
                    Flow::Goto(_, out) | Flow::End(out) => Flow::Goto(d.to_string(), out),
                    other => other,
                })
            }
            None => Err(Failure::new(
                "States.NoChoiceMatched",
                format!(
                    "No Matches! (state '{}' has no Default and no rule matched)",
                    state.name
                ),
            )),
        },
    }
}

fn wait_until(
    now_ms: i64,
    spec: &WaitSpec,
    raw: &Value,
    effective: &Value,
    ev: &Eval,
) -> Result<i64, Failure> {
    match spec {
        WaitSpec::Seconds(v) => {
            let v = match v {
                Value::String(_) => ev.jsonata(v, &ev.states(raw, None, None), "Seconds")?,
                other => other.clone(),
            };
            let secs = v.as_f64().filter(|s| *s >= 0.0).ok_or_else(|| {
                Failure::query(format!(
                    "The Seconds field must be a non-negative integer, not {}",
                    dataflow::compact(&v)
                ))
            })?;
            if secs > MAX_DELAY_SECONDS as f64 {
                return Err(Failure::query(format!(
                    "The Seconds field must be at most {MAX_DELAY_SECONDS}, not {}",
                    dataflow::compact(&v)
                )));
            }
            Ok(delay::after(now_ms, secs))
        }
        WaitSpec::SecondsPath(p) => {
            let v = dataflow::select(p, effective, &ev.env())?.ok_or_else(|| {
                Failure::runtime(format!(
                    "The SecondsPath parameter does not reference an input value: {p}"
                ))
            })?;
            let secs = match v.as_i64() {
                Some(n) if n > MAX_DELAY_SECONDS as i64 => {
                    return Err(Failure::runtime(format!(
                        "The SecondsPath parameter references a value larger than {MAX_DELAY_SECONDS}: {p} == {n}"
                    )));
                }
                Some(n) if n >= 0 => n.unsigned_abs(),
                Some(n) => {
                    return Err(Failure::runtime(format!(
                        "The SecondsPath parameter references a negative value: {p} == {n}"
                    )));
                }
                None => {
                    return Err(Failure::runtime(format!(
                        "The SecondsPath parameter cannot be parsed as a long value: {p} == {}",
                        dataflow::compact(&v)
                    )));
                }
            };
            Ok(delay::after_whole(now_ms, secs))
        }
        WaitSpec::Timestamp(v) => {
            let v = match v {
                Value::String(s) if dataflow::jsonata_source(s).is_some() => {
                    ev.jsonata(v, &ev.states(raw, None, None), "Timestamp")?
                }
                other => other.clone(),
            };
            let text = v.as_str().unwrap_or_default();
            let t = timestamp::parse(text).ok_or_else(|| {
                Failure::query(format!(
                    "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {text}"
                ))
            })?;
            Ok(t.timestamp_millis())
        }
        WaitSpec::TimestampPath(p) => {
            let v = dataflow::select(p, effective, &ev.env())?;
            let t = v.as_ref().and_then(Value::as_str).and_then(timestamp::parse).ok_or_else(|| {
                Failure::runtime(format!(
                    "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {p} == {}",
                    v.as_ref().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| dataflow::compact(v))).unwrap_or_default()
                ))
            })?;
            Ok(t.timestamp_millis())
        }
    }
}

/// A positive whole number of seconds, at most [`MAX_DELAY_SECONDS`], from a literal, JSONata
/// string or path field; `name` is the literal field's name.
fn positive_seconds(field: &Field, name: &str, raw: &Value, ev: &Eval) -> Result<u64, Failure> {
    let name = match field {
        Field::Path(_) => format!("{name}Path"),
        Field::Literal(_) => name.to_owned(),
    };
    let name = name.as_str();
    let v = match field {
        Field::Literal(Value::String(s)) if dataflow::jsonata_source(s).is_some() => {
            ev.jsonata(&Value::String(s.clone()), &ev.states(raw, None, None), name)?
        }
        Field::Literal(v) => v.clone(),
        Field::Path(p) => dataflow::select(p, raw, &ev.env())?.unwrap_or(Value::Null),
    };
    v.as_u64()
        .filter(|n| (1..=MAX_DELAY_SECONDS).contains(n))
        .ok_or_else(|| {
        Failure::runtime(format!(
            "The {name} field must be a positive integer no larger than {MAX_DELAY_SECONDS}, not {}",
            dataflow::compact(&v)
        ))
    })
}

/// Evaluates a Fail state's `Error`/`Cause` (literal, JSONata, path or intrinsic).
fn fail_field(
    state: &State,
    field: Option<&Field>,
    path_field: &str,
    frame: &Frame,
    ev: &Eval,
) -> Result<String, Failure> {
    let v = match field {
        None => return Ok(String::new()),
        Some(Field::Literal(v)) => match (&state.io, v) {
            (Io::Jsonata { .. }, Value::String(_)) => {
                let name = if path_field == "ErrorPath" {
                    "Error"
                } else {
                    "Cause"
                };
                ev.jsonata(v, &ev.states(&frame.input, None, None), name)?
            }
            _ => v.clone(),
        },
        Some(Field::Path(p)) => {
            dataflow::path_or_intrinsic(p, &frame.input, &ev.env(), path_field)?
        }
    };
    Ok(match v {
        Value::String(s) => s,
        other => dataflow::compact(&other),
    })
}
