//! Child flows: a Task with `arn:aws:states:::states:startExecution` starts an execution of
//! another served flow. Without a suffix the Task ends once the child started; with `.sync` or
//! `.sync:2` it waits, durably, for the child to stop and takes its outcome; with
//! `.waitForTaskToken` it waits for a callback. CloudFlow's `FNF:StartExecution` is the same in
//! FDL (`TaskMode` `RequestComplete`, `WaitForSystemCallback`, `WaitForCustomCallback`). The
//! child's name defaults to one derived from the Task's attempt, so that a Task dispatched again
//! after a restart finds the child it started.

use super::{Driver, EngineError, Outcome, StartRequest};
use crate::interpreter::Event;
use crate::invoke::{InvokeRequest, Target, TaskError};
use crate::model::{Frame, Status, Step, TaskOutcome};
use crate::run_info::{RunInfo, validate_execution_name};
use crate::store::StopRequest;
use serde_json::{Value, json};

/// The resource of the child flow integration, before its suffix.
const START_EXECUTION: &str = "arn:aws:states:::states:startExecution";
/// The CloudFlow action of the child flow integration (FDL), before its suffix.
const FNF_START_EXECUTION: &str = "FNF:StartExecution";

/// How a child flow Task waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Not at all: the result is the child's ARN and start date.
    Started,
    /// For the child to stop; its input and output are JSON text (`.sync`).
    Sync,
    /// For the child to stop; its input and output are JSON (`.sync:2`).
    Sync2,
    /// FDL `RequestComplete` (or `WaitForCustomCallback`): the result names the child.
    FdlStarted,
    /// FDL `WaitForSystemCallback`: the result is the child's output.
    FdlSync,
}

impl Wait {
    /// Whether the Task waits for the child to stop.
    fn waits(self) -> bool {
        matches!(self, Wait::Sync | Wait::Sync2 | Wait::FdlSync)
    }

    /// Whether the Task is written in FDL, with CloudFlow's parameter names.
    fn fdl(self) -> bool {
        matches!(self, Wait::FdlStarted | Wait::FdlSync)
    }
}

/// A child started (or found again).
struct Started {
    info: RunInfo,
    wait: Wait,
    start_ms: i64,
    input: Value,
}

/// What a child flow Task asks for.
struct ChildStart {
    flow: String,
    name: String,
    input: Value,
    wait: Wait,
}

/// How a `states:startExecution` resource waits, or `None` for another resource.
fn wait_of(request: &InvokeRequest) -> Option<Wait> {
    let Target::Integration(resource) = &request.target else {
        return None;
    };
    if let Some(suffix) = resource.strip_prefix(FNF_START_EXECUTION) {
        return match suffix {
            "" | ".waitForTaskToken" => Some(Wait::FdlStarted),
            ".sync" => Some(Wait::FdlSync),
            _ => None,
        };
    }
    match resource.strip_prefix(START_EXECUTION)? {
        "" | ".waitForTaskToken" => Some(Wait::Started),
        ".sync" => Some(Wait::Sync),
        ".sync:2" => Some(Wait::Sync2),
        _ => None,
    }
}

/// Whether a request starts a child flow.
pub(super) fn starts_child(request: &InvokeRequest) -> bool {
    wait_of(request).is_some()
}

/// The name of the child a Task starts: its `Name` (FDL: `executionName`) parameter, or one
/// derived from the attempt.
fn child_name(request: &InvokeRequest) -> Option<String> {
    let key = match wait_of(request) {
        Some(w) if w.fdl() => "executionName",
        _ => "Name",
    };
    match request.payload.get(key) {
        Some(Value::String(name)) => Some(name.clone()),
        Some(_) => None,
        None => Some(
            uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_OID,
                request.idempotency_key.as_bytes(),
            )
            .to_string(),
        ),
    }
}

