//! Data-flow fields: paths, payload templates, JSONata strings and `Assign`.

use std::collections::HashMap;

use serde_json::Value;

use super::super::report::{At, Report};
use super::super::values;
use super::{Ql, StateCx};

/// Longest variable name accepted.
const MAX_VARIABLE_NAME: usize = 80;

/// Checks the data-flow fields most states share.
pub(super) fn common(r: &mut Report<'_>, cx: &StateCx<'_, '_>) {
    for key in ["InputPath", "OutputPath"] {
        if let Some(at) = cx.field(key) {
            nullable_path(r, &at, false);
        }
    }
    if let Some(at) = cx.field("ResultPath") {
        result_path(r, &at);
    }
    for key in ["Parameters", "ResultSelector"] {
        if let Some(at) = cx.field(key) {
            template(r, &at);
        }
    }
    for key in ["Arguments", "Output"] {
        if let Some(at) = cx.field(key) {
            jsonata_value(r, &at);
        }
    }
    if let Some(at) = cx.field("Assign") {
        assign(r, &at, cx.ql);
    }
}

/// A JSONPath Path or Reference Path string.
pub(super) fn path(r: &mut Report<'_>, at: &At<'_>, reference: bool) {
    let Some(text) = values::string(r, at) else {
        return;
    };
    check_path(r, at, text, reference);
}

/// Like [`path`], but `null` is allowed too.
pub(super) fn nullable_path(r: &mut Report<'_>, at: &At<'_>, reference: bool) {
    match at.value {
        Value::Null => {}
        Value::String(text) => check_path(r, at, text, reference),
        _ => r.wrong_type(at, "a JSONPath string or null"),
    }
}

fn check_path(r: &mut Report<'_>, at: &At<'_>, text: &str, reference: bool) {
    if !text.starts_with('$') {
        r.error(at, format!("'{text}' is not a JSONPath"))
            .hint("paths start with '$', e.g. \"$.field\"");
        return;
    }
    if let Err(error) = r.checker.path(text, reference) {
        let what = if reference {
            "reference path"
        } else {
            "JSONPath"
        };
        r.error(at, format!("invalid {what} '{text}': {error}"));
    }
}

/// `ResultPath`: `null` or a Reference Path into the state input (no `$$`, no variable).
pub(super) fn result_path(r: &mut Report<'_>, at: &At<'_>) {
    let Some(text) = at.value.as_str() else {
        if !at.value.is_null() {
            r.wrong_type(at, "a reference path string or null");
        }
        return;
    };
    if text.starts_with("$$") {
        r.error(at, "ResultPath cannot refer to the context object ($$)")
            .hint("ResultPath places the result into the state input, e.g. \"$.result\"");
    } else if text
        .strip_prefix('$')
        .and_then(|rest| rest.chars().next())
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
    {
        r.error(
            at,
            format!("ResultPath cannot refer to a variable ('{text}')"),
        )
        .hint("use Assign to set variables; ResultPath places the result into the state input");
    } else {
        check_path(r, at, text, true);
    }
}

/// A value that is either a Reference Path or an intrinsic function call (`ErrorPath`, `CausePath`).
pub(super) fn path_or_intrinsic(r: &mut Report<'_>, at: &At<'_>, reference: bool) {
    if let Some(text) = values::string(r, at) {
        expression(r, at, text, reference);
    }
}

/// The value of a `.$` key: a path when it starts with `$`, otherwise an intrinsic call.
fn expression(r: &mut Report<'_>, at: &At<'_>, text: &str, reference: bool) {
    if text.starts_with('$') {
        check_path(r, at, text, reference);
    } else if let Err(error) = r.checker.intrinsic(text) {
        r.error(at, format!("invalid intrinsic function call '{text}': {error}")).hint(
            "a key ending in '.$' takes a path such as \"$.field\" or an intrinsic such as \"States.Format('{}', $.x)\"; drop '.$' for a literal value",
        );
    }
}

