//! `sluice run` and `sluice resume`.

use crate::app::App;
use crate::project::{self, Project};
use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};
use sluice_engine::model::Status;
use sluice_engine::payload::{EXECUTION_INPUT, PayloadLimit};
use sluice_engine::run_info::{RunInfo, validate_execution_name};
use sluice_engine::{ClockMode, EngineOptions, Outcome, StartRequest};
use sluice_functions::FunctionPool;
use sluice_lang::diagnostic::Diagnostic;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};

/// Arguments of `sluice run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// A flow definition file (ASL JSON/YAML or CloudFlow FDL), or a project directory with
    /// `sluice.yaml`.
    pub file: PathBuf,
    /// Which flow of the project to run (default: the first declared).
    #[arg(long)]
    pub flow: Option<String>,
    /// Execution input (JSON text). Default `{}`.
    #[arg(long)]
    pub input: Option<String>,
    /// Print one JSON line `{status, output, error, cause}` instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// Account, region, names and role to run under (JSON with `account_id`, `region`,
    /// `state_machine_name`, `execution_name`, `role_arn`, `state_machine_type`).
    #[arg(long)]
    pub aws_context: Option<String>,
    /// Let Wait states and retry backoff advance a virtual clock instead of sleeping.
    #[arg(long)]
    pub virtual_clock: bool,
    /// Execution id (default: a new UUID).
    #[arg(long)]
    pub name: Option<String>,
    /// Start this many executions of the flow at once and wait for all (ids get `-1`, `-2`...).
    #[arg(long, default_value_t = 1)]
    pub executions: usize,
    /// Seed of the executions' random decisions (retry jitter, JSONata `$random()`, `$uuid()`,
    /// `$shuffle()`); default: a fresh one. With `--virtual-clock` the clock then starts at
    /// 2020-01-01T00:00:00Z, so that a run with the same name, input and seed repeats exactly.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Where a virtual clock starts when a seed is given: 2020-01-01T00:00:00Z.
const SEEDED_CLOCK_START_MS: i64 = 1_577_836_800_000;

/// Arguments of `sluice resume`.
#[derive(clap::Args)]
pub struct ResumeArgs {
    /// The project directory whose functions the executions call.
    pub project: Option<PathBuf>,
    /// Print one JSON line per execution.
    #[arg(long)]
    pub json: bool,
    /// Let timers advance a virtual clock.
    #[arg(long)]
    pub virtual_clock: bool,
}

/// Arguments of `sluice redrive`.
#[derive(clap::Args)]
pub struct RedriveArgs {
    /// The execution to restart.
    pub id: String,
    /// The project directory whose functions the execution calls.
    pub project: Option<PathBuf>,
    /// Print one JSON line `{execution, status, output, error, cause}`.
    #[arg(long)]
    pub json: bool,
    /// Let timers advance a virtual clock.
    #[arg(long)]
    pub virtual_clock: bool,
}

fn options(virtual_clock: bool) -> EngineOptions {
    EngineOptions {
        clock: if virtual_clock {
            ClockMode::Virtual
        } else {
            ClockMode::Real
        },
        ..EngineOptions::default()
    }
}

/// What `sluice run` was pointed at, loaded and validated.
struct Target {
    flow: String,
    file: String,
    source: String,
    definition: Arc<sluice_lang::ir::Definition>,
    project: Option<Project>,
}

fn load_target(args: &RunArgs) -> anyhow::Result<Result<Target, Vec<Diagnostic>>> {
    if args.file.is_dir() {
        let project = match project::load(&args.file) {
            Ok(p) => p,
            Err(ds) => return Ok(Err(ds)),
        };
        let flow = project
            .flow(args.flow.as_deref())
            .map_err(anyhow::Error::msg)?;
        return Ok(Ok(Target {
            flow: flow.name.clone(),
            file: flow.file.clone(),
            source: flow.source.clone(),
            definition: flow.definition.clone(),
            project: Some(project),
        }));
    }
    let file = args.file.display().to_string();
    let source = std::fs::read_to_string(&args.file).with_context(|| format!("reading {file}"))?;
    Ok(match sluice_lang::compile::compile(&file, &source) {
        Ok(d) => Ok(Target {
            flow: flow_name(&args.file),
            file,
            source,
            definition: Arc::new(d),
            project: None,
        }),
        Err(ds) => Err(ds),
    })
}

