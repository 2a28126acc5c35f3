//! The project file: a directory with `sluice.yaml` declaring storage, functions and flows, and
//! optionally where executions are kept (`state:`).
//!
//! Loading validates everything first and reports every problem at once: the file's own shape,
//! each flow definition, each function's handler file, and every Task that names a function the
//! project does not declare.

use serde_json::Value;
use sluice_engine::invoke::{Target, resolve};
use sluice_functions::{FunctionConfig, Runtime};
use sluice_io::{BuiltinFunction, Handler, Storage, StorageConfig, StorageError};
use sluice_lang::diagnostic::Diagnostic;
use sluice_lang::ir::{Definition, Scope, StateKind};
use sluice_lang::source::{Document, kind};
use sluice_store::StoreLocation;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The name of the project file.
pub const PROJECT_FILE: &str = "sluice.yaml";

/// A loaded, validated project.
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// Object storage URL (`file://DIR` or `s3://BUCKET[/PREFIX]?...`).
    pub storage: String,
    /// Where executions are kept (`state:`), if the project says: a PostgreSQL URL or a SQLite
    /// file (a relative path is relative to the project directory).
    pub state: Option<StoreLocation>,
    /// Functions run as processes, in declaration order.
    pub functions: Vec<FunctionConfig>,
    /// Functions run by a built-in handler (`runtime: builtin`).
    pub builtins: Vec<BuiltinFunction>,
    /// Flows in declaration order: name, file (relative to `dir`), source text and IR.
    pub flows: Vec<Flow>,
}

/// One flow of a project.
pub struct Flow {
    /// Flow name.
    pub name: String,
    /// Definition file, as written in the project file.
    pub file: String,
    /// Source text.
    pub source: String,
    /// Compiled definition.
    pub definition: Arc<Definition>,
}

impl Project {
    /// The flow with this name, or the first declared one when `name` is `None`.
    pub fn flow(&self, name: Option<&str>) -> Result<&Flow, String> {
        match name {
            Some(n) => self.flows.iter().find(|f| f.name == n).ok_or_else(|| {
                let known: Vec<&str> = self.flows.iter().map(|f| f.name.as_str()).collect();
                format!(
                    "no flow named '{n}' (the project has: {})",
                    known.join(", ")
                )
            }),
            None => self
                .flows
                .first()
                .ok_or_else(|| "the project declares no flows".to_string()),
        }
    }

    /// Opens the project's storage; a relative `file://` directory is relative to the project
    /// (and created if missing).
    pub fn open_storage(&self) -> Result<Storage, StorageError> {
        Storage::from_url(&self.storage, &self.dir)
    }
}

