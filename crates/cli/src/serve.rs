//! `sluice serve`: an always-on node that serves a project's flows and functions to AWS's Step
//! Functions and Lambda clients.

use crate::app::{App, project_key};
use crate::project::{self, Project};
use anyhow::{Context, bail};
use sluice_engine::EngineOptions;
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Target, TaskError};
use sluice_functions::{FunctionPool, InvokeMeta};
use sluice_server::lambda::{FunctionHost, Functions};
use sluice_server::machines::StateMachines;
use sluice_server::{ServedFlow, ServerState};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};

/// Arguments of `sluice serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The project directory with `sluice.yaml`.
    pub project: PathBuf,
    /// The address to listen on (loopback only for now; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
}

/// Serves the project until SIGINT or SIGTERM, then stops the engine (releasing its executions
/// to other processes) and the functions.
pub fn serve(data_dir: Option<&Path>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "--listen {}: only loopback addresses (127.0.0.1, ::1) can be served, as requests are not authenticated yet",
            args.listen
        );
    }
    let project = match project::load(&args.project) {
        Ok(p) => p,
        Err(ds) => {
            crate::validate::print_diagnostics(&ds);
            return Ok(ExitCode::from(2));
        }
    };
    let data_dir = crate::run::data_dir_for(data_dir, Some(&project.dir));
    let (app, pool) = App::start_project(&data_dir, EngineOptions::default(), &project)?;
    let node = Node {
        app: &app,
        pool: &pool,
        project: &project,
        state_machines_file: data_dir.join(STATE_MACHINES_FILE),
    };
    let result = serve_until_signal(&node, args.listen);
    app.engine.shutdown();
    app.runtime.block_on(pool.shutdown());
    result.map(|()| ExitCode::SUCCESS)
}

/// The file in the data directory that keeps the state machines created through the API.
const STATE_MACHINES_FILE: &str = "state-machines.json";

/// What a node serves.
struct Node<'a> {
    app: &'a App,
    pool: &'a FunctionPool,
    project: &'a Project,
    /// Where the state machines created through the API are kept.
    state_machines_file: PathBuf,
}

/// Claims the project's executions and answers requests on `listen` until a signal comes.
fn serve_until_signal(node: &Node, listen: SocketAddr) -> anyhow::Result<()> {
    let Node {
        app, pool, project, ..
    } = *node;
    app.serve(Some(project))?;
    let key = project_key(project);
    let since_ms = chrono::Utc::now().timestamp_millis();
    let mut flows = BTreeMap::new();
    for flow in &project.flows {
        let definition_id =
            app.store
                .put_definition(&flow.name, &flow.file, &flow.source, Some(&key))?;
        let served = ServedFlow {
            definition_id,
            source: flow.source.clone(),
            definition: flow.definition.clone(),
            created_ms: since_ms,
            from_project: true,
        };
        flows.insert(flow.name.clone(), served);
    }
    let functions = Functions::new(Arc::new(ServedFunctions {
        pool: pool.clone(),
        names: project.functions.iter().map(|f| f.name.clone()).collect(),
    }));
    let saved = node.state_machines_file.clone();
    let (machines, warnings) =
        StateMachines::kept_in(flows, saved, app.store.as_ref()).map_err(anyhow::Error::msg)?;
    for warning in warnings {
        eprintln!("sluice: {warning}");
    }
    let state = ServerState {
        store: app.store.clone(),
        engine: app.engine.clone(),
        flows: machines,
        project_key: Some(key),
        functions: Some(functions),
    };
    app.runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        eprintln!(
            "sluice: serving {} on http://{addr} (Step Functions and Lambda: AWS_ENDPOINT_URL=http://{addr})",
            project.dir.display()
        );
        let stop = async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        };
        sluice_server::serve(state, listener, stop).await?;
        eprintln!("sluice: stopping; running executions are left for the next process to resume");
        anyhow::Ok(())
    })
}

/// The project's process functions as the Lambda Invoke API calls them: on the warm pool the
/// engine's Tasks use, with Lambda's limits rather than a Task's, and each request's output tail
/// kept by the pool.
struct ServedFunctions {
    pool: FunctionPool,
    names: Vec<String>,
}

impl FunctionHost for ServedFunctions {
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn invoke(&self, request: InvokeRequest, request_id: String) -> InvokeFuture {
        let pool = self.pool.clone();
        Box::pin(async move {
            let Target::Function { name, .. } = &request.target else {
                return Err(TaskError {
                    error: "States.Runtime".into(),
                    cause: "only functions are invoked".into(),
                });
            };
            let meta = InvokeMeta {
                request_id: Some(request_id),
                idempotency_key: Some(request.idempotency_key),
                ..InvokeMeta::default()
            };
            pool.invoke(name, request.payload, meta)
                .await
                .map_err(|e| TaskError {
                    error: e.error,
                    cause: e.cause,
                })
        })
    }

    fn log_tail(&self, request_id: &str) -> Vec<String> {
        self.pool
            .logs_for_request(request_id)
            .into_iter()
            .map(|l| l.line)
            .collect()
    }
}
