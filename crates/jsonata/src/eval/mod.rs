//! The evaluator: walks the processed tree over borrowed input.

mod call;
mod ops;
mod path;
mod transform;

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::Variables;
use crate::ast::{Kind, Node};
use crate::builtins;
use crate::env::{FrameId, Frames};
use crate::error::{Failure, Res};
use crate::process::Slot;
use crate::random::Draws;
use crate::stack::StackGuard;
use crate::value::{Func, Object, Opt, Value};

pub(crate) use ops::{append, boolean, compare_strings, deep_equal, to_string};
pub(crate) use path::merge_sort;
pub(crate) use transform::deep_clone;

/// Wall-clock budget for one evaluation.
const TIME_LIMIT: Duration = Duration::from_secs(10);

/// State of one evaluation.
pub(crate) struct Evaluator<'a> {
    pub frames: Frames<'a>,
    vars: &'a dyn Variables,
    slots: &'a [Slot],
    /// Milliseconds since the epoch, fixed for the whole evaluation (`$now()`, `$millis()`).
    pub now_millis: i64,
    /// Random draws (`$random()`, `$uuid()`, `$shuffle()`).
    pub draws: Draws,
    stack: StackGuard,
    ticks: Cell<u32>,
    deadline: Instant,
}

impl<'a> Evaluator<'a> {
    /// A new evaluation context with `$$` bound to `root`.
    pub fn new(vars: &'a dyn Variables, slots: &'a [Slot], root: Opt<'a>) -> Self {
        let frames = Frames::new();
        frames.bind(Frames::ROOT, "$", root);
        let ambient = vars.ambient();
        Evaluator {
            frames,
            vars,
            slots,
            now_millis: ambient
                .now_millis
                .unwrap_or_else(|| chrono::Utc::now().timestamp_millis()),
            draws: Draws::new(ambient.seed),
            stack: StackGuard::new(),
            ticks: Cell::new(0),
            deadline: Instant::now() + TIME_LIMIT,
        }
    }

    fn enter(&self) -> Res<()> {
        self.stack.check()?;
        let ticks = self.ticks.get().wrapping_add(1);
        self.ticks.set(ticks);
        if ticks.is_multiple_of(4096) && Instant::now() > self.deadline {
            return Err(Failure::new("U1004").message(format!(
                "Evaluation exceeded the time limit of {} seconds",
                TIME_LIMIT.as_secs()
            )));
        }
        Ok(())
    }

