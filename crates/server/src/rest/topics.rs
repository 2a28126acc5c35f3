//! The topic and event bus endpoints of `/v1`.

use super::queues::blocking;
use super::{RestError, RestRequest, json_response};
use crate::ServerState;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use sluice_queues::bus::{self, EventBus};
use sluice_queues::sns;
use sluice_queues::topics::{Endpoint, FilterScope, Subscriber, TopicConfig};
use sluice_queues::triggers::Target;
use sluice_queues::{Publication, PublishError, Topics};

impl From<PublishError> for RestError {
    fn from(e: PublishError) -> RestError {
        match e {
            PublishError::UnknownTopic(_) => RestError::not_found(e.to_string()),
            PublishError::Send(send) => send.into(),
            _ => RestError::bad(e.to_string()),
        }
    }
}

fn topics(state: &ServerState) -> Result<Topics, RestError> {
    state
        .topics
        .clone()
        .ok_or_else(|| RestError::not_found("this node has no topics"))
}

fn event_bus(state: &ServerState) -> Result<EventBus, RestError> {
    state
        .bus
        .clone()
        .ok_or_else(|| RestError::not_found("this node has no event bus"))
}

/// Where a subscription or rule target delivers, as `{"queue": name}` and the like.
fn endpoint(endpoint: &Endpoint) -> Value {
    match endpoint {
        Endpoint::Queue(q) => json!({"queue": q}),
        Endpoint::Function(f) => json!({"function": f}),
        Endpoint::Flow(f) => json!({"flow": f}),
        Endpoint::Http(url) => json!({"http": url}),
    }
}

fn subscriber(topic: &TopicConfig, s: &Subscriber, n: usize) -> Value {
    let mut row = endpoint(&s.endpoint);
    row["subscriptionArn"] = json!(sns::subscription_arn(&topic.name, n));
    row["deliveryQueue"] = json!(topic.queue_of(n));
    row["rawMessageDelivery"] = json!(s.raw);
    if let Some(filter) = &s.filter {
        row["filterPolicy"] = filter.policy.source().clone();
        row["filterPolicyScope"] = json!(match filter.scope {
            FilterScope::MessageAttributes => "MessageAttributes",
            FilterScope::MessageBody => "MessageBody",
        });
    }
    row
}

pub(super) async fn list(state: ServerState, _: RestRequest) -> Result<Response, RestError> {
    let topics = topics(&state)?;
    let rows: Vec<Value> = topics
        .all()
        .map(|t| {
            let subscribers: Vec<Value> = t
                .subscribers
                .iter()
                .zip(1..)
                .map(|(s, n)| subscriber(t, s, n))
                .collect();
            json!({
                "name": t.name,
                "topicArn": sns::topic_arn(&t.name),
                "subscribers": subscribers,
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "topics": rows })))
}

/// `{"message": text or JSON (sent as its text), "subject"?: text, "attributes"?: SNS message
/// attributes}` -> `{"messageId", "deliveries"}`.
pub(super) async fn publish(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let topics = topics(&state)?;
    let body = r.json()?;
    let message = match body.get("message") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => return Err(RestError::bad("the request needs a message")),
    };
    let subject = match body.get("subject") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(RestError::bad("subject must be a string")),
    };
    let publication = Publication {
        message,
        subject,
        attributes: body.get("attributes").cloned().unwrap_or(Value::Null),
    };
    let name = r.param("name").to_string();
    let published = blocking(move || topics.publish(&name, publication)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "messageId": published.message_id, "deliveries": published.deliveries }),
    ))
}

pub(super) async fn rules(state: ServerState, _: RestRequest) -> Result<Response, RestError> {
    let bus = event_bus(&state)?;
    let rows: Vec<Value> = bus
        .rules()
        .iter()
        .map(|rule| {
            let targets: Vec<Value> = rule
                .targets
                .iter()
                .zip(1..)
                .map(|(t, n)| {
                    let mut row = match t {
                        Target::Queue(q) => json!({"queue": q}),
                        Target::Function(f) => json!({"function": f}),
                        Target::Flow(f) => json!({"flow": f}),
                    };
                    row["deliveryQueue"] = json!(rule.queue_of(n));
                    row
                })
                .collect();
            json!({
                "name": rule.name,
                "bus": rule.bus,
                "pattern": rule.pattern.source(),
                "targets": targets,
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "rules": rows })))
}

/// PutEvents: `{"Entries": [...]}` (at most 10) -> `{"Entries", "FailedEntryCount"}`.
pub(super) async fn put_events(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let bus = event_bus(&state)?;
    let body = r.json()?;
    let entries = body
        .get("Entries")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
        .cloned()
        .ok_or_else(|| RestError::bad("the request needs a non-empty Entries list"))?;
    if entries.len() > bus::MAX_ENTRIES {
        return Err(RestError::bad(format!(
            "at most {} entries at once, not {}",
            bus::MAX_ENTRIES,
            entries.len()
        )));
    }
    let outcomes = blocking(move || bus.put_events(&entries)).await?;
    Ok(json_response(
        StatusCode::OK,
        &bus::put_events_result(&outcomes),
    ))
}
