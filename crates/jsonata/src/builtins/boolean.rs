//! Boolean functions.

use super::{Def, arg};
use crate::error::Res;
use crate::eval::{Evaluator, boolean};
use crate::value::{Opt, Value};

pub(super) const FUNCTIONS: &[Def] = &[
    Def {
        name: "boolean",
        signature: "<x-:b>",
        arity: 1,
        func: boolean_fn,
    },
    Def {
        name: "not",
        signature: "<x-:b>",
        arity: 1,
        func: not,
    },
    Def {
        name: "exists",
        signature: "<x:b>",
        arity: 1,
        func: exists,
    },
];

fn boolean_fn<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(boolean(arg(&args, 0).as_ref())?.map(Value::Bool))
}

fn not<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(boolean(arg(&args, 0).as_ref())?.map(|b| Value::Bool(!b)))
}

fn exists<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(Some(Value::Bool(arg(&args, 0).is_some())))
}
