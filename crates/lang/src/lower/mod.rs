//! Lowering of parsed documents to the IR ([`crate::ir`]).
//!
//! Lowering assumes a document that passed [`crate::validate`]; it still refuses shapes it cannot
//! represent, with the JSON pointer of the offending node.

pub mod asl;
pub mod fdl;

use crate::ir::Transition;
use serde_json::{Map, Value};
use std::fmt;

/// A state's `End: true` or `Next` (both dialects spell them alike); `None` for states without.
fn transition(obj: &Map<String, Value>) -> Option<Transition> {
    if obj.get("End").and_then(Value::as_bool) == Some(true) {
        Some(Transition::End)
    } else {
        obj.get("Next")
            .and_then(Value::as_str)
            .map(|n| Transition::Next(n.to_string()))
    }
}

/// A shape the lowering could not represent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LowerError {
    /// JSON pointer of the node.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

impl LowerError {
    pub(crate) fn new(pointer: &str, message: impl Into<String>) -> LowerError {
        LowerError {
            pointer: pointer.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for LowerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.pointer, self.message)
        }
    }
}

impl std::error::Error for LowerError {}
