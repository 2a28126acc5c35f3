//! Opening the data directory: the store, the engine and the async runtime behind them.

use anyhow::Context;
use sluice_engine::driver::DefinitionLoader;
use sluice_engine::invoke::{Invoker, NoFunctions};
use sluice_engine::{Engine, EngineOptions};
use sluice_store::SqliteStore;
use std::path::Path;
use std::sync::Arc;

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

    /// Like [`App::start`] with a given invoker.
    pub fn start_with(
        data_dir: &Path,
        options: EngineOptions,
        invoker: Arc<dyn Invoker>,
    ) -> anyhow::Result<App> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let store = open_store(data_dir)?;
        let engine = Engine::start(
            store.clone(),
            invoker,
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
