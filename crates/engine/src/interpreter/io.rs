//! A state's input and output processing in each query language.

use super::Cx;
use crate::model::Frame;
use serde_json::{Map, Value, json};
use sluice_jsonata::{Ambient, Draws};
use sluice_lang::dataflow::{
    self, Env, Failure, FdlVars, JsonataVars, ScopeChain, apply_path, apply_result_path, template,
};
use sluice_lang::ir::{Io, OptPath, State};
use std::cell::Cell;

/// Which derived seed the intrinsic functions of an environment draw from: one no JSONata field
/// takes (fields take 0, 1, 2, ...).
const INTRINSICS: u64 = u64::MAX;

/// The evaluation environment of a frame's current state.
pub(crate) struct Eval<'a> {
    /// The context object.
    pub context: Value,
    /// Variables, innermost scope first.
    pub chain: ScopeChain<'a>,
    /// The clock and seed of its JSONata fields.
    pub ambient: Ambient,
    /// JSONata fields evaluated so far, each drawing its own seed.
    fields: Cell<u64>,
    /// The draws of its intrinsic functions (`States.UUID`, `States.MathRandom`).
    pub draws: Draws,
}

impl<'a> Eval<'a> {
    pub(crate) fn new(
        cx: &Cx,
        state: &State,
        frame: &'a Frame,
        outer: &[&'a Map<String, Value>],
    ) -> Eval<'a> {
        let mut chain = Vec::with_capacity(outer.len() + 1);
        chain.push(&frame.vars);
        chain.extend_from_slice(outer);
        let context = if state.uses_context {
            cx.context(state, frame)
        } else {
            Value::Null
        };
        Eval::from_parts(context, ScopeChain(chain), cx.ambient())
    }

    /// An environment of the given context object, variables, clock and seed.
    pub(crate) fn from_parts(context: Value, chain: ScopeChain<'a>, ambient: Ambient) -> Eval<'a> {
        Eval {
            context,
            chain,
            ambient,
            fields: Cell::new(0),
            draws: Draws::new(ambient.derive(INTRINSICS).seed),
        }
    }

    pub(crate) fn env(&self) -> Env<'_> {
        Env {
            context: &self.context,
            vars: &self.chain,
            draws: &self.draws,
        }
    }

    /// `$states` for JSONata.
    pub(crate) fn states(
        &self,
        input: &Value,
        result: Option<&Value>,
        error: Option<&Value>,
    ) -> Value {
        let mut m = Map::new();
        m.insert("input".into(), input.clone());
        m.insert("context".into(), self.context.clone());
        if let Some(r) = result {
            m.insert("result".into(), r.clone());
        }
        if let Some(e) = error {
            m.insert("errorOutput".into(), e.clone());
        }
        Value::Object(m)
    }

    /// Evaluates a JSONata field (value with `{% %}` strings).
    pub(crate) fn jsonata(
        &self,
        value: &Value,
        states: &Value,
        field: &str,
    ) -> Result<Value, Failure> {
        dataflow::jsonata_value(
            value,
            &JsonataVars::new(states, &self.chain, self.field_ambient()),
            field,
        )
    }

    /// The clock and seed of the next field evaluated, each field drawing its own.
    pub(crate) fn field_ambient(&self) -> Ambient {
        let n = self.fields.get();
        self.fields.set(n + 1);
        self.ambient.derive(n)
    }
}

/// The effective input: what a Task, Parallel or Map works on (and what Pass passes through).
pub(crate) fn effective_input(
    state: &State,
    raw: &Value,
    ev: &Eval,
    globals: &Map<String, Value>,
) -> Result<Value, Failure> {
    match &state.io {
        Io::JsonPath {
            input_path,
            parameters,
            ..
        } => {
            let selected = apply_path(input_path, raw.clone(), &ev.env())?;
            match parameters {
                Some(p) => template(p, &selected, &ev.env()),
                None => Ok(selected),
            }
        }
        Io::Jsonata { arguments, .. } => match arguments {
            Some(a) => ev.jsonata(a, &ev.states(raw, None, None), "Arguments"),
            None => Ok(raw.clone()),
        },
        Io::Fdl {
            input, parameters, ..
        } => {
            let global = Value::Object(globals.clone());
            let constructed = fdl_input(input.as_ref(), raw, ev, &global)?;
            match parameters {
                Some(p) => dataflow::fdl_template(
                    p,
                    &FdlVars::new(&constructed, &ev.context, &global, ev.field_ambient()),
                ),
                None => Ok(constructed),
            }
        }
    }
}

/// An FDL state's `$Input`: the raw input through its `InputConstructor`.
fn fdl_input(
    constructor: Option<&Value>,
    raw: &Value,
    ev: &Eval,
    global: &Value,
) -> Result<Value, Failure> {
    match constructor {
        Some(c) => dataflow::fdl_template(
            c,
            &FdlVars::new(raw, &ev.context, global, ev.field_ambient()),
        ),
        None => Ok(raw.clone()),
    }
}

