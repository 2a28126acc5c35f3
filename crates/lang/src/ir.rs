//! The one intermediate representation both dialects lower to.
//!
//! Control flow (state names, transitions, retriers, catchers, branches) is typed; the parts that
//! are evaluated against data at run time (payload templates, Choice rules, JSONata strings) stay
//! JSON values and are interpreted by [`crate::dataflow`] and [`crate::choice`].

use serde_json::Value;
use std::collections::HashMap;

/// Which expression language a state's fields are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryLanguage {
    /// ASL JSONPath mode: `InputPath`, `Parameters`, `.$` keys, intrinsics.
    JsonPath,
    /// ASL JSONata mode: `Arguments`, `Output`, `{% %}` strings.
    Jsonata,
    /// CloudFlow FDL: constructors with `$Input`, `$Output`, `$Context`, `$Global`.
    Fdl,
}

/// A whole flow definition.
#[derive(Clone, Debug)]
pub struct Definition {
    /// The top-level scope.
    pub root: Scope,
    /// Whole-execution timeout.
    pub timeout_seconds: Option<u64>,
    /// Whether CloudFlow-style aggregated outputs (`{Branch0..}`, `{Items: [...]}`) are produced.
    pub fdl: bool,
}

/// A closed set of states: the top level, a Parallel branch or a Map item processor.
#[derive(Clone, Debug)]
pub struct Scope {
    /// Name of the first state.
    pub start_at: String,
    /// States in definition order.
    pub states: Vec<State>,
    index: HashMap<String, usize>,
}

impl Scope {
    /// Builds a scope and its name index.
    pub fn new(start_at: String, states: Vec<State>) -> Scope {
        let index = states
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        Scope {
            start_at,
            states,
            index,
        }
    }

    /// The state with this name.
    pub fn state(&self, name: &str) -> Option<&State> {
        self.index.get(name).map(|&i| &self.states[i])
    }
}

/// Where a state goes when it is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Continue with the named state.
    Next(String),
    /// End the scope with this state's output.
    End,
}

/// A JSONPath field that may be absent (default `$`), `null`, or a path.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum OptPath {
    /// Not given: the whole value (`$`).
    #[default]
    Default,
    /// Given as `null`.
    Null,
    /// A path string.
    Path(String),
}

/// How a state's input becomes its effective input and its result becomes its output.
#[derive(Clone, Debug)]
pub enum Io {
    /// ASL JSONPath processing.
    JsonPath {
        /// `InputPath`.
        input_path: OptPath,
        /// `Parameters` (or Map `ItemSelector`) template.
        parameters: Option<Value>,
        /// `ResultSelector` template.
        result_selector: Option<Value>,
        /// `ResultPath`.
        result_path: OptPath,
        /// `OutputPath`.
        output_path: OptPath,
    },
    /// ASL JSONata processing.
    Jsonata {
        /// `Arguments`.
        arguments: Option<Value>,
        /// `Output`.
        output: Option<Value>,
    },
    /// CloudFlow FDL constructors.
    Fdl {
        /// `InputConstructor`.
        input: Option<Value>,
        /// Task `Parameters` (evaluated against the constructed input).
        parameters: Option<Value>,
        /// `OutputConstructor`.
        output: Option<Value>,
        /// `GlobalConstructor`.
        global: Option<Value>,
    },
}

impl Io {
    /// The query language this processing belongs to.
    pub fn language(&self) -> QueryLanguage {
        match self {
            Io::JsonPath { .. } => QueryLanguage::JsonPath,
            Io::Jsonata { .. } => QueryLanguage::Jsonata,
            Io::Fdl { .. } => QueryLanguage::Fdl,
        }
    }
}

/// One state.
#[derive(Clone, Debug)]
pub struct State {
    /// Unique name.
    pub name: String,
    /// Type-specific part.
    pub kind: StateKind,
    /// Input and output processing.
    pub io: Io,
    /// Where to go next; `None` for Choice, Succeed and Fail.
    pub transition: Option<Transition>,
    /// `Assign` (both ASL languages).
    pub assign: Option<Value>,
    /// Retriers, in order.
    pub retry: Vec<Retrier>,
    /// Catchers, in order.
    pub catch: Vec<Catcher>,
    /// Whether any expression of the state reads the context object (`$$`, `$states.context`,
    /// `$Context`), so that it is built only for states that need it.
    pub uses_context: bool,
}

/// Whether any string in a state's JSON mentions the context object.
pub fn mentions_context(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("$$") || s.contains("$states") || s.contains("$Context"),
        Value::Array(items) => items.iter().any(mentions_context),
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k.contains("$$") || mentions_context(v)),
        _ => false,
    }
}

impl State {
    /// The ASL type name, as used in history event names (`Pass`, `Task`, ...).
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            StateKind::Pass { .. } => "Pass",
            StateKind::Task(_) => "Task",
            StateKind::Choice { .. } => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed => "Succeed",
            StateKind::Fail { .. } => "Fail",
            StateKind::Parallel { .. } => "Parallel",
            StateKind::Map(_) => "Map",
        }
    }
}

