//! The HTTP Task, `arn:aws:states:::http:invoke`, with Step Functions' parameters and result.
//!
//! | parameter | meaning |
//! |---|---|
//! | `ApiEndpoint` | the URL (required) |
//! | `Method` | `GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `HEAD`, `OPTIONS` (required) |
//! | `Headers` | request headers, name to value |
//! | `QueryParameters` | added to the URL's query |
//! | `RequestBody` | a string is sent as it is; other JSON as JSON text (`Content-Type: application/json` unless `Headers` say otherwise) |
//! | `Transform` | `RequestBodyEncoding: URL_ENCODED` sends `RequestBody` (an object) as a form, arrays written as `RequestEncodingOptions.ArrayFormat` says (`INDICES`, `REPEAT`, `COMMAS`, `BRACKETS`) |
//! | `Authentication` | `ConnectionArn`: the connection of the project file whose name ends it (`arn:aws:events:...:connection/NAME[/ID]`, or `NAME`) |
//!
//! The result is `{"Headers": {name: [values]}, "ResponseBody": ..., "StatusCode": 200,
//! "StatusText": "OK"}`, the body parsed when the response says it is JSON. A status outside
//! 2xx fails the Task with `States.Http.StatusCode.NNN`, its cause the result as JSON text; a
//! request that cannot be sent, or gets no answer within 60 s, fails with `States.Http.Socket`;
//! parameters that cannot make a request fail with `States.Runtime`.

use super::form::{self, ArrayFormat};
use super::{HTTP_INVOKE, Shared, TooLarge, endpoint, read_body, with_sources};
use serde_json::{Map, Value, json};
use sluice_engine::invoke::{InvokeRequest, TaskError, check_result_bytes, within_timeout};
use sluice_lang::dataflow::MAX_PAYLOAD_BYTES;
use std::time::Duration;

/// The longest an HTTP Task waits for its response, as on Step Functions.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes the request an HTTP Task's parameters describe and shapes its response.
pub(super) async fn call(shared: &Shared, request: InvokeRequest) -> Result<Value, TaskError> {
    let built = build(shared, &request.payload)?;
    let exchange = async {
        let response = built.send().await.map_err(socket)?;
        shape(response).await
    };
    within_timeout(request.timeout_seconds, exchange).await?
}

fn build(shared: &Shared, payload: &Value) -> Result<reqwest::RequestBuilder, TaskError> {
    let params = payload
        .as_object()
        .ok_or_else(|| refused("the parameters must be an object"))?;
    let mut url = endpoint(required(params, "ApiEndpoint")?).map_err(refused)?;
    let method = required(params, "Method")?.to_ascii_uppercase();
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| refused(format!("Method '{method}' is not an HTTP method")))?;
    let transform = object(params, "Transform")?;
    let encoding = match transform.map(|t| t.get("RequestBodyEncoding")) {
        None | Some(None) => "NONE",
        Some(Some(Value::String(s))) => s.as_str(),
        Some(Some(_)) => return Err(refused("Transform.RequestBodyEncoding must be a string")),
    };
    let format = match transform
        .and_then(|t| t.get("RequestEncodingOptions"))
        .and_then(|o| o.get("ArrayFormat"))
    {
        None => ArrayFormat::default(),
        Some(Value::String(s)) => s.parse().map_err(refused)?,
        Some(_) => return Err(refused("ArrayFormat must be a string")),
    };
    if let Some(query) = object(params, "QueryParameters")? {
        let pairs = form::pairs(&Value::Object(query.clone()), format);
        url.query_pairs_mut().extend_pairs(pairs);
    }
    let mut builder = shared.client.request(method, url).timeout(SOCKET_TIMEOUT);
    let mut has_content_type = false;
    for (name, value) in object(params, "Headers")?.into_iter().flatten() {
        if value.is_object() || value.is_array() {
            return Err(refused(format!("header '{name}' must be a string")));
        }
        let value = reqwest::header::HeaderValue::from_str(&form::text(value))
            .map_err(|_| refused(format!("header '{name}' has a value HTTP cannot carry")))?;
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| refused(format!("'{name}' is not a header name")))?;
        has_content_type |= name == reqwest::header::CONTENT_TYPE;
        builder = builder.header(name, value);
    }
    let content_type = |ct: &'static str| (!has_content_type).then_some(ct);
    let (body, content_type) = match (params.get("RequestBody"), encoding) {
        (None | Some(Value::Null), _) => (None, None),
        (Some(body), "URL_ENCODED") => {
            if !body.is_object() {
                return Err(refused("a URL_ENCODED RequestBody must be an object"));
            }
            let encoded = form::encode(&form::pairs(body, format));
            (
                Some(encoded),
                content_type("application/x-www-form-urlencoded"),
            )
        }
        (Some(Value::String(s)), "NONE") => (Some(s.clone()), None),
        (Some(body), "NONE") => (Some(body.to_string()), content_type("application/json")),
        (_, other) => {
            return Err(refused(format!(
                "RequestBodyEncoding '{other}' is not NONE or URL_ENCODED"
            )));
        }
    };
    if let Some(ct) = content_type {
        builder = builder.header(reqwest::header::CONTENT_TYPE, ct);
    }
    if let Some(body) = body {
        builder = builder.body(body);
    }
    if let Some(auth) = object(params, "Authentication")? {
        let arn = match auth.get("ConnectionArn") {
            Some(Value::String(s)) => s.as_str(),
            _ => return Err(refused("Authentication needs a ConnectionArn string")),
        };
        builder = shared.connection(connection_name(arn))?.apply(builder);
    }
    Ok(builder)
}

