//! Location paths: steps, predicates, tuple streams (`@`, `#`, `%`), order-by and group-by.

use std::collections::HashMap;
use std::rc::Rc;

use super::Evaluator;
use super::ops::{append, boolean, compare_strings};
use crate::ast::{Group, Kind, Node, SortTerm, Stage};
use crate::env::FrameId;
use crate::error::{Failure, Res};
use crate::json::{describe, quote};
use crate::value::{Object, Opt, Tuple, Value};

/// Input of a group-by: plain values or a tuple stream.
pub(crate) enum GroupInput<'a> {
    Values(Opt<'a>),
    Tuples(Vec<Tuple<'a>>),
}

fn tuple_get<'a>(tuple: &Tuple<'a>, key: &str) -> Opt<'a> {
    tuple
        .iter()
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.clone())
}

fn tuple_set<'a>(tuple: &mut Tuple<'a>, key: &'a str, value: Opt<'a>) {
    match tuple.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => tuple.push((key, value)),
    }
}

/// The items of a value seen as a sequence (tuple streams yield their context values).
fn items_of<'a>(v: &Value<'a>) -> Vec<Value<'a>> {
    match v {
        Value::Tuples(t) => t.iter().filter_map(|t| tuple_get(t, "@")).collect(),
        _ => v.to_items(),
    }
}

/// `*`: the values of all members, arrays flattened.
pub(crate) fn wildcard<'a>(input: Option<&Value<'a>>) -> Value<'a> {
    let mut results = Vec::new();
    let mut plain = false;
    let mut input = input.cloned();
    if let Some(v) = &input
        && v.is_outer_wrapper()
    {
        input = v.as_array().and_then(|a| a.get(0));
    }
    let values: Vec<Value<'a>> = match &input {
        Some(v) if v.is_object() => v
            .as_object()
            .map(|o| o.entries().into_iter().map(|(_, v)| v).collect())
            .unwrap_or_default(),
        Some(v) if v.as_array().is_some() => v.to_items(),
        _ => Vec::new(),
    };
    for value in values {
        if value.is_array() {
            plain = true;
            flatten_into(&value, &mut results);
        } else {
            results.push(value);
        }
    }
    if plain {
        Value::array(results)
    } else {
        Value::sequence(results)
    }
}

fn flatten_into<'a>(v: &Value<'a>, out: &mut Vec<Value<'a>>) {
    if v.is_array() {
        for item in items_of(v) {
            flatten_into(&item, out);
        }
    } else {
        out.push(v.clone());
    }
}

/// `**`: the input and all its descendants.
pub(crate) fn descendants<'a>(input: Option<&Value<'a>>) -> Opt<'a> {
    let v = input?;
    let mut out = Vec::new();
    recurse_descendants(v, &mut out);
    if out.len() == 1 {
        out.pop()
    } else {
        Some(Value::sequence(out))
    }
}

fn recurse_descendants<'a>(v: &Value<'a>, out: &mut Vec<Value<'a>>) {
    if v.is_array() {
        for item in items_of(v) {
            recurse_descendants(&item, out);
        }
        return;
    }
    out.push(v.clone());
    if let Some(o) = v.as_object() {
        for (_, member) in o.entries() {
            recurse_descendants(&member, out);
        }
    }
}