/// Loads and validates `dir/sluice.yaml` and everything it names.
pub fn load(dir: &Path) -> Result<Project, Vec<Diagnostic>> {
    let path = dir.join(PROJECT_FILE);
    let file = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        vec![Diagnostic::new(
            &file,
            "",
            format!("cannot read the project file: {e}"),
        )]
    })?;
    let doc = Document::parse(&file, &text)?;
    let mut problems = doc.problems().to_vec();
    let Some(top) = doc.value.as_object() else {
        return Err(vec![
            doc.diagnostic("", "the project file must be a mapping"),
        ]);
    };
    for key in top.keys() {
        match key.as_str() {
            "storage" | "state" | "functions" | "flows" => {}
            "queues" | "triggers" => problems.push(doc.diagnostic(
                &format!("/{key}"),
                format!("{key} are not supported yet by this version of sluice"),
            )),
            other => problems.push(
                doc.diagnostic(&format!("/{other}"), format!("unknown field '{other}'"))
                    .with_hint("the project file has storage, state, functions and flows"),
            ),
        }
    }
    let storage = match top.get("storage") {
        None => "file://./data".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            problems
                .push(doc.diagnostic("/storage", "storage must be a URL such as file://./data"));
            String::new()
        }
    };
    if !storage.is_empty()
        && let Err(e) = StorageConfig::parse(&storage, dir)
    {
        problems.push(doc.diagnostic("/storage", e.to_string()));
    }
    let state = state(dir, &doc, top.get("state"), &mut problems);
    let (functions, builtins) = functions(dir, &doc, top.get("functions"), &mut problems);
    let flows = flows(dir, &doc, top.get("flows"), &mut problems);
    let declared: Vec<&str> = functions
        .iter()
        .map(|f| f.name.as_str())
        .chain(builtins.iter().map(|b| b.name.as_str()))
        .collect();
    for flow in &flows {
        for name in called_functions(&flow.definition.root) {
            if !declared.contains(&name.as_str()) {
                problems.push(
                    Diagnostic::new(
                        &flow.file,
                        "",
                        format!(
                            "a Task calls the function '{name}', which sluice.yaml does not declare"
                        ),
                    )
                    .with_hint(format!(
                        "declare it under functions: (declared: {})",
                        declared.join(", ")
                    )),
                );
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Project {
        dir: dir.to_path_buf(),
        storage,
        state,
        functions,
        builtins,
        flows,
    })
}

/// The `state:` of a project file: `postgres://USER@HOST:PORT/DB` (or `postgresql://`), or a
/// SQLite file as `sqlite://PATH` or a plain path, relative to the project directory.
fn state(
    dir: &Path,
    doc: &Document,
    value: Option<&Value>,
    problems: &mut Vec<Diagnostic>,
) -> Option<StoreLocation> {
    let hint = "state is where executions are kept: postgres://USER@HOST:PORT/DB, or a SQLite file (sqlite://PATH or a path)";
    let problem = match value? {
        Value::String(s) => match s.parse::<StoreLocation>() {
            Ok(location) => return Some(location.relative_to(dir)),
            Err(e) => doc.diagnostic("/state", e),
        },
        _ => doc.diagnostic("/state", "state must be a URL or a file path"),
    };
    problems.push(problem.with_hint(hint));
    None
}

/// The `state:` of the project file in `dir`, if there is a project file, read without loading
/// the rest of the project.
pub fn state_in(dir: &Path) -> anyhow::Result<Option<StoreLocation>> {
    let path = dir.join(PROJECT_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let shown = |ds: Vec<Diagnostic>| {
        let lines: Vec<String> = ds.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(lines.join("\n"))
    };
    let doc = Document::parse(&path.display().to_string(), &text).map_err(shown)?;
    let mut problems = Vec::new();
    let location = state(dir, &doc, doc.value.get("state"), &mut problems);
    if problems.is_empty() {
        Ok(location)
    } else {
        Err(shown(problems))
    }
}

/// The project's functions: those run as processes, and those run by a built-in handler.
fn functions(
    dir: &Path,
    doc: &Document,
    value: Option<&Value>,
    problems: &mut Vec<Diagnostic>,
) -> (Vec<FunctionConfig>, Vec<BuiltinFunction>) {
    let (mut out, mut builtins) = (Vec::new(), Vec::new());
    let Some(value) = value else {
        return (out, builtins);
    };
    let Some(map) = value.as_object() else {
        problems.push(doc.diagnostic(
            "/functions",
            "functions must be a mapping of name to settings",
        ));
        return (out, builtins);
    };
    for (name, spec) in map {
        let at = format!("/functions/{name}");
        let Some(spec) = spec.as_object() else {
            problems
                .push(doc.diagnostic(&at, "a function must be a mapping with runtime and handler"));
            continue;
        };
        let Ok(runtime) = text(doc, &at, spec, "runtime", problems) else {
            continue;
        };
        if runtime == Some("builtin") {
            builtins.extend(builtin_function(doc, &at, name, spec, problems));
            continue;
        }
        let runtime = match runtime.map(str::parse::<Runtime>) {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                problems.push(doc.diagnostic(&format!("{at}/runtime"), e));
                continue;
            }
            None => {
                problems.push(doc.diagnostic(
                    &at,
                    "runtime is required (python3, node, provided or builtin)",
                ));
                continue;
            }
        };
        let (Ok(handler), Ok(code)) = (
            text(doc, &at, spec, "handler", problems),
            text(doc, &at, spec, "code", problems),
        ) else {
            continue;
        };
        let Some(handler) = handler else {
            problems
                .push(doc.diagnostic(&at, "handler is required, e.g. functions/mapper.handler"));
            continue;
        };
        let code_dir = match code {
            Some(c) => dir.join(c),
            None => dir.to_path_buf(),
        };
        if let Some(missing) = missing_handler_file(&code_dir, runtime, handler) {
            problems.push(doc.diagnostic(
                &format!("{at}/handler"),
                format!("the handler file {} does not exist", missing.display()),
            ));
        }
        let mut config = FunctionConfig::new(name.clone(), runtime, handler, code_dir);
        for (key, v) in spec {
            let here = format!("{at}/{key}");
            let result = match key.as_str() {
                "runtime" | "handler" | "code" => Ok(()),
                "timeout" => duration(v, MAX_TIMEOUT, "15m, as Lambda allows")
                    .and_then(|d| {
                        if d.is_zero() {
                            Err("a timeout must be longer than 0".to_string())
                        } else {
                            Ok(d)
                        }
                    })
                    .map(|d| config.timeout = d),
                "idle_timeout" => {
                    duration(v, MAX_IDLE_TIMEOUT, "24h").map(|d| config.idle_timeout = d)
                }
                "memory" => memory(v).map(|m| config.memory_mb = m),
                "concurrency" => match v.as_u64() {
                    Some(n) if n >= 1 => {
                        config.concurrency = n as usize;
                        Ok(())
                    }
                    _ => Err("concurrency must be a whole number of at least 1".to_string()),
                },
                "env" => match v.as_object() {
                    Some(env) => {
                        config.env = env
                            .iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v.as_str()
                                        .map(str::to_string)
                                        .unwrap_or_else(|| v.to_string()),
                                )
                            })
                            .collect::<BTreeMap<_, _>>();
                        match env.iter().find(|(_, v)| !env_value(v)) {
                            Some((k, v)) => Err(format!(
                                "env variable '{k}' must be a string, a number or a boolean, found {}",
                                kind(v)
                            )),
                            None => Ok(()),
                        }
                    }
                    None => Err("env must be a mapping of variable to value".to_string()),
                },
                other => Err(format!(
                    "unknown function setting '{other}' (runtime, handler, code, timeout, idle_timeout, memory, concurrency, env)"
                )),
            };
            if let Err(message) = result {
                problems.push(doc.diagnostic(&here, message));
            }
        }
        out.push(config);
    }
    (out, builtins)
}

