//! Transform expressions `| pattern | update [, delete] |`.
//!
//! The input is deep-copied, the pattern is evaluated against the copy, and the objects it
//! selects are identified by address; the copy is then rebuilt with each selected object's
//! updates merged in and deletions removed.

use std::collections::HashMap;
use std::rc::Rc;

use super::Evaluator;
use crate::ast::{Kind, Node};
use crate::env::FrameId;
use crate::error::{Failure, Res};
use crate::json::describe;
use crate::value::{Object, Opt, Value};

#[derive(Default)]
struct Change<'a> {
    updates: Vec<(Rc<str>, Value<'a>)>,
    deletions: Vec<String>,
}

/// A structural copy in which every object and array is a fresh allocation.
pub(crate) fn deep_clone<'a>(v: &Value<'a>) -> Value<'a> {
    if let Some(o) = v.as_object() {
        let mut obj = Object::new();
        for (k, member) in o.entries() {
            if !member.is_function() {
                obj.insert(&k, deep_clone(&member));
            }
        }
        return Value::object(obj);
    }
    if v.is_array() {
        return Value::array(
            v.to_items()
                .iter()
                .map(|i| {
                    if i.is_function() {
                        Value::Null
                    } else {
                        deep_clone(i)
                    }
                })
                .collect(),
        );
    }
    v.clone()
}

fn rebuild<'a>(v: &Value<'a>, changes: &HashMap<usize, Change<'a>>) -> Value<'a> {
    if let Some(o) = v.as_object() {
        let mut obj = Object::new();
        for (k, member) in o.entries() {
            obj.insert(&k, rebuild(&member, changes));
        }
        if let Some(change) = v.identity().and_then(|id| changes.get(&id)) {
            for (k, value) in &change.updates {
                obj.insert(k, value.clone());
            }
            for k in &change.deletions {
                obj.remove(k);
            }
        }
        return Value::object(obj);
    }
    if let Value::Array(a) = v {
        return Value::array(a.items.iter().map(|i| rebuild(i, changes)).collect());
    }
    v.clone()
}

impl<'a> Evaluator<'a> {
    /// Applies a transform to `obj`.
    pub(super) fn transform(&self, node: &'a Node, frame: FrameId, obj: Opt<'a>) -> Res<Opt<'a>> {
        let Some(obj) = obj else { return Ok(None) };
        let Kind::Transform {
            pattern,
            update,
            delete,
        } = &node.kind
        else {
            return Ok(Some(obj));
        };
        if let Some(clone) = self.frames.lookup(frame, "clone")
            && !clone.as_ref().is_some_and(|c| c.is_function())
        {
            return Err(Failure::new("T2013").at(node.pos));
        }
        let copy = deep_clone(&obj);
        let matches = self.eval(pattern, &Some(copy.clone()), frame)?;
        let mut changes: HashMap<usize, Change<'a>> = HashMap::new();
        let items = match &matches {
            Some(m) if m.is_array() => m.to_items(),
            Some(m) => vec![m.clone()],
            None => Vec::new(),
        };
        for m in items {
            let context = Some(m.clone());
            let upd = self.eval(update, &context, frame)?;
            let mut change = Change::default();
            if let Some(u) = upd {
                let Some(o) = u.as_object() else {
                    return Err(Failure::new("T2011")
                        .at(update.pos)
                        .value(describe(Some(&u))));
                };
                change.updates = o.entries();
            }
            if let Some(d) = delete
                && let Some(dels) = self.eval(d, &context, frame)?
            {
                let names = dels.to_items();
                if !names.iter().all(|n| n.is_string()) {
                    return Err(Failure::new("T2012").at(d.pos).value(describe(Some(&dels))));
                }
                change.deletions = names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect();
            }
            if let Some(id) = m.identity() {
                let entry = changes.entry(id).or_default();
                entry.updates.extend(change.updates);
                entry.deletions.extend(change.deletions);
            }
        }
        Ok(Some(rebuild(&copy, &changes)))
    }
}
