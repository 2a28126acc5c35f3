//! The web console in a real headless Chromium (Debian's `chromium`, driven by
//! `tests/console/run.mjs` with playwright-core): it starts examples/wordcount, opens the Map
//! state and reads a shard's output, shows a failed execution's failing state in red with its
//! error, redrives it to success, shows a retried and a caught state as such, checks the drawn boxes for overlaps, and times the first
//! paint of a 200-state flow and of a Map run of 100,000 items (printed, not asserted).
//! Screenshots are written to `target/console-screenshots/`. Without chromium, node or
//! `tests/console/node_modules` (`.ci/run` installs them) the test says it skipped, or fails
//! under `SLUICE_REQUIRE_SERVICES=1`.

mod common;

use common::server::Server;
use common::{copy_project, repo};
use serde_json::{Value, json};
use sluice_engine::testing::skip;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The token the node wants in this test.
const TOKEN: &str = "console-test-token";
/// How long an execution of the fixture may take (the Map of 100,000 items is the longest).
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// Items in the big Map run.
const WIDE_ITEMS: usize = 100_000;

/// The browser the test drives.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// What is missing to run the browser test, if anything.
fn missing() -> Option<String> {
    if !chromium().exists() {
        return Some(format!(
            "{} (apt-get install chromium)",
            chromium().display()
        ));
    }
    if !sluice_engine::testing::program_available("node") {
        return Some("node".into());
    }
    let module = repo().join("tests/console/node_modules/playwright-core");
    (!module.exists()).then(|| format!("{} (npm ci --prefix tests/console)", module.display()))
}

/// `GET /v1/...` or `POST` with a JSON body, with the token; the JSON answer.
fn rest(server: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let auth = format!("Bearer {TOKEN}");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let reply = server.http(
        method,
        &format!("/v1{path}"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert!(
        reply.status < 300,
        "{method} {path}: {} {}",
        reply.status,
        reply.text()
    );
    reply.json()
}

/// Starts an execution of `flow` named `name` and waits until it is no longer running.
fn run(server: &Server, flow: &str, name: &str, input: Value) -> Value {
    rest(
        server,
        "POST",
        &format!("/flows/{flow}/executions"),
        Some(json!({"name": name, "input": input})),
    );
    let deadline = Instant::now() + RUN_LIMIT;
    loop {
        let e = rest(server, "GET", &format!("/executions/{name}"), None);
        if e["status"] != "RUNNING" {
            return e;
        }
        assert!(Instant::now() < deadline, "{name} still runs: {e}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The console project: examples/wordcount with the fixture's flows and function on top, and
/// the items of the big Map in its storage.
fn project(dir: &Path) -> PathBuf {
    let project = dir.join("project");
    copy_project(&repo().join("examples/wordcount"), &project);
    copy_project(&repo().join("crates/cli/tests/fixtures/console"), &project);
    let items = project.join("data/items");
    std::fs::create_dir_all(&items).unwrap();
    let lines: String = (0..WIDE_ITEMS)
        .map(|i| format!("{{\"n\": {i}}}\n"))
        .collect();
    std::fs::write(items.join("wide.jsonl"), lines).unwrap();
    project
}

#[test]
fn the_console_starts_wordcount_shows_a_failure_and_redrives_it() {
    if let Some(what) = missing() {
        skip(&format!("the console's browser test needs {what}"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let project = project(dir.path());
    let server = Server::start_with(&dir.path().join("state"), &project, &["--token", TOKEN]);

    // The console's page is served at / without a token; the query protocol keeps its GETs.
    let page = server.http("GET", "/", &[], b"");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().contains("/console/app.js"), "{}", page.text());
    let module = server.http("GET", "/console/graph.js", &[], b"");
    assert!(
        module
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    let query = server.http("GET", "/?Action=ListQueues", &[], b"");
    assert!(
        !query.text().contains("<!doctype html>"),
        "{}",
        query.text()
    );

    let ids: Vec<u32> = (0..40).collect();
    let broken = run(&server, "flaky", "broken", json!({"ids": ids}));
    assert_eq!(broken["status"], "FAILED", "{broken}");
    std::fs::write(project.join("fixed"), "").unwrap();
    let long = run(&server, "long", "long-run", json!({"again": false}));
    assert_eq!(long["status"], "SUCCEEDED", "{long}");
    let recovered = run(&server, "recover", "recovered", json!({}));
    assert_eq!(recovered["status"], "SUCCEEDED", "{recovered}");
    let wide = run(&server, "wide", "wide-run", json!({}));
    assert_eq!(wide["status"], "SUCCEEDED", "{wide}");

    let shots = repo().join("target/console-screenshots");
    let out = Command::new("node")
        .arg(repo().join("tests/console/run.mjs"))
        .arg(format!("http://{}", server.addr))
        .arg(&shots)
        .args(["broken", "long-run", "wide-run", "recovered"])
        .env("CHROMIUM", chromium())
        .env("CONSOLE_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "run.mjs failed: {stdout}\n{}\nserver: {}",
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
    let results: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));

    assert_eq!(results["askedForToken"], true);
    assert_eq!(results["liveList"], true);
    assert_eq!(results["childAndBack"], true);
    assert!(
        results["shardOutput"]["records"].as_u64().unwrap() > 0,
        "{results}"
    );
    assert_eq!(results["failedState"], "Squares");
    assert_eq!(
        results["failedFill"], "rgb(247, 202, 202)",
        "the failed state is red"
    );
    let error = results["failedError"].as_str().unwrap();
    assert!(
        error.contains("States.ExceedToleratedFailureThreshold"),
        "{error}"
    );
    assert!(results["failedItems"].as_u64().unwrap() >= 1, "{results}");
    assert_eq!(results["redriven"], "SUCCEEDED");
    assert!(
        results["inputError"]
            .as_str()
            .unwrap()
            .starts_with("Line 4")
    );
    assert_eq!(
        results["wideRows"], 100,
        "the Map run view shows one page of items"
    );
    assert_eq!(results["external"], json!([]), "requests beyond the node");
    assert_eq!(results["pageErrors"], json!([]));
    for (flow, check) in results["overlaps"].as_object().unwrap() {
        assert!(check["boxes"].as_u64().unwrap() >= 3, "{flow}: {check}");
        assert_eq!(check["found"], json!([]), "{flow}");
    }
    assert_eq!(
        results["recovered"],
        json!({"Retried": "retried", "Caught": "caught", "Recovered": "succeeded"})
    );
    let work = &results["functions"]["work"];
    assert!(work["errors"].as_u64().unwrap() >= 1, "{work}");
    assert!(work["p99"].as_str().unwrap().ends_with('s'), "{work}");
    let screenshots = results["screenshots"].as_array().unwrap();
    assert!(screenshots.len() >= 8, "{screenshots:?}");
    let after = rest(&server, "GET", "/executions/broken", None);
    assert_eq!(after["status"], "SUCCEEDED", "{after}");
    eprintln!(
        "first paint: 200-state flow {} ms, Map run of {WIDE_ITEMS} items {} ms",
        results["longFirstPaintMs"], results["wideFirstPaintMs"]
    );
}
