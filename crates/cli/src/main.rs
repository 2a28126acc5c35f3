//! `sluice`: run, validate and inspect flows.
//!
//! Data goes to stdout, progress and diagnostics to stderr. Exit codes: 0 success, 1 the flow
//! failed, 2 a bad definition or bad usage.

/// `println!` that ends the process quietly when stdout is closed (e.g. piped into `head`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// The allocator of the whole process: mimalloc, whose thread-local free lists make the many
/// small allocations of JSON values (CDC messages built on one thread, dropped on another)
/// several times cheaper than the system allocator's arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod app;
mod cdc_cmd;
mod client;
mod consumers;
mod inspect;
mod invoke;
mod invoker;
mod logs;
mod project;
mod queue_cmd;
mod run;
#[cfg(feature = "s3")]
mod s3;
mod serve;
mod stop;
mod tokens;
mod topic_cmd;
mod validate;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Sluice: durable flows, functions and queues in one binary.
#[derive(Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    /// Where executions and history are kept (default: `.sluice` in the project directory, or
    /// in the current directory).
    #[arg(long, global = true, env = "SLUICE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where executions are stored: `postgres://USER@HOST:PORT/DB`, or a SQLite file
    /// (`sqlite://PATH` or a path). Default: the project's `state:`, else `sluice.db` in the data
    /// directory.
    #[arg(long, global = true, env = "SLUICE_STORE")]
    store: Option<sluice_store::StoreLocation>,
    /// A running node (`http://HOST:PORT`): `start`, `list`, `describe`, `history`, `stop`,
    /// `redrive` and the `send-task-*` commands go to its API instead of the local store.
    #[arg(long, global = true, env = "SLUICE_SERVER")]
    server: Option<String>,
    /// The node's bearer token (its `--token`).
    #[arg(long, global = true, env = "SLUICE_API_TOKEN", hide_env_values = true)]
    server_token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a flow to the end and print its output.
    Run(run::RunArgs),
    /// Resume executions a stopped process left running, and wait for them.
    Resume(run::ResumeArgs),
    /// Restart a failed execution from the states that failed, keeping what succeeded.
    Redrive(run::RedriveArgs),
    /// Serve a project's flows to AWS's Step Functions clients (`AWS_ENDPOINT_URL_SFN`) until
    /// interrupted.
    Serve(serve::ServeArgs),
    /// Stop a running execution (ABORTED), whichever process drives it.
    Stop(stop::StopArgs),
    /// Call one function of a project directly, once or many times, and print its result.
    Invoke(invoke::InvokeArgs),
    /// Check definitions and projects and report every problem with its position.
    Validate {
        /// Definition files (ASL JSON/YAML or CloudFlow FDL), or project directories: their
        /// `sluice.yaml` and every flow it declares.
        files: Vec<PathBuf>,
    },
    /// List executions, newest first.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Include the child executions of Distributed Maps.
        #[arg(long)]
        all: bool,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Show one execution.
    Describe {
        /// Execution id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what functions printed: for a function name, or for every call of an execution.
    Logs(logs::LogsArgs),
    /// Show an execution's history events.
    History {
        /// Execution id.
        id: String,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Start an execution on a running node (`--server`) without waiting for it.
    Start {
        /// The flow (state machine) name.
        flow: String,
        /// The execution's name (default: a UUID).
        #[arg(long)]
        name: Option<String>,
        /// The input, JSON (default `{}`).
        #[arg(long)]
        input: Option<String>,
    },
    /// Complete a `.waitForTaskToken` Task with an output.
    SendTaskSuccess {
        /// The task token.
        token: String,
        /// The Task's output, JSON.
        #[arg(long)]
        output: String,
    },
    /// Fail a `.waitForTaskToken` Task.
    SendTaskFailure {
        /// The task token.
        token: String,
        /// The error name.
        #[arg(long)]
        error: Option<String>,
        /// The cause.
        #[arg(long)]
        cause: Option<String>,
    },
    /// Restart the heartbeat clock of a `.waitForTaskToken` Task.
    SendTaskHeartbeat {
        /// The task token.
        token: String,
    },
    /// Send a message onto a queue of a project.
    Send(queue_cmd::SendArgs),
    /// Look at and manage a project's queues.
    #[command(subcommand)]
    Queue(queue_cmd::QueueCommand),
    /// Publish a message on a topic of a project.
    Publish(topic_cmd::PublishArgs),
    /// Put an event on a project's event bus.
    PutEvent(topic_cmd::PutEventArgs),
    /// Look at a project's change-data-capture sources, or make one take a new snapshot.
    #[command(subcommand)]
    Cdc(cdc_cmd::CdcCommand),
}

impl Command {
    /// Runs the command on the node's API, or `None` when it works on the local store only.
    fn on_server(self, server: &client::Client) -> Result<anyhow::Result<ExitCode>, Box<Command>> {
        Ok(match self {
            Command::Start { flow, name, input } => client::start(server, &flow, name, input),
            Command::List { limit, all, .. } => client::list(server, limit, all),
            Command::Describe { id, .. } => client::describe(server, &id),
            Command::History { id, .. } => client::history(server, &id),
            Command::Stop(args) => client::stop(server, &args.id, args.error, args.cause),
            Command::Redrive(args) => client::redrive(server, &args.id),
            Command::Send(args) => queue_cmd::send(Some(server), None, args),
            Command::Queue(command) => queue_cmd::queue(Some(server), None, command),
            Command::Publish(args) => topic_cmd::publish(Some(server), None, args),
            Command::PutEvent(args) => topic_cmd::put_event(Some(server), None, args),
            Command::Cdc(command) => cdc_cmd::cdc(Some(server), None, command),
            other => return Err(Box::new(other)),
        })
    }
}

/// Logs what the process does on stderr at the level `SLUICE_LOG` names (`error`, `warn`,
/// `info`, `debug`, `trace`): executions started and ended, each API request and each Task
/// call as a span with its duration. Nothing without it.
fn init_tracing() -> Result<(), String> {
    let Ok(level) = std::env::var("SLUICE_LOG") else {
        return Ok(());
    };
    let level: tracing::Level = level
        .parse()
        .map_err(|_| format!("SLUICE_LOG={level:?}: expected error, warn, info, debug or trace"))?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .try_init()
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_tracing() {
        eprintln!("sluice: {e}");
        return ExitCode::from(2);
    }
    app::use_store(cli.store);
    let given = cli.data_dir.as_deref();
    let data_dir = run::data_dir_for(given, None);
    let server = match cli
        .server
        .as_deref()
        .map(|url| client::Client::new(url, cli.server_token))
    {
        Some(Ok(client)) => Some(client),
        Some(Err(e)) => {
            eprintln!("sluice: {e:#}");
            return ExitCode::from(2);
        }
        None => None,
    };
    let command = match &server {
        Some(client) => match cli.command.on_server(client) {
            Ok(result) => return finish(result),
            Err(local) => *local,
        },
        None => cli.command,
    };
    let result = match command {
        Command::Run(args) => run::run(given, args),
        Command::Resume(args) => run::resume(given, args),
        Command::Redrive(args) => run::redrive(given, args),
        Command::Serve(args) => serve::serve(given, args),
        Command::Invoke(args) => invoke::invoke(given, args),
        Command::Stop(args) => stop::stop(&data_dir, args),
        Command::Logs(args) => logs::logs(&data_dir, args),
        Command::Validate { files } => validate::validate(&files),
        Command::List { limit, all, json } => inspect::list(&data_dir, limit, all, json),
        Command::Describe { id, json } => inspect::describe(&data_dir, &id, json),
        Command::History { id, json } => inspect::history(&data_dir, &id, json),
        Command::Start { .. } => Err(anyhow::anyhow!(
            "start needs a running node: give --server URL (or SLUICE_SERVER); `sluice run` runs a flow here"
        )),
        Command::SendTaskSuccess { token, output } => tokens::send(
            server.as_ref(),
            &data_dir,
            tokens::Report::Success { token, output },
        ),
        Command::SendTaskFailure {
            token,
            error,
            cause,
        } => tokens::send(
            server.as_ref(),
            &data_dir,
            tokens::Report::Failure {
                token,
                error,
                cause,
            },
        ),
        Command::Send(args) => queue_cmd::send(None, given, args),
        Command::Queue(command) => queue_cmd::queue(None, given, command),
        Command::Publish(args) => topic_cmd::publish(None, given, args),
        Command::PutEvent(args) => topic_cmd::put_event(None, given, args),
        Command::Cdc(command) => cdc_cmd::cdc(None, given, command),
        Command::SendTaskHeartbeat { token } => tokens::send(
            server.as_ref(),
            &data_dir,
            tokens::Report::Heartbeat { token },
        ),
    };
    finish(result)
}

/// The exit code of a command's result; an error is printed and exits with 2.
fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::from(2)
        }
    }
}
