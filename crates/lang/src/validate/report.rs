//! The collector every check writes into, and the node handle checks walk with.

use serde_json::{Map, Value};

use super::ExpressionChecker;
use super::suggest::closest;
use crate::diagnostic::Diagnostic;
use crate::source::{Document, join_pointer, kind};

/// A node being checked: its value, its JSON pointer and the state it belongs to.
pub(super) struct At<'v> {
    pub value: &'v Value,
    pub state: Option<&'v str>,
    pub pointer: String,
}

impl<'v> At<'v> {
    /// The document root.
    pub fn root(value: &'v Value) -> Self {
        Self {
            value,
            state: None,
            pointer: String::new(),
        }
    }

    /// The member `key` of this object node, if present.
    pub fn get(&self, key: &str) -> Option<At<'v>> {
        let value = self.value.as_object()?.get(key)?;
        Some(self.child(key, value))
    }

    /// A location for the member `key`, whether or not it exists (for "missing field" reports).
    pub fn member_pointer(&self, key: &str) -> String {
        join_pointer(&self.pointer, key)
    }

    /// The element `index` of this array node.
    pub fn index(&self, index: usize, value: &'v Value) -> At<'v> {
        At {
            value,
            state: self.state,
            pointer: join_pointer(&self.pointer, &index.to_string()),
        }
    }

    /// The member `key` with the given value.
    pub fn child(&self, key: &str, value: &'v Value) -> At<'v> {
        At {
            value,
            state: self.state,
            pointer: join_pointer(&self.pointer, key),
        }
    }

    /// The same location, attributed to a state.
    pub fn in_state(mut self, state: &'v str) -> At<'v> {
        self.state = Some(state);
        self
    }

    /// The object members, or `None` for other values.
    pub fn object(&self) -> Option<&'v Map<String, Value>> {
        self.value.as_object()
    }

    /// Elements of an array value paired with their locations.
    pub fn elements(&self) -> Vec<At<'v>> {
        match self.value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| self.index(i, v))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Members of an object value paired with their locations.
    pub fn members(&self) -> Vec<(&'v str, At<'v>)> {
        match self.value {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| (k.as_str(), self.child(k, v)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A specific message and hint for a field that is known but misplaced.
pub(super) type Explanation = (String, Option<String>);

/// Gathers diagnostics for one document.
pub(super) struct Report<'d> {
    pub doc: &'d Document,
    pub checker: &'d dyn ExpressionChecker,
    diagnostics: Vec<Diagnostic>,
}

/// A just-reported diagnostic, to which a hint may be added.
pub(super) struct Reported<'r>(&'r mut Diagnostic);

impl Reported<'_> {
    /// Adds a suggestion.
    pub fn hint(self, hint: impl Into<String>) {
        self.0.hint = Some(hint.into());
    }

    /// Adds a suggestion when there is one.
    pub fn hint_opt(self, hint: Option<String>) {
        self.0.hint = hint;
    }
}

impl<'d> Report<'d> {
    pub fn new(doc: &'d Document, checker: &'d dyn ExpressionChecker) -> Self {
        Self {
            doc,
            checker,
            diagnostics: Vec::new(),
        }
    }

    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    /// Reports a problem at a pointer, attributed to a state when given.
    pub fn error_at(
        &mut self,
        pointer: &str,
        state: Option<&str>,
        message: impl Into<String>,
    ) -> Reported<'_> {
        let mut diagnostic = self.doc.diagnostic(pointer, message);
        diagnostic.state = state.map(str::to_owned);
        self.diagnostics.push(diagnostic);
        Reported(self.diagnostics.last_mut().expect("just pushed"))
    }

    /// Reports a problem at a location.
    pub fn error(&mut self, at: &At<'_>, message: impl Into<String>) -> Reported<'_> {
        self.error_at(&at.pointer, at.state, message)
    }

    /// Reports a required member that is absent from the object at `at`.
    pub fn missing(&mut self, at: &At<'_>, field: &str, what: &str) {
        self.error(at, format!("missing required field {field}"))
            .hint(what.to_owned());
    }

    /// Reports a value of the wrong JSON type.
    pub fn wrong_type(&mut self, at: &At<'_>, expected: &str) {
        let found = kind(at.value);
        self.error(at, format!("expected {expected}, found {found}"));
    }

    /// Reports members of the object at `at` that are not in `allowed`, suggesting the closest
    /// allowed name. `explain` may give a more specific message for a known-but-misplaced field.
    pub fn unknown_fields(
        &mut self,
        at: &At<'_>,
        allowed: &[&str],
        explain: &dyn Fn(&str) -> Option<Explanation>,
    ) {
        let Some(map) = at.object() else {
            return;
        };
        for key in map.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let member = at.member_pointer(key);
            if let Some((message, hint)) = explain(key) {
                self.error_at(&member, at.state, message).hint_opt(hint);
            } else {
                let hint =
                    closest(key, allowed.iter().copied()).map(|c| format!("did you mean '{c}'?"));
                self.error_at(&member, at.state, "unknown field")
                    .hint_opt(hint);
            }
        }
    }
}
