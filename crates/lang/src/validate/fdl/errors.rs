//! Retry and Catch rules on Task, Parallel and Map states.

use super::super::report::{At, Report};
use super::super::values;
use super::StateCx;
use super::constructors;

/// Longest interval or backoff cap, in seconds (one day).
const MAX_INTERVAL: i64 = 86_400;

const RETRY_FIELDS: &[&str] = &[
    "Errors",
    "Description",
    "MaxAttempts",
    "IntervalSeconds",
    "BackoffRate",
    "MaxBackoffSeconds",
];
const CATCH_FIELDS: &[&str] = &["Errors", "Description", "OutputConstructor", "Next"];

/// Checks `Retry` and `Catch` when the state may have them.
pub(super) fn retry_and_catch(r: &mut Report<'_>, cx: &mut StateCx<'_, '_>) {
    if let Some(at) = cx.field("Retry") {
        for rule in values::array(r, &at, false).unwrap_or_default() {
            retry(r, &rule);
        }
    }
    if let Some(at) = cx.field("Catch") {
        for rule in values::array(r, &at, false).unwrap_or_default() {
            catch(r, cx, &rule);
        }
    }
}

fn retry(r: &mut Report<'_>, at: &At<'_>) {
    if !values::object(r, at) {
        return;
    }
    r.unknown_fields(at, RETRY_FIELDS, &|field| {
        let hint = match field {
            "ErrorEquals" => "FDL retry rules list their error names under Errors",
            "MaxDelaySeconds" => "FDL caps the delay with MaxBackoffSeconds",
            _ => return None,
        };
        Some(("unknown field".to_owned(), Some(hint.to_owned())))
    });
    errors(r, at, "retry");
    if let Some(field) = at.get("Description") {
        values::string(r, &field);
    }
    if let Some(field) = at.get("MaxAttempts") {
        values::integer(r, &field, 0, i64::MAX);
    }
    if let Some(field) = at.get("IntervalSeconds") {
        values::integer(r, &field, 0, MAX_INTERVAL);
    }
    if let Some(field) = at.get("BackoffRate") {
        values::number(r, &field, 1.0, f64::MAX);
    }
    if let Some(field) = at.get("MaxBackoffSeconds") {
        values::integer(r, &field, 1, MAX_INTERVAL);
    }
}

fn catch<'v>(r: &mut Report<'_>, cx: &mut StateCx<'_, 'v>, at: &At<'v>) {
    if !values::object(r, at) {
        return;
    }
    r.unknown_fields(at, CATCH_FIELDS, &|field| {
        (field == "ErrorEquals").then(|| {
            (
                "unknown field".to_owned(),
                Some("FDL catch rules list their error names under Errors".to_owned()),
            )
        })
    });
    errors(r, at, "catch");
    if let Some(field) = at.get("Description") {
        values::string(r, &field);
    }
    if let Some(field) = at.get("OutputConstructor") {
        constructors::constructor(r, &field);
    }
    match at.get("Next") {
        None => r.missing(
            at,
            "Next",
            "a catch rule needs Next, the state to go to when it catches an error",
        ),
        Some(next) => cx.target(r, &next),
    }
}

/// `Errors`: a non-empty list of error names.
fn errors(r: &mut Report<'_>, at: &At<'_>, what: &str) {
    let Some(field) = at.get("Errors") else {
        if at.get("ErrorEquals").is_some() {
            // Already reported as an unknown field, with a hint naming Errors.
            return;
        }
        r.missing(
            at,
            "Errors",
            &format!("a {what} rule needs Errors, a list of error names such as [FnF.ALL]"),
        );
        return;
    };
    for name in values::array(r, &field, true).unwrap_or_default() {
        values::non_empty_string(r, &name);
    }
}
