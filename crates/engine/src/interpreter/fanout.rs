//! Map and Parallel: starting children, bounding their concurrency, collecting results in order.

use super::io::{self, Eval};
use super::states::transition;
use super::{Cx, Flow, Progress, run};
use crate::invoke::TaskError;
use crate::map_run::{Batcher, BatcherSpec, ItemTotal, Tolerance, tolerance_exceeded};
use crate::model::{Fanout, Frame, Step};
use serde_json::{Map, Value, json};
use sluice_lang::dataflow::{self, Failure, FdlVars};
use sluice_lang::ir::{Field, Io, MapSpec, Scope, State, StateKind};
use std::collections::{BTreeMap, VecDeque};

/// The scope a child of this Map or Parallel state runs.
pub(super) fn child_scope(state: &State, index: u32) -> Option<&Scope> {
    match &state.kind {
        StateKind::Parallel { branches } => branches.get(index as usize),
        StateKind::Map(spec) => Some(&spec.processor),
        _ => None,
    }
}

/// Enters a Map or Parallel state: computes the children's inputs and starts them.
pub(super) fn begin(
    cx: &mut Cx,
    state: &State,
    frame: &mut Frame,
    outer: &[&Map<String, Value>],
) -> Result<Flow, Failure> {
    if let StateKind::Map(spec) = &state.kind
        && spec.distributed
    {
        return super::distributed::begin(cx, state, spec, frame, outer);
    }
    let fan = new_fanout(cx, state, frame, outer)?;
    if matches!(state.kind, StateKind::Map(_)) {
        cx.event("MapStateStarted", json!({ "length": fan.results.len() }));
    } else {
        cx.event("ParallelStateStarted", json!({}));
    }
    frame.step = Step::Fanout(Box::new(fan));
    pump(cx, state, frame, outer)
}

/// Makes ready the children of an inline Map or a Parallel that failed, for a redrive: the ones
/// that succeeded keep their results, the others start again from their first state.
pub(super) fn rebuild(
    cx: &Cx,
    state: &State,
    frame: &mut Frame,
    old: Fanout,
) -> Result<(), Failure> {
    let mut fan = new_fanout(cx, state, frame, &[])?;
    for (slot, kept) in fan.results.iter_mut().zip(old.results) {
        if kept.is_some() {
            *slot = kept;
        }
    }
    let results = &fan.results;
    fan.pending
        .retain(|(i, _)| results.get(*i as usize).is_some_and(Option::is_none));
    frame.step = Step::Fanout(Box::new(fan));
    Ok(())
}

/// The children of an inline Map or a Parallel, none started yet.
fn new_fanout(
    cx: &Cx,
    state: &State,
    frame: &Frame,
    outer: &[&Map<String, Value>],
) -> Result<Fanout, Failure> {
    let ev = Eval::new(cx, state, frame, outer);
    match &state.kind {
        StateKind::Parallel { branches } => {
            let effective = io::effective_input(state, &frame.input, &ev, &cx.st.globals)?;
            Ok(Fanout {
                pending: (0..branches.len() as u32)
                    .map(|i| (i, effective.clone()))
                    .collect(),
                running: BTreeMap::new(),
                results: vec![None; branches.len()],
                max_concurrency: 0,
                failed: 0,
                tolerated_count: None,
                tolerated_percent: None,
                effective_input: effective,
                failure: None,
            })
        }
        StateKind::Map(spec) => map_fanout(cx, state, spec, frame, &ev),
        _ => unreachable!("fanout::begin on a state without children"),
    }
}

