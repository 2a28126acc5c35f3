//! HTTP as an integration, end to end through the `sluice` binary against a server on loopback:
//! `http:invoke` Tasks, `http:` functions called by flows and by `sluice invoke`, definition
//! substitutions, the project file's diagnostics and projects of functions only.

use super::common::{last_json_line, sluice};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};

/// A request the test server received.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    query: String,
    headers: HeaderMap,
    body: String,
}

/// An HTTP server on a free loopback port that records every request. `/missing` answers 404,
/// `/double` doubles the `n` of a JSON body, `/busy` answers 503, `/big` answers 300 KiB of
/// JSON, `/hang` never answers; anything else answers `{"ok": true, "seen": N}`. Stops when
/// dropped.
struct TestServer {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    _runtime: tokio::runtime::Runtime,
}

impl TestServer {
    fn start() -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                if uri.path() == "/hang" {
                    std::future::pending::<()>().await;
                }
                let request = Received {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    query: uri.query().unwrap_or_default().to_string(),
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let seen = {
                    let mut log = log.lock().unwrap();
                    log.push(request.clone());
                    log.len()
                };
                answer(&request, seen)
            }
        };
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(handler);
        runtime.spawn(async move { axum::serve(listener, app).await });
        TestServer {
            url,
            received,
            _runtime: runtime,
        }
    }

    /// The requests received on `path`.
    fn on(&self, path: &str) -> Vec<Received> {
        let log = self.received.lock().unwrap();
        log.iter().filter(|r| r.path == path).cloned().collect()
    }
}

fn answer(request: &Received, seen: usize) -> Response {
    let json_reply = |status: StatusCode, body: Value| {
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    };
    match request.path.as_str() {
        "/missing" => json_reply(StatusCode::NOT_FOUND, json!({"message": "no such order"})),
        "/busy" => (StatusCode::SERVICE_UNAVAILABLE, "try later").into_response(),
        "/big" => json_reply(StatusCode::OK, json!({"blob": "x".repeat(300 * 1024)})),
        "/double" => match serde_json::from_str::<Value>(&request.body) {
            Ok(event) => json_reply(
                StatusCode::OK,
                json!({"n": event["n"].as_i64().unwrap_or(0) * 2, "key": request.headers.get("x-key").and_then(|v| v.to_str().ok())}),
            ),
            Err(_) => (StatusCode::BAD_REQUEST, "not JSON").into_response(),
        },
        _ => json_reply(StatusCode::OK, json!({"ok": true, "seen": seen})),
    }
}

