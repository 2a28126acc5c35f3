//! The SQS operations, AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Op>`, which current SDKs speak),
//! over the project's queues: outside workers send and receive as they do with SQS, beside the
//! queues' own consumers.

use crate::sfn::{required, string};
use crate::{ApiError, ServerState, unknown_operation};
use md5::{Digest, Md5};
use serde_json::{Map, Value, json};
use sluice_engine::queue::{QueueMessage, Settle, Settlement, parse_receipt};
use sluice_queues::event::{md5_hex, queue_arn};
use sluice_queues::{Outgoing, Queues, SendError};
use std::time::{Duration, Instant};

/// The account in queue URLs.
pub(crate) const ACCOUNT: &str = "000000000000";
/// The most messages one receive returns, as on SQS.
const MAX_RECEIVE: u64 = 10;
/// The longest long poll, as on SQS.
const MAX_WAIT_SECONDS: u64 = 20;
/// The longest visibility timeout, as on SQS (12 hours).
const MAX_VISIBILITY_SECONDS: u64 = 43_200;
/// The longest send delay, as on SQS.
const MAX_DELAY_SECONDS: u64 = 900;
/// The most entries of a batch call, as on SQS.
const MAX_BATCH: usize = 10;

/// Runs one operation; `host` is the request's `Host`, which queue URLs name.
pub async fn call(
    state: &ServerState,
    host: &str,
    operation: &str,
    request: Value,
) -> Result<Value, ApiError> {
    let queues = state
        .queues
        .clone()
        .ok_or_else(|| no_queue("this node has no queues"))?;
    match operation {
        "ListQueues" => Ok(list_queues(&queues, host, &request)?),
        "GetQueueUrl" => {
            let name = required(&request, "QueueName")?;
            queues.get(name).ok_or_else(|| no_queue(name))?;
            Ok(json!({ "QueueUrl": queue_url(host, name) }))
        }
        "GetQueueAttributes" => attributes(&queues, &request).await,
        "SendMessage" => send_message(&queues, &request).await,
        "SendMessageBatch" => send_batch(&queues, &request).await,
        "ReceiveMessage" => receive(&queues, &request).await,
        "DeleteMessage" => {
            let queue = queue_of(&queues, &request)?;
            let settlement = settlement(required(&request, "ReceiptHandle")?, Settle::Delete)?;
            settle(&queues, &queue, vec![settlement]).await?;
            Ok(json!({}))
        }
        "DeleteMessageBatch" => delete_batch(&queues, &request).await,
        "ChangeMessageVisibility" => {
            let queue = queue_of(&queues, &request)?;
            let secs = number(&request, "VisibilityTimeout", 0, MAX_VISIBILITY_SECONDS)?;
            let at = Settle::VisibleAt(now_ms() + secs as i64 * 1000);
            let settlement = settlement(required(&request, "ReceiptHandle")?, at)?;
            settle(&queues, &queue, vec![settlement]).await?;
            Ok(json!({}))
        }
        "PurgeQueue" => {
            let queue = queue_of(&queues, &request)?;
            blocking(move || queues.purge(&queue)).await?;
            Ok(json!({}))
        }
        _ => Err(unknown_operation(&format!("AmazonSQS.{operation}"))),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn no_queue(name: &str) -> ApiError {
    ApiError::bad(
        "QueueDoesNotExist",
        format!("The specified queue does not exist: {name}"),
    )
}

/// The URL of queue `name` on a node reached as `host`.
pub(crate) fn queue_url(host: &str, name: &str) -> String {
    format!("http://{host}/{ACCOUNT}/{name}")
}

/// The queue a request's `QueueUrl` names (its last path segment).
fn queue_of(queues: &Queues, request: &Value) -> Result<String, ApiError> {
    let url = required(request, "QueueUrl")?;
    let name = url.trim_end_matches('/').rsplit('/').next().unwrap_or(url);
    queues.get(name).ok_or_else(|| no_queue(name))?;
    Ok(name.to_string())
}

/// A whole-number member from `min` to `max`, 0 when absent.
fn number(request: &Value, key: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    match request.get(key) {
        None | Some(Value::Null) => Ok(min),
        Some(v) => v
            .as_u64()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad(
                    "InvalidParameterValue",
                    format!("{key} must be a whole number from {min} to {max}"),
                )
            }),
    }
}

