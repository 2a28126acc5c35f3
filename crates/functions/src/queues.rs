//! The queue API served to functions on their loopback listener:
//! `POST /sluice/queues/{name}/messages` with `{"messages": [{"body", "delaySeconds",
//! "messageAttributes"}]}` (at most [`MAX_BATCH`] messages), answered once they are durable with
//! `{"messages": [{"messageId"}]}` in the same order.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::server::api_error;

/// The most messages one call sends (as Cloudflare's `sendBatch`).
pub const MAX_BATCH: usize = 100;

/// The largest request body: room for a few messages of the largest size, JSON-escaped.
const MAX_REQUEST_BYTES: usize = 8 << 20;

/// A message a function sends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueSend {
    /// The body.
    pub body: String,
    /// How long it stays invisible.
    pub delay: Duration,
    /// SQS message attributes (`{"name": {"DataType", "StringValue"}}`), or null.
    pub attributes: Value,
}

/// Why a send was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueSendError {
    /// No queue by that name.
    UnknownQueue(String),
    /// The messages are not acceptable (too large, delay too long); the text says why.
    Invalid(String),
    /// The queues could not take them (a store error); the text says why.
    Failed(String),
}

/// The node's durable queues, as functions send onto them.
pub trait QueueSink: Send + Sync {
    /// Sends `messages` onto `queue` in one write; returns their ids once they are durable.
    /// Blocking: called off the async threads.
    fn send(&self, queue: &str, messages: Vec<QueueSend>) -> Result<Vec<String>, QueueSendError>;
}

type Sink = Option<Arc<dyn QueueSink>>;

/// Routes of the queue API over `sink`.
pub(crate) fn router(sink: Sink) -> Router {
    Router::new()
        .route("/sluice/queues/{name}/messages", post(send))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(sink)
}

/// The request body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    messages: Vec<MessageRequest>,
}

/// One message of a request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MessageRequest {
    body: String,
    #[serde(default)]
    delay_seconds: u64,
    #[serde(default)]
    message_attributes: Value,
}

async fn send(
    State(sink): State<Sink>,
    UrlPath(queue): UrlPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(sink) = sink else {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "NoQueues",
            "this node has no queues to send to",
        );
    };
    let request: SendRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                &format!("a send is {{\"messages\": [{{\"body\": \"...\"}}]}}: {e}"),
            );
        }
    };
    if request.messages.is_empty() || request.messages.len() > MAX_BATCH {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            &format!(
                "a send carries 1 to {MAX_BATCH} messages, not {}",
                request.messages.len()
            ),
        );
    }
    let messages = request
        .messages
        .into_iter()
        .map(|m| QueueSend {
            body: m.body,
            delay: Duration::from_secs(m.delay_seconds),
            attributes: m.message_attributes,
        })
        .collect();
    let sent = tokio::task::spawn_blocking(move || sink.send(&queue, messages)).await;
    match sent {
        Ok(Ok(ids)) => {
            let messages: Vec<Value> = ids.into_iter().map(|id| json!({"messageId": id})).collect();
            axum::Json(json!({ "messages": messages })).into_response()
        }
        Ok(Err(QueueSendError::UnknownQueue(message))) => {
            api_error(StatusCode::NOT_FOUND, "QueueDoesNotExist", &message)
        }
        Ok(Err(QueueSendError::Invalid(message))) => {
            api_error(StatusCode::BAD_REQUEST, "InvalidMessage", &message)
        }
        Ok(Err(QueueSendError::Failed(message))) => {
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "QueueError", &message)
        }
        Err(e) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "QueueError",
            &format!("the send did not finish: {e}"),
        ),
    }
}
