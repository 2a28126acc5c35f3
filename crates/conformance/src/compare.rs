//! Comparing what the engine did with what AWS recorded for one corpus case.

use crate::canonical::{apply_masks, canonical};
use regex::Regex;
use serde_json::{Map, Value};

/// How an execution ended, as the harness saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Actual {
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT`, ... or `HARNESS_ERROR` when the case could not run
    /// (definition rejected, engine error, timeout, panic); `error` and `cause` then say why.
    pub status: String,
    /// Output when succeeded.
    pub output: Option<Value>,
    /// Error name.
    pub error: Option<String>,
    /// Cause text. One that parses as a JSON object is compared as that object.
    pub cause: Option<String>,
}

impl Actual {
    /// A case that could not run: `kind` names the stage, `message` says what happened.
    pub fn harness_error(kind: &str, message: impl Into<String>) -> Actual {
        Actual {
            status: "HARNESS_ERROR".into(),
            output: None,
            error: Some(kind.into()),
            cause: Some(message.into()),
        }
    }
}

/// Compares an execution with a case's `expected` outcome as the corpus README prescribes.
///
/// The status must be equal. Then `output` (unless `compare.output` is false), `error` and
/// `cause` are compared after masks (engine side only), dropping `compare.ignore_keys` members
/// and canonical form C (both sides). With `compare.cause` = `loose`, an object cause is compared
/// on `errorType` and `errorMessage` only, and a text cause not at all (the error name still
/// is). Tokens in `provenance.unresolved_tokens` match any text. The error lists every part that
/// differs, each with the first difference and the canonical values.
pub fn compare(case: &Value, actual: &Actual) -> Result<(), String> {
    let expected = &case["expected"];
    let expected_status = expected["status"].as_str().unwrap_or_default();
    if expected_status != actual.status {
        let mut message = format!("status: expected {expected_status}, got {}", actual.status);
        if let Some(error) = &actual.error {
            message.push_str(&format!(" (error {error:?}"));
            if let Some(cause) = &actual.cause {
                message.push_str(&format!(", cause {:?}", truncate(cause, 600)));
            }
            message.push(')');
        }
        if let Some(output) = &actual.output {
            message.push_str(&format!(" output {}", truncate(&output.to_string(), 300)));
        }
        return Err(message);
    }

    let masks = case["masks"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let settings = &case["compare"];
    let ignore: Vec<&str> = strings(&settings["ignore_keys"]);
    let tokens: Vec<&str> = strings(&case["provenance"]["unresolved_tokens"]);
    let prepare = |v: &Value| canonical(&drop_keys(v, &ignore));
    let mut problems = Vec::new();

    if settings["output"].as_bool() != Some(false) {
        let mine = apply_masks(actual.output.as_ref().unwrap_or(&Value::Null), masks)
            .map_err(|e| format!("masks: {e}"))?;
        let (want, got) = (prepare(&expected["output"]), prepare(&mine));
        if let Some(d) = first_difference(&want, &got, "$", &tokens) {
            problems.push(report("output", &d, &want, &got));
        }
    }

    let error = actual.error.clone().map_or(Value::Null, Value::String);
    let (want, got) = (prepare(&expected["error"]), prepare(&error));
    if let Some(d) = first_difference(&want, &got, "$", &tokens) {
        problems.push(report("error", &d, &want, &got));
    }

    let cause = match &actual.cause {
        None => Value::Null,
        Some(text) => match parse_object(text) {
            Some(object) => apply_masks(&object, masks).map_err(|e| format!("masks: {e}"))?,
            None => Value::String(text.clone()),
        },
    };
    let (mut want, mut got) = (prepare(&expected["cause"]), prepare(&cause));
    let loose = settings["cause"].as_str() == Some("loose");
    let compared = if !loose {
        true
    } else if want.is_object() {
        want = pick(&want, &["errorType", "errorMessage"]);
        if got.is_object() {
            got = pick(&got, &["errorType", "errorMessage"]);
        }
        true
    } else {
        false
    };
    if let Some(d) = compared
        .then(|| first_difference(&want, &got, "$", &tokens))
        .flatten()
    {
        problems.push(report("cause", &d, &want, &got));
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A cause text that the recorder would have stored as an object.
fn parse_object(text: &str) -> Option<Value> {
    if !text.starts_with('{') {
        return None;
    }
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
}

fn pick(v: &Value, keys: &[&str]) -> Value {
    let mut out = Map::new();
    for &k in keys {
        if let Some(x) = v.get(k) {
            out.insert(k.to_string(), x.clone());
        }
    }
    Value::Object(out)
}

/// Removes members with any of `keys` as name, at any depth.
pub fn drop_keys(value: &Value, keys: &[&str]) -> Value {
    if keys.is_empty() {
        return value.clone();
    }
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !keys.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), drop_keys(v, keys)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(|v| drop_keys(v, keys)).collect()),
        other => other.clone(),
    }
}

fn report(part: &str, difference: &str, want: &Value, got: &Value) -> String {
    format!(
        "{part} {difference}\n    expected {part}: {}\n    actual {part}:   {}",
        truncate(&want.to_string(), 1500),
        truncate(&got.to_string(), 1500)
    )
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Describes the first place where `got` differs from `want`, or `None` when they match.
///
/// Objects compare regardless of member order, numbers by value (`1` equals `1.0`), and a
/// string in `want` containing one of `tokens` matches any string that agrees with it outside
/// the tokens.
pub fn first_difference(want: &Value, got: &Value, path: &str, tokens: &[&str]) -> Option<String> {
    let differ = || {
        Some(format!(
            "at {path}: expected {}, got {}",
            truncate(&want.to_string(), 200),
            truncate(&got.to_string(), 200)
        ))
    };
    match (want, got) {
        (Value::String(w), Value::String(g)) => {
            if w == g || wildcard_match(w, g, tokens) {
                None
            } else {
                differ()
            }
        }
        (Value::Number(w), Value::Number(g)) => {
            let same = match (w.as_i64(), g.as_i64(), w.as_u64(), g.as_u64()) {
                (Some(a), Some(b), _, _) => a == b,
                (_, _, Some(a), Some(b)) => a == b,
                _ => w.as_f64() == g.as_f64(),
            };
            if same { None } else { differ() }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                return Some(format!(
                    "at {path}: expected {} items, got {}: expected {}, got {}",
                    w.len(),
                    g.len(),
                    truncate(&want.to_string(), 200),
                    truncate(&got.to_string(), 200)
                ));
            }
            w.iter()
                .zip(g)
                .enumerate()
                .find_map(|(i, (a, b))| first_difference(a, b, &format!("{path}[{i}]"), tokens))
        }
        (Value::Object(w), Value::Object(g)) => {
            let missing: Vec<&str> = w
                .keys()
                .filter(|k| !g.contains_key(*k))
                .map(String::as_str)
                .collect();
            let extra: Vec<&str> = g
                .keys()
                .filter(|k| !w.contains_key(*k))
                .map(String::as_str)
                .collect();
            if !missing.is_empty() || !extra.is_empty() {
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("missing members {missing:?}"));
                }
                if !extra.is_empty() {
                    parts.push(format!("unexpected members {extra:?}"));
                }
                return Some(format!("at {path}: {}", parts.join(", ")));
            }
            w.iter().find_map(|(k, a)| {
                first_difference(a, &g[k.as_str()], &format!("{path}.{k}"), tokens)
            })
        }
        _ => {
            if want == got {
                None
            } else {
                differ()
            }
        }
    }
}

/// Whether `got` equals `want` with each unresolved token in `want` standing for any text.
fn wildcard_match(want: &str, got: &str, tokens: &[&str]) -> bool {
    if !tokens.iter().any(|t| !t.is_empty() && want.contains(t)) {
        return false;
    }
    let mut pattern = String::from(r"(?s)\A");
    let mut rest = want;
    while let Some((at, token)) = tokens
        .iter()
        .filter(|t| !t.is_empty())
        .filter_map(|t| rest.find(t).map(|i| (i, *t)))
        .min_by_key(|(i, t)| (*i, std::cmp::Reverse(t.len())))
    {
        pattern.push_str(&regex::escape(&rest[..at]));
        pattern.push_str(".*");
        rest = &rest[at + token.len()..];
    }
    pattern.push_str(&regex::escape(rest));
    pattern.push_str(r"\z");
    Regex::new(&pattern).is_ok_and(|re| re.is_match(got))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case(expected: Value) -> Value {
        json!({
            "expected": expected,
            "masks": [],
            "compare": {"output": true, "cause": "exact", "ignore_keys": []},
            "provenance": {"unresolved_tokens": []},
        })
    }

    fn succeeded(output: Value) -> Actual {
        Actual {
            status: "SUCCEEDED".into(),
            output: Some(output),
            error: None,
            cause: None,
        }
    }

    fn failed(error: &str, cause: &str) -> Actual {
        Actual {
            status: "FAILED".into(),
            output: None,
            error: Some(error.into()),
            cause: Some(cause.into()),
        }
    }

    #[test]
    fn equal_outputs_pass_regardless_of_member_order() {
        let c = case(
            json!({"status": "SUCCEEDED", "output": {"a": 1, "b": [1.0, "x"]}, "error": null, "cause": null}),
        );
        assert_eq!(
            compare(&c, &succeeded(json!({"b": [1, "x"], "a": 1}))),
            Ok(())
        );
    }

    #[test]
    fn status_must_match() {
        let c = case(json!({"status": "SUCCEEDED", "output": 1, "error": null, "cause": null}));
        let err = compare(&c, &failed("States.Runtime", "boom")).unwrap_err();
        assert!(
            err.starts_with("status: expected SUCCEEDED, got FAILED"),
            "{err}"
        );
        assert!(err.contains("boom"), "{err}");
    }

    #[test]
    fn output_difference_names_the_path() {
        let c = case(
            json!({"status": "SUCCEEDED", "output": {"a": {"b": [1, 2]}}, "error": null, "cause": null}),
        );
        let err = compare(&c, &succeeded(json!({"a": {"b": [1, 3]}}))).unwrap_err();
        assert!(
            err.starts_with("output at $.a.b[1]: expected 2, got 3"),
            "{err}"
        );
        let err = compare(&c, &succeeded(json!({"a": {}, "z": 1}))).unwrap_err();
        assert!(
            err.starts_with("output at $: unexpected members [\"z\"]"),
            "{err}"
        );
        let err = compare(&c, &succeeded(json!({"a": {}}))).unwrap_err();
        assert!(
            err.starts_with("output at $.a: missing members [\"b\"]"),
            "{err}"
        );
    }

    #[test]
    fn outputs_are_compared_in_canonical_form() {
        let c = case(
            json!({"status": "SUCCEEDED", "output": {"when": "date", "id": "<uuid:1>", "fooTimestamp": "timestamp"}, "error": null, "cause": null}),
        );
        let actual = succeeded(json!({
            "when": "2024-05-06T07:08:09.123Z",
            "id": "9b2d9bd4-3c54-4c57-9d8e-5b0c7e0f1a2b",
            "fooTimestamp": 1714979289,
        }));
        assert_eq!(compare(&c, &actual), Ok(()));
    }

    #[test]
    fn output_compare_can_be_switched_off() {
        let mut c =
            case(json!({"status": "SUCCEEDED", "output": "blanked", "error": null, "cause": null}));
        c["compare"]["output"] = json!(false);
        assert_eq!(compare(&c, &succeeded(json!([1, 2]))), Ok(()));
    }

    #[test]
    fn key_masks_apply_to_the_engine_output() {
        let mut c = case(
            json!({"status": "SUCCEEDED", "output": {"FunctionResult": "RandomNumberGenerated"}, "error": null, "cause": null}),
        );
        c["masks"] = json!([{"type": "key", "key": "FunctionResult", "replacement": "RandomNumberGenerated"}]);
        assert_eq!(
            compare(&c, &succeeded(json!({"FunctionResult": 17}))),
            Ok(())
        );
    }

    #[test]
    fn quoted_inputs_in_causes_match() {
        let c = case(json!({
            "status": "FAILED", "output": null, "error": "States.Runtime",
            "cause": "The JSONPath '$.x' could not be found in the input '<json-input:1>'",
        }));
        let actual = failed(
            "States.Runtime",
            "The JSONPath '$.x' could not be found in the input '{\"a\": 1}'",
        );
        assert_eq!(compare(&c, &actual), Ok(()));
        let wrong = failed(
            "States.Runtime",
            "The JSONPath '$.y' could not be found in the input '{}'",
        );
        assert!(compare(&c, &wrong).unwrap_err().starts_with("cause at $"));
    }

    #[test]
    fn error_names_must_match() {
        let c = case(
            json!({"status": "FAILED", "output": null, "error": "States.Runtime", "cause": "x"}),
        );
        let err = compare(&c, &failed("States.QueryEvaluationError", "x")).unwrap_err();
        assert!(err.starts_with("error at $"), "{err}");
        let c = case(json!({"status": "FAILED", "output": null, "error": null, "cause": null}));
        let none = Actual {
            status: "FAILED".into(),
            output: None,
            error: None,
            cause: None,
        };
        assert_eq!(compare(&c, &none), Ok(()));
        assert!(compare(&c, &failed("", "")).is_err());
    }

    #[test]
    fn object_causes_compare_as_objects() {
        let c = case(
            json!({"status": "FAILED", "output": null, "error": "E", "cause": {"a": 1, "b": "x"}}),
        );
        assert_eq!(compare(&c, &failed("E", "{\"b\":\"x\",\"a\":1}")), Ok(()));
        assert!(compare(&c, &failed("E", "{\"b\":\"y\",\"a\":1}")).is_err());
        assert!(compare(&c, &failed("E", " {\"b\":\"x\",\"a\":1}")).is_err());
    }

    #[test]
    fn loose_causes_compare_error_type_and_message_only() {
        let mut c = case(
            json!({"status": "FAILED", "output": null, "error": "Exception", "cause": {
                "errorMessage": "Some exception was raised.", "errorType": "Exception",
                "requestId": "<uuid:1>", "stackTrace": ["  File \"/var/task/handler.py\", line 2"],
            }}),
        );
        c["compare"]["cause"] = json!("loose");
        let actual = failed(
            "Exception",
            "{\"errorType\": \"Exception\", \"errorMessage\": \"Some exception was raised.\", \"trace\": []}",
        );
        assert_eq!(compare(&c, &actual), Ok(()));
        let other = failed(
            "Exception",
            "{\"errorType\": \"Exception\", \"errorMessage\": \"other\"}",
        );
        assert!(compare(&c, &other).is_err());
        assert!(compare(&c, &failed("Exception", "not json")).is_err());

        // A text cause is not compared at all, the error name still is.
        let mut c = case(
            json!({"status": "FAILED", "output": null, "error": "Exception", "cause": "text"}),
        );
        c["compare"]["cause"] = json!("loose");
        assert_eq!(compare(&c, &failed("Exception", "anything")), Ok(()));
        assert!(compare(&c, &failed("Other", "text")).is_err());
    }

    #[test]
    fn ignored_keys_are_dropped_from_both_sides() {
        let mut c = case(
            json!({"status": "SUCCEEDED", "output": {"Payload": 1, "SdkHttpMetadata": {"h": 1}, "x": [{"SdkResponseMetadata": 2}]}, "error": null, "cause": null}),
        );
        c["compare"]["ignore_keys"] = json!(["SdkHttpMetadata", "SdkResponseMetadata"]);
        assert_eq!(
            compare(&c, &succeeded(json!({"Payload": 1, "x": [{}]}))),
            Ok(())
        );
        assert_eq!(
            compare(
                &c,
                &succeeded(json!({"Payload": 1, "x": [{}], "SdkHttpMetadata": 5}))
            ),
            Ok(())
        );
    }

    #[test]
    fn unresolved_tokens_match_any_text() {
        let mut c = case(json!({"status": "SUCCEEDED", "output": {
            "Id": "arn:aws:states:us-east-1:1:express:sm:exec-1:<SyncExecArn_Part2_0idx>",
            "at": "<timestamp>",
        }, "error": null, "cause": null}));
        c["provenance"]["unresolved_tokens"] = json!(["<SyncExecArn_Part2_0idx>", "<timestamp>"]);
        let ok = succeeded(
            json!({"Id": "arn:aws:states:us-east-1:1:express:sm:exec-1:abc-123", "at": "whenever"}),
        );
        assert_eq!(compare(&c, &ok), Ok(()));
        let bad =
            succeeded(json!({"Id": "arn:aws:states:us-east-1:1:express:sm:exec-1", "at": "x"}));
        assert!(compare(&c, &bad).is_err());
        // Without the token listed, it is literal text.
        c["provenance"]["unresolved_tokens"] = json!([]);
        assert!(compare(&c, &ok).is_err());
    }

    #[test]
    fn regex_masks_and_tokens_together() {
        let mut c = case(
            json!({"status": "SUCCEEDED", "output": {"start_at": "<timestamp>"}, "error": null, "cause": null}),
        );
        c["masks"] = json!([{"type": "regex", "pattern": "2025-01-01T00:00:00Z", "replacement": "<timestamp>"}]);
        c["provenance"]["unresolved_tokens"] = json!(["<timestamp>"]);
        assert_eq!(
            compare(&c, &succeeded(json!({"start_at": "2025-01-01T00:00:00Z"}))),
            Ok(())
        );
    }

    #[test]
    fn harness_errors_fail_with_their_message() {
        let c = case(json!({"status": "SUCCEEDED", "output": 1, "error": null, "cause": null}));
        let err = compare(
            &c,
            &Actual::harness_error("compile", "States.Bogus is unknown"),
        )
        .unwrap_err();
        assert!(
            err.contains("HARNESS_ERROR") && err.contains("States.Bogus is unknown"),
            "{err}"
        );
    }
}
