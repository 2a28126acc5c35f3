//! The Lambda SQS event a function consumer gets for a batch, and the partial batch response it
//! may answer with.

use md5::{Digest, Md5};
use serde_json::{Map, Value, json};
use sluice_engine::queue::QueueMessage;
use std::time::Duration;

/// The region and account of a local node's ARNs.
pub(crate) const REGION: &str = "local";
pub(crate) const ACCOUNT: &str = "000000000000";

/// A queue's ARN.
pub fn queue_arn(queue: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}")
}

/// The MD5 of `bytes`, hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Lambda SQS event of a batch: `{"Records": [...]}`.
pub fn sqs_event(queue: &str, batch: &[QueueMessage]) -> Value {
    let records: Vec<Value> = batch.iter().map(|m| record(queue, m)).collect();
    json!({ "Records": records })
}

fn record(queue: &str, m: &QueueMessage) -> Value {
    json!({
        "messageId": m.id,
        "receiptHandle": m.receipt(),
        "body": m.body,
        "attributes": {
            "ApproximateReceiveCount": m.receive_count.to_string(),
            "SentTimestamp": m.sent_ms.to_string(),
            "SenderId": ACCOUNT,
            "ApproximateFirstReceiveTimestamp": m.sent_ms.to_string(),
        },
        "messageAttributes": lambda_attributes(&m.attributes),
        "md5OfBody": md5_hex(m.body.as_bytes()),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn(queue),
        "awsRegion": REGION,
    })
}

/// SQS message attributes (`{"n": {"DataType", "StringValue"}}`) as Lambda's event writes them
/// (`{"n": {"stringValue", "stringListValues", "binaryListValues", "dataType"}}`).
fn lambda_attributes(attributes: &Value) -> Value {
    let Some(fields) = attributes.as_object() else {
        return json!({});
    };
    let out: Map<String, Value> = fields
        .iter()
        .map(|(name, a)| {
            let mut v = json!({
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": a.get("DataType").cloned().unwrap_or(json!("String")),
            });
            if let Some(s) = a.get("StringValue") {
                v["stringValue"] = s.clone();
            }
            if let Some(b) = a.get("BinaryValue") {
                v["binaryValue"] = b.clone();
            }
            (name.clone(), v)
        })
        .collect();
    Value::Object(out)
}

/// A message a consumer asks to retry, with its own delay when given.
#[derive(Clone, Debug, PartialEq)]
pub struct Retry {
    /// The message id.
    pub id: String,
    /// `delaySeconds`, Cloudflare's `msg.retry({delaySeconds})`.
    pub delay: Option<Duration>,
}

/// The messages a consumer's result asks to retry: `{"batchItemFailures": [{"itemIdentifier":
/// id, "delaySeconds"?: n}]}` (a result without it acks the whole batch).
pub fn batch_item_failures(result: &Value) -> Vec<Retry> {
    result
        .get("batchItemFailures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| {
            Some(Retry {
                id: f.get("itemIdentifier")?.as_str()?.to_string(),
                delay: f
                    .get("delaySeconds")
                    .and_then(Value::as_u64)
                    .map(Duration::from_secs),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_has_the_lambda_record_shape() {
        let m = QueueMessage {
            queue: "events".into(),
            id: "m1".into(),
            body: "hello".into(),
            attributes: json!({"kind": {"DataType": "String", "StringValue": "click"}}),
            sent_ms: 1_700_000_000_000,
            visible_ms: 0,
            receive_count: 2,
            failed: None,
        };
        let event = sqs_event("events", &[m]);
        let r = &event["Records"][0];
        assert_eq!(r["messageId"], "m1");
        assert_eq!(r["receiptHandle"], "m1#2");
        assert_eq!(r["attributes"]["ApproximateReceiveCount"], "2");
        assert_eq!(r["attributes"]["SentTimestamp"], "1700000000000");
        assert_eq!(r["md5OfBody"], "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(r["eventSourceARN"], "arn:aws:sqs:local:000000000000:events");
        assert_eq!(r["messageAttributes"]["kind"]["stringValue"], "click");
        assert_eq!(r["messageAttributes"]["kind"]["dataType"], "String");
    }

    #[test]
    fn partial_batch_responses_name_the_messages_to_retry() {
        let result = json!({"batchItemFailures": [
            {"itemIdentifier": "a"},
            {"itemIdentifier": "b", "delaySeconds": 30},
            {"nope": 1}
        ]});
        assert_eq!(
            batch_item_failures(&result),
            [
                Retry {
                    id: "a".into(),
                    delay: None
                },
                Retry {
                    id: "b".into(),
                    delay: Some(Duration::from_secs(30))
                },
            ]
        );
        assert!(batch_item_failures(&json!({"ok": true})).is_empty());
    }
}