/// The state's output and variable assignments once its work produced `result`.
///
/// `raw` is the state's raw input, `effective` its effective input; `result_is_default` says the
/// state has no result of its own (Pass without `Result`, whose result is its effective input).
pub(crate) fn output_with_result(
    state: &State,
    raw: &Value,
    result: Value,
    ev: &Eval,
    globals: &mut Map<String, Value>,
) -> Result<(Value, Option<Map<String, Value>>), Failure> {
    match &state.io {
        Io::JsonPath {
            result_selector,
            result_path,
            output_path,
            ..
        } => {
            let selected = match result_selector {
                Some(sel) => template(sel, &result, &ev.env())?,
                None => result,
            };
            let assigned = assign_jsonpath(state.assign.as_ref(), &selected, ev)?;
            let combined = apply_result_path(result_path, raw, selected)?;
            let output = apply_path(output_path, combined, &ev.env())?;
            Ok((output, assigned))
        }
        Io::Jsonata { output, .. } => {
            let states = ev.states(raw, Some(&result), None);
            let assigned = assign_jsonata(state.assign.as_ref(), &states, ev)?;
            let out = match output {
                Some(o) => ev.jsonata(o, &states, "Output")?,
                None => result,
            };
            Ok((out, assigned))
        }
        Io::Fdl {
            input,
            output,
            global,
            ..
        } => {
            let snapshot = Value::Object(globals.clone());
            let constructed = fdl_input(input.as_ref(), raw, ev, &snapshot)?;
            let vars = FdlVars::new(&constructed, &ev.context, &snapshot, ev.field_ambient())
                .with_output(&result);
            let out = match output {
                Some(c) => dataflow::fdl_template(c, &vars)?,
                None => result.clone(),
            };
            if let Some(g) = global
                && let Value::Object(m) = dataflow::fdl_template(g, &vars)?
            {
                globals.extend(m);
            }
            Ok((out, None))
        }
    }
}

/// Output of a state that has no result (Choice, Wait, Succeed): the raw input through
/// `OutputPath` or `Output`, with `Assign` evaluated on the effective input.
pub(crate) fn passthrough_output(
    state: &State,
    raw: &Value,
    effective: &Value,
    ev: &Eval,
    output_override: Option<&Value>,
    assign_override: Option<&Value>,
) -> Result<(Value, Option<Map<String, Value>>), Failure> {
    let assign = assign_override.or(state.assign.as_ref());
    match &state.io {
        Io::JsonPath { output_path, .. } => {
            let assigned = assign_jsonpath(assign, effective, ev)?;
            let out = apply_path(output_path, raw.clone(), &ev.env())?;
            Ok((out, assigned))
        }
        Io::Jsonata { output, .. } => {
            let states = ev.states(raw, None, None);
            let assigned = assign_jsonata(assign, &states, ev)?;
            let out = match output_override.or(output.as_ref()) {
                Some(o) => ev.jsonata(o, &states, "Output")?,
                None => raw.clone(),
            };
            Ok((out, assigned))
        }
        Io::Fdl { .. } => Ok((effective.clone(), None)),
    }
}

/// Evaluates a JSONPath `Assign` block with `$` bound to `value`.
pub(crate) fn assign_jsonpath(
    assign: Option<&Value>,
    value: &Value,
    ev: &Eval,
) -> Result<Option<Map<String, Value>>, Failure> {
    let Some(assign) = assign else {
        return Ok(None);
    };
    match template(assign, value, &ev.env())? {
        Value::Object(m) => Ok(Some(m)),
        _ => Ok(None),
    }
}

/// Evaluates a JSONata `Assign` block.
pub(crate) fn assign_jsonata(
    assign: Option<&Value>,
    states: &Value,
    ev: &Eval,
) -> Result<Option<Map<String, Value>>, Failure> {
    let Some(assign) = assign else {
        return Ok(None);
    };
    match ev.jsonata(assign, states, "Assign")? {
        Value::Object(m) => Ok(Some(m)),
        _ => Ok(None),
    }
}

/// The Error Output object `{Error, Cause}` a catcher receives.
pub(crate) fn error_output(failure: &Failure) -> Value {
    json!({ "Error": failure.error, "Cause": failure.cause })
}

/// A catcher's output: JSONPath places the Error Output at `ResultPath`; JSONata evaluates `Output`.
pub(crate) fn catch_output(
    state: &State,
    result_path: &OptPath,
    output: Option<&Value>,
    assign: Option<&Value>,
    raw: &Value,
    failure: &Failure,
    ev: &Eval,
) -> Result<(Value, Option<Map<String, Value>>), Failure> {
    let err = error_output(failure);
    match &state.io {
        Io::JsonPath { .. } => {
            let assigned = assign_jsonpath(assign, &err, ev)?;
            let out = apply_result_path(result_path, raw, err)?;
            Ok((out, assigned))
        }
        Io::Jsonata { .. } => {
            let states = ev.states(raw, None, Some(&err));
            let assigned = assign_jsonata(assign, &states, ev)?;
            let out = match output {
                Some(o) => ev.jsonata(o, &states, "Output")?,
                None => err,
            };
            Ok((out, assigned))
        }
        Io::Fdl { .. } => {
            let mut ctx = ev.context.clone();
            if let Some(cur) = ctx.get_mut("Current").and_then(Value::as_object_mut) {
                cur.insert(
                    "Error".into(),
                    json!({ "Code": failure.error, "Detail": failure.cause }),
                );
            }
            let out = match output {
                Some(c) => dataflow::fdl_template(
                    c,
                    &FdlVars::new(raw, &ctx, &Value::Null, ev.field_ambient()).with_output(&err),
                )?,
                None => err,
            };
            Ok((out, None))
        }
    }
}
