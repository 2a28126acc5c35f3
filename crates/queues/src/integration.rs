//! `arn:aws:states:::sqs:sendMessage` (also with `.waitForTaskToken`): a flow's Task sends a
//! message onto a queue of the project. Every other call goes to the invoker it wraps.

use crate::queues::{Outgoing, Queues};
use serde_json::{Value, json};
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Invoker, Target, TaskError};
use std::sync::Arc;
use std::time::Duration;

/// The resource of the integration, before its suffix.
const SEND_MESSAGE: &str = "arn:aws:states:::sqs:sendMessage";

/// An invoker that answers `sqs:sendMessage` Tasks and hands every other call on.
pub struct QueueIntegration {
    queues: Queues,
    inner: Arc<dyn Invoker>,
}

impl QueueIntegration {
    /// Sends onto `queues`; other calls go to `inner`.
    pub fn new(queues: Queues, inner: Arc<dyn Invoker>) -> QueueIntegration {
        QueueIntegration { queues, inner }
    }
}

impl Invoker for QueueIntegration {
    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let sends =
            matches!(&request.target, Target::Integration(r) if r.starts_with(SEND_MESSAGE));
        if !sends {
            return self.inner.invoke(request);
        }
        let queues = self.queues.clone();
        Box::pin(async move {
            let (queue, message) = parse(&request.payload)?;
            let sent = queues
                .send_async(&queue, vec![message])
                .await
                .map_err(|e| TaskError {
                    error: "SQS.AmazonSQSException".into(),
                    cause: e.to_string(),
                })?;
            let sent = &sent[0];
            Ok(json!({
                "MessageId": sent.id,
                "MD5OfMessageBody": sent.md5_of_body,
            }))
        })
    }
}

fn runtime(cause: String) -> TaskError {
    TaskError {
        error: "States.Runtime".into(),
        cause,
    }
}

/// The queue (`QueueUrl`: a URL or ARN ending in its name, or the name) and the message
/// (`MessageBody`: text, or JSON written as text; `DelaySeconds`; `MessageAttributes`).
fn parse(parameters: &Value) -> Result<(String, Outgoing), TaskError> {
    let url = parameters
        .get("QueueUrl")
        .and_then(Value::as_str)
        .ok_or_else(|| runtime("sqs:sendMessage needs a QueueUrl string parameter".into()))?;
    let queue = url
        .rsplit(['/', ':'])
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| runtime(format!("QueueUrl '{url}' names no queue")))?;
    let body = match parameters.get("MessageBody") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => {
            return Err(runtime(
                "sqs:sendMessage needs a MessageBody parameter".into(),
            ));
        }
    };
    let delay = parameters
        .get("DelaySeconds")
        .and_then(Value::as_u64)
        .map_or(Duration::ZERO, Duration::from_secs);
    let attributes = parameters
        .get("MessageAttributes")
        .cloned()
        .unwrap_or(Value::Null);
    Ok((
        queue.to_string(),
        Outgoing {
            body,
            attributes,
            delay,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_arns_and_names_name_the_queue() {
        for url in [
            "https://sqs.us-east-1.amazonaws.com/123456789012/events",
            "arn:aws:sqs:us-east-1:123456789012:events",
            "events",
        ] {
            let (queue, m) = parse(&json!({"QueueUrl": url, "MessageBody": {"a": 1}})).unwrap();
            assert_eq!(queue, "events");
            assert_eq!(m.body, r#"{"a":1}"#);
        }
        assert!(parse(&json!({"MessageBody": "x"})).is_err());
        assert!(parse(&json!({"QueueUrl": "q"})).is_err());
    }
}
