//! The change-data-capture endpoints of `/v1`: each source's phase, snapshot progress,
//! positions, lag and rate, and the re-snapshot an operator asks for after a lost slot.

use super::{RestError, RestRequest, json_response};
use crate::ServerState;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use sluice_engine::store::CdcCheckpoint;

/// The stored checkpoints, by source.
async fn checkpoints(state: &ServerState) -> Result<Vec<CdcCheckpoint>, RestError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || store.cdc_checkpoints())
        .await
        .map_err(|e| RestError::bad(e.to_string()))?
        .map_err(|e| RestError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "StoreUnavailable",
            message: e.to_string(),
        })
}

/// A source as shown: what this node knows live, with what the store holds (the lease owner,
/// and the stored phase and position, which are all there is while another node runs it).
fn view(live: &sluice_cdc::Status, stored: Option<&CdcCheckpoint>) -> Value {
    let mut out = live.to_json();
    if let Some(c) = stored {
        out["owner"] = json!(c.owner);
        out["storedPhase"] = json!(c.phase);
        let (key, position) = sluice_cdc::status::stored_position(c);
        out[key] = json!(position);
        out["storedAt"] = json!(c.updated_ms);
        if out["error"].is_null() {
            out["error"] = json!(c.error);
        }
    }
    out
}

pub(super) async fn list(state: ServerState, _: RestRequest) -> Result<Response, RestError> {
    let stored = checkpoints(&state).await?;
    let sources: Vec<Value> = state
        .cdc
        .iter()
        .map(|live| view(live, stored.iter().find(|c| c.source == live.name())))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "sources": sources }),
    ))
}

pub(super) async fn resnapshot(state: ServerState, r: RestRequest) -> Result<Response, RestError> {
    let name = r.param("name").to_string();
    if !state.cdc.iter().any(|s| s.name() == name) {
        return Err(RestError::not_found(format!("no CDC source {name}")));
    }
    let store = state.store.clone();
    let source = name.clone();
    let reset = tokio::task::spawn_blocking(move || store.cdc_reset(&source))
        .await
        .map_err(|e| RestError::bad(e.to_string()))?
        .map_err(|e| RestError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "StoreUnavailable",
            message: e.to_string(),
        })?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "source": name, "reset": reset }),
    ))
}

/// The sources' gauges for `/metrics`.
pub fn metrics(state: &ServerState) -> Vec<crate::metrics::Metric> {
    use crate::metrics::Metric;
    let mut lag = Vec::new();
    let mut events = Vec::new();
    let mut rows = Vec::new();
    let mut phase = Vec::new();
    for s in state.cdc.iter() {
        let name = s.name().to_string();
        lag.push((vec![("source", name.clone())], s.lag_bytes()));
        events.push((vec![("source", name.clone())], s.events()));
        for (table, p) in s.tables() {
            rows.push((vec![("source", name.clone()), ("table", table)], p.rows));
        }
        phase.push((
            vec![("source", name), ("phase", s.phase().as_str().to_string())],
            1,
        ));
    }
    vec![
        Metric {
            name: "sluice_cdc_lag_bytes",
            help: "WAL bytes between the server's position and the source's stored position.",
            kind: "gauge",
            samples: lag,
        },
        Metric {
            name: "sluice_cdc_events_total",
            help: "Changes the source's sink accepted in this process.",
            kind: "counter",
            samples: events,
        },
        Metric {
            name: "sluice_cdc_snapshot_rows",
            help: "Rows of each table the snapshot delivered.",
            kind: "gauge",
            samples: rows,
        },
        Metric {
            name: "sluice_cdc_phase",
            help: "The source's phase (1 for the current one).",
            kind: "gauge",
            samples: phase,
        },
    ]
}
