//! Creating, updating, deleting and validating state machines through the API, and
//! `DescribeStateMachineForExecution`.
//!
//! A definition given in a request (ASL JSON, or CloudFlow FDL YAML) is compiled as the
//! project's flow files are, stored under the project's key, and served by the engine: its
//! executions resume after a restart like the project's. The name it is served under is kept
//! in the node's state machines file, when it has one (see [`crate::machines`]).

use super::{
    execution_of, flow_of, machine_name, no_machine, read, required, run_info, seconds, string,
};
use crate::machines::AddError;
use crate::{ApiError, ServedFlow, ServerState};
use serde_json::{Value, json};
use sluice_engine::run_info::validate_execution_name;
use sluice_lang::diagnostic::{Diagnostic, render};
use sluice_lang::ir::Definition;
use std::sync::Arc;

/// Diagnostics `ValidateStateMachineDefinition` returns at most (and by default).
const MAX_DIAGNOSTICS: usize = 100;

/// Compiles a definition given for the state machine `name`.
fn compile(name: &str, source: &str) -> Result<Definition, Vec<Diagnostic>> {
    sluice_lang::compile::compile(name, source)
}

/// `InvalidDefinition` with the diagnostics' text.
fn invalid_definition(diagnostics: &[Diagnostic]) -> ApiError {
    ApiError::bad(
        "InvalidDefinition",
        format!("Invalid State Machine Definition:\n{}", render(diagnostics)),
    )
}

/// Checks `type`: only `STANDARD` state machines are served.
fn standard_type(request: &Value) -> Result<(), ApiError> {
    match string(request, "type")? {
        None | Some("STANDARD") => Ok(()),
        Some(other) => Err(ApiError::bad(
            "ValidationException",
            format!("type {other:?} is not served: only STANDARD state machines are"),
        )),
    }
}

/// Stores a compiled definition under the project's key and has the engine serve its
/// executions; returns the flow to serve.
async fn store_and_serve(
    state: &ServerState,
    name: &str,
    source: &str,
    definition: Definition,
    created_ms: i64,
) -> Result<ServedFlow, ApiError> {
    let (n, s, key) = (
        name.to_string(),
        source.to_string(),
        state.project_key.clone(),
    );
    let definition_id = read(state, move |store| {
        store.put_definition(&n, &n, &s, key.as_deref())
    })
    .await?;
    state
        .engine
        .serve(vec![definition_id.clone()])
        .await
        .map_err(ApiError::internal)?;
    // Child flow Tasks start it by name from now on.
    state
        .engine
        .publish(vec![(name.to_string(), definition_id.clone())])
        .map_err(ApiError::internal)?;
    Ok(ServedFlow {
        definition_id,
        source: source.to_string(),
        definition: Arc::new(definition),
        created_ms,
        from_project: false,
    })
}

