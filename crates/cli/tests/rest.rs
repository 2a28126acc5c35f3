//! The node's REST API under `/v1` through a real `sluice serve`: flows, executions, history,
//! stop, paging, the OpenAPI document, the event stream and the bearer token.

mod common;

use common::server::Server;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn api_project(tmp: &std::path::Path) -> std::path::PathBuf {
    let project = tmp.join("project");
    common::copy_project(
        &common::repo().join("crates/cli/tests/fixtures/api"),
        &project,
    );
    project
}

fn get(server: &Server, path: &str) -> (u16, Value) {
    get_as(server, path, &[])
}

fn get_as(server: &Server, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let reply = server.http("GET", path, headers, b"");
    (reply.status, reply.json())
}

fn post(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let reply = server.http(
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    (reply.status, reply.json())
}

fn await_status(server: &Server, id: &str, status: &str) -> Value {
    await_status_as(server, id, status, &[])
}

fn await_status_as(server: &Server, id: &str, status: &str, headers: &[(&str, &str)]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, e) = get_as(server, &format!("/v1/executions/{id}"), headers);
        assert_eq!(code, 200, "{e}");
        if e["status"] == status {
            return e;
        }
        assert!(Instant::now() < deadline, "still {e}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn flows_and_executions_through_the_rest_api() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &api_project(tmp.path()));

    let (code, flows) = get(&server, "/v1/flows");
    assert_eq!(code, 200);
    let names: Vec<&str> = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"hello") && names.contains(&"nap"),
        "{names:?}"
    );
    let (code, hello) = get(&server, "/v1/flows/hello");
    assert_eq!(code, 200);
    assert!(
        hello["source"]
            .as_str()
            .unwrap()
            .contains("sluice:function:greet")
    );
    assert_eq!(get(&server, "/v1/flows/nothing").0, 404);

    for name in ["ada", "bo", "cy"] {
        let (code, started) = post(
            &server,
            "/v1/flows/hello/executions",
            json!({"name": name, "input": {"name": name}}),
        );
        assert_eq!(code, 200, "{started}");
        assert_eq!(started["id"], name);
    }
    let done = await_status(&server, "cy", "SUCCEEDED");
    assert_eq!(done["output"], json!({"greeting": "Hello, cy!"}));
    assert_eq!(done["flow"], "hello");
    await_status(&server, "ada", "SUCCEEDED");
    await_status(&server, "bo", "SUCCEEDED");
    // Same name, other input: a conflict.
    let (code, body) = post(
        &server,
        "/v1/flows/hello/executions",
        json!({"name": "ada", "input": {"name": "other"}}),
    );
    assert_eq!(
        (code, body["error"].as_str()),
        (409, Some("ExecutionAlreadyExists"))
    );

    // Pages of one, newest first, then nothing more.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(n) => format!("/v1/executions?flow=hello&limit=1&next={n}"),
            None => "/v1/executions?flow=hello&limit=1".to_string(),
        };
        let (code, page) = get(&server, &path);
        assert_eq!(code, 200, "{page}");
        seen.extend(
            page["executions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(n) => next = Some(n.to_string()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["ada", "bo", "cy"]);
    let (_, failed) = get(&server, "/v1/executions?status=FAILED");
    assert_eq!(failed["executions"], json!([]));
    // By name prefix and start time.
    let ids = |path: &str| -> Vec<String> {
        let (code, page) = get(&server, path);
        assert_eq!(code, 200, "{page}");
        page["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("/v1/executions?prefix=b"), ["bo"]);
    let (_, cy) = get(&server, "/v1/executions/cy");
    let cy_start = cy["startMs"].as_i64().unwrap();
    assert!(ids(&format!("/v1/executions?since={cy_start}")).contains(&"cy".to_string()));
    assert!(!ids(&format!("/v1/executions?until={cy_start}")).contains(&"cy".to_string()));
    assert_eq!(get(&server, "/v1/executions?since=yesterday").0, 400);
    // The flow's graph: a box per state, laid out.
    let (code, graph) = get(&server, "/v1/flows/hello/graph");
    assert_eq!(code, 200, "{graph}");
    let boxes = graph["nodes"].as_array().unwrap();
    assert!(
        !boxes.is_empty() && boxes.iter().all(|n| n["w"].as_f64().unwrap() > 0.0),
        "{graph}"
    );
    assert_eq!(get(&server, "/v1/flows/nothing/graph").0, 404);
    assert_eq!(get(&server, "/v1/executions?status=BORED").0, 400);
    assert_eq!(get(&server, "/v1/executions?limit=5000").0, 400);

    // History in pages.
    let (_, first) = get(&server, "/v1/executions/cy/history?limit=2");
    assert_eq!(first["events"].as_array().unwrap().len(), 2);
    assert_eq!(first["events"][0]["kind"], "ExecutionStarted");
    let after = first["next"].as_u64().unwrap();
    let (_, rest) = get(&server, &format!("/v1/executions/cy/history?after={after}"));
    let kinds: Vec<&str> = rest["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.last(), Some(&"ExecutionSucceeded"));
    assert_eq!(rest["next"], Value::Null);
    assert_eq!(get(&server, "/v1/executions/nobody/history").0, 404);

    // Stop a long one.
    post(
        &server,
        "/v1/flows/nap/executions",
        json!({"name": "sleeper"}),
    );
    await_status(&server, "sleeper", "RUNNING");
    let (code, _) = post(
        &server,
        "/v1/executions/sleeper/stop",
        json!({"error": "Enough"}),
    );
    assert_eq!(code, 200);
    assert_eq!(
        await_status(&server, "sleeper", "ABORTED")["error"],
        "Enough"
    );

    // The functions, warm after the calls above, and what greet printed.
    let (code, functions) = get(&server, "/v1/functions");
    assert_eq!(code, 200);
    let greet = functions["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "greet")
        .cloned()
        .unwrap();
    assert!(greet["invocations"].as_u64().unwrap() >= 3, "{greet}");
    assert!(greet["instances"].as_u64().unwrap() >= 1, "{greet}");
    assert_eq!(greet["errors"], 0, "{greet}");
    let (p50, p99) = (
        greet["p50Ms"].as_f64().unwrap(),
        greet["p99Ms"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99, "{greet}");
    let (code, logs) = get(&server, "/v1/functions/greet/logs?tail=2");
    assert_eq!(code, 200);
    let lines = logs["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{logs}");
    assert!(
        lines
            .iter()
            .all(|l| l["line"].as_str().unwrap().starts_with("greeting ")),
        "{logs}"
    );
    assert_eq!(get(&server, "/v1/functions/nothing/logs").0, 404);

    // Malformed bodies are refused.
    let reply = server.http("POST", "/v1/flows/hello/executions", &[], b"{nope");
    assert_eq!(reply.status, 400);
}

#[test]
fn the_openapi_document_describes_every_route() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &api_project(tmp.path()));
    let (code, doc) = get(&server, "/v1/openapi.json");
    assert_eq!(code, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/flows", "get"),
        ("/v1/flows/{name}/executions", "post"),
        ("/v1/executions/{id}/history", "get"),
        ("/v1/executions/{id}/stop", "post"),
        ("/v1/events", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{path} {method}");
    }
    // Every GET without parameters answers.
    for (path, item) in paths {
        if item.get("get").is_some() && !path.contains('{') && path != "/v1/events" {
            assert_eq!(get(&server, path).0, 200, "{path}");
        }
    }
}

#[test]
fn the_event_stream_reports_executions_that_start_and_end() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &api_project(tmp.path()));
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /v1/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut lines = BufReader::new(stream).lines();
    // The stream says it is watching before anything is started.
    for line in lines.by_ref() {
        if line.unwrap().contains("watching executions") {
            break;
        }
    }
    post(
        &server,
        "/v1/flows/hello/executions",
        json!({"name": "streamed", "input": {"name": "Sse"}}),
    );
    let mut statuses = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            let event: Value = serde_json::from_str(data).unwrap();
            if event["id"] == "streamed" {
                statuses.push(event["status"].as_str().unwrap().to_string());
                if event["status"] == "SUCCEEDED" {
                    break;
                }
            }
        }
    }
    assert_eq!(statuses.last().map(String::as_str), Some("SUCCEEDED"));
}

#[test]
fn a_token_guards_the_rest_api_when_configured() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &api_project(tmp.path()),
        &["--token", "t0ken"],
    );
    assert_eq!(server.http("GET", "/v1/flows", &[], b"").status, 401);
    let wrong = server.http("GET", "/v1/flows", &[("Authorization", "Bearer nope")], b"");
    assert_eq!(wrong.status, 401);
    let right = server.http(
        "GET",
        "/v1/flows",
        &[("Authorization", "Bearer t0ken")],
        b"",
    );
    assert_eq!(right.status, 200);
    assert_eq!(server.http("GET", "/healthz", &[], b"").status, 200);
}

