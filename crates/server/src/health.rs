//! Liveness and readiness: `/healthz` answers while the process runs, `/readyz` once the store
//! answers and the engine drives executions.

use crate::ServerState;
use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;

/// How long the store may take to answer a readiness check.
const STORE_WAIT: Duration = Duration::from_secs(2);

/// `GET /healthz`: 200 while the process serves requests.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 when the store answers a read within [`STORE_WAIT`] and the engine runs,
/// else 503 with the reason.
pub async fn readyz(State(state): State<ServerState>) -> (StatusCode, String) {
    match not_ready(&state).await {
        None => (StatusCode::OK, "ready\n".into()),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// Why the node is not ready, if it is not.
async fn not_ready(state: &ServerState) -> Option<String> {
    if !state.engine.is_running() {
        return Some("the engine has stopped".into());
    }
    let store = state.store.clone();
    let read = tokio::task::spawn_blocking(move || store.list(1, false));
    match tokio::time::timeout(STORE_WAIT, read).await {
        Ok(Ok(Ok(_))) => None,
        Ok(Ok(Err(e))) => Some(format!("the store fails: {e}")),
        Ok(Err(e)) => Some(format!("the store read failed: {e}")),
        Err(_) => Some(format!("the store did not answer within {STORE_WAIT:?}")),
    }
}
