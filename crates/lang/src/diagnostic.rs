//! Problems found in a flow definition, each tied to a file, a position and a JSON pointer.
//!
//! A [`Diagnostic`] renders in a compiler-like form:
//!
//! ```text
//! flows/x.asl.json:12:9: state 'Foo', field Next: unknown state 'Bar'
//!   hint: did you mean 'Baz'?
//! ```

use std::fmt;

/// Where in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Line number, starting at 1.
    pub line: u32,
    /// Column number in characters, starting at 1.
    pub column: u32,
}

impl Position {
    /// Builds a position from a 1-based line and column.
    pub fn new(line: u32, column: u32) -> Self {
        Self { line, column }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One problem found in a definition.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// The file the definition came from, as given by the caller.
    pub file: String,
    /// Where the problem is, when the definition came from text.
    pub position: Option<Position>,
    /// JSON pointer to the offending node, e.g. `/States/Foo/Next` (empty for the whole document).
    pub pointer: String,
    /// Name of the state the problem belongs to, when there is one.
    pub state: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when a suggestion can be made.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with no position, state or hint.
    pub fn new(
        file: impl Into<String>,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            position: None,
            pointer: pointer.into(),
            state: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Sets the position.
    pub fn at(mut self, position: Option<Position>) -> Self {
        self.position = position;
        self
    }

    /// Sets the name of the state the problem belongs to.
    pub fn in_state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// Adds a suggestion.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The field the pointer names, relative to the state when there is one, e.g.
    /// `Retry[0].IntervalSeconds`; `None` when the pointer names the state or document itself.
    pub fn field(&self) -> Option<String> {
        let tokens = pointer_tokens(&self.pointer);
        let start = self
            .state
            .as_deref()
            .and_then(|state| state_token_end(&tokens, state))
            .unwrap_or(0);
        render_field(&tokens[start..])
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(position) = self.position {
            write!(f, ":{position}")?;
        }
        f.write_str(": ")?;
        let field = self.field();
        match (&self.state, &field) {
            (Some(state), Some(field)) => write!(f, "state '{state}', field {field}: ")?,
            (Some(state), None) => write!(f, "state '{state}': ")?,
            (None, Some(field)) => write!(f, "field {field}: ")?,
            (None, None) => {}
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Renders diagnostics one after another, separated by newlines, followed by a count line.
pub fn render(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        out.push_str(&diagnostic.to_string());
        out.push('\n');
    }
    match diagnostics.len() {
        0 => {}
        1 => out.push_str("1 problem found\n"),
        n => out.push_str(&format!("{n} problems found\n")),
    }
    out
}

/// Splits a JSON pointer into its unescaped reference tokens.
fn pointer_tokens(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Index just past the `States/<state>` pair that names `state`, by key (ASL) or, failing that,
/// by list index (FDL).
fn state_token_end(tokens: &[String], state: &str) -> Option<usize> {
    let after = |matches: &dyn Fn(&str) -> bool| {
        (0..tokens.len().saturating_sub(1))
            .rev()
            .find(|&i| tokens[i] == "States" && matches(&tokens[i + 1]))
            .map(|i| i + 2)
    };
    after(&|token| token == state).or_else(|| after(&|token| token.parse::<usize>().is_ok()))
}

/// `["Retry", "0", "IntervalSeconds"]` → `Retry[0].IntervalSeconds`.
fn render_field(tokens: &[String]) -> Option<String> {
    let mut out = String::new();
    for token in tokens {
        if token.parse::<usize>().is_ok() && !out.is_empty() {
            out.push('[');
            out.push_str(token);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(token);
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(pointer: &str, state: Option<&str>) -> Diagnostic {
        let mut d = Diagnostic::new("flows/x.asl.json", pointer, "unknown state 'Bar'")
            .at(Some(Position::new(12, 9)));
        d.state = state.map(str::to_owned);
        d
    }

    #[test]
    fn renders_state_field_and_hint() {
        let d = diag("/States/Foo/Next", Some("Foo")).with_hint("did you mean 'Baz'?");
        assert_eq!(
            d.to_string(),
            "flows/x.asl.json:12:9: state 'Foo', field Next: unknown state 'Bar'\n  hint: did you mean 'Baz'?"
        );
    }

    #[test]
    fn renders_nested_fields_relative_to_innermost_state() {
        let d = diag(
            "/States/P/Branches/0/States/Inner/Retry/1/IntervalSeconds",
            Some("Inner"),
        );
        assert_eq!(d.field().as_deref(), Some("Retry[1].IntervalSeconds"));
        let fdl = diag("/States/3/Branches/0/Next", Some("Check"));
        assert_eq!(fdl.field().as_deref(), Some("Branches[0].Next"));
        let payload = diag("/States/Foo/Parameters/States/0", Some("Foo"));
        assert_eq!(payload.field().as_deref(), Some("Parameters.States[0]"));
    }

    #[test]
    fn renders_top_level_and_whole_document() {
        assert_eq!(
            diag("/StartAt", None).to_string(),
            "flows/x.asl.json:12:9: field StartAt: unknown state 'Bar'"
        );
        let whole = Diagnostic::new("f.yaml", "", "empty definition");
        assert_eq!(whole.to_string(), "f.yaml: empty definition");
        assert_eq!(
            diag("/States/Foo", Some("Foo")).to_string(),
            "flows/x.asl.json:12:9: state 'Foo': unknown state 'Bar'"
        );
    }

    #[test]
    fn unescapes_pointer_tokens() {
        let d = diag("/States/a~1b/Next", Some("a/b"));
        assert_eq!(d.field().as_deref(), Some("Next"));
    }

    #[test]
    fn render_counts_problems() {
        let all = [diag("/StartAt", None), diag("/States/Foo", Some("Foo"))];
        let text = render(&all);
        assert!(text.ends_with("2 problems found\n"));
        assert_eq!(text.lines().count(), 3);
    }
}
