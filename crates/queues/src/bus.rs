//! The event bus: EventBridge-style rules. An event put on a bus goes to the targets of every
//! rule of that bus whose event pattern it matches: a queue (the event JSON as the body), a
//! function (called with the event) or a flow (an execution whose input is the event).
//!
//! Putting events writes every delivery of every entry in one store transaction before it
//! answers: onto the target queues, and for functions and flows onto an internal delivery queue
//! per rule target (`rule:NAME:N`) whose consumer delivers with retries.

use crate::config::{Consumer, QueueConfig};
use crate::event::{ACCOUNT, REGION};
use crate::pattern::Pattern;
use crate::queues::{Queues, SendError, now_ms};
use crate::triggers::Target;
use serde_json::{Value, json};
use sluice_engine::queue::{MAX_MESSAGE_BYTES, NewMessage};
use std::sync::Arc;

/// The bus events go to when an entry names none.
pub const DEFAULT_BUS: &str = "default";

/// The most entries one call puts, as on EventBridge.
pub const MAX_ENTRIES: usize = 10;

/// A rule's ARN.
pub fn rule_arn(rule: &str) -> String {
    format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}")
}

/// One rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleConfig {
    /// Its name.
    pub name: String,
    /// The bus whose events it sees.
    pub bus: String,
    /// The event pattern events must match.
    pub pattern: Pattern,
    /// Where matching events go, numbered from 1 in this order.
    pub targets: Vec<Target>,
}

impl RuleConfig {
    /// The queue the `n`th target's deliveries go onto: its own queue, or the internal
    /// delivery queue `rule:NAME:N`.
    pub fn queue_of(&self, n: usize) -> Option<String> {
        match self.targets.get(n.checked_sub(1)?)? {
            Target::Queue(q) => Some(q.clone()),
            _ => Some(format!("rule:{}:{n}", self.name)),
        }
    }

    /// The internal delivery queues of the targets that are functions and flows, which the node
    /// declares beside the project's queues.
    pub fn delivery_queues(&self) -> Vec<QueueConfig> {
        self.targets
            .iter()
            .zip(1..)
            .filter_map(|(t, n)| {
                let consumer = match t {
                    Target::Queue(_) => return None,
                    Target::Function(f) => Consumer::Event(f.clone()),
                    Target::Flow(f) => Consumer::Flow(f.clone()),
                };
                Some(QueueConfig::delivery(self.queue_of(n)?, consumer))
            })
            .collect()
    }
}

/// One entry of a put, read from PutEvents' shape.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    source: String,
    detail_type: String,
    detail: Value,
    bus: String,
    resources: Vec<Value>,
    time: Option<String>,
}

/// Why an entry was not put: EventBridge's error code and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryError {
    /// `InvalidArgument`, `MalformedDetail` or `NotFoundException`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

fn invalid(message: impl Into<String>) -> EntryError {
    EntryError {
        code: "InvalidArgument",
        message: message.into(),
    }
}

/// Reads an entry: `Source`, `DetailType`, `Detail` (a JSON object, or its text), and
/// optionally `EventBusName` (a name or ARN), `Resources` and `Time`.
fn entry(v: &Value) -> Result<Entry, EntryError> {
    let text = |key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| invalid(format!("the entry needs a {key} string")))
    };
    let source = text("Source")?;
    let detail_type = text("DetailType")?;
    let detail = match v.get("Detail") {
        Some(Value::String(s)) => serde_json::from_str(s).map_err(|e| EntryError {
            code: "MalformedDetail",
            message: format!("Detail is not JSON: {e}"),
        })?,
        Some(other) => other.clone(),
        None => return Err(invalid("the entry needs a Detail")),
    };
    if !detail.is_object() {
        return Err(EntryError {
            code: "MalformedDetail",
            message: "Detail must be a JSON object".into(),
        });
    }
    let bus = match v.get("EventBusName") {
        None | Some(Value::Null) => DEFAULT_BUS.to_string(),
        Some(Value::String(s)) => s.rsplit('/').next().unwrap_or(s).to_string(),
        Some(_) => return Err(invalid("EventBusName must be a string")),
    };
    let resources = match v.get("Resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(r)) if r.iter().all(Value::is_string) => r.clone(),
        Some(_) => return Err(invalid("Resources must be a list of strings")),
    };
    let time = match v.get("Time") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => {
            chrono::DateTime::from_timestamp(n.as_f64().unwrap_or(0.0) as i64, 0)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        }
        Some(_) => return Err(invalid("Time must be a timestamp")),
    };
    Ok(Entry {
        source,
        detail_type,
        detail,
        bus,
        resources,
        time,
    })
}

impl Entry {
    /// The EventBridge event of this entry, with its id.
    fn event(self, id: &str) -> Value {
        let time = self
            .time
            .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        json!({
            "version": "0",
            "id": id,
            "detail-type": self.detail_type,
            "source": self.source,
            "account": ACCOUNT,
            "time": time,
            "region": REGION,
            "resources": self.resources,
            "detail": self.detail,
        })
    }
}

/// The rules over the node's queues. Cheap to clone.
#[derive(Clone)]
pub struct EventBus {
    queues: Queues,
    rules: Arc<Vec<RuleConfig>>,
}

impl EventBus {
    /// The rules `rules` declares; `queues` must hold their target and delivery queues.
    pub fn new(queues: Queues, rules: Vec<RuleConfig>) -> EventBus {
        EventBus {
            queues,
            rules: Arc::new(rules),
        }
    }

