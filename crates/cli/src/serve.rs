//! `sluice serve`: an always-on node that serves a project's flows and functions to AWS's Step
//! Functions and Lambda clients.

use crate::app::{App, project_bucket, project_key};
use crate::project::{self, Project};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use sluice_engine::EngineOptions;
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Target, TaskError};
use sluice_functions::{FunctionPool, InvokeMeta};
use sluice_server::auth::Credentials;
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
    /// The address to listen on (port 0 picks a free port). Beyond loopback, `--access-keys`
    /// and `--token` are required.
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Access keys the AWS-compatible endpoints accept, checked with Signature Version 4:
    /// `ID:SECRET[,ID:SECRET...]`.
    #[arg(long, env = "SLUICE_ACCESS_KEYS", hide_env_values = true)]
    pub access_keys: Option<String>,
    /// The bearer token of `/metrics` and `/v1`.
    #[arg(long, env = "SLUICE_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The S3-compatible endpoint.
    #[cfg(feature = "s3")]
    #[command(flatten)]
    pub s3: crate::s3::S3Args,
}

impl ServeArgs {
    /// The credentials requests are checked against; refused when the node listens beyond
    /// loopback without both kinds.
    fn credentials(&self) -> anyhow::Result<Credentials> {
        let access_keys = match &self.access_keys {
            Some(text) => Credentials::parse_access_keys(text)
                .map_err(|e| anyhow::anyhow!("--access-keys: {e}"))?,
            None => Default::default(),
        };
        let token = self.token.clone().filter(|t| !t.is_empty());
        if !self.listen.ip().is_loopback() && (access_keys.is_empty() || token.is_none()) {
            bail!(
                "--listen {}: beyond loopback, requests must be authenticated: give --access-keys ID:SECRET (or SLUICE_ACCESS_KEYS) for the AWS-compatible endpoints and --token TOKEN (or SLUICE_API_TOKEN) for /metrics and /v1",
                self.listen
            );
        }
        Ok(Credentials { access_keys, token })
    }
}

/// Serves the project until SIGINT or SIGTERM, then stops the engine (releasing its executions
/// to other processes) and the functions.
pub fn serve(data_dir: Option<&Path>, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let started_ms = chrono::Utc::now().timestamp_millis();
    let credentials = args.credentials()?;
    let project = match project::load(&args.project) {
        Ok(p) => p,
        Err(ds) => {
            crate::validate::print_diagnostics(&ds);
            return Ok(ExitCode::from(2));
        }
    };
    let data_dir = crate::run::data_dir_for(data_dir, Some(&project.dir));
    #[cfg(feature = "s3")]
    let s3 = crate::s3::options(&args.s3, &project, &credentials, &data_dir)?;
    #[cfg(feature = "s3")]
    let bucket = s3.as_ref().map(|(options, _)| options.bucket.clone());
    #[cfg(not(feature = "s3"))]
    let bucket = None;
    let bucket =
        bucket.unwrap_or_else(|| project_bucket(&project).unwrap_or_else(|_| "sluice".into()));
    let (app, pool) = App::start_project(&data_dir, EngineOptions::default(), &project, &bucket)?;
    #[cfg(feature = "s3")]
    let s3 = match (s3, &app.storage) {
        (Some((options, listen)), Some(storage)) => {
            let endpoint = sluice_s3::S3Endpoint::new(storage.clone(), options)
                .map_err(|e| anyhow::anyhow!("--s3-listen {listen}: {e}"))?;
            Some((endpoint, listen))
        }
        _ => None,
    };
    let node = Node {
        app: &app,
        pool: &pool,
        project: &project,
        state_machines_file: data_dir.join(STATE_MACHINES_FILE),
        started_ms,
        #[cfg(feature = "s3")]
        s3,
        credentials,
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
    /// When the node started, epoch ms.
    started_ms: i64,
    /// Who may call.
    credentials: Credentials,
    /// The S3 endpoint to serve, and where.
    #[cfg(feature = "s3")]
    s3: Option<(sluice_s3::S3Endpoint, SocketAddr)>,
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
    let published = machines.list().into_iter();
    app.engine.publish(
        published
            .map(|(name, flow)| (name, flow.definition_id))
            .collect(),
    )?;
    let targets = crate::consumers::targets(app, &machines);
    let consumers = crate::consumers::start(app, &targets);
    let scheduler = crate::consumers::schedule(app, project.cron_triggers.clone(), &targets);
    let watchers = crate::consumers::watch(app, &targets, node.started_ms);
    let sources = crate::consumers::capture(app, &project.cdc_triggers, &targets);
    let state = ServerState {
        store: app.store.clone(),
        engine: app.engine.clone(),
        flows: machines,
        project_key: Some(key),
        functions: Some(functions),
        credentials: Arc::new(node.credentials.clone()),
        queues: app.queues.clone(),
        topics: app.topics.clone(),
        bus: app.bus.clone(),
        targets: Some(targets),
        http_triggers: Arc::new(project.http_triggers.clone()),
        cdc: Arc::new(
            sources
                .as_ref()
                .map(|s| s.statuses().to_vec())
                .unwrap_or_default(),
        ),
    };
    app.runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        #[cfg(feature = "s3")]
        let s3 = match node.s3.clone() {
            Some((endpoint, listen)) => Some(crate::s3::Running::start(endpoint, listen).await?),
            None => None,
        };
        #[cfg(feature = "s3")]
        let s3_note = s3.as_ref().map(|r| format!("; {}", r.describe())).unwrap_or_default();
        #[cfg(not(feature = "s3"))]
        let s3_note = "";
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        eprintln!(
            "sluice: serving {} on http://{addr} (Step Functions and Lambda: AWS_ENDPOINT_URL=http://{addr}){s3_note}",
            project.dir.display()
        );
        let stop = async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        };
        sluice_server::serve(state, listener, stop).await?;
        #[cfg(feature = "s3")]
        if let Some(s3) = s3 {
            s3.stop().await;
        }
        eprintln!("sluice: stopping; running executions are left for the next process to resume");
        if let Some(scheduler) = scheduler {
            scheduler.stop().await;
        }
        if let Some(watchers) = watchers {
            watchers.stop().await;
        }
        if let Some(sources) = sources {
            sources.stop().await;
        }
        if let Some(consumers) = consumers {
            consumers.stop().await;
        }
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

    fn stats(&self) -> Vec<Value> {
        self.pool
            .stats()
            .into_iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "instances": f.instances,
                    "busy": f.busy,
                    "idle": f.idle,
                    "waiting": f.waiting,
                    "invocations": f.invocations,
                    "coldStarts": f.cold_starts,
                    "errors": f.errors,
                    "p50Ms": f.p50_ms,
                    "p99Ms": f.p99_ms,
                })
            })
            .collect()
    }

    fn logs(&self, function: &str, tail: usize) -> Vec<Value> {
        let lines = self.pool.logs(function);
        let skip = lines.len().saturating_sub(tail);
        lines
            .into_iter()
            .skip(skip)
            .map(|l| {
                json!({
                    "ts": l.ts.to_rfc3339(),
                    "requestId": l.request_id,
                    "stream": format!("{:?}", l.stream).to_lowercase(),
                    "line": l.line,
                })
            })
            .collect()
    }
}
