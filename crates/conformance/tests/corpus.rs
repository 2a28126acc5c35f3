//! Runs the ASL conformance corpus and checks the pass count of each kind of case against
//! `baseline.txt`: every `pure` case, every `s3_fixture` case with its objects in local storage,
//! and every `lambda_stub` case with its functions as real
//! Python handlers (skipped, and said so, when `python3` is missing). Run with
//! `-- --nocapture` to see the summary; the full list of failures is written to
//! `target/conformance-failures.txt`.

use serde_json::Value;
use sluice_conformance::stubs::{StubFunctions, python_available};
use sluice_conformance::{Actual, compare, corpus_path, load_corpus, run_case};
use sluice_engine::invoke::{Invoker, NoFunctions};
use sluice_engine::testing::skip;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Cases run at the same time.
const CONCURRENCY: usize = 4;

/// Case ids shown per feature in the summary.
const EXAMPLES_PER_FEATURE: usize = 3;

struct Failure {
    id: String,
    features: Vec<String>,
    mismatch: String,
}

fn first_chars(s: &str, n: usize) -> String {
    let cut: String = s.chars().take(n).collect();
    cut.replace('\n', " | ")
}

/// A short label for what went wrong: the part that differed, or how the run itself failed.
fn failure_kind(mismatch: &str) -> String {
    if let Some(rest) = mismatch.strip_prefix("status: ") {
        if let Some(stage) = rest.split("HARNESS_ERROR (error \"").nth(1) {
            let stage = stage.split('"').next().unwrap_or_default();
            return format!("not run ({stage})");
        }
        return "status".to_string();
    }
    let parts: Vec<&str> = mismatch
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split(' ').next())
        .collect();
    parts.join("+")
}

/// The kinds of case run, in the order they are reported.
const KINDS: [&str; 3] = ["pure", "lambda_stub", "s3_fixture"];

/// Pass counts per kind from `baseline.txt` (`kind=count` lines; `#` starts a comment).
fn read_baseline(path: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (kind, count) = line.split_once('=').unwrap_or_else(|| {
                panic!("{}: expected kind=count, found {line:?}", path.display())
            });
            let count = count
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("{}: {line:?}: not a count: {e}", path.display()));
            (kind.trim().to_string(), count)
        })
        .collect()
}

