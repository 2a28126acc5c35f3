//! Type-specific rules for FDL Task, Choice, Parallel, Map, Wait and Fail states.

use super::super::report::{At, Report};
use super::super::values;
use super::constructors::{self, expression_field};
use super::{StateCx, scope};

/// Longest task timeout, in seconds (seven days).
const MAX_TASK_TIMEOUT: i64 = 604_800;
/// Longest wait, in seconds: the longest delay the engine keeps (CloudFlow itself caps a Wait at
/// 300 seconds; longer waits are accepted here as ASL accepts them).
const MAX_WAIT_SECONDS: i64 = 99_999_999;
/// Most branches a Parallel state may have.
const MAX_BRANCHES: usize = 50;

/// Fields a Map state accepts besides the common ones.
pub(super) const MAP_FIELDS: &[&str] = &[
    "ItemsPath",
    "Processor",
    "ItemProcessor",
    "ItemConstructor",
    "MaxConcurrency",
    "MaxConcuccency",
    "ProcessorConfig",
    "ItemReader",
    "ItemBatcher",
    "ResultWriter",
    "MaxItems",
    "ToleratedFailurePercentage",
    "ToleratedFailureCount",
];

/// Task: `Action` (required), `TaskMode`, `Parameters`, `Timeout`.
pub(super) fn task(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    match cx.field("Action") {
        None => r.missing(
            &cx.at,
            "Action",
            "a Task state needs Action, e.g. FC:InvokeFunction",
        ),
        Some(at) => {
            if let Some(action) = values::non_empty_string(r, &at)
                && !action.contains(':')
            {
                r.error(
                    &at,
                    format!("Action '{action}' is not of the form Service:Operation"),
                )
                .hint("for example FC:InvokeFunction or HTTP:Request");
            }
        }
    }
    if let Some(at) = cx.field("TaskMode") {
        values::one_of(
            r,
            &at,
            &[
                "RequestComplete",
                "WaitForSystemCallback",
                "WaitForCustomCallback",
            ],
        );
    }
    if let Some(at) = cx.field("Parameters") {
        constructors::constructor(r, &at);
    }
    if let Some(at) = cx.field("Timeout") {
        timeout(r, &at);
    }
}

/// `Timeout`: seconds as a string (or a number), 0 to 604800.
fn timeout(r: &mut Report<'_>, at: &At<'_>) {
    if let Some(text) = at.value.as_str() {
        match text.trim().parse::<i64>() {
            Ok(seconds) if (0..=MAX_TASK_TIMEOUT).contains(&seconds) => {}
            _ => {
                r.error(
                    at,
                    format!(
                        "expected a number of seconds from 0 to {MAX_TASK_TIMEOUT}, found '{text}'"
                    ),
                );
            }
        }
    } else {
        values::integer(r, at, 0, MAX_TASK_TIMEOUT);
    }
}

/// Choice: `Branches` of `{Condition, Next}` and a mandatory `Default`.
pub(super) fn choice(r: &mut Report<'_>, cx: &mut StateCx<'_, '_>) {
    match cx.field("Branches") {
        None => r.missing(
            &cx.at,
            "Branches",
            "a Choice state needs Branches, a list of {Condition, Next}",
        ),
        Some(at) => {
            for branch in values::array(r, &at, true).unwrap_or_default() {
                choice_branch(r, cx, &branch);
            }
        }
    }
    match cx.field("Default") {
        None => r.missing(
            &cx.at,
            "Default",
            "an FDL Choice state must name a Default state",
        ),
        Some(at) => cx.target(r, &at),
    }
}

fn choice_branch<'v>(r: &mut Report<'_>, cx: &mut StateCx<'_, 'v>, at: &At<'v>) {
    if !values::object(r, at) {
        return;
    }
    r.unknown_fields(at, &["Condition", "Next", "Description"], &|_| None);
    match at.get("Condition") {
        None => r.missing(
            at,
            "Condition",
            "a Choice branch needs Condition, e.g. $Input.status == \"ready\"",
        ),
        Some(condition) => {
            if !condition.value.is_boolean() {
                expression_field(r, &condition);
            }
        }
    }
    match at.get("Next") {
        None => r.missing(
            at,
            "Next",
            "a Choice branch needs Next, the state to go to when it matches",
        ),
        Some(next) => cx.target(r, &next),
    }
}

