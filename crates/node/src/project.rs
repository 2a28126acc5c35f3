//! Loading a project: `sluice.yaml` read into the typed [`ProjectFile`], then checked against
//! the directory: handler files exist, flow definitions compile, every Task names a declared
//! function, every connection a function names is declared. Every problem is reported at once.

use crate::calls::{called_functions, named_connections, published_topics};
use crate::de;
use crate::messaging;
use crate::model::{
    ConnectionSpec, FlowSpec, FunctionKind, FunctionRuntime, FunctionSpec, ProjectFile, QueueSpec,
    TriggerSpec,
};
use crate::substitute::substitute;
use sluice_cdc::{CdcConfig, Format};
use sluice_functions::{FunctionConfig, Runtime};
use sluice_io::http::{Auth, HttpFunction, HttpOptions, check_header, endpoint};
use sluice_io::{BuiltinFunction, Handler, ObjectOptions, Storage, StorageConfig, StorageError};
use sluice_lang::diagnostic::Diagnostic;
use sluice_lang::ir::Definition;
use sluice_lang::source::{Document, join_pointer};
use sluice_queues::bus::RuleConfig;
use sluice_queues::cron::Schedule;
use sluice_queues::topics::TopicConfig;
use sluice_queues::triggers::{
    CronTrigger, DEFAULT_MAX_BODY, HttpTrigger, Missed, OBJECT_EVENTS, Overlap, Target,
    UploadTrigger, check_path,
};
use sluice_queues::{Consumer, QueueConfig};
use sluice_store::StoreLocation;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The name of the project file.
pub const PROJECT_FILE: &str = "sluice.yaml";

/// How long an HTTP function may take to answer when its `timeout` is not given.
pub const HTTP_FUNCTION_TIMEOUT: Duration = Duration::from_secs(60);

/// A loaded, validated project.
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// Object storage URL (`file://DIR` or `s3://BUCKET[/PREFIX]?...`).
    pub storage: String,
    /// Storage classes, restores and injected faults (`objects:`).
    pub objects: ObjectOptions,
    /// Where executions are kept (`state:`), if the project says: a PostgreSQL URL or a SQLite
    /// file (a relative path is relative to the project directory).
    pub state: Option<StoreLocation>,
    /// Functions run as processes, in declaration order.
    pub functions: Vec<FunctionConfig>,
    /// Functions run by a built-in handler (`runtime: builtin`).
    pub builtins: Vec<BuiltinFunction>,
    /// HTTP functions and the connections HTTP calls authenticate with.
    pub http: HttpOptions,
    /// Flows in declaration order.
    pub flows: Vec<Flow>,
    /// Durable queues in declaration order.
    pub queues: Vec<QueueConfig>,
    /// Topics, each with its subscriptions.
    pub topics: Vec<TopicConfig>,
    /// Event bus rules.
    pub rules: Vec<RuleConfig>,
    /// HTTP routes that deliver to queues, functions or flows.
    pub http_triggers: Vec<HttpTrigger>,
    /// Schedules.
    pub cron_triggers: Vec<CronTrigger>,
    /// Objects created or deleted under a prefix.
    pub object_triggers: Vec<UploadTrigger>,
    /// Change-data-capture sources.
    pub cdc_triggers: Vec<CdcConfig>,
}

/// One flow of a project.
pub struct Flow {
    /// Flow name.
    pub name: String,
    /// Definition file, as written in the project file.
    pub file: String,
    /// Source text, with its substitutions made.
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
            None => self.flows.first().ok_or_else(|| {
                format!(
                    "the project {} declares no flows, only functions (call one with sluice invoke {} FUNCTION)",
                    self.dir.display(),
                    self.dir.display()
                )
            }),
        }
    }

    /// Every function's name, whatever its kind, in declaration order within each kind.
    pub fn function_names(&self) -> Vec<&str> {
        self.functions
            .iter()
            .map(|f| f.name.as_str())
            .chain(self.builtins.iter().map(|b| b.name.as_str()))
            .chain(self.http.functions.iter().map(|h| h.name.as_str()))
            .collect()
    }

    /// Opens the project's storage; a relative `file://` directory is relative to the project
    /// (and created if missing). Storage classes need the node's store: see
    /// [`Storage::with_classes`].
    pub fn open_storage(&self) -> Result<Storage, StorageError> {
        Storage::from_url(&self.storage, &self.dir)
    }
}

/// Reads `dir/sluice.yaml`: the document and the typed file, with the problems found.
fn read(dir: &Path) -> Result<(Document, Option<ProjectFile>, Vec<Diagnostic>), Vec<Diagnostic>> {
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
    let (project, found) = de::read::<ProjectFile>(&doc);
    problems.extend(found);
    Ok((doc, project, problems))
}

