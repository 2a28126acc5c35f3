//! Type-specific rules for Task, Wait, Fail and Parallel states (Pass and Succeed need none
//! beyond the shared data-flow checks).

use super::super::report::{At, Report};
use super::super::values;
use super::data::{self, jsonata_or};
use super::{Ql, ScopeKind, StateCx, scope};

/// Largest number of seconds ASL accepts in timeouts and waits.
pub(super) const MAX_SECONDS: i64 = 99_999_999;

/// Task: `Resource`, `Credentials`, timeouts and heartbeats.
pub(super) fn task(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    match cx.field("Resource") {
        Some(at) => {
            values::non_empty_string(r, &at);
        }
        None => r.missing(
            &cx.at,
            "Resource",
            "a Task state needs Resource, the URI of the work to run",
        ),
    }
    if let Some(at) = cx.field("Credentials") {
        match cx.ql {
            Ql::JsonPath => {
                if values::object(r, &at) {
                    data::template(r, &at);
                }
            }
            Ql::Jsonata => data::jsonata_value(r, &at),
        }
    }
    let timeout = seconds_pair(r, cx, "TimeoutSeconds", "TimeoutSecondsPath");
    let heartbeat = seconds_pair(r, cx, "HeartbeatSeconds", "HeartbeatSecondsPath");
    if let (Some(timeout), Some(heartbeat)) = (timeout, heartbeat)
        && heartbeat >= timeout
        && let Some(at) = cx.field("HeartbeatSeconds")
    {
        r.error(
            &at,
            format!("must be smaller than TimeoutSeconds ({timeout}), found {heartbeat}"),
        );
    }
}

/// A positive seconds field and its mutually exclusive `...Path` twin; returns the literal value.
fn seconds_pair(
    r: &mut Report<'_>,
    cx: &StateCx<'_, '_>,
    key: &str,
    path_key: &str,
) -> Option<i64> {
    let literal = cx.field(key);
    let path = cx.field(path_key);
    if let (Some(_), Some(path)) = (&literal, &path) {
        exclusive(r, path, key, path_key);
    }
    if let Some(path) = path {
        data::path(r, &path, true);
    }
    let at = literal?;
    let mut value = None;
    jsonata_or(r, &at, cx.ql, |r, at| {
        value = values::integer(r, at, 1, MAX_SECONDS)
    });
    value
}

/// Reports two fields that cannot be used together, at the second one.
pub(super) fn exclusive(r: &mut Report<'_>, second: &At<'_>, first_key: &str, second_key: &str) {
    r.error(
        second,
        format!("{first_key} and {second_key} cannot be used together"),
    )
    .hint(format!("keep only one of {first_key} and {second_key}"));
}

/// Wait: exactly one of `Seconds`, `Timestamp`, `SecondsPath`, `TimestampPath`.
pub(super) fn wait(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    let keys = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"];
    let present: Vec<(&str, At<'_>)> = keys
        .iter()
        .filter_map(|key| cx.field(key).map(|at| (*key, at)))
        .collect();
    match present.as_slice() {
        [] => {
            let choices = match cx.ql {
                Ql::JsonPath => "Seconds, Timestamp, SecondsPath or TimestampPath",
                Ql::Jsonata => "Seconds or Timestamp",
            };
            r.error_at(
                &cx.at.pointer,
                Some(cx.name),
                format!("a Wait state needs one of {choices}"),
            )
            .hint("add \"Seconds\": 10 to wait ten seconds");
        }
        [(first, _), rest @ ..] => {
            for (key, at) in rest {
                exclusive(r, at, first, key);
            }
        }
    }
    for (key, at) in &present {
        match *key {
            "Seconds" => jsonata_or(r, at, cx.ql, |r, at| {
                values::integer(r, at, 0, MAX_SECONDS);
            }),
            "Timestamp" => jsonata_or(r, at, cx.ql, timestamp),
            _ => data::path(r, at, true),
        }
    }
}

/// A literal RFC 3339 timestamp.
pub(super) fn timestamp(r: &mut Report<'_>, at: &At<'_>) {
    if let Some(text) = values::string(r, at)
        && !values::is_timestamp(text)
    {
        r.error(at, format!("'{text}' is not an RFC 3339 timestamp"))
            .hint("write timestamps like \"2016-03-14T01:59:00Z\" (uppercase T and Z, or a numeric offset)");
    }
}

/// Fail: `Error`/`ErrorPath` and `Cause`/`CausePath` are mutually exclusive.
pub(super) fn fail(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    for (key, path_key) in [("Error", "ErrorPath"), ("Cause", "CausePath")] {
        let literal = cx.field(key);
        let path = cx.field(path_key);
        if let (Some(_), Some(path)) = (&literal, &path) {
            exclusive(r, path, key, path_key);
        }
        if let Some(at) = literal {
            jsonata_or(r, &at, cx.ql, |r, at| {
                values::string(r, at);
            });
        }
        if let Some(at) = path {
            data::path_or_intrinsic(r, &at, true);
        }
    }
}

/// Parallel: a non-empty array of branches, each a closed scope.
pub(super) fn parallel(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    let Some(at) = cx.field("Branches") else {
        r.missing(
            &cx.at,
            "Branches",
            "a Parallel state needs Branches, an array of {StartAt, States}",
        );
        return;
    };
    let Some(branches) = values::array(r, &at, true) else {
        return;
    };
    for branch in branches {
        scope(r, cx.machine, &branch, ScopeKind::Branch);
    }
}
