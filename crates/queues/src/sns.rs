//! The shapes SNS delivers a message in: the notification envelope (to queues, HTTP endpoints
//! and flows) and the Lambda SNS event (to functions); and the message attributes a publisher
//! gives, checked and read for filter policies.

use crate::event::{ACCOUNT, REGION};
use serde_json::{Map, Value, json};

/// A topic's ARN.
pub fn topic_arn(topic: &str) -> String {
    format!("arn:aws:sns:{REGION}:{ACCOUNT}:{topic}")
}

/// The ARN of a topic's `n`th subscription (from 1, in the order they are declared).
pub fn subscription_arn(topic: &str, n: usize) -> String {
    format!("{}:{n}", topic_arn(topic))
}

/// The topic an ARN (`arn:aws:sns:REGION:ACCOUNT:NAME`) or a plain name names.
pub fn topic_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

/// The data types of message attributes.
const DATA_TYPES: [&str; 4] = ["String", "String.Array", "Number", "Binary"];

/// Checks message attributes as SNS's Publish takes them: `{"name": {"DataType": "String" |
/// "String.Array" | "Number" | "Binary", "StringValue" | "BinaryValue": ...}}`. The error
/// names the attribute.
pub fn check_attributes(attributes: &Value) -> Result<(), String> {
    let fields = match attributes {
        Value::Null => return Ok(()),
        Value::Object(fields) => fields,
        _ => return Err("MessageAttributes must be an object".into()),
    };
    for (name, a) in fields {
        let data_type = a
            .get("DataType")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !DATA_TYPES.iter().any(|t| data_type.starts_with(t)) {
            return Err(format!(
                "message attribute '{name}' needs a DataType of String, String.Array, Number or Binary"
            ));
        }
        let value = if data_type.starts_with("Binary") {
            a.get("BinaryValue")
        } else {
            a.get("StringValue")
        };
        if !value.is_some_and(Value::is_string) {
            return Err(format!(
                "message attribute '{name}' needs a {} string",
                if data_type.starts_with("Binary") {
                    "BinaryValue"
                } else {
                    "StringValue"
                }
            ));
        }
        if data_type.starts_with("Number") && number(a).is_none() {
            return Err(format!("message attribute '{name}' is not a number"));
        }
    }
    Ok(())
}

fn number(a: &Value) -> Option<f64> {
    a.get("StringValue")?
        .as_str()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite())
}

/// Message attributes as a filter policy on them sees them: strings, numbers, and lists for
/// `String.Array` (binary ones are left out, as on SNS).
pub fn filter_document(attributes: &Value) -> Value {
    let Some(fields) = attributes.as_object() else {
        return json!({});
    };
    let out: Map<String, Value> = fields
        .iter()
        .filter_map(|(name, a)| {
            let data_type = a.get("DataType").and_then(Value::as_str)?;
            let text = a.get("StringValue").and_then(Value::as_str)?;
            let value = if data_type.starts_with("Number") {
                json!(number(a)?)
            } else if data_type.starts_with("String.Array") {
                serde_json::from_str::<Value>(text)
                    .ok()
                    .filter(Value::is_array)
                    .unwrap_or_else(|| json!(text))
            } else if data_type.starts_with("String") {
                json!(text)
            } else {
                return None;
            };
            Some((name.clone(), value))
        })
        .collect();
    Value::Object(out)
}

/// One published message.
#[derive(Clone, Debug)]
pub struct Notification {
    /// The message id.
    pub id: String,
    /// The topic's name.
    pub topic: String,
    /// The subject, if given.
    pub subject: Option<String>,
    /// The message.
    pub message: String,
    /// When it was published, ISO 8601 with milliseconds (`2026-01-01T00:00:00.000Z`).
    pub timestamp: String,
    /// Its message attributes as given (see [`check_attributes`]), or null.
    pub attributes: Value,
}

impl Notification {
    /// The notification envelope, as SNS delivers it to queues and HTTP endpoints (the
    /// message is not signed: `Signature` is empty).
    pub fn envelope(&self) -> Value {
        let mut envelope = json!({
            "Type": "Notification",
            "MessageId": self.id,
            "TopicArn": topic_arn(&self.topic),
            "Message": self.message,
            "Timestamp": self.timestamp,
            "SignatureVersion": "1",
            "Signature": "",
        });
        if let Some(subject) = &self.subject {
            envelope["Subject"] = json!(subject);
        }
        let attributes = self.typed_attributes();
        if !attributes.as_object().is_some_and(Map::is_empty) {
            envelope["MessageAttributes"] = attributes;
        }
        envelope
    }

