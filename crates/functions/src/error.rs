//! Errors of the pool and of invocations, named the way Step Functions shows them.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

/// Error names (the `Error` half of a Step Functions `Error`/`Cause` pair) that the
/// pool produces itself. A function's own errors use the `errorType` it reported.
pub mod error_names {
    /// The invocation outlived the function's timeout (or init outlived the init
    /// timeout); the instance was killed.
    pub const TIMEOUT: &str = "States.Timeout";
    /// The process exited while initialising or handling an invocation.
    pub const EXIT_ERROR: &str = "Runtime.ExitError";
    /// The response body was not valid JSON.
    pub const INVALID_RESPONSE: &str = "Runtime.InvalidResponse";
    /// The response body exceeded the function's `max_response_bytes`.
    pub const RESPONSE_TOO_LARGE: &str = "Function.ResponseSizeTooLarge";
    /// The event exceeded the function's `max_request_bytes`; the function was not called.
    pub const REQUEST_TOO_LARGE: &str = "Lambda.RequestEntityTooLargeException";
    /// The instance went over its memory limit.
    pub const OUT_OF_MEMORY: &str = "Runtime.OutOfMemory";
    /// The runtime's executable could not be started.
    pub const INVALID_ENTRYPOINT: &str = "Runtime.InvalidEntrypoint";
    /// An init error was posted without a usable error type.
    pub const RUNTIME_UNKNOWN: &str = "Runtime.Unknown";
    /// A function error was posted without a usable error type.
    pub const UNKNOWN: &str = "Lambda.Unknown";
    /// The function does not exist in the pool.
    pub const NOT_FOUND: &str = "Lambda.ResourceNotFoundException";
    /// The pool could not serve the call (shut down, payload not serialisable, ...).
    pub const SERVICE: &str = "Lambda.ServiceException";
}

/// A failed invocation: Step Functions' error name and cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvokeError {
    /// Error name, e.g. `ValueError`, `States.Timeout`, `Runtime.ExitError`.
    pub error: String,
    /// Human-readable cause; for function errors, the JSON text of the error body.
    pub cause: String,
}

impl InvokeError {
    /// An error with the given name and cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        InvokeError {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// The error for a function the pool does not have, named by its ARN as Lambda names it
    /// for an unqualified call.
    pub(crate) fn not_found(function_arn: &str) -> Self {
        Self::new(
            error_names::NOT_FOUND,
            format!("Function not found: {function_arn}:$LATEST"),
        )
    }

    pub(crate) fn service(cause: impl Into<String>) -> Self {
        Self::new(error_names::SERVICE, cause)
    }

    /// Lambda's refusal of an event over `limit` bytes.
    pub(crate) fn request_too_large(limit: usize) -> Self {
        Self::new(
            error_names::REQUEST_TOO_LARGE,
            format!("Request must be smaller than {limit} bytes for the InvokeFunction operation"),
        )
    }

    pub(crate) fn timeout(request_id: &str, what: &str, after: Duration) -> Self {
        Self::new(
            error_names::TIMEOUT,
            format!(
                "RequestId: {request_id} Error: {what} timed out after {:.2} seconds",
                after.as_secs_f64()
            ),
        )
    }

    pub(crate) fn exit(request_id: &str, status: &str) -> Self {
        Self::new(
            error_names::EXIT_ERROR,
            format!("RequestId: {request_id} Error: Runtime exited with error: {status}"),
        )
    }

    /// A process that died over its memory limit, reported as the runtimes report an
    /// allocation over it: `where` is `RequestId: <id>` during a call, `Init` before.
    pub(crate) fn out_of_memory(request_id: &str, where_: &str, memory_mb: u32) -> Self {
        let body = serde_json::json!({
            "errorType": error_names::OUT_OF_MEMORY,
            "errorMessage": format!(
                "{where_} Error: Runtime exited with error: memory limit of {memory_mb} MB exceeded"
            ),
            "stackTrace": [],
        });
        Self::from_reported(
            request_id,
            None,
            body.to_string().as_bytes(),
            error_names::OUT_OF_MEMORY,
        )
    }