/// Loads and validates `dir/sluice.yaml` and everything it names.
pub fn load(dir: &Path) -> Result<Project, Vec<Diagnostic>> {
    let (doc, file, mut problems) = read(dir)?;
    let file = file.unwrap_or_default();
    let storage = file
        .storage
        .clone()
        .unwrap_or_else(|| "file://./data".to_string());
    if let Err(e) = StorageConfig::parse(&storage, dir) {
        problems.push(doc.diagnostic("/storage", e.to_string()));
    }
    let state = state(dir, &doc, file.state.as_deref(), &mut problems);
    let mut http = HttpOptions::default();
    let connections: Vec<&str> = file.connections.0.iter().map(|(n, _)| n.as_str()).collect();
    for (name, spec) in &file.connections.0 {
        match auth(spec) {
            Ok(auth) => {
                http.connections.insert(name.clone(), auth);
            }
            Err(message) => problems.push(doc.diagnostic(&format!("/connections/{name}"), message)),
        }
    }
    let (mut functions, mut builtins) = (Vec::new(), Vec::new());
    for (name, spec) in &file.functions.0 {
        let at = join_pointer("/functions", name);
        let mut problem = |key: &str, message: String| {
            let pointer = if key.is_empty() {
                at.clone()
            } else {
                join_pointer(&at, key)
            };
            problems.push(doc.diagnostic(&pointer, message));
        };
        let kind = spec.kind();
        let mut fits = true;
        for key in spec.given() {
            if !kind.settings().contains(&key) {
                problem(
                    key,
                    format!(
                        "{key} is not a setting of {} ({})",
                        kind.name(),
                        kind.settings().join(", ")
                    ),
                );
                fits = false;
            }
        }
        if !fits {
            continue;
        }
        match kind {
            FunctionKind::Process => functions.extend(process(dir, name, spec, &mut problem)),
            FunctionKind::Builtin => builtins.extend(builtin(name, spec, &mut problem)),
            FunctionKind::Http => {
                http.functions
                    .extend(http_function(name, spec, &connections, &mut problem))
            }
        }
    }
    let mut flows = Vec::new();
    for (name, spec) in &file.flows.0 {
        match flow(dir, &doc, name, spec) {
            Ok(f) => flows.push(f),
            Err(ds) => problems.extend(ds),
        }
    }
    let defaults = ObjectOptions::default();
    let objects = ObjectOptions {
        classes: file.objects.classes.unwrap_or(defaults.classes),
        restore_delay: file.objects.restore_delay.unwrap_or(defaults.restore_delay),
        copy_failure_rate: file
            .objects
            .copy_failure_rate
            .unwrap_or(defaults.copy_failure_rate),
    };
    let mut project = Project {
        dir: dir.to_path_buf(),
        storage,
        objects,
        state,
        functions,
        builtins,
        http,
        flows,
        queues: Vec::new(),
        topics: Vec::new(),
        rules: Vec::new(),
        http_triggers: Vec::new(),
        cron_triggers: Vec::new(),
        object_triggers: Vec::new(),
        cdc_triggers: Vec::new(),
    };
    let queue_names: Vec<&str> = file.queues.0.iter().map(|(n, _)| n.as_str()).collect();
    for (name, spec) in &file.queues.0 {
        match queue(&project, name, spec, &queue_names) {
            Ok(q) => project.queues.push(q),
            Err((key, message)) => {
                let at = join_pointer("/queues", name);
                let pointer = if key.is_empty() {
                    at
                } else {
                    join_pointer(&at, key)
                };
                problems.push(doc.diagnostic(&pointer, message));
            }
        }
    }
    for (name, spec) in &file.triggers.0 {
        if let Err((key, message)) = trigger(&mut project, name, spec) {
            let at = join_pointer("/triggers", name);
            let pointer = if key.is_empty() {
                at
            } else {
                join_pointer(&at, key)
            };
            problems.push(doc.diagnostic(&pointer, message));
        }
    }
    for (name, spec) in &file.topics.0 {
        match messaging::topic(&project, name, spec) {
            Ok(t) => project.topics.push(t),
            Err(found) => problems.extend(found.into_iter().map(|(place, message)| {
                doc.diagnostic(&pointer("/topics", name, &place), message)
            })),
        }
    }
    for (name, spec) in &file.rules.0 {
        match messaging::rule(&project, name, spec) {
            Ok(r) => project.rules.push(r),
            Err(found) => {
                problems.extend(found.into_iter().map(|(place, message)| {
                    doc.diagnostic(&pointer("/rules", name, &place), message)
                }))
            }
        }
    }
    // The internal queues that deliver to the functions, flows and HTTP endpoints of topics
    // and rules, consumed like the project's own.
    let deliveries: Vec<QueueConfig> = project
        .topics
        .iter()
        .flat_map(TopicConfig::delivery_queues)
        .chain(project.rules.iter().flat_map(RuleConfig::delivery_queues))
        .collect();
    project.queues.extend(deliveries);
    let declared = project.function_names();
    for flow in &project.flows {
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
    for flow in &project.flows {
        for name in named_connections(&flow.definition.root) {
            if !connections.contains(&name.as_str()) {
                problems.push(Diagnostic::new(
                    &flow.file,
                    "",
                    format!(
                        "an HTTP Task authenticates with {}",
                        unknown_connection(&name, &connections)
                    ),
                ));
            }
        }
    }
    let topics: Vec<&str> = file.topics.0.iter().map(|(n, _)| n.as_str()).collect();
    for flow in &project.flows {
        for name in published_topics(&flow.definition.root) {
            if !topics.contains(&name.as_str()) {
                problems.push(
                    Diagnostic::new(
                        &flow.file,
                        "",
                        format!("an sns:publish Task publishes on the topic '{name}', which sluice.yaml does not declare"),
                    )
                    .with_hint("declare it under topics: with its subscribers"),
                );
            }
        }
    }
    if project.flows.is_empty()
        && declared.is_empty()
        && project.queues.is_empty()
        && problems.is_empty()
    {
        problems.push(
            doc.diagnostic("", "the project declares no flows and no functions")
                .with_hint("add flows: { name: flows/name.asl.json } or functions: { name: { runtime: python3, handler: ... } }"),
        );
    }
    if problems.is_empty() {
        Ok(project)
    } else {
        Err(problems)
    }
}

/// The JSON pointer of `place` (slash-separated, possibly empty) under the entry `name` of
/// `section`.
fn pointer(section: &str, name: &str, place: &str) -> String {
    let entry = join_pointer(section, name);
    match place.is_empty() {
        true => entry,
        false => format!("{entry}/{place}"),
    }
}

/// A queue of the project file, its consumer resolved to a declared function or flow; an error
/// names the setting at fault and why.
fn queue(
    project: &Project,
    name: &str,
    spec: &QueueSpec,
    queues: &[&str],
) -> Result<QueueConfig, (&'static str, String)> {
    let mut config = QueueConfig::new(name);
    if let Some(consumer) = &spec.consumer {
        let is_flow = project.flows.iter().any(|f| f.name == *consumer);
        let is_function = project.function_names().contains(&consumer.as_str());
        config.consumer = Some(match (is_function, is_flow) {
            (true, _) => Consumer::Function(consumer.clone()),
            (false, true) => Consumer::Flow(consumer.clone()),
            (false, false) => {
                return Err((
                    "consumer",
                    format!(
                        "the consumer '{consumer}' is neither a function nor a flow of sluice.yaml"
                    ),
                ));
            }
        });
    }
    if let Some(dlq) = &spec.dead_letter {
        if !queues.contains(&dlq.as_str()) {
            return Err((
                "dead_letter",
                format!("the dead-letter queue '{dlq}' is not declared under queues:"),
            ));
        }
        config.dead_letter = Some(dlq.clone());
    }
    config.batch_size = spec.batch_size.unwrap_or(config.batch_size);
    config.batch_timeout = spec.batch_timeout.unwrap_or(config.batch_timeout);
    config.max_retries = spec.max_retries.unwrap_or(config.max_retries);
    config.retry_delay = spec.retry_delay.unwrap_or(config.retry_delay);
    config.max_concurrency = spec.max_concurrency.unwrap_or(config.max_concurrency);
    config.visibility_timeout = spec.visibility_timeout.unwrap_or(config.visibility_timeout);
    config.check().map_err(|e| ("", e))?;
    Ok(config)
}

/// A trigger of the project file, added to the project's HTTP routes or schedules; an error
/// names the setting at fault and why.
fn trigger(
    project: &mut Project,
    name: &str,
    spec: &TriggerSpec,
) -> Result<(), (&'static str, String)> {
    let target = match (&spec.queue, &spec.function, &spec.flow) {
        (Some(q), None, None) if project.queues.iter().any(|c| c.name == *q) => {
            Target::Queue(q.clone())
        }
        (None, Some(f), None) if project.function_names().contains(&f.as_str()) => {
            Target::Function(f.clone())
        }
        (None, None, Some(f)) if project.flows.iter().any(|x| x.name == *f) => {
            Target::Flow(f.clone())
        }
        (Some(q), None, None) => {
            return Err((
                "queue",
                format!("the queue '{q}' is not declared under queues:"),
            ));
        }
        (None, Some(f), None) => {
            return Err((
                "function",
                format!("the function '{f}' is not declared under functions:"),
            ));
        }
        (None, None, Some(f)) => {
            return Err((
                "flow",
                format!("the flow '{f}' is not declared under flows:"),
            ));
        }
        _ => {
            return Err((
                "",
                "a trigger needs exactly one of queue, function or flow".into(),
            ));
        }
    };
    let kind = match (&spec.http, &spec.cron, &spec.object, &spec.cdc) {
        (Some(_), None, None, None) => "http",
        (None, Some(_), None, None) => "cron",
        (None, None, Some(_), None) => "object",
        (None, None, None, Some(_)) => "cdc",
        _ => {
            return Err((
                "",
                "a trigger needs exactly one of http (a path), cron (a schedule), object (a key prefix) or cdc (a postgres:// or mysql:// URL)"
                    .into(),
            ));
        }
    };
    let settings = [
        ("method", spec.method.is_some(), "http"),
        ("token", spec.token.is_some(), "http"),
        ("max_body", spec.max_body.is_some(), "http"),
        ("input", spec.input.is_some(), "cron"),
        ("timezone", spec.timezone.is_some(), "cron"),
        ("overlap", spec.overlap.is_some(), "cron"),
        ("missed", spec.missed.is_some(), "cron"),
        ("suffix", spec.suffix.is_some(), "object"),
        ("events", spec.events.is_some(), "object"),
        ("tables", spec.tables.is_some(), "cdc"),
        ("exclude_tables", spec.exclude_tables.is_some(), "cdc"),
        ("format", spec.format.is_some(), "cdc"),
        ("batch_size", spec.batch_size.is_some(), "cdc"),
        ("batch_timeout", spec.batch_timeout.is_some(), "cdc"),
        ("snapshot_parallel", spec.snapshot_parallel.is_some(), "cdc"),
        (
            "snapshot_chunk_rows",
            spec.snapshot_chunk_rows.is_some(),
            "cdc",
        ),
    ];
    for (key, given, owner) in settings {
        if given && owner != kind {
            return Err((
                key,
                format!("{key} is a setting of {owner} triggers, not of {kind} ones"),
            ));
        }
    }
    if let Some(path) = &spec.http {
        let path = path.clone();
        check_path(&path).map_err(|e| ("http", e))?;
        let method = spec
            .method
            .clone()
            .unwrap_or_else(|| "POST".into())
            .to_ascii_uppercase();
        if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
            return Err((
                "method",
                format!("method {method} is not one of GET, POST, PUT, PATCH, DELETE"),
            ));
        }
        if project
            .http_triggers
            .iter()
            .any(|t| t.path == path && t.method == method)
        {
            return Err(("http", format!("another trigger takes {method} {path}")));
        }
        project.http_triggers.push(HttpTrigger {
            name: name.to_string(),
            path,
            method,
            target,
            token: spec.token.clone(),
            max_body: spec.max_body.unwrap_or(DEFAULT_MAX_BODY),
        });
    } else if let Some(cron) = &spec.cron {
        project
            .cron_triggers
            .push(cron_trigger(name, cron, spec, target)?);
    } else if let Some(prefix) = &spec.object {
        project
            .object_triggers
            .push(object_trigger(name, prefix, spec, target)?);
    } else if let Some(url) = &spec.cdc {
        project
            .cdc_triggers
            .push(cdc_trigger(name, url, spec, target)?);
    }
    Ok(())
}

