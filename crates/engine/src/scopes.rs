//! Map and Parallel values kept as rows beside an execution's state.
//!
//! An inline Map or Parallel holds its children's inputs and results in its [`Fanout`]. Written
//! inside the state, they would be rewritten at every commit. Instead the stored state marks
//! which slots hold a value and every value is stored once as a [`ScopeValue`] row, keyed by the
//! fanout's scope: the visit of the state that holds it and the attempt within that visit.

use crate::model::{ExecutionState, Frame, Step};
use crate::store::{ScopeValue, ValueKind};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The key under which the stored state tells, for a fanout whose values are rows, which slots
/// hold one (see [`Slots`]).
const IN_ROWS: &str = "in_rows";

/// Which slots of a fanout hold a value, as runs `(first, last)` of consecutive indices, so that
/// the marks stay small however many children the fanout has: children start in index order and
/// finish out of order only up to the concurrency.
#[derive(Debug, Default, Deserialize)]
struct Slots {
    /// Indices of the children not started yet, in the order they start.
    pending: Vec<(u32, u32)>,
    /// Indices of the children with a result.
    results: Vec<(u32, u32)>,
    /// How many children there are.
    count: usize,
}

/// Runs of consecutive ascending indices.
fn runs(indices: impl Iterator<Item = u32>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for i in indices {
        match out.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(i) => *last = i,
            _ => out.push((i, i)),
        }
    }
    out
}

/// The indices of `runs`, in order.
fn indices(runs: &[(u32, u32)]) -> impl Iterator<Item = u32> + '_ {
    runs.iter().flat_map(|&(first, last)| first..=last)
}

/// The values one commit writes and the state it writes without them.
#[derive(Debug)]
pub struct Externalized {
    /// The state, its fanouts' values replaced by markers.
    pub state: Value,
    /// Values not stored yet.
    pub values: Vec<ScopeValue>,
    /// Every scope the state holds.
    scopes: Vec<String>,
}

/// Which values of one execution are stored already, so that each is written once.
#[derive(Debug, Default)]
pub struct Persisted {
    stored: HashMap<String, HashSet<(ValueKind, u32)>>,
}

impl Persisted {
    /// Records that `written` reached the store; forgets scopes the state no longer holds.
    pub fn stored(&mut self, written: &Externalized) {
        let live: HashSet<&String> = written.scopes.iter().collect();
        self.stored.retain(|scope, _| live.contains(scope));
        for v in &written.values {
            self.stored
                .entry(v.scope.clone())
                .or_default()
                .insert((v.kind, v.idx));
        }
    }

    fn has(&self, scope: &str, kind: ValueKind, idx: u32) -> bool {
        self.stored
            .get(scope)
            .is_some_and(|s| s.contains(&(kind, idx)))
    }
}

/// The scope of the fanout in `frame`: its state's visit, the redrive and the retry.
fn scope_of(frame_entered: u64, redrives: u32, retries: u32) -> String {
    format!("{frame_entered}.{redrives}.{retries}")
}

fn frame_scope(frame: &Frame, redrives: u32) -> String {
    scope_of(frame.entered_event, redrives, frame.retries.iter().sum())
}

/// The top frames of a state: the running one, then the one a redrive restarts from.
fn frames_mut(state: &mut ExecutionState) -> impl Iterator<Item = &mut Frame> {
    state.root.iter_mut().chain(state.failed_at.iter_mut())
}

/// The values a fanout holds apart from its running children, taken out of it, and those of the
/// fanouts among its children by child index.
struct Taken {
    input: Value,
    effective: Value,
    pending: std::collections::VecDeque<(u32, Value)>,
    results: Vec<Option<Value>>,
    children: Vec<(u32, Taken)>,
}

/// The state to store and the values not stored yet. The values are taken out of `state` while
/// it is serialised and put back before this returns, so that stored values are not serialised
/// again.
pub fn externalize(state: &mut ExecutionState, persisted: &Persisted) -> Externalized {
    let redrives = state.redriven.map_or(0, |r| r.count);
    let mut values = Vec::new();
    let mut scopes = Vec::new();
    let taken: Vec<Option<Taken>> = frames_mut(state)
        .map(|f| take(f, redrives, persisted, &mut values, &mut scopes))
        .collect();
    // Every key of the state is a string or an integer, which serialise without fail.
    let mut json = serde_json::to_value(&*state).expect("an execution state serialises");
    let keys = state.root.iter().map(|_| "root");
    let keys = keys.chain(state.failed_at.iter().map(|_| "failed_at"));
    for (key, t) in keys.zip(&taken) {
        if let (Some(frame), Some(t)) = (json.get_mut(key), t) {
            mark(frame, t);
        }
    }
    for (frame, t) in frames_mut(state).zip(taken) {
        if let Some(t) = t {
            put_back(frame, t);
        }
    }
    Externalized {
        state: json,
        values,
        scopes,
    }
}

