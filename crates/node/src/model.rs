//! `sluice.yaml` as written: the typed model the project file is read into.
//!
//! Every mapping refuses keys it does not know, so a misspelt setting is reported with its line
//! and column instead of being ignored.

use crate::settings;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};
use sluice_functions::Runtime;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

/// The project file.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with storage, state, functions, flows, queues, topics, rules, triggers and connections"
)]
pub struct ProjectFile {
    /// Object storage URL (`file://DIR` or `s3://BUCKET[/PREFIX]?...`); default `file://./data`.
    pub storage: Option<String>,
    /// Where executions are kept: a PostgreSQL URL or a SQLite file.
    pub state: Option<String>,
    /// Storage classes, restores and fault injection.
    #[serde(default)]
    pub objects: ObjectsSpec,
    /// Functions by name, in declaration order.
    #[serde(default)]
    pub functions: Named<FunctionSpec>,
    /// Flows by name, in declaration order.
    #[serde(default)]
    pub flows: Named<FlowSpec>,
    /// Durable queues by name.
    #[serde(default)]
    pub queues: Named<QueueSpec>,
    /// Topics (SNS-style fan-out) by name.
    #[serde(default)]
    pub topics: Named<TopicSpec>,
    /// Event bus rules (EventBridge-style) by name.
    #[serde(default)]
    pub rules: Named<RuleSpec>,
    /// Triggers by name.
    #[serde(default)]
    pub triggers: Named<TriggerSpec>,
    /// Credentials HTTP Tasks and http functions authenticate with, by name.
    #[serde(default)]
    pub connections: Named<ConnectionSpec>,
}

/// `objects:`: how storage classes and restores behave.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectsSpec {
    /// Where classes and restores are kept: `native` (the S3 server's; the default on an S3
    /// storage) or `emulated` (the node's store; the default on a local directory).
    #[serde(default)]
    pub classes: Option<sluice_io::ClassMode>,
    /// How long an emulated restore stays ongoing (1s).
    #[serde(default, deserialize_with = "settings::restore_delay")]
    pub restore_delay: Option<Duration>,
    /// The fraction of copies that fail as a transient error would: fault injection for
    /// tests of retries (0).
    #[serde(default, deserialize_with = "settings::fraction")]
    pub copy_failure_rate: Option<f64>,
}

/// One trigger: `http: PATH`, `cron: SCHEDULE`, `object: PREFIX` or `cdc: POSTGRES_URL`, and where
/// its events go (`queue`, `function` or `flow`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// An HTTP route of the node.
    pub http: Option<String>,
    /// The route's method (`POST`).
    pub method: Option<String>,
    /// A bearer token the route's requests must carry.
    pub token: Option<String>,
    /// The largest body the route takes, in bytes (1 MiB).
    pub max_body: Option<usize>,
    /// A schedule.
    pub cron: Option<String>,
    /// What a scheduled event carries (`detail`).
    pub input: Option<Value>,
    /// The IANA time zone a schedule's cron expression is read in (UTC).
    pub timezone: Option<String>,
    /// A schedule's overlap policy for flows: `allow`, `skip` or `cancel` (`allow`).
    pub overlap: Option<String>,
    /// What becomes of firings missed while no node ran: `run_once` or `skip` (`run_once`).
    pub missed: Option<String>,
    /// The key prefix (a storage path, `FOLDER/...`) whose objects raise events.
    pub object: Option<String>,
    /// Only keys ending with this raise events.
    pub suffix: Option<String>,
    /// Which changes raise events: `created`, `deleted` (`[created]`).
    pub events: Option<Vec<String>>,
    /// Events go onto this queue.
    pub queue: Option<String>,
    /// Events call this function.
    pub function: Option<String>,
    /// Events start this flow.
    pub flow: Option<String>,
    /// A PostgreSQL database whose changes are captured (`postgres://HOST/DB`).
    pub cdc: Option<String>,
    /// Captured tables (`schema.table`).
    pub tables: Option<Vec<String>>,
    /// Tables left out (`schema.table`).
    pub exclude_tables: Option<Vec<String>>,
    /// Message format: `canal-json` (the default) or `debezium`.
    pub format: Option<String>,
    /// Changes per batch (100).
    pub batch_size: Option<usize>,
    /// How long a partial batch waits (1s).
    #[serde(default, deserialize_with = "settings::queue_duration")]
    pub batch_timeout: Option<Duration>,
    /// Connections a PostgreSQL snapshot copies with at once (4).
    pub snapshot_parallel: Option<usize>,
    /// PostgreSQL tables estimated below this many rows are copied whole (100000).
    pub snapshot_chunk_rows: Option<u64>,
}

/// One topic: its subscriptions.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    /// Who gets its messages.
    #[serde(default)]
    pub subscribers: Vec<SubscriberSpec>,
}

