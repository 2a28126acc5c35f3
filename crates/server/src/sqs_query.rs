//! The SQS query protocol, which older SDKs and the AWS CLI v1 speak: form-encoded
//! `Action=SendMessage&QueueUrl=...&MessageBody=...` requests (POSTed to `/` or to a queue's URL,
//! or sent as a GET query string), answered in SQS's XML. Each request is turned into the JSON 1.0
//! request of the same operation and run by [`crate::sqs::call`], so both protocols share one
//! implementation.

use crate::{ApiError, ServerState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The XML namespace of SQS's answers.
const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";
/// The operations whose answer has no result element.
const NO_RESULT: [&str; 3] = ["DeleteMessage", "ChangeMessageVisibility", "PurgeQueue"];
/// Members whose values are numbers in the JSON protocol.
const NUMBERS: [&str; 5] = [
    "DelaySeconds",
    "MaxNumberOfMessages",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "MaxResults",
];

/// The code the query protocol gives an error of the JSON protocol (SQS's JSON errors carry it
/// too, in `x-amzn-query-error`).
pub(crate) fn query_code(code: &str) -> &str {
    match code {
        "QueueDoesNotExist" => "AWS.SimpleQueueService.NonExistentQueue",
        "EmptyBatchRequest" => "AWS.SimpleQueueService.EmptyBatchRequest",
        "TooManyEntriesInBatchRequest" => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "BatchEntryIdsNotDistinct" => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "UnknownOperationException" => "InvalidAction",
        other => other,
    }
}

/// Who is at fault for an error, as the query protocol names it.
pub(crate) fn fault(status: StatusCode) -> &'static str {
    if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    }
}

/// Whether a request is in the query protocol: a form body, or an `Action` in the query string.
pub(crate) fn is_query(content_type: Option<&str>, query: Option<&str>) -> bool {
    content_type.is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
        || query.is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "Action"))
}

/// Runs a query-protocol request: `form` is the body and the query string's pairs, `queue_url`
/// the queue URL the request was sent to, if it was.
pub(crate) async fn call(
    state: &ServerState,
    host: &str,
    form: Vec<(String, String)>,
    queue_url: Option<String>,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (action, mut request) = match to_request(form) {
        Ok(parsed) => parsed,
        Err(e) => return error_xml(&e, &request_id),
    };
    if let Some(url) = queue_url {
        request.entry("QueueUrl").or_insert(Value::String(url));
    }
    match crate::sqs::call(state, host, &action, Value::Object(request)).await {
        Ok(result) => xml(StatusCode::OK, answer_xml(&action, &result, &request_id)),
        Err(e) => error_xml(&e, &request_id),
    }
}

fn xml(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

fn error_xml(e: &ApiError, request_id: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{}</Type>\
         <Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{request_id}</RequestId>\
         </ErrorResponse>",
        fault(e.status),
        escape(query_code(e.code)),
        escape(&e.message)
    );
    xml(e.status, body)
}

fn bad(message: String) -> ApiError {
    ApiError::bad("InvalidParameterValue", message)
}

/// The operation and its JSON request from a query request's pairs.
fn to_request(form: Vec<(String, String)>) -> Result<(String, Map<String, Value>), ApiError> {
    let mut action = None;
    let mut rest = Vec::with_capacity(form.len());
    for (key, value) in form {
        match key.as_str() {
            "Action" => action = Some(value),
            "Version" | "AWSAccessKeyId" | "Signature" | "SignatureMethod" | "SignatureVersion"
            | "Timestamp" | "Expires" => {}
            _ => rest.push((key, value)),
        }
    }
    let action = action
        .ok_or_else(|| ApiError::bad("MissingAction", "the request has no Action parameter"))?;
    Ok((action, shape(rest)?))
}

/// A member's pairs grouped by the index after its name (`Entry.2.Id` is `Id` of entry 2).
type Indexed = BTreeMap<usize, Vec<(String, String)>>;

