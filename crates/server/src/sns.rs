//! SNS's API (the query protocol: a form-encoded `Action=...&Version=2010-03-31` POSTed to `/`,
//! XML answers) over the project's topics, so that `boto3.client("sns")` publishes: `Publish`,
//! `ListTopics` and `CreateTopic` (which names a topic of the project: topics are declared in
//! `sluice.yaml`).

use crate::ServerState;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sluice_queues::{Publication, PublishError, sns};
use std::collections::HashMap;

/// The API version SNS's requests carry.
pub const VERSION: &str = "2010-03-31";

/// The namespace of SNS's XML answers.
const NAMESPACE: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

/// A form body's fields, decoded.
pub fn form(body: &[u8]) -> HashMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (crate::auth::decode(k), crate::auth::decode(v))
        })
        .collect()
}

/// An SNS error answer.
struct SnsError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl SnsError {
    fn invalid(message: impl Into<String>) -> SnsError {
        SnsError {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidParameter",
            message: message.into(),
        }
    }
}

impl From<PublishError> for SnsError {
    fn from(e: PublishError) -> SnsError {
        let (status, code) = match &e {
            PublishError::UnknownTopic(_) => (StatusCode::NOT_FOUND, "NotFound"),
            PublishError::Send(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
            _ => (StatusCode::BAD_REQUEST, "InvalidParameter"),
        };
        SnsError {
            status,
            code,
            message: e.to_string(),
        }
    }
}

/// Runs one SNS action.
pub async fn call(state: &ServerState, fields: HashMap<String, String>) -> Response {
    let action = fields.get("Action").cloned().unwrap_or_default();
    let result = match action.as_str() {
        "Publish" => publish(state, &fields).await,
        "ListTopics" => list_topics(state),
        "CreateTopic" => create_topic(state, &fields),
        _ => Err(SnsError::invalid(format!(
            "the action '{action}' is not supported (Publish, ListTopics, CreateTopic)"
        ))),
    };
    match result {
        Ok(inner) => xml(
            StatusCode::OK,
            format!(
                "<{action}Response xmlns=\"{NAMESPACE}\"><{action}Result>{inner}</{action}Result>{}</{action}Response>",
                metadata()
            ),
        ),
        Err(e) => error_response(e.status, e.code, &e.message),
    }
}

/// Whether a request is in a query protocol (a form without an `X-Amz-Target`), whose
/// clients read errors as XML.
pub(crate) fn is_query(headers: &axum::http::HeaderMap) -> bool {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    form && !headers.contains_key("x-amz-target")
}

/// An error as SNS answers it: `<ErrorResponse><Error><Code>...`.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error>{}</ErrorResponse>",
            escape(code),
            escape(message),
            metadata()
        ),
    )
}

fn metadata() -> String {
    format!(
        "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata>",
        uuid::Uuid::new_v4()
    )
}

fn xml(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// Text escaped for XML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn topics(state: &ServerState) -> Result<sluice_queues::Topics, SnsError> {
    state.topics.clone().ok_or_else(|| SnsError {
        status: StatusCode::NOT_FOUND,
        code: "NotFound",
        message: "this node has no topics".into(),
    })
}

/// `MessageAttributes.entry.N.Name` and `.Value.DataType|StringValue|BinaryValue` as
/// `{"name": {"DataType", "StringValue"|"BinaryValue"}}`, or null.
fn attributes(fields: &HashMap<String, String>) -> Value {
    let mut out = Map::new();
    for n in 1.. {
        let field = |k: &str| fields.get(&format!("MessageAttributes.entry.{n}.{k}"));
        let Some(name) = field("Name") else {
            break;
        };
        let mut value = Map::new();
        for key in ["DataType", "StringValue", "BinaryValue"] {
            if let Some(v) = field(&format!("Value.{key}")) {
                value.insert(key.to_string(), json!(v));
            }
        }
        out.insert(name.clone(), Value::Object(value));
    }
    match out.is_empty() {
        true => Value::Null,
        false => Value::Object(out),
    }
}

async fn publish(
    state: &ServerState,
    fields: &HashMap<String, String>,
) -> Result<String, SnsError> {
    let topics = topics(state)?;
    let topic = fields
        .get("TopicArn")
        .or_else(|| fields.get("TargetArn"))
        .cloned()
        .ok_or_else(|| SnsError::invalid("Publish needs a TopicArn"))?;
    if fields.get("MessageStructure").map(String::as_str) == Some("json") {
        return Err(SnsError::invalid(
            "MessageStructure json (a message per protocol) is not supported",
        ));
    }
    let publication = Publication {
        message: fields
            .get("Message")
            .cloned()
            .ok_or_else(|| SnsError::invalid("Publish needs a Message"))?,
        subject: fields.get("Subject").cloned(),
        attributes: attributes(fields),
    };
    let published = tokio::task::spawn_blocking(move || topics.publish(&topic, publication))
        .await
        .map_err(|e| SnsError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalError",
            message: e.to_string(),
        })??;
    Ok(format!("<MessageId>{}</MessageId>", published.message_id))
}

fn list_topics(state: &ServerState) -> Result<String, SnsError> {
    let members: String = topics(state)?
        .all()
        .map(|t| {
            format!(
                "<member><TopicArn>{}</TopicArn></member>",
                escape(&sns::topic_arn(&t.name))
            )
        })
        .collect();
    Ok(format!("<Topics>{members}</Topics>"))
}

fn create_topic(state: &ServerState, fields: &HashMap<String, String>) -> Result<String, SnsError> {
    let name = fields
        .get("Name")
        .ok_or_else(|| SnsError::invalid("CreateTopic needs a Name"))?;
    if !topics(state)?.all().any(|t| t.name == *name) {
        return Err(SnsError {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            message: format!(
                "no topic named '{name}': topics are declared under topics: in sluice.yaml"
            ),
        });
    }
    Ok(format!(
        "<TopicArn>{}</TopicArn>",
        escape(&sns::topic_arn(name))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_attributes_are_read_in_order_until_one_is_missing() {
        let fields = form(
            b"Action=Publish&Message=hi+there&MessageAttributes.entry.1.Name=kind&MessageAttributes.entry.1.Value.DataType=String&MessageAttributes.entry.1.Value.StringValue=a%26b&MessageAttributes.entry.2.Name=n&MessageAttributes.entry.2.Value.DataType=Number&MessageAttributes.entry.2.Value.StringValue=5",
        );
        assert_eq!(fields["Message"], "hi there");
        assert_eq!(
            attributes(&fields),
            json!({
                "kind": {"DataType": "String", "StringValue": "a&b"},
                "n": {"DataType": "Number", "StringValue": "5"}
            })
        );
        assert_eq!(attributes(&form(b"Action=Publish")), Value::Null);
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &apos;b&apos;&gt;");
    }
}