/// A `cron` trigger: its schedule read in its time zone, its policies known ones (an overlap
/// policy only for flows, whose executions can overlap).
fn cron_trigger(
    name: &str,
    cron: &str,
    spec: &TriggerSpec,
    target: Target,
) -> Result<CronTrigger, (&'static str, String)> {
    let schedule = Schedule::parse_in(cron, spec.timezone.as_deref()).map_err(|e| ("cron", e))?;
    let overlap = match spec.overlap.as_deref().map(Overlap::parse).transpose() {
        Ok(Some(policy)) if policy != Overlap::Allow && !matches!(target, Target::Flow(_)) => {
            return Err((
                "overlap",
                "an overlap policy applies to flow targets, whose executions can overlap".into(),
            ));
        }
        Ok(policy) => policy.unwrap_or_default(),
        Err(e) => return Err(("overlap", e)),
    };
    let missed = spec
        .missed
        .as_deref()
        .map(Missed::parse)
        .transpose()
        .map_err(|e| ("missed", e))?
        .unwrap_or_default();
    Ok(CronTrigger {
        name: name.to_string(),
        schedule,
        target,
        input: spec.input.clone().unwrap_or(serde_json::Value::Null),
        overlap,
        missed,
    })
}

/// A `cdc` trigger: its source, tables, format, batches and snapshot connections (checked by [`CdcConfig::check`]).
fn cdc_trigger(
    name: &str,
    url: &str,
    spec: &TriggerSpec,
    target: Target,
) -> Result<CdcConfig, (&'static str, String)> {
    let config = CdcConfig {
        name: name.to_string(),
        url: url.to_string(),
        tables: spec.tables.clone().unwrap_or_default(),
        exclude_tables: spec.exclude_tables.clone().unwrap_or_default(),
        format: match &spec.format {
            Some(f) => Format::parse(f).map_err(|e| ("format", e))?,
            None => Format::CanalJson,
        },
        batch_size: spec.batch_size.unwrap_or(100),
        batch_timeout: spec.batch_timeout.unwrap_or(Duration::from_secs(1)),
        snapshot_parallel: spec
            .snapshot_parallel
            .unwrap_or_else(CdcConfig::default_snapshot_parallel),
        snapshot_chunk_rows: spec
            .snapshot_chunk_rows
            .unwrap_or(CdcConfig::SNAPSHOT_CHUNK_ROWS),
        target,
    };
    config.check()?;
    Ok(config)
}