/// The JSON members of flattened query pairs: numbers where the JSON protocol has numbers,
/// `Name.N` lists, `...BatchRequestEntry.N.*` entries (shaped the same way) and
/// `MessageAttribute.N.{Name, Value.*}` maps.
fn shape(pairs: Vec<(String, String)>) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let mut lists: BTreeMap<&'static str, BTreeMap<usize, String>> = BTreeMap::new();
    let mut entries = Indexed::new();
    let mut attributes = Indexed::new();
    for (key, value) in pairs {
        let Some((head, rest)) = key.split_once('.') else {
            let value = if NUMBERS.contains(&key.as_str()) {
                let n: u64 = value
                    .parse()
                    .map_err(|_| bad(format!("{key} must be a whole number, not {value:?}")))?;
                Value::from(n)
            } else {
                Value::String(value)
            };
            out.insert(key, value);
            continue;
        };
        let (index, tail) = rest.split_once('.').unwrap_or((rest, ""));
        let index: usize = index
            .parse()
            .ok()
            .filter(|i| *i >= 1)
            .ok_or_else(|| bad(format!("{key}: {index:?} is not an index from 1")))?;
        let list = match head {
            "AttributeName" => Some("AttributeNames"),
            "MessageAttributeName" => Some("MessageAttributeNames"),
            "MessageSystemAttributeName" => Some("MessageSystemAttributeNames"),
            _ => None,
        };
        match (list, head) {
            (Some(list), _) if tail.is_empty() => {
                lists.entry(list).or_default().insert(index, value);
            }
            (None, h) if h.ends_with("BatchRequestEntry") && !tail.is_empty() => {
                entries
                    .entry(index)
                    .or_default()
                    .push((tail.to_string(), value));
            }
            (None, "MessageAttribute") if !tail.is_empty() => {
                attributes
                    .entry(index)
                    .or_default()
                    .push((tail.to_string(), value));
            }
            _ => return Err(bad(format!("unknown parameter {key}"))),
        }
    }
    for (name, items) in lists {
        out.insert(
            name.into(),
            items.into_values().map(Value::String).collect(),
        );
    }
    if !entries.is_empty() {
        let shaped = entries
            .into_values()
            .map(|pairs| shape(pairs).map(Value::Object))
            .collect::<Result<Vec<_>, _>>()?;
        out.insert("Entries".into(), Value::Array(shaped));
    }
    if !attributes.is_empty() {
        out.insert("MessageAttributes".into(), message_attributes(attributes)?);
    }
    Ok(out)
}

/// `MessageAttribute.N.Name` and `MessageAttribute.N.Value.{DataType, StringValue, BinaryValue}`
/// as `{name: {DataType, StringValue | BinaryValue}}`.
fn message_attributes(attributes: Indexed) -> Result<Value, ApiError> {
    let mut out = Map::new();
    for (index, pairs) in attributes {
        let mut name = None;
        let mut value = Map::new();
        for (key, text) in pairs {
            match key.as_str() {
                "Name" => name = Some(text),
                "Value.DataType" | "Value.StringValue" | "Value.BinaryValue" => {
                    value.insert(key["Value.".len()..].to_string(), Value::String(text));
                }
                other => {
                    return Err(bad(format!(
                        "unknown parameter MessageAttribute.{index}.{other}"
                    )));
                }
            }
        }
        let name = name.ok_or_else(|| bad(format!("MessageAttribute.{index} has no Name")))?;
        out.insert(name, Value::Object(value));
    }
    Ok(Value::Object(out))
}

