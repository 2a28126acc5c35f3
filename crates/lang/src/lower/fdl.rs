//! Lowering of a CloudFlow FDL document (`Type: StateMachine`, `States` as a list) to the IR.

use super::LowerError;
use crate::ir::*;
use serde_json::{Map, Value};

/// Lowers a whole FDL flow.
pub fn lower(doc: &Value) -> Result<Definition, LowerError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| LowerError::new("", "the definition must be a mapping"))?;
    Ok(Definition {
        root: scope(obj, "")?,
        timeout_seconds: None,
        fdl: true,
    })
}

fn scope(obj: &Map<String, Value>, at: &str) -> Result<Scope, LowerError> {
    let start_at = str_field(obj, "StartAt", at)?.to_string();
    let list = obj
        .get("States")
        .and_then(Value::as_array)
        .ok_or_else(|| LowerError::new(at, "States must be a list"))?;
    let mut states = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let here = format!("{at}/States/{i}");
        let s = s
            .as_object()
            .ok_or_else(|| LowerError::new(&here, "a state must be a mapping"))?;
        states.push(state(s, &here)?);
    }
    Ok(Scope::new(start_at, states))
}

/// A Task's `Action`, with the ASL suffix of its `TaskMode`: `WaitForCustomCallback` waits for
/// a callback with the task token (`.waitForTaskToken`), `WaitForSystemCallback` for a child
/// flow to end (`.sync`).
fn task_resource(obj: &Map<String, Value>, at: &str) -> Result<String, LowerError> {
    let action = str_field(obj, "Action", at)?;
    Ok(match obj.get("TaskMode").and_then(Value::as_str) {
        Some("WaitForCustomCallback") => format!("{action}.waitForTaskToken"),
        // Waiting for a child flow to end (`.sync`); other actions end when their call does.
        Some("WaitForSystemCallback") if action == "FNF:StartExecution" => {
            format!("{action}.sync")
        }
        _ => action.to_string(),
    })
}

fn state(obj: &Map<String, Value>, at: &str) -> Result<State, LowerError> {
    let name = str_field(obj, "Name", at)?.to_string();
    let kind = match str_field(obj, "Type", at)? {
        "Pass" => StateKind::Pass { result: None },
        "Task" => StateKind::Task(Box::new(TaskSpec {
            resource: task_resource(obj, at)?,
            timeout: obj.get("Timeout").map(|t| match t {
                Value::String(s) => {
                    Field::Literal(s.parse::<u64>().map(Value::from).unwrap_or(Value::Null))
                }
                other => Field::Literal(other.clone()),
            }),
            heartbeat: None,
        })),
        "Choice" => StateKind::Choice {
            rules: choice_rules(obj, at)?,
            default: obj
                .get("Default")
                .and_then(Value::as_str)
                .map(str::to_string),
        },
        "Wait" => StateKind::Wait(match (obj.get("Seconds"), obj.get("Seconds.$")) {
            (Some(v), _) => WaitSpec::Seconds(v.clone()),
            (None, Some(Value::String(e))) => WaitSpec::SecondsPath(e.clone()),
            _ => return Err(LowerError::new(at, "Wait needs Seconds")),
        }),
        "Succeed" => StateKind::Succeed,
        "Fail" => StateKind::Fail {
            error: obj.get("Code").cloned().map(Field::Literal),
            cause: obj.get("Detail").cloned().map(Field::Literal),
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
                    .ok_or_else(|| LowerError::new(&here, "a branch must be a mapping"))?;
                scopes.push(scope(b, &here)?);
            }
            StateKind::Parallel { branches: scopes }
        }
        "Map" => StateKind::Map(Box::new(map(obj, at)?)),
        other => {
            return Err(LowerError::new(
                &format!("{at}/Type"),
                format!("unknown state type '{other}'"),
            ));
        }
    };
    let transition = super::transition(obj);
    Ok(State {
        name,
        kind,
        io: Io::Fdl {
            input: obj.get("InputConstructor").cloned(),
            parameters: obj.get("Parameters").cloned(),
            output: obj.get("OutputConstructor").cloned(),
            global: obj.get("GlobalConstructor").cloned(),
        },
        transition,
        assign: None,
        retry: retriers(obj)?,
        catch: catchers(obj, at)?,
        uses_context: obj.values().any(mentions_context),
    })
}

fn choice_rules(obj: &Map<String, Value>, at: &str) -> Result<Vec<ChoiceRule>, LowerError> {
    let list = obj
        .get("Branches")
        .and_then(Value::as_array)
        .ok_or_else(|| LowerError::new(at, "Choice needs Branches"))?;
    list.iter()
        .enumerate()
        .map(|(i, b)| {
            let here = format!("{at}/Branches/{i}");
            let b = b
                .as_object()
                .ok_or_else(|| LowerError::new(&here, "a branch must be a mapping"))?;
            Ok(ChoiceRule {
                condition: b.get("Condition").cloned().unwrap_or(Value::Bool(false)),
                next: str_field(b, "Next", &here)?.to_string(),
                assign: None,
                output: None,
            })
        })
        .collect()
}