/// An `object` trigger: its prefix a valid storage prefix, its events known ones.
fn object_trigger(
    name: &str,
    prefix: &str,
    spec: &TriggerSpec,
    target: Target,
) -> Result<UploadTrigger, (&'static str, String)> {
    sluice_io::validate_prefix(prefix).map_err(|e| ("object", e.to_string()))?;
    let events = spec
        .events
        .clone()
        .unwrap_or_else(|| vec!["created".into()]);
    if events.is_empty() {
        return Err((
            "events",
            format!("events is empty: give some of {}", OBJECT_EVENTS.join(", ")),
        ));
    }
    if let Some(bad) = events.iter().find(|e| !OBJECT_EVENTS.contains(&e.as_str())) {
        return Err((
            "events",
            format!(
                "'{bad}' is not an object event (one of {})",
                OBJECT_EVENTS.join(", ")
            ),
        ));
    }
    Ok(UploadTrigger {
        name: name.to_string(),
        prefix: prefix.to_string(),
        suffix: spec.suffix.clone().unwrap_or_default(),
        created: events.iter().any(|e| e == "created"),
        deleted: events.iter().any(|e| e == "deleted"),
        target,
    })
}

/// The `state:` of the project file in `dir`, if there is a project file, read without loading
/// the rest of the project.
pub fn state_in(dir: &Path) -> Result<Option<StoreLocation>, Vec<Diagnostic>> {
    if !dir.join(PROJECT_FILE).exists() {
        return Ok(None);
    }
    let (doc, file, _) = read(dir)?;
    let mut problems = Vec::new();
    let location = state(
        dir,
        &doc,
        file.as_ref().and_then(|f| f.state.as_deref()),
        &mut problems,
    );
    if problems.is_empty() {
        Ok(location)
    } else {
        Err(problems)
    }
}