/// Parallel: `Branches`, a non-empty list of `{StartAt, States}`.
pub(super) fn parallel(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    let Some(at) = cx.field("Branches") else {
        r.missing(
            &cx.at,
            "Branches",
            "a Parallel state needs Branches, a list of {StartAt, States}",
        );
        return;
    };
    let Some(branches) = values::array(r, &at, true) else {
        return;
    };
    if branches.len() > MAX_BRANCHES {
        r.error(
            &at,
            format!("a Parallel state can have at most {MAX_BRANCHES} branches"),
        );
    }
    for branch in branches {
        scope(r, cx.all_names, &branch, "a Parallel branch");
    }
}

/// Map: `ItemsPath`, `Processor` and the concurrency and distributed-mode settings.
pub(super) fn map(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    let processor = match (cx.field("Processor"), cx.field("ItemProcessor")) {
        (None, None) => {
            r.missing(
                &cx.at,
                "Processor",
                "a Map state needs Processor, {StartAt, States} run for each item",
            );
            None
        }
        (Some(processor), Some(other)) => {
            r.error(
                &other,
                "Processor and ItemProcessor cannot be used together",
            )
            .hint("keep Processor");
            Some(processor)
        }
        (Some(processor), None) | (None, Some(processor)) => Some(processor),
    };
    if let Some(processor) = processor {
        scope(r, cx.all_names, &processor, "a Map processor");
    }
    match cx.field("ItemsPath") {
        Some(at) => expression_field(r, &at),
        None if cx.field("ItemReader").is_none() => {
            r.missing(
                &cx.at,
                "ItemsPath",
                "a Map state needs ItemsPath, e.g. $Input.items, or an ItemReader",
            );
        }
        None => {}
    }
    if let Some(at) = cx.field("ItemConstructor") {
        constructors::constructor(r, &at);
    }
    let concurrency = (cx.field("MaxConcurrency"), cx.field("MaxConcuccency"));
    if let (Some(_), Some(typo)) = &concurrency {
        r.error(
            typo,
            "MaxConcurrency and MaxConcuccency cannot be used together",
        )
        .hint("keep MaxConcurrency");
    }
    for at in [concurrency.0, concurrency.1].into_iter().flatten() {
        values::integer(r, &at, 0, i64::MAX);
    }
    if let Some(at) = cx.field("ProcessorConfig")
        && values::object(r, &at)
    {
        r.unknown_fields(&at, &["ExecutionMode", "Mode"], &|_| None);
        if let Some(mode) = at.get("ExecutionMode") {
            values::one_of(r, &mode, &["Express", "Standard"]);
        }
    }
    for key in ["ItemReader", "ItemBatcher", "ResultWriter"] {
        if let Some(at) = cx.field(key) {
            constructors::constructor(r, &at);
        }
    }
    if let Some(source) = cx.field("ItemReader").and_then(|at| at.get("SourceType")) {
        let names: Vec<&str> = crate::lower::fdl::OSS_SOURCES
            .iter()
            .map(|(name, ..)| *name)
            .collect();
        values::one_of(r, &source, &names);
    }
    if let Some(at) = cx.field("MaxItems") {
        values::integer(r, &at, 0, i64::MAX);
    }
    if let Some(at) = cx.field("ToleratedFailurePercentage") {
        values::number(r, &at, 0.0, 100.0);
    }
    if let Some(at) = cx.field("ToleratedFailureCount") {
        values::integer(r, &at, 0, i64::MAX);
    }
}

/// Wait: `Seconds` or `Seconds.$`, exactly one.
pub(super) fn wait(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    match (cx.field("Seconds"), cx.field("Seconds.$")) {
        (None, None) => r.missing(
            &cx.at,
            "Seconds",
            "a Wait state needs Seconds, or Seconds.$ with an expression",
        ),
        (Some(_), Some(dynamic)) => {
            r.error(&dynamic, "Seconds and Seconds.$ cannot be used together")
                .hint("keep only one of them");
        }
        (Some(at), None) => {
            values::integer(r, &at, 0, MAX_WAIT_SECONDS);
        }
        (None, Some(at)) => expression_field(r, &at),
    }
}

/// Fail: `Detail` (required) and `Code`, each possibly as a `.$` expression.
pub(super) fn fail(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    for (key, required) in [("Code", false), ("Detail", true)] {
        let dynamic_key = format!("{key}.$");
        match (cx.field(key), cx.field(&dynamic_key)) {
            (None, None) if required => {
                r.missing(
                    &cx.at,
                    key,
                    &format!("a Fail state needs {key}, a description of the failure"),
                );
            }
            (None, None) => {}
            (Some(_), Some(dynamic)) => {
                r.error(
                    &dynamic,
                    format!("{key} and {dynamic_key} cannot be used together"),
                )
                .hint("keep only one of them");
            }
            (Some(at), None) => {
                values::string(r, &at);
            }
            (None, Some(at)) => expression_field(r, &at),
        }
    }
}