/// The connection a `ConnectionArn` names: `arn:aws:events:REGION:ACCOUNT:connection/NAME/ID`
/// names `NAME`; a plain name names itself.
pub fn connection_name(arn: &str) -> &str {
    match arn.split_once(":connection/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => arn,
    }
}

/// The Task result of a response, or the error its status makes.
async fn shape(response: reqwest::Response) -> Result<Value, TaskError> {
    let status = response.status();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        let value = Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned());
        match headers.get_mut(name.as_str()) {
            Some(Value::Array(values)) => values.push(value),
            _ => {
                headers.insert(name.as_str().to_string(), Value::Array(vec![value]));
            }
        }
    }
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    let body = match read_body(response, MAX_PAYLOAD_BYTES)
        .await
        .map_err(socket)?
    {
        Ok(body) => body,
        Err(TooLarge) => {
            return Err(check_result_bytes(HTTP_INVOKE, MAX_PAYLOAD_BYTES + 1).unwrap_err());
        }
    };
    let text = String::from_utf8_lossy(&body);
    let body = match is_json {
        true => serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned())),
        false => Value::String(text.into_owned()),
    };
    let result = json!({
        "Headers": headers,
        "ResponseBody": body,
        "StatusCode": status.as_u16(),
        "StatusText": status.canonical_reason().unwrap_or_default(),
    });
    let text = result.to_string();
    check_result_bytes(HTTP_INVOKE, text.len())?;
    if !status.is_success() {
        return Err(TaskError {
            error: format!("States.Http.StatusCode.{}", status.as_u16()),
            cause: text,
        });
    }
    Ok(result)
}

fn required<'a>(params: &'a Map<String, Value>, name: &str) -> Result<&'a str, TaskError> {
    match params.get(name) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(refused(format!("the parameter {name} is required"))),
        Some(_) => Err(refused(format!("{name} must be a string"))),
    }
}

fn object<'a>(
    params: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>, TaskError> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(refused(format!("{name} must be an object"))),
    }
}

/// Parameters that cannot make a request.
fn refused(cause: impl Into<String>) -> TaskError {
    TaskError {
        error: "States.Runtime".into(),
        cause: format!("http:invoke: {}", cause.into()),
    }
}

/// A request that could not be sent or answered.
fn socket(e: reqwest::Error) -> TaskError {
    TaskError {
        error: "States.Http.Socket".into(),
        cause: with_sources(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_named_by_the_end_of_their_arn() {
        let arn = "arn:aws:events:us-east-2:123456789012:connection/Stripe/81210c42";
        assert_eq!(connection_name(arn), "Stripe");
        assert_eq!(
            connection_name("arn:aws:events:us-east-1:1:connection/github"),
            "github"
        );
        assert_eq!(connection_name("github"), "github");
    }
}
