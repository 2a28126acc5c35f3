//! Lowering of an ASL document (JSON value) to the IR.

use super::LowerError;
use crate::ir::*;
use serde_json::{Map, Value};

/// Lowers a whole ASL state machine.
pub fn lower(doc: &Value) -> Result<Definition, LowerError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| LowerError::new("", "the definition must be an object"))?;
    let top_language = language_of(obj, QueryLanguage::JsonPath, "")?;
    let root = scope(obj, top_language, "")?;
    let timeout_seconds = obj.get("TimeoutSeconds").and_then(Value::as_u64);
    Ok(Definition {
        root,
        timeout_seconds,
        fdl: false,
    })
}

fn language_of(
    obj: &Map<String, Value>,
    default: QueryLanguage,
    at: &str,
) -> Result<QueryLanguage, LowerError> {
    match obj.get("QueryLanguage") {
        None => Ok(default),
        Some(Value::String(s)) if s == "JSONPath" => Ok(QueryLanguage::JsonPath),
        Some(Value::String(s)) if s == "JSONata" => Ok(QueryLanguage::Jsonata),
        Some(other) => Err(LowerError::new(
            at,
            format!("QueryLanguage must be \"JSONPath\" or \"JSONata\", not {other}"),
        )),
    }
}

fn scope(obj: &Map<String, Value>, language: QueryLanguage, at: &str) -> Result<Scope, LowerError> {
    let start_at = str_field(obj, "StartAt", at)?.to_string();
    let states_obj = obj
        .get("States")
        .and_then(Value::as_object)
        .ok_or_else(|| LowerError::new(at, "States must be an object"))?;
    let mut states = Vec::with_capacity(states_obj.len());
    for (name, body) in states_obj {
        let here = format!("{at}/States/{}", pointer_escape(name));
        let body = body
            .as_object()
            .ok_or_else(|| LowerError::new(&here, "a state must be an object"))?;
        states.push(state(name, body, language, &here)?);
    }
    if !states.iter().any(|s| s.name == start_at) {
        return Err(LowerError::new(
            &format!("{at}/StartAt"),
            format!("StartAt names no state: '{start_at}'"),
        ));
    }
    Ok(Scope::new(start_at, states))
}

fn state(
    name: &str,
    obj: &Map<String, Value>,
    scope_language: QueryLanguage,
    at: &str,
) -> Result<State, LowerError> {
    let language = language_of(obj, scope_language, at)?;
    let kind_name = str_field(obj, "Type", at)?;
    let kind = match kind_name {
        "Pass" => StateKind::Pass {
            result: obj.get("Result").cloned(),
        },
        "Task" => StateKind::Task(Box::new(TaskSpec {
            resource: str_field(obj, "Resource", at)?.to_string(),
            timeout: field(obj, "TimeoutSeconds", "TimeoutSecondsPath"),
            heartbeat: field(obj, "HeartbeatSeconds", "HeartbeatSecondsPath"),
        })),
        "Choice" => StateKind::Choice {
            rules: choice_rules(obj, at)?,
            default: obj
                .get("Default")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        "Wait" => StateKind::Wait(wait(obj, at)?),
        "Succeed" => StateKind::Succeed,
        "Fail" => StateKind::Fail {
            error: field(obj, "Error", "ErrorPath"),
            cause: field(obj, "Cause", "CausePath"),
        },
        "Parallel" => {
            let branches = obj
                .get("Branches")
                .and_then(Value::as_array)
                .ok_or_else(|| LowerError::new(at, "Parallel needs Branches"))?;
            let mut scopes = Vec::with_capacity(branches.len());
            for (i, b) in branches.iter().enumerate() {
                let here = format!("{at}/Branches/{i}");
                let b = b
                    .as_object()
                    .ok_or_else(|| LowerError::new(&here, "a branch must be an object"))?;
                scopes.push(scope(b, language_of(b, scope_language, &here)?, &here)?);
            }
            StateKind::Parallel { branches: scopes }
        }
        "Map" => StateKind::Map(Box::new(map(obj, language, scope_language, at)?)),
        other => {
            return Err(LowerError::new(
                &format!("{at}/Type"),
                format!("unknown state type '{other}'"),
            ));
        }
    };
    let transition = super::transition(obj);
    let is_map = matches!(kind, StateKind::Map(_));
    let io = match language {
        QueryLanguage::Jsonata => Io::Jsonata {
            arguments: obj.get("Arguments").cloned(),
            output: obj.get("Output").cloned(),
        },
        _ => Io::JsonPath {
            input_path: opt_path(obj, "InputPath"),
            parameters: if is_map {
                None
            } else {
                obj.get("Parameters").cloned()
            },
            result_selector: obj.get("ResultSelector").cloned(),
            result_path: opt_path(obj, "ResultPath"),
            output_path: opt_path(obj, "OutputPath"),
        },
    };
    Ok(State {
        name: name.to_string(),
        kind,
        io,
        transition,
        assign: obj.get("Assign").cloned(),
        retry: retriers(obj, at)?,
        catch: catchers(obj, at)?,
        uses_context: obj.values().any(mentions_context),
    })
}

fn choice_rules(obj: &Map<String, Value>, at: &str) -> Result<Vec<ChoiceRule>, LowerError> {
    let rules = obj
        .get("Choices")
        .and_then(Value::as_array)
        .ok_or_else(|| LowerError::new(at, "Choice needs Choices"))?;
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let here = format!("{at}/Choices/{i}");
            let r = r
                .as_object()
                .ok_or_else(|| LowerError::new(&here, "a choice rule must be an object"))?;
            let next = str_field(r, "Next", &here)?.to_string();
            let mut condition = r.clone();
            condition.remove("Next");
            let assign = condition.remove("Assign");
            let output = condition.remove("Output");
            condition.remove("Comment");
            let condition = match condition.remove("Condition") {
                Some(c) => c,
                None => Value::Object(condition),
            };
            Ok(ChoiceRule {
                condition,
                next,
                assign,
                output,
            })
        })
        .collect()
}