/// `state:`: `postgres://USER@HOST:PORT/DB` (or `postgresql://`), or a SQLite file as
/// `sqlite://PATH` or a plain path, relative to the project directory.
fn state(
    dir: &Path,
    doc: &Document,
    value: Option<&str>,
    problems: &mut Vec<Diagnostic>,
) -> Option<StoreLocation> {
    match value?.parse::<StoreLocation>() {
        Ok(location) => Some(location.relative_to(dir)),
        Err(e) => {
            problems.push(doc.diagnostic("/state", e).with_hint(
                "state is where executions are kept: postgres://USER@HOST:PORT/DB, or a SQLite file (sqlite://PATH or a path)",
            ));
            None
        }
    }
}

/// A connection's credentials, secrets read from the environment where it says.
fn auth(spec: &ConnectionSpec) -> Result<Auth, String> {
    let auth = match spec {
        ConnectionSpec::Bearer { token } => Auth::Bearer {
            token: token.resolve()?,
        },
        ConnectionSpec::Basic { username, password } => Auth::Basic {
            username: username.clone(),
            password: password.resolve()?,
        },
        ConnectionSpec::ApiKey { header, value } => Auth::ApiKey {
            header: header.clone(),
            value: value.resolve()?,
        },
    };
    auth.check()?;
    Ok(auth)
}

/// A function run as a process; problems are reported by setting (`""` for the function).
fn process(
    dir: &Path,
    name: &str,
    spec: &FunctionSpec,
    problem: &mut dyn FnMut(&str, String),
) -> Option<FunctionConfig> {
    let Some(FunctionRuntime::Process(runtime)) = spec.runtime else {
        problem(
            "",
            "runtime is required (python3, node, provided or builtin), or http: URL".into(),
        );
        return None;
    };
    let Some(handler) = &spec.handler else {
        problem(
            "",
            "handler is required, e.g. functions/mapper.handler".into(),
        );
        return None;
    };
    let code_dir = match &spec.code {
        Some(c) => dir.join(c),
        None => dir.to_path_buf(),
    };
    if let Some(missing) = missing_handler_file(&code_dir, runtime, handler) {
        problem(
            "handler",
            format!("the handler file {} does not exist", missing.display()),
        );
        return None;
    }
    let mut config = FunctionConfig::new(name.to_string(), runtime, handler, code_dir);
    config.timeout = spec.timeout.unwrap_or(config.timeout);
    config.idle_timeout = spec.idle_timeout.unwrap_or(config.idle_timeout);
    config.memory_mb = spec.memory.unwrap_or(config.memory_mb);
    config.concurrency = spec.concurrency.unwrap_or(config.concurrency);
    config.env = spec.env.clone().unwrap_or_default();
    config.fork = spec.fork.unwrap_or(config.fork);
    Some(config)
}

/// A `runtime: builtin` function: a known handler, its options and its concurrency.
fn builtin(
    name: &str,
    spec: &FunctionSpec,
    problem: &mut dyn FnMut(&str, String),
) -> Option<BuiltinFunction> {
    let handler = match spec.handler.as_deref().map(Handler::parse) {
        Some(Ok(h)) => h,
        Some(Err(e)) => {
            problem("handler", e);
            return None;
        }
        None => {
            problem(
                "",
                format!("handler is required: one of {}", Handler::NAMES.join(", ")),
            );
            return None;
        }
    };
    let options = spec.options.clone().unwrap_or_default();
    if let Some(Err(e)) = sluice_cdc::loader::loader(handler, &options) {
        problem("options", e);
        return None;
    }
    Some(BuiltinFunction {
        name: name.to_string(),
        handler,
        options: spec.options.clone().unwrap_or_default(),
        concurrency: spec
            .concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
    })
}