/// The data directory: the one given, else `.sluice` inside a project, else `./.sluice`.
pub fn data_dir_for(given: Option<&Path>, project: Option<&Path>) -> PathBuf {
    match (given, project) {
        (Some(d), _) => d.to_path_buf(),
        (None, Some(p)) => p.join(".sluice"),
        (None, None) => PathBuf::from(".sluice"),
    }
}

/// Starts the engine, with the project's functions when there is a project.
fn start_app(
    data_dir: &Path,
    options: EngineOptions,
    project: Option<&Project>,
) -> anyhow::Result<(App, Option<FunctionPool>)> {
    match project {
        Some(p) => {
            let bucket = crate::app::project_bucket(p).unwrap_or_else(|_| "sluice".into());
            let (app, pool) = App::start_project(data_dir, options, p, &bucket)?;
            Ok((app, Some(pool)))
        }
        None => Ok((App::start(data_dir, options)?, None)),
    }
}

/// Runs one flow (a definition file, or a flow of a project directory) to the end.
pub fn run(data_dir: Option<&Path>, args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.executions == 0 {
        bail!("--executions must be at least 1");
    }
    let count = args.executions;
    let id = args
        .name
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    check_names(&id, count)?;
    let target = match load_target(&args)? {
        Ok(t) => t,
        Err(diagnostics) => {
            crate::validate::print_diagnostics(&diagnostics);
            return Ok(ExitCode::from(2));
        }
    };
    let input = read_input(args.input.as_deref(), &EXECUTION_INPUT)?;
    let mut info = match &args.aws_context {
        Some(text) => aws_context(text, &target.flow, &id)?,
        None => RunInfo::local(&target.flow, &id, 0),
    };
    validate_execution_name(&info.execution_name).map_err(|e| {
        anyhow!(
            "--aws-context execution_name {:?}: {e}",
            info.execution_name
        )
    })?;
    let mut options = options(args.virtual_clock);
    if let Some(seed) = args.seed {
        info.seed = seed;
        options.clock_start_ms = Some(SEEDED_CLOCK_START_MS);
    }
    let given_data_dir = data_dir;
    let data_dir = data_dir_for(data_dir, target.project.as_ref().map(|p| p.dir.as_path()));
    let (app, pool) = start_app(&data_dir, options, target.project.as_ref())?;
    let definition_id = match &target.project {
        Some(project) => {
            app.serve(Some(project))?;
            app.store.put_definition(
                &target.flow,
                &target.file,
                &target.source,
                Some(&crate::app::project_key(project)),
            )?
        }
        None => {
            let id = app
                .store
                .put_definition(&target.flow, &target.file, &target.source, None)?;
            app.runtime.block_on(app.engine.serve(vec![id.clone()]))?;
            id
        }
    };
    let definition = target.definition.clone();
    let started = Instant::now();
    let outcomes = app.runtime.block_on(async {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let progress = (!args.json && std::io::stderr().is_terminal())
            .then(|| Progress::spawn(app.engine.clone(), pool.clone(), started));
        let all = async {
            let mut ids = Vec::with_capacity(count);
            for i in 0..count {
                let (id, mut info) = (id.clone(), info.clone());
                let id = if count == 1 {
                    id
                } else {
                    format!("{id}-{}", i + 1)
                };
                if count > 1 {
                    info.execution_name = id.clone();
                }
                let engine = app.engine.clone();
                let request = StartRequest {
                    id,
                    definition_id: definition_id.clone(),
                    definition: definition.clone(),
                    info,
                    input: input.clone(),
                };
                ids.push(tokio::spawn(async move {
                    engine.start_execution(request).await
                }));
            }
            let mut outcomes = Vec::with_capacity(count);
            for handle in ids {
                let id = handle.await.map_err(anyhow::Error::from)??;
                outcomes.push(app.engine.wait(&id).await?);
            }
            anyhow::Ok(outcomes)
        };
        let outcomes = tokio::select! {
            outcomes = all => Some(outcomes),
            _ = interrupt.recv() => None,
        };
        if let Some(p) = progress {
            p.stop();
        }
        outcomes.transpose()
    })?;
    let Some(outcomes) = outcomes else {
        let resume = resume_command(
            given_data_dir,
            target.project.as_ref().map(|p| p.dir.as_path()),
            args.virtual_clock,
        );
        return interrupted(&app, pool.as_ref(), &resume);
    };
    let elapsed = started.elapsed();
    let stats = app.engine.stats();
    let transitions = stats.transitions.load(Ordering::Relaxed);
    let commits = stats.commits.load(Ordering::Relaxed);
    app.engine.shutdown();
    if let Some(pool) = &pool {
        app.runtime.block_on(pool.shutdown());
    }
    for outcome in &outcomes {
        report(outcome, args.json, elapsed);
    }
    eprintln!(
        "{count} execution{} {transitions} state transitions in {:.3}s ({:.0}/s, {commits} commits)",
        if count == 1 { "," } else { "s," },
        elapsed.as_secs_f64(),
        transitions as f64 / elapsed.as_secs_f64().max(1e-9),
    );
    Ok(outcomes
        .iter()
        .find(|o| o.status != Status::Succeeded)
        .map(exit_code)
        .unwrap_or(ExitCode::SUCCESS))
}

