//! The node's own REST API under `/v1`: flows, executions, their history, map runs and their
//! items, functions, and a stream of execution changes. JSON in and out; errors are
//! `{"error": CODE, "message": TEXT}` with a 4xx or 5xx status.
//!
//! Every endpoint is a row of [`ENDPOINTS`]: the router and the OpenAPI 3.1 document served at
//! `/v1/openapi.json` are both built from that table, so they cannot disagree.

pub(crate) mod cdc;
mod events;
mod handlers;
mod queues;
mod topics;

use crate::ServerState;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

/// What a handler gets: the path's parameters, the query's, and the body.
pub struct RestRequest {
    /// Path parameters by name (`{id}` in the route).
    pub path: HashMap<String, String>,
    /// Query parameters by name (the last of repeated ones).
    pub query: HashMap<String, String>,
    /// The request body.
    pub body: Bytes,
}

impl RestRequest {
    /// A path parameter (present by construction of the route).
    fn param(&self, name: &str) -> &str {
        self.path.get(name).map_or("", String::as_str)
    }

    /// A query parameter parsed as a number, `default` when absent, refused beyond `max`.
    fn number(&self, name: &str, default: u64, max: u64) -> Result<u64, RestError> {
        match self.query.get(name) {
            None => Ok(default),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(RestError::bad(format!(
                    "{name} must be a whole number from 0 to {max}, not {text:?}"
                ))),
            },
        }
    }

    /// The body as a JSON object (`{}` when empty).
    fn json(&self) -> Result<Map<String, Value>, RestError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        match serde_json::from_slice(&self.body) {
            Ok(Value::Object(fields)) => Ok(fields),
            Ok(_) => Err(RestError::bad("the body must be a JSON object")),
            Err(e) => Err(RestError::bad(format!("the body is not valid JSON: {e}"))),
        }
    }
}

/// An error answer.
#[derive(Debug)]
pub struct RestError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A short code (`BadRequest`, `NotFound`, ...).
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl RestError {
    /// 400: the request is malformed.
    pub fn bad(message: impl Into<String>) -> RestError {
        RestError {
            status: StatusCode::BAD_REQUEST,
            code: "BadRequest",
            message: message.into(),
        }
    }

    /// 404: nothing by that name.
    pub fn not_found(message: impl Into<String>) -> RestError {
        RestError {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            message: message.into(),
        }
    }
}

impl From<crate::ApiError> for RestError {
    fn from(e: crate::ApiError) -> RestError {
        let status = match e.code {
            "ExecutionDoesNotExist"
            | "StateMachineDoesNotExist"
            | "ResourceNotFound"
            | "TaskDoesNotExist" => StatusCode::NOT_FOUND,
            "ExecutionAlreadyExists" | "ExecutionNotRedrivable" | "TaskTimedOut" => {
                StatusCode::CONFLICT
            }
            _ => e.status,
        };
        RestError {
            status,
            code: e.code,
            message: e.message,
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.code, "message": self.message});
        json_response(self.status, &body)
    }
}

/// A JSON answer.
fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The future a handler returns.
type Answer = Pin<Box<dyn Future<Output = Result<Response, RestError>> + Send>>;

/// One endpoint: how it is routed, what it does, and how the OpenAPI document describes it.
pub struct Endpoint {
    /// `GET`, `POST`, ...
    pub method: &'static str,
    /// The path under `/v1`, with `{name}` parameters.
    pub path: &'static str,
    /// The OpenAPI `operationId`.
    pub operation: &'static str,
    /// What it does.
    pub summary: &'static str,
    /// Query parameters: name and description.
    pub query: &'static [(&'static str, &'static str)],
    /// What the request body holds, if it takes one.
    pub body: Option<&'static str>,
    /// The handler.
    pub handler: fn(ServerState, RestRequest) -> Answer,
}