    /// The Lambda SNS event of this message for the subscription `subscription` (an ARN).
    pub fn lambda_event(&self, subscription: &str) -> Value {
        json!({"Records": [{
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription,
            "EventSource": "aws:sns",
            "Sns": {
                "SignatureVersion": "1",
                "Timestamp": self.timestamp,
                "Signature": "",
                "SigningCertUrl": "",
                "MessageId": self.id,
                "Message": self.message,
                "MessageAttributes": self.typed_attributes(),
                "Type": "Notification",
                "UnsubscribeUrl": "",
                "TopicArn": topic_arn(&self.topic),
                "Subject": self.subject,
            }
        }]})
    }

    /// The headers SNS sends with an HTTP delivery, as SQS-shaped string attributes (the
    /// webhook consumer sends those as headers).
    pub fn http_headers(&self, subscription: &str) -> Value {
        let header = |v: String| json!({"DataType": "String", "StringValue": v});
        json!({
            "Content-Type": header("text/plain; charset=UTF-8".into()),
            "x-amz-sns-message-type": header("Notification".into()),
            "x-amz-sns-message-id": header(self.id.clone()),
            "x-amz-sns-topic-arn": header(topic_arn(&self.topic)),
            "x-amz-sns-subscription-arn": header(subscription.to_string()),
        })
    }

    /// The attributes as the envelope writes them: `{"name": {"Type", "Value"}}`.
    fn typed_attributes(&self) -> Value {
        let fields = self.attributes.as_object().into_iter().flatten();
        let out: Map<String, Value> = fields
            .map(|(name, a)| {
                let value = a.get("StringValue").or_else(|| a.get("BinaryValue"));
                (
                    name.clone(),
                    json!({"Type": a.get("DataType"), "Value": value}),
                )
            })
            .collect();
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(attributes: Value, subject: Option<&str>) -> Notification {
        Notification {
            id: "m-1".into(),
            topic: "orders".into(),
            subject: subject.map(str::to_string),
            message: "{\"amount\": 150}".into(),
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            attributes,
        }
    }

    #[test]
    fn the_envelope_and_the_lambda_event_have_the_sns_shapes() {
        let n = notification(
            json!({"kind": {"DataType": "String", "StringValue": "refund"}}),
            Some("hello"),
        );
        let e = n.envelope();
        assert_eq!(e["Type"], "Notification");
        assert_eq!(e["MessageId"], "m-1");
        assert_eq!(e["TopicArn"], "arn:aws:sns:local:000000000000:orders");
        assert_eq!(e["Subject"], "hello");
        assert_eq!(e["Message"], "{\"amount\": 150}");
        assert_eq!(e["SignatureVersion"], "1");
        assert_eq!(
            e["MessageAttributes"]["kind"],
            json!({"Type": "String", "Value": "refund"})
        );
        let l = n.lambda_event(&subscription_arn("orders", 2));
        let r = &l["Records"][0];
        assert_eq!(r["EventSource"], "aws:sns");
        assert_eq!(
            r["EventSubscriptionArn"],
            "arn:aws:sns:local:000000000000:orders:2"
        );
        assert_eq!(r["Sns"]["MessageAttributes"]["kind"]["Value"], "refund");
        assert_eq!(r["Sns"]["Subject"], "hello");
        let plain = notification(Value::Null, None);
        assert!(plain.envelope().get("Subject").is_none());
        assert!(plain.envelope().get("MessageAttributes").is_none());
        assert_eq!(
            plain.lambda_event("s")["Records"][0]["Sns"]["Subject"],
            Value::Null
        );
        assert_eq!(
            n.http_headers("s")["x-amz-sns-message-type"]["StringValue"],
            "Notification"
        );
    }

    #[test]
    fn attributes_are_checked_and_typed_for_filters() {
        let attributes = json!({
            "amount": {"DataType": "Number", "StringValue": "150.5"},
            "tags": {"DataType": "String.Array", "StringValue": "[\"a\", 1]"},
            "kind": {"DataType": "String", "StringValue": "refund"},
            "blob": {"DataType": "Binary", "BinaryValue": "AAE="}
        });
        assert!(check_attributes(&attributes).is_ok());
        assert_eq!(
            filter_document(&attributes),
            json!({"amount": 150.5, "tags": ["a", 1], "kind": "refund"})
        );
        for (bad, says) in [
            (json!({"a": {"StringValue": "x"}}), "'a' needs a DataType"),
            (
                json!({"a": {"DataType": "Number", "StringValue": "x"}}),
                "'a' is not a number",
            ),
            (
                json!({"a": {"DataType": "String"}}),
                "'a' needs a StringValue",
            ),
            (
                json!({"a": {"DataType": "Binary", "StringValue": "x"}}),
                "'a' needs a BinaryValue",
            ),
            (json!(["x"]), "must be an object"),
        ] {
            let e = check_attributes(&bad).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn arns_and_names_name_the_topic() {
        assert_eq!(
            topic_name("arn:aws:sns:us-east-1:123456789012:orders"),
            "orders"
        );
        assert_eq!(topic_name("orders"), "orders");
    }
}
