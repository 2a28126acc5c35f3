//! A JSONata 2.0 evaluator over `serde_json::Value`.
//!
//! ```
//! use serde_json::{json, Map, Value};
//! use sluice_jsonata::Expression;
//!
//! let expr = Expression::parse("$sum(items.price) + 1").unwrap();
//! let input = json!({"items": [{"price": 2}, {"price": 3}]});
//! let result = expr.evaluate(Some(&input), &Map::new()).unwrap();
//! assert_eq!(result, Some(json!(6)));
//! ```
//!
//! Two syntax flavours are supported: plain JSONata (with the AWS Step Functions extension
//! functions `$partition`, `$range`, `$hash`, `$random`, `$uuid`, `$parse`) and the Alibaba
//! Cloud CloudFlow FDL flavour (see [`Syntax::Fdl`]).
//!
//! Input documents and variables are evaluated in place, without copying; only the result is
//! converted back into an owned `serde_json::Value` (integral numbers become JSON integers).
//! An expression whose result is a function fails with code [`UNSUPPORTED_RESULT`].

mod ast;
mod aws;
mod builtins;
mod env;
mod error;
mod eval;
mod fdl;
mod json;
mod lexer;
mod parser;
mod process;
mod random;
mod regex;
mod signature;
mod stack;
mod value;

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

pub use error::Error;
pub use random::{Ambient, Draws, mix64, text_seed, unit_interval};

use ast::Node;
use error::Failure;
use eval::Evaluator;
use process::{Processor, Slot};
use value::OutputError;

/// Error code returned when an expression evaluates to a value that has no JSON form (a
/// function, e.g. `function($x){$x}`).
pub const UNSUPPORTED_RESULT: &str = "S0501";

/// Syntax flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Syntax {
    /// JSONata 2.0 with the AWS Step Functions extension functions.
    #[default]
    Jsonata,
    /// Alibaba Cloud CloudFlow FDL expressions: JSONata plus `==`, `&&`, `||`, unary `!`, and
    /// built-ins called by bare name (`format(...)`, `uuid()`, `arrayContains(...)`, ...).
    Fdl,
}

/// Variable lookup for `$name` references (the name is given without the `$`). Consulted
/// after local bindings (`$x := ...`, lambda parameters) and before the built-in functions.
pub trait Variables {
    /// The value of variable `name`, if defined.
    fn lookup(&self, name: &str) -> Option<&Value>;

    /// The clock and randomness the evaluation reads; asked once per evaluation. The default
    /// is the system clock and fresh randomness.
    fn ambient(&self) -> Ambient {
        Ambient::default()
    }
}

impl Variables for HashMap<String, Value> {
    fn lookup(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl Variables for Map<String, Value> {
    fn lookup(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// A parsed expression. Parse once, evaluate many times; it is `Send + Sync`.
#[derive(Clone)]
pub struct Expression {
    source: String,
    syntax: Syntax,
    root: Node,
    slots: Vec<Slot>,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expression")
            .field("source", &self.source)
            .field("syntax", &self.syntax)
            .finish()
    }
}

impl Expression {
    /// Parses JSONata source (the text between `{%` and `%}`, already stripped by the caller).
    pub fn parse(source: &str) -> Result<Expression, Error> {
        Expression::parse_with(source, Syntax::Jsonata)
    }

    /// Parses with a syntax flavour.
    pub fn parse_with(source: &str, syntax: Syntax) -> Result<Expression, Error> {
        let raw = parser::Parser::parse(source, syntax).map_err(Failure::into_error)?;
        let mut processor = Processor::new();
        let root = processor.process_root(raw).map_err(Failure::into_error)?;
        Ok(Expression {
            source: source.to_string(),
            syntax,
            root,
            slots: processor.slots,
        })
    }

    /// Evaluates. `input` is the context document (`$`), None = undefined. Returns None for
    /// undefined.
    pub fn evaluate(
        &self,
        input: Option<&Value>,
        vars: &dyn Variables,
    ) -> Result<Option<Value>, Error> {
        let root = input.map(value::Value::from_json);
        let evaluator = Evaluator::new(vars, &self.slots, root.clone());
        let context = match root {
            Some(v) if v.is_array() => Some(value::Value::outer_wrapper(v)),
            other => other,
        };
        let result = evaluator
            .eval(&self.root, &context, env::Frames::ROOT)
            .map_err(Failure::into_error)?;
        match result {
            None => Ok(None),
            Some(v) => value::to_json(&v).map(Some).map_err(|e| match e {
                OutputError::NotFinite => Failure::new("D1001").value("null").into_error(),
                OutputError::TooDeep => Failure::new("U1001").into_error(),
                OutputError::Unsupported => Error {
                    code: UNSUPPORTED_RESULT.to_string(),
                    message:
                        "The expression evaluated to a function, which has no JSON representation"
                            .to_string(),
                    position: None,
                },
            }),
        }
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The syntax flavour the expression was parsed with.
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }
}
