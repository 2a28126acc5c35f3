//! Opening the data directory: the store, the engine and the async runtime behind them.

use crate::invoker::PoolInvoker;
use crate::project::Project;
use anyhow::Context;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use sluice_engine::driver::DefinitionLoader;
use sluice_engine::invoke::{Invoker, NoFunctions};
use sluice_engine::{Engine, EngineOptions};
use sluice_functions::{FunctionPool, PoolOptions};
use sluice_store::SqliteStore;
use std::path::Path;
use std::sync::Arc;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The store file inside a data directory.
pub fn open_store(data_dir: &Path) -> anyhow::Result<Arc<SqliteStore>> {
    let path = data_dir.join("sluice.db");
    Ok(Arc::new(SqliteStore::open(&path).with_context(|| {
        format!("opening the store at {}", path.display())
    })?))
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

/// A running engine with its runtime.
pub struct App {
    /// The async runtime invocations run on.
    pub runtime: tokio::runtime::Runtime,
    /// The store.
    pub store: Arc<SqliteStore>,
    /// The engine.
    pub engine: Engine,
}

impl App {
    /// Opens the data directory and starts the engine, resuming what was running.
    pub fn start(data_dir: &Path, options: EngineOptions) -> anyhow::Result<App> {
        Self::start_with(data_dir, options, Arc::new(NoFunctions))
    }

    /// Opens the data directory and starts the engine with a project's functions.
    pub fn start_project(
        data_dir: &Path,
        options: EngineOptions,
        project: &Project,
    ) -> anyhow::Result<(App, FunctionPool)> {
        let runtime = runtime()?;
        let storage = project.storage_dir().map_err(anyhow::Error::msg)?;
        std::fs::create_dir_all(&storage)
            .with_context(|| format!("creating the storage directory {}", storage.display()))?;
        let objects: Arc<dyn ObjectStore> = Arc::new(
            LocalFileSystem::new_with_prefix(&storage)
                .with_context(|| format!("opening the storage directory {}", storage.display()))?,
        );
        let log_dir = data_dir.join("logs");
        let mut pool_options = PoolOptions::new(data_dir.join("runtimes"));
        pool_options.objects = Some(objects);
        pool_options.log_dir = Some(log_dir.clone());
        let functions = project.functions.clone();
        let pool = runtime
            .block_on(FunctionPool::start(functions, pool_options))
            .context("starting the function pool")?;
        let invoker = Arc::new(PoolInvoker::new(pool.clone(), &log_dir)?);
        let app = Self::start_on(runtime, data_dir, options, invoker)?;
        Ok((app, pool))
    }

    /// Like [`App::start`] with a given invoker.
    pub fn start_with(
        data_dir: &Path,
        options: EngineOptions,
        invoker: Arc<dyn Invoker>,
    ) -> anyhow::Result<App> {
        Self::start_on(runtime()?, data_dir, options, invoker)
    }

    fn start_on(
        runtime: tokio::runtime::Runtime,
        data_dir: &Path,
        options: EngineOptions,
        invoker: Arc<dyn Invoker>,
    ) -> anyhow::Result<App> {
        let store = open_store(data_dir)?;
        let engine = Engine::start(
            store.clone(),
            invoker,
            Arc::new(sluice_engine::items::NoStorage),
            runtime.handle().clone(),
            loader(),
            options,
        )?;
        Ok(App {
            runtime,
            store,
            engine,
        })
    }
}
