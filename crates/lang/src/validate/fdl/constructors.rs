//! Constructors and parameters: maps whose `.$` keys hold FDL expressions.

use std::collections::HashMap;

use serde_json::Value;

use super::super::report::{At, Report};
use super::super::values;
use crate::source::kind;

/// A constructor: a map, walked for `.$` keys at any depth.
pub(super) fn constructor(r: &mut Report<'_>, at: &At<'_>) {
    if values::object(r, at) {
        walk(r, at);
    }
}

/// Walks any value: a key ending in `.$` must hold an FDL expression string.
pub(super) fn walk(r: &mut Report<'_>, at: &At<'_>) {
    match at.value {
        Value::Object(_) => {
            let mut seen: HashMap<&str, &str> = HashMap::new();
            for (key, member) in at.members() {
                let stripped = key.strip_suffix(".$");
                let field = stripped.unwrap_or(key);
                if let Some(previous) = seen.insert(field, key) {
                    r.error(
                        &member,
                        format!("'{key}' and '{previous}' both define the field '{field}'"),
                    )
                    .hint("keep only one of them");
                }
                match (stripped, member.value) {
                    (Some(_), Value::String(text)) => expression(r, &member, text),
                    (Some(_), other) => {
                        r.error(
                            &member,
                            format!("expected an expression string, found {}", kind(other)),
                        )
                        .hint(format!("drop '.$' from '{key}' to use the value as it is"));
                    }
                    (None, _) => walk(r, &member),
                }
            }
        }
        Value::Array(_) => {
            for element in at.elements() {
                walk(r, &element);
            }
        }
        _ => {}
    }
}

/// Checks one FDL expression string.
pub(super) fn expression(r: &mut Report<'_>, at: &At<'_>, text: &str) {
    if text.trim().is_empty() {
        r.error(at, "empty expression");
    } else if let Err(error) = r.checker.fdl(text) {
        r.error(at, format!("invalid expression '{text}': {error}"));
    }
}

/// A field that must hold an expression string, such as a Choice `Condition` or Map `ItemsPath`.
pub(super) fn expression_field(r: &mut Report<'_>, at: &At<'_>) {
    if let Some(text) = values::string(r, at) {
        expression(r, at, text);
    }
}
