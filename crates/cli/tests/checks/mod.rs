//! What the command refuses, and how: project files, names, counts and definitions that break
//! the rules are reported with their place and exit code 2.

use super::common::sluice;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A project whose only function is declared by `function` (the settings inside `{ }`), with one
/// Pass flow and a handler file, so that only the settings under test can be wrong.
fn project(dir: &Path, function: &str) {
    std::fs::create_dir_all(dir.join("flows")).unwrap();
    std::fs::create_dir_all(dir.join("functions")).unwrap();
    std::fs::write(
        dir.join("functions/f.py"),
        "def handler(event, context):\n    return event\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("flows/main.asl.json"),
        r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("sluice.yaml"),
        format!("functions:\n  f: {{ {function} }}\nflows:\n  main: flows/main.asl.json\n"),
    )
    .unwrap();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `sluice run DIR` on a project and returns its refusal (exit code 2) on stderr.
fn refused_project(dir: &Path) -> String {
    let out = sluice(&dir.join(".sluice"))
        .arg("run")
        .arg(dir)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    err
}

#[test]
fn memory_outside_what_lambda_allows_is_refused() {
    for (memory, found) in [
        ("4294967297", "found 4294967297"),
        ("127", "found 127"),
        ("10241", "found 10241"),
        ("-1", "found -1"),
        ("1.5", "found 1.5"),
        ("big", "found a string"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        project(
            dir.path(),
            &format!("runtime: python3, handler: functions/f.handler, memory: {memory}"),
        );
        let err = refused_project(dir.path());
        assert!(
            err.contains("sluice.yaml:2:56: field functions.f.memory: expected a whole number of MB from 128 to 10240")
                && err.contains(found),
            "memory {memory}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "runtime: python3, handler: functions/f.handler, memory: 10240",
    );
    let out = sluice(&dir.path().join(".sluice"))
        .arg("run")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn duplicate_keys_in_the_project_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    project(
        dir.path(),
        "runtime: python3, handler: functions/f.handler, timeout: 5s, timeout: 6s",
    );
    let text = std::fs::read_to_string(dir.path().join("sluice.yaml")).unwrap();
    std::fs::write(
        dir.path().join("sluice.yaml"),
        format!("{text}flows:\n  other: flows/main.asl.json\n"),
    )
    .unwrap();
    let err = refused_project(dir.path());
    assert!(
        err.contains("sluice.yaml:2:69: field functions.f.timeout: duplicate key 'timeout'"),
        "{err}"
    );
    assert!(
        err.contains("sluice.yaml:5:1: field flows: duplicate key 'flows'"),
        "{err}"
    );
    assert!(
        err.contains("hint: 'timeout' is first defined at line 2, column 56"),
        "{err}"
    );
    assert!(err.contains("2 problems found"), "{err}");
}

#[test]
fn settings_of_the_wrong_type_are_refused() {
    for (settings, expected) in [
        (
            "runtime: python3, handler: functions/f.handler, code: 7",
            "sluice.yaml:2:56: field functions.f.code: expected a string, found a number",
        ),
        (
            "runtime: 3, handler: functions/f.handler",
            "sluice.yaml:2:8: field functions.f.runtime: expected a string, found a number",
        ),
        (
            "runtime: python3, handler: [functions/f.handler]",
            "sluice.yaml:2:26: field functions.f.handler: expected a string, found an array",
        ),
        (
            "runtime: builtin, handler: true",
            "sluice.yaml:2:26: field functions.f.handler: expected a string, found a boolean",
        ),
        (
            "runtime: python3, handler: functions/f.handler, env: { A: { b: 1 } }",
            "field functions.f.env: env variable 'A' must be a string, a number or a boolean, found an object",
        ),
        (
            "runtime: python3, handler: functions/f.handler, timeout: [1]",
            "field functions.f.timeout: an array is not a duration",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        project(dir.path(), settings);
        let err = refused_project(dir.path());
        assert!(err.contains(expected), "{settings}: {err}");
    }
}

#[test]
fn timeouts_out_of_range_are_refused() {
    for (settings, expected) in [
        (
            "timeout: 1e20",
            "field functions.f.timeout: expected a duration from 0 to 15m, as Lambda allows, found 1e+20",
        ),
        (
            "timeout: 901s",
            "field functions.f.timeout: expected a duration from 0 to 15m, as Lambda allows, found '901s'",
        ),
        (
            "timeout: 0",
            "field functions.f.timeout: a timeout must be longer than 0",
        ),
        (
            "idle_timeout: 1e20",
            "field functions.f.idle_timeout: expected a duration from 0 to 24h, found 1e+20",
        ),
        (
            "idle_timeout: -5",
            "field functions.f.idle_timeout: expected a duration from 0 to 24h, found -5",
        ),
        (
            "idle_timeout: 99999999999999999999999h",
            "expected a duration from 0 to 24h, found '99999999999999999999999h'",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        project(
            dir.path(),
            &format!("runtime: python3, handler: functions/f.handler, {settings}"),
        );
        let err = refused_project(dir.path());
        assert!(
            err.contains("sluice.yaml:2:") && err.contains(expected),
            "{settings}: {err}"
        );
    }
}

/// A one-state flow file in `dir`.
fn pass_flow(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("pass.asl.json");
    std::fs::write(
        &path,
        r#"{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}"#,
    )
    .unwrap();
    path
}

/// `sluice run FLOW ARGS...`: exit code and stderr.
fn run_flow(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = sluice(&dir.join(".sluice"))
        .arg("run")
        .arg(pass_flow(dir))
        .args(args)
        .output()
        .unwrap();
    (out.status.code(), stderr(&out))
}

#[test]
fn zero_executions_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = run_flow(dir.path(), &["--executions", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.trim(), "sluice: --executions must be at least 1");
}

#[test]
fn execution_names_that_break_the_rules_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let long = "n".repeat(81);
    for (name, why) in [
        ("", "must not be empty"),
        ("a b", "must not contain whitespace"),
        ("a/b", "must not contain '/'"),
        ("50%", "must not contain '%'"),
        (
            "new\nline",
            "must not contain control characters, found U+000A",
        ),
        (long.as_str(), "at most 80 characters, this one has 81"),
    ] {
        let (code, err) = run_flow(dir.path(), &["--name", name]);
        assert_eq!(code, Some(2), "{name:?}: {err}");
        assert!(
            err.contains(&format!("--name {name:?}: ")) && err.contains(why),
            "{name:?}: {err}"
        );
    }
    let (code, err) = run_flow(dir.path(), &["--name", &"n".repeat(80), "--json"]);
    assert_eq!(code, Some(0), "80 characters are allowed: {err}");
}

#[test]
fn suffixed_execution_names_must_stay_within_80_characters() {
    let dir = tempfile::tempdir().unwrap();
    let name = "n".repeat(78);
    let (code, err) = run_flow(dir.path(), &["--name", &name, "--executions", "10"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("names the last execution \"{name}-10\": an execution name has at most 80 characters, this one has 81")),
        "{err}"
    );
    let (code, err) = run_flow(
        dir.path(),
        &["--name", &name, "--executions", "9", "--json"],
    );
    assert_eq!(code, Some(0), "{name}-9 has 80 characters: {err}");
}

#[test]
fn validate_checks_a_project_directory_and_every_flow_it_declares() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(
        root,
        "runtime: python3, handler: functions/f.handler, memory: 4294967297",
    );
    std::fs::write(
        root.join("flows/broken.asl.json"),
        "{\n  \"StartAt\": \"A\",\n  \"States\": {\n    \"A\": { \"Type\": \"Pass\", \"Next\": \"B\" }\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(
        root.join("flows/calls.asl.json"),
        r#"{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sluice:function:nobody", "End": true}}}"#,
    )
    .unwrap();
    let text = std::fs::read_to_string(root.join("sluice.yaml")).unwrap();
    std::fs::write(
        root.join("sluice.yaml"),
        format!("{text}  broken: flows/broken.asl.json\n  calls: flows/calls.asl.json\n"),
    )
    .unwrap();
    let out = sluice(&root.join(".sluice"))
        .arg("validate")
        .arg(root)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let flows = root.join("flows");
    for expected in [
        format!(
            "{}:2:56: field functions.f.memory: expected a whole number of MB",
            root.join("sluice.yaml").display()
        ),
        format!(
            "{}:4:28: state 'A', field Next: unknown state 'B'",
            flows.join("broken.asl.json").display()
        ),
        format!(
            "{}: a Task calls the function 'nobody', which sluice.yaml does not declare",
            flows.join("calls.asl.json").display()
        ),
        "3 problems found".to_string(),
    ] {
        assert!(err.contains(&expected), "{expected}\nnot in\n{err}");
    }

    project(root, "runtime: python3, handler: functions/f.handler");
    let flow = pass_flow(root);
    let out = sluice(&root.join(".sluice"))
        .arg("validate")
        .arg(root)
        .arg(&flow)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}: ok (1 flow)\n{}: ok\n", root.display(), flow.display())
    );
}

#[test]
fn the_broken_example_gives_exactly_the_diagnostics_the_readme_shows() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let command = "$ sluice validate examples/broken.asl.json\n";
    let start = readme.find(command).expect("the README shows the command") + command.len();
    let shown = &readme[start..start + readme[start..].find("```").unwrap()];
    let data = tempfile::tempdir().unwrap();
    let out = sluice(data.path())
        .current_dir(&repo)
        .args(["validate", "examples/broken.asl.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), shown);
    assert!(shown.ends_with("6 problems found\n"), "{shown}");
}

#[test]
fn ctrl_c_during_run_names_what_is_left_running_and_how_to_resume_it() {
    let dir = tempfile::tempdir().unwrap();
    let flow = dir.path().join("long.asl.json");
    std::fs::write(
        &flow,
        r#"{"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 3600, "End": true}}}"#,
    )
    .unwrap();
    let data = dir.path().join("data dir");
    let child = sluice(&data)
        .arg("run")
        .arg(&flow)
        .args(["--name", "napping", "--executions", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let waiting = |id: &str| {
        let out = sluice(&data)
            .args(["history", id, "--json"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("WaitStateEntered")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(waiting("napping-1") && waiting("napping-2")) {
        assert!(Instant::now() < deadline, "both executions reach the Wait");
        std::thread::sleep(Duration::from_millis(100));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("sluice: interrupted; 2 executions left RUNNING: napping-1, napping-2\n"),
        "{err}"
    );
    let resume = format!("sluice --data-dir '{}' resume", data.display());
    assert!(
        err.contains(&format!("resume them with: {resume}\n")),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no outcome is printed");

    let list = sluice(&data).args(["list", "--json"]).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert_eq!(text.matches("RUNNING").count(), 2, "{text}");
}

/// `cargo run` at the top of the workspace must know which binary to run: the default members
/// hold exactly one, `sluice`.
#[test]
fn cargo_run_at_the_workspace_root_runs_sluice() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO"))
        .current_dir(&repo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let defaults = metadata["workspace_default_members"].as_array().unwrap();
    let binaries: Vec<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| defaults.contains(&p["id"]))
        .flat_map(|p| p["targets"].as_array().unwrap())
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(binaries, ["sluice"]);
}