fn map_fanout(
    cx: &Cx,
    state: &State,
    spec: &MapSpec,
    frame: &Frame,
    ev: &Eval,
) -> Result<Fanout, Failure> {
    let raw = &frame.input;
    let (effective, items) = effective_and_items(cx, state, spec, raw, ev)?;
    let Value::Array(items) = items else {
        return Err(not_an_array(&items));
    };
    let mut inputs = Vec::with_capacity(items.len());
    let mut context = ev.context.clone();
    let mut scope = SelectorScope {
        globals: &cx.st.globals,
        io: &state.io,
        effective: &effective,
        raw,
        ev,
        context: &mut context,
    };
    for (index, item) in items.into_iter().enumerate() {
        inputs.push(select_item(
            &mut scope,
            spec.item_selector.as_ref(),
            index,
            item,
        )?);
    }
    let inputs = match batcher_spec(state, spec, raw, &effective, ev)? {
        None => inputs,
        Some(b) => {
            let mut batcher = Batcher::new(&b);
            let mut out: Vec<Value> = inputs.into_iter().filter_map(|i| batcher.push(i)).collect();
            out.extend(batcher.finish());
            out
        }
    };
    let limits = limits(spec, raw, &effective, ev)?;
    Ok(Fanout {
        results: vec![None; inputs.len()],
        pending: inputs
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i as u32, v))
            .collect::<VecDeque<_>>(),
        running: BTreeMap::new(),
        max_concurrency: limits.max_concurrency,
        failed: 0,
        tolerated_count: limits.tolerated_count,
        tolerated_percent: limits.tolerated_percent,
        effective_input: effective,
        failure: None,
    })
}

/// The error of a Map whose items are not an array.
pub(super) fn not_an_array(items: &Value) -> Failure {
    Failure::query(format!(
        "Map state input must be an array but was: {}",
        dataflow::compact(items)
    ))
}

/// A Map's concurrency and failure tolerance, evaluated.
pub(super) struct Limits {
    /// `MaxConcurrency` (0 = unbounded).
    pub max_concurrency: usize,
    /// `ToleratedFailureCount`.
    pub tolerated_count: Option<u64>,
    /// `ToleratedFailurePercentage`.
    pub tolerated_percent: Option<f64>,
}

/// Evaluates `MaxConcurrency` and the tolerated failure fields.
pub(super) fn limits(
    spec: &MapSpec,
    raw: &Value,
    effective: &Value,
    ev: &Eval,
) -> Result<Limits, Failure> {
    let max_concurrency = count_field(
        spec.max_concurrency.as_ref(),
        "MaxConcurrency",
        raw,
        effective,
        ev,
    )?
    .unwrap_or(0) as usize;
    let tolerated_count = count_field(
        spec.tolerated_failure_count.as_ref(),
        "ToleratedFailureCount",
        raw,
        effective,
        ev,
    )?;
    let tolerated_percent = match &spec.tolerated_failure_percentage {
        None => None,
        Some(f) => Some(number_field(
            f,
            "ToleratedFailurePercentage",
            raw,
            effective,
            ev,
        )?),
    };
    Ok(Limits {
        max_concurrency,
        tolerated_count: tolerated_count.map(|n| n as u64),
        tolerated_percent,
    })
}

