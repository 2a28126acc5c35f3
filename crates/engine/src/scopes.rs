//! Map and Parallel values kept as rows beside an execution's state.
//!
//! An inline Map or Parallel holds its children's inputs and results in its [`Fanout`]. Written
//! inside the state, they would be rewritten at every commit. Instead the stored state marks
//! which slots hold a value and every value is stored once as a [`ScopeValue`] row, keyed by the
//! fanout's scope: the visit of the state that holds it and the attempt within that visit.

use crate::model::{ExecutionState, Frame, Step};
use crate::store::{ScopeValue, ValueKind};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// The key the stored state carries on a fanout whose values are rows.
const IN_ROWS: &str = "in_rows";

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
    let mut json = serde_json::to_value(&*state).unwrap_or(Value::Null);
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
    fan[IN_ROWS] = Value::Bool(true);
    fan["pending"] = t
        .pending
        .iter()
        .map(|(i, _)| serde_json::json!([i, null]))
        .collect();
    fan["results"] = t.results.iter().map(|r| Value::Bool(r.is_some())).collect();
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
            collect(frame, redrives, &mut in_rows);
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

/// For each scope stored in rows, which result slots hold a value.
fn collect(frame: &Value, redrives: u32, out: &mut HashMap<String, Vec<bool>>) {
    let Some(fan) = frame.pointer("/step/Fanout") else {
        return;
    };
    if fan.get(IN_ROWS) == Some(&Value::Bool(true)) {
        let entered = frame
            .get("entered_event")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let retries = frame
            .get("retries")
            .and_then(Value::as_array)
            .map_or(0, |r| r.iter().filter_map(Value::as_u64).sum::<u64>());
        let done = fan
            .get("results")
            .and_then(Value::as_array)
            .map(|r| r.iter().map(|v| v == &Value::Bool(true)).collect())
            .unwrap_or_default();
        out.insert(scope_of(entered, redrives, retries as u32), done);
    }
    if let Some(Value::Object(running)) = fan.get("running") {
        for child in running.values() {
            collect(child, redrives, out);
        }
    }
}

fn fill(
    frame: &mut Frame,
    redrives: u32,
    in_rows: &HashMap<String, Vec<bool>>,
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
    if let Some(done) = in_rows.get(&scope) {
        frame.input = row(ValueKind::StateInput, 0)?;
        fan.effective_input = row(ValueKind::Effective, 0)?;
        for (i, v) in fan.pending.iter_mut() {
            *v = row(ValueKind::Input, *i)?;
        }
        for (i, slot) in fan.results.iter_mut().enumerate() {
            *slot = match done.get(i) {
                Some(true) => Some(row(ValueKind::Result, i as u32)?),
                _ => None,
            };
        }
    }
    for child in fan.running.values_mut() {
        fill(child, redrives, in_rows, rows)?;
    }
    Ok(())
}
