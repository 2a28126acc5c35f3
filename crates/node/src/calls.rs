//! What a flow's Tasks name with fixed values: the functions they call, the connections their
//! HTTP requests authenticate with and the topics they publish on, so that a project naming
//! undeclared ones is refused at load.

use serde_json::Value;
use sluice_engine::invoke::{Target, resolve};
use sluice_io::http::{HTTP_INVOKE, connection_name};
use sluice_lang::ir::{Io, Scope, StateKind, TaskSpec};

/// Function names that Tasks in a scope call with a fixed resource.
pub fn called_functions(scope: &Scope) -> Vec<String> {
    let mut out = Vec::new();
    each_task(scope, &mut |task, params| {
        if let Ok((Target::Function { name, .. }, _)) = resolve(&task.resource, params) {
            let dynamic = name.contains("{%") || name.is_empty();
            if !dynamic {
                out.push(name);
            }
        }
    });
    out
}

/// Connection names that HTTP Tasks in a scope give as a fixed `Authentication.ConnectionArn`.
pub fn named_connections(scope: &Scope) -> Vec<String> {
    let mut out = Vec::new();
    each_task(scope, &mut |task, params| {
        let arn = params
            .get("Authentication")
            .and_then(|a| a.get("ConnectionArn"))
            .and_then(Value::as_str);
        if task.resource == HTTP_INVOKE
            && let Some(arn) = arn.filter(|a| !a.contains("{%"))
        {
            out.push(connection_name(arn).to_string());
        }
    });
    out
}

/// Topic names that `sns:publish` Tasks in a scope give as a fixed `TopicArn` (or `TargetArn`).
pub fn published_topics(scope: &Scope) -> Vec<String> {
    let mut out = Vec::new();
    each_task(scope, &mut |task, params| {
        let arn = ["TopicArn", "TargetArn"]
            .iter()
            .find_map(|k| params.get(*k).and_then(Value::as_str));
        if task.resource.starts_with(SNS_PUBLISH)
            && let Some(arn) = arn.filter(|a| !a.contains("{%"))
        {
            out.push(sluice_queues::sns::topic_name(arn).to_string());
        }
    });
    out
}

/// The resource of `sns:publish` Tasks, before a `.waitForTaskToken` suffix.
const SNS_PUBLISH: &str = "arn:aws:states:::sns:publish";

/// Calls `f` with every Task of a scope, nested ones included, and its parameters as written.
fn each_task(scope: &Scope, f: &mut dyn FnMut(&TaskSpec, &Value)) {
    for state in &scope.states {
        match &state.kind {
            StateKind::Task(task) => {
                let params = match &state.io {
                    Io::JsonPath { parameters, .. } => parameters,
                    Io::Jsonata { arguments, .. } => arguments,
                    Io::Fdl { parameters, .. } => parameters,
                };
                f(task, params.as_ref().unwrap_or(&Value::Null));
            }
            StateKind::Parallel { branches } => branches.iter().for_each(|b| each_task(b, f)),
            StateKind::Map(spec) => each_task(&spec.processor, f),
            _ => {}
        }
    }
}