fn wait(obj: &Map<String, Value>, at: &str) -> Result<WaitSpec, LowerError> {
    if let Some(v) = obj.get("Seconds") {
        return Ok(WaitSpec::Seconds(v.clone()));
    }
    if let Some(v) = obj.get("Timestamp") {
        return Ok(WaitSpec::Timestamp(v.clone()));
    }
    if let Some(p) = obj.get("SecondsPath").and_then(Value::as_str) {
        return Ok(WaitSpec::SecondsPath(p.to_string()));
    }
    if let Some(p) = obj.get("TimestampPath").and_then(Value::as_str) {
        return Ok(WaitSpec::TimestampPath(p.to_string()));
    }
    Err(LowerError::new(
        at,
        "Wait needs one of Seconds, Timestamp, SecondsPath, TimestampPath",
    ))
}

fn map(
    obj: &Map<String, Value>,
    language: QueryLanguage,
    scope_language: QueryLanguage,
    at: &str,
) -> Result<MapSpec, LowerError> {
    let (key, processor) = match (obj.get("ItemProcessor"), obj.get("Iterator")) {
        (Some(p), _) => ("ItemProcessor", p),
        (None, Some(p)) => ("Iterator", p),
        (None, None) => return Err(LowerError::new(at, "Map needs ItemProcessor")),
    };
    let here = format!("{at}/{key}");
    let processor = processor
        .as_object()
        .ok_or_else(|| LowerError::new(&here, "ItemProcessor must be an object"))?;
    let config = processor.get("ProcessorConfig");
    let distributed =
        config.and_then(|c| c.get("Mode")).and_then(Value::as_str) == Some("DISTRIBUTED");
    let express = distributed
        && config
            .and_then(|c| c.get("ExecutionType"))
            .and_then(Value::as_str)
            == Some("EXPRESS");
    let processor = scope(
        processor,
        language_of(processor, scope_language, &here)?,
        &here,
    )?;
    let item_selector = obj
        .get("ItemSelector")
        .or_else(|| obj.get("Parameters"))
        .cloned();
    Ok(MapSpec {
        processor,
        distributed,
        express,
        items_path: if language == QueryLanguage::Jsonata {
            OptPath::Default
        } else {
            opt_path(obj, "ItemsPath")
        },
        items: obj.get("Items").cloned(),
        item_selector,
        item_reader: obj.get("ItemReader").cloned(),
        item_batcher: obj.get("ItemBatcher").cloned(),
        result_writer: obj.get("ResultWriter").cloned(),
        max_concurrency: field(obj, "MaxConcurrency", "MaxConcurrencyPath"),
        tolerated_failure_percentage: field(
            obj,
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
        ),
        tolerated_failure_count: field(obj, "ToleratedFailureCount", "ToleratedFailureCountPath"),
        label: obj.get("Label").and_then(Value::as_str).map(str::to_string),
    })
}

fn retriers(obj: &Map<String, Value>, at: &str) -> Result<Vec<Retrier>, LowerError> {
    let Some(list) = obj.get("Retry").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, r)| {
            let here = format!("{at}/Retry/{i}");
            Ok(Retrier {
                error_equals: error_equals(r, &here)?,
                interval_seconds: r
                    .get("IntervalSeconds")
                    .and_then(Value::as_f64)
                    .unwrap_or(1.0),
                max_attempts: r
                    .get("MaxAttempts")
                    .and_then(Value::as_u64)
                    .map(|n| n.min(u32::MAX as u64) as u32)
                    .unwrap_or(3),
                backoff_rate: r.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0),
                max_delay_seconds: r.get("MaxDelaySeconds").and_then(Value::as_f64),
                jitter_full: r.get("JitterStrategy").and_then(Value::as_str) == Some("FULL"),
            })
        })
        .collect()
}

fn catchers(obj: &Map<String, Value>, at: &str) -> Result<Vec<Catcher>, LowerError> {
    let Some(list) = obj.get("Catch").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let here = format!("{at}/Catch/{i}");
            let o = c
                .as_object()
                .ok_or_else(|| LowerError::new(&here, "a catcher must be an object"))?;
            Ok(Catcher {
                error_equals: error_equals(c, &here)?,
                next: str_field(o, "Next", &here)?.to_string(),
                result_path: opt_path(o, "ResultPath"),
                output: o.get("Output").cloned(),
                assign: o.get("Assign").cloned(),
            })
        })
        .collect()
}

fn error_equals(v: &Value, at: &str) -> Result<Vec<String>, LowerError> {
    v.get("ErrorEquals")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .ok_or_else(|| LowerError::new(at, "ErrorEquals must be a list of error names"))
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, LowerError> {
    obj.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| LowerError::new(&format!("{at}/{key}"), format!("{key} must be a string")))
}

fn opt_path(obj: &Map<String, Value>, key: &str) -> OptPath {
    match obj.get(key) {
        None => OptPath::Default,
        Some(Value::Null) => OptPath::Null,
        Some(Value::String(s)) => OptPath::Path(s.clone()),
        Some(_) => OptPath::Default,
    }
}

fn field(obj: &Map<String, Value>, literal: &str, path: &str) -> Option<Field> {
    if let Some(v) = obj.get(literal) {
        return Some(Field::Literal(v.clone()));
    }
    obj.get(path)
        .and_then(Value::as_str)
        .map(|p| Field::Path(p.to_string()))
}

/// Escapes a key for use in a JSON pointer.
pub(crate) fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
