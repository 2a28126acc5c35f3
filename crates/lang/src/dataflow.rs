//! Input and output processing: paths, payload templates, `ResultPath`, JSONata fields, FDL
//! constructors and `Assign`, with the error names and messages AWS reports.

use crate::intrinsics;
use crate::ir::OptPath;
use crate::jsonpath::{self, PathRoot};
use serde_json::{Map, Value};
use sluice_jsonata::{Ambient, Draws, Expression, Syntax, Variables};
use std::cell::Cell;
use std::fmt;

/// An error raised while processing data, as ASL names it.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// Error name, e.g. `States.Runtime`.
    pub error: String,
    /// Human-readable cause.
    pub cause: String,
    /// Reported by a Task's resource rather than raised by the interpreter.
    pub from_resource: bool,
}

impl Failure {
    /// A failure with this name and cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            cause: cause.into(),
            from_resource: false,
        }
    }

    /// A failure a Task's resource reported.
    pub fn from_resource(error: impl Into<String>, cause: impl Into<String>) -> Failure {
        Failure {
            from_resource: true,
            ..Failure::new(error, cause)
        }
    }

    /// Whether a `Retry` or `Catch` with this `ErrorEquals` list applies
    /// ([`error_matches`](crate::ir::error_matches)). A resource's result over the payload
    /// quota is the exception: its `States.DataLimitExceeded` is matched like any task error,
    /// as on AWS.
    pub fn matched_by(&self, error_equals: &[String]) -> bool {
        if self.from_resource && self.error == "States.DataLimitExceeded" {
            crate::ir::name_matches(error_equals, &self.error)
        } else {
            crate::ir::error_matches(error_equals, &self.error)
        }
    }

    /// A `States.Runtime` failure.
    pub fn runtime(cause: impl Into<String>) -> Failure {
        Failure::new("States.Runtime", cause)
    }

    /// A `States.QueryEvaluationError` failure.
    pub fn query(cause: impl Into<String>) -> Failure {
        Failure::new("States.QueryEvaluationError", cause)
    }

    /// Whether AWS prefixes this error's cause with the state it happened in.
    pub fn names_state(&self) -> bool {
        matches!(
            self.error.as_str(),
            "States.Runtime" | "States.QueryEvaluationError"
        )
    }
}

/// The most bytes a state's result may have (256 KiB), as on AWS.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Fails with `States.DataLimitExceeded` when a state's result is larger than
/// [`MAX_PAYLOAD_BYTES`].
pub fn check_result_size(state: &str, result: &Value) -> Result<(), Failure> {
    if compact(result).len() > MAX_PAYLOAD_BYTES {
        return Err(result_too_large(state));
    }
    Ok(())
}

/// The `States.DataLimitExceeded` failure of a state or task (named as AWS names it) whose
/// result is larger than [`MAX_PAYLOAD_BYTES`].
pub fn result_too_large(state: &str) -> Failure {
    Failure::new(
        "States.DataLimitExceeded",
        format!(
            "The state/task '{state}' returned a result with a size exceeding the maximum number of bytes service limit."
        ),
    )
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

/// Variables visible to a state: its own scope and the scopes around it.
pub trait VarScope {
    /// The value of a variable, searching outward.
    fn var(&self, name: &str) -> Option<&Value>;
}

impl VarScope for Map<String, Value> {
    fn var(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// A chain of variable scopes, innermost first.
pub struct ScopeChain<'a>(pub Vec<&'a Map<String, Value>>);

impl VarScope for ScopeChain<'_> {
    fn var(&self, name: &str) -> Option<&Value> {
        self.0.iter().find_map(|m| m.get(name))
    }
}

/// What expressions see besides the value they are applied to.
pub struct Env<'a> {
    /// The context object (`$$`).
    pub context: &'a Value,
    /// Workflow variables.
    pub vars: &'a dyn VarScope,
    /// Where `States.UUID` and `States.MathRandom` draw from.
    pub draws: &'a Draws,
}