const BEARER: &[(&str, &str)] = &[("Authorization", "Bearer t0ken")];

#[test]
fn the_cli_works_against_a_node_with_server() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &tmp.path().join("data"),
        &api_project(tmp.path()),
        &["--token", "t0ken"],
    );
    let elsewhere = tmp.path().join("elsewhere");
    let cli = |args: &[&str]| {
        let out = common::sluice(&elsewhere)
            .args(["--server", &format!("http://{}", server.addr)])
            .args(["--server-token", "t0ken"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&[
        "start",
        "hello",
        "--name",
        "c1",
        "--input",
        r#"{"name": "Cli"}"#,
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("execution:hello:c1"), "{out}");
    await_status_as(&server, "c1", "SUCCEEDED", BEARER);
    let (_, out, _) = cli(&["describe", "c1"]);
    let described: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(described["output"], json!({"greeting": "Hello, Cli!"}));
    let (_, out, _) = cli(&["list"]);
    assert!(out.lines().any(|l| l.contains("\"c1\"")), "{out}");
    let (_, out, _) = cli(&["history", "c1"]);
    assert!(
        out.lines().last().unwrap().contains("ExecutionSucceeded"),
        "{out}"
    );
    cli(&["start", "nap", "--name", "n1"]);
    await_status_as(&server, "n1", "RUNNING", BEARER);
    let (code, out, err) = cli(&["stop", "n1", "--error", "Enough"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("ABORTED"), "{out}");
    // The node's errors come through; a wrong token is refused.
    let (code, _, err) = cli(&["describe", "nobody"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("NotFound (404): no execution 'nobody'"),
        "{err}"
    );
    let out = common::sluice(&elsewhere)
        .args(["--server", &format!("http://{}", server.addr), "list"])
        .args(["--server-token", "wrong"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("(401)"));
    // Without a node, start says what it needs.
    let out = common::sluice(&elsewhere)
        .args(["start", "hello"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("start needs a running node"));
}