/// Item of a group-by input.
enum GroupItem<'a> {
    Value(Opt<'a>),
    Tuple(Tuple<'a>),
}

/// Accumulated data of one group.
enum GroupData<'a> {
    Value(Opt<'a>),
    Tuples(Vec<Tuple<'a>>),
}

impl<'a> Evaluator<'a> {
    /// Evaluates a location path.
    pub(super) fn path(
        &self,
        node: &'a Node,
        steps: &'a [Node],
        keep_singleton_array: bool,
        input: &Opt<'a>,
        env: FrameId,
    ) -> Res<Opt<'a>> {
        let first_is_variable = matches!(steps.first().map(|s| &s.kind), Some(Kind::Variable(_)));
        let mut input_seq: Vec<Opt<'a>> = match input {
            Some(v) if v.is_array() && !first_is_variable => {
                items_of(v).into_iter().map(Some).collect()
            }
            other => vec![other.clone()],
        };
        let mut result: Opt<'a> = None;
        let mut is_tuple = false;
        let mut tuples: Option<Vec<Tuple<'a>>> = None;
        let last = steps.len().saturating_sub(1);
        for (ii, step) in steps.iter().enumerate() {
            if step.tuple {
                is_tuple = true;
            }
            if ii == 0 && step.cons_array {
                let seq = Value::sequence(input_seq.iter().flatten().cloned().collect());
                result = self.eval(step, &Some(seq), env)?;
            } else if is_tuple {
                tuples = Some(self.tuple_step(step, &input_seq, tuples.take(), env)?);
            } else {
                result = Some(self.step(step, &input_seq, env, ii == last)?);
            }
            if !is_tuple {
                match &result {
                    None => break,
                    Some(v) if v.is_array() && items_of(v).is_empty() => break,
                    _ => {}
                }
            }
            if step.focus.is_none() {
                input_seq = match &result {
                    Some(v) if v.is_array() => items_of(v).into_iter().map(Some).collect(),
                    Some(v) => vec![Some(v.clone())],
                    None => Vec::new(),
                };
            }
        }
        let tuple_stream = if is_tuple { tuples.take() } else { None };
        if is_tuple {
            let stream = tuple_stream.clone().unwrap_or_default();
            result = Some(if node.tuple {
                Value::Tuples(Rc::new(stream))
            } else {
                Value::sequence(stream.iter().filter_map(|t| tuple_get(t, "@")).collect())
            });
        }
        if keep_singleton_array {
            if let Some(v) = &result
                && v.is_cons()
                && !v.is_sequence()
            {
                result = Some(Value::sequence(vec![v.clone()]));
            }
            if let Some(Value::Array(a)) = &result {
                a.set_keep_singleton();
            }
        }
        if let Some(group) = &node.group {
            let input = match tuple_stream {
                Some(stream) => GroupInput::Tuples(stream),
                None => GroupInput::Values(result),
            };
            result = Some(self.group(group, input, env)?);
        }
        Ok(result)
    }

    fn step(
        &self,
        step: &'a Node,
        input_seq: &[Opt<'a>],
        env: FrameId,
        last: bool,
    ) -> Res<Value<'a>> {
        if let Kind::Sort(_) = step.kind {
            let items = input_seq.iter().flatten().cloned().collect();
            let mut result = self.sort_step(step, items, env)?;
            for stage in &step.stages {
                if let Stage::Filter(p) = stage {
                    result = self.filter(p, Some(result), env)?;
                }
            }
            return Ok(result);
        }
        let mut results = Vec::with_capacity(input_seq.len());
        for item in input_seq {
            let mut res = self.eval(step, item, env)?;
            for stage in &step.stages {
                if let Stage::Filter(p) = stage {
                    res = Some(self.filter(p, res, env)?);
                }
            }
            if let Some(r) = res {
                results.push(r);
            }
        }
        if last && results.len() == 1 && results[0].is_array() && !results[0].is_sequence() {
            return Ok(results.pop().expect("one result"));
        }
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            if !r.is_array() || r.is_cons() {
                out.push(r);
            } else {
                out.extend(items_of(&r));
            }
        }
        Ok(Value::sequence(out))
    }

    fn tuple_step(
        &self,
        step: &'a Node,
        input_seq: &[Opt<'a>],
        bindings: Option<Vec<Tuple<'a>>>,
        env: FrameId,
    ) -> Res<Vec<Tuple<'a>>> {
        if let Kind::Sort(terms) = &step.kind {
            let sorted = match bindings {
                Some(stream) => self.sort_tuples(step, terms, stream, env)?,
                None => {
                    let items = input_seq.iter().flatten().cloned().collect();
                    let sorted = self.sort_step(step, items, env)?;
                    items_of(&sorted)
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let mut t: Tuple<'a> = vec![("@", Some(v))];
                            if let Some(index) = &step.index {
                                tuple_set(&mut t, index, Some(Value::Number(i as f64)));
                            }
                            t
                        })
                        .collect()
                }
            };
            return self.tuple_stages(&step.stages, sorted, env);
        }
        let stream = bindings.unwrap_or_else(|| {
            input_seq
                .iter()
                .map(|item| vec![("@", item.clone())])
                .collect()
        });
        let mut result = Vec::new();
        for tuple in &stream {
            let frame = self.frames.push_tuple(env, tuple);
            let context = tuple_get(tuple, "@");
            let Some(res) = self.eval(step, &context, frame)? else {
                continue;
            };
            if let Value::Tuples(inner) = &res {
                for t in inner.iter() {
                    let mut merged = tuple.clone();
                    for (k, v) in t {
                        tuple_set(&mut merged, k, v.clone());
                    }
                    result.push(merged);
                }
                continue;
            }
            let values = if res.is_array() {
                items_of(&res)
            } else {
                vec![res]
            };
            for (bb, item) in values.into_iter().enumerate() {
                let mut t = tuple.clone();
                match &step.focus {
                    Some(focus) => tuple_set(&mut t, focus, Some(item)),
                    None => tuple_set(&mut t, "@", Some(item)),
                }
                if let Some(index) = &step.index {
                    tuple_set(&mut t, index, Some(Value::Number(bb as f64)));
                }
                if let Some(slot) = step.ancestor {
                    tuple_set(&mut t, &self.slots[slot].label, context.clone());
                }
                result.push(t);
            }
        }
        self.tuple_stages(&step.stages, result, env)
    }

    fn tuple_stages(
        &self,
        stages: &'a [Stage],
        mut stream: Vec<Tuple<'a>>,
        env: FrameId,
    ) -> Res<Vec<Tuple<'a>>> {
        for stage in stages {
            match stage {
                Stage::Filter(p) => stream = self.filter_tuples(p, stream, env)?,
                Stage::Index(name) => {
                    for (i, t) in stream.iter_mut().enumerate() {
                        tuple_set(t, name, Some(Value::Number(i as f64)));
                    }
                }
            }
        }
        Ok(stream)
    }

    /// Whether a predicate result selects item `index` of `len`.
    fn selects(&self, res: Opt<'a>, index: usize, len: usize) -> Res<bool> {
        let numbers: Option<Vec<f64>> = match &res {
            Some(Value::Number(n)) => {
                if !n.is_finite() && !n.is_nan() {
                    return Err(Failure::new("D1001").value("null"));
                }
                if n.is_nan() { None } else { Some(vec![*n]) }
            }
            Some(v) if v.as_array().is_some() => {
                let items = v.to_items();
                if items.iter().all(|i| i.is_number()) {
                    Some(items.iter().filter_map(|i| i.as_f64()).collect())
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(numbers) = numbers {
            return Ok(numbers.iter().any(|n| {
                let mut i = n.floor();
                if i < 0.0 {
                    i += len as f64;
                }
                i == index as f64
            }));
        }
        Ok(boolean(res.as_ref())?.unwrap_or(false))
    }

    /// Applies a predicate to a value (`evaluateFilter`).
    pub(super) fn filter(
        &self,
        predicate: &'a Node,
        input: Opt<'a>,
        env: FrameId,
    ) -> Res<Value<'a>> {
        if let Some(Value::Tuples(stream)) = &input {
            let filtered = self.filter_tuples(predicate, stream.as_ref().clone(), env)?;
            return Ok(Value::Tuples(Rc::new(filtered)));
        }
        let items: Vec<Opt<'a>> = match &input {
            Some(v) if v.is_array() => items_of(v).into_iter().map(Some).collect(),
            other => vec![other.clone()],
        };
        if let Kind::Num(n) = predicate.kind {
            let mut index = n.floor();
            if index < 0.0 {
                index += items.len() as f64;
            }
            if index >= 0.0
                && let Some(Some(item)) = items.get(index as usize)
            {
                if item.is_array() {
                    return Ok(item.clone());
                }
                return Ok(Value::sequence(vec![item.clone()]));
            }
            return Ok(Value::sequence(Vec::new()));
        }
        let len = items.len();
        let mut results = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let res = self.eval(predicate, item, env)?;
            if self.selects(res, index, len)?
                && let Some(item) = item
            {
                results.push(item.clone());
            }
        }
        Ok(Value::sequence(results))
    }

    fn filter_tuples(
        &self,
        predicate: &'a Node,
        stream: Vec<Tuple<'a>>,
        env: FrameId,
    ) -> Res<Vec<Tuple<'a>>> {
        if let Kind::Num(n) = predicate.kind {
            let mut index = n.floor();
            if index < 0.0 {
                index += stream.len() as f64;
            }
            if index >= 0.0
                && let Some(t) = stream.get(index as usize)
            {
                return Ok(vec![t.clone()]);
            }
            return Ok(Vec::new());
        }
        let len = stream.len();
        let mut results = Vec::new();
        for (index, tuple) in stream.into_iter().enumerate() {
            let frame = self.frames.push_tuple(env, &tuple);
            let res = self.eval(predicate, &tuple_get(&tuple, "@"), frame)?;
            if self.selects(res, index, len)? {
                results.push(tuple);
            }
        }
        Ok(results)
    }

    /// Compares two items under the sort terms; `true` means they must be swapped.
    fn sort_swap(
        &self,
        node: &'a Node,
        terms: &'a [SortTerm],
        a: (&Opt<'a>, FrameId),
        b: (&Opt<'a>, FrameId),
    ) -> Res<bool> {
        for term in terms {
            let aa = self.eval(&term.expr, a.0, a.1)?;
            let bb = self.eval(&term.expr, b.0, b.1)?;
            let comp = match (&aa, &bb) {
                (None, None) => continue,
                (None, _) => return Ok(true),
                (_, None) => return Ok(false),
                (Some(x), Some(y)) => {
                    let ok = |v: &Value<'_>| v.is_string() || v.is_number();
                    if !ok(x) || !ok(y) {
                        let bad = if ok(x) { y } else { x };
                        return Err(Failure::new("T2008")
                            .at(node.pos)
                            .value(describe(Some(bad))));
                    }
                    match (x, y) {
                        (Value::Number(p), Value::Number(q)) => {
                            p.partial_cmp(q).unwrap_or(std::cmp::Ordering::Equal)
                        }
                        _ => match (x.as_str(), y.as_str()) {
                            (Some(p), Some(q)) => compare_strings(p, q),
                            _ => {
                                return Err(Failure::new("T2007")
                                    .at(node.pos)
                                    .value(describe(Some(x)))
                                    .value2(describe(Some(y))));
                            }
                        },
                    }
                }
            };
            if comp == std::cmp::Ordering::Equal {
                continue;
            }
            let mut swap = comp == std::cmp::Ordering::Greater;
            if term.descending {
                swap = !swap;
            }
            return Ok(swap);
        }
        Ok(false)
    }

    /// An order-by step over plain values.
    pub(super) fn sort_step(
        &self,
        node: &'a Node,
        items: Vec<Value<'a>>,
        env: FrameId,
    ) -> Res<Value<'a>> {
        let Kind::Sort(terms) = &node.kind else {
            return Ok(Value::sequence(items));
        };
        if items.len() <= 1 {
            return Ok(Value::sequence(items));
        }
        let sorted = merge_sort(items, &mut |a: &Value<'a>, b: &Value<'a>| {
            self.sort_swap(
                node,
                terms,
                (&Some(a.clone()), env),
                (&Some(b.clone()), env),
            )
        })?;
        Ok(Value::array(sorted))
    }

    fn sort_tuples(
        &self,
        node: &'a Node,
        terms: &'a [SortTerm],
        stream: Vec<Tuple<'a>>,
        env: FrameId,
    ) -> Res<Vec<Tuple<'a>>> {
        if stream.len() <= 1 {
            return Ok(stream);
        }
        merge_sort(stream, &mut |a: &Tuple<'a>, b: &Tuple<'a>| {
            let fa = self.frames.push_tuple(env, a);
            let fb = self.frames.push_tuple(env, b);
            self.sort_swap(
                node,
                terms,
                (&tuple_get(a, "@"), fa),
                (&tuple_get(b, "@"), fb),
            )
        })
    }

    /// Group-by / object construction (`evaluateGroupExpression`).
    pub(super) fn group(
        &self,
        group: &'a Group,
        input: GroupInput<'a>,
        env: FrameId,
    ) -> Res<Value<'a>> {
        let mut items: Vec<GroupItem<'a>> = match input {
            GroupInput::Values(Some(v)) if v.is_array() => match &v {
                Value::Tuples(t) => t.iter().cloned().map(GroupItem::Tuple).collect(),
                _ => v
                    .to_items()
                    .into_iter()
                    .map(|x| GroupItem::Value(Some(x)))
                    .collect(),
            },
            GroupInput::Values(v) => vec![GroupItem::Value(v)],
            GroupInput::Tuples(ts) => ts.into_iter().map(GroupItem::Tuple).collect(),
        };
        if items.is_empty() {
            items.push(GroupItem::Value(None));
        }
        let mut order: Vec<(Rc<str>, GroupData<'a>, usize)> = Vec::new();
        let mut index: HashMap<Rc<str>, usize> = HashMap::new();
        for item in items {
            let (context, frame) = match &item {
                GroupItem::Value(v) => (v.clone(), env),
                GroupItem::Tuple(t) => (tuple_get(t, "@"), self.frames.push_tuple(env, t)),
            };
            for (pi, (key_node, _)) in group.pairs.iter().enumerate() {
                let key = self.eval(key_node, &context, frame)?;
                let Some(key) = key else { continue };
                let Some(k) = key.as_str() else {
                    return Err(Failure::new("T1003")
                        .at(group.pos)
                        .value(describe(Some(&key))));
                };
                match index.get(k) {
                    Some(&i) => {
                        let entry = &mut order[i];
                        if entry.2 != pi {
                            return Err(Failure::new("D1009").at(group.pos).value(quote(k)));
                        }
                        entry.1 = match (
                            std::mem::replace(&mut entry.1, GroupData::Value(None)),
                            &item,
                        ) {
                            (GroupData::Value(d), GroupItem::Value(v)) => {
                                GroupData::Value(append(d, v.clone()))
                            }
                            (GroupData::Tuples(mut ts), GroupItem::Tuple(t)) => {
                                ts.push(t.clone());
                                GroupData::Tuples(ts)
                            }
                            (d, _) => d,
                        };
                    }
                    None => {
                        let key: Rc<str> = Rc::from(k);
                        index.insert(key.clone(), order.len());
                        let data = match &item {
                            GroupItem::Value(v) => GroupData::Value(v.clone()),
                            GroupItem::Tuple(t) => GroupData::Tuples(vec![t.clone()]),
                        };
                        order.push((key, data, pi));
                    }
                }
            }
        }
        let mut result = Object::new();
        for (key, data, pi) in order {
            let (context, frame) = match data {
                GroupData::Value(v) => (v, env),
                GroupData::Tuples(ts) => {
                    let mut tuple = reduce_tuple_stream(ts);
                    let context = tuple_get(&tuple, "@");
                    tuple.retain(|(k, _)| *k != "@");
                    (context, self.frames.push_tuple(env, &tuple))
                }
            };
            if let Some(v) = self.eval(&group.pairs[pi].1, &context, frame)? {
                result.insert(&key, v);
            }
        }
        Ok(Value::object(result))
    }
}

fn reduce_tuple_stream<'a>(mut stream: Vec<Tuple<'a>>) -> Tuple<'a> {
    if stream.len() == 1 {
        return stream.pop().expect("one tuple");
    }
    let mut iter = stream.into_iter();
    let mut result = iter.next().unwrap_or_default();
    for t in iter {
        for (k, v) in t {
            let current = tuple_get(&result, k);
            tuple_set(&mut result, k, append(current, v));
        }
    }
    result
}

/// Stable merge sort with a fallible "should swap" comparator.
pub(crate) fn merge_sort<T: Clone>(
    items: Vec<T>,
    swap: &mut dyn FnMut(&T, &T) -> Res<bool>,
) -> Res<Vec<T>> {
    if items.len() <= 1 {
        return Ok(items);
    }
    let mut items = items;
    let right = items.split_off(items.len() / 2);
    let left = merge_sort(items, swap)?;
    let right = merge_sort(right, swap)?;
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if swap(&left[i], &right[j])? {
            out.push(right[j].clone());
            j += 1;
        } else {
            out.push(left[i].clone());
            i += 1;
        }
    }
    out.extend_from_slice(&left[i..]);
    out.extend_from_slice(&right[j..]);
    Ok(out)
}
