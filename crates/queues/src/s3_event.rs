//! The S3 event notification, as S3 sends it to Lambda and SQS: one record per event, the key
//! URL-encoded, and a stable id for each change so that one write seen twice is one event.

use chrono::DateTime;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

/// The region events name.
pub const REGION: &str = "us-east-1";

/// What a key keeps unencoded in events: letters, digits, `-._*` and `/`.
const KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'*')
    .remove(b'/')
    .remove(b' ');

/// An object key as S3 events carry it: form-URL-encoded, a space as `+`, `/` kept.
pub fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEEP).to_string().replace(' ', "+")
}

/// One object change, for an event.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectEventInput<'a> {
    /// The trigger (`configurationId`).
    pub trigger: &'a str,
    /// The bucket's name.
    pub bucket: &'a str,
    /// The object's key, unencoded.
    pub key: &'a str,
    /// `ObjectCreated:Put`, `ObjectCreated:Copy`, `ObjectCreated:CompleteMultipartUpload` or
    /// `ObjectRemoved:Delete`.
    pub name: &'a str,
    /// The object's entity tag (the deleted object's, for a delete): part of the id.
    pub e_tag: &'a str,
    /// Its size; `None` for a delete, whose record has neither size nor entity tag.
    pub size: Option<u64>,
    /// When the change was recorded, epoch ms.
    pub time_ms: i64,
}

/// The stable id of a change: the same trigger, key, entity tag and kind of event give the
/// same id.
pub fn event_id(input: &ObjectEventInput<'_>) -> String {
    let kind = input.name.split(':').next().unwrap_or_default();
    let text = format!(
        "{}\n{}\n{}\n{}",
        input.trigger, kind, input.key, input.e_tag
    );
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, text.as_bytes()).to_string()
}

/// The event notification for one change, with `id` as its request id.
pub fn s3_event(input: &ObjectEventInput<'_>, id: &str) -> Value {
    let time = DateTime::from_timestamp_millis(input.time_ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let mut object = json!({ "key": encode_key(input.key) });
    if let Some(size) = input.size {
        object["size"] = json!(size);
        object["eTag"] = json!(input.e_tag);
    }
    object["sequencer"] = json!(format!("{:016X}", input.time_ms.max(0)));
    let request_id: String = id
        .chars()
        .filter(|c| *c != '-')
        .take(16)
        .collect::<String>()
        .to_uppercase();
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": time,
        "eventName": input.name,
        "userIdentity": {"principalId": "sluice"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": input.trigger,
            "bucket": {
                "name": input.bucket,
                "ownerIdentity": {"principalId": "sluice"},
                "arn": format!("arn:aws:s3:::{}", input.bucket),
            },
            "object": object,
        },
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put<'a>(key: &'a str, e_tag: &'a str) -> ObjectEventInput<'a> {
        ObjectEventInput {
            trigger: "uploads",
            bucket: "lake",
            key,
            name: "ObjectCreated:Put",
            e_tag,
            size: Some(18),
            time_ms: 1_796_000_000_123,
        }
    }

    #[test]
    fn keys_are_encoded_as_s3_events_carry_them() {
        assert_eq!(encode_key("raw/logs/day 1.log"), "raw/logs/day+1.log");
        assert_eq!(encode_key("a=b&c/ü:x+y"), "a%3Db%26c/%C3%BC%3Ax%2By");
        assert_eq!(encode_key("plain-key_1.*"), "plain-key_1.*");
    }

    #[test]
    fn a_created_record_has_the_fields_s3_sends() {
        let input = put("raw/day 1.log", "abc123");
        let event = s3_event(&input, "7e1a0b52-0000-4000-8000-000000000001");
        let record = &event["Records"][0];
        assert_eq!(event["Records"].as_array().unwrap().len(), 1);
        assert_eq!(record["eventVersion"], "2.1");
        assert_eq!(record["eventSource"], "aws:s3");
        assert_eq!(record["awsRegion"], "us-east-1");
        assert_eq!(record["eventTime"], "2026-11-30T00:53:20.123Z");
        assert_eq!(record["eventName"], "ObjectCreated:Put");
        assert_eq!(
            record["responseElements"]["x-amz-request-id"],
            "7E1A0B5200004000"
        );
        let s3 = &record["s3"];
        assert_eq!(s3["s3SchemaVersion"], "1.0");
        assert_eq!(s3["configurationId"], "uploads");
        assert_eq!(s3["bucket"]["name"], "lake");
        assert_eq!(s3["bucket"]["arn"], "arn:aws:s3:::lake");
        assert_eq!(
            s3["object"],
            json!({"key": "raw/day+1.log", "size": 18, "eTag": "abc123", "sequencer": "000001A229F1287B"})
        );
    }

    #[test]
    fn a_removed_record_has_no_size_nor_entity_tag() {
        let input = ObjectEventInput {
            name: "ObjectRemoved:Delete",
            size: None,
            ..put("raw/a.log", "abc")
        };
        let object = &s3_event(&input, "id")["Records"][0]["s3"]["object"];
        assert_eq!(object.as_object().unwrap().len(), 2, "{object}");
        assert_eq!(object["key"], "raw/a.log");
    }

    #[test]
    fn ids_are_stable_per_key_entity_tag_and_kind() {
        let id = event_id(&put("raw/a.log", "t1"));
        assert_eq!(
            id,
            event_id(&ObjectEventInput {
                time_ms: 5,
                ..put("raw/a.log", "t1")
            })
        );
        let copy = ObjectEventInput {
            name: "ObjectCreated:Copy",
            ..put("raw/a.log", "t1")
        };
        assert_eq!(
            id,
            event_id(&copy),
            "a creation is one event however it was made"
        );
        let delete = ObjectEventInput {
            name: "ObjectRemoved:Delete",
            ..put("raw/a.log", "t1")
        };
        for other in [
            event_id(&put("raw/a.log", "t2")),
            event_id(&put("raw/b.log", "t1")),
            event_id(&delete),
            event_id(&ObjectEventInput {
                trigger: "other",
                ..put("raw/a.log", "t1")
            }),
        ] {
            assert_ne!(id, other);
        }
    }
}