    /// Every rule, in declaration order.
    pub fn rules(&self) -> &[RuleConfig] {
        &self.rules
    }

    /// Whether a bus by that name exists: the default one, or one a rule names.
    fn has_bus(&self, bus: &str) -> bool {
        bus == DEFAULT_BUS || self.rules.iter().any(|r| r.bus == bus)
    }

    /// Puts PutEvents entries: each one's event goes to the targets of the rules it matches,
    /// all in one write; answers once they are durable (blocking) with each entry's event id or
    /// error. A malformed entry fails alone.
    pub fn put_events(
        &self,
        entries: &[Value],
    ) -> Result<Vec<Result<String, EntryError>>, SendError> {
        let now = now_ms();
        let mut deliveries = Vec::new();
        let mut outcomes = Vec::with_capacity(entries.len());
        for v in entries {
            let read = entry(v).and_then(|e| match self.has_bus(&e.bus) {
                true => Ok(e),
                false => Err(EntryError {
                    code: "NotFoundException",
                    message: format!("no event bus named '{}' (rules: bus names one)", e.bus),
                }),
            });
            let entry = match read {
                Ok(e) => e,
                Err(e) => {
                    outcomes.push(Err(e));
                    continue;
                }
            };
            let id = uuid::Uuid::now_v7().to_string();
            let bus = entry.bus.clone();
            let event = entry.event(&id);
            let body = event.to_string();
            if body.len() > MAX_MESSAGE_BYTES {
                outcomes.push(Err(invalid(format!(
                    "the event is {} bytes, over the limit of {MAX_MESSAGE_BYTES} bytes",
                    body.len()
                ))));
                continue;
            }
            // Every target of every rule has a number, so that a delivery's id (and the name of
            // the execution it starts) is the event's id and that number.
            let mut k = 0;
            for rule in self.rules.iter() {
                let matched = rule.bus == bus && rule.pattern.matches(&event);
                for n in 1..=rule.targets.len() {
                    k += 1;
                    if !matched {
                        continue;
                    }
                    let Some(queue) = rule.queue_of(n) else {
                        continue;
                    };
                    let message = NewMessage {
                        id: format!("{id}-{k}"),
                        body: body.clone(),
                        attributes: Value::Null,
                        visible_ms: now,
                    };
                    deliveries.push((queue, message));
                }
            }
            outcomes.push(Ok(id));
        }
        self.queues.send_many(deliveries)?;
        Ok(outcomes)
    }
}

/// PutEvents' answer: `{"Entries": [{"EventId"} | {"ErrorCode", "ErrorMessage"}],
/// "FailedEntryCount": n}`.
pub fn put_events_result(outcomes: &[Result<String, EntryError>]) -> Value {
    let entries: Vec<Value> = outcomes
        .iter()
        .map(|o| match o {
            Ok(id) => json!({ "EventId": id }),
            Err(e) => json!({ "ErrorCode": e.code, "ErrorMessage": e.message }),
        })
        .collect();
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    json!({ "Entries": entries, "FailedEntryCount": failed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_from_the_put_events_shape() {
        let e = entry(&json!({
            "Source": "shop",
            "DetailType": "order",
            "Detail": "{\"amount\": 5}",
            "EventBusName": "arn:aws:events:us-east-1:123456789012:event-bus/orders",
            "Resources": ["r1"]
        }))
        .unwrap();
        assert_eq!(e.bus, "orders");
        let event = e.event("id-1");
        assert_eq!(event["version"], "0");
        assert_eq!(event["id"], "id-1");
        assert_eq!(event["detail-type"], "order");
        assert_eq!(event["source"], "shop");
        assert_eq!(event["detail"], json!({"amount": 5}));
        assert_eq!(event["resources"], json!(["r1"]));
        assert_eq!(event["account"], ACCOUNT);
        assert_eq!(event["region"], REGION);
        assert!(event["time"].as_str().unwrap().ends_with('Z'));

        let object =
            entry(&json!({"Source": "s", "DetailType": "t", "Detail": {"a": [1]}})).unwrap();
        assert_eq!(object.bus, DEFAULT_BUS);
        assert_eq!(object.detail, json!({"a": [1]}));

        for (bad, code) in [
            (
                json!({"DetailType": "t", "Detail": "{}"}),
                "InvalidArgument",
            ),
            (
                json!({"Source": "s", "DetailType": "t", "Detail": "nope"}),
                "MalformedDetail",
            ),
            (
                json!({"Source": "s", "DetailType": "t", "Detail": "[1]"}),
                "MalformedDetail",
            ),
            (json!({"Source": "s", "DetailType": "t"}), "InvalidArgument"),
            (
                json!({"Source": "s", "DetailType": "t", "Detail": {}, "Resources": "r"}),
                "InvalidArgument",
            ),
        ] {
            assert_eq!(entry(&bad).unwrap_err().code, code, "{bad}");
        }
    }

    #[test]
    fn the_answer_counts_failed_entries() {
        let answer = put_events_result(&[Ok("e1".into()), Err(invalid("no"))]);
        assert_eq!(answer["FailedEntryCount"], 1);
        assert_eq!(answer["Entries"][0], json!({"EventId": "e1"}));
        assert_eq!(answer["Entries"][1]["ErrorCode"], "InvalidArgument");
    }
}
