//! What the EXPRESS children of a Distributed Map may not use, as Step Functions refuses it when
//! the state machine is created: Tasks that wait for a job (`.sync`, `.sync:2`) or for a callback
//! (`.waitForTaskToken`), and Distributed Maps of their own. Nested Parallel branches and inline
//! Maps are looked into.

use super::super::report::{At, Report};
use serde_json::Value;

/// Integration patterns an EXPRESS child cannot use.
const PATTERNS: [&str; 3] = [".sync", ".sync:2", ".waitForTaskToken"];

/// Reports what the states of `scope` (an EXPRESS item processor, or a scope nested in one)
/// may not use.
pub(super) fn express_scope(r: &mut Report<'_>, scope: &At<'_>) {
    let Some(states) = scope.get("States") else {
        return;
    };
    for (_, state) in states.members() {
        match state.value.get("Type").and_then(Value::as_str) {
            Some("Task") => task(r, &state),
            Some("Parallel") => {
                let branches = state.get("Branches").map(|b| b.elements());
                for branch in branches.unwrap_or_default() {
                    express_scope(r, &branch);
                }
            }
            Some("Map") => {
                let Some(inner) = state.get("ItemProcessor").or_else(|| state.get("Iterator"))
                else {
                    continue;
                };
                let mode = inner.get("ProcessorConfig").and_then(|c| c.get("Mode"));
                match mode {
                    Some(mode) if mode.value.as_str() == Some("DISTRIBUTED") => {
                        r.error(
                            &mode,
                            "a Distributed Map cannot run inside EXPRESS children",
                        )
                        .hint("make it INLINE, or the outer Map's ExecutionType STANDARD");
                    }
                    _ => express_scope(r, &inner),
                }
            }
            _ => {}
        }
    }
}

fn task(r: &mut Report<'_>, state: &At<'_>) {
    let Some(resource) = state.get("Resource") else {
        return;
    };
    let Some(text) = resource.value.as_str() else {
        return;
    };
    if let Some(pattern) = PATTERNS.iter().find(|p| text.ends_with(*p)) {
        r.error(
            &resource,
            format!("EXPRESS children cannot use the '{pattern}' integration pattern"),
        )
        .hint("call the resource without the suffix, or make the Map's ExecutionType STANDARD");
    }
}
