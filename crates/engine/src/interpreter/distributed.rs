//! Distributed Map: the state hands a [`MapRunSpec`] to the driver, which runs every item as a
//! child execution of its own and reports the run's outcome back like a task result.

use super::Cx;
use super::Flow;
use super::fanout::{self, field_value, numeric};
use super::io::{self, Eval};
use super::states::transition;
use crate::effects::Command;
use crate::invoke::TaskError;
use crate::map_run::{ItemSource, MapRunSpec, SelectorLanguage, SelectorSnapshot};
use crate::model::{Frame, Step, TaskOutcome};
use serde_json::{Map, Value, json};
use sluice_jsonata::Ambient;
use sluice_lang::dataflow::{self, Failure, FdlVars, ScopeChain};
use sluice_lang::ir::{Field, Io, MapSpec, State};

/// Starts a Distributed Map: evaluates its reader, selector, batcher, limits and writer, and
/// asks the driver to run it.
pub(super) fn begin(
    cx: &mut Cx,
    state: &State,
    spec: &MapSpec,
    frame: &mut Frame,
    outer: &[&Map<String, Value>],
) -> Result<Flow, Failure> {
    let raw = frame.input.clone();
    let (run, token) = {
        let ev = Eval::new(cx, state, frame, outer);
        let (effective, items) = fanout::effective_and_items(cx, state, spec, &raw, &ev)?;
        let source = match &spec.item_reader {
            Some(reader) => ItemSource::Reader(reader_value(
                state,
                reader,
                &raw,
                &effective,
                &ev,
                &cx.st.globals,
            )?),
            None => match items {
                Value::Array(items) => ItemSource::Inline(items),
                other => return Err(fanout::not_an_array(&other)),
            },
        };
        let limits = fanout::limits(spec, &raw, &effective, &ev)?;
        let writer = match &spec.result_writer {
            Some(w) => Some(parameters(
                state,
                w,
                &raw,
                &effective,
                &ev,
                &cx.st.globals,
                "ResultWriter",
            )?),
            None => None,
        };
        let selector = spec
            .item_selector
            .as_ref()
            .map(|template| SelectorSnapshot {
                template: template.clone(),
                language: match &state.io {
                    Io::JsonPath { .. } => SelectorLanguage::JsonPath,
                    Io::Jsonata { .. } => SelectorLanguage::Jsonata,
                    Io::Fdl { .. } => SelectorLanguage::Fdl,
                },
                effective: effective.clone(),
                raw: raw.clone(),
                context: ev.context.clone(),
                vars: visible_vars(&ev.chain),
                globals: cx.st.globals.clone(),
                now_ms: ev.ambient.now_millis,
                seed: ev.ambient.seed,
            });
        let batcher = fanout::batcher_spec(state, spec, &raw, &effective, &ev)?;
        let token = cx.token();
        let label = spec.label.clone().unwrap_or_else(|| state.name.clone());
        let id = format!("{}/{}:{}", cx.info.execution_name, label, token);
        let mut processor = cx
            .info
            .parent
            .as_ref()
            .map(|p| p.processor.clone())
            .unwrap_or_default();
        processor.extend(cx.scopes.iter().cloned());
        processor.push((state.name.clone(), 0));
        let run_uuid = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, id.as_bytes());
        let run = MapRunSpec {
            arn: format!(
                "arn:aws:states:{}:{}:mapRun:{}/{}:{}",
                cx.info.region, cx.info.account_id, cx.info.state_machine_name, label, run_uuid
            ),
            id,
            state: state.name.clone(),
            label,
            source,
            selector,
            batcher,
            max_concurrency: limits.max_concurrency,
            tolerated_count: limits.tolerated_count,
            tolerated_percent: limits.tolerated_percent,
            writer,
            processor,
            fdl: matches!(state.io, Io::Fdl { .. }),
            express: spec.express,
        };
        (run, token)
    };
    cx.event("MapStateStarted", json!({ "length": 0 }));
    cx.event("MapRunStarted", json!({ "mapRunArn": run.arn }));
    let run = Box::new(run);
    cx.fx.commands.push(Command::MapRun {
        path: cx.path.clone(),
        token,
        spec: run.clone(),
    });
    frame.step = Step::MapRun { token, spec: run };
    Ok(Flow::Block)
}

/// The run ended: continue as the Map state does with its result, or raise its error. A failed
/// run stays in the frame's step (not waited for), so that a redrive of the execution reopens it.
pub(super) fn done(
    cx: &mut Cx,
    state: &State,
    frame: &mut Frame,
    outer: &[&Map<String, Value>],
    (token, spec): (u64, Box<MapRunSpec>),
    outcome: TaskOutcome,
) -> Result<Flow, Failure> {
    let result = match outcome {
        TaskOutcome::Ok(v) => v,
        TaskOutcome::Err { error, cause } => {
            cx.event("MapRunFailed", json!({ "error": error, "cause": cause }));
            frame.step = Step::MapRun { token, spec };
            return Err(Failure::new(error, cause));
        }
    };
    cx.event("MapRunSucceeded", json!({}));
    cx.event("MapStateSucceeded", json!({}));
    let ev = Eval::new(cx, state, frame, outer);
    let (output, assigned) =
        io::output_with_result(state, &frame.input, result, &ev, &mut cx.st.globals)?;
    drop(ev);
    Ok(transition(state, frame, output, assigned))
}