/// After Ctrl-C: stops the engine and the functions, says which executions are left RUNNING and
/// how to resume them, and exits with 130 as a shell does for SIGINT.
fn interrupted(app: &App, pool: Option<&FunctionPool>, resume: &str) -> anyhow::Result<ExitCode> {
    app.engine.shutdown();
    if let Some(pool) = pool {
        app.runtime.block_on(pool.shutdown());
    }
    let mut left: Vec<String> = app
        .store
        .running_roots()?
        .into_iter()
        .map(|e| e.id)
        .collect();
    left.sort();
    match left.as_slice() {
        [] => eprintln!("sluice: interrupted; no execution is left running"),
        _ => {
            eprintln!(
                "sluice: interrupted; {} execution{} left RUNNING: {}",
                left.len(),
                if left.len() == 1 { "" } else { "s" },
                left.join(", ")
            );
            eprintln!(
                "resume {} with: {resume}",
                if left.len() == 1 { "it" } else { "them" }
            );
        }
    }
    Ok(ExitCode::from(130))
}

/// The `sluice resume` command line that picks up what a run left in its data directory.
fn resume_command(
    given_data_dir: Option<&Path>,
    project: Option<&Path>,
    virtual_clock: bool,
) -> String {
    let mut words = vec!["sluice".to_string()];
    if let Some(dir) = given_data_dir {
        words.push("--data-dir".into());
        words.push(shell_word(&dir.display().to_string()));
    }
    words.push("resume".into());
    if let Some(dir) = project {
        words.push(shell_word(&dir.display().to_string()));
    }
    if virtual_clock {
        words.push("--virtual-clock".into());
    }
    words.join(" ")
}

/// A word a POSIX shell reads back as `text`: as it is when it is plain, else single-quoted.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// Checks the names `count` executions named after `id` get (`id`, or `id-1` to `id-N`) against
/// Step Functions' rules.
fn check_names(id: &str, count: usize) -> anyhow::Result<()> {
    validate_execution_name(id).map_err(|e| anyhow!("--name {id:?}: {e}"))?;
    if count > 1 {
        let last = format!("{id}-{count}");
        validate_execution_name(&last).map_err(|e| {
            anyhow!(
                "--name {id:?} with --executions {count} names the last execution {last:?}: {e}"
            )
        })?;
    }
    Ok(())
}

