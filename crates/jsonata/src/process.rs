//! Post-parse pass: flattens location paths into steps, attaches predicates, groups, sort
//! terms and context/index bindings to their steps, resolves `%` parent references to the steps
//! that must record their input, and marks tail calls in lambda bodies.

use crate::ast::{Group, Kind, LambdaDef, Node, SlotId, SortTerm, Stage};
use crate::error::{Failure, Res};
use crate::parser::{Raw, RawKind};
use crate::stack::StackGuard;

/// A `%` binding slot: the label its value is stored under and how many steps up it points.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub label: String,
    pub level: i32,
}

/// Turns raw trees into evaluator trees.
pub(crate) struct Processor {
    pub slots: Vec<Slot>,
    stack: StackGuard,
}

fn path_of(steps: Vec<Node>, pos: usize) -> Node {
    Node::new(
        Kind::Path {
            steps,
            keep_singleton_array: false,
        },
        pos,
    )
}

fn steps_mut(node: &mut Node) -> &mut Vec<Node> {
    match &mut node.kind {
        Kind::Path { steps, .. } => steps,
        _ => unreachable!("steps_mut on a non-path"),
    }
}

fn push_ancestry(result: &mut Node, value: &Node) {
    result
        .seeking_parent
        .extend(value.seeking_parent.iter().copied());
    if let Kind::Parent(slot) = value.kind {
        result.seeking_parent.push(slot);
    }
}

fn tail_call_optimize(mut node: Node) -> Node {
    match &mut node.kind {
        Kind::Call { .. } if node.predicate.is_empty() && node.group.is_none() => {
            let pos = node.pos;
            Node::new(Kind::Thunk(Box::new(node)), pos)
        }
        Kind::Condition {
            then, otherwise, ..
        } => {
            let t = std::mem::replace(then.as_mut(), Node::new(Kind::Null, 0));
            **then = tail_call_optimize(t);
            if let Some(o) = otherwise {
                let e = std::mem::replace(o.as_mut(), Node::new(Kind::Null, 0));
                **o = tail_call_optimize(e);
            }
            node
        }
        Kind::Block(exprs) => {
            if let Some(last) = exprs.pop() {
                exprs.push(tail_call_optimize(last));
            }
            node
        }
        _ => node,
    }
}

impl Processor {
    /// A processor with no slots yet.
    pub fn new() -> Processor {
        Processor {
            slots: Vec::new(),
            stack: StackGuard::new(),
        }
    }

    /// Processes the top-level expression.
    pub fn process_root(&mut self, raw: Raw) -> Res<Node> {
        let node = self.process(raw)?;
        if matches!(node.kind, Kind::Parent(_)) || !node.seeking_parent.is_empty() {
            return Err(Failure::new("S0217").at(node.pos).token(node.type_name()));
        }
        Ok(node)
    }

    fn new_slot(&mut self) -> SlotId {
        let id = self.slots.len();
        self.slots.push(Slot {
            label: format!("!{id}"),
            level: 1,
        });
        id
    }

    fn seek_parent(&mut self, node: &mut Node, slot: SlotId) -> Res<()> {
        match &mut node.kind {
            Kind::Name(_) | Kind::Wildcard => {
                self.slots[slot].level -= 1;
                if self.slots[slot].level == 0 {
                    if let Some(existing) = node.ancestor {
                        self.slots[slot].label = self.slots[existing].label.clone();
                    }
                    node.ancestor = Some(slot);
                    node.tuple = true;
                }
            }
            Kind::Parent(_) => self.slots[slot].level += 1,
            Kind::Block(exprs) => {
                if let Some(last) = exprs.last_mut() {
                    node.tuple = true;
                    self.seek_parent(last, slot)?;
                }
            }
            Kind::Path { steps, .. } => {
                node.tuple = true;
                let mut index = steps.len() as isize - 1;
                if index >= 0 {
                    self.seek_parent(&mut steps[index as usize], slot)?;
                    index -= 1;
                }
                while self.slots[slot].level > 0 && index >= 0 {
                    self.seek_parent(&mut steps[index as usize], slot)?;
                    index -= 1;
                }
            }
            _ => {
                return Err(Failure::new("S0217").at(node.pos).token(node.type_name()));
            }
        }
        Ok(())
    }