/// Writes `sluice.yaml` and the given flow files into `dir`.
fn project(dir: &Path, yaml: &str, flows: &[(&str, Value)]) {
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::write(dir.join("sluice.yaml"), yaml).unwrap();
    for (name, flow) in flows {
        std::fs::write(
            dir.join("flows").join(name),
            serde_json::to_string_pretty(flow).unwrap(),
        )
        .unwrap();
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `sluice run DIR --json` with `input`, the token of the `api` connection in the environment.
fn run(dir: &Path, input: Value) -> Value {
    let out = sluice(&dir.join(".sluice"))
        .env("SLUICE_TEST_API_TOKEN", "s3cret")
        .arg("run")
        .arg(dir)
        .args(["--json", "--input", &input.to_string()])
        .output()
        .unwrap();
    last_json_line(&out)
}

const CONNECTIONS: &str =
    "connections:\n  api: { type: bearer, token: { env: SLUICE_TEST_API_TOKEN } }\n";

#[test]
fn an_http_task_sends_query_headers_and_body_and_returns_the_response() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let flow = json!({
        "StartAt": "Create",
        "States": {
            "Create": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {
                    "ApiEndpoint": format!("{}/orders", server.url),
                    "Method": "POST",
                    "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:123456789012:connection/api/0f3c"},
                    "Headers": {"X-Trace": "t-1"},
                    "QueryParameters": {"page": "2", "q": "a b"},
                    "RequestBody": {"id.$": "$.id", "lines": [1, 2]}
                },
                "ResultSelector": {"status.$": "$.StatusCode", "text.$": "$.StatusText", "body.$": "$.ResponseBody", "type.$": "$.Headers.content-type"},
                "ResultPath": "$.created",
                "Next": "Tag"
            },
            "Tag": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {
                    "ApiEndpoint": format!("{}/tags", server.url),
                    "Method": "put",
                    "RequestBody": {"tags": ["x", "y"], "owner": {"name": "ann"}},
                    "Transform": {"RequestBodyEncoding": "URL_ENCODED", "RequestEncodingOptions": {"ArrayFormat": "BRACKETS"}}
                },
                "OutputPath": "$.ResponseBody",
                "End": true
            }
        }
    });
    project(
        dir.path(),
        &format!("{CONNECTIONS}flows:\n  main: flows/main.asl.json\n"),
        &[("main.asl.json", flow)],
    );
    let line = run(dir.path(), json!({"id": 7}));
    assert_eq!(line["status"], "SUCCEEDED", "{line}");
    assert_eq!(line["output"], json!({"ok": true, "seen": 2}));

    let created = server.on("/orders");
    assert_eq!(created.len(), 1);
    let r = &created[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.query, "page=2&q=a+b");
    assert_eq!(r.headers["x-trace"], "t-1");
    assert_eq!(r.headers["authorization"], "Bearer s3cret");
    assert_eq!(r.headers["content-type"], "application/json");
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body, json!({"id": 7, "lines": [1, 2]}));

    let tagged = server.on("/tags");
    assert_eq!(tagged.len(), 1);
    assert_eq!(tagged[0].method, "PUT");
    assert!(tagged[0].headers.get("authorization").is_none());
    assert_eq!(
        tagged[0].headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        tagged[0].body,
        "tags%5B%5D=x&tags%5B%5D=y&owner%5Bname%5D=ann"
    );

    let history = super::common::history(
        &dir.path().join(".sluice"),
        line["execution"].as_str().unwrap_or_default(),
    );
    let succeeded = history
        .iter()
        .find(|e| e["type"] == "TaskSucceeded")
        .expect("a TaskSucceeded event");
    let result: Value = match &succeeded["details"]["output"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        other => other.clone(),
    };
    assert_eq!(result["StatusCode"], 200, "{succeeded}");
    assert_eq!(result["StatusText"], "OK");
    assert_eq!(result["ResponseBody"], json!({"ok": true, "seen": 1}));
    assert_eq!(
        result["Headers"]["content-type"],
        json!(["application/json"])
    );
}

#[test]
fn a_404_fails_with_its_status_and_a_catch_gets_the_response() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let get = |path: &str| {
        json!({
            "Type": "Task",
            "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint": format!("{}{path}", server.url), "Method": "GET"},
            "End": true
        })
    };
    let mut fetch = get("/missing");
    fetch["Catch"] = json!([{"ErrorEquals": ["States.Http.StatusCode.404"], "ResultPath": "$.failure", "Next": "Missing"}]);
    let caught = json!({
        "StartAt": "Fetch",
        "States": {"Fetch": fetch, "Missing": {"Type": "Pass", "End": true}}
    });
    let uncaught = json!({"StartAt": "Fetch", "States": {"Fetch": get("/missing")}});
    project(
        dir.path(),
        "flows:\n  caught: flows/caught.asl.json\n  uncaught: flows/uncaught.asl.json\n",
        &[("caught.asl.json", caught), ("uncaught.asl.json", uncaught)],
    );
    let line = run(dir.path(), json!({"order": 1}));
    assert_eq!(line["status"], "SUCCEEDED", "{line}");
    let failure = &line["output"]["failure"];
    assert_eq!(failure["Error"], "States.Http.StatusCode.404");
    let cause: Value = serde_json::from_str(failure["Cause"].as_str().unwrap()).unwrap();
    assert_eq!(cause["StatusCode"], 404);
    assert_eq!(cause["StatusText"], "Not Found");
    assert_eq!(cause["ResponseBody"], json!({"message": "no such order"}));
    assert_eq!(line["output"]["order"], 1);

    let out = sluice(&dir.path().join(".sluice"))
        .arg("run")
        .arg(dir.path())
        .args(["--flow", "uncaught", "--json"])
        .output()
        .unwrap();
    let line = last_json_line(&out);
    assert_eq!(line["status"], "FAILED");
    assert_eq!(line["error"], "States.Http.StatusCode.404");
    assert_eq!(server.on("/missing").len(), 2);
}

