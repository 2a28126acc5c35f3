//! `sluice stop`: abort a running execution, whichever process drives it.

use crate::app::App;
use sluice_engine::EngineOptions;
use sluice_engine::model::Status;
use sluice_engine::store::StopRequest;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments of `sluice stop`.
#[derive(clap::Args)]
pub struct StopArgs {
    /// The execution to stop.
    pub id: String,
    /// The error to record (`ExecutionAborted`).
    #[arg(long)]
    pub error: Option<String>,
    /// The cause to record.
    #[arg(long)]
    pub cause: Option<String>,
    /// Print one JSON line `{execution, status, error, cause}`.
    #[arg(long)]
    pub json: bool,
}

/// Stops the execution and waits until it is ABORTED. When another live process drives it, that
/// process aborts it at its next lease renewal (within seconds); otherwise this one does.
pub fn stop(data_dir: &Path, args: StopArgs) -> anyhow::Result<ExitCode> {
    let app = App::start(data_dir, EngineOptions::default())?;
    let request = StopRequest {
        error: args.error,
        cause: args.cause,
    };
    let started = Instant::now();
    let outcome = app.runtime.block_on(async {
        app.engine.stop(&args.id, request).await?;
        app.engine.wait(&args.id).await
    });
    app.engine.shutdown();
    let outcome = outcome?;
    crate::run::report(&outcome, args.json, started.elapsed());
    Ok(if outcome.status == Status::Aborted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
