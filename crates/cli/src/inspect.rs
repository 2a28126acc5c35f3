//! `sluice list`, `describe` and `history`: read-only views of the store.

use crate::app::open_store;
use crate::project;
use anyhow::anyhow;
use serde_json::json;
use sluice_engine::map_run::items::failed_items;
use sluice_engine::run_info::epoch;
use sluice_engine::store::{MapRunRecord, Store};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// The store, with the `state:` of a project in the current directory (whose `.sluice` is the
/// default data directory).
fn open_here(data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    open_store(data_dir, project::state_in(Path::new("."))?.as_ref())
}

fn time(ms: i64) -> String {
    epoch(ms).format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// Lists executions, newest first.
pub fn list(
    data_dir: &Path,
    limit: usize,
    with_children: bool,
    json_lines: bool,
) -> anyhow::Result<ExitCode> {
    let store = open_here(data_dir)?;
    let rows = store.list(limit, with_children)?;
    if json_lines {
        for r in rows {
            outln!(
                "{}",
                json!({"execution": r.id, "flow": r.flow, "status": r.status.as_str(), "start_ms": r.start_ms, "stop_ms": r.stop_ms})
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "{:<38} {:<24} {:<10} {:<23} DURATION",
        "EXECUTION",
        "FLOW",
        "STATUS",
        "STARTED"
    );
    for r in rows {
        let duration = r
            .stop_ms
            .map(|s| format!("{:.3}s", (s - r.start_ms) as f64 / 1000.0))
            .unwrap_or_else(|| "-".into());
        outln!(
            "{:<38} {:<24} {:<10} {:<23} {duration}",
            r.id,
            r.flow,
            r.status.as_str(),
            time(r.start_ms)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Shows one execution.
pub fn describe(data_dir: &Path, id: &str, json_out: bool) -> anyhow::Result<ExitCode> {
    let store = open_here(data_dir)?;
    let e = store
        .execution(id)?
        .ok_or_else(|| anyhow!("no execution '{id}'"))?;
    let st = &e.state;
    let map_runs = store
        .map_runs_of(id)?
        .iter()
        .map(|run| map_run_progress(store.as_ref(), run))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let value = json!({
        "execution": e.id,
        "executionArn": e.info.execution_arn(),
        "stateMachineArn": e.info.state_machine_arn(),
        "status": st.status.as_str(),
        "startDate": time(e.info.start_ms),
        "stopDate": e.stop_ms.map(time),
        "input": e.input,
        "output": st.output,
        "error": st.error,
        "cause": st.cause,
        "currentState": st.root.as_ref().map(|f| f.state.clone()),
        "redriveCount": st.redriven.map_or(0, |r| r.count),
        "redriveDate": st.redriven.map(|r| time(r.last_ms)),
        "redriveStatus": if st.failed_at.is_some() && e.info.parent.is_none() { "REDRIVABLE" } else { "NOT_REDRIVABLE" },
        "mapRuns": map_runs,
    });
    if json_out {
        outln!("{value}");
    } else {
        outln!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Failed items `describe` lists per map run; the others are only counted.
const FAILED_ITEMS_SHOWN: usize = 10;

/// A Distributed Map run's item counts, as `describe` shows them, with its first failed items
/// and why they failed. `pending` is known once the source is read to its end.
fn map_run_progress(store: &dyn Store, run: &MapRunRecord) -> anyhow::Result<serde_json::Value> {
    let p = &run.progress;
    let failed = if p.failed > 0 {
        failed_items(store, &run.spec.id, FAILED_ITEMS_SHOWN).map_err(|e| anyhow!(e.cause))?
    } else {
        Vec::new()
    };
    let finished = p.succeeded + p.failed;
    Ok(json!({
        "mapRunArn": run.spec.arn,
        "state": run.spec.state,
        "status": if !run.done { "RUNNING" } else if p.failure.is_some() { "FAILED" } else { "SUCCEEDED" },
        "itemsSucceeded": p.succeeded,
        "itemsFailed": p.failed,
        "itemsRunning": p.started.saturating_sub(finished),
        "itemsPending": if p.source_done || run.done { json!(0) } else { json!(null) },
        "itemsRead": p.consumed,
        "failedItems": failed,
        "failedItemsNotShown": p.failed.saturating_sub(failed.len() as u64),
    }))
}

/// Prints an execution's history.
pub fn history(data_dir: &Path, id: &str, json_lines: bool) -> anyhow::Result<ExitCode> {
    let store = open_here(data_dir)?;
    if store.execution(id)?.is_none() {
        return Err(anyhow!("no execution '{id}'"));
    }
    let mut after = 0;
    loop {
        let page = store.history(id, after, HISTORY_PAGE)?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        print_history(&page, json_lines);
    }
    Ok(ExitCode::SUCCESS)
}

/// History events read per store call.
const HISTORY_PAGE: usize = 1000;

fn print_history(page: &[sluice_engine::effects::HistoryEvent], json_lines: bool) {
    for h in page {
        if json_lines {
            outln!(
                "{}",
                json!({"id": h.id, "timestamp_ms": h.timestamp_ms, "type": h.kind, "details": h.details})
            );
        } else {
            let name = h.details.get("name").and_then(|v| v.as_str()).unwrap_or("");
            outln!(
                "{:>5}  {}  {:<28} {name}",
                h.id,
                time(h.timestamp_ms),
                h.kind
            );
        }
    }
}
