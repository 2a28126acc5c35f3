//! `sluice publish` and `sluice put-event`: a message on a topic, an event on the bus, through
//! a running node (`--server`) or straight into the project's store (a node serving the
//! project delivers them).

use crate::client::Client;
use crate::queue_cmd::{body, open_local};
use anyhow::{Context, anyhow, bail};
use serde_json::{Map, Value, json};
use sluice_queues::bus::put_events_result;
use sluice_queues::{EventBus, Publication, Topics};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `sluice publish`.
#[derive(clap::Args)]
pub struct PublishArgs {
    /// The topic.
    pub topic: String,
    /// The message, or `@FILE` to publish a file's contents.
    pub message: String,
    /// The subject.
    #[arg(long)]
    pub subject: Option<String>,
    /// A message attribute, `NAME=VALUE` (a String) or `NAME:TYPE=VALUE` (`Number`,
    /// `String.Array`); repeat for more.
    #[arg(long = "attr", value_name = "NAME=VALUE")]
    pub attributes: Vec<String>,
    /// The project directory whose topics these are.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

/// Arguments of `sluice put-event`.
#[derive(clap::Args)]
pub struct PutEventArgs {
    /// The detail: a JSON object, or `@FILE`.
    pub detail: String,
    /// The event's source.
    #[arg(long)]
    pub source: String,
    /// The event's detail type.
    #[arg(long = "detail-type")]
    pub detail_type: String,
    /// The bus (`default`).
    #[arg(long)]
    pub bus: Option<String>,
    /// The project directory whose rules these are.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

/// `--attr` values as SNS message attributes.
fn attributes(given: &[String]) -> anyhow::Result<Value> {
    let mut out = Map::new();
    for a in given {
        let (key, value) = a
            .split_once('=')
            .ok_or_else(|| anyhow!("--attr '{a}' is not NAME=VALUE"))?;
        let (name, data_type) = key.split_once(':').unwrap_or((key, "String"));
        if name.is_empty() {
            bail!("--attr '{a}' has no name");
        }
        out.insert(
            name.to_string(),
            json!({"DataType": data_type, "StringValue": value}),
        );
    }
    Ok(if out.is_empty() {
        Value::Null
    } else {
        Value::Object(out)
    })
}

/// `sluice publish`.
pub fn publish(
    server: Option<&Client>,
    data_dir: Option<&Path>,
    args: PublishArgs,
) -> anyhow::Result<ExitCode> {
    let message = body(&args.message)?;
    let attributes = attributes(&args.attributes)?;
    let reply = match server {
        Some(client) => client.call(
            "POST",
            &format!("/v1/topics/{}/messages", args.topic),
            Some(&json!({"message": message, "subject": args.subject, "attributes": attributes})),
        )?,
        None => {
            let (project, queues) = open_local(data_dir, &args.project)?;
            let topics = Topics::new(queues, project.topics);
            let publication = Publication {
                message,
                subject: args.subject,
                attributes,
            };
            let published = topics.publish(&args.topic, publication)?;
            json!({"messageId": published.message_id, "deliveries": published.deliveries})
        }
    };
    outln!("{reply}");
    Ok(ExitCode::SUCCESS)
}

/// `sluice put-event`: one entry; fails when the entry did.
pub fn put_event(
    server: Option<&Client>,
    data_dir: Option<&Path>,
    args: PutEventArgs,
) -> anyhow::Result<ExitCode> {
    let detail = body(&args.detail)?;
    let detail: Value = serde_json::from_str(&detail).context("the detail is not JSON")?;
    let entry = json!({
        "Source": args.source,
        "DetailType": args.detail_type,
        "Detail": detail,
        "EventBusName": args.bus,
    });
    let reply = match server {
        Some(client) => client.call("POST", "/v1/events", Some(&json!({"Entries": [entry]})))?,
        None => {
            let (project, queues) = open_local(data_dir, &args.project)?;
            let bus = EventBus::new(queues, project.rules);
            put_events_result(&bus.put_events(&[entry])?)
        }
    };
    outln!("{reply}");
    if reply["FailedEntryCount"] != 0 {
        bail!(
            "the event was not put: {}",
            reply["Entries"][0]["ErrorMessage"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_are_strings_unless_typed() {
        let given = ["kind=refund".to_string(), "amount:Number=150".to_string()];
        assert_eq!(
            attributes(&given).unwrap(),
            json!({
                "kind": {"DataType": "String", "StringValue": "refund"},
                "amount": {"DataType": "Number", "StringValue": "150"}
            })
        );
        assert_eq!(attributes(&[]).unwrap(), Value::Null);
        assert!(attributes(&["novalue".to_string()]).is_err());
        assert!(attributes(&["=x".to_string()]).is_err());
    }
}
