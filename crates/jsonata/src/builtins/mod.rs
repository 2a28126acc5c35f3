//! The function library: a registry of built-ins with their signatures, split by family.

mod array;
mod boolean;
mod datetime;
mod encoding;
mod format_integer;
mod format_number;
mod hof;
mod numeric;
mod object;
mod string;

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::error::Res;
use crate::eval::Evaluator;
use crate::signature::Signature;
use crate::value::{Opt, Value};

/// Implementation of a built-in: receives the validated arguments.
pub(crate) type NativeFn = for<'a> fn(&Evaluator<'a>, Vec<Opt<'a>>) -> Res<Opt<'a>>;

/// A static description of a built-in.
pub(crate) struct Def {
    pub name: &'static str,
    pub signature: &'static str,
    pub arity: usize,
    pub func: NativeFn,
}

/// A registered built-in.
pub(crate) struct Builtin {
    pub arity: usize,
    pub signature: Signature,
    pub func: NativeFn,
}

fn registry() -> &'static HashMap<&'static str, Builtin> {
    static REGISTRY: OnceLock<HashMap<&'static str, Builtin>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let families: [&[Def]; 11] = [
            string::FUNCTIONS,
            encoding::FUNCTIONS,
            numeric::FUNCTIONS,
            format_number::FUNCTIONS,
            format_integer::FUNCTIONS,
            array::FUNCTIONS,
            object::FUNCTIONS,
            boolean::FUNCTIONS,
            hof::FUNCTIONS,
            datetime::FUNCTIONS,
            crate::aws::FUNCTIONS,
        ];
        let mut map = HashMap::new();
        for family in families {
            for def in family {
                let signature = Signature::parse(def.signature)
                    .unwrap_or_else(|_| panic!("invalid built-in signature {}", def.signature));
                map.insert(
                    def.name,
                    Builtin {
                        arity: def.arity,
                        signature,
                        func: def.func,
                    },
                );
            }
        }
        map
    })
}

/// Looks a built-in up by name (without the `$`).
pub(crate) fn lookup(name: &str) -> Option<&'static Builtin> {
    registry().get(name)
}

/// Argument `i` (undefined when absent).
pub(crate) fn arg<'a>(args: &[Opt<'a>], i: usize) -> Opt<'a> {
    args.get(i).cloned().flatten()
}

/// Argument `i` as a string.
pub(crate) fn str_arg<'r>(args: &'r [Opt<'_>], i: usize) -> Option<&'r str> {
    args.get(i)
        .and_then(|a| a.as_ref())
        .and_then(|v| v.as_str())
}

/// Argument `i` as a number.
pub(crate) fn num_arg(args: &[Opt<'_>], i: usize) -> Option<f64> {
    args.get(i)
        .and_then(|a| a.as_ref())
        .and_then(|v| v.as_f64())
}

/// A string result.
pub(crate) fn string_result<'a>(s: impl Into<std::rc::Rc<str>>) -> Res<Opt<'a>> {
    Ok(Some(Value::string(s)))
}

/// A number result.
pub(crate) fn number_result<'a>(n: f64) -> Res<Opt<'a>> {
    Ok(Some(Value::Number(n)))
}