fn take(
    frame: &mut Frame,
    redrives: u32,
    persisted: &Persisted,
    values: &mut Vec<ScopeValue>,
    scopes: &mut Vec<String>,
) -> Option<Taken> {
    let scope = frame_scope(frame, redrives);
    let Step::Fanout(fan) = &mut frame.step else {
        return None;
    };
    let mut new = |kind: ValueKind, idx: u32, value: &Value| {
        if !persisted.has(&scope, kind, idx) {
            values.push(ScopeValue {
                scope: scope.clone(),
                kind,
                idx,
                value: value.clone(),
            });
        }
    };
    new(ValueKind::StateInput, 0, &frame.input);
    new(ValueKind::Effective, 0, &fan.effective_input);
    for (i, v) in &fan.pending {
        new(ValueKind::Input, *i, v);
    }
    for (i, v) in fan.results.iter().enumerate() {
        if let Some(v) = v {
            new(ValueKind::Result, i as u32, v);
        }
    }
    scopes.push(scope);
    let children = fan
        .running
        .iter_mut()
        .filter_map(|(i, child)| Some((*i, take(child, redrives, persisted, values, scopes)?)))
        .collect();
    Some(Taken {
        input: frame.input.take(),
        effective: fan.effective_input.take(),
        pending: std::mem::take(&mut fan.pending),
        results: std::mem::take(&mut fan.results),
        children,
    })
}

/// Marks in a serialised frame which slots of its fanout hold values.
fn mark(frame: &mut Value, t: &Taken) {
    let Some(fan) = frame.pointer_mut("/step/Fanout") else {
        return;
    };
    let done = (0..t.results.len() as u32).filter(|&i| t.results[i as usize].is_some());
    fan[IN_ROWS] = serde_json::json!({
        "pending": runs(t.pending.iter().map(|(i, _)| *i)),
        "results": runs(done),
        "count": t.results.len(),
    });
    for (i, child) in &t.children {
        if let Some(child_json) = fan.pointer_mut(&format!("/running/{i}")) {
            mark(child_json, child);
        }
    }
}

fn put_back(frame: &mut Frame, t: Taken) {
    let Step::Fanout(fan) = &mut frame.step else {
        return;
    };
    frame.input = t.input;
    fan.effective_input = t.effective;
    fan.pending = t.pending;
    fan.results = t.results;
    for (i, child) in t.children {
        if let Some(child_frame) = fan.running.get_mut(&i) {
            put_back(child_frame, child);
        }
    }
}

/// A stored state with its values put back. Accepts states stored with their values inline too.
pub fn internalize(state: Value, values: Vec<ScopeValue>) -> Result<ExecutionState, String> {
    let mut in_rows = HashMap::new();
    let redrives = state
        .pointer("/redriven/count")
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32;
    for key in ["root", "failed_at"] {
        if let Some(frame) = state.get(key) {
            collect(frame, redrives, &mut in_rows)?;
        }
    }
    let mut st: ExecutionState =
        serde_json::from_value(state).map_err(|e| format!("undecodable state: {e}"))?;
    if in_rows.is_empty() {
        return Ok(st);
    }
    let mut rows: HashMap<(String, ValueKind, u32), Value> = values
        .into_iter()
        .map(|v| ((v.scope, v.kind, v.idx), v.value))
        .collect();
    for frame in frames_mut(&mut st) {
        fill(frame, redrives, &in_rows, &mut rows)?;
    }
    Ok(st)
}

/// The slots of each fanout stored in rows, by scope.
fn collect(frame: &Value, redrives: u32, out: &mut HashMap<String, Slots>) -> Result<(), String> {
    let Some(fan) = frame.pointer("/step/Fanout") else {
        return Ok(());
    };
    if let Some(slots) = fan.get(IN_ROWS) {
        let slots: Slots = serde_json::from_value(slots.clone())
            .map_err(|e| format!("undecodable slots of a stored state: {e}"))?;
        let entered = frame
            .get("entered_event")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let retries = frame
            .get("retries")
            .and_then(Value::as_array)
            .map_or(0, |r| r.iter().filter_map(Value::as_u64).sum::<u64>());
        out.insert(scope_of(entered, redrives, retries as u32), slots);
    }
    if let Some(Value::Object(running)) = fan.get("running") {
        for child in running.values() {
            collect(child, redrives, out)?;
        }
    }
    Ok(())
}