fn map(obj: &Map<String, Value>, at: &str) -> Result<MapSpec, LowerError> {
    let processor = obj
        .get("Processor")
        .or_else(|| obj.get("ItemProcessor"))
        .and_then(Value::as_object)
        .ok_or_else(|| LowerError::new(at, "Map needs a Processor"))?;
    let config = obj
        .get("ProcessorConfig")
        .or_else(|| processor.get("ProcessorConfig"));
    let distributed = config.is_some_and(|c| {
        c.get("ExecutionMode").is_some()
            || c.get("Mode")
                .and_then(Value::as_str)
                .map(str::to_ascii_uppercase)
                == Some("DISTRIBUTED".into())
    });
    let express = config
        .and_then(|c| c.get("ExecutionMode"))
        .and_then(Value::as_str)
        == Some("Express");
    let max_concurrency = obj
        .get("MaxConcurrency")
        .or_else(|| obj.get("MaxConcuccency"))
        .cloned()
        .map(Field::Literal);
    Ok(MapSpec {
        processor: scope(processor, &format!("{at}/Processor"))?,
        distributed,
        express,
        items_path: match obj.get("ItemsPath").and_then(Value::as_str) {
            Some(p) => OptPath::Path(p.to_string()),
            None => OptPath::Default,
        },
        items: None,
        item_selector: obj.get("ItemConstructor").cloned(),
        item_reader: obj
            .get("ItemReader")
            .map(|r| item_reader(r, obj.get("MaxItems"))),
        item_batcher: obj.get("ItemBatcher").cloned(),
        result_writer: obj.get("ResultWriter").cloned(),
        max_concurrency,
        tolerated_failure_percentage: obj
            .get("ToleratedFailurePercentage")
            .cloned()
            .map(Field::Literal),
        tolerated_failure_count: obj
            .get("ToleratedFailureCount")
            .cloned()
            .map(Field::Literal),
        label: None,
    })
}

/// The item sources of an FDL `ItemReader` (`SourceType`), as the ASL reader that reads them:
/// resource and `ReaderConfig.InputType`.
pub const OSS_SOURCES: &[(&str, &str, Option<&str>)] = &[
    ("OSS_CSV", "arn:aws:states:::s3:getObject", Some("CSV")),
    (
        "OSS_JSON_LIST",
        "arn:aws:states:::s3:getObject",
        Some("JSON"),
    ),
    ("OSS_OBJECTS", "arn:aws:states:::s3:listObjectsV2", None),
    (
        "OSS_INVENTORY_FILES",
        "arn:aws:states:::s3:getObject",
        Some("MANIFEST"),
    ),
];

/// An FDL `ItemReader` (`SourceType` + `SourceParameters {Bucket, ObjectName | Prefix}` +
/// `ReaderConfig {CSVHeaders}`) as the equivalent ASL reader, which the engine reads; a reader
/// already in the ASL shape is kept. A Map-level `MaxItems` caps the reader.
fn item_reader(reader: &Value, max_items: Option<&Value>) -> Value {
    let Some(obj) = reader.as_object() else {
        return reader.clone();
    };
    let source = obj.get("SourceType").and_then(Value::as_str);
    let Some(&(_, resource, input_type)) = OSS_SOURCES.iter().find(|(s, ..)| Some(*s) == source)
    else {
        return reader.clone();
    };
    let parameters: Map<String, Value> = obj
        .get("SourceParameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let key = match k.as_str() {
                "ObjectName" => "Key",
                "ObjectName.$" => "Key.$",
                other => other,
            };
            (key.to_string(), v.clone())
        })
        .collect();
    let mut config = obj
        .get("ReaderConfig")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(t) = input_type {
        config.insert("InputType".into(), Value::from(t));
    }
    if input_type == Some("CSV") {
        let location = if config.contains_key("CSVHeaders") {
            "GIVEN"
        } else {
            "FIRST_ROW"
        };
        config.insert("CSVHeaderLocation".into(), Value::from(location));
    }
    if let Some(n) = max_items {
        config.entry("MaxItems").or_insert_with(|| n.clone());
    }
    let mut out = Map::new();
    out.insert("Resource".into(), Value::from(resource));
    out.insert("Parameters".into(), Value::Object(parameters));
    out.insert("ReaderConfig".into(), Value::Object(config));
    Value::Object(out)
}

fn errors(v: &Map<String, Value>) -> Vec<String> {
    v.get("Errors")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn retriers(obj: &Map<String, Value>) -> Result<Vec<Retrier>, LowerError> {
    let Some(list) = obj.get("Retry").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    Ok(list
        .iter()
        .filter_map(Value::as_object)
        .map(|r| Retrier {
            error_equals: errors(r),
            interval_seconds: r
                .get("IntervalSeconds")
                .and_then(Value::as_f64)
                .unwrap_or(1.0),
            max_attempts: r
                .get("MaxAttempts")
                .and_then(Value::as_u64)
                .map(|n| n.min(u32::MAX as u64) as u32)
                .unwrap_or(3),
            backoff_rate: r.get("BackoffRate").and_then(Value::as_f64).unwrap_or(1.0),
            max_delay_seconds: r.get("MaxBackoffSeconds").and_then(Value::as_f64),
            jitter_full: false,
        })
        .collect())
}

fn catchers(obj: &Map<String, Value>, at: &str) -> Result<Vec<Catcher>, LowerError> {
    let Some(list) = obj.get("Catch").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let here = format!("{at}/Catch/{i}");
            let c = c
                .as_object()
                .ok_or_else(|| LowerError::new(&here, "a catch rule must be a mapping"))?;
            Ok(Catcher {
                error_equals: errors(c),
                next: str_field(c, "Next", &here)?.to_string(),
                result_path: OptPath::Default,
                output: c.get("OutputConstructor").cloned(),
                assign: None,
            })
        })
        .collect()
}

fn str_field<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, LowerError> {
    obj.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| LowerError::new(&format!("{at}/{key}"), format!("{key} must be a string")))
}
