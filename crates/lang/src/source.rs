//! Definition text in, a JSON value with the source position of every node out.
//!
//! JSON text is read by a small span-tracking parser ([`json`]) so positions are exact; YAML text is
//! read from `saphyr-parser` events ([`yaml`]). Both produce the same [`Document`]: a
//! `serde_json::Value` plus a map from JSON pointer to [`Position`]. For an object member the
//! recorded position is the member's key; for an array element or the root it is the value itself.

mod json;
mod yaml;

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Value;

use crate::diagnostic::{Diagnostic, Position};

/// The dialect of a definition, detected by its shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Amazon States Language: `States` is an object keyed by state name.
    Asl,
    /// Alibaba CloudFlow FDL: `Type: StateMachine`, `SpecVersion`, `States` is a list.
    Fdl,
}

impl Dialect {
    /// A short human name for the dialect.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Asl => "Amazon States Language",
            Dialect::Fdl => "CloudFlow FDL",
        }
    }
}

/// A parsed definition document: the JSON value plus where every node came from.
#[derive(Clone, Debug)]
pub struct Document {
    /// The file name given by the caller, used in diagnostics.
    pub file: String,
    /// The definition as JSON.
    pub value: Value,
    /// The detected dialect.
    pub dialect: Dialect,
    positions: HashMap<String, Position>,
    problems: Vec<Diagnostic>,
}

/// A problem found while reading text, before the file name is attached.
#[derive(Clone, Debug)]
struct Problem {
    pointer: String,
    position: Option<Position>,
    message: String,
    hint: Option<String>,
}

impl Problem {
    fn at(position: Position, message: impl Into<String>) -> Self {
        Self {
            pointer: String::new(),
            position: Some(position),
            message: message.into(),
            hint: None,
        }
    }

    fn into_diagnostic(self, file: &str) -> Diagnostic {
        let mut diagnostic = Diagnostic::new(file, self.pointer, self.message).at(self.position);
        diagnostic.hint = self.hint;
        diagnostic
    }
}

/// What a text reader produces: the value, node positions and non-fatal problems.
struct Parsed {
    value: Value,
    positions: HashMap<String, Position>,
    problems: Vec<Problem>,
}

impl Parsed {
    fn duplicate_key(&mut self, pointer: String, key: &str, position: Position) {
        let first = self.positions.get(&pointer).copied();
        let hint = first.map(|p| {
            format!(
                "'{key}' is first defined at line {}, column {}",
                p.line, p.column
            )
        });
        self.problems.push(Problem {
            pointer,
            position: Some(position),
            message: format!("duplicate key '{key}'"),
            hint,
        });
    }
}

impl Document {
    /// Parses JSON or YAML text (JSON is tried when the first non-space char is `{`); syntax errors are diagnostics with positions.
    ///
    /// A file named `*.json` is read as JSON only; other text that starts with `{` but is not valid
    /// JSON is read again as YAML (a YAML flow mapping), and the JSON error is reported if that
    /// fails too.
    pub fn parse(file: &str, text: &str) -> Result<Document, Vec<Diagnostic>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let looks_like_json = text.trim_start().starts_with('{');
        let parsed = if looks_like_json {
            match json::parse(text) {
                Ok(parsed) => parsed,
                Err(error) if file.ends_with(".json") => {
                    return Err(vec![error.into_diagnostic(file)]);
                }
                Err(error) => yaml::parse(text).map_err(|_| vec![error.into_diagnostic(file)])?,
            }
        } else {
            yaml::parse(text).map_err(|error| vec![error.into_diagnostic(file)])?
        };
        Self::build(file, parsed)
    }

    /// Builds a document from a value that has no source text (positions unknown).
    pub fn from_value(file: &str, value: Value) -> Result<Document, Vec<Diagnostic>> {
        Self::build(
            file,
            Parsed {
                value,
                positions: HashMap::new(),
                problems: Vec::new(),
            },
        )
    }

    fn build(file: &str, parsed: Parsed) -> Result<Document, Vec<Diagnostic>> {
        let root = parsed.positions.get("").copied();
        let dialect = detect(&parsed.value).map_err(|mut problem| {
            problem.position = problem.position.or(root);
            vec![problem.into_diagnostic(file)]
        })?;
        Ok(Document {
            file: file.to_owned(),
            value: parsed.value,
            dialect,
            positions: parsed.positions,
            problems: parsed
                .problems
                .into_iter()
                .map(|p| p.into_diagnostic(file))
                .collect(),
        })
    }

    /// Source position of the node at a JSON pointer (the key's position for object members is best), if known.
    pub fn position(&self, pointer: &str) -> Option<Position> {
        self.positions.get(pointer).copied()
    }

    /// Position of the node at `pointer` or, when that node is absent, of its nearest ancestor.
    pub fn nearest_position(&self, pointer: &str) -> Option<Position> {
        let mut current = pointer;
        loop {
            if let Some(position) = self.positions.get(current) {
                return Some(*position);
            }
            match current.rfind('/') {
                Some(cut) => current = &current[..cut],
                None => return None,
            }
        }
    }

    /// A diagnostic anchored at a pointer (fills file and position).
    ///
    /// When the pointer names a member that does not exist (a missing field), the position of
    /// the nearest enclosing node is used.
    pub fn diagnostic(&self, pointer: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(&self.file, pointer, message).at(self.nearest_position(pointer))
    }

    /// Problems found while reading the text that did not stop it from being read, such as
    /// duplicate keys. [`crate::validate::validate`] reports them too.
    pub fn problems(&self) -> &[Diagnostic] {
        &self.problems
    }
}

/// Escapes one JSON pointer reference token (`~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> Cow<'_, str> {
    if token.contains(['~', '/']) {
        Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(token)
    }
}