/// Resumes what stopped processes left running and waits for all of it. Only executions of
/// the flows this process loads are touched; executions another live process drives are waited
/// for (and taken over if that process dies). The others are listed with the reason.
pub fn resume(data_dir: Option<&Path>, args: ResumeArgs) -> anyhow::Result<ExitCode> {
    let data_dir = data_dir_for(data_dir, args.project.as_deref());
    let project = args.project.as_deref();
    with_engine(&data_dir, project, args.virtual_clock, |app, served| {
        let mut ids = Vec::new();
        for e in app.store.running_roots()? {
            if !served.definitions.contains(&e.definition_id) {
                eprintln!(
                    "sluice: left execution '{}' (flow {}) running: its flow is not one of the {}",
                    e.id, e.flow, served.owner
                );
                continue;
            }
            if let (Some(owner), Some(until)) = (&e.owner, e.lease_until_ms)
                && until > chrono::Utc::now().timestamp_millis()
            {
                eprintln!(
                    "sluice: execution '{}' is driven by process {owner}; waiting for it (taken over if that process stops)",
                    e.id
                );
            }
            ids.push(e.id);
        }
        Ok(ids
            .iter()
            .map(|id| wait_and_report(app, id, args.json))
            .collect::<anyhow::Result<Vec<_>>>()?
            .into_iter()
            .all(|ok| ok))
    })
}

/// Restarts a failed execution from the states that failed and waits for it.
pub fn redrive(data_dir: Option<&Path>, args: RedriveArgs) -> anyhow::Result<ExitCode> {
    let data_dir = data_dir_for(data_dir, args.project.as_deref());
    let project = args.project.as_deref();
    with_engine(&data_dir, project, args.virtual_clock, |app, _| {
        app.runtime.block_on(app.engine.redrive(&args.id))?;
        wait_and_report(app, &args.id, args.json)
    })
}