/// Runs `cases` a few at a time, `lambda_stub` cases calling `stubs`; the results are in the
/// order of `cases`.
async fn run_all(cases: &[Value], stubs: Option<&StubFunctions>) -> Vec<Result<(), String>> {
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, case) in cases.iter().cloned().enumerate() {
        let permits = permits.clone();
        let invoker: Result<Arc<dyn Invoker>, String> = match stubs {
            Some(stubs) if case["kind"] == "lambda_stub" => stubs.invoker(&case),
            _ => Ok(Arc::new(NoFunctions)),
        };
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            let actual = match invoker {
                Ok(invoker) => run_case(&case, invoker).await,
                Err(e) => Actual::harness_error("functions", e),
            };
            (index, compare(&case, &actual))
        });
    }
    let mut results: Vec<Option<Result<(), String>>> = vec![None; cases.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.expect("run_case reports panics itself");
        results[index] = Some(result);
    }
    results
        .into_iter()
        .map(|r| r.expect("every case reported"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corpus_cases() {
    let path = corpus_path();
    if !path.exists() {
        skip(&format!(
            "conformance: corpus not found at {}",
            path.display()
        ));
        return;
    }
    let python = python_available();
    if !python {
        skip("conformance: the lambda_stub cases, python3 not found");
    }
    let cases: Vec<Value> = load_corpus(&path)
        .into_iter()
        .filter(|c| {
            c["kind"] == "pure"
                || c["kind"] == "s3_fixture"
                || (python && c["kind"] == "lambda_stub")
        })
        .collect();
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("temporary directory");
    let stubs = if python {
        let lambda_cases: Vec<Value> = cases
            .iter()
            .filter(|c| c["kind"] == "lambda_stub")
            .cloned()
            .collect();
        let stubs = StubFunctions::start(&lambda_cases, dir.path()).await;
        Some(stubs.unwrap_or_else(|e| panic!("cannot start the lambda stubs: {e}")))
    } else {
        None
    };
    let results = run_all(&cases, stubs.as_ref()).await;
    if let Some(stubs) = &stubs {
        stubs.shutdown().await;
    }

    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for (case, result) in cases.iter().zip(results) {
        let kind = case["kind"].as_str().unwrap_or_default();
        let (passed, total) = counts.entry(kind).or_default();
        *total += 1;
        match result {
            Ok(()) => *passed += 1,
            Err(mismatch) => failures.push(Failure {
                id: case["id"].as_str().unwrap_or("?").to_string(),
                features: case["features"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
                mismatch,
            }),
        }
    }
    let total = cases.len();
    let failed = failures.len();
    let passed = total - failed;

    println!("conformance: {passed} passed, {failed} failed");
    let per_kind: Vec<String> = KINDS
        .iter()
        .filter_map(|kind| {
            counts
                .get(kind)
                .map(|(passed, total)| format!("{passed}/{total} {kind}"))
        })
        .collect();
    println!("conformance: {} passed", per_kind.join(", "));
    let percent = if total == 0 {
        0.0
    } else {
        100.0 * passed as f64 / total as f64
    };
    println!("({percent:.1}%)");
    println!(
        "ran {total} cases in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for f in &failures {
        *by_kind.entry(failure_kind(&f.mismatch)).or_default() += 1;
    }
    if !by_kind.is_empty() {
        let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        println!("failures by kind: {}", kinds.join(", "));
    }

    let mut by_feature: BTreeMap<&str, Vec<&Failure>> = BTreeMap::new();
    for f in &failures {
        for feature in &f.features {
            by_feature.entry(feature).or_default().push(f);
        }
    }
    let mut groups: Vec<(&str, Vec<&Failure>)> = by_feature.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    if !groups.is_empty() {
        println!("failures by feature:");
    }
    for (feature, list) in &groups {
        println!("  {feature}: {}", list.len());
        for f in list.iter().take(EXAMPLES_PER_FEATURE) {
            println!("    {}: {}", f.id, first_chars(&f.mismatch, 200));
        }
    }

    let mut report = format!("conformance: {passed} passed, {failed} failed of {total} cases\n\n");
    for f in &failures {
        let _ = writeln!(
            report,
            "{}\n  features: {}\n  {}\n",
            f.id,
            f.features.join(", "),
            f.mismatch.replace('\n', "\n  ")
        );
    }
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest_dir);
    let target = workspace.join("target");
    let report_path = target.join("conformance-failures.txt");
    match std::fs::create_dir_all(&target).and_then(|()| std::fs::write(&report_path, report)) {
        Ok(()) => println!("failure details: {}", report_path.display()),
        Err(e) => println!("could not write {}: {e}", report_path.display()),
    }

    let baseline_path = manifest_dir.join("baseline.txt");
    let baseline = read_baseline(&baseline_path);
    for (kind, (passed, _)) in &counts {
        let floor = *baseline
            .get(*kind)
            .unwrap_or_else(|| panic!("{} has no line for {kind}", baseline_path.display()));
        assert!(
            *passed >= floor,
            "conformance regressed: {passed} {kind} cases pass, the baseline in {} is {floor}",
            baseline_path.display()
        );
    }
}

/// The comparison accepts what AWS itself recorded, for every case of every kind.
#[test]
fn recorded_outcomes_compare_equal_to_themselves() {
    let path = corpus_path();
    if !path.exists() {
        skip(&format!(
            "conformance: corpus not found at {}",
            path.display()
        ));
        return;
    }
    let mut rejected = Vec::new();
    for case in load_corpus(&path) {
        let expected = &case["expected"];
        let actual = sluice_conformance::Actual {
            status: expected["status"].as_str().unwrap_or_default().to_string(),
            output: Some(expected["output"].clone()),
            error: expected["error"].as_str().map(String::from),
            cause: match &expected["cause"] {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                object => Some(object.to_string()),
            },
        };
        if let Err(m) = compare(&case, &actual) {
            rejected.push(format!("{}: {m}", case["id"]));
        }
    }
    assert!(rejected.is_empty(), "{}", rejected.join("\n"));
}
