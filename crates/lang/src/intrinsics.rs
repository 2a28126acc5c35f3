//! Intrinsic functions (`States.Format(...)`, `States.ArrayRange(...)`, ...) for JSONPath states.
//!
//! A call is parsed once with [`parse`] and evaluated with [`IntrinsicCall::evaluate`], which
//! asks the caller to resolve path arguments (`$.x`, `$$.x`, `$var`) because only the caller
//! knows the state input, the context object and the variables. Every failure is an
//! [`IntrinsicError`], which the engine reports as `States.IntrinsicFailure`.
//!
//! Grammar: `Name(arg, arg, ...)` where `Name` is one of the eighteen `States.*` functions and
//! each argument is a single-quoted string (`\` escapes the next character, so `\'` is a quote
//! and `\\` a backslash), a number, `true`, `false`, `null`, a path, or a nested call. Calls
//! nest at most [`MAX_NESTING`] deep.
//!
//! [`string_matches`] implements the Choice rule `StringMatches`.

use sluice_jsonata::Draws;
mod functions;
mod parser;
mod string_match;

use serde_json::Value;

pub use string_match::string_matches;

/// Deepest nesting of calls accepted, counting the outermost call.
pub const MAX_NESTING: usize = 10;

/// A failed parse or evaluation of an intrinsic function call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IntrinsicError {
    /// Human-readable description of the failure, used as the error cause.
    pub message: String,
}

impl IntrinsicError {
    /// Creates an error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The intrinsic functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Function {
    const ALL: [Function; 18] = [
        Function::Format,
        Function::StringToJson,
        Function::JsonToString,
        Function::Array,
        Function::ArrayPartition,
        Function::ArrayContains,
        Function::ArrayRange,
        Function::ArrayGetItem,
        Function::ArrayLength,
        Function::ArrayUnique,
        Function::Base64Encode,
        Function::Base64Decode,
        Function::Hash,
        Function::JsonMerge,
        Function::MathRandom,
        Function::MathAdd,
        Function::StringSplit,
        Function::Uuid,
    ];

    fn name(self) -> &'static str {
        match self {
            Function::Format => "States.Format",
            Function::StringToJson => "States.StringToJson",
            Function::JsonToString => "States.JsonToString",
            Function::Array => "States.Array",
            Function::ArrayPartition => "States.ArrayPartition",
            Function::ArrayContains => "States.ArrayContains",
            Function::ArrayRange => "States.ArrayRange",
            Function::ArrayGetItem => "States.ArrayGetItem",
            Function::ArrayLength => "States.ArrayLength",
            Function::ArrayUnique => "States.ArrayUnique",
            Function::Base64Encode => "States.Base64Encode",
            Function::Base64Decode => "States.Base64Decode",
            Function::Hash => "States.Hash",
            Function::JsonMerge => "States.JsonMerge",
            Function::MathRandom => "States.MathRandom",
            Function::MathAdd => "States.MathAdd",
            Function::StringSplit => "States.StringSplit",
            Function::Uuid => "States.UUID",
        }
    }

    fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Smallest and largest number of arguments (`None`: no upper bound).
    fn arity(self) -> (usize, Option<usize>) {
        match self {
            Function::Format => (1, None),
            Function::Array => (0, None),
            Function::Uuid => (0, Some(0)),
            Function::StringToJson
            | Function::JsonToString
            | Function::ArrayLength
            | Function::ArrayUnique
            | Function::Base64Encode
            | Function::Base64Decode => (1, Some(1)),
            Function::ArrayPartition
            | Function::ArrayContains
            | Function::ArrayGetItem
            | Function::Hash
            | Function::MathAdd
            | Function::StringSplit => (2, Some(2)),
            Function::ArrayRange | Function::JsonMerge => (3, Some(3)),
            Function::MathRandom => (2, Some(3)),
        }
    }
}

/// One argument of a call, as written.
#[derive(Debug, Clone)]
enum Arg {
    /// A number, `true`, `false` or `null`.
    Literal(Value),
    /// A single-quoted string: its value, and its text between the quotes with the escapes
    /// still in place (`States.Format` needs them to tell `\{` from `{`).
    String { value: String, raw: String },
    /// A path (`$.x`, `$$.x`, `$var`), resolved by the caller at evaluation time.
    Path(String),
    /// A nested call.
    Call(IntrinsicCall),
}

/// A parsed call such as `States.Format('Hello {}', $.name)`.
#[derive(Debug, Clone)]
pub struct IntrinsicCall {
    function: Function,
    args: Vec<Arg>,
}

/// Parses an intrinsic function call. Fails on bad syntax, an unknown function name, a wrong
/// number of arguments, a `States.JsonToString` argument that is not a path, an invalid path
/// argument, or nesting deeper than [`MAX_NESTING`]. Surrounding whitespace is ignored.
pub fn parse(s: &str) -> Result<IntrinsicCall, IntrinsicError> {
    parser::parse(s.trim())
}

/// True when the string looks like an intrinsic call: a function name (letters, digits, `.`
/// and `_`) followed by `(`, blanks allowed around the name. Used to tell intrinsics from
/// paths; it does not check that the call is valid.
pub fn is_intrinsic(s: &str) -> bool {
    let s = s.trim_start();
    let name_len = s
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'_'))
        .unwrap_or(s.len());
    name_len > 0 && s[name_len..].trim_start().starts_with('(')
}

impl IntrinsicCall {
    /// Evaluates the call. Path arguments (`"$.x"`, `"$$.x"`, `"$var"`, passed exactly as
    /// written) are resolved by `resolve`, which the caller provides; its errors are returned
    /// unchanged. Arguments are evaluated left to right before the function runs.
    /// `States.UUID` and `States.MathRandom` without a seed draw from `draws`.
    pub fn evaluate(
        &self,
        resolve: &mut dyn FnMut(&str) -> Result<Value, IntrinsicError>,
        draws: &Draws,
    ) -> Result<Value, IntrinsicError> {
        let mut values = Vec::with_capacity(self.args.len());
        for arg in &self.args {
            values.push(match arg {
                Arg::Literal(value) => value.clone(),
                Arg::String { value, .. } => Value::String(value.clone()),
                Arg::Path(path) => resolve(path)?,
                Arg::Call(call) => call.evaluate(resolve, draws)?,
            });
        }
        functions::call(self, values, draws)
    }

    /// The function's name, e.g. `States.Format`.
    pub fn function_name(&self) -> &'static str {
        self.function.name()
    }

    /// Every path argument, including those of nested calls, in the order written. Lets a
    /// validator check paths (for example that no `$$` or `$var` path appears where it is not
    /// allowed) without evaluating the call.
    pub fn path_arguments(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_paths(&mut out);
        out
    }

    fn collect_paths<'a>(&'a self, out: &mut Vec<&'a str>) {
        for arg in &self.args {
            match arg {
                Arg::Path(path) => out.push(path),
                Arg::Call(call) => call.collect_paths(out),
                Arg::Literal(_) | Arg::String { .. } => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