/// The Map's effective input and its items (not yet checked to be an array). With an
/// `ItemReader` the items come from storage, so `ItemsPath` is not evaluated.
pub(super) fn effective_and_items(
    cx: &Cx,
    state: &State,
    spec: &MapSpec,
    raw: &Value,
    ev: &Eval,
) -> Result<(Value, Value), Failure> {
    let from_input = spec.item_reader.is_none();
    Ok(match &state.io {
        Io::JsonPath { input_path, .. } => {
            let effective = dataflow::apply_path(input_path, raw.clone(), &ev.env())?;
            let items = match &spec.items_path {
                sluice_lang::ir::OptPath::Path(p) if p != "$" && from_input => {
                    dataflow::select(p, &effective, &ev.env())?.ok_or_else(|| {
                        Failure::runtime(format!("Invalid path '{p}' : No results for path: {p}"))
                    })?
                }
                _ => effective.clone(),
            };
            (effective, items)
        }
        Io::Jsonata { .. } => {
            let items = match &spec.items {
                Some(v) => {
                    let out = ev.jsonata(v, &ev.states(raw, None, None), "Items")?;
                    if !out.is_array() {
                        let src = v
                            .as_str()
                            .and_then(dataflow::jsonata_source)
                            .map(str::trim)
                            .map(str::to_string)
                            .unwrap_or_else(|| dataflow::compact(v));
                        return Err(Failure::query(format!(
                            "The JSONata expression '{src}' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was '{}' for value: {}",
                            json_type(&out),
                            dataflow::compact(&out)
                        )));
                    }
                    out
                }
                None => raw.clone(),
            };
            (raw.clone(), items)
        }
        Io::Fdl { .. } => {
            let effective = io::effective_input(state, raw, ev, &cx.st.globals)?;
            let items = match &spec.items_path {
                sluice_lang::ir::OptPath::Path(p) if from_input => {
                    let global = Value::Object(cx.st.globals.clone());
                    dataflow::fdl_expression(
                        p,
                        &FdlVars::new(&effective, &ev.context, &global, ev.field_ambient()),
                        "ItemsPath",
                    )?
                }
                _ => effective.clone(),
            };
            (effective, items)
        }
    })
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What an `ItemSelector` reads besides the item: the state's values and its context object.
pub(super) struct SelectorScope<'a> {
    /// CloudFlow globals.
    pub globals: &'a Map<String, Value>,
    /// The state's query language.
    pub io: &'a Io,
    /// The state's effective input.
    pub effective: &'a Value,
    /// The state's raw input.
    pub raw: &'a Value,
    /// Variables in scope.
    pub ev: &'a Eval<'a>,
    /// The context object; `Map.Item` is set in it for each item and removed after.
    pub context: &'a mut Value,
}

/// An item's child input: the item itself, or what `ItemSelector` makes of it.
pub(super) fn select_item(
    scope: &mut SelectorScope,
    selector: Option<&Value>,
    index: usize,
    item: Value,
) -> Result<Value, Failure> {
    let Some(selector) = selector else {
        return Ok(item);
    };
    if !scope.context.is_object() {
        // The state reads no context object; the item is still offered as `$$.Map.Item`.
        *scope.context = Value::Object(Map::new());
    }
    let Some(context) = scope.context.as_object_mut() else {
        return Ok(item);
    };
    context.insert(
        "Map".into(),
        json!({ "Item": { "Index": index, "Value": item } }),
    );
    let result = evaluate_selector(scope, selector);
    if let Some(context) = scope.context.as_object_mut() {
        context.remove("Map");
    }
    result
}

fn evaluate_selector(scope: &SelectorScope, selector: &Value) -> Result<Value, Failure> {
    let context = &*scope.context;
    let ev = scope.ev;
    match scope.io {
        Io::JsonPath { .. } => {
            let env = dataflow::Env {
                context,
                vars: &ev.chain,
                draws: &ev.draws,
            };
            dataflow::template(selector, scope.effective, &env)
        }
        Io::Jsonata { .. } => {
            let mut states = ev.states(scope.raw, None, None);
            if let Some(s) = states.as_object_mut() {
                s.insert("context".into(), context.clone());
            }
            ev.jsonata(selector, &states, "ItemSelector")
        }
        Io::Fdl { .. } => {
            let global = Value::Object(scope.globals.clone());
            dataflow::fdl_template(
                selector,
                &FdlVars::new(scope.effective, context, &global, ev.field_ambient())
                    .with_item(context.pointer("/Map/Item/Value")),
            )
        }
    }
}