/// Appends one reference token to a JSON pointer.
pub fn join_pointer(parent: &str, token: &str) -> String {
    let token = escape_token(token);
    let mut pointer = String::with_capacity(parent.len() + 1 + token.len());
    pointer.push_str(parent);
    pointer.push('/');
    pointer.push_str(&token);
    pointer
}

/// Tells ASL from FDL by shape, and rejects shapes that are neither.
fn detect(value: &Value) -> Result<Dialect, Problem> {
    let Some(root) = value.as_object() else {
        return Err(Problem {
            pointer: String::new(),
            position: None,
            message: format!(
                "a definition must be an object at the top level, found {}",
                kind(value)
            ),
            hint: None,
        });
    };
    let legacy = root.get("type").and_then(Value::as_str) == Some("flow")
        || (root.contains_key("steps") && !root.contains_key("States"));
    if legacy {
        return Err(Problem {
            pointer: String::new(),
            position: None,
            message: "legacy Serverless Workflow definitions (version: v1, type: flow, steps) are not supported"
                .to_owned(),
            hint: Some("rewrite the flow in CloudFlow FDL (Type: StateMachine, SpecVersion: v1, States) or in ASL".to_owned()),
        });
    }
    let fdl = root.get("Type").and_then(Value::as_str) == Some("StateMachine")
        || root.contains_key("SpecVersion")
        || root.get("States").is_some_and(Value::is_array);
    Ok(if fdl { Dialect::Fdl } else { Dialect::Asl })
}

/// A JSON type name for messages: "an object", "a string", ...
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_dialects() {
        let asl = Document::from_value("a", json!({"StartAt": "A", "States": {}})).unwrap();
        assert_eq!(asl.dialect, Dialect::Asl);
        let fdl = Document::from_value("f", json!({"Type": "StateMachine", "States": []})).unwrap();
        assert_eq!(fdl.dialect, Dialect::Fdl);
        let list = Document::from_value("f", json!({"StartAt": "A", "States": []})).unwrap();
        assert_eq!(list.dialect, Dialect::Fdl);
        let spec = Document::from_value("f", json!({"SpecVersion": "v1"})).unwrap();
        assert_eq!(spec.dialect, Dialect::Fdl);
    }

    #[test]
    fn rejects_legacy_serverless_workflow() {
        let text = "version: v1\ntype: flow\nsteps:\n  - type: pass\n    name: a\n";
        let errors = Document::parse("old.yaml", text).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("not supported"), "{}", errors[0]);
        assert_eq!(errors[0].position, Some(Position::new(1, 1)));
    }

    #[test]
    fn rejects_non_object_root() {
        let errors = Document::parse("x.json", "[1, 2]").unwrap_err();
        assert!(errors[0].message.contains("found an array"));
    }

    #[test]
    fn parses_json_and_yaml_with_positions() {
        let json = Document::parse(
            "a.json",
            "{\n  \"StartAt\": \"A\",\n  \"States\": {\"A\": {}}\n}",
        )
        .unwrap();
        assert_eq!(json.position("/StartAt"), Some(Position::new(2, 3)));
        assert_eq!(json.position("/States/A"), Some(Position::new(3, 14)));
        let yaml =
            Document::parse("a.yaml", "StartAt: A\nStates:\n  A:\n    Type: Pass\n").unwrap();
        assert_eq!(yaml.value["States"]["A"]["Type"], "Pass");
        assert_eq!(yaml.position("/States/A/Type"), Some(Position::new(4, 5)));
    }

    #[test]
    fn json_syntax_errors_have_positions() {
        let errors = Document::parse("bad.json", "{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].position, Some(Position::new(3, 7)));
        assert!(
            errors[0].to_string().starts_with("bad.json:3:7: "),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn yaml_syntax_errors_have_positions() {
        let errors = Document::parse("bad.yaml", "a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].position.is_some());
    }

    #[test]
    fn json_looking_yaml_falls_back_to_yaml() {
        let doc = Document::parse(
            "flow.yaml",
            "{StartAt: A, States: {A: {Type: Pass, End: true}}}",
        )
        .unwrap();
        assert_eq!(doc.value["States"]["A"]["End"], true);
        assert!(Document::parse("flow.json", "{StartAt: A}").is_err());
    }

    #[test]
    fn duplicate_keys_are_problems() {
        let doc = Document::parse(
            "d.json",
            "{\"StartAt\": \"A\",\n \"StartAt\": \"B\", \"States\": {}}",
        )
        .unwrap();
        assert_eq!(doc.problems().len(), 1);
        let problem = &doc.problems()[0];
        assert_eq!(problem.position, Some(Position::new(2, 2)));
        assert_eq!(problem.pointer, "/StartAt");
        assert_eq!(
            problem.hint.as_deref(),
            Some("'StartAt' is first defined at line 1, column 2")
        );
        let yaml = Document::parse("d.yaml", "StartAt: A\nStates: {}\nStartAt: B\n").unwrap();
        assert_eq!(yaml.problems()[0].position, Some(Position::new(3, 1)));
    }

    #[test]
    fn nearest_position_walks_up() {
        let doc = Document::parse("a.json", "{\"States\": {\"A\": {\"Type\": \"Pass\"}}}").unwrap();
        assert_eq!(doc.position("/States/A/Next"), None);
        assert_eq!(
            doc.nearest_position("/States/A/Next"),
            Some(Position::new(1, 13))
        );
        let d = doc.diagnostic("/States/A/Next", "missing");
        assert_eq!(d.position, Some(Position::new(1, 13)));
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        assert_eq!(join_pointer("/States", "a/b~c"), "/States/a~1b~0c");
        assert_eq!(escape_token("plain"), "plain");
    }
}
