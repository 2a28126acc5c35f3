//! Object functions (and `$type`, `$error`, `$assert`, `$clone`).

use std::rc::Rc;

use super::hof::func_args;
use super::{Def, arg, str_arg, string_result};
use crate::error::{Failure, Res};
use crate::eval::{Evaluator, append, boolean, deep_clone, lookup};
use crate::value::{Object, Opt, Value};

pub(super) const FUNCTIONS: &[Def] = &[
    Def {
        name: "keys",
        signature: "<x-:a<s>>",
        arity: 1,
        func: keys,
    },
    Def {
        name: "lookup",
        signature: "<x-s:x>",
        arity: 2,
        func: lookup_fn,
    },
    Def {
        name: "spread",
        signature: "<x-:a<o>>",
        arity: 1,
        func: spread,
    },
    Def {
        name: "merge",
        signature: "<a<o>:o>",
        arity: 1,
        func: merge,
    },
    Def {
        name: "each",
        signature: "<o-f:a>",
        arity: 2,
        func: each,
    },
    Def {
        name: "sift",
        signature: "<o-f?:o>",
        arity: 2,
        func: sift,
    },
    Def {
        name: "type",
        signature: "<x:s>",
        arity: 1,
        func: type_fn,
    },
    Def {
        name: "error",
        signature: "<s?:x>",
        arity: 1,
        func: error,
    },
    Def {
        name: "assert",
        signature: "<bs?:x>",
        arity: 2,
        func: assert,
    },
    Def {
        name: "clone",
        signature: "<(oa)-:o>",
        arity: 1,
        func: clone,
    },
];

fn key_list(v: &Value<'_>) -> Vec<Rc<str>> {
    if v.is_array() {
        let mut merged: Vec<Rc<str>> = Vec::new();
        for item in v.to_items() {
            for k in key_list(&item) {
                if !merged.contains(&k) {
                    merged.push(k);
                }
            }
        }
        return merged;
    }
    v.as_object().map(|o| o.keys()).unwrap_or_default()
}

fn keys<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(v) = arg(&args, 0) else {
        return Ok(Some(Value::sequence(Vec::new())));
    };
    Ok(Some(Value::sequence(
        key_list(&v).into_iter().map(Value::String).collect(),
    )))
}

fn lookup_fn<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let key = str_arg(&args, 1).unwrap_or("undefined");
    Ok(lookup(arg(&args, 0).as_ref(), key))
}

fn spread_value<'a>(v: &Value<'a>) -> Opt<'a> {
    if v.is_array() {
        let mut result = Some(Value::sequence(Vec::new()));
        for item in v.to_items() {
            result = append(result, spread_value(&item));
        }
        return result;
    }
    if let Some(o) = v.as_object() {
        let items = o
            .entries()
            .into_iter()
            .map(|(k, member)| {
                let mut obj = Object::new();
                obj.insert(&k, member);
                Value::object(obj)
            })
            .collect();
        return Some(Value::sequence(items));
    }
    Some(v.clone())
}

fn spread<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(v) = arg(&args, 0) else {
        return Ok(Some(Value::sequence(Vec::new())));
    };
    Ok(spread_value(&v))
}

fn merge<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(v) = arg(&args, 0) else {
        return Ok(None);
    };
    let mut result = Object::new();
    for item in v.to_items() {
        if let Some(o) = item.as_object() {
            for (k, member) in o.entries() {
                result.insert(&k, member);
            }
        }
    }
    Ok(Some(Value::object(result)))
}

fn each<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let (Some(obj), Some(func)) = (arg(&args, 0), arg(&args, 1)) else {
        return Ok(Some(Value::sequence(Vec::new())));
    };
    let mut result = Vec::new();
    if let Some(o) = obj.as_object() {
        for (k, member) in o.entries() {
            let call_args = func_args(&func, member, Value::String(k), &obj);
            if let Some(v) = ev.call_function(&func, call_args)? {
                result.push(v);
            }
        }
    }
    Ok(Some(Value::sequence(result)))
}

fn sift<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(obj) = arg(&args, 0) else {
        return Ok(None);
    };
    let func = arg(&args, 1);
    let mut result = Object::new();
    if let Some(o) = obj.as_object() {
        for (k, member) in o.entries() {
            let keep = match &func {
                Some(f) => {
                    let call_args = func_args(f, member.clone(), Value::String(k.clone()), &obj);
                    let r = ev.call_function(f, call_args)?;
                    boolean(r.as_ref())?.unwrap_or(false)
                }
                None => return Err(Failure::new("T1006")),
            };
            if keep {
                result.insert(&k, member);
            }
        }
    }
    if result.len() == 0 {
        return Ok(None);
    }
    Ok(Some(Value::object(result)))
}

fn type_fn<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    match arg(&args, 0) {
        None => Ok(None),
        Some(Value::Number(n)) if !n.is_finite() => string_result("number"),
        Some(v) => string_result(v.type_name()),
    }
}

fn error<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let message = str_arg(&args, 0)
        .filter(|m| !m.is_empty())
        .unwrap_or("$error() function evaluated");
    Err(Failure::new("D3137").message(message))
}

fn assert<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    if matches!(arg(&args, 0), Some(Value::Bool(true))) {
        return Ok(None);
    }
    let message = str_arg(&args, 1)
        .filter(|m| !m.is_empty())
        .unwrap_or("$assert() statement failed");
    Err(Failure::new("D3141").message(message))
}

fn clone<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(arg(&args, 0).map(|v| deep_clone(&v)))
}
