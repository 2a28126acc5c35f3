//! Validation of a whole definition, gathering every problem before reporting.
//!
//! [`validate`] walks an ASL or FDL [`Document`] and returns one [`Diagnostic`] per problem,
//! sorted by position, each anchored at the JSON pointer of the offending node. Embedded
//! expressions (JSONPath, intrinsics, JSONata, FDL expressions) are checked through an
//! [`ExpressionChecker`] supplied by the caller, so this module stays independent of the
//! evaluators.

mod asl;
mod fdl;
mod graph;
mod report;
mod scope;
mod suggest;
mod values;

use crate::diagnostic::Diagnostic;
use crate::source::{Dialect, Document};

use report::Report;

/// Syntax checks for embedded expressions, supplied by the caller (the engine passes real parsers; tests may pass a permissive one).
pub trait ExpressionChecker {
    /// Checks a JSONPath Path ("$.a", "$$.b", "$var.c"); `reference` = must be a Reference Path.
    fn path(&self, text: &str, reference: bool) -> Result<(), String>;
    /// Checks an intrinsic function call such as "States.Format('{}', $.a)".
    fn intrinsic(&self, text: &str) -> Result<(), String>;
    /// Checks a JSONata expression (the text inside {% %}).
    fn jsonata(&self, text: &str) -> Result<(), String>;
    /// Checks an FDL expression such as "$Input.a == 1".
    fn fdl(&self, text: &str) -> Result<(), String>;
}

/// A checker that accepts every expression.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

impl ExpressionChecker for AcceptAll {
    fn path(&self, _text: &str, _reference: bool) -> Result<(), String> {
        Ok(())
    }

    fn intrinsic(&self, _text: &str) -> Result<(), String> {
        Ok(())
    }

    fn jsonata(&self, _text: &str) -> Result<(), String> {
        Ok(())
    }

    fn fdl(&self, _text: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Validates a whole document and returns every problem found (empty = valid).
pub fn validate(doc: &Document, checker: &dyn ExpressionChecker) -> Vec<Diagnostic> {
    let mut report = Report::new(doc, checker);
    match doc.dialect {
        Dialect::Asl => asl::validate(&mut report),
        Dialect::Fdl => fdl::validate(&mut report),
    }
    let mut diagnostics: Vec<Diagnostic> = doc.problems().to_vec();
    diagnostics.extend(report.into_diagnostics());
    diagnostics.sort_by_key(|d| (d.position.is_none(), d.position));
    diagnostics
}
