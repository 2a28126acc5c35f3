//! `GET /v1/events`: a server-sent event stream of execution changes. The stream reads the
//! store, so it shows the executions of every node sharing it: every half second it compares the
//! newest executions with what it sent and sends one `execution` event per execution that
//! started or changed status. It holds the status of at most [`WATCHED`] executions and ends
//! when the client goes away.

use super::{RestError, RestRequest};
use crate::ServerState;
use crate::sfn::read;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde_json::json;
use sluice_engine::model::Status;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How many of the newest executions each poll looks at.
const WATCHED: usize = 500;
/// How often the store is read.
const POLL: Duration = Duration::from_millis(500);
/// How long the stream stays silent before a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// What a stream remembers between polls.
struct Watch {
    state: ServerState,
    /// Status of each execution seen in the last poll; `None` before the first one.
    seen: Option<HashMap<String, Status>>,
    last_sent: Instant,
}

pub(super) async fn stream(state: ServerState, _: RestRequest) -> Result<Response, RestError> {
    let watch = Watch {
        state,
        seen: None,
        last_sent: Instant::now(),
    };
    let events = stream::unfold(watch, |mut watch| async move {
        loop {
            if watch.seen.is_some() {
                tokio::time::sleep(POLL).await;
            }
            let rows = read(&watch.state, |s| s.list(WATCHED, false)).await.ok()?;
            let first = watch.seen.is_none();
            let seen = watch.seen.take().unwrap_or_default();
            let mut text = String::new();
            for row in &rows {
                if !first && seen.get(&row.id) != Some(&row.status) {
                    let data = json!({
                        "id": row.id,
                        "flow": row.flow,
                        "status": row.status.as_str(),
                        "startMs": row.start_ms,
                        "stopMs": row.stop_ms,
                    });
                    text.push_str(&format!("event: execution\ndata: {data}\n\n"));
                }
            }
            watch.seen = Some(rows.into_iter().map(|r| (r.id, r.status)).collect());
            if first {
                text.push_str(": watching executions\n\n");
            } else if text.is_empty() && watch.last_sent.elapsed() >= KEEP_ALIVE {
                text.push_str(": keep-alive\n\n");
            }
            if !text.is_empty() {
                watch.last_sent = Instant::now();
                return Some((Ok::<_, std::io::Error>(Bytes::from(text)), watch));
            }
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(events),
    )
        .into_response())
}