/// The XML answer to `action` whose JSON result is `result`.
fn answer_xml(action: &str, result: &Value, request_id: &str) -> String {
    let mut body = String::new();
    if let Some(members) = result.as_object() {
        write_members(&mut body, action, members);
    }
    let result = if NO_RESULT.contains(&action) {
        String::new()
    } else {
        format!("<{action}Result>{body}</{action}Result>")
    };
    format!(
        "<?xml version=\"1.0\"?><{action}Response xmlns=\"{NAMESPACE}\">{result}\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    )
}

/// Writes JSON members as SQS writes them in XML: lists flattened into repeated elements,
/// attribute maps as `Name`/`Value` pairs.
fn write_members(out: &mut String, action: &str, members: &Map<String, Value>) {
    for (key, value) in members {
        match (key.as_str(), value) {
            ("QueueUrls", Value::Array(urls)) => {
                for url in urls {
                    write_scalar(out, "QueueUrl", url);
                }
            }
            ("Messages" | "Successful" | "Failed", Value::Array(items)) => {
                let element = match key.as_str() {
                    "Messages" => "Message".to_string(),
                    "Successful" => format!("{action}ResultEntry"),
                    _ => "BatchResultErrorEntry".to_string(),
                };
                for item in items {
                    let _ = write!(out, "<{element}>");
                    if let Some(fields) = item.as_object() {
                        write_members(out, action, fields);
                    }
                    let _ = write!(out, "</{element}>");
                }
            }
            ("Attributes" | "MessageAttributes", Value::Object(map)) => {
                let element = &key[..key.len() - 1];
                for (name, v) in map {
                    let _ = write!(out, "<{element}><Name>{}</Name>", escape(name));
                    match v {
                        Value::Object(fields) => {
                            out.push_str("<Value>");
                            write_members(out, action, fields);
                            out.push_str("</Value>");
                        }
                        other => write_scalar(out, "Value", other),
                    }
                    let _ = write!(out, "</{element}>");
                }
            }
            (_, v) => write_scalar(out, key, v),
        }
    }
}

fn write_scalar(out: &mut String, element: &str, value: &Value) {
    let text = match value {
        Value::String(s) => escape(s),
        Value::Null => return,
        other => other.to_string(),
    };
    let _ = write!(out, "<{element}>{text}</{element}>");
}

/// Escapes text for XML content (`\r` as a reference, which parsers keep).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(text: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(text.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn a_batch_send_with_attributes_becomes_the_json_request() {
        let (action, request) = to_request(pairs(
            "Action=SendMessageBatch&Version=2012-11-05&QueueUrl=http%3A%2F%2Fh%2F0%2Fq\
             &SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=two\
             &SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=one\
             &SendMessageBatchRequestEntry.1.DelaySeconds=5\
             &SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=City\
             &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String\
             &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=Any+City",
        ))
        .unwrap();
        assert_eq!(action, "SendMessageBatch");
        assert_eq!(
            Value::Object(request),
            json!({
                "QueueUrl": "http://h/0/q",
                "Entries": [
                    {"Id": "a", "MessageBody": "one", "DelaySeconds": 5,
                     "MessageAttributes": {"City": {"DataType": "String", "StringValue": "Any City"}}},
                    {"Id": "b", "MessageBody": "two"},
                ],
            })
        );
    }

    #[test]
    fn lists_keep_their_index_order_and_bad_parameters_are_named() {
        let (_, request) = to_request(pairs(
            "Action=ReceiveMessage&AttributeName.2=SentTimestamp&AttributeName.1=All\
             &MaxNumberOfMessages=10&WaitTimeSeconds=0",
        ))
        .unwrap();
        assert_eq!(
            Value::Object(request),
            json!({"AttributeNames": ["All", "SentTimestamp"], "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0})
        );
        let e = to_request(pairs("Action=ReceiveMessage&MaxNumberOfMessages=ten")).unwrap_err();
        assert!(e.message.contains("MaxNumberOfMessages"), "{}", e.message);
        let e = to_request(pairs("Action=SendMessage&Bogus.1.x=1")).unwrap_err();
        assert!(e.message.contains("Bogus.1.x"), "{}", e.message);
        let e = to_request(pairs("QueueUrl=x")).unwrap_err();
        assert_eq!(e.code, "MissingAction");
    }

    #[test]
    fn answers_are_sqs_xml() {
        let received = json!({"Messages": [{
            "MessageId": "m1", "ReceiptHandle": "m1#1", "MD5OfBody": "abc", "Body": "<a & b>",
            "Attributes": {"SentTimestamp": "1"},
            "MessageAttributes": {"City": {"DataType": "String", "StringValue": "Any City"}},
        }]});
        let text = answer_xml("ReceiveMessage", &received, "r1");
        assert!(text.starts_with("<?xml version=\"1.0\"?><ReceiveMessageResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ReceiveMessageResult><Message>"), "{text}");
        for part in [
            "<Body>&lt;a &amp; b&gt;</Body>",
            "<Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>",
            "<MessageAttribute><Name>City</Name><Value><DataType>String</DataType><StringValue>Any City</StringValue></Value></MessageAttribute>",
            "<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></ReceiveMessageResponse>",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        let listed = answer_xml("ListQueues", &json!({"QueueUrls": ["u1", "u2"]}), "r");
        assert!(listed.contains("<ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl></ListQueuesResult>"), "{listed}");
        let batch = answer_xml(
            "DeleteMessageBatch",
            &json!({"Successful": [{"Id": "a"}], "Failed": []}),
            "r",
        );
        assert!(
            batch.contains(
                "<DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>"
            ),
            "{batch}"
        );
        let deleted = answer_xml("DeleteMessage", &json!({}), "r");
        assert!(!deleted.contains("DeleteMessageResult"), "{deleted}");
        let none = answer_xml("ReceiveMessage", &json!({"Messages": []}), "r");
        assert!(
            none.contains("<ReceiveMessageResult></ReceiveMessageResult>"),
            "{none}"
        );
    }
}