/// Evaluates `ItemBatcher`: its limits (literal, JSONata or `...Path`) and `BatchInput`.
pub(super) fn batcher_spec(
    state: &State,
    spec: &MapSpec,
    raw: &Value,
    effective: &Value,
    ev: &Eval,
) -> Result<Option<BatcherSpec>, Failure> {
    let Some(batcher) = &spec.item_batcher else {
        return Ok(None);
    };
    let limit = |name: &str| -> Result<Option<i64>, Failure> {
        let path = format!("{name}Path");
        let field = match (
            batcher.get(name),
            batcher.get(&path).and_then(Value::as_str),
        ) {
            (Some(v), _) => Some(Field::Literal(v.clone())),
            (None, Some(p)) => Some(Field::Path(p.to_string())),
            (None, None) => None,
        };
        let Some(field) = field else {
            return Ok(None);
        };
        let (value, _) = field_value(&field, name, raw, effective, ev)?;
        count_field(
            Some(&Field::Literal(numeric(value))),
            name,
            raw,
            effective,
            ev,
        )
    };
    let max_items = limit("MaxItemsPerBatch")?.filter(|n| *n > 0);
    let max_bytes = limit("MaxInputBytesPerBatch")?.filter(|n| *n > 0);
    let batch_input = match batcher.get("BatchInput") {
        None => None,
        Some(tpl) => Some(match &state.io {
            Io::Jsonata { .. } => ev.jsonata(tpl, &ev.states(raw, None, None), "BatchInput")?,
            _ => dataflow::template(tpl, effective, &ev.env())?,
        }),
    };
    Ok(Some(BatcherSpec {
        max_items: max_items.map_or(usize::MAX, |n| n as usize),
        max_bytes: max_bytes.map_or(256 * 1024, |n| n as usize),
        batch_input,
    }))
}

/// A string holding an integer (as variables often do) read as that number.
pub(super) fn numeric(v: Value) -> Value {
    match v.as_str().and_then(|s| s.trim().parse::<i64>().ok()) {
        Some(n) => Value::from(n),
        None => v,
    }
}

/// Evaluates a non-negative integer field (literal, JSONata or `...Path`).
pub(super) fn count_field(
    field: Option<&Field>,
    name: &str,
    raw: &Value,
    effective: &Value,
    ev: &Eval,
) -> Result<Option<i64>, Failure> {
    let Some(field) = field else {
        return Ok(None);
    };
    let (v, from_path) = field_value(field, name, raw, effective, ev)?;
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && n >= 0.0 => Ok(Some(n as i64)),
        Some(n) if n < 0.0 => Err(Failure::runtime(format!("{name} cannot be negative."))),
        _ => Err(match from_path {
            Some(p) => Failure::runtime(format!(
                "The {name}Path field refers to value \"{}\" which is not a valid integer: {p}",
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| dataflow::compact(&v))
            )),
            None => Failure::query(format!(
                "The {name} field must be a non-negative integer, not {}",
                dataflow::compact(&v)
            )),
        }),
    }
}

pub(super) fn number_field(
    field: &Field,
    name: &str,
    raw: &Value,
    effective: &Value,
    ev: &Eval,
) -> Result<f64, Failure> {
    let (v, _) = field_value(field, name, raw, effective, ev)?;
    v.as_f64()
        .filter(|n| (0.0..=100.0).contains(n))
        .ok_or_else(|| {
            Failure::runtime(format!(
                "{name} must be a number between 0 and 100, not {}",
                dataflow::compact(&v)
            ))
        })
}

pub(super) fn field_value(
    field: &Field,
    name: &str,
    raw: &Value,
    effective: &Value,
    ev: &Eval,
) -> Result<(Value, Option<String>), Failure> {
    match field {
        Field::Literal(Value::String(s)) if dataflow::jsonata_source(s).is_some() => Ok((
            ev.jsonata(&Value::String(s.clone()), &ev.states(raw, None, None), name)?,
            None,
        )),
        Field::Literal(v) => Ok((v.clone(), None)),
        Field::Path(p) => Ok((
            dataflow::select(p, effective, &ev.env())?.unwrap_or(Value::Null),
            Some(p.clone()),
        )),
    }
}

