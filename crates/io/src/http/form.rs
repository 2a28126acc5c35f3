//! JSON as `application/x-www-form-urlencoded` pairs, as an HTTP Task's
//! `Transform.RequestBodyEncoding: URL_ENCODED` sends a body: nested objects as `a[b]=v`, arrays
//! in the `RequestEncodingOptions.ArrayFormat` chosen.

use serde_json::Value;
use std::str::FromStr;

/// How arrays are written, for `{"a": ["x", "y"]}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArrayFormat {
    /// `a[0]=x&a[1]=y` (the default).
    #[default]
    Indices,
    /// `a=x&a=y`.
    Repeat,
    /// `a=x,y`.
    Commas,
    /// `a[]=x&a[]=y`.
    Brackets,
}

impl FromStr for ArrayFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "INDICES" => Ok(ArrayFormat::Indices),
            "REPEAT" => Ok(ArrayFormat::Repeat),
            "COMMAS" => Ok(ArrayFormat::Commas),
            "BRACKETS" => Ok(ArrayFormat::Brackets),
            other => Err(format!(
                "ArrayFormat '{other}' is not one of INDICES, REPEAT, COMMAS, BRACKETS"
            )),
        }
    }
}

/// The name/value pairs of `value` under `prefix` (empty at the top).
pub(super) fn pairs(value: &Value, format: ArrayFormat) -> Vec<(String, String)> {
    let mut out = Vec::new();
    add(&mut out, "", value, format);
    out
}

fn add(out: &mut Vec<(String, String)>, prefix: &str, value: &Value, format: ArrayFormat) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}[{key}]")
                };
                add(out, &name, v, format);
            }
        }
        Value::Array(items) if format == ArrayFormat::Commas => {
            let joined: Vec<String> = items.iter().map(text).collect();
            out.push((prefix.to_string(), joined.join(",")));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let name = match format {
                    ArrayFormat::Indices => format!("{prefix}[{i}]"),
                    ArrayFormat::Brackets => format!("{prefix}[]"),
                    _ => prefix.to_string(),
                };
                add(out, &name, item, format);
            }
        }
        scalar => out.push((prefix.to_string(), text(scalar))),
    }
}

/// A value as text: strings as they are, `null` as nothing, anything else as JSON.
pub(super) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Pairs encoded as a form body or query string.
pub(super) fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arrays_and_objects_are_written_in_each_format() {
        let body = json!({"a": ["x", "y"], "o": {"k": 1, "n": null}, "s": "a b&c"});
        let encoded = |f| encode(&pairs(&body, f));
        assert_eq!(
            encoded(ArrayFormat::Indices),
            "a%5B0%5D=x&a%5B1%5D=y&o%5Bk%5D=1&o%5Bn%5D=&s=a+b%26c"
        );
        assert_eq!(
            encoded(ArrayFormat::Repeat),
            "a=x&a=y&o%5Bk%5D=1&o%5Bn%5D=&s=a+b%26c"
        );
        assert_eq!(
            encoded(ArrayFormat::Commas),
            "a=x%2Cy&o%5Bk%5D=1&o%5Bn%5D=&s=a+b%26c"
        );
        assert_eq!(
            encoded(ArrayFormat::Brackets),
            "a%5B%5D=x&a%5B%5D=y&o%5Bk%5D=1&o%5Bn%5D=&s=a+b%26c"
        );
        assert!("SPACES".parse::<ArrayFormat>().is_err());
    }
}