/// A JSONPath payload template: keys ending in `.$` take a path or an intrinsic, at any depth.
pub(super) fn template(r: &mut Report<'_>, at: &At<'_>) {
    match at.value {
        Value::Object(_) => {
            let mut seen: HashMap<&str, &str> = HashMap::new();
            for (key, member) in at.members() {
                let stripped = key.strip_suffix(".$");
                duplicate_after_strip(r, &member, key, stripped.unwrap_or(key), &mut seen);
                match (stripped, member.value) {
                    (Some(_), Value::String(text)) => expression(r, &member, text, false),
                    (Some(_), _) => {
                        let found = crate::source::kind(member.value);
                        r.error(
                            &member,
                            format!("expected a path or intrinsic function string, found {found}"),
                        )
                        .hint(format!("drop '.$' from '{key}' to use the value as it is"));
                    }
                    (None, _) => template(r, &member),
                }
            }
        }
        Value::Array(_) => {
            for element in at.elements() {
                template(r, &element);
            }
        }
        _ => {}
    }
}

fn duplicate_after_strip<'k>(
    r: &mut Report<'_>,
    member: &At<'_>,
    key: &'k str,
    stripped: &'k str,
    seen: &mut HashMap<&'k str, &'k str>,
) {
    if let Some(previous) = seen.insert(stripped, key) {
        r.error(
            member,
            format!("'{key}' and '{previous}' both define the field '{stripped}'"),
        )
        .hint("keep only one of them");
    }
}

/// Whether `text` is a whole-string JSONata expression `{% ... %}`.
pub(super) fn is_jsonata(text: &str) -> bool {
    text.len() >= 4 && text.starts_with("{%") && text.ends_with("%}")
}

/// Checks one string that may be a JSONata expression.
fn jsonata_string(r: &mut Report<'_>, at: &At<'_>, text: &str) {
    if is_jsonata(text) {
        let inner = text[2..text.len() - 2].trim();
        if inner.is_empty() {
            r.error(at, "empty JSONata expression");
        } else if let Err(error) = r.checker.jsonata(inner) {
            r.error(at, format!("invalid JSONata expression: {error}"));
        }
    } else if text.starts_with("{%") {
        r.error(at, "JSONata expression is missing its closing '%}'")
            .hint("a JSONata expression is a whole string of the form \"{% ... %}\"");
    }
}

/// Any JSON value whose strings (at any depth) may be JSONata expressions.
pub(super) fn jsonata_value(r: &mut Report<'_>, at: &At<'_>) {
    match at.value {
        Value::String(text) => jsonata_string(r, at, text),
        Value::Object(_) => {
            for (_, member) in at.members() {
                jsonata_value(r, &member);
            }
        }
        Value::Array(_) => {
            for element in at.elements() {
                jsonata_value(r, &element);
            }
        }
        _ => {}
    }
}

/// In a JSONata state a JSONata expression string; otherwise the typed check.
pub(super) fn jsonata_or(
    r: &mut Report<'_>,
    at: &At<'_>,
    ql: Ql,
    typed: impl FnOnce(&mut Report<'_>, &At<'_>),
) {
    match at.value {
        Value::String(text) if ql == Ql::Jsonata && text.starts_with("{%") => {
            jsonata_string(r, at, text)
        }
        _ => typed(r, at),
    }
}

/// `Assign`: an object whose keys are variable names.
pub(super) fn assign(r: &mut Report<'_>, at: &At<'_>, ql: Ql) {
    if !values::object(r, at) {
        return;
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (key, member) in at.members() {
        let (name, evaluated) = match (ql, key.strip_suffix(".$")) {
            (Ql::JsonPath, Some(name)) => (name, true),
            _ => (key, false),
        };
        variable_name(r, &member, name);
        duplicate_after_strip(r, &member, key, name, &mut seen);
        match (ql, evaluated, member.value) {
            (Ql::Jsonata, _, _) => jsonata_value(r, &member),
            (Ql::JsonPath, true, Value::String(text)) => expression(r, &member, text, false),
            (Ql::JsonPath, true, _) => {
                r.error(
                    &member,
                    format!(
                        "expected a path or intrinsic function string, found {}",
                        crate::source::kind(member.value)
                    ),
                );
            }
            (Ql::JsonPath, false, _) => template(r, &member),
        }
    }
}

/// A variable name: an identifier of at most 80 characters, not `states`.
fn variable_name(r: &mut Report<'_>, at: &At<'_>, name: &str) {
    if name == "states" {
        r.error(at, "'states' is a reserved variable name")
            .hint("choose another name");
    } else if !values::is_identifier(name) {
        r.error(at, format!("'{name}' is not a valid variable name"))
            .hint("variable names start with a letter or '_' and contain only letters, digits and '_'");
    } else if name.chars().count() > MAX_VARIABLE_NAME {
        r.error(
            at,
            format!("variable name is longer than {MAX_VARIABLE_NAME} characters"),
        );
    }
}
