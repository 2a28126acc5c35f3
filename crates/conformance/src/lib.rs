//! Conformance harness: runs the ASL corpus recorded against AWS Step Functions
//! (`shared/conformance/asl-localstack.jsonl`) through the Sluice engine and compares each
//! outcome with the recording.
//!
//! - [`canonical`]: the recorder's masks and the canonical form C both sides are brought to.
//! - [`compare`](mod@compare): [`compare()`] of one case's expectation with an [`Actual`].
//! - [`runner`]: [`run_case`] runs one case in-process on a virtual clock.
//! - [`stubs`]: the functions of `lambda_stub` cases as real Python handlers in a function pool.
//!
//! The corpus test (`tests/corpus.rs`) runs every `pure` case, and every `lambda_stub` case when
//! `python3` is there, and fails when fewer of a kind pass than `baseline.txt` records for it.

pub mod canonical;
pub mod compare;
pub mod runner;
pub mod stubs;

pub use canonical::{apply_masks, canonical};
pub use compare::{Actual, compare};
pub use runner::run_case;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where the corpus is: `$SLUICE_CORPUS` if set, otherwise
/// `shared/conformance/asl-localstack.jsonl` beside the workspace checkout.
pub fn corpus_path() -> PathBuf {
    match std::env::var_os("SLUICE_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/conformance/asl-localstack.jsonl"),
    }
}

/// Reads the corpus: one JSON object per non-empty line.
///
/// # Panics
///
/// When the file cannot be read or a line is not JSON: the corpus is a fixed input, so either
/// means the checkout is broken.
pub fn load_corpus(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read corpus {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("corpus {} line {}: not JSON: {e}", path.display(), i + 1)
            })
        })
        .collect()
}
