//! HTTP triggers: routes of the node declared in `sluice.yaml`. A request goes to a queue (the
//! answer comes once the message is durable), to a function (called with the Lambda function
//! URL event, version 2.0, whose `statusCode`/`headers`/`body` answer the request) or to a flow
//! (an execution per request, named by the `Idempotency-Key` header when there is one).

use crate::ServerState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sluice_engine::invoke::{InvokeRequest, Target as Callee};
use sluice_queues::triggers::{HttpTrigger, Target};
use sluice_queues::{Outgoing, SendError};
use std::sync::Arc;
use std::time::Duration;

/// The routes of the node's HTTP triggers.
pub fn routes(triggers: &[HttpTrigger]) -> Router<ServerState> {
    let mut router = Router::new();
    for trigger in triggers {
        let filter = match trigger.method.as_str() {
            "GET" => MethodFilter::GET,
            "PUT" => MethodFilter::PUT,
            "PATCH" => MethodFilter::PATCH,
            "DELETE" => MethodFilter::DELETE,
            _ => MethodFilter::POST,
        };
        let trigger = Arc::new(trigger.clone());
        router = router.route(
            &trigger.path.clone(),
            on(
                filter,
                move |State(state): State<ServerState>, request: Request| {
                    let trigger = trigger.clone();
                    async move { handle(&state, &trigger, request).await }
                },
            ),
        );
    }
    router
}

/// Whether `path` is a trigger's route (checked by the trigger's own token, not the node's
/// credentials).
pub fn is_trigger_path(state: &ServerState, path: &str) -> bool {
    state.http_triggers.iter().any(|t| t.path == path)
}

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    answer(status, json!({ "message": message.into() }))
}

async fn handle(state: &ServerState, trigger: &HttpTrigger, request: Request) -> Response {
    if let Some(token) = &trigger.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return problem(
                StatusCode::UNAUTHORIZED,
                "Authorization: Bearer TOKEN is required",
            );
        }
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, trigger.max_body).await else {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over the limit of {} bytes", trigger.max_body),
        );
    };
    match &trigger.target {
        Target::Queue(queue) => to_queue(state, queue, body).await,
        Target::Flow(flow) => to_flow(state, flow, &parts.headers, body).await,
        Target::Function(function) => {
            let event = url_event(&parts.method, &parts.uri, &parts.headers, &body);
            to_function(state, function, event).await
        }
    }
}

async fn to_queue(state: &ServerState, queue: &str, body: Bytes) -> Response {
    let Some(queues) = state.queues.clone() else {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "this node has no queues");
    };
    let text = match String::from_utf8(body.to_vec()) {
        Ok(text) => text,
        Err(_) => return problem(StatusCode::BAD_REQUEST, "the body must be UTF-8 text"),
    };
    let message = Outgoing {
        body: text,
        attributes: Value::Null,
        delay: Duration::ZERO,
    };
    match queues.send_async(queue, vec![message]).await {
        Ok(sent) => answer(StatusCode::ACCEPTED, json!({ "messageId": sent[0].id })),
        Err(e @ SendError::Store(_)) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => problem(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn to_flow(state: &ServerState, flow: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let Some(targets) = &state.targets else {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "this node starts no flows");
    };
    let input = serde_json::from_slice(&body)
        .unwrap_or_else(|_| json!({ "body": String::from_utf8_lossy(&body) }));
    let name = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    match targets.flows.start(flow, &name, input).await {
        Ok(()) => {
            let arn = sluice_engine::run_info::RunInfo::local(flow, &name, 0).execution_arn();
            answer(StatusCode::ACCEPTED, json!({ "executionArn": arn }))
        }
        Err(e) => problem(StatusCode::CONFLICT, e),
    }
}

async fn to_function(state: &ServerState, function: &str, event: Value) -> Response {
    let Some(targets) = &state.targets else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node calls no functions",
        );
    };
    let request = InvokeRequest {
        target: Callee::Function {
            name: function.to_string(),
            wrap: false,
        },
        resource: format!("sluice:function:{function}"),
        idempotency_key: event["requestContext"]["requestId"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        execution: format!("trigger:{function}"),
        payload: event,
        timeout_seconds: None,
    };
    match targets.functions.invoke(request).await {
        Ok(result) => url_response(result),
        Err(e) => problem(StatusCode::BAD_GATEWAY, format!("{}: {}", e.error, e.cause)),
    }
}

/// The Lambda function URL event (payload version 2.0) of a request.
fn url_event(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Value {
    let mut names: Map<String, Value> = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match names.get_mut(name.as_str()) {
            Some(Value::String(seen)) => {
                seen.push(',');
                seen.push_str(&value);
            }
            _ => {
                names.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    let query = uri.query().unwrap_or_default();
    let parameters: Map<String, Value> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                crate::auth::decode(k),
                Value::String(crate::auth::decode(v)),
            )
        })
        .collect();
    let (text, base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let now = chrono::Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": uri.path(),
        "rawQueryString": query,
        "headers": names,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "sluice",
            "domainName": headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default(),
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": headers.get("x-forwarded-for").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"),
                "userAgent": headers.get(header::USER_AGENT).and_then(|h| h.to_str().ok()).unwrap_or_default(),
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": base64,
    });
    if !parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(parameters);
    }
    if !body.is_empty() {
        event["body"] = json!(text);
    }
    event
}

/// The response a function URL makes of a function's result: its `statusCode`, `headers` and
/// `body` (base64 when `isBase64Encoded`), or, for a result without `statusCode`, 200 with the
/// result as JSON.
fn url_response(result: Value) -> Response {
    let Some(status) = result.get("statusCode").and_then(Value::as_u64) else {
        return answer(StatusCode::OK, result);
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let body = match result.get("body") {
        Some(Value::String(s)) if result["isBase64Encoded"] == true => {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .unwrap_or_default()
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut response = (status, Body::from(body)).into_response();
    if let Some(headers) = result.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_event_carries_the_request() {
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("node:8787"));
        headers.insert("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let uri: Uri = "/ingest?k=v%20w&flag".parse().unwrap();
        let event = url_event(
            &Method::POST,
            &uri,
            &headers,
            &Bytes::from_static(b"{\"a\":1}"),
        );
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["rawPath"], "/ingest");
        assert_eq!(event["headers"]["x-a"], "1,2");
        assert_eq!(
            event["queryStringParameters"],
            json!({"k": "v w", "flag": ""})
        );
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(event["body"], "{\"a\":1}");
        assert_eq!(event["isBase64Encoded"], false);
    }

    #[test]
    fn results_become_responses() {
        let r = url_response(json!({"statusCode": 201, "headers": {"x-id": "7"}, "body": "made"}));
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-id"], "7");
        assert_eq!(url_response(json!({"plain": true})).status(), 200);
    }
}
