//! `sluice validate`: every problem of every definition file and project, with positions.

use sluice_lang::diagnostic::Diagnostic;
use std::path::PathBuf;
use std::process::ExitCode;

/// Prints diagnostics to stderr, one block each, and a count.
pub fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        eprintln!("error: {d}");
    }
    eprintln!(
        "{} problem{} found",
        diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" }
    );
}

/// What a valid project holds: `1 flow`, or `no flows, 2 functions` for a project of functions
/// only.
fn contents(project: &crate::project::Project) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match (project.flows.len(), project.function_names().len()) {
        (0, functions) => format!("no flows, {functions} function{}", plural(functions)),
        (flows, _) => format!("{flows} flow{}", plural(flows)),
    }
}

/// Validates each definition file, and each project directory (its `sluice.yaml` and every flow
/// it declares); exit 2 if any has a problem.
pub fn validate(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    if files.is_empty() {
        anyhow::bail!("give at least one definition file or project directory");
    }
    let mut all = Vec::new();
    for path in files {
        let file = path.display().to_string();
        if path.is_dir() {
            match crate::project::load(path) {
                Ok(project) => outln!("{file}: ok ({})", contents(&project)),
                Err(ds) => all.extend(ds),
            }
            continue;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => anyhow::bail!("reading {file}: {e}"),
        };
        match sluice_lang::compile::compile(&file, &text) {
            Ok(_) => outln!("{file}: ok"),
            Err(ds) => all.extend(ds),
        }
    }
    if all.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        print_diagnostics(&all);
        Ok(ExitCode::from(2))
    }
}
