//! `sluice cdc status|resnapshot`: the change-data-capture sources of a project, on a running
//! node (`--server`, with live lag and rates) or on the project's store.

use crate::client::Client;
use crate::project;
use anyhow::anyhow;
use serde_json::{Value, json};
use sluice_engine::store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// `sluice cdc` commands.
#[derive(clap::Subcommand)]
pub enum CdcCommand {
    /// Each source's phase, snapshot progress, stored position, lag and last error.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// The project directory.
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
    /// Forget a source's position so that it takes a new snapshot (after its slot was lost).
    Resnapshot {
        /// The source (its trigger's name).
        source: String,
        /// The project directory.
        #[arg(long, default_value = ".")]
        project: PathBuf,
    },
}

/// The project's store and its CDC sources' names.
fn local(data_dir: Option<&Path>, dir: &Path) -> anyhow::Result<(Arc<dyn Store>, Vec<String>)> {
    let project = project::load(dir)
        .map_err(|ds| anyhow!("{}", sluice_lang::diagnostic::render(&ds).trim_end()))?;
    let data_dir = crate::run::data_dir_for(data_dir, Some(&project.dir));
    let store = crate::app::open_store(&data_dir, project.state.as_ref())?;
    let names = project
        .cdc_triggers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    Ok((store, names))
}

/// `sluice cdc ...`.
pub fn cdc(
    server: Option<&Client>,
    data_dir: Option<&Path>,
    command: CdcCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        CdcCommand::Status { json, project } => {
            let reply = match server {
                Some(client) => client.call("GET", "/v1/cdc", None)?,
                None => stored_status(data_dir, &project)?,
            };
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&reply).unwrap_or_default()
                );
            } else {
                print_table(&reply);
            }
        }
        CdcCommand::Resnapshot { source, project } => {
            let reply = match server {
                Some(client) => {
                    client.call("POST", &format!("/v1/cdc/{source}/resnapshot"), None)?
                }
                None => {
                    let (store, names) = local(data_dir, &project)?;
                    if !names.contains(&source) {
                        return Err(anyhow!("the project has no CDC trigger {source}"));
                    }
                    json!({ "source": source, "reset": store.cdc_reset(&source)? })
                }
            };
            outln!("{reply}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What the store holds of each source (no live rates without a node).
fn stored_status(data_dir: Option<&Path>, project: &Path) -> anyhow::Result<Value> {
    let (store, names) = local(data_dir, project)?;
    let stored = store.cdc_checkpoints()?;
    let sources: Vec<Value> = names
        .iter()
        .map(|name| match stored.iter().find(|c| &c.source == name) {
            Some(c) => {
                let (key, position) = sluice_cdc::status::stored_position(c);
                let mut view = json!({
                    "name": name,
                    "phase": c.phase,
                    "snapshot": c.progress.get("tables").cloned().unwrap_or(Value::Null),
                    "storedAt": c.updated_ms,
                    "owner": c.owner,
                    "error": c.error,
                });
                view[key] = json!(position);
                if let Some(gtid) = c.progress.get("binlog").and_then(|b| b.get("gtid")) {
                    view["storedGtid"] = gtid.clone();
                }
                view
            }
            None => json!({ "name": name, "phase": "new" }),
        })
        .collect();
    Ok(json!({ "sources": sources }))
}

/// One line per source.
fn print_table(reply: &Value) {
    outln!(
        "{:<20} {:<10} {:<24} {:>12} {:>10} SNAPSHOT / ERROR",
        "SOURCE",
        "PHASE",
        "POSITION",
        "LAG BYTES",
        "EVENTS/S"
    );
    for s in reply["sources"].as_array().into_iter().flatten() {
        let text = |k: &str| s[k].as_str().unwrap_or("-").to_string();
        // An LSN, or a binlog FILE:OFFSET.
        let position = [
            "checkpointLsn",
            "checkpointBinlog",
            "storedLsn",
            "storedBinlog",
        ]
        .iter()
        .find_map(|k| s[*k].as_str())
        .unwrap_or("-");
        let snapshot: Vec<String> = s["snapshot"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(t, p)| match p["total"].as_u64() {
                Some(total) => format!("{t} {}/{total}", p["rows"]),
                None => format!("{t} {}", p["rows"]),
            })
            .collect();
        let detail = match s["error"].as_str() {
            Some(e) => format!("error: {e}"),
            None => snapshot.join(", "),
        };
        outln!(
            "{:<20} {:<10} {:<24} {:>12} {:>10} {}",
            text("name"),
            text("phase"),
            position,
            s["lagBytes"].as_u64().map_or("-".into(), |n| n.to_string()),
            s["eventsPerSecond"]
                .as_f64()
                .map_or("-".into(), |n| n.to_string()),
            detail
        );
    }
}
