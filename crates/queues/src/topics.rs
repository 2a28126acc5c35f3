//! Topics: SNS-style fan-out. A message published on a topic goes to every subscriber whose
//! filter policy it passes: a queue of the project (the notification envelope, or the message
//! itself with raw delivery), a function (the Lambda SNS event), a flow (an execution whose
//! input is the envelope) or an HTTP endpoint (the envelope POSTed with SNS's headers).
//!
//! Publishing writes every delivery in one store transaction before it answers: onto the
//! subscriber queues themselves, and, for functions, flows and HTTP endpoints, onto an internal
//! delivery queue per subscription (`topic:NAME:N`) whose consumer delivers with retries. A
//! process killed after Publish answered loses nothing; a delivery may come twice.

use crate::config::{Consumer, QueueConfig};
use crate::pattern::Pattern;
use crate::queues::{Queues, SendError, now_ms};
use crate::sns::{self, Notification};
use serde_json::Value;
use sluice_engine::queue::{MAX_MESSAGE_BYTES, NewMessage};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where a subscription delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A queue of the project.
    Queue(String),
    /// A function, called with the Lambda SNS event.
    Function(String),
    /// A flow, started with the envelope as input.
    Flow(String),
    /// An HTTP(S) URL the envelope is POSTed to.
    Http(String),
}

/// What a filter policy is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterScope {
    /// The message attributes (the default).
    MessageAttributes,
    /// The message, which must be a JSON object.
    MessageBody,
}

/// A subscription's filter policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    /// The compiled policy.
    pub policy: Pattern,
    /// What it is matched against.
    pub scope: FilterScope,
}

impl Filter {
    /// Whether a message passes.
    pub fn passes(&self, notification: &Notification) -> bool {
        match self.scope {
            FilterScope::MessageAttributes => self
                .policy
                .matches(&sns::filter_document(&notification.attributes)),
            FilterScope::MessageBody => serde_json::from_str::<Value>(&notification.message)
                .is_ok_and(|body| body.is_object() && self.policy.matches(&body)),
        }
    }
}

/// One subscription of a topic.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscriber {
    /// Where it delivers.
    pub endpoint: Endpoint,
    /// Its filter policy, if any: without one it gets every message.
    pub filter: Option<Filter>,
    /// Whether queues and HTTP endpoints get the message itself instead of the envelope.
    pub raw: bool,
}

/// One topic.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicConfig {
    /// Its name.
    pub name: String,
    /// Its subscriptions, numbered from 1 in this order.
    pub subscribers: Vec<Subscriber>,
}

impl TopicConfig {
    /// The queue the `n`th subscription's deliveries go onto: its own queue, or the internal
    /// delivery queue `topic:NAME:N`.
    pub fn queue_of(&self, n: usize) -> Option<String> {
        match &self.subscribers.get(n.checked_sub(1)?)?.endpoint {
            Endpoint::Queue(q) => Some(q.clone()),
            _ => Some(format!("topic:{}:{n}", self.name)),
        }
    }

    /// The internal delivery queues of the subscriptions to functions, flows and HTTP
    /// endpoints, which the node declares beside the project's queues.
    pub fn delivery_queues(&self) -> Vec<QueueConfig> {
        let numbered = self.subscribers.iter().zip(1..);
        numbered
            .filter_map(|(s, n)| {
                let consumer = match &s.endpoint {
                    Endpoint::Queue(_) => return None,
                    Endpoint::Function(f) => Consumer::Event(f.clone()),
                    Endpoint::Flow(f) => Consumer::Flow(f.clone()),
                    Endpoint::Http(url) => Consumer::Webhook(url.clone()),
                };
                Some(QueueConfig::delivery(self.queue_of(n)?, consumer))
            })
            .collect()
    }
}

/// A message to publish.
#[derive(Clone, Debug, Default)]
pub struct Publication {
    /// The message.
    pub message: String,
    /// Its subject, if any.
    pub subject: Option<String>,
    /// Message attributes (`{"name": {"DataType", "StringValue"}}`), or null.
    pub attributes: Value,
}