/// An `http: URL` function; its connection must be declared.
fn http_function(
    name: &str,
    spec: &FunctionSpec,
    connections: &[&str],
    problem: &mut dyn FnMut(&str, String),
) -> Option<HttpFunction> {
    let url = spec.http.clone()?;
    if let Err(e) = endpoint(&url) {
        problem("http", e);
        return None;
    }
    if let Some(connection) = &spec.connection
        && !connections.contains(&connection.as_str())
    {
        problem("connection", unknown_connection(connection, connections));
        return None;
    }
    let headers = spec.headers.clone().unwrap_or_default();
    if let Some(e) = headers.iter().find_map(|(k, v)| check_header(k, v).err()) {
        problem("headers", e);
        return None;
    }
    Some(HttpFunction {
        name: name.to_string(),
        url,
        headers,
        timeout: spec.timeout.unwrap_or(HTTP_FUNCTION_TIMEOUT),
        connection: spec.connection.clone(),
    })
}

/// The problem of naming a connection the project file does not declare.
fn unknown_connection(name: &str, declared: &[&str]) -> String {
    let declared = match declared.is_empty() {
        true => "none".to_string(),
        false => declared.join(", "),
    };
    format!("the connection '{name}', which sluice.yaml does not declare (connections: {declared})")
}

