//! Typed fields of an `ItemReader` or `ResultWriter` object: absent and `null` are `None`, a
//! value of the wrong type is an error naming the field.

use serde_json::{Map, Value};

/// A string field.
pub(crate) fn text<'a>(map: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{name} must be a string, not {other}")),
    }
}

/// An object field.
pub(crate) fn object<'a>(
    map: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(format!("{name} must be an object, not {other}")),
    }
}