fn send_error(e: SendError) -> ApiError {
    match e {
        SendError::UnknownQueue(name) => no_queue(&name),
        SendError::Store(e) => ApiError::internal(e),
        other => ApiError::bad("InvalidParameterValue", other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SendError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(send_error)
}

fn list_queues(queues: &Queues, host: &str, request: &Value) -> Result<Value, ApiError> {
    let prefix = string(request, "QueueNamePrefix")?.unwrap_or_default();
    let urls: Vec<String> = queues
        .all()
        .filter(|q| q.name.starts_with(prefix))
        .map(|q| queue_url(host, &q.name))
        .collect();
    Ok(json!({ "QueueUrls": urls }))
}

async fn attributes(queues: &Queues, request: &Value) -> Result<Value, ApiError> {
    let queue = queue_of(queues, request)?;
    let config = queues
        .get(&queue)
        .cloned()
        .ok_or_else(|| no_queue(&queue))?;
    let stats = {
        let (queues, name) = (queues.clone(), queue.clone());
        blocking(move || queues.stats(&name)).await?
    };
    let mut out = json!({
        "QueueArn": queue_arn(&queue),
        "ApproximateNumberOfMessages": stats.ready.to_string(),
        "ApproximateNumberOfMessagesNotVisible": stats.in_flight.to_string(),
        "ApproximateNumberOfMessagesDelayed": stats.delayed.to_string(),
        "VisibilityTimeout": config.visibility_timeout.as_secs().to_string(),
        "MaximumMessageSize": sluice_engine::queue::MAX_MESSAGE_BYTES.to_string(),
    });
    if let Some(dlq) = &config.dead_letter {
        let policy = json!({"deadLetterTargetArn": queue_arn(dlq), "maxReceiveCount": config.max_retries + 1});
        out["RedrivePolicy"] = json!(policy.to_string());
    }
    Ok(json!({ "Attributes": out }))
}

/// A message of a send: `MessageBody`, `DelaySeconds`, `MessageAttributes`.
fn outgoing(entry: &Value) -> Result<Outgoing, ApiError> {
    let body = required(entry, "MessageBody")?.to_string();
    let delay = number(entry, "DelaySeconds", 0, MAX_DELAY_SECONDS)?;
    let attributes = entry
        .get("MessageAttributes")
        .cloned()
        .unwrap_or(Value::Null);
    Ok(Outgoing {
        body,
        attributes,
        delay: Duration::from_secs(delay),
    })
}

/// The answer to one sent message: its id and the MD5s SDKs check.
fn sent_reply(id: &str, message: &Outgoing) -> Value {
    let mut out = json!({ "MessageId": id, "MD5OfMessageBody": md5_hex(message.body.as_bytes()) });
    if let Some(md5) = attributes_md5(&message.attributes) {
        out["MD5OfMessageAttributes"] = json!(md5);
    }
    out
}

async fn send_message(queues: &Queues, request: &Value) -> Result<Value, ApiError> {
    let queue = queue_of(queues, request)?;
    let message = outgoing(request)?;
    let sent = queues
        .send_async(&queue, vec![message.clone()])
        .await
        .map_err(send_error)?;
    Ok(sent_reply(&sent[0].id, &message))
}

/// The entries of a batch call: 1 to 10, with distinct `Id`s.
fn entries(request: &Value) -> Result<Vec<Value>, ApiError> {
    let entries = request
        .get("Entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if entries.is_empty() {
        return Err(ApiError::bad(
            "EmptyBatchRequest",
            "the batch has no entries",
        ));
    }
    if entries.len() > MAX_BATCH {
        return Err(ApiError::bad(
            "TooManyEntriesInBatchRequest",
            format!("a batch has at most {MAX_BATCH} entries"),
        ));
    }
    let mut ids: Vec<&str> = entries.iter().filter_map(|e| e["Id"].as_str()).collect();
    ids.sort_unstable();
    if ids.len() != entries.len() || ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(ApiError::bad(
            "BatchEntryIdsNotDistinct",
            "every entry needs an Id of its own",
        ));
    }
    Ok(entries)
}

async fn send_batch(queues: &Queues, request: &Value) -> Result<Value, ApiError> {
    let queue = queue_of(queues, request)?;
    let entries = entries(request)?;
    let messages = entries
        .iter()
        .map(outgoing)
        .collect::<Result<Vec<_>, _>>()?;
    let sent = queues
        .send_async(&queue, messages.clone())
        .await
        .map_err(send_error)?;
    let successful: Vec<Value> = entries
        .iter()
        .zip(&messages)
        .zip(&sent)
        .map(|((entry, message), s)| {
            let mut reply = sent_reply(&s.id, message);
            reply["Id"] = entry["Id"].clone();
            reply
        })
        .collect();
    Ok(json!({ "Successful": successful, "Failed": [] }))
}

async fn receive(queues: &Queues, request: &Value) -> Result<Value, ApiError> {
    let queue = queue_of(queues, request)?;
    let config = queues
        .get(&queue)
        .cloned()
        .ok_or_else(|| no_queue(&queue))?;
    let max = number(request, "MaxNumberOfMessages", 1, MAX_RECEIVE)?.max(1) as usize;
    let wait = Duration::from_secs(number(request, "WaitTimeSeconds", 0, MAX_WAIT_SECONDS)?);
    let lease = match request.get("VisibilityTimeout") {
        None | Some(Value::Null) => config.visibility_timeout,
        Some(_) => Duration::from_secs(number(
            request,
            "VisibilityTimeout",
            0,
            MAX_VISIBILITY_SECONDS,
        )?),
    };
    let deadline = Instant::now() + wait;
    loop {
        let store = queues.store().clone();
        let name = queue.clone();
        let got = tokio::task::spawn_blocking(move || {
            let now = now_ms();
            store.queue_receive(&name, max, now, now + lease.as_millis() as i64)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        let left = deadline.saturating_duration_since(Instant::now());
        if !got.is_empty() || left.is_zero() {
            let messages: Vec<Value> = got.iter().map(|m| received(m, request)).collect();
            return Ok(json!({ "Messages": messages }));
        }
        queues.woken(&queue, left.min(Duration::from_secs(1))).await;
    }
}

/// A received message as SQS answers it, with the attributes asked for.
fn received(m: &QueueMessage, request: &Value) -> Value {
    let mut out = json!({
        "MessageId": m.id,
        "ReceiptHandle": m.receipt(),
        "MD5OfBody": md5_hex(m.body.as_bytes()),
        "Body": m.body,
    });
    let names = |key: &str| -> Vec<String> {
        request[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let wanted = names("MessageAttributeNames");
    if let Some(all) = m.attributes.as_object() {
        let chosen: Map<String, Value> = all
            .iter()
            .filter(|(k, _)| wanted.iter().any(|w| w == "All" || w == ".*" || w == *k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !chosen.is_empty() {
            let chosen = Value::Object(chosen);
            if let Some(md5) = attributes_md5(&chosen) {
                out["MD5OfMessageAttributes"] = json!(md5);
            }
            out["MessageAttributes"] = chosen;
        }
    }
    let system = [
        names("AttributeNames"),
        names("MessageSystemAttributeNames"),
    ]
    .concat();
    if !system.is_empty() {
        out["Attributes"] = json!({
            "ApproximateReceiveCount": m.receive_count.to_string(),
            "SentTimestamp": m.sent_ms.to_string(),
            "SenderId": ACCOUNT,
            "ApproximateFirstReceiveTimestamp": m.sent_ms.to_string(),
        });
    }
    out
}

/// A receipt handle's settlement.
fn settlement(receipt: &str, action: Settle) -> Result<Settlement, ApiError> {
    let (id, receive_count) = parse_receipt(receipt).ok_or_else(|| {
        ApiError::bad(
            "ReceiptHandleIsInvalid",
            format!("The input receipt handle \"{receipt}\" is not a valid receipt handle."),
        )
    })?;
    Ok(Settlement {
        id: id.to_string(),
        receive_count,
        action,
    })
}

async fn settle(
    queues: &Queues,
    queue: &str,
    settlements: Vec<Settlement>,
) -> Result<u64, ApiError> {
    let store = queues.store().clone();
    let name = queue.to_string();
    tokio::task::spawn_blocking(move || store.queue_settle(&name, &settlements, now_ms()))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

async fn delete_batch(queues: &Queues, request: &Value) -> Result<Value, ApiError> {
    let queue = queue_of(queues, request)?;
    let entries = entries(request)?;
    let mut settlements = Vec::new();
    let mut successful = Vec::new();
    let mut failed = Vec::new();
    for entry in &entries {
        let receipt = entry["ReceiptHandle"].as_str().unwrap_or_default();
        match settlement(receipt, Settle::Delete) {
            Ok(s) => {
                settlements.push(s);
                successful.push(json!({ "Id": entry["Id"] }));
            }
            Err(e) => failed.push(json!({
                "Id": entry["Id"], "SenderFault": true, "Code": e.code, "Message": e.message,
            })),
        }
    }
    settle(queues, &queue, settlements).await?;
    Ok(json!({ "Successful": successful, "Failed": failed }))
}

/// The MD5 SQS computes over message attributes (each, sorted by name: the name, the data type
/// and the value, each with its length as 4 bytes big-endian, and a transport byte, 1 for text
/// and 2 for binary), or `None` without attributes.
fn attributes_md5(attributes: &Value) -> Option<String> {
    let fields = attributes.as_object().filter(|f| !f.is_empty())?;
    let mut names: Vec<&String> = fields.keys().collect();
    names.sort();
    let mut bytes = Vec::new();
    let put = |out: &mut Vec<u8>, value: &[u8]| {
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    };
    for name in names {
        let a = &fields[name];
        let data_type = a["DataType"].as_str().unwrap_or("String");
        put(&mut bytes, name.as_bytes());
        put(&mut bytes, data_type.as_bytes());
        match (
            a.get("StringValue").and_then(Value::as_str),
            a.get("BinaryValue"),
        ) {
            (Some(text), _) => {
                bytes.push(1);
                put(&mut bytes, text.as_bytes());
            }
            (None, Some(Value::String(b64))) => {
                use base64::Engine as _;
                let value = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap_or_default();
                bytes.push(2);
                put(&mut bytes, &value);
            }
            _ => {
                bytes.push(1);
                put(&mut bytes, b"");
            }
        }
    }
    let hash = Md5::digest(&bytes);
    Some(hash.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of AWS's documentation for calculating the MD5 of message attributes.
    #[test]
    fn message_attribute_md5s_match_sqs() {
        let attributes = json!({
            "City": {"DataType": "String", "StringValue": "Any City"},
            "Population": {"DataType": "Number", "StringValue": "1250800"},
        });
        let md5 = attributes_md5(&attributes).unwrap();
        assert_eq!(md5.len(), 32);
        assert_eq!(attributes_md5(&json!({})), None);
        // The order attributes are written in does not matter.
        let reordered = json!({
            "Population": {"DataType": "Number", "StringValue": "1250800"},
            "City": {"DataType": "String", "StringValue": "Any City"},
        });
        assert_eq!(attributes_md5(&reordered).unwrap(), md5);
    }
}
