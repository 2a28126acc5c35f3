//! Opening the data directory: the store, the engine and the async runtime behind them.

use crate::invoker::RecordingInvoker;
use crate::project::Project;
use anyhow::Context;
use sluice_cdc::loader::Loaders;
use sluice_engine::driver::DefinitionLoader;
use sluice_engine::invoke::{Invoker, NoFunctions};
use sluice_engine::items::{ItemStore, NoStorage};
use sluice_engine::store::Store;
use sluice_engine::{Engine, EngineOptions};
use sluice_functions::{FunctionPool, PoolOptions, QueueSink};
use sluice_io::http::HttpInvoker;
use sluice_io::{
    BuiltinFunctions, ObjectIntegrations, ObjectItemStore, ObjectObserver, Observed, Storage,
};
use sluice_queues::uploads::Uploads;
use sluice_queues::{EventBus, QueueIntegration, Queues, Topics};
use sluice_store::StoreLocation;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The async runtime the engine and the function pools run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The store given on the command line (`--store` or `SLUICE_STORE`), for every command.
static GIVEN_STORE: OnceLock<StoreLocation> = OnceLock::new();

/// Makes `location`, when given, the store every command of this process uses.
pub fn use_store(location: Option<StoreLocation>) {
    if let Some(location) = location {
        // Set once, from `main`, before any store is opened.
        let _ = GIVEN_STORE.set(location);
    }
}

/// Opens the store: the one given on the command line, else the project's `state:`, else the
/// SQLite file `sluice.db` in the data directory.
pub fn open_store(
    data_dir: &Path,
    project_state: Option<&StoreLocation>,
) -> anyhow::Result<Arc<dyn Store>> {
    let location = GIVEN_STORE
        .get()
        .or(project_state)
        .cloned()
        .unwrap_or_else(|| StoreLocation::Sqlite(data_dir.join("sluice.db")));
    sluice_store::open(&location).with_context(|| format!("opening the store at {location}"))
}

/// Loads stored definitions back into the IR when executions resume.
pub fn loader() -> DefinitionLoader {
    Arc::new(|file: &str, source: &str| {
        sluice_lang::compile::compile(file, source).map_err(|ds| {
            ds.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        })
    })
}

/// Where function logs are kept inside a data directory.
fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// Starts the warm pool of a project's functions on `runtime`: objects served from the project's
/// storage, its queues (when it declares any) from its store, bootstraps under `DATA_DIR/runtimes`, logs under `DATA_DIR/logs`. No process starts
/// before the first invocation.
pub fn start_pool(
    runtime: &tokio::runtime::Runtime,
    data_dir: &Path,
    project: &Project,
) -> anyhow::Result<FunctionPool> {
    let queues = if project.queues.is_empty() {
        None
    } else {
        let store = open_store(data_dir, project.state.as_ref())?;
        Some(Queues::new(store, project.queues.clone()))
    };
    start_pool_on(
        runtime,
        data_dir,
        project,
        &project.open_storage()?,
        queues.as_ref(),
    )
}

fn start_pool_on(
    runtime: &tokio::runtime::Runtime,
    data_dir: &Path,
    project: &Project,
    storage: &Storage,
    queues: Option<&Queues>,
) -> anyhow::Result<FunctionPool> {
    let mut pool_options = PoolOptions::new(data_dir.join("runtimes"));
    pool_options.objects = Some(storage.object_store());
    pool_options.queues = queues.map(|q| Arc::new(q.clone()) as Arc<dyn QueueSink>);
    pool_options.log_dir = Some(log_dir(data_dir));
    runtime
        .block_on(FunctionPool::start(project.functions.clone(), pool_options))
        .context("starting the function pool")
}

/// The bucket name the project directory's name makes, or that name when it makes none.
pub fn project_bucket(project: &Project) -> Result<String, String> {
    let dir = std::fs::canonicalize(&project.dir).unwrap_or_else(|_| project.dir.clone());
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    sluice_io::bucket_name_for(&name).ok_or(name)
}

/// A running engine with its runtime.
pub struct App {
    /// The async runtime invocations run on.
    pub runtime: tokio::runtime::Runtime,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The engine.
    pub engine: Engine,
    /// What the engine's Tasks call (functions and integrations), for queue consumers.
    pub invoker: Arc<dyn Invoker>,
    /// The project's queues (none for flows run from single files).
    pub queues: Option<Queues>,
    /// The project's storage, every write through it observed by its object triggers.
    pub storage: Option<Storage>,
    /// The project's object triggers, if it has any.
    pub uploads: Option<Uploads>,
    /// The project's topics.
    pub topics: Option<Topics>,
    /// The project's event bus rules.
    pub bus: Option<EventBus>,
    /// The project's loader functions, which CDC sources call with their changes.
    pub loaders: Option<Arc<Loaders>>,
}

/// What a process serves: the definitions whose executions it may drive, because it has loaded
/// their flow and, for a project, its functions.
pub struct Served {
    /// Definition ids.
    pub definitions: Vec<String>,
    /// Whose they are, for messages: the project directory, or single-file runs.
    pub owner: String,
}

