//! What the source tests share: a store in a temporary directory, a trigger's settings, a
//! source running as a task, and unique table names.
// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use sluice_cdc::source::{CdcConfig, Source};
use sluice_cdc::status::Status;
use sluice_cdc::{Format, Sink};
use sluice_engine::store::Store;
use sluice_queues::triggers::Target;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// A table name unique to this process and call.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A SQLite store in a new temporary directory (kept as long as the directory).
pub fn store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = sluice_store::open(&sluice_store::StoreLocation::Sqlite(
        dir.path().join("s.db"),
    ))
    .unwrap();
    (store, dir)
}

/// A trigger `name` capturing `table` of `url` in Canal-JSON, 500 changes or 100 ms a batch,
/// for function `load`.
pub fn config(name: &str, url: String, table: String) -> CdcConfig {
    CdcConfig {
        name: name.to_string(),
        url,
        tables: vec![table],
        exclude_tables: Vec::new(),
        format: Format::CanalJson,
        batch_size: 500,
        batch_timeout: Duration::from_millis(100),
        snapshot_parallel: CdcConfig::default_snapshot_parallel(),
        snapshot_chunk_rows: CdcConfig::SNAPSHOT_CHUNK_ROWS,
        target: Target::Function("load".into()),
    }
}

/// Runs a source of `config` into `sink` as `owner` until stopped through the returned
/// sender.
pub fn start(
    config: CdcConfig,
    store: Arc<dyn Store>,
    sink: Arc<dyn Sink>,
    owner: &str,
) -> (
    watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
    Arc<Status>,
) {
    let status = Arc::new(Status::new(&config.name, "function:load"));
    let source = Source {
        config,
        store,
        sink,
        owner: owner.into(),
        status: status.clone(),
    };
    let (stop, stopped) = watch::channel(false);
    (stop, tokio::spawn(source.run(stopped)), status)
}

/// Waits until the source's phase is `failed` and returns its error (failing the test after
/// 30 s).
pub async fn failure(status: &Status) -> String {
    for _ in 0..300 {
        if status.phase().as_str() == "failed" {
            return status.error().unwrap_or_default();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the source never failed: {}", status.to_json());
}

/// `url` with its database replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => url.to_string(),
    }
}
