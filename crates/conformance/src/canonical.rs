//! The corpus's comparison form: recorder masks and the canonical form C.
//!
//! The corpus README (`shared/conformance/README.md`, "How a harness should compare") defines
//! both. Masks reproduce, on the engine's side, replacements the recorder made to one case:
//! a `key` mask blanks every member with that name, a `regex` mask is a Python regular expression
//! run over the value serialised as Python's `json.dumps` prints it. The canonical form C is then
//! applied to both sides so that the rewriting the recorder did to every recording (timestamps,
//! UUIDs, quoted inputs, numbered tokens) cannot cause a mismatch.

use regex::{Captures, Regex};
use serde_json::{Map, Value};
use std::sync::LazyLock;

/// A valid ISO-8601 date-time at the start of a string: real calendar date, hours 00-23,
/// `Z` or `±hh[:mm]`.
static VALID_DATE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\A(?:[1-9]\d{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)",
        r"|(?:0[13578]|1[02])-31)|(?:[1-9]\d(?:0[48]|[2468][048]|[13579][26])",
        r"|(?:[2468][048]|[13579][26])00)-02-29)T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?",
        r"(?:Z|[+-][01]\d:?(?:[0-5]\d)?)",
    ))
    .expect("valid regex")
});

/// A member name that contains `timestamp` (any case) on a single line.
static TIMESTAMP_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\A[^\n]*timestamp[^\n]*\n?\z").expect("valid regex"));

/// A JSON input quoted inside a message: `... '{...}'` on the first line.
static QUOTED_JSON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\A.*'(\{.*\})'").expect("valid regex"));

/// A numbered token such as `<uuid:3>`.
static NUMBERED_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"<([^<>:\s]+):\d+>").expect("valid regex"));

/// A UUID anywhere in a string.
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}")
        .expect("valid regex")
});

/// An ISO-8601 date-time anywhere in a string.
static DATE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?(\d{2})?)")
        .expect("valid regex")
});

/// Brings a value to canonical form C.
///
/// When the value is an object, members named like a timestamp get the string `timestamp`
/// (see [`is_timestamp_name`]); then every string, member names included, goes through
/// [`canonical_str`].
pub fn canonical(value: &Value) -> Value {
    let mut value = value.clone();
    if let Value::Object(map) = &mut value {
        blank_timestamp_members(map);
    }
    canonical_strings(value)
}

/// Whether a member name marks a timestamp: it contains `timestamp` in any case, or it is
/// `creationTime` or `ingestionTime`.
pub fn is_timestamp_name(name: &str) -> bool {
    name == "creationTime" || name == "ingestionTime" || TIMESTAMP_NAME.is_match(name)
}

/// Whether a timestamp-named member keeps its value: only a string that starts with a valid
/// ISO-8601 date-time or with the word `date` does.
fn keeps_timestamp_value(value: &Value) -> bool {
    match value {
        Value::String(s) => s.starts_with("date") || VALID_DATE_TIME.is_match(s),
        _ => false,
    }
}

/// Walks objects, and objects directly inside arrays, replacing timestamp-named members.
fn blank_timestamp_members(map: &mut Map<String, Value>) {
    for (name, value) in map.iter_mut() {
        if is_timestamp_name(name) {
            if !keeps_timestamp_value(value) {
                *value = Value::String("timestamp".into());
            }
            continue;
        }
        match value {
            Value::Object(inner) => blank_timestamp_members(inner),
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(inner) = item {
                        blank_timestamp_members(inner);
                    }
                }
            }
            _ => {}
        }
    }
}

