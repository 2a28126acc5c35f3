//! `lambda-echo`: a Lambda function written against AWS's `lambda_runtime` crate, with nothing
//! specific to Sluice. It answers `{"echo": EVENT, "request_id", "function", "pid"}`, and fails
//! with error type `EchoError` when the event has a `fail` message.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let (payload, context) = event.into_parts();
    if let Some(message) = payload.get("fail").and_then(Value::as_str) {
        return Err(Diagnostic {
            error_type: "EchoError".into(),
            error_message: message.into(),
        });
    }
    Ok(json!({
        "echo": payload,
        "request_id": context.request_id,
        "function": std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok(),
        "pid": std::process::id(),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(echo)).await
}
