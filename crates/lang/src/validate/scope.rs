//! One block of states (`States` plus `StartAt`): its names and the transitions between them.

use std::collections::HashSet;

use super::graph::Transitions;
use super::report::{At, Report};
use super::suggest::closest;
use super::values;

/// The states of one closed scope: the machine itself, a Parallel branch or a Map processor.
pub(super) struct Scope<'v> {
    names: HashSet<&'v str>,
    transitions: Transitions<'v>,
}

impl<'v> Scope<'v> {
    /// A scope declaring `names`.
    pub fn new(names: impl IntoIterator<Item = &'v str>) -> Self {
        Self {
            names: names.into_iter().collect(),
            transitions: Transitions::default(),
        }
    }

    /// Declares a state in source order (for reachability reports).
    pub fn declare(&mut self, name: &'v str) {
        self.transitions.state(name);
    }

    /// Records a transition without checking it.
    pub fn edge(&mut self, from: &'v str, to: &'v str) {
        self.transitions.edge(from, to);
    }

    /// Checks a transition target (`Next`, `Default`, a catcher's `Next`) and records the edge.
    /// `elsewhere` holds the names of every state in the definition, for a better hint.
    pub fn target(
        &mut self,
        r: &mut Report<'_>,
        elsewhere: &HashSet<&str>,
        at: &At<'v>,
        from: &'v str,
    ) {
        let Some(name) = values::string(r, at) else {
            return;
        };
        if self.names.contains(name) {
            self.transitions.edge(from, name);
            return;
        }
        let hint = match closest(name, self.names.iter().copied()) {
            Some(near) => {
                // Assume the likely fix so that a typo does not also make the rest unreachable.
                self.transitions.edge(from, near);
                Some(format!("did you mean '{near}'?"))
            }
            None if elsewhere.contains(name) => Some(format!(
                "'{name}' is in another scope; a transition cannot leave or enter a Parallel branch or Map iteration"
            )),
            None => None,
        };
        r.error(at, format!("unknown state '{name}'"))
            .hint_opt(hint);
    }

    /// Checks `StartAt` on the scope object `at`; returns the start state when it is valid (or,
    /// when it is a likely typo, the state it was probably meant to name).
    pub fn start_at(&self, r: &mut Report<'_>, at: &At<'v>, what: &str) -> Option<&'v str> {
        let Some(start_at) = at.get("StartAt") else {
            r.missing(
                at,
                "StartAt",
                &format!("{what} needs StartAt naming its first state"),
            );
            return None;
        };
        let name = values::string(r, &start_at)?;
        if self.names.contains(name) {
            return Some(name);
        }
        let near = closest(name, self.names.iter().copied());
        let hint = near.map(|c| format!("did you mean '{c}'?"));
        r.error(&start_at, format!("unknown state '{name}'"))
            .hint_opt(hint);
        near
    }

    /// Reports every declared state not reachable from `start`; `pointer_of` locates a state.
    pub fn report_unreachable(
        &self,
        r: &mut Report<'_>,
        start: &str,
        pointer_of: impl Fn(&str) -> String,
    ) {
        for name in self.transitions.unreachable(start) {
            r.error_at(&pointer_of(name), Some(name), format!("not reachable from StartAt '{start}'"))
                .hint("transition to it with Next, a Choice branch, Default or a Catch rule, or remove it");
        }
    }
}
