//! `sluice logs`: what functions printed, per function or per execution.

use crate::invoker::requests_path;
use anyhow::bail;
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Prints the log lines of a function, or of every function call an execution made.
pub fn logs(data_dir: &Path, target: &str, json_out: bool) -> anyhow::Result<ExitCode> {
    let log_dir = data_dir.join("logs");
    let function_file = log_dir.join(format!("{target}.jsonl"));
    let lines: Vec<Value> = if function_file.exists() {
        json_lines(&function_file)
    } else {
        let requests: HashSet<String> = json_lines(&requests_path(&log_dir))
            .into_iter()
            .filter(|r| {
                r["execution"]
                    .as_str()
                    .is_some_and(|e| e == target || e.ends_with(&format!(":{target}")))
            })
            .filter_map(|r| r["request_id"].as_str().map(str::to_string))
            .collect();
        if requests.is_empty() {
            bail!(
                "no function named '{target}' has logs and no execution '{target}' called a function"
            );
        }
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&log_dir)?.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "jsonl") && path != requests_path(&log_dir) {
                out.extend(json_lines(&path).into_iter().filter(|l| {
                    l["request_id"]
                        .as_str()
                        .is_some_and(|r| requests.contains(r))
                }));
            }
        }
        out.sort_by(|a, b| a["ts"].as_str().cmp(&b["ts"].as_str()));
        out
    };
    for l in lines {
        if json_out {
            outln!("{l}");
        } else {
            outln!(
                "{} {:<10} {:<36} {}",
                l["ts"].as_str().unwrap_or(""),
                l["function"].as_str().unwrap_or(""),
                l["request_id"].as_str().unwrap_or("init"),
                l["line"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
