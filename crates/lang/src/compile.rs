//! From definition text to IR in one call: parse, validate with the real expression parsers,
//! lower.

use crate::diagnostic::Diagnostic;
use crate::ir::Definition;
use crate::source::{Dialect, Document};
use crate::validate::{ExpressionChecker, validate};
use crate::{intrinsics, jsonpath, lower};

/// Expression checks backed by the real JSONPath, intrinsic and JSONata parsers.
pub struct Parsers;

impl ExpressionChecker for Parsers {
    fn path(&self, text: &str, reference: bool) -> Result<(), String> {
        let (_, path) = jsonpath::parse_rooted(text).map_err(|e| e.to_string())?;
        if reference && !path.is_reference() {
            return Err(format!("'{text}' must be a reference path (a single node)"));
        }
        Ok(())
    }

    fn intrinsic(&self, text: &str) -> Result<(), String> {
        intrinsics::parse(text)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn jsonata(&self, text: &str) -> Result<(), String> {
        sluice_jsonata::Expression::parse(text.trim())
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn fdl(&self, text: &str) -> Result<(), String> {
        sluice_jsonata::Expression::parse_with(text, sluice_jsonata::Syntax::Fdl)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Parses, validates and lowers a definition; every problem comes back as a diagnostic.
pub fn compile(file: &str, text: &str) -> Result<Definition, Vec<Diagnostic>> {
    let doc = Document::parse(file, text)?;
    compile_document(&doc)
}

/// Validates and lowers an already parsed document.
pub fn compile_document(doc: &Document) -> Result<Definition, Vec<Diagnostic>> {
    let problems = validate(doc, &Parsers);
    if !problems.is_empty() {
        return Err(problems);
    }
    let lowered = match doc.dialect {
        Dialect::Asl => lower::asl::lower(&doc.value),
        Dialect::Fdl => lower::fdl::lower(&doc.value),
    };
    lowered.map_err(|e| vec![doc.diagnostic(&e.pointer, e.message)])
}