/// Compact JSON text as AWS prints values inside messages.
pub fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Evaluates a Path (`$.x`, `$$.x`, `$var.x`) against `input`. `Ok(None)` when a reference path
/// selects nothing.
pub fn select(path: &str, input: &Value, env: &Env) -> Result<Option<Value>, Failure> {
    let (root, parsed) = jsonpath::parse_rooted(path)
        .map_err(|e| Failure::runtime(format!("Invalid path '{path}': {e}")))?;
    let doc = match &root {
        PathRoot::Input => input,
        PathRoot::Context => env.context,
        PathRoot::Variable(name) => match env.vars.var(name) {
            Some(v) => v,
            None => return Ok(None),
        },
    };
    Ok(parsed.query(doc))
}

/// Applies `InputPath` or `OutputPath`: absent keeps the value, `null` gives `{}`.
pub fn apply_path(path: &OptPath, value: Value, env: &Env) -> Result<Value, Failure> {
    match path {
        OptPath::Default => Ok(value),
        OptPath::Null => Ok(Value::Object(Map::new())),
        OptPath::Path(p) if p == "$" => Ok(value),
        OptPath::Path(p) => match select(p, &value, env)? {
            Some(v) => Ok(v),
            None => Err(Failure::runtime(format!(
                "Invalid path '{p}' : No results for path: {}",
                normalized(p)
            ))),
        },
    }
}

fn normalized(path: &str) -> String {
    jsonpath::Path::parse(path)
        .map(|p| p.normalized())
        .unwrap_or_else(|_| path.to_string())
}

/// Applies `ResultPath`: absent or `$` replaces, `null` keeps the raw input, a path merges.
pub fn apply_result_path(
    path: &OptPath,
    raw_input: &Value,
    result: Value,
) -> Result<Value, Failure> {
    match path {
        OptPath::Default => Ok(result),
        OptPath::Null => Ok(raw_input.clone()),
        OptPath::Path(p) if p == "$" => Ok(result),
        OptPath::Path(p) => {
            let parsed = jsonpath::Path::parse(p)
                .map_err(|e| Failure::runtime(format!("Invalid ResultPath '{p}': {e}")))?;
            let mut out = raw_input.clone();
            parsed.set(&mut out, result).map_err(|_| {
                Failure::new(
                    "States.ResultPathMatchFailure",
                    format!(
                        "Unable to apply ResultPath \"{p}\" to input \"{}\"",
                        compact(raw_input)
                    ),
                )
            })?;
            Ok(out)
        }
    }
}

/// Evaluates a JSONPath payload template (`Parameters`, `ResultSelector`, `ItemSelector`, `Assign`).
pub fn template(tpl: &Value, input: &Value, env: &Env) -> Result<Value, Failure> {
    match tpl {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, value) in map {
                if let Some(name) = key.strip_suffix(".$") {
                    out.insert(name.to_string(), dynamic_value(key, value, input, env)?);
                } else {
                    out.insert(key.clone(), template(value, input, env)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|v| template(v, input, env))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// Evaluates the value of a `.$` key: a path or an intrinsic call.
fn dynamic_value(key: &str, value: &Value, input: &Value, env: &Env) -> Result<Value, Failure> {
    let Some(text) = value.as_str() else {
        return Err(Failure::runtime(format!(
            "The value of the field '{key}' must be a path or an intrinsic function, not {}",
            compact(value)
        )));
    };
    path_or_intrinsic(text, input, env, key)
}

/// Evaluates a string that is either a Path or an intrinsic function call, as `.$` values,
/// `ErrorPath` and `CausePath` are.
pub fn path_or_intrinsic(
    text: &str,
    input: &Value,
    env: &Env,
    field: &str,
) -> Result<Value, Failure> {
    if intrinsics::is_intrinsic(text) {
        return intrinsic(text, input, env);
    }
    match select(text, input, env)? {
        Some(v) => Ok(v),
        None => Err(Failure::runtime(format!(
            "The JSONPath '{text}' specified for the field '{field}' could not be found in the input '{}'",
            compact(input)
        ))),
    }
}

fn intrinsic(text: &str, input: &Value, env: &Env) -> Result<Value, Failure> {
    let call = intrinsics::parse(text)
        .map_err(|e| Failure::new("States.IntrinsicFailure", e.to_string()))?;
    let mut resolve = |p: &str| -> Result<Value, intrinsics::IntrinsicError> {
        match select(p, input, env) {
            Ok(Some(v)) => Ok(v),
            Ok(None) => Err(intrinsics::IntrinsicError {
                message: format!("The JSONPath '{p}' could not be found in the input"),
            }),
            Err(f) => Err(intrinsics::IntrinsicError { message: f.cause }),
        }
    };
    call.evaluate(&mut resolve, env.draws)
        .map_err(|e| Failure::new("States.IntrinsicFailure", e.to_string()))
}

/// Variables for a JSONata expression: `$states` plus workflow variables, and the clock and
/// seed the expressions read.
pub struct JsonataVars<'a> {
    /// The `$states` object (`input`, `context`, `result`, `errorOutput`).
    pub states: &'a Value,
    /// Workflow variables.
    pub vars: &'a dyn VarScope,
    /// The instant and seed; each expression evaluated with these variables draws its own
    /// seed from it.
    pub ambient: Ambient,
    /// Expressions evaluated so far.
    evaluated: Cell<u64>,
}

impl<'a> JsonataVars<'a> {
    /// Variables for the expressions of one field.
    pub fn new(states: &'a Value, vars: &'a dyn VarScope, ambient: Ambient) -> JsonataVars<'a> {
        JsonataVars {
            states,
            vars,
            ambient,
            evaluated: Cell::new(0),
        }
    }
}

impl Variables for JsonataVars<'_> {
    fn lookup(&self, name: &str) -> Option<&Value> {
        if name == "states" {
            Some(self.states)
        } else {
            self.vars.var(name)
        }
    }

    fn ambient(&self) -> Ambient {
        let n = self.evaluated.get();
        self.evaluated.set(n + 1);
        self.ambient.derive(n)
    }
}