fn canonical_strings(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(canonical_str(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(canonical_strings).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (canonical_str(&k), canonical_strings(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Applies the string rules of C, in order: a JSON input quoted as `'{...}'` becomes
/// `<json-input>`, numbered tokens `<name:N>` become `<name>`, UUIDs become `<uuid>` and
/// ISO-8601 date-times become `date`.
pub fn canonical_str(s: &str) -> String {
    let mut out = s.to_string();
    if let Some(quoted) = QUOTED_JSON.captures(&out).and_then(|c| c.get(1)) {
        let quoted = quoted.as_str().to_string();
        if serde_json::from_str::<Value>(&quoted).is_ok() {
            out = out.replace(&quoted, "<json-input>");
        }
    }
    let out = NUMBERED_TOKEN.replace_all(&out, "<$1>");
    let out = UUID.replace_all(&out, "<uuid>");
    DATE_TIME.replace_all(&out, "date").into_owned()
}

/// Applies a case's `masks` to a value, in order.
///
/// A `key` mask replaces the value of every member named `key`, at any depth, with
/// `replacement`. A `regex` mask runs a Python regular expression (with a Python replacement
/// template) over [`py_dumps`] of the value, and the result is parsed back.
pub fn apply_masks(value: &Value, masks: &[Value]) -> Result<Value, String> {
    let mut value = value.clone();
    for mask in masks {
        match mask["type"].as_str() {
            Some("key") => {
                let key = mask["key"].as_str().ok_or("key mask without a key")?;
                mask_key(&mut value, key, &mask["replacement"]);
            }
            Some("regex") => {
                let pattern = mask["pattern"]
                    .as_str()
                    .ok_or("regex mask without a pattern")?;
                let replacement = mask["replacement"].as_str().unwrap_or("");
                let re = Regex::new(pattern)
                    .map_err(|e| format!("mask pattern {pattern:?} does not compile: {e}"))?;
                let text = py_sub(&re, replacement, &py_dumps(&value))?;
                value = serde_json::from_str(&text).map_err(|e| {
                    format!("mask {pattern:?} left text that is not JSON ({e}): {text}")
                })?;
            }
            other => return Err(format!("unknown mask type {other:?}")),
        }
    }
    Ok(value)
}

fn mask_key(value: &mut Value, key: &str, replacement: &Value) {
    match value {
        Value::Object(map) => {
            for (name, member) in map.iter_mut() {
                if name == key {
                    *member = replacement.clone();
                } else {
                    mask_key(member, key, replacement);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                mask_key(item, key, replacement);
            }
        }
        _ => {}
    }
}

/// Replaces every match of `re` in `text` as Python's `re.sub(re, template, text)` does,
/// expanding the template's escapes and group references (`\1`, `\g<name>`).
pub fn py_sub(re: &Regex, template: &str, text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in re.captures_iter(text) {
        let m = caps.get(0).expect("group 0 always matches");
        out.push_str(&text[last..m.start()]);
        out.push_str(&expand_py_template(template, &caps)?);
        last = m.end();
    }
    out.push_str(&text[last..]);
    Ok(out)
}

fn expand_py_template(template: &str, caps: &Captures<'_>) -> Result<String, String> {
    let group = |name: &str| -> Result<String, String> {
        let m = match name.parse::<usize>() {
            Ok(i) if i < caps.len() => caps.get(i),
            Ok(i) => return Err(format!("invalid group reference {i} in {template:?}")),
            Err(_) => caps.name(name),
        };
        Ok(m.map(|m| m.as_str().to_string()).unwrap_or_default())
    };
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(next) = chars.next() else {
            return Err(format!("bad escape (end of pattern) in {template:?}"));
        };
        match next {
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            '0' => out.push('\0'),
            'g' => {
                if chars.next() != Some('<') {
                    return Err(format!("missing '<' after \\g in {template:?}"));
                }
                let name: String = chars.by_ref().take_while(|&c| c != '>').collect();
                out.push_str(&group(&name)?);
            }
            d @ '1'..='9' => {
                let mut name = d.to_string();
                if let Some(&d2) = chars.peek().filter(|c| c.is_ascii_digit()) {
                    name.push(d2);
                    chars.next();
                }
                out.push_str(&group(&name)?);
            }
            c if c.is_ascii_alphabetic() => {
                return Err(format!("bad escape \\{c} in {template:?}"));
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Serialises a value as Python's `json.dumps(value)` does by default: separators `", "` and
/// `": "`, non-ASCII characters escaped as `\uXXXX`, floats written as Python's `repr`.
pub fn py_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_py(value, &mut out);
    out
}

fn write_py(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                out.push_str(&n.to_string());
            } else {
                out.push_str(&py_float_repr(n.as_f64().unwrap_or(0.0)));
            }
        }
        Value::String(s) => write_py_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_py_str(k, out);
                out.push_str(": ");
                write_py(v, out);
            }
            out.push('}');
        }
    }
}

fn write_py_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Formats a finite float as Python's `repr` does: the shortest round-trip digits, positional
/// for decimal exponents from -4 to 15, otherwise `d.ddde±XX`.
pub fn py_float_repr(f: f64) -> String {
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let point = exp as usize + 1;
            let mut int = digits.clone();
            while int.len() < point {
                int.push('0');
            }
            let frac = if digits.len() > point {
                &digits[point..]
            } else {
                "0"
            };
            format!("{sign}{}.{frac}", &int[..point])
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            format!("{sign}0.{zeros}{digits}")
        }
    } else {
        let exp_sign = if exp < 0 { '-' } else { '+' };
        let rest = &digits[1..];
        let dot = if rest.is_empty() { "" } else { "." };
        format!(
            "{sign}{}{dot}{rest}e{exp_sign}{:02}",
            &digits[..1],
            exp.abs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamp_members_are_blanked_unless_they_hold_a_date_time() {
        let v = json!({
            "Timestamp": 1700000000,
            "lastTimestampSeen": "yesterday",
            "creationTime": null,
            "ingestionTime": {"nested": true},
            "kept": "2024-02-29T10:00:00Z",
            "timestamp_ok": "2024-02-29T10:00:00.123+01:00 trailing",
            "timestamp_word": "date",
            "timestamp_bad_day": "2023-02-29T10:00:00Z",
            "timestamp_bad_hour": "2016-12-05T25:29:29Z",
            "timestamp_bad_month": "2016-13-05T21:29:29Z",
            "other": 5,
        });
        let c = canonical(&v);
        assert_eq!(c["Timestamp"], "timestamp");
        assert_eq!(c["lastTimestampSeen"], "timestamp");
        assert_eq!(c["creationTime"], "timestamp");
        assert_eq!(c["ingestionTime"], "timestamp");
        assert_eq!(c["kept"], "date");
        assert_eq!(c["timestamp_ok"], "date trailing");
        assert_eq!(c["timestamp_word"], "date");
        assert_eq!(c["timestamp_bad_day"], "timestamp");
        assert_eq!(c["timestamp_bad_hour"], "timestamp");
        assert_eq!(c["timestamp_bad_month"], "timestamp");
        assert_eq!(c["other"], 5);
    }

    #[test]
    fn timestamp_rule_walks_objects_and_objects_in_arrays_only() {
        let v = json!({
            "a": {"ts": {"MyTimestamp": 1}},
            "list": [{"timestamp": 2}, [{"timestamp": 3}], "x"],
        });
        let c = canonical(&v);
        assert_eq!(c["a"]["ts"]["MyTimestamp"], "timestamp");
        assert_eq!(c["list"][0]["timestamp"], "timestamp");
        // Arrays nested directly in arrays are not walked.
        assert_eq!(c["list"][1][0]["timestamp"], 3);
        assert_eq!(c["list"][2], "x");
    }

    #[test]
    fn timestamp_rule_needs_a_top_level_object() {
        let v = json!([{"timestamp": 1}]);
        assert_eq!(canonical(&v), v);
    }

    #[test]
    fn timestamp_names() {
        assert!(is_timestamp_name("timestamp"));
        assert!(is_timestamp_name("TIMESTAMP"));
        assert!(is_timestamp_name("eventTimeStampMs"));
        assert!(is_timestamp_name("creationTime"));
        assert!(is_timestamp_name("ingestionTime"));
        assert!(!is_timestamp_name("CreationTime"));
        assert!(!is_timestamp_name("time"));
        assert!(!is_timestamp_name("a\ntimestamp"));
    }

    #[test]
    fn quoted_json_input_is_replaced() {
        let s = "The JSONPath '$.x' could not be found in the input '{\"a\": 1, \"b\": [2]}'";
        assert_eq!(
            canonical_str(s),
            "The JSONPath '$.x' could not be found in the input '<json-input>'"
        );
        // Every occurrence of the captured text goes.
        let s = "{\"a\":1} then '{\"a\":1}'";
        assert_eq!(canonical_str(s), "<json-input> then '<json-input>'");
        // Not JSON: untouched.
        let s = "expression '{'foo': 'bar'}' returned";
        assert_eq!(canonical_str(s), s);
        // The quote must be on the first line.
        let s = "first line\nthe input '{\"a\": 1}'";
        assert_eq!(canonical_str(s), s);
    }

    #[test]
    fn numbered_tokens_lose_their_number() {
        assert_eq!(
            canonical_str("in the input '<json-input:1>' and <uuid:12>, <request_id>"),
            "in the input '<json-input>' and <uuid>, <request_id>"
        );
    }

    #[test]
    fn uuids_and_date_times_are_replaced() {
        assert_eq!(
            canonical_str("id 0f4c2a47-1b2c-4d5e-8f90-ABCDEF012345 at 2024-01-02T03:04:05.678Z"),
            "id <uuid> at date"
        );
        assert_eq!(
            canonical_str(
                "2016-12-05T21:29:29+0100 / 2016-12-05T21:29:29-01:30 / 2016-12-05T21:29:29+01"
            ),
            "date / date / date"
        );
        // Without a zone it is not a date-time.
        assert_eq!(canonical_str("2016-12-05T21:29:29"), "2016-12-05T21:29:29");
        // Invalid calendar values still match the generic pattern.
        assert_eq!(canonical_str("2016-13-05T21:29:29Z"), "date");
    }

    #[test]
    fn member_names_are_canonicalised_too() {
        let v = json!({"2024-01-02T03:04:05Z": {"k<uuid:3>": 1}});
        assert_eq!(canonical(&v), json!({"date": {"k<uuid>": 1}}));
    }

    #[test]
    fn canonical_form_is_idempotent() {
        let v = json!({
            "startTimestamp": "2024-01-02T03:04:05Z",
            "cause": "bad input '{\"x\": \"0f4c2a47-1b2c-4d5e-8f90-abcdef012345\"}'",
            "list": [{"timestamp": 1}],
        });
        let once = canonical(&v);
        assert_eq!(canonical(&once), once);
    }

    #[test]
    fn key_masks_replace_members_at_any_depth() {
        let v = json!({"StartTime": 1, "a": [{"StartTime": {"x": 1}}, [{"StartTime": 2}]]});
        let masks = [json!({"type": "key", "key": "StartTime", "replacement": "start-time"})];
        assert_eq!(
            apply_masks(&v, &masks).unwrap(),
            json!({"StartTime": "start-time", "a": [{"StartTime": "start-time"}, [{"StartTime": "start-time"}]]})
        );
    }

    #[test]
    fn regex_masks_run_over_python_json_text() {
        let v = json!({"start_at": "2025-01-01T00:00:00Z"});
        let masks = [
            json!({"type": "regex", "pattern": "2025-01-01T00:00:00Z", "replacement": "<timestamp>"}),
        ];
        assert_eq!(
            apply_masks(&v, &masks).unwrap(),
            json!({"start_at": "<timestamp>"})
        );

        // The pattern sees Python's separators and escaped inner JSON.
        let cause = "{\"errorMessage\": \"boom\", \"requestId\": \"3f2a-01\"}";
        let v = json!({"Cause": cause});
        let masks = [json!({
            "type": "regex",
            "pattern": "\\\\\"requestId\\\\\": \\\\\"([a-f0-9\\-]+)\\\\\"",
            "replacement": "\\\"requestId\\\": \\\"<request-id>\\\"",
        })];
        assert_eq!(
            apply_masks(&v, &masks).unwrap(),
            json!({"Cause": "{\"errorMessage\": \"boom\", \"requestId\": \"<request-id>\"}"})
        );
    }

    #[test]
    fn regex_masks_expand_python_templates() {
        let re = Regex::new(r"(?P<word>[a-z]+)-(\d+)").unwrap();
        assert_eq!(
            py_sub(&re, r"\2:\g<word>:\g<1>", "ab-12 cd-3").unwrap(),
            "12:ab:ab 3:cd:cd"
        );
        assert_eq!(py_sub(&re, r"x\\y\&", "ab-1").unwrap(), "x\\y\\&");
        assert!(py_sub(&re, r"\q", "ab-1").is_err());
        // A regex mask that breaks the JSON text is reported.
        let masks = [json!({"type": "regex", "pattern": "\"", "replacement": ""})];
        assert!(apply_masks(&json!({"a": 1}), &masks).is_err());
    }

    #[test]
    fn python_json_text() {
        let v = json!({"a": [1, 2.5, null, true], "é": "ü\n\"\\\u{1f600}\u{7f}", "e": {}, "l": []});
        assert_eq!(
            py_dumps(&v),
            r#"{"a": [1, 2.5, null, true], "\u00e9": "\u00fc\n\"\\\ud83d\ude00\u007f", "e": {}, "l": []}"#
        );
    }

    #[test]
    fn python_float_repr() {
        let cases = [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.5, "0.5"),
            (123.456, "123.456"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5e100, "-2.5e+100"),
            (12.5, "12.5"),
        ];
        for (f, text) in cases {
            assert_eq!(py_float_repr(f), text, "{f}");
        }
    }
}