    fn resolve_ancestry(&mut self, path: &mut Node) -> Res<()> {
        let steps = steps_mut(path);
        let Some(last) = steps.last() else {
            return Ok(());
        };
        let mut slots = last.seeking_parent.clone();
        if let Kind::Parent(slot) = last.kind {
            slots.push(slot);
        }
        let mut unresolved = Vec::new();
        for slot in slots {
            let mut index = steps.len() as isize - 2;
            while self.slots[slot].level > 0 {
                if index < 0 {
                    unresolved.push(slot);
                    break;
                }
                let mut step = index as usize;
                index -= 1;
                while index >= 0
                    && steps[step].focus.is_some()
                    && steps[index as usize].focus.is_some()
                {
                    step = index as usize;
                    index -= 1;
                }
                self.seek_parent(&mut steps[step], slot)?;
            }
        }
        path.seeking_parent.extend(unresolved);
        Ok(())
    }

    fn process_box(&mut self, raw: Raw) -> Res<Box<Node>> {
        Ok(Box::new(self.process(raw)?))
    }

    fn process_pairs(
        &mut self,
        pairs: Vec<(Raw, Raw)>,
        result: Option<&mut Node>,
    ) -> Res<Vec<(Node, Node)>> {
        let mut out = Vec::with_capacity(pairs.len());
        let mut seeking = Vec::new();
        for (k, v) in pairs {
            let key = self.process(k)?;
            let value = self.process(v)?;
            let mut tmp = Node::new(Kind::Null, 0);
            push_ancestry(&mut tmp, &key);
            push_ancestry(&mut tmp, &value);
            seeking.extend(tmp.seeking_parent);
            out.push((key, value));
        }
        if let Some(result) = result {
            result.seeking_parent.extend(seeking);
        }
        Ok(out)
    }