/// Strips `{% %}` from a JSONata expression string.
pub fn jsonata_source(s: &str) -> Option<&str> {
    s.strip_prefix("{%")?.strip_suffix("%}")
}

/// Evaluates a JSONata field value: `{% %}` strings anywhere inside are evaluated; `field` names
/// the field for messages (e.g. `Output`).
pub fn jsonata_value(value: &Value, vars: &JsonataVars, field: &str) -> Result<Value, Failure> {
    match jsonata_member(value, vars, field)? {
        Some(v) => Ok(v),
        None => Err(undefined(value, field)),
    }
}

fn undefined(value: &Value, field: &str) -> Failure {
    let src = value
        .as_str()
        .and_then(jsonata_source)
        .map(str::trim)
        .unwrap_or_default();
    Failure::query(format!(
        "The JSONata expression '{src}' specified for the field '{field}' returned nothing (undefined)."
    ))
}

fn jsonata_member(
    value: &Value,
    vars: &JsonataVars,
    field: &str,
) -> Result<Option<Value>, Failure> {
    match value {
        Value::String(s) => match jsonata_source(s) {
            Some(src) => evaluate_jsonata(src, None, vars, field),
            None => Ok(Some(value.clone())),
        },
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (k, v) in map {
                let sub = format!("{field}/{k}");
                match jsonata_member(v, vars, &sub)? {
                    Some(x) => {
                        out.insert(k.clone(), x);
                    }
                    None => return Err(undefined(v, &sub)),
                }
            }
            Ok(Some(Value::Object(out)))
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                let sub = format!("{field}[{i}]");
                match jsonata_member(v, vars, &sub)? {
                    Some(x) => out.push(x),
                    None => return Err(undefined(v, &sub)),
                }
            }
            Ok(Some(Value::Array(out)))
        }
        other => Ok(Some(other.clone())),
    }
}

/// Evaluates one JSONata expression source.
pub fn evaluate_jsonata(
    src: &str,
    input: Option<&Value>,
    vars: &dyn Variables,
    field: &str,
) -> Result<Option<Value>, Failure> {
    let trimmed = src.trim();
    let expr = Expression::parse(trimmed).map_err(|e| {
        Failure::query(format!(
            "The JSONata expression '{trimmed}' specified for the field '{field}' threw an error during evaluation. {e}"
        ))
    })?;
    expr.evaluate(input, vars).map_err(|e| {
        if e.code == sluice_jsonata::UNSUPPORTED_RESULT {
            return Failure::query(format!(
                "The JSONata expression '{trimmed}' specified for the field '{field}' returned an unsupported result type."
            ));
        }
        Failure::query(format!(
            "The JSONata expression '{trimmed}' specified for the field '{field}' threw an error during evaluation. {e}"
        ))
    })
}