/// The error for a change to a flow of `sluice.yaml`.
fn project_flow(name: &str) -> ApiError {
    ApiError::bad(
        "ValidationException",
        format!("state machine '{name}' is a flow of the project's sluice.yaml: change it there"),
    )
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `CreateStateMachine`: idempotent for the same name and definition.
pub(super) async fn create(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let name = required(request, "name")?;
    validate_execution_name(name).map_err(|e| ApiError::bad("InvalidName", e))?;
    let source = required(request, "definition")?;
    standard_type(request)?;
    string(request, "roleArn")?;
    let arn = run_info(name, "").state_machine_arn();
    let exists = || {
        ApiError::bad(
            "StateMachineAlreadyExists",
            format!("state machine already exists: {arn}"),
        )
    };
    if state.flows.get(name).is_some_and(|f| f.source != source) {
        return Err(exists());
    }
    let definition = compile(name, source).map_err(|ds| invalid_definition(&ds))?;
    let flow = store_and_serve(state, name, source, definition, now_ms()).await?;
    match state.flows.add(name, flow) {
        Ok(served) => Ok(json!({
            "stateMachineArn": arn,
            "creationDate": seconds(served.created_ms),
        })),
        Err(AddError::Exists) => Err(exists()),
        Err(AddError::Full) => Err(ApiError::bad(
            "StateMachineLimitExceeded",
            format!(
                "{} state machines are served already",
                crate::machines::MAX_STATE_MACHINES
            ),
        )),
        Err(AddError::Unsaved(why)) => Err(ApiError::internal(why)),
    }
}

/// `UpdateStateMachine`: later executions run the new definition; running ones keep theirs.
pub(super) async fn update(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let arn = required(request, "stateMachineArn")?;
    let (name, served) = flow_of(state, arn)?;
    if served.from_project {
        return Err(project_flow(&name));
    }
    string(request, "roleArn")?;
    if let Some(source) = string(request, "definition")? {
        let definition = compile(&name, source).map_err(|ds| invalid_definition(&ds))?;
        let flow = store_and_serve(state, &name, source, definition, served.created_ms).await?;
        let replaced = state
            .flows
            .replace(&name, flow)
            .map_err(ApiError::internal)?;
        if replaced.is_none() {
            return Err(no_machine(arn));
        }
    }
    Ok(json!({ "updateDate": seconds(now_ms()) }))
}

/// `DeleteStateMachine`: no new executions; running ones go on. Deleting a state machine the
/// node does not serve succeeds, as on AWS.
pub(super) fn delete(state: &ServerState, request: &Value) -> Result<Value, ApiError> {
    let arn = required(request, "stateMachineArn")?;
    let name = machine_name(arn)?;
    if state.flows.get(&name).is_some_and(|f| f.from_project) {
        return Err(project_flow(&name));
    }
    state.flows.remove(&name).map_err(ApiError::internal)?;
    Ok(json!({}))
}

/// `maxResults` of `ValidateStateMachineDefinition`: 1 to 100, default 100.
fn diagnostics_limit(request: &Value) -> Result<usize, ApiError> {
    match request.get("maxResults") {
        None | Some(Value::Null) => Ok(MAX_DIAGNOSTICS),
        Some(v) => match v.as_u64() {
            Some(0) => Ok(MAX_DIAGNOSTICS),
            Some(n) if n as usize <= MAX_DIAGNOSTICS => Ok(n as usize),
            _ => Err(ApiError::bad(
                "ValidationException",
                format!("maxResults must be between 0 and {MAX_DIAGNOSTICS}"),
            )),
        },
    }
}

/// A diagnostic as `ValidateStateMachineDefinition` lists it.
fn diagnostic(d: &Diagnostic) -> Value {
    let mut message = d.message.clone();
    if let Some(state) = &d.state {
        message = format!("state '{state}': {message}");
    }
    if let Some(hint) = &d.hint {
        message = format!("{message} (hint: {hint})");
    }
    let mut out = json!({
        "severity": "ERROR",
        "code": "SCHEMA_VALIDATION_FAILED",
        "message": message,
    });
    if !d.pointer.is_empty() {
        out["location"] = json!(d.pointer);
    }
    out
}

/// `ValidateStateMachineDefinition`: `OK`, or `FAIL` with the diagnostics.
pub(super) fn validate(request: &Value) -> Result<Value, ApiError> {
    let source = required(request, "definition")?;
    standard_type(request)?;
    let limit = diagnostics_limit(request)?;
    let diagnostics = match compile("definition", source) {
        Ok(_) => Vec::new(),
        Err(ds) => ds,
    };
    let shown: Vec<Value> = diagnostics.iter().take(limit).map(diagnostic).collect();
    Ok(json!({
        "result": if diagnostics.is_empty() { "OK" } else { "FAIL" },
        "diagnostics": shown,
        "truncated": diagnostics.len() > limit,
    }))
}

/// `DescribeStateMachineForExecution`: the definition the execution runs.
pub(super) async fn describe_for_execution(
    state: &ServerState,
    request: &Value,
) -> Result<Value, ApiError> {
    let arn = required(request, "executionArn")?;
    let e = execution_of(state, arn).await?;
    let id = e.definition_id.clone();
    let stored = read(state, move |s| s.definition(&id))
        .await?
        .ok_or_else(|| ApiError::internal("the execution's definition is not stored"))?;
    Ok(json!({
        "stateMachineArn": e.info.state_machine_arn(),
        "name": e.info.state_machine_name,
        "definition": stored.source,
        "roleArn": e.info.role_arn,
        "updateDate": seconds(e.info.start_ms),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_lists_each_problem_with_its_location() {
        let ok = json!({"definition": r#"{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}"#});
        assert_eq!(validate(&ok).unwrap()["result"], "OK");
        let bad = json!({"definition": r#"{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}"#, "maxResults": 1});
        let out = validate(&bad).unwrap();
        assert_eq!(out["result"], "FAIL");
        let first = &out["diagnostics"][0];
        assert_eq!(first["severity"], "ERROR");
        assert_eq!(first["location"], "/States/A/Next");
        assert!(first["message"].as_str().unwrap().contains('B'), "{first}");
        assert_eq!(out["diagnostics"].as_array().unwrap().len(), 1);
        let unparsable = json!({"definition": "{"});
        assert_eq!(validate(&unparsable).unwrap()["result"], "FAIL");
        let too_many = json!({"definition": "{}", "maxResults": 101});
        assert_eq!(validate(&too_many).unwrap_err().code, "ValidationException");
    }
}