    /// Processes one raw node.
    pub fn process(&mut self, raw: Raw) -> Res<Node> {
        let pos = raw.pos;
        self.stack.check().map_err(|e| e.at(pos))?;
        let keep_array = raw.keep_array;
        let mut result = match raw.kind {
            RawKind::Dot(lhs, rhs) => self.dot(*lhs, *rhs, pos)?,
            RawKind::Predicate(lhs, rhs) => {
                let mut result = self.process(*lhs)?;
                let is_path = result.is_path();
                let step = if is_path {
                    steps_mut(&mut result).last_mut().expect("paths have steps")
                } else {
                    &mut result
                };
                if step.group.is_some() {
                    return Err(Failure::new("S0209").at(pos));
                }
                let predicate = self.process(*rhs)?;
                if !predicate.seeking_parent.is_empty() {
                    for slot in predicate.seeking_parent.clone() {
                        if self.slots[slot].level == 1 {
                            self.seek_parent(step, slot)?;
                        } else {
                            self.slots[slot].level -= 1;
                        }
                    }
                    push_ancestry(step, &predicate);
                }
                if is_path {
                    step.stages.push(Stage::Filter(predicate));
                } else {
                    step.predicate.push(predicate);
                }
                result
            }
            RawKind::Group(lhs, pairs) => {
                let mut result = self.process(*lhs)?;
                if result.group.is_some() {
                    return Err(Failure::new("S0210").at(pos));
                }
                let pairs = self.process_pairs(pairs, None)?;
                result.group = Some(Box::new(Group { pairs, pos }));
                result
            }
            RawKind::Sort(lhs, terms) => {
                let mut result = self.process(*lhs)?;
                if !result.is_path() {
                    result = path_of(vec![result], pos);
                }
                let mut sort_step = Node::new(Kind::Null, pos);
                let mut sort_terms = Vec::with_capacity(terms.len());
                for (descending, expr) in terms {
                    let expr = self.process(expr)?;
                    push_ancestry(&mut sort_step, &expr);
                    sort_terms.push(SortTerm { descending, expr });
                }
                sort_step.kind = Kind::Sort(sort_terms);
                steps_mut(&mut result).push(sort_step);
                self.resolve_ancestry(&mut result)?;
                result
            }
            RawKind::Bind(name, value) => {
                let value = self.process_box(*value)?;
                let mut result = Node::new(Kind::Null, pos);
                push_ancestry(&mut result, &value);
                result.kind = Kind::Bind { name, value };
                result
            }
            RawKind::Focus(lhs, name) => {
                let mut result = self.process(*lhs)?;
                let step = if result.is_path() {
                    steps_mut(&mut result).last_mut().expect("paths have steps")
                } else {
                    &mut result
                };
                if !step.stages.is_empty() || !step.predicate.is_empty() {
                    return Err(Failure::new("S0215").at(pos));
                }
                if matches!(step.kind, Kind::Sort(_)) {
                    return Err(Failure::new("S0216").at(pos));
                }
                if keep_array {
                    step.keep_array = true;
                }
                step.focus = Some(name);
                step.tuple = true;
                result
            }
            RawKind::Index(lhs, name) => {
                let mut result = self.process(*lhs)?;
                if !result.is_path() {
                    let mut step = result;
                    for p in std::mem::take(&mut step.predicate) {
                        step.stages.push(Stage::Filter(p));
                    }
                    result = path_of(vec![step], pos);
                }
                let step = steps_mut(&mut result).last_mut().expect("paths have steps");
                if step.stages.is_empty() {
                    step.index = Some(name);
                } else {
                    step.stages.push(Stage::Index(name));
                }
                step.tuple = true;
                result
            }
            RawKind::Apply(lhs, rhs) => {
                let lhs = self.process_box(*lhs)?;
                let rhs = self.process_box(*rhs)?;
                let keep = lhs.keep_array || rhs.keep_array;
                let mut result = Node::new(Kind::Apply { lhs, rhs }, pos);
                result.keep_array = keep;
                result
            }
            RawKind::Op(op, lhs, rhs) => {
                let lhs = self.process_box(*lhs)?;
                let rhs = self.process_box(*rhs)?;
                let mut result = Node::new(Kind::Null, pos);
                push_ancestry(&mut result, &lhs);
                push_ancestry(&mut result, &rhs);
                result.kind = Kind::Binary { op, lhs, rhs };
                result
            }
            RawKind::Array(items) => {
                let mut result = Node::new(Kind::Null, pos);
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let v = self.process(item)?;
                    push_ancestry(&mut result, &v);
                    out.push(v);
                }
                result.kind = Kind::ArrayCons(out);
                result
            }
            RawKind::Object(pairs) => {
                let mut result = Node::new(Kind::Null, pos);
                let pairs = self.process_pairs(pairs, Some(&mut result))?;
                result.kind = Kind::ObjectCons(Group { pairs, pos });
                result
            }
            RawKind::Neg(expr) => {
                let expr = self.process(*expr)?;
                if let Kind::Num(n) = expr.kind {
                    let mut folded = expr;
                    folded.kind = Kind::Num(-n);
                    folded
                } else {
                    let mut result = Node::new(Kind::Null, pos);
                    push_ancestry(&mut result, &expr);
                    result.kind = Kind::Neg(Box::new(expr));
                    result
                }
            }
            RawKind::Not(expr) => {
                let expr = self.process(*expr)?;
                let mut result = Node::new(Kind::Null, pos);
                push_ancestry(&mut result, &expr);
                result.kind = Kind::Not(Box::new(expr));
                result
            }
            RawKind::Call {
                procedure,
                args,
                partial,
            } => {
                let mut result = Node::new(Kind::Null, pos);
                let mut processed = Vec::with_capacity(args.len());
                for arg in args {
                    if matches!(arg.kind, RawKind::Placeholder) {
                        processed.push(None);
                    } else {
                        let a = self.process(arg)?;
                        push_ancestry(&mut result, &a);
                        processed.push(Some(a));
                    }
                }
                let procedure = self.process_box(*procedure)?;
                result.kind = if partial {
                    Kind::Partial {
                        procedure,
                        args: processed,
                    }
                } else {
                    Kind::Call {
                        procedure,
                        args: processed.into_iter().flatten().collect(),
                    }
                };
                result
            }
            RawKind::FdlCall(name, args) => {
                let mut result = Node::new(Kind::Null, pos);
                let mut processed = Vec::with_capacity(args.len());
                for arg in args {
                    let a = self.process(arg)?;
                    push_ancestry(&mut result, &a);
                    processed.push(a);
                }
                result.kind = Kind::FdlCall {
                    name,
                    args: processed,
                };
                result
            }
            RawKind::Placeholder => return Err(Failure::new("S0201").at(pos).token("?")),
            RawKind::Lambda {
                params,
                signature,
                body,
            } => {
                let body = tail_call_optimize(self.process(*body)?);
                Node::new(
                    Kind::Lambda(Box::new(LambdaDef {
                        params,
                        signature,
                        body,
                    })),
                    pos,
                )
            }
            RawKind::Condition(cond, then, otherwise) => {
                let mut result = Node::new(Kind::Null, pos);
                let condition = self.process_box(*cond)?;
                push_ancestry(&mut result, &condition);
                let then = self.process_box(*then)?;
                push_ancestry(&mut result, &then);
                let otherwise = match otherwise {
                    Some(o) => {
                        let o = self.process_box(*o)?;
                        push_ancestry(&mut result, &o);
                        Some(o)
                    }
                    None => None,
                };
                result.kind = Kind::Condition {
                    condition,
                    then,
                    otherwise,
                };
                result
            }
            RawKind::Elvis(lhs, rhs) => {
                let (lhs, rhs, mut result) = self.pair(*lhs, *rhs, pos)?;
                result.kind = Kind::Elvis(lhs, rhs);
                result
            }
            RawKind::Coalesce(lhs, rhs) => {
                let (lhs, rhs, mut result) = self.pair(*lhs, *rhs, pos)?;
                result.kind = Kind::Coalesce(lhs, rhs);
                result
            }
            RawKind::Transform(pattern, update, delete) => Node::new(
                Kind::Transform {
                    pattern: self.process_box(*pattern)?,
                    update: self.process_box(*update)?,
                    delete: match delete {
                        Some(d) => Some(self.process_box(*d)?),
                        None => None,
                    },
                },
                pos,
            ),
            RawKind::Block(exprs) => {
                let mut result = Node::new(Kind::Null, pos);
                let mut out = Vec::with_capacity(exprs.len());
                for e in exprs {
                    let part = self.process(e)?;
                    push_ancestry(&mut result, &part);
                    let cons = part.cons_array
                        || matches!(&part.kind, Kind::Path { steps, .. } if steps.first().is_some_and(|s| s.cons_array));
                    if cons {
                        result.cons_array = true;
                    }
                    out.push(part);
                }
                result.kind = Kind::Block(out);
                result
            }
            RawKind::Name(name) => {
                let mut step = Node::new(Kind::Name(name), pos);
                step.keep_array = keep_array;
                let mut path = path_of(vec![step], pos);
                if keep_array
                    && let Kind::Path {
                        keep_singleton_array,
                        ..
                    } = &mut path.kind
                {
                    *keep_singleton_array = true;
                }
                path
            }
            RawKind::Parent => {
                let slot = self.new_slot();
                Node::new(Kind::Parent(slot), pos)
            }
            RawKind::Variable(v) => Node::new(Kind::Variable(v), pos),
            RawKind::Str(s) => Node::new(Kind::Str(s), pos),
            RawKind::Num(n) => Node::new(Kind::Num(n), pos),
            RawKind::Bool(b) => Node::new(Kind::Bool(b), pos),
            RawKind::Null => Node::new(Kind::Null, pos),
            RawKind::Regex(r) => Node::new(Kind::Regex(Box::new(r)), pos),
            RawKind::Wildcard => Node::new(Kind::Wildcard, pos),
            RawKind::Descendant => Node::new(Kind::Descendant, pos),
        };
        if keep_array {
            result.keep_array = true;
        }
        Ok(result)
    }

    fn pair(&mut self, lhs: Raw, rhs: Raw, pos: usize) -> Res<(Box<Node>, Box<Node>, Node)> {
        let mut result = Node::new(Kind::Null, pos);
        let lhs = self.process_box(lhs)?;
        push_ancestry(&mut result, &lhs);
        let rhs = self.process_box(rhs)?;
        push_ancestry(&mut result, &rhs);
        Ok((lhs, rhs, result))
    }

    fn dot(&mut self, lhs: Raw, rhs: Raw, pos: usize) -> Res<Node> {
        let lstep = self.process(lhs)?;
        let lstep_parent = match lstep.kind {
            Kind::Parent(slot) => Some(slot),
            _ => None,
        };
        let mut result = if lstep.is_path() {
            lstep
        } else {
            path_of(vec![lstep], pos)
        };
        if let Some(slot) = lstep_parent {
            result.seeking_parent = vec![slot];
        }
        let mut rest = self.process(rhs)?;
        if let Kind::Path { steps, .. } = rest.kind {
            steps_mut(&mut result).extend(steps);
        } else {
            for p in std::mem::take(&mut rest.predicate) {
                rest.stages.push(Stage::Filter(p));
            }
            steps_mut(&mut result).push(rest);
        }
        let steps = steps_mut(&mut result);
        for step in steps.iter_mut() {
            match &step.kind {
                Kind::Num(_) | Kind::Bool(_) | Kind::Null => {
                    let value = match &step.kind {
                        Kind::Num(n) => crate::json::number_to_string(*n),
                        Kind::Bool(b) => b.to_string(),
                        _ => "null".into(),
                    };
                    return Err(Failure::new("S0213").at(step.pos).value(value));
                }
                Kind::Str(s) => step.kind = Kind::Name(s.clone()),
                _ => {}
            }
        }
        let keep = steps.iter().any(|s| s.keep_array);
        if let Some(first) = steps.first_mut()
            && matches!(first.kind, Kind::ArrayCons(_))
        {
            first.cons_array = true;
        }
        if let Some(last) = steps.last_mut()
            && matches!(last.kind, Kind::ArrayCons(_))
        {
            last.cons_array = true;
        }
        if keep
            && let Kind::Path {
                keep_singleton_array,
                ..
            } = &mut result.kind
        {
            *keep_singleton_array = true;
        }
        self.resolve_ancestry(&mut result)?;
        Ok(result)
    }
}