/// One subscription of a topic: exactly one of `queue`, `function`, `flow` or `http`, and
/// optionally a filter policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberSpec {
    /// A queue of the project.
    pub queue: Option<String>,
    /// A function of the project.
    pub function: Option<String>,
    /// A flow of the project.
    pub flow: Option<String>,
    /// An HTTP(S) URL.
    pub http: Option<String>,
    /// An SNS filter policy.
    pub filter_policy: Option<Value>,
    /// `MessageAttributes` (the default) or `MessageBody`.
    pub filter_policy_scope: Option<String>,
    /// Whether a queue or HTTP endpoint gets the message itself instead of the envelope.
    pub raw_message_delivery: Option<bool>,
}

/// One rule of the event bus.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// The bus whose events it sees (`default`).
    pub bus: Option<String>,
    /// The EventBridge event pattern.
    pub pattern: Value,
    /// Where matching events go.
    pub targets: Vec<RuleTargetSpec>,
}

/// One target of a rule: exactly one of `queue`, `function` or `flow`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTargetSpec {
    /// A queue of the project.
    pub queue: Option<String>,
    /// A function of the project.
    pub function: Option<String>,
    /// A flow of the project.
    pub flow: Option<String>,
}

/// One queue (see `sluice_queues::QueueConfig` for the defaults).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// The function or flow that consumes it; none for a pull queue.
    pub consumer: Option<String>,
    /// Messages per batch, 1 to 100.
    pub batch_size: Option<usize>,
    /// How long a partial batch waits to fill.
    #[serde(default, deserialize_with = "settings::queue_duration")]
    pub batch_timeout: Option<Duration>,
    /// Retries before a message is dead-lettered or failed.
    pub max_retries: Option<u32>,
    /// How long a retried message waits.
    #[serde(default, deserialize_with = "settings::queue_duration")]
    pub retry_delay: Option<Duration>,
    /// The queue messages out of retries go to.
    pub dead_letter: Option<String>,
    /// Batches consumed at once.
    pub max_concurrency: Option<usize>,
    /// How long a received message is leased.
    #[serde(default, deserialize_with = "settings::queue_duration")]
    pub visibility_timeout: Option<Duration>,
}

/// Entries of a mapping keyed by name, in the order they are written.
#[derive(Debug)]
pub struct Named<T>(pub Vec<(String, T)>);

impl<T> Default for Named<T> {
    fn default() -> Self {
        Named(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Named<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Entries<T> {
            type Value = Named<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of names to entries")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Named<T>, E> {
                Ok(Named::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Named<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Named(out))
            }
        }
        d.deserialize_map(Entries(PhantomData))
    }
}

/// One function: a process (`runtime` and `handler`), a built-in handler (`runtime: builtin`) or
/// an HTTP endpoint (`http: URL`). Which settings apply depends on the kind ([`FunctionSpec::kind`]).
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with runtime and handler, or with http"
)]
pub struct FunctionSpec {
    /// How it runs.
    pub runtime: Option<FunctionRuntime>,
    /// Handler string, or the name of a built-in handler.
    pub handler: Option<String>,
    /// Directory holding the code, relative to the project.
    pub code: Option<String>,
    /// Longest time one invocation may take.
    #[serde(default, deserialize_with = "settings::timeout")]
    pub timeout: Option<Duration>,
    /// An instance idle this long is stopped.
    #[serde(default, deserialize_with = "settings::idle_timeout")]
    pub idle_timeout: Option<Duration>,
    /// Memory in MB, reported to the function and the address-space limit of Python instances.
    #[serde(default, deserialize_with = "settings::memory")]
    pub memory: Option<u32>,
    /// Most calls at once.
    #[serde(default, deserialize_with = "settings::concurrency")]
    pub concurrency: Option<usize>,
    /// Extra environment variables.
    #[serde(default, deserialize_with = "settings::env")]
    pub env: Option<BTreeMap<String, String>>,
    /// Whether Python instances are forked from a zygote that has imported the handler
    /// once (default `true`); `false` starts each one afresh, for handlers that are not
    /// fork-safe.
    pub fork: Option<bool>,
    /// Options of a built-in handler.
    pub options: Option<Map<String, Value>>,
    /// URL of an HTTP function.
    pub http: Option<String>,
    /// Headers sent to an HTTP function.
    pub headers: Option<BTreeMap<String, String>>,
    /// The connection an HTTP function authenticates with.
    pub connection: Option<String>,
}

/// What kind of function a [`FunctionSpec`] declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunctionKind {
    /// A process speaking the Lambda Runtime API.
    Process,
    /// A handler built into the binary.
    Builtin,
    /// An HTTP endpoint.
    Http,
}

impl FunctionKind {
    /// The settings that apply to functions of this kind.
    pub fn settings(self) -> &'static [&'static str] {
        match self {
            FunctionKind::Process => &[
                "runtime",
                "handler",
                "code",
                "timeout",
                "idle_timeout",
                "memory",
                "concurrency",
                "env",
                "fork",
            ],
            FunctionKind::Builtin => &["runtime", "handler", "options", "concurrency"],
            FunctionKind::Http => &["http", "headers", "timeout", "connection"],
        }
    }

    /// How messages name functions of this kind.
    pub fn name(self) -> &'static str {
        match self {
            FunctionKind::Process => "a process function",
            FunctionKind::Builtin => "a built-in function",
            FunctionKind::Http => "an http function",
        }
    }
}

