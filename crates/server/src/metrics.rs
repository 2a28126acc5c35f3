//! `GET /metrics`: the engine's counters in the Prometheus text exposition format (0.0.4).

use crate::ServerState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use sluice_engine::driver::Stats;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The content type of the text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric: its name, help text, type, and samples (label pairs and value).
pub struct Metric {
    /// The metric name, e.g. `sluice_commits_total`.
    pub name: &'static str,
    /// What it counts.
    pub help: &'static str,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    /// Each sample's labels and value.
    pub samples: Vec<(Vec<(&'static str, String)>, u64)>,
}

impl Metric {
    /// A counter with one unlabelled sample.
    fn counter(name: &'static str, help: &'static str, value: &AtomicU64) -> Metric {
        Metric {
            name,
            help,
            kind: "counter",
            samples: vec![(Vec::new(), value.load(Ordering::Relaxed))],
        }
    }
}

/// Renders metrics in the text exposition format: `# HELP`, `# TYPE`, then one line per
/// sample, label values escaped.
pub fn render(metrics: &[Metric]) -> String {
    let mut out = String::new();
    for m in metrics {
        let _ = writeln!(out, "# HELP {} {}", m.name, m.help);
        let _ = writeln!(out, "# TYPE {} {}", m.name, m.kind);
        for (labels, value) in &m.samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| {
                    let v = v
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    format!("{k}=\"{v}\"")
                })
                .collect();
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", m.name);
            } else {
                let _ = writeln!(out, "{}{{{}}} {value}", m.name, labels.join(","));
            }
        }
    }
    out
}

/// The engine's counters as metrics.
pub fn engine_metrics(stats: &Stats) -> Vec<Metric> {
    let ended = [
        ("SUCCEEDED", &stats.succeeded),
        ("FAILED", &stats.failed),
        ("TIMED_OUT", &stats.timed_out),
        ("ABORTED", &stats.aborted),
    ];
    vec![
        Metric::counter(
            "sluice_executions_started_total",
            "Executions started by this process.",
            &stats.started,
        ),
        Metric {
            name: "sluice_executions_finished_total",
            help: "Executions that ended in this process, by status.",
            kind: "counter",
            samples: ended
                .iter()
                .map(|(status, n)| {
                    (
                        vec![("status", status.to_string())],
                        n.load(Ordering::Relaxed),
                    )
                })
                .collect(),
        },
        Metric::counter(
            "sluice_executions_claimed_total",
            "Executions taken over from the store (left by another process or an earlier run).",
            &stats.claimed,
        ),
        Metric::counter(
            "sluice_state_transitions_total",
            "States entered.",
            &stats.transitions,
        ),
        Metric::counter(
            "sluice_store_commits_total",
            "Group commits written to the store.",
            &stats.commits,
        ),
        Metric::counter(
            "sluice_task_invocations_total",
            "Task invocations dispatched (functions and integrations).",
            &stats.invocations,
        ),
        Metric::counter(
            "sluice_map_items_started_total",
            "Distributed Map items (or batches) started.",
            &stats.items_started,
        ),
        Metric::counter(
            "sluice_map_items_succeeded_total",
            "Distributed Map items (or batches) that succeeded.",
            &stats.items_succeeded,
        ),
        Metric::counter(
            "sluice_map_items_failed_total",
            "Distributed Map items (or batches) that failed.",
            &stats.items_failed,
        ),
    ]
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<ServerState>) -> impl IntoResponse {
    let mut all = engine_metrics(state.engine.stats());
    all.push(Metric {
        name: "sluice_state_machines",
        help: "State machines served.",
        kind: "gauge",
        samples: vec![(Vec::new(), state.flows.len() as u64)],
    });
    if let Some(functions) = &state.functions {
        all.push(Metric::counter(
            "sluice_lambda_invocations_total",
            "Function invocations through the Lambda Invoke API.",
            functions.invocations(),
        ));
    }
    all.extend(crate::rest::cdc::metrics(&state));
    if let Some(queues) = state.queues.clone() {
        let depths = tokio::task::spawn_blocking(move || queue_metrics(&queues)).await;
        all.extend(depths.unwrap_or_default());
    }
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT))],
        render(&all),
    )
}

/// Each queue's depth by state and the age of its oldest message (queues the store cannot
/// count now are left out).
fn queue_metrics(queues: &sluice_queues::Queues) -> Vec<Metric> {
    let mut depth = Vec::new();
    let mut age = Vec::new();
    let now = chrono::Utc::now().timestamp_millis();
    for q in queues.all() {
        let Ok(stats) = queues.stats(&q.name) else {
            continue;
        };
        for (state, n) in [
            ("ready", stats.ready),
            ("delayed", stats.delayed),
            ("in_flight", stats.in_flight),
            ("failed", stats.failed),
        ] {
            depth.push((
                vec![("queue", q.name.clone()), ("state", state.to_string())],
                n,
            ));
        }
        let oldest = stats
            .oldest_sent_ms
            .map_or(0, |ms| ((now - ms).max(0) / 1000) as u64);
        age.push((vec![("queue", q.name.clone())], oldest));
    }
    vec![
        Metric {
            name: "sluice_queue_messages",
            help: "Messages on each queue, by state.",
            kind: "gauge",
            samples: depth,
        },
        Metric {
            name: "sluice_queue_oldest_message_age_seconds",
            help: "Age of each queue's oldest message not failed (0 when empty).",
            kind: "gauge",
            samples: age,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_labelled_samples() {
        let stats = Stats::default();
        stats.commits.store(7, Ordering::Relaxed);
        stats.failed.store(2, Ordering::Relaxed);
        let text = render(&engine_metrics(&stats));
        assert!(text.contains(
            "# HELP sluice_store_commits_total Group commits written to the store.\n\
             # TYPE sluice_store_commits_total counter\n\
             sluice_store_commits_total 7\n"
        ));
        assert!(text.contains("sluice_executions_finished_total{status=\"FAILED\"} 2\n"));
        assert!(text.contains("sluice_executions_finished_total{status=\"SUCCEEDED\"} 0\n"));
        // Every sample line is `name[{labels}] value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<u64>().is_ok(), "{line}");
            assert!(name.starts_with("sluice_"), "{line}");
        }
    }
}