/// Variables of an FDL expression: `$Input`, `$Output`, `$Context`, `$Global`, `$Item`.
pub struct FdlVars<'a> {
    /// `$Input`.
    pub input: &'a Value,
    /// `$Output` (raw result), when there is one.
    pub output: Option<&'a Value>,
    /// `$Context`.
    pub context: &'a Value,
    /// `$Global`.
    pub global: &'a Value,
    /// `$Item` inside a Map's `ItemConstructor`.
    pub item: Option<&'a Value>,
    /// The clock and seed of its expressions (`uuid()`, `mathRandom()`).
    pub ambient: Ambient,
    /// Expressions evaluated so far, each drawing its own seed.
    evaluated: Cell<u64>,
}

impl<'a> FdlVars<'a> {
    /// The variables of an expression over `input`, with no `$Output` or `$Item`.
    pub fn new(
        input: &'a Value,
        context: &'a Value,
        global: &'a Value,
        ambient: Ambient,
    ) -> FdlVars<'a> {
        FdlVars {
            input,
            output: None,
            context,
            global,
            item: None,
            ambient,
            evaluated: Cell::new(0),
        }
    }

    /// The same with `$Output`.
    pub fn with_output(mut self, output: &'a Value) -> FdlVars<'a> {
        self.output = Some(output);
        self
    }

    /// The same with `$Item`, when there is one.
    pub fn with_item(mut self, item: Option<&'a Value>) -> FdlVars<'a> {
        self.item = item;
        self
    }
}

impl Variables for FdlVars<'_> {
    fn lookup(&self, name: &str) -> Option<&Value> {
        match name {
            "Input" => Some(self.input),
            "Output" => self.output,
            "Context" => Some(self.context),
            "Global" => Some(self.global),
            "Item" => self.item,
            _ => None,
        }
    }

    fn ambient(&self) -> Ambient {
        let n = self.evaluated.get();
        self.evaluated.set(n + 1);
        self.ambient.derive(n)
    }
}

/// Evaluates an FDL expression such as `$Input.a == 1` or `format("{}", $Input.x)`.
pub fn fdl_expression(src: &str, vars: &FdlVars, field: &str) -> Result<Value, Failure> {
    let expr = Expression::parse_with(src, Syntax::Fdl).map_err(|e| {
        Failure::new(
            "FnF.InvalidExpression",
            format!("the expression '{src}' in '{field}' is invalid: {e}"),
        )
    })?;
    expr.evaluate(None, vars)
        .map_err(|e| {
            Failure::new(
                "FnF.ExpressionError",
                format!("the expression '{src}' in '{field}' failed: {e}"),
            )
        })
        .map(|v| v.unwrap_or(Value::Null))
}

/// Evaluates an FDL constructor: keys ending in `.$` take expressions, others are literal.
pub fn fdl_template(tpl: &Value, vars: &FdlVars) -> Result<Value, Failure> {
    match tpl {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, value) in map {
                if let Some(name) = key.strip_suffix(".$") {
                    let src = value.as_str().unwrap_or_default();
                    out.insert(name.to_string(), fdl_expression(src, vars, key)?);
                } else {
                    out.insert(key.clone(), fdl_template(value, vars)?);
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|v| fdl_template(v, vars))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_resource_reports_a_catchable_data_limit() {
        let all = ["States.ALL".to_string()];
        let named = ["States.DataLimitExceeded".to_string()];
        let own = result_too_large("S");
        assert!(!own.matched_by(&all) && !own.matched_by(&named));
        let reported = Failure::from_resource(own.error.clone(), own.cause.clone());
        assert!(reported.matched_by(&all) && reported.matched_by(&named));
        let runtime = Failure::from_resource("States.Runtime", "x");
        assert!(
            !runtime.matched_by(&all),
            "other terminal errors stay terminal"
        );
        assert!(Failure::new("E", "x").matched_by(&all));
    }
}
