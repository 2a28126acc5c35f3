//! Running one corpus case through the real engine, in-process.
//!
//! Each case gets its own SQLite store in a temporary directory and its own engine on a virtual
//! clock, so waits and timeouts take no wall time. Everything that can go wrong on the way
//! (a rejected definition, an engine error, a hang, a panic) becomes an [`Actual`] with status
//! `HARNESS_ERROR`, so one bad case is one failed case.

use crate::compare::Actual;
use serde_json::Value;
use sluice_engine::invoke::Invoker;
use sluice_engine::items::{ItemStore, NoStorage};
use sluice_engine::run_info::RunInfo;
use sluice_engine::store::Store;
use sluice_engine::{ClockMode, Engine, EngineOptions, StartRequest};
use sluice_io::{ObjectItemStore, Storage};
use sluice_lang::compile::compile_document;
use sluice_lang::diagnostic::render;
use sluice_lang::source::Document;
use sluice_store::SqliteStore;
use std::sync::{Arc, Once};
use std::time::Duration;

/// How long one case may take before it counts as hung.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(20);

/// The name the engine gives its driver thread.
const DRIVER_THREAD: &str = "sluice-driver";

/// Keeps panics on driver threads quiet: the engine turns each into its execution's
/// `States.Runtime` failure, which the case reports. Others go to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(DRIVER_THREAD) {
                previous(info);
            }
        }));
    });
}

fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-text panic payload)".to_string()
    }
}

/// Local storage under `dir` holding a case's `s3_objects` (`{bucket, key, body}`), each at
/// `BUCKET/KEY` as the storage lays buckets out.
fn fixture_storage(dir: &std::path::Path, objects: &[Value]) -> Result<Storage, String> {
    let root = dir.join("objects");
    for object in objects {
        let (Some(bucket), Some(key), Some(body)) = (
            object["bucket"].as_str(),
            object["key"].as_str(),
            object["body"].as_str(),
        ) else {
            return Err(format!(
                "s3_objects entry without bucket, key or body: {object}"
            ));
        };
        let path = root.join(bucket).join(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, body).map_err(|e| e.to_string())?;
    }
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    Storage::from_url("file://objects", dir).map_err(|e| e.to_string())
}

/// Runs one case (its `definition`, `input` and `run` context) with Task calls made by
/// `invoker`, and reports how it ended.
///
/// Must be called inside a multi-thread tokio runtime. The case runs in a task of its own, so a
/// panic in it is reported instead of propagated; a case still running after [`CASE_TIMEOUT`]
/// is reported as hung.
pub async fn run_case(case: &Value, invoker: Arc<dyn Invoker>) -> Actual {
    install_panic_hook();
    let case = case.clone();
    let task = tokio::spawn(async move { execute(&case, invoker).await });
    match tokio::time::timeout(CASE_TIMEOUT + Duration::from_secs(10), task).await {
        Ok(Ok(actual)) => actual,
        Ok(Err(e)) if e.is_panic() => Actual::harness_error(
            "panic",
            format!("panicked: {}", payload_text(&*e.into_panic())),
        ),
        Ok(Err(e)) => Actual::harness_error("panic", format!("task failed: {e}")),
        Err(_) => Actual::harness_error("timeout", "the case did not finish"),
    }
}

fn text<'a>(run: &'a Value, key: &str, default: &'a str) -> &'a str {
    run[key].as_str().unwrap_or(default)
}

async fn execute(case: &Value, invoker: Arc<dyn Invoker>) -> Actual {
    let run = &case["run"];
    let execution_name = text(run, "execution_name", "exec-1").to_string();
    let info = RunInfo {
        account_id: text(run, "account_id", "111111111111").into(),
        region: text(run, "region", "us-east-1").into(),
        state_machine_name: text(run, "state_machine_name", "statemachine").into(),
        execution_name: execution_name.clone(),
        role_arn: text(run, "role_arn", "").into(),
        state_machine_type: text(run, "state_machine_type", "STANDARD").into(),
        start_ms: 0,
        seed: 0,
        parent: None,
        started_by: None,
    };

    let definition = case["definition"].clone();
    let compiled = tokio::task::spawn_blocking(move || {
        let doc = Document::from_value("definition.json", definition)
            .map_err(|d| ("definition", render(&d)))?;
        compile_document(&doc).map_err(|d| ("compile", render(&d)))
    })
    .await;
    let def = match compiled {
        Ok(Ok(def)) => Arc::new(def),
        Ok(Err((stage, message))) => {
            return Actual::harness_error(stage, format!("definition rejected: {message}"));
        }
        Err(e) if e.is_panic() => {
            return Actual::harness_error(
                "panic",
                format!("compiling panicked: {}", payload_text(&*e.into_panic())),
            );
        }
        Err(e) => return Actual::harness_error("panic", format!("compiling failed: {e}")),
    };

    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return Actual::harness_error("setup", format!("temp dir: {e}")),
    };
    let store = match SqliteStore::open(&dir.path().join("sluice.db")) {
        Ok(store) => Arc::new(store),
        Err(e) => return Actual::harness_error("setup", e.to_string()),
    };
    let loader: sluice_engine::driver::DefinitionLoader = Arc::new(|file: &str, src: &str| {
        sluice_lang::compile::compile(file, src).map_err(|d| format!("{d:?}"))
    });
    let items: Arc<dyn ItemStore> = match case["s3_objects"].as_array() {
        Some(objects) => match fixture_storage(dir.path(), objects) {
            Ok(storage) => Arc::new(ObjectItemStore::new(
                storage,
                tokio::runtime::Handle::current(),
            )),
            Err(e) => return Actual::harness_error("setup", e),
        },
        None => Arc::new(NoStorage),
    };
    let engine = match Engine::start(
        store.clone(),
        invoker,
        items,
        tokio::runtime::Handle::current(),
        loader,
        EngineOptions {
            clock: ClockMode::Virtual,
            ..Default::default()
        },
    ) {
        Ok(e) => e,
        Err(e) => return Actual::harness_error("engine", format!("engine did not start: {e}")),
    };

    let outcome = tokio::time::timeout(CASE_TIMEOUT, async {
        let source = serde_json::to_string(&case["definition"]).map_err(|e| e.to_string())?;
        let definition_id = store
            .put_definition(&info.state_machine_name, "definition.json", &source, None)
            .map_err(|e| e.to_string())?;
        let request = StartRequest {
            id: execution_name,
            definition_id,
            definition: def,
            info,
            input: case["input"].clone(),
        };
        let id = engine
            .start_execution(request)
            .await
            .map_err(|e| format!("engine error: {e}"))?;
        engine
            .wait(&id)
            .await
            .map_err(|e| format!("engine error: {e}"))
    })
    .await;

    match outcome {
        Ok(result) => {
            let stop = engine.clone();
            let stopped = tokio::task::spawn_blocking(move || stop.shutdown());
            // A driver that does not stop promptly is left behind rather than holding the suite.
            let _ = tokio::time::timeout(Duration::from_secs(5), stopped).await;
            match result {
                Ok(o) => Actual {
                    status: o.status.as_str().to_string(),
                    output: o.output,
                    error: o.error,
                    cause: o.cause,
                },
                Err(message) => Actual::harness_error("engine", message),
            }
        }
        Err(_) => {
            // The driver may be stuck; stopping it must not block this task.
            let stop = engine.clone();
            std::thread::spawn(move || stop.shutdown());
            Actual::harness_error(
                "timeout",
                format!("no outcome within {}s", CASE_TIMEOUT.as_secs()),
            )
        }
    }
}
