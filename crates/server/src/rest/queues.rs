//! The queue endpoints of `/v1`.

use super::{RestError, RestRequest, json_response};
use crate::ServerState;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use sluice_queues::{Consumer, Outgoing, Queues, SendError};
use std::time::Duration;

/// The most messages one request sends or shows.
const MAX_MESSAGES: u64 = 1000;

fn queues(state: &ServerState) -> Result<Queues, RestError> {
    state
        .queues
        .clone()
        .ok_or_else(|| RestError::not_found("this node has no queues"))
}

impl From<SendError> for RestError {
    fn from(e: SendError) -> RestError {
        match e {
            SendError::UnknownQueue(_) => RestError::not_found(e.to_string()),
            SendError::Store(_) => RestError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "StoreUnavailable",
                message: e.to_string(),
            },
            _ => RestError::bad(e.to_string()),
        }
    }
}

/// Runs a blocking queue, topic or bus call off the async workers.
pub(super) async fn blocking<T: Send + 'static, E: Into<RestError> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, RestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RestError::bad(e.to_string()))?
        .map_err(Into::into)
}

pub(super) async fn list(state: ServerState, _: RestRequest) -> Result<Response, RestError> {
    let queues = queues(&state)?;
    let rows = blocking(move || {
        queues
            .all()
            .map(|q| {
                let consumer = match &q.consumer {
                    Some(Consumer::Function(f)) => json!({"function": f}),
                    Some(Consumer::Flow(f)) => json!({"flow": f}),
                    Some(Consumer::Event(f)) => json!({"function": f, "perMessage": true}),
                    Some(Consumer::Webhook(url)) => json!({"http": url}),
                    None => Value::Null,
                };
                Ok(json!({
                    "name": q.name,
                    "consumer": consumer,
                    "deadLetter": q.dead_letter,
                    "batchSize": q.batch_size,
                    "maxRetries": q.max_retries,
                    "stats": queues.stats(&q.name)?,
                }))
            })
            .collect::<Result<Vec<_>, SendError>>()
    })
    .await?;
    Ok(json_response(StatusCode::OK, &json!({ "queues": rows })))
}

/// One message of a send request: `body` (text, or JSON sent as its text), `delaySeconds`,
/// `attributes`.
fn outgoing(m: &Map<String, Value>) -> Result<Outgoing, RestError> {
    let body = match m.get("body") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => return Err(RestError::bad("a message needs a body")),
    };
    let delay = match m.get("delaySeconds") {
        None | Some(Value::Null) => Duration::ZERO,
        Some(v) => Duration::from_secs(
            v.as_u64()
                .ok_or_else(|| RestError::bad("delaySeconds must be a whole number"))?,
        ),
    };
    Ok(Outgoing {
        body,
        attributes: m.get("attributes").cloned().unwrap_or(Value::Null),
        delay,
    })
}

pub(super) async fn send(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let queues = queues(&state)?;
    let body = r.json()?;
    let messages = match body.get("messages") {
        Some(Value::Array(list)) => list
            .iter()
            .map(|m| {
                m.as_object()
                    .ok_or_else(|| RestError::bad("each message must be an object"))
            })
            .map(|m| outgoing(m?))
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(RestError::bad("messages must be a list")),
        None => vec![outgoing(&body)?],
    };
    if messages.len() as u64 > MAX_MESSAGES {
        return Err(RestError::bad(format!(
            "at most {MAX_MESSAGES} messages at once"
        )));
    }
    let name = r.param("name").to_string();
    let sent = queues
        .send_async(&name, messages)
        .await
        .map_err(RestError::from)?;
    let sent: Vec<Value> = sent
        .iter()
        .map(|s| json!({"id": s.id, "md5OfBody": s.md5_of_body}))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "messages": sent })))
}

pub(super) async fn peek(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let queues = queues(&state)?;
    let limit = r.number("limit", 100, MAX_MESSAGES)? as usize;
    let failed = r.query.get("failed").is_some_and(|v| v == "true");
    let name = r.param("name").to_string();
    let messages = blocking(move || queues.peek(&name, limit, failed)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "messages": messages }),
    ))
}

pub(super) async fn purge(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let queues = queues(&state)?;
    let name = r.param("name").to_string();
    let purged = blocking(move || queues.purge(&name)).await?;
    Ok(json_response(StatusCode::OK, &json!({ "purged": purged })))
}

pub(super) async fn redrive(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let queues = queues(&state)?;
    let name = r.param("name").to_string();
    let moved = blocking(move || queues.redrive(&name)).await?;
    Ok(json_response(StatusCode::OK, &json!({ "redriven": moved })))
}