/// Every endpoint of `/v1`.
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "GET",
        path: "/flows",
        operation: "listFlows",
        summary: "The flows served, with their state machine ARNs.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(handlers::list_flows(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/flows/{name}",
        operation: "getFlow",
        summary: "One flow with its definition's source.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(handlers::get_flow(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/flows/{name}/graph",
        operation: "getFlowGraph",
        summary: "A flow drawn as boxes and arrows: nodes (states, Parallel branches; Map processors and branches nested in their state's box) with a computed layout (x, y, w, h), and edges (next, choice, default, catch; back for loops).",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(handlers::flow_graph(s, r)),
    },
    Endpoint {
        method: "POST",
        path: "/flows/{name}/executions",
        operation: "startExecution",
        summary: "Starts an execution of the flow (idempotent by name and input).",
        query: &[],
        body: Some("{\"name\"?: string, \"input\"?: any JSON}"),
        handler: |s, r| Box::pin(handlers::start_execution(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/executions",
        operation: "listExecutions",
        summary: "Executions, newest first, in pages.",
        query: &[
            ("flow", "only this flow's"),
            (
                "status",
                "only RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED ones",
            ),
            (
                "children",
                "true to include the children of Distributed Maps",
            ),
            ("prefix", "only those whose name starts with this"),
            (
                "since",
                "only those started at or after this time, epoch ms",
            ),
            ("until", "only those started before this time, epoch ms"),
            ("limit", "page size, 1 to 1000 (100)"),
            ("next", "the `next` of the previous page"),
        ],
        body: None,
        handler: |s, r| Box::pin(handlers::list_executions(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/executions/{id}",
        operation: "getExecution",
        summary: "One execution: status, input, output, error, who drives it, who started it.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(handlers::get_execution(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/executions/{id}/history",
        operation: "getHistory",
        summary: "An execution's history events, oldest first, in pages.",
        query: &[
            ("after", "only events with a larger id (0)"),
            ("limit", "page size, 1 to 1000 (100)"),
        ],
        body: None,
        handler: |s, r| Box::pin(handlers::history(s, r)),
    },
    Endpoint {
        method: "POST",
        path: "/executions/{id}/stop",
        operation: "stopExecution",
        summary: "Stops a running execution, its Distributed Map children and the child flows it waits for.",
        query: &[],
        body: Some("{\"error\"?: string, \"cause\"?: string}"),
        handler: |s, r| Box::pin(handlers::stop(s, r)),
    },
    Endpoint {
        method: "POST",
        path: "/executions/{id}/redrive",
        operation: "redriveExecution",
        summary: "Restarts a failed, timed out or aborted execution from where it stopped.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(handlers::redrive(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/executions/{id}/map-runs",
        operation: "listMapRuns",
        summary: "The Distributed Map runs of an execution and their progress.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(handlers::map_runs(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/map-runs/{run}/items",
        operation: "listMapItems",
        summary: "A map run's finished items in index order, in pages.",
        query: &[
            ("from", "the first index (0)"),
            ("limit", "page size, 1 to 1000 (100)"),
        ],
        body: None,
        handler: |s, r| Box::pin(handlers::map_items(s, r)),
    },
    Endpoint {
        method: "POST",
        path: "/task-tokens/success",
        operation: "sendTaskSuccess",
        summary: "Completes the `.waitForTaskToken` Task a token names with an output.",
        query: &[],
        body: Some("{\"token\": string, \"output\": any JSON}"),
        handler: |s, r| Box::pin(handlers::task_token(s, r, "SendTaskSuccess")),
    },
    Endpoint {
        method: "POST",
        path: "/task-tokens/failure",
        operation: "sendTaskFailure",
        summary: "Fails the `.waitForTaskToken` Task a token names with an error and cause.",
        query: &[],
        body: Some("{\"token\": string, \"error\"?: string, \"cause\"?: string}"),
        handler: |s, r| Box::pin(handlers::task_token(s, r, "SendTaskFailure")),
    },
    Endpoint {
        method: "POST",
        path: "/task-tokens/heartbeat",
        operation: "sendTaskHeartbeat",
        summary: "Restarts the heartbeat clock of the Task a token names.",
        query: &[],
        body: Some("{\"token\": string}"),
        handler: |s, r| Box::pin(handlers::task_token(s, r, "SendTaskHeartbeat")),
    },
    Endpoint {
        method: "GET",
        path: "/cdc",
        operation: "listCdcSources",
        summary: "The CDC sources: phase (standby, snapshot, streaming, failed), snapshot rows per table, stored LSN and time, lag in WAL bytes, events per second, last error, lease owner.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(cdc::list(s, r)),
    },
    Endpoint {
        method: "POST",
        path: "/cdc/{name}/resnapshot",
        operation: "resnapshotCdcSource",
        summary: "Forgets a CDC source's position: the node running it drops its slot and takes a new snapshot.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(cdc::resnapshot(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/queues",
        operation: "listQueues",
        summary: "The queues with their settings, depths (ready, delayed, in flight, failed) and oldest message.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(queues::list(s, r)),
    },
    Endpoint {
        method: "POST",
        path: "/queues/{name}/messages",
        operation: "sendMessages",
        summary: "Sends a message (or `messages`, a list of them) onto a queue; answers once durable.",
        query: &[],
        body: Some(
            "{\"body\": string or JSON, \"delaySeconds\"?: number, \"attributes\"?: SQS message attributes} or {\"messages\": [...]}",
        ),
        handler: |s, r| Box::pin(queues::send(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/queues/{name}/messages",
        operation: "peekMessages",
        summary: "A queue's messages in order, without receiving them; the failed ones with failed=true.",
        query: &[
            ("limit", "how many, up to 1000 (100)"),
            ("failed", "true for the messages that failed for good"),
        ],
        body: None,
        handler: |s, r| Box::pin(queues::peek(s, r)),
    },
    Endpoint {
        method: "POST",
        path: "/queues/{name}/purge",
        operation: "purgeQueue",
        summary: "Deletes every message of a queue.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(queues::purge(s, r)),
    },
    Endpoint {
        method: "POST",
        path: "/queues/{name}/redrive",
        operation: "redriveQueue",
        summary: "Moves the messages of a queue's dead-letter queue (or its failed ones) back onto it.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(queues::redrive(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/topics",
        operation: "listTopics",
        summary: "The topics with their subscribers: where each delivers, its filter policy and its delivery queue.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(topics::list(s, r)),
    },
    Endpoint {
        method: "POST",
        path: "/topics/{name}/messages",
        operation: "publish",
        summary: "Publishes a message on a topic; answers once every delivery (to the subscribers whose filter it passes) is durable.",
        query: &[],
        body: Some(
            "{\"message\": string or JSON, \"subject\"?: string, \"attributes\"?: SNS message attributes}",
        ),
        handler: |s, r| Box::pin(topics::publish(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/rules",
        operation: "listRules",
        summary: "The event bus rules with their patterns and targets.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(topics::rules(s, r)),
    },
    Endpoint {
        method: "POST",
        path: "/events",
        operation: "putEvents",
        summary: "Puts events on the bus (EventBridge PutEvents entries); answers once every delivery is durable.",
        query: &[],
        body: Some(
            "{\"Entries\": [{\"Source\", \"DetailType\", \"Detail\": object or JSON text, \"EventBusName\"?, \"Resources\"?, \"Time\"?}]}",
        ),
        handler: |s, r| Box::pin(topics::put_events(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/functions",
        operation: "listFunctions",
        summary: "The project's functions: warm instances (busy, idle), callers waiting, invocations, errors, cold starts, p50 and p99 duration of the recent invocations (ms).",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(handlers::functions(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/functions/{name}/logs",
        operation: "functionLogs",
        summary: "The last lines a function printed, with their request ids.",
        query: &[("tail", "how many lines, up to 10000 (100)")],
        body: None,
        handler: |s, r| Box::pin(handlers::function_logs(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/events",
        operation: "executionEvents",
        summary: "Server-sent events: one `execution` event per execution that started or changed status, from any node sharing the store.",
        query: &[],
        body: None,
        handler: |s, r| Box::pin(events::stream(s, r)),
    },
    Endpoint {
        method: "GET",
        path: "/openapi.json",
        operation: "openApi",
        summary: "This document.",
        query: &[],
        body: None,
        handler: |_, _| Box::pin(async { Ok(json_response(StatusCode::OK, &openapi())) }),
    },
];

/// The routes of every endpoint, under `/v1`.
pub fn routes() -> Router<ServerState> {
    let mut router = Router::new();
    for endpoint in ENDPOINTS {
        let filter = match endpoint.method {
            "POST" => MethodFilter::POST,
            _ => MethodFilter::GET,
        };
        let handler = endpoint.handler;
        router = router.route(
            &format!("/v1{}", endpoint.path),
            on(
                filter,
                move |State(state): State<ServerState>,
                      path: Option<Path<HashMap<String, String>>>,
                      uri: Uri,
                      body: Bytes| async move {
                    let request = RestRequest {
                        path: path.map(|Path(p)| p).unwrap_or_default(),
                        query: query_pairs(uri.query().unwrap_or_default()),
                        body,
                    };
                    handler(state, request)
                        .await
                        .unwrap_or_else(IntoResponse::into_response)
                },
            ),
        );
    }
    router
}

/// The query string's parameters, decoded.
fn query_pairs(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (crate::auth::decode(k), crate::auth::decode(v))
        })
        .collect()
}

/// The OpenAPI 3.1 document of [`ENDPOINTS`].
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for e in ENDPOINTS {
        let mut parameters: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        parameters.extend(e.query.iter().map(|(name, description)| {
            json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}})
        }));
        let content_type = if e.operation == "executionEvents" {
            "text/event-stream"
        } else {
            "application/json"
        };
        let mut operation = json!({
            "operationId": e.operation,
            "summary": e.summary,
            "parameters": parameters,
            "responses": {
                "200": {"description": "OK", "content": {content_type: {}}},
                "4XX": {"description": "A client error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        });
        if let Some(body) = e.body {
            operation["requestBody"] = json!({
                "description": body,
                "content": {"application/json": {"schema": {"type": "object"}}}
            });
        }
        let item = paths
            .entry(format!("/v1{}", e.path))
            .or_insert_with(|| json!({}));
        item[e.method.to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Sluice node API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}}
                }
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
        },
        "security": [{"bearer": []}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_endpoint_with_its_parameters() {
        let doc = openapi();
        for e in ENDPOINTS {
            let op = &doc["paths"][format!("/v1{}", e.path)][e.method.to_ascii_lowercase()];
            assert_eq!(op["operationId"], e.operation, "{}", e.path);
        }
        let history = &doc["paths"]["/v1/executions/{id}/history"]["get"]["parameters"];
        let names: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["id", "after", "limit"]);
    }

    #[test]
    fn query_strings_are_decoded() {
        let q = query_pairs("flow=word%20count&status=RUNNING&x");
        assert_eq!(q["flow"], "word count");
        assert_eq!(q["x"], "");
    }
}