impl FunctionSpec {
    /// The kind of function: `http` makes it an HTTP function, `runtime: builtin` a built-in one.
    pub fn kind(&self) -> FunctionKind {
        if self.http.is_some() {
            FunctionKind::Http
        } else if self.runtime == Some(FunctionRuntime::Builtin) {
            FunctionKind::Builtin
        } else {
            FunctionKind::Process
        }
    }

    /// The settings given, by name.
    pub fn given(&self) -> Vec<&'static str> {
        let set = [
            ("runtime", self.runtime.is_some()),
            ("handler", self.handler.is_some()),
            ("code", self.code.is_some()),
            ("timeout", self.timeout.is_some()),
            ("idle_timeout", self.idle_timeout.is_some()),
            ("memory", self.memory.is_some()),
            ("concurrency", self.concurrency.is_some()),
            ("env", self.env.is_some()),
            ("fork", self.fork.is_some()),
            ("options", self.options.is_some()),
            ("http", self.http.is_some()),
            ("headers", self.headers.is_some()),
            ("connection", self.connection.is_some()),
        ];
        set.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect()
    }
}

/// `runtime:` of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum FunctionRuntime {
    /// A process runtime.
    Process(Runtime),
    /// `builtin`: a handler inside the binary.
    Builtin,
}

impl TryFrom<String> for FunctionRuntime {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if name == "builtin" {
            return Ok(FunctionRuntime::Builtin);
        }
        name.parse()
            .map(FunctionRuntime::Process)
            .map_err(|_| format!("unknown runtime '{name}' (python3, node, provided or builtin)"))
    }
}

/// One flow: its definition file and the values of its `${Name}` placeholders.
///
/// Written as the path alone (`main: flows/main.asl.json`) or as a mapping
/// (`main: { definition: flows/main.asl.json, substitutions: { Table: orders } }`); SAM's
/// `DefinitionUri` and `DefinitionSubstitutions` are accepted as well.
#[derive(Debug)]
pub struct FlowSpec {
    /// Definition file, relative to the project.
    pub definition: String,
    /// Placeholder values by name.
    pub substitutions: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowTable {
    #[serde(alias = "DefinitionUri")]
    definition: String,
    #[serde(
        default,
        alias = "DefinitionSubstitutions",
        deserialize_with = "settings::substitutions"
    )]
    substitutions: Option<BTreeMap<String, String>>,
}

impl<'de> Deserialize<'de> for FlowSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Flow;
        impl<'de> Visitor<'de> for Flow {
            type Value = FlowSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "the path of a definition file, or a mapping with definition and substitutions",
                )
            }
            fn visit_str<E: de::Error>(self, path: &str) -> Result<FlowSpec, E> {
                Ok(FlowSpec {
                    definition: path.to_string(),
                    substitutions: BTreeMap::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FlowSpec, A::Error> {
                let table = FlowTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(FlowSpec {
                    definition: table.definition,
                    substitutions: table.substitutions.unwrap_or_default(),
                })
            }
        }
        d.deserialize_any(Flow)
    }
}

/// Credentials a request authenticates with, as an EventBridge connection holds them.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConnectionSpec {
    /// `Authorization: Bearer TOKEN`.
    Bearer {
        /// The token.
        token: Secret,
    },
    /// `Authorization: Basic ...` with a user name and password.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// A key sent in a header of its own.
    ApiKey {
        /// Header name, such as `x-api-key`.
        header: String,
        /// The key.
        value: Secret,
    },
}

/// A credential: written in the project file, or `{ env: NAME }` to read it from the
/// environment when the project is loaded. Debug output never shows a written value.
#[derive(Clone)]
pub enum Secret {
    /// The value itself.
    Literal(String),
    /// The name of an environment variable holding it.
    Env(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Literal(_) => f.write_str("Literal(..)"),
            Secret::Env(name) => write!(f, "Env({name})"),
        }
    }
}

impl Secret {
    /// The value, read from the environment for [`Secret::Env`].
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            Secret::Literal(s) => Ok(s.clone()),
            Secret::Env(name) => std::env::var(name)
                .map_err(|_| format!("the environment variable {name} is not set")),
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SecretVisitor;
        impl<'de> Visitor<'de> for SecretVisitor {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, or { env: VARIABLE }")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Secret, E> {
                Ok(Secret::Literal(s.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
                match map.next_entry::<String, String>()? {
                    Some((key, name)) if key == "env" && map.next_key::<String>()?.is_none() => {
                        Ok(Secret::Env(name))
                    }
                    _ => Err(de::Error::custom("expected a string, or { env: VARIABLE }")),
                }
            }
        }
        d.deserialize_any(SecretVisitor)
    }
}
