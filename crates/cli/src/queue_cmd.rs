//! `sluice send` and `sluice queue list|peek|purge|redrive-dlq`: the queues of a project, on the
//! local store or on a running node (`--server`).

use crate::client::Client;
use crate::project;
use anyhow::{Context, anyhow};
use serde_json::{Value, json};
use sluice_queues::{Outgoing, Queues};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `sluice send`.
#[derive(clap::Args)]
pub struct SendArgs {
    /// The queue.
    pub queue: String,
    /// The message body, or `@FILE` to send a file's contents.
    pub body: String,
    /// Seconds before the message becomes visible.
    #[arg(long, default_value_t = 0)]
    pub delay: u64,
    /// The project directory whose queues these are.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
}

/// `sluice queue` commands.
#[derive(clap::Subcommand)]
pub enum QueueCommand {
    /// The queues, their consumers and depths.
    List {
        /// The project directory.
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
    /// A queue's messages in order, without receiving them.
    Peek {
        /// The queue.
        queue: String,
        /// The messages that failed for good instead.
        #[arg(long)]
        failed: bool,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// The project directory.
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
    /// Delete every message of a queue.
    Purge {
        /// The queue.
        queue: String,
        /// The project directory.
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
    /// Move the messages of a queue's dead-letter queue (or its failed ones) back onto it.
    RedriveDlq {
        /// The queue.
        queue: String,
        /// The project directory.
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
}

/// The project in `dir` and its queues over its store.
pub(crate) fn open_local(
    data_dir: Option<&Path>,
    dir: &Path,
) -> anyhow::Result<(project::Project, Queues)> {
    let project = project::load(dir)
        .map_err(|ds| anyhow!("{}", sluice_lang::diagnostic::render(&ds).trim_end()))?;
    let data_dir = crate::run::data_dir_for(data_dir, Some(&project.dir));
    let store = crate::app::open_store(&data_dir, project.state.as_ref())?;
    let queues = Queues::new(store, project.queues.clone());
    Ok((project, queues))
}

/// The project's queues over its store.
fn local(data_dir: Option<&Path>, dir: &Path) -> anyhow::Result<Queues> {
    Ok(open_local(data_dir, dir)?.1)
}

/// The body: the argument, or a file's contents for `@FILE`.
pub(crate) fn body(arg: &str) -> anyhow::Result<String> {
    match arg.strip_prefix('@') {
        Some(file) => std::fs::read_to_string(file).with_context(|| format!("reading {file}")),
        None => Ok(arg.to_string()),
    }
}

/// `sluice send`.
pub fn send(
    server: Option<&Client>,
    data_dir: Option<&Path>,
    args: SendArgs,
) -> anyhow::Result<ExitCode> {
    let text = body(&args.body)?;
    let sent = match server {
        Some(client) => {
            let path = format!("/v1/queues/{}/messages", args.queue);
            let reply = client.call(
                "POST",
                &path,
                Some(&json!({ "body": text, "delaySeconds": args.delay })),
            )?;
            reply["messages"][0].clone()
        }
        None => {
            let queues = local(data_dir, &args.project)?;
            let message = Outgoing {
                body: text,
                attributes: Value::Null,
                delay: Duration::from_secs(args.delay),
            };
            let sent = queues.send(&args.queue, vec![message])?;
            json!({ "id": sent[0].id, "md5OfBody": sent[0].md5_of_body })
        }
    };
    outln!("{sent}");
    Ok(ExitCode::SUCCESS)
}

/// `sluice queue ...`.
pub fn queue(
    server: Option<&Client>,
    data_dir: Option<&Path>,
    command: QueueCommand,
) -> anyhow::Result<ExitCode> {
    let reply = match server {
        Some(client) => on_server(client, command)?,
        None => on_store(data_dir, command)?,
    };
    outln!(
        "{}",
        serde_json::to_string_pretty(&reply).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

fn on_server(client: &Client, command: QueueCommand) -> anyhow::Result<Value> {
    match command {
        QueueCommand::List { .. } => client.call("GET", "/v1/queues", None),
        QueueCommand::Peek {
            queue,
            failed,
            limit,
            ..
        } => client.call(
            "GET",
            &format!("/v1/queues/{queue}/messages?limit={limit}&failed={failed}"),
            None,
        ),
        QueueCommand::Purge { queue, .. } => {
            client.call("POST", &format!("/v1/queues/{queue}/purge"), None)
        }
        QueueCommand::RedriveDlq { queue, .. } => {
            client.call("POST", &format!("/v1/queues/{queue}/redrive"), None)
        }
    }
}

fn on_store(data_dir: Option<&Path>, command: QueueCommand) -> anyhow::Result<Value> {
    Ok(match command {
        QueueCommand::List { project } => {
            let queues = local(data_dir, &project)?;
            let rows = queues
                .all()
                .map(|q| Ok(json!({ "name": q.name, "deadLetter": q.dead_letter, "stats": queues.stats(&q.name)? })))
                .collect::<anyhow::Result<Vec<Value>>>()?;
            json!({ "queues": rows })
        }
        QueueCommand::Peek {
            queue,
            failed,
            limit,
            project,
        } => json!({ "messages": local(data_dir, &project)?.peek(&queue, limit, failed)? }),
        QueueCommand::Purge { queue, project } => {
            json!({ "purged": local(data_dir, &project)?.purge(&queue)? })
        }
        QueueCommand::RedriveDlq { queue, project } => {
            json!({ "redriven": local(data_dir, &project)?.redrive(&queue)? })
        }
    })
}