    /// Builds the error for a body posted to `/invocation/{id}/error` or
    /// `/init/error`: the name is the body's `errorType` (else the
    /// `Lambda-Runtime-Function-Error-Type` header, else `fallback`), the cause the
    /// JSON text `{"errorMessage","errorType","requestId","stackTrace",...}`: the body
    /// itself when it already is that document (as AWS's runtimes post it), else one built
    /// from it.
    pub(crate) fn from_reported(
        request_id: &str,
        header_type: Option<&str>,
        body: &[u8],
        fallback: &str,
    ) -> Self {
        let posted = match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Some(map),
            _ => None,
        };
        let mut fields = posted.clone().unwrap_or_default();
        let header_type = header_type.map(str::trim).filter(|h| !h.is_empty());
        let error_type = match fields.get("errorType") {
            Some(Value::String(t)) if !t.is_empty() => t.clone(),
            _ => header_type
                .filter(|h| is_platform_type(h))
                .unwrap_or(fallback)
                .to_string(),
        };
        let message = match fields.remove("errorMessage") {
            Some(Value::String(m)) => m,
            Some(Value::Null) | None => {
                if fields.is_empty() && !body.is_empty() && body.len() <= 4096 {
                    String::from_utf8_lossy(body).into_owned()
                } else {
                    String::new()
                }
            }
            Some(other) => other.to_string(),
        };
        fields.remove("errorType");
        fields.remove("requestId");
        let mut cause = Map::new();
        cause.insert("errorMessage".into(), Value::String(message));
        cause.insert("errorType".into(), Value::String(error_type.clone()));
        cause.insert("requestId".into(), Value::String(request_id.to_string()));
        if let Some(trace) = fields.remove("stackTrace") {
            cause.insert("stackTrace".into(), trace);
        }
        cause.extend(fields);
        // A document posted in exactly this form is kept as the function wrote it, spacing
        // included: Lambda hands it on byte for byte.
        let text = match posted {
            Some(posted) if posted.iter().eq(cause.iter()) => {
                String::from_utf8_lossy(body.trim_ascii()).into_owned()
            }
            _ => Value::Object(cause).to_string(),
        };
        Self::new(error_type, text)
    }
}

/// Lambda's own error types look like `Runtime.Xxx` or `Function.Xxx`; official
/// clients send free-form values such as `Unhandled`, which are not error names.
fn is_platform_type(value: &str) -> bool {
    let Some((prefix, rest)) = value.split_once('.') else {
        return false;
    };
    matches!(prefix, "Runtime" | "Function")
        && rest.starts_with(|c: char| c.is_ascii_uppercase())
        && rest.chars().all(|c| c.is_ascii_alphanumeric())
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl std::error::Error for InvokeError {}

/// Errors starting a pool.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// A function configuration is invalid.
    #[error("invalid configuration of function '{function}': {message}")]
    InvalidConfig {
        /// The function concerned.
        function: String,
        /// What is wrong.
        message: String,
    },
    /// A file or directory could not be prepared.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl PoolError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> PoolError {
        let context = context.into();
        move |source| PoolError::Io { context, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_error_orders_fields_like_step_functions() {
        let body = br#"{"stackTrace":["  File x"],"errorType":"ValueError","errorMessage":"boom"}"#;
        let e = InvokeError::from_reported("r1", Some("Unhandled"), body, error_names::UNKNOWN);
        assert_eq!(e.error, "ValueError");
        assert_eq!(
            e.cause,
            r#"{"errorMessage":"boom","errorType":"ValueError","requestId":"r1","stackTrace":["  File x"]}"#
        );
    }

    #[test]
    fn a_complete_document_is_kept_as_posted() {
        let body = br#"{"errorMessage": "boom", "errorType": "ValueError", "requestId": "r1", "stackTrace": []}"#;
        let e = InvokeError::from_reported("r1", None, body, error_names::UNKNOWN);
        assert_eq!(e.cause.as_bytes(), body);
        let other_request = InvokeError::from_reported("r2", None, body, error_names::UNKNOWN);
        assert!(other_request.cause.starts_with(r#"{"errorMessage":"boom""#));
    }

    #[test]
    fn reported_error_falls_back_to_header_then_default() {
        let e = InvokeError::from_reported("r", Some("Runtime.ImportModuleError"), b"", "X.Y");
        assert_eq!(e.error, "Runtime.ImportModuleError");
        let e = InvokeError::from_reported("r", Some("Unhandled"), b"not json", "Lambda.Unknown");
        assert_eq!(e.error, "Lambda.Unknown");
        assert!(e.cause.contains(r#""errorMessage":"not json""#));
    }
}