/// Reads the Task's parameters: `StateMachineArn`, `Input` (JSON, or JSON text) and `Name`;
/// in FDL `resourceArn` (`acs:fnf:REGION::flow/NAME`), `input` and `executionName`.
fn parse(request: &InvokeRequest) -> Result<ChildStart, TaskError> {
    let wait = wait_of(request).unwrap_or(Wait::Started);
    let (prefix, arn_key, input_key, name_key) = if wait.fdl() {
        ("FnF", "resourceArn", "input", "executionName")
    } else {
        ("StepFunctions", "StateMachineArn", "Input", "Name")
    };
    let invalid = |error: &str, cause: String| TaskError {
        error: format!("{prefix}.{error}"),
        cause,
    };
    let arn = request
        .payload
        .get(arn_key)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            invalid(
                "InvalidArnException",
                format!("starting a flow needs a {arn_key} string parameter"),
            )
        })?;
    let flow = match (arn.split_once(":stateMachine:"), arn.split_once(":flow/")) {
        (Some((_, rest)), _) | (None, Some((_, rest))) => rest.split(':').next().unwrap_or(rest),
        (None, None) if !arn.starts_with("arn:") && !arn.starts_with("acs:") => arn,
        (None, None) => {
            return Err(invalid(
                "InvalidArnException",
                format!("Invalid Arn: '{arn}' is not a flow's ARN"),
            ));
        }
    };
    let name = child_name(request).ok_or_else(|| {
        invalid(
            "InvalidNameException",
            format!("{name_key} must be a string"),
        )
    })?;
    validate_execution_name(&name).map_err(|e| {
        invalid(
            "InvalidNameException",
            format!("Invalid Name: '{name}': {e}"),
        )
    })?;
    let input = match request.payload.get(input_key) {
        None | Some(Value::Null) => json!({}),
        Some(Value::String(text)) => serde_json::from_str(text).map_err(|e| {
            invalid(
                "InvalidExecutionInputException",
                format!("Invalid Input: the input is not valid JSON: {e}"),
            )
        })?,
        Some(v) => v.clone(),
    };
    Ok(ChildStart {
        flow: flow.to_string(),
        name,
        input,
        wait,
    })
}

impl Driver {
    /// Starts (or finds again) the child a `states:startExecution` Task asks for and answers the
    /// Task now, or once the child stops.
    pub(super) fn start_child_flow(
        &mut self,
        parent: &str,
        path: Vec<u32>,
        token: u64,
        request: InvokeRequest,
    ) {
        let answer = move |outcome| Event::TaskResult {
            path: path.clone(),
            token,
            outcome,
        };
        match self.try_start_child(parent, &request) {
            Ok(child) if !child.wait.waits() => {
                let result = if child.wait.fdl() {
                    json!({
                        "FlowName": child.info.state_machine_name,
                        "ExecutionName": child.info.execution_name,
                        "RequestID": uuid::Uuid::new_v5(
                            &uuid::Uuid::NAMESPACE_OID,
                            child.info.execution_arn().as_bytes(),
                        )
                        .to_string(),
                    })
                } else {
                    json!({
                        "ExecutionArn": child.info.execution_arn(),
                        "StartDate": child.start_ms,
                    })
                };
                self.apply(parent, answer(TaskOutcome::Ok(result)));
            }
            Ok(child) => {
                let (reply, rx) = tokio::sync::oneshot::channel();
                self.watch(child.info.execution_name.clone(), reply);
                let tx = self.tx.clone();
                let parent = parent.to_string();
                let clock = self.options.clock;
                let virtual_now = self.virtual_now;
                self.runtime.spawn(async move {
                    let outcome = match rx.await {
                        Ok(Ok(outcome)) => {
                            let stop_ms = match clock {
                                super::ClockMode::Real => super::now_ms(),
                                super::ClockMode::Virtual => virtual_now,
                            };
                            finished(&child, stop_ms, &outcome)
                        }
                        Ok(Err(e)) => task_failed(e.to_string()),
                        Err(_) => return,
                    };
                    let _ = tx.send(super::Msg::Apply(parent, answer(outcome)));
                });
            }
            Err(e) => self.apply(
                parent,
                answer(TaskOutcome::Err {
                    error: e.error,
                    cause: e.cause,
                }),
            ),
        }
    }

