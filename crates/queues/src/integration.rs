//! The messaging Task integrations (each also with `.waitForTaskToken`):
//! `arn:aws:states:::sqs:sendMessage` sends a message onto a queue of the project,
//! `arn:aws:states:::sns:publish` publishes on a topic and `arn:aws:states:::events:putEvents`
//! puts events on the bus. Every other call goes to the invoker it wraps.

use crate::bus::{self, EventBus};
use crate::queues::{Outgoing, Queues};
use crate::topics::{Publication, PublishError, Topics};
use serde_json::{Value, json};
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Invoker, Target, TaskError, invoke_read};
use std::sync::Arc;
use std::time::Duration;

/// The resources of the integrations, before their suffix.
const SEND_MESSAGE: &str = "arn:aws:states:::sqs:sendMessage";
const PUBLISH: &str = "arn:aws:states:::sns:publish";
const PUT_EVENTS: &str = "arn:aws:states:::events:putEvents";

/// An invoker that answers the messaging Tasks and hands every other call on.
pub struct QueueIntegration {
    queues: Queues,
    topics: Topics,
    bus: EventBus,
    inner: Arc<dyn Invoker>,
}

impl QueueIntegration {
    /// Sends onto `queues`, publishes on `topics`, puts events on `bus`; other calls go to
    /// `inner`.
    pub fn new(
        queues: Queues,
        topics: Topics,
        bus: EventBus,
        inner: Arc<dyn Invoker>,
    ) -> QueueIntegration {
        QueueIntegration {
            queues,
            topics,
            bus,
            inner,
        }
    }
}

impl Invoker for QueueIntegration {
    fn invoke_text(&self, request: InvokeRequest, payload: Vec<u8>) -> InvokeFuture {
        match &request.target {
            Target::Function { .. } => self.inner.invoke_text(request, payload),
            Target::Integration(_) => invoke_read(self, request, &payload),
        }
    }

    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let resource = match &request.target {
            Target::Integration(r) => r.as_str(),
            Target::Function { .. } => "",
        };
        if resource.starts_with(PUBLISH) {
            return publish(self.topics.clone(), request.payload);
        }
        if resource.starts_with(PUT_EVENTS) {
            return put_events(self.bus.clone(), request.payload);
        }
        if !resource.starts_with(SEND_MESSAGE) {
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

/// An `sns:publish` Task: `{"MessageId"}` once every delivery is durable.
fn publish(topics: Topics, parameters: Value) -> InvokeFuture {
    Box::pin(async move {
        let (topic, publication) = publication(&parameters)?;
        let published = tokio::task::spawn_blocking(move || topics.publish(&topic, publication))
            .await
            .map_err(|e| runtime(e.to_string()))?
            .map_err(|e| TaskError {
                error: match e {
                    PublishError::UnknownTopic(_) => "SNS.NotFoundException",
                    PublishError::Invalid(_) | PublishError::TooLarge(_) => {
                        "SNS.InvalidParameterException"
                    }
                    PublishError::Send(_) => "SNS.InternalErrorException",
                }
                .into(),
                cause: e.to_string(),
            })?;
        Ok(json!({ "MessageId": published.message_id }))
    })
}

/// The topic (`TopicArn` or `TargetArn`: an ARN ending in its name, or the name) and the
/// message (`Message`: text, or JSON written as text; `Subject`; `MessageAttributes`).
/// `MessageGroupId` and `MessageDeduplicationId` are taken and not used.
fn publication(parameters: &Value) -> Result<(String, Publication), TaskError> {
    let topic = ["TopicArn", "TargetArn"]
        .iter()
        .find_map(|k| parameters.get(*k).and_then(Value::as_str))
        .ok_or_else(|| {
            runtime("sns:publish needs a TopicArn (or TargetArn) string parameter".into())
        })?;
    if parameters.get("MessageStructure").and_then(Value::as_str) == Some("json") {
        return Err(runtime(
            "sns:publish: MessageStructure json (a message per protocol) is not supported".into(),
        ));
    }
    let message = match parameters.get("Message") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => return Err(runtime("sns:publish needs a Message parameter".into())),
    };
    let subject = match parameters.get("Subject") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(runtime("sns:publish: Subject must be a string".into())),
    };
    let attributes = parameters
        .get("MessageAttributes")
        .cloned()
        .unwrap_or(Value::Null);
    Ok((
        topic.to_string(),
        Publication {
            message,
            subject,
            attributes,
        },
    ))
}

/// An `events:putEvents` Task: `{"Entries": [{"EventId"}], "FailedEntryCount": 0}`; a failed
/// entry fails the Task with `EventBridge.FailedEntry`.
fn put_events(bus: EventBus, parameters: Value) -> InvokeFuture {
    Box::pin(async move {
        let entries = parameters
            .get("Entries")
            .and_then(Value::as_array)
            .filter(|e| !e.is_empty())
            .cloned()
            .ok_or_else(|| runtime("events:putEvents needs a non-empty Entries list".into()))?;
        if entries.len() > bus::MAX_ENTRIES {
            return Err(runtime(format!(
                "events:putEvents takes at most {} entries, not {}",
                bus::MAX_ENTRIES,
                entries.len()
            )));
        }
        let outcomes = tokio::task::spawn_blocking(move || bus.put_events(&entries))
            .await
            .map_err(|e| runtime(e.to_string()))?
            .map_err(|e| TaskError {
                error: "EventBridge.InternalException".into(),
                cause: e.to_string(),
            })?;
        let result = bus::put_events_result(&outcomes);
        if result["FailedEntryCount"] != 0 {
            return Err(TaskError {
                error: "EventBridge.FailedEntry".into(),
                cause: result.to_string(),
            });
        }
        Ok(result)
    })
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

    #[test]
    fn publish_parameters_name_the_topic_and_serialize_json_messages() {
        let (topic, p) = publication(&json!({
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:orders",
            "Message": {"amount": 150},
            "Subject": "new order",
            "MessageGroupId": "g",
            "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "x"}}
        }))
        .unwrap();
        assert_eq!(topic, "arn:aws:sns:us-east-1:123456789012:orders");
        assert_eq!(p.message, r#"{"amount":150}"#);
        assert_eq!(p.subject.as_deref(), Some("new order"));
        assert_eq!(p.attributes["kind"]["StringValue"], "x");
        let (target, _) = publication(&json!({"TargetArn": "orders", "Message": "hi"})).unwrap();
        assert_eq!(target, "orders");
        assert!(publication(&json!({"Message": "hi"})).is_err());
        assert!(publication(&json!({"TopicArn": "t"})).is_err());
        let structured = json!({"TopicArn": "t", "Message": "{}", "MessageStructure": "json"});
        assert!(
            publication(&structured)
                .unwrap_err()
                .cause
                .contains("MessageStructure")
        );
    }
}
