//! Retry and Catch on Task, Parallel and Map states.

use super::super::report::{At, Report};
use super::super::values;
use super::data;
use super::states::MAX_SECONDS;
use super::{Ql, StateCx};

const RETRIER_FIELDS: &[&str] = &[
    "ErrorEquals",
    "IntervalSeconds",
    "MaxAttempts",
    "BackoffRate",
    "MaxDelaySeconds",
    "JitterStrategy",
    "Comment",
];
const ALL: &str = "States.ALL";

/// Longest `MaxDelaySeconds` accepted (one leap year and a day).
const MAX_DELAY_SECONDS: i64 = 31_622_400;

/// Checks `Retry` and `Catch` when the state may have them.
pub(super) fn retry_and_catch(r: &mut Report<'_>, cx: &mut StateCx<'_, '_>) {
    if let Some(at) = cx.field("Retry") {
        let retriers = values::array(r, &at, false).unwrap_or_default();
        let count = retriers.len();
        for (i, retrier) in retriers.iter().enumerate() {
            self::retrier(r, retrier, i + 1 == count, "retrier");
        }
    }
    if let Some(at) = cx.field("Catch") {
        let catchers = values::array(r, &at, false).unwrap_or_default();
        let count = catchers.len();
        for (i, catcher) in catchers.iter().enumerate() {
            self::catcher(r, cx, catcher, i + 1 == count);
        }
    }
}

fn retrier(r: &mut Report<'_>, at: &At<'_>, last: bool, what: &str) {
    if !values::object(r, at) {
        return;
    }
    r.unknown_fields(at, RETRIER_FIELDS, &|_| None);
    error_equals(r, at, last, what);
    if let Some(field) = at.get("IntervalSeconds") {
        values::integer(r, &field, 1, MAX_SECONDS);
    }
    if let Some(field) = at.get("MaxAttempts") {
        values::integer(r, &field, 0, MAX_SECONDS);
    }
    if let Some(field) = at.get("BackoffRate") {
        values::number(r, &field, 1.0, f64::MAX);
    }
    if let Some(field) = at.get("MaxDelaySeconds") {
        values::integer(r, &field, 1, MAX_DELAY_SECONDS);
    }
    if let Some(field) = at.get("JitterStrategy") {
        values::one_of(r, &field, &["FULL", "NONE"]);
    }
    if let Some(field) = at.get("Comment") {
        values::string(r, &field);
    }
}

fn catcher<'v>(r: &mut Report<'_>, cx: &mut StateCx<'_, 'v>, at: &At<'v>, last: bool) {
    if !values::object(r, at) {
        return;
    }
    let allowed: &[&str] = match cx.ql {
        Ql::JsonPath => &["ErrorEquals", "Next", "ResultPath", "Assign", "Comment"],
        Ql::Jsonata => &["ErrorEquals", "Next", "Output", "Assign", "Comment"],
    };
    r.unknown_fields(at, allowed, &|field| match field {
        "ResultPath" | "Output" => Some((
            format!("not allowed in a {} catcher", cx.ql.name()),
            Some("JSONPath catchers use ResultPath; JSONata catchers use Output".to_owned()),
        )),
        _ => None,
    });
    error_equals(r, at, last, "catcher");
    match at.get("Next") {
        None => r.missing(
            at,
            "Next",
            "a catcher needs Next, the state to go to when it catches an error",
        ),
        Some(next) => cx.target(r, &next),
    }
    if let Some(field) = at.get("ResultPath").filter(|_| cx.ql == Ql::JsonPath) {
        data::result_path(r, &field);
    }
    if let Some(field) = at.get("Output").filter(|_| cx.ql == Ql::Jsonata) {
        data::jsonata_value(r, &field);
    }
    if let Some(field) = at.get("Assign") {
        data::assign(r, &field, cx.ql);
    }
    if let Some(field) = at.get("Comment") {
        values::string(r, &field);
    }
}

/// `ErrorEquals`: a non-empty array of error names; `States.ALL` alone and only in the last entry.
fn error_equals(r: &mut Report<'_>, at: &At<'_>, last: bool, what: &str) {
    let Some(field) = at.get("ErrorEquals") else {
        r.missing(
            at,
            "ErrorEquals",
            &format!("a {what} needs ErrorEquals, e.g. [\"States.ALL\"]"),
        );
        return;
    };
    let Some(names) = values::array(r, &field, true) else {
        return;
    };
    let count = names.len();
    for name in names {
        if values::non_empty_string(r, &name) != Some(ALL) {
            continue;
        }
        if count > 1 {
            r.error(
                &name,
                format!("{ALL} must be the only error name in its ErrorEquals"),
            )
            .hint(format!("move {ALL} into a {what} of its own"));
        } else if !last {
            r.error(&name, format!("{ALL} may only appear in the last {what}"))
                .hint(format!(
                    "{what}s are tried in order, so nothing after a {ALL} {what} could match"
                ));
        }
    }
}
