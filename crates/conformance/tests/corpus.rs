//! Runs every `pure` case of the ASL conformance corpus and checks the pass count against
//! `baseline.txt`. Run with `-- --nocapture` to see the summary; the full list of failures is
//! written to `target/conformance-failures.txt`.

use serde_json::Value;
use sluice_conformance::{compare, corpus_path, load_corpus, run_case};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pure_cases() {
    let path = corpus_path();
    if !path.exists() {
        println!(
            "conformance: skipped (corpus not found at {})",
            path.display()
        );
        return;
    }
    let cases: Vec<Value> = load_corpus(&path)
        .into_iter()
        .filter(|c| c["kind"] == "pure")
        .collect();
    let started = Instant::now();

    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, case) in cases.iter().cloned().enumerate() {
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            let actual = run_case(&case).await;
            (index, compare(&case, &actual))
        });
    }
    let mut results: Vec<Option<Result<(), String>>> = vec![None; cases.len()];
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = joined.expect("run_case reports panics itself");
        results[index] = Some(result);
    }

    let mut failures = Vec::new();
    for (case, result) in cases.iter().zip(results) {
        if let Some(Err(mismatch)) = result {
            failures.push(Failure {
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
            });
        }
    }
    let total = cases.len();
    let failed = failures.len();
    let passed = total - failed;

    println!("conformance: {passed} passed, {failed} failed");
    let percent = if total == 0 {
        0.0
    } else {
        100.0 * passed as f64 / total as f64
    };
    println!("({percent:.1}%)");
    println!(
        "ran {total} pure cases in {:.1}s",
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

    let mut report =
        format!("conformance: {passed} passed, {failed} failed of {total} pure cases\n\n");
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
    let baseline: usize = std::fs::read_to_string(&baseline_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", baseline_path.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{} must hold one integer: {e}", baseline_path.display()));
    assert!(
        passed >= baseline,
        "conformance regressed: {passed} cases pass, the baseline in {} is {baseline}",
        baseline_path.display()
    );
}

/// The comparison accepts what AWS itself recorded, for every case of every kind.
#[test]
fn recorded_outcomes_compare_equal_to_themselves() {
    let path = corpus_path();
    if !path.exists() {
        println!(
            "conformance: skipped (corpus not found at {})",
            path.display()
        );
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