/// Reads, substitutes and compiles one flow.
fn flow(dir: &Path, doc: &Document, name: &str, spec: &FlowSpec) -> Result<Flow, Vec<Diagnostic>> {
    let path = dir.join(&spec.definition);
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        vec![doc.diagnostic(
            &join_pointer("/flows", name),
            format!("cannot read {shown}: {e}"),
        )]
    })?;
    let source = substitute(&shown, &text, &spec.substitutions)?.into_owned();
    let definition = sluice_lang::compile::compile(&shown, &source)?;
    Ok(Flow {
        name: name.to_string(),
        file: shown,
        source,
        definition: Arc::new(definition),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(PROJECT_FILE), yaml).unwrap();
        match load(dir.path()) {
            Ok(_) => Vec::new(),
            Err(ds) => ds
                .iter()
                .map(|d| {
                    format!(
                        "{}:{}",
                        d.position.map(|p| p.to_string()).unwrap_or_default(),
                        d.message
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn cdc_triggers_load_and_bad_settings_name_trigger_and_field() {
        let base = "functions:\n  load: { runtime: builtin, handler: postgres-upsert, options: { url: 'postgres://127.0.0.1/postgres' } }\ntriggers:\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            format!("{base}  orders: {{ cdc: 'postgres://127.0.0.1/test', tables: [public.orders], format: debezium, function: load, batch_size: 50, batch_timeout: 250ms, snapshot_parallel: 2, snapshot_chunk_rows: 5000 }}\n"),
        )
        .unwrap();
        let project = load(dir.path()).unwrap_or_else(|ds| panic!("{ds:?}"));
        let cdc = &project.cdc_triggers[0];
        assert_eq!(cdc.name, "orders");
        assert_eq!(cdc.tables, ["public.orders"]);
        assert_eq!(cdc.format, Format::Debezium);
        assert_eq!(cdc.batch_size, 50);
        assert_eq!(cdc.batch_timeout, Duration::from_millis(250));
        assert_eq!(cdc.snapshot_parallel, 2);
        assert_eq!(cdc.snapshot_chunk_rows, 5000);
        assert_eq!(cdc.target, Target::Function("load".into()));

        let cases = [
            (
                "  o: { cdc: 'postgres://127.0.0.1/test', function: load }\n",
                "list at least one table",
            ),
            (
                "  o: { cdc: 'redis://h/db', tables: [t], function: load }\n",
                "is not a PostgreSQL URL",
            ),
            (
                "  o: { cdc: 'postgres://127.0.0.1/test', tables: [a.b.c], function: load }\n",
                "'a.b.c' is not a table name",
            ),
            (
                "  o: { cdc: 'postgres://127.0.0.1/test', tables: [t], format: avro, function: load }\n",
                "unknown format 'avro'",
            ),
            (
                "  o: { cdc: 'postgres://127.0.0.1/test', tables: [t], batch_size: 0, function: load }\n",
                "batch_size",
            ),
            (
                "  o: { cdc: 'postgres://127.0.0.1/test', tables: [t], snapshot_parallel: 0, function: load }\n",
                "snapshot_parallel 0 is not between 1 and 64",
            ),
            (
                "  o: { cron: '@hourly', snapshot_parallel: 2, function: load }\n",
                "snapshot_parallel is a setting of cdc triggers",
            ),
            (
                "  o: { cron: '@hourly', tables: [t], function: load }\n",
                "tables is a setting of cdc triggers",
            ),
            (
                "  o: { cdc: 'postgres://127.0.0.1/test', tables: [t], token: x, function: load }\n",
                "token is a setting of http triggers, not of cdc ones",
            ),
        ];
        for (trigger, want) in cases {
            let found = problems(&format!("{base}{trigger}"));
            assert_eq!(found.len(), 1, "{trigger}: {found:?}");
            assert!(
                found[0].starts_with("4:"),
                "{trigger}: the trigger's line: {found:?}"
            );
            assert!(found[0].contains(want), "{trigger}: {found:?}");
        }
        // A MySQL URL is checked when the build has MySQL support (the sluice command's default).
        let found = problems(&format!(
            "{base}  o: {{ cdc: 'mysql://h:3306', tables: [t], function: load }}\n"
        ));
        assert!(
            found.len() == 1
                && (found[0].contains("names no database")
                    || found[0].contains("built without MySQL/MariaDB support")),
            "{found:?}"
        );
        let found = problems(
            "functions:\n  load: { runtime: builtin, handler: postgres-upsert, options: { tables: {} } }\n",
        );
        assert!(found[0].contains("option url is required"), "{found:?}");
    }

    #[test]
    fn object_classes_are_native_emulated_or_left_to_the_storage() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            "objects: { classes: emulated, restore_delay: 2s }\n\
             functions:\n  f: { http: 'http://127.0.0.1:9/' }\n",
        )
        .unwrap();
        let project = load(dir.path()).unwrap_or_else(|ds| panic!("{ds:?}"));
        assert_eq!(project.objects.classes, sluice_io::ClassMode::Emulated);
        let found = problems(
            "objects: { classes: glacial }\nfunctions:\n  f: { http: 'http://127.0.0.1:9/' }\n",
        );
        assert_eq!(
            found,
            ["1:12:unknown value 'glacial', expected one of auto, emulated, native"]
        );
    }

    #[test]
    fn credentials_and_headers_that_http_cannot_carry_are_refused_at_load() {
        let found = problems(
            "connections:\n  k: { type: api_key, header: x key, value: v }\n  b: { type: basic, username: 'a:b', password: p }\nfunctions:\n  f: { http: 'http://127.0.0.1:9/', headers: { X-A: \"line\\nbreak\" } }\n",
        );
        assert_eq!(
            found,
            [
                "2:3:'x key' is not a header name",
                "3:3:a basic user name cannot hold ':'",
                "5:37:the value of header 'X-A' has characters a header cannot carry",
            ]
        );
    }

    #[test]
    fn schedule_settings_are_checked_where_they_are_written() {
        let found = problems(
            "queues:\n  q: {}\n\
             triggers:\n\
             \x20 a: { cron: '0 9 * * *', timezone: Mars/Olympus, queue: q }\n\
             \x20 b: { cron: '0 9 * * *', overlap: skip, queue: q }\n\
             \x20 c: { http: /in, timezone: UTC, queue: q }\n\
             \x20 d: { cron: '@daily', missed: never, queue: q }\n",
        );
        assert_eq!(found.len(), 4, "{found:?}");
        for (problem, says) in found.iter().zip([
            "'Mars/Olympus' is not an IANA time zone",
            "an overlap policy applies to flow targets",
            "timezone is a setting of cron triggers",
            "'never' is not a policy for missed firings",
        ]) {
            assert!(problem.contains(says), "{problem} should say {says}");
        }
    }

    #[test]
    fn fork_is_a_process_setting_and_misspellings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("h.py"),
            "def handler(e, c):\n    return e\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            "functions:\n  a: { runtime: python3, handler: h.handler, fork: false }\n  b: { runtime: python3, handler: h.handler }\n",
        )
        .unwrap();
        let project = load(dir.path()).unwrap_or_else(|ds| panic!("{ds:?}"));
        let forks: Vec<bool> = project.functions.iter().map(|f| f.fork).collect();
        assert_eq!(forks, [false, true]);

        let found =
            problems("functions:\n  f: { runtime: python3, handler: h.handler, forks: false }\n");
        assert!(found[0].contains("unknown field 'forks'"), "{found:?}");
        let found = problems("functions:\n  f: { http: 'http://127.0.0.1:9/', fork: false }\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("fork"), "{found:?}");
    }

    #[test]
    fn topics_and_rules_are_checked_against_the_project() {
        let found = problems(
            "queues:\n  audit: {}\nfunctions:\n  f: { http: 'http://127.0.0.1:9/' }\ntopics:\n  orders:\n    subscribers:\n      - queue: audit\n      - queue: nope\n  big:\n    subscribers:\n      - { function: f, raw_message_delivery: true }\n  filtered:\n    subscribers:\n      - { queue: audit, filter_policy: { a: { b: [x] } } }\nrules:\n  r:\n    pattern: { detail: { n: [{ numeric: ['>', x] }] } }\n    targets: [ { function: f } ]\n  s:\n    pattern: { source: [a] }\n    targets: [ { flow: none } ]\n",
        );
        assert_eq!(found.len(), 5, "{found:?}");
        assert!(
            found[0].starts_with("9:9:") && found[0].contains("the queue 'nope' is not declared"),
            "{found:?}"
        );
        assert!(
            found[1].contains("raw_message_delivery applies to queue and http"),
            "{found:?}"
        );
        assert!(
            found[2].contains("at a: a filter policy on message attributes cannot nest keys"),
            "{found:?}"
        );
        assert!(
            found[3].contains("at detail.n[0].numeric: \"x\" is not a number"),
            "{found:?}"
        );
        assert!(
            found[4].contains("the flow 'none' is not declared"),
            "{found:?}"
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            "queues:\n  audit: {}\nfunctions:\n  f: { http: 'http://127.0.0.1:9/' }\ntopics:\n  orders:\n    subscribers: [ { queue: audit }, { function: f }, { http: 'http://127.0.0.1:9/hook' } ]\nrules:\n  r: { pattern: { source: [a] }, targets: [ { queue: audit }, { function: f } ] }\n",
        )
        .unwrap();
        let project = load(dir.path()).unwrap_or_else(|ds| panic!("{ds:?}"));
        let names: Vec<&str> = project.queues.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(
            names,
            ["audit", "topic:orders:2", "topic:orders:3", "rule:r:2"]
        );
        assert_eq!(
            project.queues[1].consumer,
            Some(Consumer::Event("f".into()))
        );
        assert_eq!(
            project.queues[2].consumer,
            Some(Consumer::Webhook("http://127.0.0.1:9/hook".into()))
        );
    }

    #[test]
    fn a_flow_publishing_on_an_undeclared_topic_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let publish = |topic: &str| {
            format!(
                r#"{{"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "Parameters": {{"TopicArn": "{topic}", "Message": "x"}}, "End": true}}"#
            )
        };
        let flow = format!(
            r#"{{"StartAt": "A", "States": {{"A": {{"Type": "Parallel", "Branches": [{{"StartAt": "B", "States": {{"B": {}}}}}, {{"StartAt": "C", "States": {{"C": {}}}}}], "End": true}}}}}}"#,
            publish("arn:aws:sns:us-east-1:123456789012:orders"),
            publish("ordrs"),
        );
        std::fs::write(dir.path().join("f.json"), flow).unwrap();
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            "flows:\n  f: f.json\nqueues:\n  q: {}\ntopics:\n  orders: { subscribers: [ { queue: q } ] }\n",
        )
        .unwrap();
        let found = load(dir.path()).err().unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0]
                .message
                .contains("the topic 'ordrs', which sluice.yaml does not declare"),
            "{found:?}"
        );
    }

    #[test]
    fn a_project_of_functions_only_loads_and_says_it_has_no_flow_to_run() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            "functions:\n  f: { http: 'http://127.0.0.1:9/' }\n",
        )
        .unwrap();
        let project = load(dir.path()).unwrap_or_else(|ds| panic!("{ds:?}"));
        assert_eq!(project.function_names(), ["f"]);
        let refused = project.flow(None).err().unwrap();
        assert!(
            refused.contains("declares no flows, only functions"),
            "{refused}"
        );
        assert_eq!(
            format!("{:?}", crate::Secret::Literal("s3cret".into())),
            "Literal(..)"
        );
    }

    #[test]
    fn object_triggers_load_with_their_filter_and_events() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(PROJECT_FILE),
            "queues:\n  logs: {}\ntriggers:\n  uploads: { object: raw/logs/, suffix: .log, events: [created, deleted], queue: logs }\n  plain: { object: raw/, queue: logs }\n",
        )
        .unwrap();
        let project = load(dir.path()).unwrap_or_else(|ds| panic!("{ds:?}"));
        let t = &project.object_triggers;
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].prefix.as_str(), t[0].suffix.as_str()),
            ("raw/logs/", ".log")
        );
        assert!(t[0].created && t[0].deleted);
        assert!(t[1].created && !t[1].deleted, "events default to [created]");
        assert!(t[1].matches("raw/a.csv") && !t[0].matches("raw/logs/a.txt"));
    }

    #[test]
    fn bad_object_triggers_name_the_trigger_and_setting() {
        let queue = "queues:\n  q: {}\ntriggers:\n";
        for (trigger, says) in [
            (
                "  t: { object: raw/, events: [made], queue: q }\n",
                "4:22:'made' is not an object event",
            ),
            (
                "  t: { object: raw/, events: [], queue: q }\n",
                "events is empty",
            ),
            (
                "  t: { object: /abs, queue: q }\n",
                "prefix '/abs' is absolute",
            ),
            (
                "  t: { object: raw/, method: GET, queue: q }\n",
                "method is a setting of http triggers, not of object ones",
            ),
            (
                "  t: { cron: '@daily', suffix: .log, queue: q }\n",
                "suffix is a setting of object triggers, not of cron ones",
            ),
            (
                "  t: { object: raw/, cron: '@daily', queue: q }\n",
                "exactly one of http (a path), cron (a schedule), object (a key prefix) or cdc",
            ),
            (
                "  t: { object: raw/, queue: nope }\n",
                "the queue 'nope' is not declared",
            ),
        ] {
            let found = problems(&format!("{queue}{trigger}"));
            assert_eq!(found.len(), 1, "{trigger}: {found:?}");
            assert!(found[0].contains(says), "{trigger}: {found:?}");
            assert!(found[0].starts_with("4:"), "{trigger}: {found:?}");
        }
    }
}
