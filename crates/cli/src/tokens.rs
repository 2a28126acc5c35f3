//! `sluice send-task-success`, `send-task-failure` and `send-task-heartbeat`: a worker's report
//! on a `.waitForTaskToken` Task, sent to a node (`--server`) or kept in the local store for the
//! process that drives the execution.

use crate::app::App;
use crate::client::{self, Client};
use anyhow::Context;
use serde_json::{Value, json};
use sluice_engine::EngineOptions;
use sluice_engine::callback::TaskSignal;
use sluice_engine::model::TaskOutcome;
use std::path::Path;
use std::process::ExitCode;

/// What is reported.
pub enum Report {
    /// `send-task-success TOKEN --output JSON`.
    Success {
        /// The task token.
        token: String,
        /// The Task's output, JSON text.
        output: String,
    },
    /// `send-task-failure TOKEN [--error E] [--cause C]`.
    Failure {
        /// The task token.
        token: String,
        /// The error.
        error: Option<String>,
        /// The cause.
        cause: Option<String>,
    },
    /// `send-task-heartbeat TOKEN`.
    Heartbeat {
        /// The task token.
        token: String,
    },
}

impl Report {
    /// The REST endpoint's kind and body.
    fn request(&self) -> anyhow::Result<(&'static str, Value)> {
        Ok(match self {
            Report::Success { token, output } => {
                let output: Value = serde_json::from_str(output).context("--output is not JSON")?;
                ("success", json!({ "token": token, "output": output }))
            }
            Report::Failure {
                token,
                error,
                cause,
            } => (
                "failure",
                json!({ "token": token, "error": error, "cause": cause }),
            ),
            Report::Heartbeat { token } => ("heartbeat", json!({ "token": token })),
        })
    }

    /// The token and the signal the engine takes.
    fn signal(self) -> anyhow::Result<(String, TaskSignal)> {
        Ok(match self {
            Report::Success { token, output } => {
                let output = serde_json::from_str(&output).context("--output is not JSON")?;
                (token, TaskSignal::Outcome(TaskOutcome::Ok(output)))
            }
            Report::Failure {
                token,
                error,
                cause,
            } => {
                let outcome = TaskOutcome::Err {
                    error: error.unwrap_or_default(),
                    cause: cause.unwrap_or_default(),
                };
                (token, TaskSignal::Outcome(outcome))
            }
            Report::Heartbeat { token } => (token, TaskSignal::Heartbeat),
        })
    }
}

/// Sends the report to the node, or through the local store.
pub fn send(server: Option<&Client>, data_dir: &Path, report: Report) -> anyhow::Result<ExitCode> {
    if let Some(client) = server {
        let (kind, body) = report.request()?;
        return client::task_token(client, kind, &body);
    }
    let (token, signal) = report.signal()?;
    let app = App::start(data_dir, EngineOptions::default())?;
    let sent = app
        .runtime
        .block_on(app.engine.send_task_signal(&token, signal));
    app.engine.shutdown();
    sent.map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    Ok(ExitCode::SUCCESS)
}