/// The eight state types.
#[derive(Clone, Debug)]
pub enum StateKind {
    /// Pass, with an optional literal `Result`.
    Pass {
        /// `Result`.
        result: Option<Value>,
    },
    /// Task.
    Task(Box<TaskSpec>),
    /// Choice.
    Choice {
        /// Rules in order.
        rules: Vec<ChoiceRule>,
        /// `Default` state.
        default: Option<String>,
    },
    /// Wait.
    Wait(WaitSpec),
    /// Succeed.
    Succeed,
    /// Fail: error and cause as given (literal, path, intrinsic or expression).
    Fail {
        /// `Error` / `ErrorPath` / FDL `Code`.
        error: Option<Field>,
        /// `Cause` / `CausePath` / FDL `Detail`.
        cause: Option<Field>,
    },
    /// Parallel.
    Parallel {
        /// One scope per branch.
        branches: Vec<Scope>,
    },
    /// Map.
    Map(Box<MapSpec>),
}

/// A field that is either a literal or computed from a path or expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    /// A literal JSON value (JSONata strings inside are evaluated in JSONata states).
    Literal(Value),
    /// A JSONPath path or intrinsic call (the `...Path` variant of a field).
    Path(String),
}

/// A Task's own fields.
#[derive(Clone, Debug)]
pub struct TaskSpec {
    /// `Resource` (ASL) or `Action` (FDL).
    pub resource: String,
    /// `TimeoutSeconds` / `TimeoutSecondsPath`.
    pub timeout: Option<Field>,
    /// `HeartbeatSeconds` / `HeartbeatSecondsPath`.
    pub heartbeat: Option<Field>,
}

/// A Choice rule with its target.
#[derive(Clone, Debug)]
pub struct ChoiceRule {
    /// The condition: a JSONPath rule object, a JSONata `Condition`, or an FDL expression.
    pub condition: Value,
    /// Target state.
    pub next: String,
    /// The rule's `Assign`.
    pub assign: Option<Value>,
    /// The rule's `Output` (JSONata).
    pub output: Option<Value>,
}

/// How long a Wait state waits.
#[derive(Clone, Debug)]
pub enum WaitSpec {
    /// `Seconds` (a number, or a JSONata string).
    Seconds(Value),
    /// `SecondsPath`.
    SecondsPath(String),
    /// `Timestamp` (a string, possibly JSONata).
    Timestamp(Value),
    /// `TimestampPath`.
    TimestampPath(String),
}

/// Map-specific fields.
#[derive(Clone, Debug)]
pub struct MapSpec {
    /// The item processor.
    pub processor: Scope,
    /// `ProcessorConfig.Mode: DISTRIBUTED`.
    pub distributed: bool,
    /// A distributed Map's children are EXPRESS (`ProcessorConfig.ExecutionType: EXPRESS`,
    /// FDL `ExecutionMode: Express`): they run in memory, only their outcomes are stored.
    pub express: bool,
    /// `ItemsPath` (JSONPath / FDL expression).
    pub items_path: OptPath,
    /// `Items` (JSONata).
    pub items: Option<Value>,
    /// `ItemSelector` / `Parameters` / FDL `ItemConstructor`.
    pub item_selector: Option<Value>,
    /// `ItemReader`.
    pub item_reader: Option<Value>,
    /// `ItemBatcher`.
    pub item_batcher: Option<Value>,
    /// `ResultWriter`.
    pub result_writer: Option<Value>,
    /// `MaxConcurrency` / `MaxConcurrencyPath`.
    pub max_concurrency: Option<Field>,
    /// `ToleratedFailurePercentage` / `...Path`.
    pub tolerated_failure_percentage: Option<Field>,
    /// `ToleratedFailureCount` / `...Path`.
    pub tolerated_failure_count: Option<Field>,
    /// `Label`.
    pub label: Option<String>,
}

/// One retrier.
#[derive(Clone, Debug)]
pub struct Retrier {
    /// Error names matched.
    pub error_equals: Vec<String>,
    /// First delay.
    pub interval_seconds: f64,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Multiplier per attempt.
    pub backoff_rate: f64,
    /// Cap on the delay.
    pub max_delay_seconds: Option<f64>,
    /// Full jitter.
    pub jitter_full: bool,
}

/// One catcher.
#[derive(Clone, Debug)]
pub struct Catcher {
    /// Error names matched.
    pub error_equals: Vec<String>,
    /// Target state.
    pub next: String,
    /// `ResultPath` (JSONPath).
    pub result_path: OptPath,
    /// `Output` (JSONata) or FDL `OutputConstructor`.
    pub output: Option<Value>,
    /// `Assign`.
    pub assign: Option<Value>,
}

/// Whether an error name is matched by an `ErrorEquals` list, with ASL's wildcard rules; the
/// terminal `States.Runtime` and `States.DataLimitExceeded` never are.
pub fn error_matches(error_equals: &[String], error: &str) -> bool {
    if error == "States.Runtime" || error == "States.DataLimitExceeded" {
        return false;
    }
    name_matches(error_equals, error)
}

/// Whether an `ErrorEquals` list names `error`, wildcards included, whatever the error.
pub fn name_matches(error_equals: &[String], error: &str) -> bool {
    error_equals.iter().any(|e| {
        e == error
            || e == "States.ALL"
            || e == "FnF.ALL"
            || (e == "States.TaskFailed" && error != "States.Timeout")
            || (e == "States.HeartbeatTimeout" && error == "States.Timeout")
    })
}