/// A flow from the style of AWS's public collection: the function and the table are
/// placeholders the project fills in.
fn substituted_flow() -> Value {
    json!({
        "Comment": "Process an order, then record it",
        "StartAt": "Process",
        "States": {
            "Process": {
                "Type": "Task",
                "Resource": "${ProcessFunctionArn}",
                "ResultPath": "$.processed",
                "Next": "Record"
            },
            "Record": {
                "Type": "Pass",
                "Parameters": {"TableName": "${TableName}", "Item": {"n.$": "$.processed.n"}, "Note": "${!Literal}"},
                "End": true
            }
        }
    })
}

#[test]
fn an_http_function_is_called_by_a_flow_with_substitutions_and_by_invoke() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "functions:\n  double: {{ http: {}/double, headers: {{ X-Key: k1 }}, timeout: 5s }}\n  busy: {{ http: {}/busy }}\nflows:\n  main:\n    definition: flows/main.asl.json\n    DefinitionSubstitutions:\n      ProcessFunctionArn: arn:aws:lambda:us-east-1:123456789012:function:double\n      TableName: orders\n",
        server.url, server.url
    );
    project(dir.path(), &yaml, &[("main.asl.json", substituted_flow())]);
    let line = run(dir.path(), json!({"n": 21}));
    assert_eq!(line["status"], "SUCCEEDED", "{line}");
    assert_eq!(
        line["output"],
        json!({"TableName": "orders", "Item": {"n": 42}, "Note": "${Literal}"})
    );
    let calls = server.on("/double");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].headers["x-key"], "k1");
    assert!(calls[0].headers.contains_key("idempotency-key"));
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].body).unwrap(),
        json!({"n": 21})
    );

    let out = sluice(&dir.path().join(".sluice"))
        .arg("invoke")
        .arg(dir.path())
        .args(["double", "--input", r#"{"n": 4}"#, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(last_json_line(&out)["output"], json!({"n": 8, "key": "k1"}));

    let out = sluice(&dir.path().join(".sluice"))
        .arg("invoke")
        .arg(dir.path())
        .arg("busy")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("error: Http.503") && text.contains("cause: try later"),
        "{text}"
    );
}

#[test]
fn a_placeholder_without_a_substitution_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "functions:\n  double: { http: http://127.0.0.1:9/double }\nflows:\n  main:\n    definition: flows/main.asl.json\n    substitutions: { ProcessFunctionArn: double }\n",
        &[("main.asl.json", substituted_flow())],
    );
    let out = sluice(&dir.path().join(".sluice"))
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let file = dir.path().join("flows/main.asl.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("${TableName}"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("{}:{line}:", file.display()))
            && err.contains("no substitution for ${TableName}")
            && err.contains("hint: substitutions of this flow: ProcessFunctionArn"),
        "{err}"
    );
    assert!(err.contains("1 problem found"), "{err}");
}