/// A `runtime: builtin` function: a known handler, its options and its concurrency.
fn builtin_function(
    doc: &Document,
    at: &str,
    name: &str,
    spec: &serde_json::Map<String, Value>,
    problems: &mut Vec<Diagnostic>,
) -> Option<BuiltinFunction> {
    let before = problems.len();
    let handler = match text(doc, at, spec, "handler", problems).map(|h| h.map(Handler::parse)) {
        Err(()) => None,
        Ok(Some(Ok(h))) => Some(h),
        Ok(Some(Err(e))) => {
            problems.push(doc.diagnostic(&format!("{at}/handler"), e));
            None
        }
        Ok(None) => {
            problems.push(doc.diagnostic(
                at,
                format!("handler is required: one of {}", Handler::NAMES.join(", ")),
            ));
            None
        }
    };
    let mut options = serde_json::Map::new();
    let mut concurrency = std::thread::available_parallelism().map_or(2, |n| n.get());
    for (key, v) in spec {
        let here = format!("{at}/{key}");
        let result = match key.as_str() {
            "runtime" | "handler" => Ok(()),
            "options" => match v.as_object() {
                Some(o) => {
                    options = o.clone();
                    Ok(())
                }
                None => Err("options must be a mapping".to_string()),
            },
            "concurrency" => match v.as_u64() {
                Some(n) if n >= 1 => {
                    concurrency = n as usize;
                    Ok(())
                }
                _ => Err("concurrency must be a whole number of at least 1".to_string()),
            },
            other => Err(format!(
                "unknown setting '{other}' of a built-in function (runtime, handler, options, concurrency)"
            )),
        };
        if let Err(message) = result {
            problems.push(doc.diagnostic(&here, message));
        }
    }
    if problems.len() > before {
        return None;
    }
    Some(BuiltinFunction {
        name: name.to_string(),
        handler: handler?,
        options,
        concurrency,
    })
}

/// The file a handler string points at, when it does not exist.
fn missing_handler_file(code_dir: &Path, runtime: Runtime, handler: &str) -> Option<PathBuf> {
    let file = match runtime {
        Runtime::Python3 | Runtime::Node => {
            let module = handler.rsplit_once('.').map(|(m, _)| m).unwrap_or(handler);
            let ext = if runtime == Runtime::Python3 {
                "py"
            } else {
                "js"
            };
            code_dir.join(format!("{module}.{ext}"))
        }
        Runtime::Provided => code_dir.join(if handler.is_empty() {
            "bootstrap"
        } else {
            handler
        }),
    };
    let exists = file.exists()
        || (runtime == Runtime::Node
            && ["mjs", "cjs"]
                .iter()
                .any(|e| file.with_extension(e).exists()));
    (!exists).then_some(file)
}

/// Longest function `timeout`: 15 minutes, as Lambda allows.
const MAX_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Longest `idle_timeout`: a day.
const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Smallest and largest `memory`, in MB, as Lambda allows.
const MEMORY_MB: std::ops::RangeInclusive<u64> = 128..=10_240;

