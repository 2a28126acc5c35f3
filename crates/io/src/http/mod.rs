//! HTTP as a built-in integration: the `arn:aws:states:::http:invoke` Task ([`task`]) and
//! functions that are HTTP endpoints ([`function`]), served by one [`HttpInvoker`] over one
//! connection pool.
//!
//! Credentials never come from a definition: a Task names a connection of the project file
//! (`Authentication.ConnectionArn`, whose last part is the connection's name) and a function
//! names one with `connection:`; the [`Auth`] it holds is added to the request.
//!
//! Every response body is read in chunks up to a bound, so a large or endless response cannot
//! fill memory.

mod form;
mod function;
mod task;

pub use form::ArrayFormat;
pub use function::HttpFunction;
pub use task::connection_name;

use bytes::{Bytes, BytesMut};
use sluice_engine::invoke::{InvokeFuture, InvokeRequest, Invoker, Target, TaskError, invoke_read};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The resource of an HTTP Task.
pub const HTTP_INVOKE: &str = "arn:aws:states:::http:invoke";

/// Credentials added to a request, as an EventBridge connection holds them.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer TOKEN`.
    Bearer {
        /// The token.
        token: String,
    },
    /// `Authorization: Basic ...`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// A key in a header of its own.
    ApiKey {
        /// Header name.
        header: String,
        /// The key.
        value: String,
    },
}

impl std::fmt::Debug for Auth {
    /// Names the kind of credential, never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer { .. } => f.write_str("Bearer"),
            Auth::Basic { username, .. } => write!(f, "Basic({username})"),
            Auth::ApiKey { header, .. } => write!(f, "ApiKey({header})"),
        }
    }
}

impl Auth {
    /// Checks that the credentials can be sent in a request header.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Auth::ApiKey { header, value } => check_header(header, value),
            Auth::Bearer { token } => check_header("authorization", token),
            Auth::Basic { username, .. } if username.contains(':') => {
                Err("a basic user name cannot hold ':'".into())
            }
            Auth::Basic { .. } => Ok(()),
        }
    }

    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Bearer { token } => request.bearer_auth(token),
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::ApiKey { header, value } => request.header(header.as_str(), value.as_str()),
        }
    }
}

/// Checks that a header can be sent as given.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("'{name}' is not a header name"))?;
    reqwest::header::HeaderValue::from_str(value).map_err(|_| {
        format!("the value of header '{name}' has characters a header cannot carry")
    })?;
    Ok(())
}

/// Checks that `url` is an absolute `http://` or `https://` URL with a host.
pub fn endpoint(url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(format!(
            "'{url}' is not an http:// or https:// URL with a host"
        ));
    }
    Ok(parsed)
}

/// What HTTP calls may use: the project's connections and its HTTP functions.
#[derive(Clone, Debug, Default)]
pub struct HttpOptions {
    /// Connections by name.
    pub connections: BTreeMap<String, Auth>,
    /// HTTP functions.
    pub functions: Vec<HttpFunction>,
}

/// An [`Invoker`] serving HTTP Tasks and HTTP functions, passing every other call to
/// `fallback`. Cheap to clone.
#[derive(Clone)]
pub struct HttpInvoker {
    shared: Arc<Shared>,
    fallback: Arc<dyn Invoker>,
}

struct Shared {
    client: reqwest::Client,
    connections: BTreeMap<String, Auth>,
    functions: BTreeMap<String, HttpFunction>,
}

impl HttpInvoker {
    /// Serves HTTP calls with `options`; everything else goes to `fallback`.
    pub fn new(options: HttpOptions, fallback: Arc<dyn Invoker>) -> Result<HttpInvoker, String> {
        // reqwest is built without a default TLS provider: ring is ours. A second install is
        // refused harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let functions = options
            .functions
            .into_iter()
            .map(|f| (f.name.clone(), f))
            .collect();
        Ok(HttpInvoker {
            shared: Arc::new(Shared {
                client,
                connections: options.connections,
                functions,
            }),
            fallback,
        })
    }

    /// Calls the HTTP function `name` with `payload`, outside any flow (as `sluice invoke`
    /// does); its response may be as large as a Lambda response.
    pub async fn call_function(
        &self,
        name: &str,
        payload: serde_json::Value,
    ) -> Result<serde_json::Value, TaskError> {
        let function = self.shared.functions.get(name).ok_or_else(|| TaskError {
            error: "Lambda.ResourceNotFoundException".into(),
            cause: format!("Function not found: {name}"),
        })?;
        function::call(&self.shared, function, payload).await
    }
}

impl Shared {
    /// The credentials of a connection, or a Task error naming the ones there are.
    fn connection(&self, name: &str) -> Result<&Auth, TaskError> {
        self.connections.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.connections.keys().map(String::as_str).collect();
            TaskError {
                error: "States.Runtime".into(),
                cause: format!(
                    "no connection named '{name}' in sluice.yaml (connections: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            }
        })
    }
}

impl Invoker for HttpInvoker {
    fn invoke_text(&self, request: InvokeRequest, payload: Vec<u8>) -> InvokeFuture {
        let serves = match &request.target {
            Target::Integration(resource) => resource == HTTP_INVOKE,
            Target::Function { name, .. } => self.shared.functions.contains_key(name),
        };
        match serves {
            true => invoke_read(self, request, &payload),
            false => self.fallback.invoke_text(request, payload),
        }
    }

    fn invoke(&self, request: InvokeRequest) -> InvokeFuture {
        let shared = self.shared.clone();
        match &request.target {
            Target::Integration(resource) if resource == HTTP_INVOKE => {
                Box::pin(async move { task::call(&shared, request).await })
            }
            Target::Function { name, .. } if shared.functions.contains_key(name) => {
                Box::pin(async move { function::invoke(&shared, request).await })
            }
            _ => self.fallback.invoke(request),
        }
    }
}

/// An error with the errors that caused it, as one line.
fn with_sources(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// A response body longer than the bound it was read under.
struct TooLarge;

/// Reads a response body, failing once it passes `limit` bytes.
async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Result<Bytes, TooLarge>, reqwest::Error> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(Err(TooLarge));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(body.freeze()))
}