    /// Evaluates a node against `input` in scope `env`.
    pub fn eval(&self, node: &'a Node, input: &Opt<'a>, env: FrameId) -> Res<Opt<'a>> {
        self.enter()?;
        self.eval_node(node, input, env)
    }

    fn eval_node(&self, node: &'a Node, input: &Opt<'a>, env: FrameId) -> Res<Opt<'a>> {
        let mut result = self.eval_kind(node, input, env)?;
        if !node.predicate.is_empty() || (node.group.is_some() && !node.is_path()) {
            result = self.post_filters(node, result, env)?;
        }
        if let Some(Value::Array(a)) = &result
            && a.is_sequence()
        {
            if node.keep_array {
                a.set_keep_singleton();
            }
            if a.items.is_empty() {
                return Ok(None);
            }
            if a.items.len() == 1 && !a.keeps_singleton() {
                return Ok(Some(a.items[0].clone()));
            }
        }
        Ok(result)
    }

    /// Predicates and group-by attached to a non-step expression.
    fn post_filters(&self, node: &'a Node, mut result: Opt<'a>, env: FrameId) -> Res<Opt<'a>> {
        for predicate in &node.predicate {
            result = Some(self.filter(predicate, result, env)?);
        }
        if !node.is_path()
            && let Some(group) = &node.group
        {
            result = Some(self.group(group, path::GroupInput::Values(result), env)?);
        }
        Ok(result)
    }

    fn eval_kind(&self, node: &'a Node, input: &Opt<'a>, env: FrameId) -> Res<Opt<'a>> {
        match &node.kind {
            Kind::Path {
                steps,
                keep_singleton_array,
            } => self.path(node, steps, *keep_singleton_array, input, env),
            Kind::Name(name) => Ok(lookup(input.as_ref(), name)),
            Kind::Wildcard => Ok(Some(path::wildcard(input.as_ref()))),
            Kind::Descendant => Ok(path::descendants(input.as_ref())),
            Kind::Parent(slot) => Ok(self.frames.lookup(env, &self.slots[*slot].label).flatten()),
            Kind::Str(s) => Ok(Some(Value::Str(s))),
            Kind::Num(n) => Ok(Some(Value::Number(*n))),
            Kind::Bool(b) => Ok(Some(Value::Bool(*b))),
            Kind::Null => Ok(Some(Value::Null)),
            Kind::Regex(r) => Ok(Some(Value::func(Func::Regex(r)))),
            Kind::Variable(name) => Ok(self.variable(name, input, env)),
            Kind::Binary { op, lhs, rhs } => self.binary(node, *op, lhs, rhs, input, env),
            Kind::Neg(expr) => self.negate(node, expr, input, env),
            Kind::Not(expr) => self.not(expr, input, env),
            Kind::ArrayCons(items) => self.array_constructor(node, items, input, env),
            Kind::ObjectCons(group) => self.object_constructor(group, input, env),
            Kind::Call { procedure, args } => self.call(node, procedure, args, input, env, None),
            Kind::Partial { procedure, args } => self.partial(node, procedure, args, input, env),
            Kind::Lambda(def) => Ok(Some(self.closure(def, input, env))),
            Kind::Thunk(call) => Ok(Some(self.thunk(call, input, env))),
            Kind::Condition {
                condition,
                then,
                otherwise,
            } => self.condition(condition, then, otherwise.as_deref(), input, env),
            Kind::Elvis(lhs, rhs) => self.elvis(lhs, rhs, input, env),
            Kind::Coalesce(lhs, rhs) => self.coalesce(lhs, rhs, input, env),
            Kind::Block(exprs) => self.block(exprs, input, env),
            Kind::Bind { name, value } => self.bind(name, value, input, env),
            Kind::Apply { lhs, rhs } => self.apply_expression(node, lhs, rhs, input, env),
            Kind::Sort(_) => self.sort_standalone(node, input, env),
            Kind::Transform { .. } => Ok(Some(Value::func(Func::Transform { node, frame: env }))),
            Kind::FdlCall { name, args } => self.fdl_call(node, name, args, input, env),
        }
    }

    fn closure(&self, def: &'a crate::ast::LambdaDef, input: &Opt<'a>, env: FrameId) -> Value<'a> {
        Value::func(Func::Lambda {
            def,
            input: input.clone(),
            frame: env,
        })
    }

    fn thunk(&self, call: &'a Node, input: &Opt<'a>, env: FrameId) -> Value<'a> {
        Value::func(Func::Thunk {
            call,
            input: input.clone(),
            frame: env,
        })
    }

    fn object_constructor(
        &self,
        group: &'a crate::ast::Group,
        input: &Opt<'a>,
        env: FrameId,
    ) -> Res<Opt<'a>> {
        self.group(group, path::GroupInput::Values(input.clone()), env)
            .map(Some)
    }

    fn sort_standalone(&self, node: &'a Node, input: &Opt<'a>, env: FrameId) -> Res<Opt<'a>> {
        self.sort_step(node, input.iter().cloned().collect(), env)
            .map(Some)
    }

    fn not(&self, expr: &'a Node, input: &Opt<'a>, env: FrameId) -> Res<Opt<'a>> {
        let v = self.eval(expr, input, env)?;
        Ok(Some(Value::Bool(!boolean(v.as_ref())?.unwrap_or(false))))
    }

    fn condition(
        &self,
        condition: &'a Node,
        then: &'a Node,
        otherwise: Option<&'a Node>,
        input: &Opt<'a>,
        env: FrameId,
    ) -> Res<Opt<'a>> {
        let c = self.eval(condition, input, env)?;
        if boolean(c.as_ref())?.unwrap_or(false) {
            self.eval(then, input, env)
        } else {
            match otherwise {
                Some(o) => self.eval(o, input, env),
                None => Ok(None),
            }
        }
    }

    fn elvis(&self, lhs: &'a Node, rhs: &'a Node, input: &Opt<'a>, env: FrameId) -> Res<Opt<'a>> {
        let v = self.eval(lhs, input, env)?;
        if boolean(v.as_ref())?.unwrap_or(false) {
            Ok(v)
        } else {
            self.eval(rhs, input, env)
        }
    }

    fn coalesce(
        &self,
        lhs: &'a Node,
        rhs: &'a Node,
        input: &Opt<'a>,
        env: FrameId,
    ) -> Res<Opt<'a>> {
        match self.eval(lhs, input, env)? {
            Some(v) => Ok(Some(v)),
            None => self.eval(rhs, input, env),
        }
    }

    fn block(&self, exprs: &'a [Node], input: &Opt<'a>, env: FrameId) -> Res<Opt<'a>> {
        let frame = self.frames.child(env);
        let mut result = None;
        for e in exprs {
            result = self.eval(e, input, frame)?;
        }
        Ok(result)
    }

    fn bind(&self, name: &'a str, value: &'a Node, input: &Opt<'a>, env: FrameId) -> Res<Opt<'a>> {
        let v = self.eval(value, input, env)?;
        self.frames.bind(env, name, v.clone());
        Ok(v)
    }

    fn fdl_call(
        &self,
        node: &'a Node,
        name: &'a str,
        args: &'a [Node],
        input: &Opt<'a>,
        env: FrameId,
    ) -> Res<Opt<'a>> {
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            values.push(self.eval(a, input, env)?);
        }
        crate::fdl::call(self, name, values).map_err(|e| e.or_at(node.pos).or_token(name))
    }

    /// Resolves `$name`: local bindings, then the caller's variables, then built-ins.
    pub fn variable(&self, name: &str, input: &Opt<'a>, env: FrameId) -> Opt<'a> {
        if name.is_empty() {
            return match input {
                Some(v) if v.is_outer_wrapper() => v.as_array().and_then(|a| a.get(0)),
                other => other.clone(),
            };
        }
        self.lookup_variable(name, env)
    }

    fn lookup_variable(&self, name: &str, env: FrameId) -> Opt<'a> {
        if let Some(v) = self.frames.lookup(env, name) {
            return v;
        }
        if let Some(v) = self.vars.lookup(name) {
            return Some(Value::from_json(v));
        }
        builtins::lookup(name).map(|b| Value::func(Func::Builtin(b)))
    }

    fn negate(
        &self,
        node: &'a Node,
        expr: &'a Node,
        input: &Opt<'a>,
        env: FrameId,
    ) -> Res<Opt<'a>> {
        match self.eval(expr, input, env)? {
            None => Ok(None),
            Some(v) => match v {
                Value::Number(n) if !n.is_nan() => {
                    if !n.is_finite() {
                        return Err(Failure::new("D1001").value("null").at(node.pos).token("-"));
                    }
                    Ok(Some(Value::Number(-n)))
                }
                other => Err(Failure::new("D1002")
                    .at(node.pos)
                    .token("-")
                    .value(crate::json::describe(Some(&other)))),
            },
        }
    }

    fn array_constructor(
        &self,
        node: &'a Node,
        items: &'a [Node],
        input: &Opt<'a>,
        env: FrameId,
    ) -> Res<Opt<'a>> {
        let mut result = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = self.eval(item, input, env)? {
                if matches!(item.kind, Kind::ArrayCons(_)) {
                    result.push(v);
                } else if v.is_array() {
                    result.extend(v.to_items());
                } else {
                    result.push(v);
                }
            }
        }
        Ok(Some(if node.cons_array {
            Value::cons_array(result)
        } else {
            Value::array(result)
        }))
    }
}

/// Field lookup, mapping over arrays and flattening one level (`fn.lookup`).
pub(crate) fn lookup<'a>(input: Option<&Value<'a>>, key: &str) -> Opt<'a> {
    let v = input?;
    if let Some(items) = v.as_array() {
        let mut out = Vec::new();
        for item in items.iter() {
            if let Some(res) = lookup(Some(&item), key) {
                if res.is_array() {
                    out.extend(res.to_items());
                } else {
                    out.push(res);
                }
            }
        }
        return Some(Value::sequence(out));
    }
    if let Value::Tuples(_) = v {
        return Some(Value::sequence(Vec::new()));
    }
    v.as_object().and_then(|o| o.get(key))
}

/// Builds an object value from key/value pairs.
pub(crate) fn object_of<'a>(pairs: Vec<(&str, Value<'a>)>) -> Value<'a> {
    let mut obj = Object::new();
    for (k, v) in pairs {
        obj.insert(k, v);
    }
    Value::object(obj)
}