/// Starts the engine (with the project's functions, if a project is given), runs `work`, and
/// shuts everything down. Exit code 1 when `work` says an execution did not succeed.
fn with_engine(
    data_dir: &Path,
    project_dir: Option<&Path>,
    virtual_clock: bool,
    work: impl FnOnce(&App, &crate::app::Served) -> anyhow::Result<bool>,
) -> anyhow::Result<ExitCode> {
    let project = match project_dir {
        Some(dir) => match project::load(dir) {
            Ok(p) => Some(p),
            Err(ds) => {
                crate::validate::print_diagnostics(&ds);
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    let (app, pool) = start_app(data_dir, options(virtual_clock), project.as_ref())?;
    let result = app
        .serve(project.as_ref())
        .and_then(|served| work(&app, &served));
    app.engine.shutdown();
    if let Some(pool) = &pool {
        app.runtime.block_on(pool.shutdown());
    }
    Ok(if result? {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Waits for an execution, prints how it ended, and says whether it succeeded.
fn wait_and_report(app: &App, id: &str, json_line: bool) -> anyhow::Result<bool> {
    let started = Instant::now();
    let outcome = app.runtime.block_on(app.engine.wait(id))?;
    report(&outcome, json_line, started.elapsed());
    Ok(outcome.status == Status::Succeeded)
}

/// Reads `--input`: JSON text, or `@path` to read it from a file; default `{}`. Text over `limit`
/// is refused, a file before it is read whole.
pub fn read_input(arg: Option<&str>, limit: &PayloadLimit) -> anyhow::Result<Value> {
    let text = match arg {
        None => return Ok(json!({})),
        Some(a) => match a.strip_prefix('@') {
            Some(path) => limit
                .read_file(Path::new(path))
                .with_context(|| format!("reading {path}"))?,
            None => limit.check(a.len() as u64).map(|()| a.to_string())?,
        },
    };
    serde_json::from_str(&text).context("--input is not valid JSON")
}

fn flow_name(file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "flow".into());
    let stem = name.split('.').next().unwrap_or("flow");
    match (stem, file.parent().and_then(Path::file_name)) {
        ("flow", Some(dir)) => dir.to_string_lossy().to_string(),
        _ => stem.to_string(),
    }
}

fn aws_context(text: &str, flow: &str, id: &str) -> anyhow::Result<RunInfo> {
    let v: Value = serde_json::from_str(text).context("--aws-context is not valid JSON")?;
    let get = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let local = RunInfo::local(flow, id, 0);
    if !v.is_object() {
        bail!("--aws-context must be a JSON object");
    }
    Ok(RunInfo {
        account_id: get("account_id").unwrap_or(local.account_id),
        region: get("region").unwrap_or(local.region),
        state_machine_name: get("state_machine_name").unwrap_or(local.state_machine_name),
        execution_name: get("execution_name").unwrap_or(local.execution_name),
        role_arn: get("role_arn").unwrap_or(local.role_arn),
        state_machine_type: get("state_machine_type").unwrap_or(local.state_machine_type),
        start_ms: 0,
        seed: local.seed,
        parent: None,
        started_by: None,
    })
}

fn exit_code(outcome: &Outcome) -> ExitCode {
    if outcome.status == Status::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Prints how an execution ended: a JSON line, or a summary on stderr and the output (or error
/// and cause) on stdout.
pub fn report(outcome: &Outcome, json_line: bool, elapsed: Duration) {
    if json_line {
        let line = json!({
            "execution": outcome.id,
            "status": outcome.status.as_str(),
            "output": outcome.output,
            "error": outcome.error,
            "cause": outcome.cause,
        });
        outln!("{line}");
        return;
    }
    eprintln!(
        "{} in {:.3}s (execution {})",
        outcome.status.as_str(),
        elapsed.as_secs_f64(),
        outcome.id
    );
    match outcome.status {
        Status::Succeeded => {
            let out = outcome.output.clone().unwrap_or(Value::Null);
            outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        _ => {
            outln!("error: {}", outcome.error.as_deref().unwrap_or("-"));
            outln!("cause: {}", outcome.cause.as_deref().unwrap_or("-"));
        }
    }
}

/// Distributed Map items for the progress line: succeeded, failed and running (empty when none).
fn map_items(stats: &sluice_engine::driver::Stats) -> String {
    let started = stats.items_started.load(Ordering::Relaxed);
    if started == 0 {
        return String::new();
    }
    let succeeded = stats.items_succeeded.load(Ordering::Relaxed);
    let failed = stats.items_failed.load(Ordering::Relaxed);
    format!(
        ", map items {succeeded} succeeded / {failed} failed / {} running",
        started.saturating_sub(succeeded + failed)
    )
}

/// A live progress line on stderr.
struct Progress {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Progress {
    fn spawn(
        engine: sluice_engine::Engine,
        pool: Option<FunctionPool>,
        started: Instant,
    ) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let thread = std::thread::spawn(move || {
            let spinner = ['|', '/', '-', '\\'];
            let mut i = 0;
            while !flag.load(Ordering::Relaxed) {
                let stats = engine.stats();
                let warm: usize = pool
                    .as_ref()
                    .map(|p| p.stats().iter().map(|f| f.instances).sum())
                    .unwrap_or(0);
                eprint!(
                    "\r{} running: {} states entered, {} task calls, {} function instances warm{}, {:.1}s ",
                    spinner[i % 4],
                    stats.transitions.load(Ordering::Relaxed),
                    stats.invocations.load(Ordering::Relaxed),
                    warm,
                    map_items(stats),
                    started.elapsed().as_secs_f64()
                );
                let _ = std::io::stderr().flush();
                i += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            eprint!("\r\x1b[2K");
        });
        Progress { done, thread }
    }

    fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}