fn fill(
    frame: &mut Frame,
    redrives: u32,
    in_rows: &HashMap<String, Slots>,
    rows: &mut HashMap<(String, ValueKind, u32), Value>,
) -> Result<(), String> {
    let scope = frame_scope(frame, redrives);
    let mut row = |kind: ValueKind, idx: u32| {
        rows.remove(&(scope.clone(), kind, idx))
            .ok_or_else(|| format!("the stored state lacks value {scope}/{kind:?}/{idx}"))
    };
    let Step::Fanout(fan) = &mut frame.step else {
        return Ok(());
    };
    if let Some(slots) = in_rows.get(&scope) {
        frame.input = row(ValueKind::StateInput, 0)?;
        fan.effective_input = row(ValueKind::Effective, 0)?;
        fan.pending = indices(&slots.pending)
            .map(|i| Ok((i, row(ValueKind::Input, i)?)))
            .collect::<Result<_, String>>()?;
        fan.results = vec![None; slots.count];
        for i in indices(&slots.results) {
            let slot = fan.results.get_mut(i as usize).ok_or_else(|| {
                format!("the stored state marks result {i} of {scope} out of range")
            })?;
            *slot = Some(row(ValueKind::Result, i)?);
        }
    }
    for child in fan.running.values_mut() {
        fill(child, redrives, in_rows, rows)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Fanout;
    use serde_json::json;

    fn frame(state: &str, entered_event: u64, input: Value, step: Step) -> Frame {
        Frame {
            vars: Default::default(),
            state: state.into(),
            input,
            entered_event,
            entered_ms: 0,
            retries: Vec::new(),
            step,
            map_item: None,
        }
    }

    fn fanout(
        pending: &[(u32, Value)],
        running: Vec<(u32, Frame)>,
        results: Vec<Option<Value>>,
    ) -> Step {
        Step::Fanout(Box::new(Fanout {
            pending: pending.iter().cloned().collect(),
            running: running.into_iter().collect(),
            results,
            max_concurrency: 2,
            failed: 0,
            tolerated_count: None,
            tolerated_percent: None,
            effective_input: json!("effective value"),
            failure: None,
        }))
    }

    /// A Map of four items: one done (with a null result), one running a Parallel with one
    /// branch done and one pending, two pending.
    fn state() -> ExecutionState {
        let branches = fanout(
            &[(1, json!("branch input"))],
            Vec::new(),
            vec![Some(json!("branch result")), None],
        );
        let parallel = frame("Both", 9, json!("item one"), branches);
        let map = fanout(
            &[(2, json!("item two")), (3, json!("item three"))],
            vec![(1, parallel)],
            vec![Some(Value::Null), None, None, None],
        );
        let mut st = ExecutionState::new(None);
        st.root = Some(frame("Each", 2, json!(["the", "items"]), map));
        st
    }

    fn json_of(st: &ExecutionState) -> String {
        serde_json::to_string(st).unwrap()
    }

    fn fan(frame: &Frame) -> &Fanout {
        match &frame.step {
            Step::Fanout(fan) => fan,
            _ => panic!("no fanout"),
        }
    }

    #[test]
    fn a_nested_parallel_in_a_map_round_trips_without_its_values_in_the_state() {
        let mut st = state();
        let before = json_of(&st);
        let x = externalize(&mut st, &Persisted::default());
        assert_eq!(json_of(&st), before, "the state is left as it was");
        let stored = x.state.to_string();
        for value in [
            "item one",
            "item two",
            "branch",
            "effective value",
            "\"the\"",
        ] {
            assert!(!stored.contains(value), "{value} in {stored}");
        }
        // Two scopes, each with its state input and effective input; three child inputs; two
        // results.
        assert_eq!(x.values.len(), 2 * 2 + 3 + 2);
        let back = internalize(x.state, x.values).unwrap();
        assert_eq!(json_of(&back), before);
        let root = back.root.as_ref().unwrap();
        assert_eq!(fan(root).results[0], Some(Value::Null));
        assert_eq!(
            fan(&fan(root).running[&1]).pending[0].1,
            json!("branch input")
        );
    }

    #[test]
    fn each_value_is_written_once() {
        let mut st = state();
        let mut persisted = Persisted::default();
        let x = externalize(&mut st, &persisted);
        persisted.stored(&x);
        assert!(externalize(&mut st, &persisted).values.is_empty());
        let Some(Step::Fanout(map)) = st.root.as_mut().map(|f| &mut f.step) else {
            panic!("no fanout");
        };
        map.results[3] = Some(json!("three done"));
        let again = externalize(&mut st, &persisted);
        assert_eq!(
            again.values,
            [ScopeValue {
                scope: "2.0.0".into(),
                kind: ValueKind::Result,
                idx: 3,
                value: json!("three done"),
            }]
        );
        let mut rows = x.values;
        rows.extend(again.values);
        assert_eq!(
            json_of(&internalize(again.state, rows).unwrap()),
            json_of(&st)
        );
    }

    #[test]
    fn a_retried_state_stores_its_values_afresh() {
        let mut st = state();
        let mut persisted = Persisted::default();
        persisted.stored(&externalize(&mut st, &persisted));
        st.root.as_mut().unwrap().retries = vec![1];
        let x = externalize(&mut st, &persisted);
        assert!(x.values.iter().any(|v| v.scope == "2.0.1"));
        assert!(x.values.iter().all(|v| v.scope != "2.0.0"));
    }

    #[test]
    fn a_state_stored_with_its_values_inline_loads() {
        let st = state();
        let inline = serde_json::to_value(&st).unwrap();
        assert_eq!(
            json_of(&internalize(inline, Vec::new()).unwrap()),
            json_of(&st)
        );
    }

    #[test]
    fn a_missing_value_is_an_error() {
        let mut st = state();
        let x = externalize(&mut st, &Persisted::default());
        let rows = x.values.into_iter().skip(1).collect();
        assert!(internalize(x.state, rows).is_err());
    }
}
