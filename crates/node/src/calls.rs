//! Which functions a flow calls: the names its Tasks give with a fixed resource.

use serde_json::Value;
use sluice_engine::invoke::{Target, resolve};
use sluice_lang::ir::{Io, Scope, StateKind};

/// Function names that Tasks in a scope call with a fixed resource.
pub fn called_functions(scope: &Scope) -> Vec<String> {
    let mut out = Vec::new();
    for state in &scope.states {
        match &state.kind {
            StateKind::Task(task) => {
                let params = match &state.io {
                    Io::JsonPath { parameters, .. } => parameters.clone(),
                    Io::Jsonata { arguments, .. } => arguments.clone(),
                    Io::Fdl { parameters, .. } => parameters.clone(),
                };
                let input = params.unwrap_or(Value::Null);
                if let Ok((Target::Function { name, .. }, _)) = resolve(&task.resource, &input) {
                    let dynamic = name.contains("{%") || name.is_empty();
                    if !dynamic {
                        out.push(name);
                    }
                }
            }
            StateKind::Parallel { branches } => branches
                .iter()
                .for_each(|b| out.extend(called_functions(b))),
            StateKind::Map(spec) => out.extend(called_functions(&spec.processor)),
            _ => {}
        }
    }
    out
}