/// Starts children while the concurrency limit allows; completes the state when all are done.
pub(super) fn pump(
    cx: &mut Cx,
    state: &State,
    frame: &mut Frame,
    outer: &[&Map<String, Value>],
) -> Result<Flow, Failure> {
    let is_map = matches!(state.kind, StateKind::Map(_));
    {
        let Frame { vars, step, .. } = &mut *frame;
        let Step::Fanout(fan) = step else {
            return Ok(Flow::Block);
        };
        let mut chain: Vec<&Map<String, Value>> = Vec::with_capacity(outer.len() + 1);
        chain.push(vars);
        chain.extend_from_slice(outer);
        while fan.failure.is_none()
            && (fan.max_concurrency == 0 || fan.running.len() < fan.max_concurrency)
        {
            let Some((index, input)) = fan.pending.pop_front() else {
                break;
            };
            let Some(scope) = child_scope(state, index) else {
                break;
            };
            if is_map {
                cx.event(
                    "MapIterationStarted",
                    json!({ "index": index, "name": state.name }),
                );
            }
            cx.descend(state, index);
            let mut child = cx.new_frame(scope, input, Map::new());
            let progress = run(cx, scope, &mut child, &chain);
            cx.ascend();
            match progress {
                Progress::Blocked => {
                    fan.running.insert(index, child);
                }
                Progress::Done(result) => child_done(cx, state, fan, index, result),
            }
        }
        if let Some(err) = fan.failure.take() {
            // The children stay in the step: a redrive keeps the results of those that succeeded.
            return Err(Failure::new(err.error, err.cause));
        }
        if !fan.running.is_empty() || !fan.pending.is_empty() {
            return Ok(Flow::Block);
        }
    }
    let Step::Fanout(fan) = std::mem::replace(&mut frame.step, Step::Ready) else {
        return Ok(Flow::Block);
    };
    let results: Vec<Value> = fan
        .results
        .into_iter()
        .map(|r| r.unwrap_or(Value::Null))
        .collect();
    let result = match (&state.io, is_map) {
        (Io::Fdl { .. }, true) => json!({ "Items": results }),
        (Io::Fdl { .. }, false) => Value::Object(
            results
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("Branch{i}"), v))
                .collect(),
        ),
        _ => Value::Array(results),
    };
    cx.event(
        if is_map {
            "MapStateSucceeded"
        } else {
            "ParallelStateSucceeded"
        },
        json!({}),
    );
    let ev = Eval::new(cx, state, frame, outer);
    let (output, assigned) =
        io::output_with_result(state, &frame.input, result, &ev, &mut cx.st.globals)?;
    drop(ev);
    Ok(transition(state, frame, output, assigned))
}

/// Records a finished child; decides whether its failure fails the whole state.
pub(super) fn child_done(
    cx: &mut Cx,
    state: &State,
    fan: &mut Fanout,
    index: u32,
    result: Result<Value, Failure>,
) {
    fan.running.remove(&index);
    let is_map = matches!(state.kind, StateKind::Map(_));
    match result {
        Ok(v) => {
            if is_map {
                cx.event(
                    "MapIterationSucceeded",
                    json!({ "index": index, "name": state.name }),
                );
            }
            if let Some(slot) = fan.results.get_mut(index as usize) {
                *slot = Some(v);
            }
        }
        Err(f) => {
            if is_map {
                cx.event(
                    "MapIterationFailed",
                    json!({ "index": index, "name": state.name }),
                );
            }
            fan.failed += 1;
            let tolerance = Tolerance {
                count: fan.tolerated_count,
                percent: fan.tolerated_percent,
            };
            let total = ItemTotal::Known(fan.results.len() as u64);
            let fatal = f.error == "States.Runtime" || f.error == "States.DataLimitExceeded";
            if !is_map || fatal || !tolerance.is_set() {
                fan.failure = Some(TaskError {
                    error: f.error,
                    cause: f.cause,
                });
            } else if tolerance.exceeded(fan.failed as u64, total) {
                fan.failure = Some(tolerance_exceeded());
            } else if let Some(slot) = fan.results.get_mut(index as usize) {
                *slot = Some(io::error_output(&f));
            }
        }
    }
}