/// A message published.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    /// Its id.
    pub message_id: String,
    /// How many subscriptions it was delivered to (those whose filter it passed).
    pub deliveries: usize,
}

/// Why a publish was refused.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No topic by that name is declared.
    #[error("no topic named '{0}' (declare it under `topics:` in sluice.yaml)")]
    UnknownTopic(String),
    /// The message or its attributes are malformed.
    #[error("{0}")]
    Invalid(String),
    /// The message with its attributes is over [`MAX_MESSAGE_BYTES`].
    #[error("the message is {0} bytes, over the limit of {MAX_MESSAGE_BYTES} bytes")]
    TooLarge(usize),
    /// The deliveries could not be written.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// The declared topics over the node's queues. Cheap to clone.
#[derive(Clone)]
pub struct Topics {
    queues: Queues,
    topics: Arc<BTreeMap<String, TopicConfig>>,
}

impl Topics {
    /// The topics `configs` declares; `queues` must hold their subscriber and delivery queues.
    pub fn new(queues: Queues, configs: Vec<TopicConfig>) -> Topics {
        let topics = configs.into_iter().map(|t| (t.name.clone(), t)).collect();
        Topics {
            queues,
            topics: Arc::new(topics),
        }
    }

    /// Every topic, by name.
    pub fn all(&self) -> impl Iterator<Item = &TopicConfig> {
        self.topics.values()
    }

    /// Publishes on `topic` (a name or an ARN ending in it): writes the delivery of every
    /// subscription whose filter the message passes, in one transaction, and answers once they
    /// are durable (blocking).
    pub fn publish(
        &self,
        topic: &str,
        publication: Publication,
    ) -> Result<Published, PublishError> {
        let name = sns::topic_name(topic);
        let config = self
            .topics
            .get(name)
            .ok_or_else(|| PublishError::UnknownTopic(name.to_string()))?;
        sns::check_attributes(&publication.attributes).map_err(PublishError::Invalid)?;
        let size = publication.message.len()
            + publication
                .attributes
                .as_object()
                .map_or(0, |_| publication.attributes.to_string().len());
        if size > MAX_MESSAGE_BYTES {
            return Err(PublishError::TooLarge(size));
        }
        let notification = Notification {
            id: uuid::Uuid::now_v7().to_string(),
            topic: config.name.clone(),
            subject: publication.subject,
            message: publication.message,
            timestamp: chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string(),
            attributes: publication.attributes,
        };
        let now = now_ms();
        let deliveries: Vec<(String, NewMessage)> = config
            .subscribers
            .iter()
            .zip(1..)
            .filter(|(s, _)| s.filter.as_ref().is_none_or(|f| f.passes(&notification)))
            .filter_map(|(s, n)| {
                let (body, attributes) = delivery(config, s, n, &notification);
                let message = NewMessage {
                    id: format!("{}-{n}", notification.id),
                    body,
                    attributes,
                    visible_ms: now,
                };
                Some((config.queue_of(n)?, message))
            })
            .collect();
        let count = deliveries.len();
        self.queues.send_many(deliveries)?;
        Ok(Published {
            message_id: notification.id,
            deliveries: count,
        })
    }
}

/// The body and attributes of the `n`th subscription's delivery.
fn delivery(
    topic: &TopicConfig,
    subscriber: &Subscriber,
    n: usize,
    notification: &Notification,
) -> (String, Value) {
    let subscription = sns::subscription_arn(&topic.name, n);
    match &subscriber.endpoint {
        Endpoint::Queue(_) if subscriber.raw => (
            notification.message.clone(),
            notification.attributes.clone(),
        ),
        Endpoint::Queue(_) | Endpoint::Flow(_) => {
            (notification.envelope().to_string(), Value::Null)
        }
        Endpoint::Function(_) => (
            notification.lambda_event(&subscription).to_string(),
            Value::Null,
        ),
        Endpoint::Http(_) => {
            let body = match subscriber.raw {
                true => notification.message.clone(),
                false => notification.envelope().to_string(),
            };
            (body, notification.http_headers(&subscription))
        }
    }
}
