//! EventBridge's API (AWS JSON 1.1, `X-Amz-Target: AWSEvents.<Op>`) over the project's event
//! bus, so that `boto3.client("events")` puts events: `PutEvents` and `ListRules`.

use crate::{ApiError, ServerState, unknown_operation};
use axum::http::StatusCode;
use serde_json::{Value, json};
use sluice_queues::bus::{self, EventBus};

/// Runs one EventBridge operation.
pub async fn call(state: &ServerState, operation: &str, request: Value) -> Result<Value, ApiError> {
    let bus = state.bus.clone().ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        code: "ResourceNotFoundException",
        message: "this node has no event bus".into(),
    })?;
    match operation {
        "PutEvents" => put_events(bus, request).await,
        "ListRules" => Ok(list_rules(&bus, &request)),
        _ => Err(unknown_operation(&format!("AWSEvents.{operation}"))),
    }
}

async fn put_events(bus: EventBus, request: Value) -> Result<Value, ApiError> {
    let entries = request
        .get("Entries")
        .and_then(Value::as_array)
        .filter(|e| (1..=bus::MAX_ENTRIES).contains(&e.len()))
        .cloned()
        .ok_or_else(|| {
            ApiError::bad(
                "ValidationException",
                format!(
                    "Entries must be a list of 1 to {} entries",
                    bus::MAX_ENTRIES
                ),
            )
        })?;
    let outcomes = tokio::task::spawn_blocking(move || bus.put_events(&entries))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(bus::put_events_result(&outcomes))
}

/// `ListRules {EventBusName?, NamePrefix?}`: every matching rule, in one page.
fn list_rules(bus: &EventBus, request: &Value) -> Value {
    let on = request
        .get("EventBusName")
        .and_then(Value::as_str)
        .map(|b| b.rsplit('/').next().unwrap_or(b))
        .unwrap_or(bus::DEFAULT_BUS);
    let prefix = request
        .get("NamePrefix")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rules: Vec<Value> = bus
        .rules()
        .iter()
        .filter(|r| r.bus == on && r.name.starts_with(prefix))
        .map(|r| {
            json!({
                "Name": r.name,
                "Arn": bus::rule_arn(&r.name),
                "EventPattern": r.pattern.source().to_string(),
                "State": "ENABLED",
                "EventBusName": r.bus,
            })
        })
        .collect();
    json!({ "Rules": rules })
}