/// An optional string setting: `Err` (with the problem recorded) when it is there but is not a
/// string.
fn text<'v>(
    doc: &Document,
    at: &str,
    spec: &'v serde_json::Map<String, Value>,
    key: &str,
    problems: &mut Vec<Diagnostic>,
) -> Result<Option<&'v str>, ()> {
    match spec.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => {
            problems.push(doc.diagnostic(
                &format!("{at}/{key}"),
                format!("expected a string, found {}", kind(other)),
            ));
            Err(())
        }
    }
}

/// Whether an `env` value can be given to a process: a string, a number or a boolean.
fn env_value(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

/// `memory`: a whole number of MB that Lambda allows.
fn memory(v: &Value) -> Result<u32, String> {
    v.as_u64()
        .filter(|m| MEMORY_MB.contains(m))
        .and_then(|m| u32::try_from(m).ok())
        .ok_or_else(|| {
            let found = match v {
                Value::Number(n) => n.to_string(),
                other => kind(other).to_string(),
            };
            format!(
                "expected a whole number of MB from {} to {}, as Lambda allows, found {found}",
                MEMORY_MB.start(),
                MEMORY_MB.end()
            )
        })
}

/// Parses `60s`, `5m`, `500ms`, `1h` or a number of seconds, at most `max` (`max_text`).
fn duration(v: &Value, max: Duration, max_text: &str) -> Result<Duration, String> {
    let not_a_duration =
        |found: &str| format!("{found} is not a duration such as 60s, 5m or 500ms");
    let (secs, shown) = match v {
        Value::Number(n) => (n.as_f64().unwrap_or(f64::NAN), n.to_string()),
        Value::String(text) => {
            let text = text.trim();
            let split = text
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(text.len());
            let (number, unit) = text.split_at(split);
            let n: f64 = number
                .parse()
                .map_err(|_| not_a_duration(&format!("'{text}'")))?;
            let secs = match unit.trim() {
                "ms" => n / 1000.0,
                "s" | "" => n,
                "m" => n * 60.0,
                "h" => n * 3600.0,
                _ => return Err(not_a_duration(&format!("'{text}'"))),
            };
            (secs, format!("'{text}'"))
        }
        other => return Err(not_a_duration(kind(other))),
    };
    if !(0.0..=max.as_secs_f64()).contains(&secs) {
        return Err(format!(
            "expected a duration from 0 to {max_text}, found {shown}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn flows(
    dir: &Path,
    doc: &Document,
    value: Option<&Value>,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Flow> {
    let Some(value) = value else {
        problems.push(
            doc.diagnostic("", "the project declares no flows")
                .with_hint("add flows: { name: flows/name.asl.json }"),
        );
        return Vec::new();
    };
    let Some(map) = value.as_object() else {
        problems.push(doc.diagnostic(
            "/flows",
            "flows must be a mapping of name to definition file",
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, file) in map {
        let Some(file) = file.as_str() else {
            problems.push(doc.diagnostic(
                &format!("/flows/{name}"),
                "a flow is the path of its definition file",
            ));
            continue;
        };
        let path = dir.join(file);
        let shown = path.display().to_string();
        let source = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) => {
                problems.push(doc.diagnostic(
                    &format!("/flows/{name}"),
                    format!("cannot read {shown}: {e}"),
                ));
                continue;
            }
        };
        match sluice_lang::compile::compile(&shown, &source) {
            Ok(definition) => out.push(Flow {
                name: name.clone(),
                file: shown,
                source,
                definition: Arc::new(definition),
            }),
            Err(ds) => problems.extend(ds),
        }
    }
    out
}

/// Function names that Tasks in a scope call with a fixed resource.
fn called_functions(scope: &Scope) -> Vec<String> {
    let mut out = Vec::new();
    for state in &scope.states {
        match &state.kind {
            StateKind::Task(task) => {
                let params = match &state.io {
                    sluice_lang::ir::Io::JsonPath { parameters, .. } => parameters.clone(),
                    sluice_lang::ir::Io::Jsonata { arguments, .. } => arguments.clone(),
                    sluice_lang::ir::Io::Fdl { parameters, .. } => parameters.clone(),
                };
                let input = params.unwrap_or(Value::Null);
                if let Ok((Target::Function { name, .. }, _)) = resolve(&task.resource, &input) {
                    let dynamic = name.contains("{%") || name.is_empty();
                    if !dynamic {
                        out.push(name);
                    }
                }
            }
            StateKind::Parallel { branches } => branches
                .iter()
                .for_each(|b| out.extend(called_functions(b))),
            StateKind::Map(spec) => out.extend(called_functions(&spec.processor)),
            _ => {}
        }
    }
    out
}