    /// Starts the child, or finds the one started before under the same name and input.
    fn try_start_child(
        &mut self,
        parent: &str,
        request: &InvokeRequest,
    ) -> Result<Started, TaskError> {
        let start = parse(request)?;
        let Some(definition_id) = self.flows.get(&start.flow).cloned() else {
            return Err(TaskError {
                error: "StepFunctions.StateMachineDoesNotExistException".into(),
                cause: format!("State Machine Does Not Exist: '{}'", start.flow),
            });
        };
        let definition = self.definition(&definition_id).map_err(task_failed_error)?;
        let parent_info = self.live.get(parent).map(|l| l.record.info.clone());
        let mut info = RunInfo::local(&start.flow, &start.name, 0);
        if let Some(p) = parent_info {
            info.region = p.region;
            info.account_id = p.account_id;
            info.role_arn = p.role_arn;
            info.started_by = Some(p.execution_name);
        }
        let started = self.start_execution(StartRequest {
            id: start.name.clone(),
            definition_id,
            definition,
            info: info.clone(),
            input: start.input.clone(),
        });
        match started {
            Ok(id) => {
                let start_ms = match self.live.get(&id) {
                    Some(l) => l.record.info.start_ms,
                    None => self
                        .store
                        .execution(&id)
                        .ok()
                        .flatten()
                        .map_or(0, |r| r.info.start_ms),
                };
                Ok(Started {
                    info,
                    wait: start.wait,
                    start_ms,
                    input: start.input,
                })
            }
            Err(EngineError::Duplicate(id)) => Err(TaskError {
                error: "StepFunctions.ExecutionAlreadyExistsException".into(),
                cause: format!("Execution Already Exists: '{id}'"),
            }),
            Err(e) => Err(task_failed_error(e.to_string())),
        }
    }

    /// Stops the running children that `.sync` Tasks of `execution` wait for (the execution
    /// itself is being stopped).
    pub(super) fn stop_children(&mut self, execution: &str) {
        let Some(root) = self
            .live
            .get(execution)
            .and_then(|l| l.record.state.root.as_ref())
        else {
            return;
        };
        let mut children = Vec::new();
        waited_children(root, &mut children);
        for child in children {
            let request = StopRequest {
                error: None,
                cause: Some(format!(
                    "the execution '{execution}' that started it was stopped"
                )),
            };
            match self.stop_execution(&child, request) {
                Ok(()) | Err(EngineError::NotStoppable(..) | EngineError::NotFound(_)) => {}
                Err(e) => eprintln!("sluice: stopping the child execution '{child}' failed: {e}"),
            }
        }
    }
}

/// The names of the children the `.sync` Tasks under `frame` wait for.
fn waited_children(frame: &Frame, out: &mut Vec<String>) {
    match &frame.step {
        Step::Task { request, .. } if wait_of(request).is_some_and(Wait::waits) => {
            out.extend(child_name(request));
        }
        Step::Fanout(fan) => {
            for child in fan.running.values() {
                waited_children(child, out);
            }
        }
        _ => {}
    }
}

/// A failure of the child flow integration itself.
fn task_failed_error(cause: String) -> TaskError {
    TaskError {
        error: "States.TaskFailed".into(),
        cause,
    }
}

fn task_failed(cause: String) -> TaskOutcome {
    let e = task_failed_error(cause);
    TaskOutcome::Err {
        error: e.error,
        cause: e.cause,
    }
}

/// The Task's outcome once the child stopped: the child described as `DescribeExecution`
/// describes it, as the result when it succeeded and as the cause of `States.TaskFailed`
/// otherwise.
fn finished(child: &Started, stop_ms: i64, outcome: &Outcome) -> TaskOutcome {
    if child.wait == Wait::FdlSync {
        // CloudFlow hands on the child's output, or its error.
        return match (outcome.status, &outcome.output) {
            (Status::Succeeded, output) => TaskOutcome::Ok(output.clone().unwrap_or(Value::Null)),
            _ => TaskOutcome::Err {
                error: outcome
                    .error
                    .clone()
                    .unwrap_or_else(|| "FnF.TaskFailed".into()),
                cause: outcome.cause.clone().unwrap_or_default(),
            },
        };
    }
    let as_data = |v: &Value| match child.wait {
        Wait::Sync2 => v.clone(),
        _ => Value::String(v.to_string()),
    };
    let mut described = json!({
        "ExecutionArn": child.info.execution_arn(),
        "Input": as_data(&child.input),
        "InputDetails": { "Included": true },
        "Name": child.info.execution_name,
        "StateMachineArn": child.info.state_machine_arn(),
        "Status": outcome.status.as_str(),
        "StartDate": child.start_ms,
        "StopDate": stop_ms,
    });
    if outcome.status == Status::Succeeded {
        let output = outcome.output.clone().unwrap_or(Value::Null);
        described["Output"] = as_data(&output);
        described["OutputDetails"] = json!({ "Included": true });
        return TaskOutcome::Ok(described);
    }
    if let Some(error) = &outcome.error {
        described["Error"] = json!(error);
    }
    if let Some(cause) = &outcome.cause {
        described["Cause"] = json!(cause);
    }
    task_failed(described.to_string())
}