#[test]
fn unknown_keys_are_refused_with_their_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "storage: file://./data\nflows:\n  main:\n    definition: flows/main.asl.json\n    substitution: { A: b }\nfunctions:\n  f: { http: http://127.0.0.1:9/, runtime: python3 }\n  g: { http: http://127.0.0.1:9/, connection: nowhere }\ncolour: red\n",
        &[(
            "main.asl.json",
            json!({"StartAt": "T", "States": {"T": {
                "Type": "Task",
                "Resource": "arn:aws:states:::http:invoke",
                "Parameters": {
                    "ApiEndpoint": "https://api.github.com/user",
                    "Method": "GET",
                    "Authentication": {"ConnectionArn": "arn:aws:events:us-east-1:123456789012:connection/github/5e1d"}
                },
                "End": true
            }}}),
        )],
    );
    let out = sluice(&dir.path().join(".sluice"))
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let file = dir.path().join("sluice.yaml").display().to_string();
    for expected in [
        format!(
            "{file}:5:5: field flows.main: unknown field 'substitution', expected one of DefinitionUri, definition, DefinitionSubstitutions, substitutions"
        ),
        format!(
            "{file}:9:1: unknown field 'colour', expected one of storage, state, objects, functions, flows, queues, topics, rules, triggers, connections"
        ),
        format!(
            "{file}:7:35: field functions.f.runtime: runtime is not a setting of an http function (http, headers, timeout, connection)"
        ),
        format!(
            "{file}:8:35: field functions.g.connection: the connection 'nowhere', which sluice.yaml does not declare (connections: none)"
        ),
        format!(
            "{}: an HTTP Task authenticates with the connection 'github', which sluice.yaml does not declare (connections: none)",
            dir.path().join("flows/main.asl.json").display()
        ),
        "5 problems found".to_string(),
    ] {
        assert!(err.contains(&expected), "{expected}\nnot in\n{err}");
    }
}

#[test]
fn a_project_of_functions_only_validates_invokes_and_serves_but_does_not_run() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        &format!(
            "{CONNECTIONS}functions:\n  double: {{ http: {}/double, connection: api }}\n",
            server.url
        ),
        &[],
    );
    let data = dir.path().join(".sluice");
    let out = sluice(&data)
        .env("SLUICE_TEST_API_TOKEN", "s3cret")
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}: ok (no flows, 1 function)\n", dir.path().display())
    );

    let out = sluice(&data)
        .env("SLUICE_TEST_API_TOKEN", "s3cret")
        .arg("run")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("declares no flows, only functions (call one with sluice invoke"),
        "{}",
        stderr(&out)
    );

    let out = sluice(&data)
        .env("SLUICE_TEST_API_TOKEN", "s3cret")
        .arg("invoke")
        .arg(dir.path())
        .args(["double", "--input", r#"{"n": 5}"#])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["n"], 10);
    assert_eq!(
        server.on("/double")[0].headers["authorization"],
        "Bearer s3cret"
    );

    let mut serve = sluice(&data)
        .env("SLUICE_TEST_API_TOKEN", "s3cret")
        .arg("serve")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(serve.stderr.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(first.starts_with("sluice: serving "), "{first}");
}

#[test]
fn responses_past_the_payload_limit_and_endpoints_that_never_answer_fail_the_task() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let big = json!({
        "StartAt": "Fetch",
        "States": {"Fetch": {
            "Type": "Task",
            "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint": format!("{}/big", server.url), "Method": "GET"},
            "End": true
        }}
    });
    let call = |function: &str| json!({"StartAt": "Call", "States": {"Call": {"Type": "Task", "Resource": format!("sluice:function:{function}"), "End": true}}});
    project(
        dir.path(),
        &format!(
            "functions:\n  big: {{ http: {0}/big }}\n  hang: {{ http: {0}/hang, timeout: 1s }}\nflows:\n  big: flows/big.asl.json\n  big-function: flows/big-function.asl.json\n  hang: flows/hang.asl.json\n",
            server.url
        ),
        &[
            ("big.asl.json", big),
            ("big-function.asl.json", call("big")),
            ("hang.asl.json", call("hang")),
        ],
    );
    for (flow, error) in [
        ("big", "States.DataLimitExceeded"),
        ("big-function", "States.DataLimitExceeded"),
        ("hang", "States.Timeout"),
    ] {
        let out = sluice(&dir.path().join(".sluice"))
            .arg("run")
            .arg(dir.path())
            .args(["--flow", flow, "--json"])
            .output()
            .unwrap();
        let line = last_json_line(&out);
        assert_eq!(line["status"], "FAILED", "{flow}: {line}");
        assert_eq!(line["error"], error, "{flow}: {line}");
    }
}
