//! `TestState`: runs one state on an input, as Step Functions' state testing does, without
//! creating an execution. The state runs in a state machine of its own whose other states (the
//! targets of its `Next`, `Default`, `Choices` and `Catch`) are stand-ins that end it, so the
//! state machine's output is the tested state's output and the stand-in entered names
//! `nextState`. Task states call the project's functions; a Wait does not wait; the state's
//! `Retry` is left out and reported as `RETRIABLE` when it would have matched the error.

use super::{required, string};
use crate::{ApiError, ServerState};
use serde_json::{Map, Value, json};
use sluice_engine::effects::Command;
use sluice_engine::interpreter::{self, Event};
use sluice_engine::invoke::{InvokeRequest, Target};
use sluice_engine::model::{Status, TaskOutcome};
use sluice_engine::run_info::RunInfo;
use sluice_lang::ir::{Definition, name_matches};

/// The name the tested state runs under.
const TESTED: &str = "TestedState";
/// The most steps a test runs (calls, timers, pauses) before it gives up.
const MAX_STEPS: usize = 10_000;

/// `TestState {definition, input?, inspectionLevel?, ...}`.
pub(super) async fn test(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let source = required(request, "definition")?;
    let invalid = |m: String| ApiError::bad("InvalidDefinition", m);
    let tested: Map<String, Value> = match serde_json::from_str(source) {
        Ok(Value::Object(s)) => s,
        _ => {
            return Err(invalid(
                "definition must be one state, as a JSON object".into(),
            ));
        }
    };
    let input: Value = match string(request, "input")? {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            ApiError::bad("InvalidExecutionInput", format!("input is not JSON: {e}"))
        })?,
        None => json!({}),
    };
    let (machine, retriers) = machine_of(tested);
    let definition = sluice_lang::compile::compile("state.json", &machine.to_string())
        .map_err(|ds| invalid(sluice_lang::diagnostic::render(&ds)))?;
    let run = run(state, &definition, input.clone()).await?;
    let mut out = json!({ "inspectionData": { "input": input.to_string() } });
    match run {
        Ran::Ended { output, next } => {
            out["status"] = json!("SUCCEEDED");
            out["output"] = json!(output.to_string());
            if let Some(next) = next {
                out["nextState"] = json!(next);
            }
        }
        Ran::Caught {
            output,
            next,
            error,
            cause,
        } => {
            out["status"] = json!("CAUGHT_ERROR");
            out["output"] = json!(output.to_string());
            out["error"] = error;
            out["cause"] = cause;
            out["nextState"] = json!(next);
        }
        Ran::Failed { error, cause } => {
            let retriable = retriers.iter().any(|r| name_matches(r, &error));
            out["status"] = json!(if retriable { "RETRIABLE" } else { "FAILED" });
            out["error"] = json!(error);
            out["cause"] = json!(cause);
        }
    }
    Ok(out)
}

/// A state machine around the tested state, and the `ErrorEquals` of the `Retry` left out.
fn machine_of(mut tested: Map<String, Value>) -> (Value, Vec<Vec<String>>) {
    let retriers = match tested.remove("Retry") {
        Some(Value::Array(rs)) => rs
            .iter()
            .map(|r| {
                r["ErrorEquals"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut targets: Vec<String> = Vec::new();
    let mut add = |v: &Value| {
        if let Some(name) = v.as_str()
            && name != TESTED
            && !targets.iter().any(|t| t == name)
        {
            targets.push(name.to_string());
        }
    };
    for key in ["Next", "Default"] {
        if let Some(v) = tested.get(key) {
            add(v);
        }
    }
    for key in ["Choices", "Catch"] {
        for rule in tested
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            add(&rule["Next"]);
        }
    }
    let mut states = Map::new();
    states.insert(TESTED.into(), Value::Object(tested));
    for target in targets {
        states.insert(target, json!({"Type": "Succeed"}));
    }
    (json!({"StartAt": TESTED, "States": states}), retriers)
}

/// How the test run ended.
enum Ran {
    /// The state ended the run (`next: None`) or moved on to `next`.
    Ended { output: Value, next: Option<String> },
    /// A `Catch` took the error to `next`.
    Caught {
        output: Value,
        next: String,
        error: Value,
        cause: Value,
    },
    /// The state failed.
    Failed { error: String, cause: String },
}

/// Runs the one-state machine to its end, making its calls.
async fn run(state: &ServerState, def: &Definition, input: Value) -> Result<Ran, ApiError> {
    let info = RunInfo::local("TestState", "test", 0);
    let now = chrono::Utc::now().timestamp_millis();
    let (mut st, fx) = interpreter::start(def, &info, input.clone(), now);
    let mut history = fx.history;
    let mut commands = fx.commands;
    let mut steps = 0;
    while st.status == Status::Running {
        let Some(command) = commands.pop() else {
            return Err(ApiError::bad(
                "ValidationException",
                "the state waits for something TestState cannot give (a callback or a Distributed Map)",
            ));
        };
        steps += 1;
        if steps > MAX_STEPS {
            return Err(ApiError::bad(
                "ValidationException",
                "the state runs too long to test",
            ));
        }
        let event = match command {
            Command::Invoke {
                path,
                token,
                request,
            } => Event::TaskResult {
                path,
                token,
                outcome: call(state, request).await,
            },
            Command::Timer { path, token, .. } => Event::TimerFired { path, token },
            Command::Continue { path, token } => Event::Continue { path, token },
            Command::MapRun { .. } => continue,
        };
        let fx = interpreter::apply(def, &info, &input, &mut st, event, now);
        history.extend(fx.history);
        commands.extend(fx.commands);
    }
    let next = history
        .iter()
        .filter(|e| e.kind.ends_with("StateEntered"))
        .filter_map(|e| e.details["name"].as_str())
        .find(|name| *name != TESTED)
        .map(str::to_string);
    Ok(match (st.status, next) {
        (Status::Succeeded, Some(next)) => {
            let output = st.output.unwrap_or(Value::Null);
            // Without its Retry, a state that failed and still moved on was caught.
            let failure = history.iter().rev().find(|e| {
                matches!(e.kind.as_str(), "TaskFailed" | "TaskTimedOut")
                    || e.kind.ends_with("StateFailed")
            });
            match failure {
                Some(e) => Ran::Caught {
                    output,
                    next,
                    error: e.details["error"].clone(),
                    cause: e.details["cause"].clone(),
                },
                None => Ran::Ended {
                    output,
                    next: Some(next),
                },
            }
        }
        (Status::Succeeded, None) => Ran::Ended {
            output: st.output.unwrap_or(Value::Null),
            next: None,
        },
        _ => Ran::Failed {
            error: st.error.unwrap_or_default(),
            cause: st.cause.unwrap_or_default(),
        },
    })
}

/// Calls a Task's function through the project's functions.
async fn call(state: &ServerState, request: InvokeRequest) -> TaskOutcome {
    let outcome = match (&state.functions, &request.target) {
        (Some(functions), Target::Function { .. }) => functions.call(request).await,
        (_, Target::Function { name, .. }) => Err(sluice_engine::invoke::TaskError {
            error: "Lambda.ResourceNotFoundException".into(),
            cause: format!("Function not found: {name}"),
        }),
        (_, Target::Integration(resource)) => Err(sluice_engine::invoke::TaskError {
            error: "States.Runtime".into(),
            cause: format!("TestState calls functions only, not '{resource}'"),
        }),
    };
    match outcome {
        Ok(v) => TaskOutcome::Ok(v),
        Err(e) => TaskOutcome::Err {
            error: e.error,
            cause: e.cause,
        },
    }
}