/// The key a project's definitions are stored under: its directory's canonical path.
pub fn project_key(project: &Project) -> String {
    std::fs::canonicalize(&project.dir)
        .unwrap_or_else(|_| project.dir.clone())
        .display()
        .to_string()
}

impl App {
    /// Stores the definitions of a project's flows and serves them, with every definition the
    /// project had before (executions started before a flow was edited still resume). Without
    /// a project, serves the definitions of flows run from single files. Returns what is served.
    pub fn serve(&self, project: Option<&Project>) -> anyhow::Result<Served> {
        let key = project.map(project_key);
        if let Some(project) = project {
            let mut current = Vec::new();
            for flow in &project.flows {
                let id = self.store.put_definition(
                    &flow.name,
                    &flow.file,
                    &flow.source,
                    key.as_deref(),
                )?;
                current.push((flow.name.clone(), id));
            }
            self.engine.publish(current)?;
        }
        let definitions = self.store.definitions_of(key.as_deref())?;
        self.runtime
            .block_on(self.engine.serve(definitions.clone()))?;
        Ok(Served {
            definitions,
            owner: match project {
                Some(p) => format!("project {}", p.dir.display()),
                None => "flows run from single files".into(),
            },
        })
    }

    /// Opens the data directory and starts the engine, resuming what was running.
    pub fn start(data_dir: &Path, options: EngineOptions) -> anyhow::Result<App> {
        Self::start_with(data_dir, options, Arc::new(NoFunctions))
    }

    /// Opens the data directory and starts the engine with a project's functions and storage
    /// (Distributed Map items and results, `s3:*` Task integrations) and HTTP (`http:invoke`
    /// Tasks, HTTP functions).
    /// Object events name the bucket `bucket`.
    pub fn start_project(
        data_dir: &Path,
        options: EngineOptions,
        project: &Project,
        bucket: &str,
    ) -> anyhow::Result<(App, FunctionPool)> {
        let runtime = runtime()?;
        let store = open_store(data_dir, project.state.as_ref())?;
        let queues = Queues::new(store.clone(), project.queues.clone());
        let mut storage = project
            .open_storage()?
            .with_classes(store.clone(), project.objects)?;
        let uploads = (!project.object_triggers.is_empty())
            .then(|| Uploads::new(store.clone(), project.object_triggers.clone(), bucket));
        if let Some(uploads) = &uploads {
            let observer: Arc<dyn ObjectObserver> = Arc::new(uploads.clone());
            storage = storage.wrap_store(|inner| Arc::new(Observed::new(inner, observer)));
        }
        let pool = start_pool_on(&runtime, data_dir, project, &storage, Some(&queues))?;
        let recorder = Arc::new(RecordingInvoker::new(pool.clone(), &log_dir(data_dir))?);
        let http =
            Arc::new(HttpInvoker::new(project.http.clone(), recorder).map_err(anyhow::Error::msg)?);
        let functions = Arc::new(BuiltinFunctions::new(
            storage.clone(),
            project.builtins.clone(),
            http,
        ));
        let loaders = Arc::new(Loaders::new(&project.builtins, functions));
        let objects = Arc::new(ObjectIntegrations::new(storage.clone(), loaders.clone()));
        let topics = Topics::new(queues.clone(), project.topics.clone());
        let bus = EventBus::new(queues.clone(), project.rules.clone());
        let invoker = Arc::new(QueueIntegration::new(
            queues.clone(),
            topics.clone(),
            bus.clone(),
            objects,
        ));
        let items = Arc::new(ObjectItemStore::new(
            storage.clone(),
            runtime.handle().clone(),
        ));
        let mut app = Self::start_on(runtime, store, options, invoker, items)?;
        app.queues = Some(queues);
        app.storage = Some(storage);
        app.uploads = uploads;
        app.topics = Some(topics);
        app.bus = Some(bus);
        app.loaders = Some(loaders);
        Ok((app, pool))
    }

    /// Like [`App::start`] with a given invoker.
    pub fn start_with(
        data_dir: &Path,
        options: EngineOptions,
        invoker: Arc<dyn Invoker>,
    ) -> anyhow::Result<App> {
        let store = open_store(data_dir, None)?;
        Self::start_on(runtime()?, store, options, invoker, Arc::new(NoStorage))
    }

    fn start_on(
        runtime: tokio::runtime::Runtime,
        store: Arc<dyn Store>,
        options: EngineOptions,
        invoker: Arc<dyn Invoker>,
        items: Arc<dyn ItemStore>,
    ) -> anyhow::Result<App> {
        let engine = Engine::start(
            store.clone(),
            invoker.clone(),
            items,
            runtime.handle().clone(),
            loader(),
            options,
        )?;
        Ok(App {
            runtime,
            store,
            engine,
            invoker,
            queues: None,
            storage: None,
            uploads: None,
            topics: None,
            bus: None,
            loaders: None,
        })
    }
}