/// Turns a run's items into child inputs with its `ItemSelector`.
pub struct ItemInputs {
    spec: Option<SelectorSnapshot>,
    io: Io,
}

impl ItemInputs {
    /// The inputs maker of a run.
    pub fn new(spec: &MapRunSpec) -> ItemInputs {
        let language = spec
            .selector
            .as_ref()
            .map_or(SelectorLanguage::JsonPath, |s| s.language);
        let io = match language {
            SelectorLanguage::JsonPath => Io::JsonPath {
                input_path: Default::default(),
                parameters: None,
                result_selector: None,
                result_path: Default::default(),
                output_path: Default::default(),
            },
            SelectorLanguage::Jsonata => Io::Jsonata {
                arguments: None,
                output: None,
            },
            SelectorLanguage::Fdl => Io::Fdl {
                input: None,
                parameters: None,
                output: None,
                global: None,
            },
        };
        ItemInputs {
            spec: spec.selector.clone(),
            io,
        }
    }

    /// The child input for item `index`.
    pub fn input(&mut self, index: u64, item: Value) -> Result<Value, TaskError> {
        let Some(sel) = &mut self.spec else {
            return Ok(item);
        };
        let ambient = Ambient {
            now_millis: sel.now_ms,
            seed: sel.seed,
        };
        let ev = Eval::from_parts(
            Value::Null,
            ScopeChain(vec![&sel.vars]),
            ambient.derive(index),
        );
        let mut scope = fanout::SelectorScope {
            globals: &sel.globals,
            io: &self.io,
            effective: &sel.effective,
            raw: &sel.raw,
            ev: &ev,
            context: &mut sel.context,
        };
        fanout::select_item(&mut scope, Some(&sel.template), index as usize, item).map_err(|f| {
            TaskError {
                error: f.error,
                cause: f.cause,
            }
        })
    }
}

/// Every variable visible from the state, inner scopes shadowing outer ones.
fn visible_vars(chain: &ScopeChain) -> Map<String, Value> {
    let mut out = Map::new();
    for scope in chain.0.iter().rev() {
        for (k, v) in scope.iter() {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// The `ItemReader` with its parameters and `ReaderConfig.MaxItems` evaluated.
fn reader_value(
    state: &State,
    reader: &Value,
    raw: &Value,
    effective: &Value,
    ev: &Eval,
    globals: &Map<String, Value>,
) -> Result<Value, Failure> {
    let mut out = parameters(state, reader, raw, effective, ev, globals, "ItemReader")?;
    let Some(config) = out.get_mut("ReaderConfig").and_then(Value::as_object_mut) else {
        return Ok(out);
    };
    let field = match (config.remove("MaxItems"), config.remove("MaxItemsPath")) {
        (Some(v), _) => Some(Field::Literal(v)),
        (None, Some(Value::String(p))) => Some(Field::Path(p)),
        _ => None,
    };
    if let Some(field) = field {
        let (value, _) = field_value(&field, "MaxItems", raw, effective, ev)?;
        let n = fanout::count_field(
            Some(&Field::Literal(numeric(value))),
            "MaxItems",
            raw,
            effective,
            ev,
        )?;
        // MaxItems 0 means no limit.
        if let Some(n) = n.filter(|n| *n > 0) {
            config.insert("MaxItems".into(), json!(n));
        }
    }
    Ok(out)
}

/// A reader's or writer's object with its `Parameters` (JSONPath, or FDL expressions) or
/// `Arguments` (JSONata) evaluated in place.
fn parameters(
    state: &State,
    value: &Value,
    raw: &Value,
    effective: &Value,
    ev: &Eval,
    globals: &Map<String, Value>,
    field: &str,
) -> Result<Value, Failure> {
    let mut out = value.clone();
    let Some(obj) = out.as_object_mut() else {
        return Err(Failure::runtime(format!("{field} must be an object")));
    };
    if let Some(p) = obj.get("Parameters").cloned() {
        let evaluated = match &state.io {
            Io::Fdl { .. } => {
                let global = Value::Object(globals.clone());
                dataflow::fdl_template(
                    &p,
                    &FdlVars::new(effective, &ev.context, &global, ev.field_ambient()),
                )?
            }
            _ => dataflow::template(&p, effective, &ev.env())?,
        };
        obj.insert("Parameters".into(), evaluated);
    }
    if let Some(a) = obj.get("Arguments").cloned() {
        let states = ev.states(raw, None, None);
        obj.insert(
            "Arguments".into(),
            ev.jsonata(&a, &states, &format!("{field}.Arguments"))?,
        );
    }
    if let Some(Value::Object(config)) = obj.get("ReaderConfig").cloned()
        && matches!(state.io, Io::Jsonata { .. })
    {
        let states = ev.states(raw, None, None);
        let mut evaluated = Map::new();
        for (k, v) in config {
            evaluated.insert(k.clone(), ev.jsonata(&v, &states, &k)?);
        }
        obj.insert("ReaderConfig".into(), Value::Object(evaluated));
    }
    Ok(out)
}
