//! Function invocation: calls, partial application, `~>`, lambdas and the tail-call trampoline.

use super::{Evaluator, object_of};
use crate::ast::{Kind, LambdaDef, Node};
use crate::env::FrameId;
use crate::error::{Failure, Res};
use crate::json::describe;
use crate::regex::{find_all, utf16_offset};
use crate::value::{Func, Opt, Value};

/// The name used in error messages for the procedure of a call.
fn procedure_name(procedure: &Node) -> String {
    match &procedure.kind {
        Kind::Path { steps, .. } => match steps.first().map(|s| &s.kind) {
            Some(Kind::Name(n)) => n.clone(),
            _ => String::new(),
        },
        Kind::Variable(v) => v.clone(),
        _ => String::new(),
    }
}

impl<'a> Evaluator<'a> {
    /// `T1005`/`T1007`: the procedure is a bare name that would resolve as a `$` variable.
    fn missing_dollar(&self, procedure: &'a Node, env: FrameId) -> Option<String> {
        if let Kind::Path { steps, .. } = &procedure.kind
            && let Some(Kind::Name(name)) = steps.first().map(|s| &s.kind)
            && self.lookup_variable(name, env).is_some()
        {
            return Some(name.clone());
        }
        None
    }

    /// Evaluates a function call; `context` is the left side of `~>`, passed first.
    pub(super) fn call(
        &self,
        node: &'a Node,
        procedure: &'a Node,
        args: &'a [Node],
        input: &Opt<'a>,
        env: FrameId,
        context: Option<Opt<'a>>,
    ) -> Res<Opt<'a>> {
        let proc = self.eval(procedure, input, env)?;
        if proc.is_none()
            && let Some(name) = self.missing_dollar(procedure, env)
        {
            return Err(Failure::new("T1005").at(node.pos).token(name));
        }
        let mut evaluated = Vec::with_capacity(args.len() + 1);
        if let Some(c) = context {
            evaluated.push(c);
        }
        for arg in args {
            evaluated.push(self.eval(arg, input, env)?);
        }
        let name = procedure_name(procedure);
        self.apply(proc.as_ref(), evaluated, input)
            .map_err(|e| e.or_at(node.pos).or_token(&name))
    }

    /// Evaluates `f(a, ?, b)`.
    pub(super) fn partial(
        &self,
        node: &'a Node,
        procedure: &'a Node,
        args: &'a [Option<Node>],
        input: &Opt<'a>,
        env: FrameId,
    ) -> Res<Opt<'a>> {
        let mut evaluated = Vec::with_capacity(args.len());
        for arg in args {
            evaluated.push(match arg {
                Some(a) => Some(self.eval(a, input, env)?),
                None => None,
            });
        }
        let proc = self.eval(procedure, input, env)?;
        if proc.is_none()
            && let Some(name) = self.missing_dollar(procedure, env)
        {
            return Err(Failure::new("T1007").at(node.pos).token(name));
        }
        match proc {
            Some(f @ Value::Function(_)) => Ok(Some(Value::func(Func::Partial {
                func: f,
                args: evaluated,
            }))),
            _ => Err(Failure::new("T1008")
                .at(node.pos)
                .token(procedure_name(procedure))),
        }
    }

    /// Evaluates `lhs ~> rhs`.
    pub(super) fn apply_expression(
        &self,
        node: &'a Node,
        lhs: &'a Node,
        rhs: &'a Node,
        input: &Opt<'a>,
        env: FrameId,
    ) -> Res<Opt<'a>> {
        let l = self.eval(lhs, input, env)?;
        if let Kind::Call { procedure, args } = &rhs.kind {
            return self.call(rhs, procedure, args, input, env, Some(l));
        }
        let func = self.eval(rhs, input, env)?;
        let Some(func @ Value::Function(_)) = func else {
            return Err(Failure::new("T2006")
                .at(node.pos)
                .value(describe(func.as_ref())));
        };
        if let Some(l @ Value::Function(_)) = l {
            return Ok(Some(Value::func(Func::Chain(l, func))));
        }
        self.apply(Some(&func), vec![l], &None)
    }

    /// Calls a function value from a built-in (higher-order functions).
    pub fn call_function(&self, func: &Value<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
        self.apply(Some(func), args, &None)
    }

    /// Applies a procedure to arguments, running tail calls to completion.
    pub(super) fn apply(
        &self,
        proc: Option<&Value<'a>>,
        args: Vec<Opt<'a>>,
        input: &Opt<'a>,
    ) -> Res<Opt<'a>> {
        let mut result = self.apply_inner(proc, args, input)?;
        while let Some(Value::Function(f)) = &result
            && let Func::Thunk { .. } = &**f
        {
            let f = f.clone();
            result = self.run_thunk(&f, input)?;
        }
        Ok(result)
    }

    /// Performs one pending tail call.
    fn run_thunk(&self, thunk: &Func<'a>, input: &Opt<'a>) -> Res<Opt<'a>> {
        let Func::Thunk {
            call,
            input: thunk_input,
            frame,
        } = thunk
        else {
            return Ok(None);
        };
        let Kind::Call { procedure, args } = &call.kind else {
            return Ok(None);
        };
        self.enter()?;
        self.tail_call(call, procedure, args, thunk_input, *frame, input)
    }

    fn tail_call(
        &self,
        call: &'a Node,
        procedure: &'a Node,
        args: &'a [Node],
        thunk_input: &Opt<'a>,
        frame: FrameId,
        input: &Opt<'a>,
    ) -> Res<Opt<'a>> {
        let next = self.eval(procedure, thunk_input, frame)?;
        let mut evaluated = Vec::with_capacity(args.len());
        for arg in args {
            evaluated.push(self.eval(arg, thunk_input, frame)?);
        }
        self.apply_inner(next.as_ref(), evaluated, input)
            .map_err(|e| e.or_at(call.pos).or_token(&procedure_name(procedure)))
    }

    fn apply_inner(
        &self,
        proc: Option<&Value<'a>>,
        args: Vec<Opt<'a>>,
        input: &Opt<'a>,
    ) -> Res<Opt<'a>> {
        let Some(Value::Function(f)) = proc else {
            return Err(Failure::new("T1006"));
        };
        match &**f {
            Func::Lambda {
                def,
                input: captured,
                frame,
            } => {
                let args = match &def.signature {
                    Some(sig) => sig.validate(args, input)?,
                    None => args,
                };
                self.apply_lambda(def, captured, *frame, args)
            }
            Func::Builtin(b) => {
                let args = b.signature.validate(args, input)?;
                (b.func)(self, args)
            }
            Func::Partial { func, args: bound } => {
                let mut supplied = args.into_iter();
                let full = bound
                    .iter()
                    .map(|a| match a {
                        Some(v) => v.clone(),
                        None => supplied.next().flatten(),
                    })
                    .collect();
                self.apply(Some(func), full, input)
            }
            Func::Chain(first, second) => {
                let arg = args.into_iter().next().flatten();
                let r = self.apply(Some(first), vec![arg], input)?;
                self.apply(Some(second), vec![r], input)
            }
            Func::Regex(re) => {
                let Some(subject) = args.first().cloned().flatten() else {
                    return Ok(None);
                };
                let Some(s) = subject.as_str() else {
                    return Ok(None);
                };
                let matches = find_all(&re.regex, s, Some(1))?;
                Ok(matches.into_iter().next().map(|m| {
                    let groups = m
                        .groups
                        .iter()
                        .map(|g| g.clone().map(Value::string).unwrap_or(Value::Null))
                        .collect();
                    object_of(vec![
                        ("match", Value::string(m.text.as_str())),
                        ("start", Value::Number(utf16_offset(s, m.start) as f64)),
                        ("end", Value::Number(utf16_offset(s, m.end) as f64)),
                        ("groups", Value::array(groups)),
                    ])
                }))
            }
            Func::Transform { node, frame } => {
                self.transform(node, *frame, args.into_iter().next().flatten())
            }
            Func::Thunk { .. } => Ok(Some(Value::Function(f.clone()))),
        }
    }

    fn apply_lambda(
        &self,
        def: &'a LambdaDef,
        input: &Opt<'a>,
        frame: FrameId,
        args: Vec<Opt<'a>>,
    ) -> Res<Opt<'a>> {
        let env = self.frames.child(frame);
        let mut args = args.into_iter();
        for param in &def.params {
            self.frames.bind(env, param, args.next().flatten());
        }
        self.eval(&def.body, input, env)
    }
}
