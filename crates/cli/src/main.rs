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

mod app;
mod inspect;
mod invoke;
mod invoker;
mod logs;
mod project;
mod run;
mod serve;
mod stop;
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    app::use_store(cli.store);
    let given = cli.data_dir.as_deref();
    let data_dir = run::data_dir_for(given, None);
    let result = match cli.command {
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
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::from(2)
        }
    }
}
