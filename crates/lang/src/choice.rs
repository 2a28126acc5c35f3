//! Evaluation of JSONPath Choice rules (`And`, `Or`, `Not` and data-test operators).

use crate::dataflow::{Env, Failure, select};
use crate::{intrinsics, timestamp};
use serde_json::Value;
use std::cmp::Ordering;

/// Evaluates a JSONPath Choice rule against the state's effective input.
pub fn evaluate(rule: &Value, input: &Value, env: &Env) -> Result<bool, Failure> {
    let Some(obj) = rule.as_object() else {
        return Err(Failure::runtime("a Choice rule must be an object"));
    };
    if let Some(all) = obj.get("And").and_then(Value::as_array) {
        for r in all {
            if !evaluate(r, input, env)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(any) = obj.get("Or").and_then(Value::as_array) {
        for r in any {
            if evaluate(r, input, env)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(inner) = obj.get("Not") {
        return Ok(!evaluate(inner, input, env)?);
    }
    let variable = obj
        .get("Variable")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::runtime("a Choice rule needs a Variable"))?;
    let (op, operand) = obj
        .iter()
        .find(|(k, _)| k.as_str() != "Variable" && k.as_str() != "Comment")
        .ok_or_else(|| Failure::runtime("a Choice rule needs a comparison operator"))?;
    let value = select(variable, input, env)?;
    if op == "IsPresent" {
        return Ok(value.is_some() == (operand.as_bool() == Some(true)));
    }
    let Some(value) = value else {
        return Err(Failure::runtime(format!(
            "Invalid path '{variable}' : No results for path: {}",
            crate::jsonpath::Path::parse(variable)
                .map(|p| p.normalized())
                .unwrap_or_else(|_| variable.to_string())
        )));
    };
    let (base, operand) = match op.strip_suffix("Path") {
        Some(base) if base != "Timestamp" && base != "Seconds" => {
            let path = operand.as_str().unwrap_or_default();
            let resolved = select(path, input, env)?.ok_or_else(|| {
                Failure::runtime(format!(
                    "Invalid path '{path}' : No results for path: {}",
                    crate::jsonpath::Path::parse(path)
                        .map(|p| p.normalized())
                        .unwrap_or_else(|_| path.to_string())
                ))
            })?;
            (base, resolved)
        }
        _ => (op.as_str(), operand.clone()),
    };
    compare(base, &value, &operand)
}

/// Applies one data-test operator (without its `Path` suffix).
fn compare(op: &str, value: &Value, operand: &Value) -> Result<bool, Failure> {
    let expect = operand.as_bool() == Some(true);
    let result = match op {
        "IsNull" => value.is_null() == expect,
        "IsNumeric" => value.is_number() == expect,
        "IsString" => value.is_string() == expect,
        "IsBoolean" => value.is_boolean() == expect,
        "IsTimestamp" => value.as_str().and_then(timestamp::parse).is_some() == expect,
        "BooleanEquals" => matches!((value, operand), (Value::Bool(a), Value::Bool(b)) if a == b),
        "StringMatches" => match (value.as_str(), operand.as_str()) {
            (Some(v), Some(p)) => intrinsics::string_matches(v, p).map_err(Failure::runtime)?,
            _ => false,
        },
        _ => {
            let ordering = if let Some(rest) = op.strip_prefix("String") {
                match (value.as_str(), operand.as_str()) {
                    (Some(a), Some(b)) => Some((rest, a.cmp(b))),
                    _ => None,
                }
            } else if let Some(rest) = op.strip_prefix("Numeric") {
                match (value.as_f64(), operand.as_f64()) {
                    (Some(a), Some(b)) => a.partial_cmp(&b).map(|o| (rest, o)),
                    _ => None,
                }
            } else if let Some(rest) = op.strip_prefix("Timestamp") {
                let a = value.as_str().and_then(timestamp::parse);
                let b = operand.as_str().and_then(timestamp::parse);
                match (a, b) {
                    (Some(a), Some(b)) => Some((rest, a.cmp(&b))),
                    _ => None,
                }
            } else {
                return Err(Failure::runtime(format!("unknown Choice operator '{op}'")));
            };
            match ordering {
                None => false,
                Some((rel, ord)) => match rel {
                    "Equals" => ord == Ordering::Equal,
                    "LessThan" => ord == Ordering::Less,
                    "GreaterThan" => ord == Ordering::Greater,
                    "LessThanEquals" => ord != Ordering::Greater,
                    "GreaterThanEquals" => ord != Ordering::Less,
                    _ => {
                        return Err(Failure::runtime(format!("unknown Choice operator '{op}'")));
                    }
                },
            }
        }
    };
    Ok(result)
}
