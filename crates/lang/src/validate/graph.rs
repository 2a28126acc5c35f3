//! Reachability of states inside one scope.

use std::collections::{HashMap, HashSet};

/// Transitions between the states of one scope, in declaration order.
#[derive(Default)]
pub(super) struct Transitions<'v> {
    order: Vec<&'v str>,
    edges: HashMap<&'v str, Vec<&'v str>>,
}

impl<'v> Transitions<'v> {
    /// Declares a state (in source order).
    pub fn state(&mut self, name: &'v str) {
        if !self.edges.contains_key(name) {
            self.order.push(name);
            self.edges.insert(name, Vec::new());
        }
    }

    /// Records a transition `from` → `to`.
    pub fn edge(&mut self, from: &'v str, to: &'v str) {
        self.edges.entry(from).or_default().push(to);
    }

    /// States not reachable from `start`, in declaration order.
    pub fn unreachable(&self, start: &str) -> Vec<&'v str> {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack = vec![start];
        while let Some(name) = stack.pop() {
            if !seen.insert(name) {
                continue;
            }
            if let Some(next) = self.edges.get(name) {
                stack.extend(next.iter().copied());
            }
        }
        self.order
            .iter()
            .copied()
            .filter(|name| !seen.contains(name))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_unreachable_states_in_order() {
        let mut t = Transitions::default();
        for name in ["A", "B", "C", "D", "E"] {
            t.state(name);
        }
        t.edge("A", "B");
        t.edge("B", "A");
        t.edge("D", "E");
        assert_eq!(t.unreachable("A"), vec!["C", "D", "E"]);
        assert_eq!(t.unreachable("D"), vec!["A", "B", "C"]);
    }
}
