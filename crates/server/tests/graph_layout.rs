//! The layout of every flow in `examples/` and of 50 definitions of the conformance corpus:
//! no two boxes of one scope overlap, every box lies inside its parent, every arrow joins two
//! boxes.

use serde_json::Value;
use sluice_server::graph::{Graph, Node};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How many corpus definitions are laid out: the ones with the most states.
const CORPUS_DEFINITIONS: usize = 50;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every problem of a layout, named with the flow.
fn problems(flow: &str, graph: &Graph) -> Vec<String> {
    let by_id: HashMap<&str, &Node> = graph.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut found = Vec::new();
    for (i, a) in graph.nodes.iter().enumerate() {
        if a.w <= 0.0 || a.h <= 0.0 {
            found.push(format!("{flow}: {} has no size", a.id));
        }
        for b in &graph.nodes[i + 1..] {
            let apart =
                a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
            if a.parent == b.parent && !apart {
                found.push(format!("{flow}: {} overlaps {}", a.id, b.id));
            }
        }
        let (left, top, right, bottom) = match &a.parent {
            Some(p) => {
                let p = by_id[p.as_str()];
                (p.x, p.y, p.x + p.w, p.y + p.h)
            }
            None => (0.0, 0.0, graph.width, graph.height),
        };
        if a.x < left || a.y < top || a.x + a.w > right || a.y + a.h > bottom {
            found.push(format!("{flow}: {} is outside its parent", a.id));
        }
    }
    for e in &graph.edges {
        if !by_id.contains_key(e.from.as_str()) || !by_id.contains_key(e.to.as_str()) {
            found.push(format!("{flow}: arrow {} -> {} misses a box", e.from, e.to));
        }
    }
    found
}

fn lay_out(file: &str, text: &str) -> Graph {
    let definition = sluice_lang::compile::compile(file, text)
        .unwrap_or_else(|d| panic!("{file} does not compile: {d:?}"));
    Graph::of(&definition)
}

/// The flow files of the examples (the deliberately broken one aside).
fn example_flows() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![repo().join("examples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() && name != "data" && name != "functions" {
                dirs.push(path);
            } else if (name.ends_with(".asl.json")
                || name.ends_with(".fdl.yaml")
                || name.ends_with(".asl.yaml"))
                && name != "broken.asl.json"
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_example_flow_is_laid_out_without_overlaps() {
    let files = example_flows();
    assert!(files.len() >= 6, "too few example flows found: {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.display().to_string();
        let graph = lay_out(&name, &text);
        assert!(!graph.nodes.is_empty(), "{name} has no boxes");
        found.extend(problems(&name, &graph));
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// How many states a definition has, nested ones included.
fn state_count(definition: &Value) -> usize {
    let Some(states) = definition.get("States").and_then(Value::as_object) else {
        return 0;
    };
    states
        .values()
        .map(|s| {
            let branches = s
                .get("Branches")
                .and_then(Value::as_array)
                .map_or(0, |b| b.iter().map(state_count).sum());
            let processor = ["ItemProcessor", "Iterator"]
                .iter()
                .filter_map(|k| s.get(*k))
                .map(state_count)
                .sum::<usize>();
            1 + branches + processor
        })
        .sum()
}

#[test]
fn fifty_corpus_definitions_are_laid_out_without_overlaps() {
    let corpus = repo().join("../shared/conformance/asl-localstack.jsonl");
    let Ok(text) = std::fs::read_to_string(&corpus) else {
        sluice_engine::testing::skip(&format!("the conformance corpus {}", corpus.display()));
        return;
    };
    let mut cases: Vec<(usize, String, String)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|case| {
            let definition = &case["definition"];
            (
                state_count(definition),
                case["id"].as_str().unwrap_or("?").to_string(),
                definition.to_string(),
            )
        })
        .filter(|(_, id, text)| sluice_lang::compile::compile(id, text).is_ok())
        .collect();
    cases.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    cases.dedup_by(|a, b| a.2 == b.2);
    assert!(
        cases.len() >= CORPUS_DEFINITIONS,
        "only {} corpus definitions compile",
        cases.len()
    );
    let mut found = Vec::new();
    let mut nested = 0;
    for (_, id, text) in cases.iter().take(CORPUS_DEFINITIONS) {
        let graph = lay_out(id, text);
        nested += graph.nodes.iter().filter(|n| n.parent.is_some()).count();
        found.extend(problems(id, &graph));
    }
    assert!(nested > 0, "no nested boxes among the definitions laid out");
    assert!(found.is_empty(), "{found:#?}");
}
