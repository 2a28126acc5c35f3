//! Higher-order functions.

use super::array::is_truthy;
use super::{Def, arg};
use crate::error::{Failure, Res};
use crate::eval::Evaluator;
use crate::value::{Opt, Value};

pub(super) const FUNCTIONS: &[Def] = &[
    Def {
        name: "map",
        signature: "<af>",
        arity: 2,
        func: map,
    },
    Def {
        name: "filter",
        signature: "<af>",
        arity: 2,
        func: filter,
    },
    Def {
        name: "single",
        signature: "<af?>",
        arity: 2,
        func: single,
    },
    Def {
        name: "reduce",
        signature: "<afj?:j>",
        arity: 3,
        func: reduce,
    },
];

/// The arguments passed to a callback: the value, then (if the callback takes them) the
/// index or key and the whole collection.
pub(crate) fn func_args<'a>(
    func: &Value<'a>,
    value: Value<'a>,
    index: Value<'a>,
    all: &Value<'a>,
) -> Vec<Opt<'a>> {
    let arity = func.as_func().map(|f| f.arity()).unwrap_or(1);
    let mut args = vec![Some(value)];
    if arity >= 2 {
        args.push(Some(index));
    }
    if arity >= 3 {
        args.push(Some(all.clone()));
    }
    args
}

fn map<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let (Some(arr), Some(func)) = (arg(&args, 0), arg(&args, 1)) else {
        return Ok(None);
    };
    let mut result = Vec::new();
    for (i, item) in arr.to_items().into_iter().enumerate() {
        let call_args = func_args(&func, item, Value::Number(i as f64), &arr);
        if let Some(v) = ev.call_function(&func, call_args)? {
            result.push(v);
        }
    }
    Ok(Some(Value::sequence(result)))
}

fn filter<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let (Some(arr), Some(func)) = (arg(&args, 0), arg(&args, 1)) else {
        return Ok(None);
    };
    let mut result = Vec::new();
    for (i, item) in arr.to_items().into_iter().enumerate() {
        let call_args = func_args(&func, item.clone(), Value::Number(i as f64), &arr);
        if is_truthy(&ev.call_function(&func, call_args)?)? {
            result.push(item);
        }
    }
    Ok(Some(Value::sequence(result)))
}

fn single<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(arr) = arg(&args, 0) else {
        return Ok(None);
    };
    let func = arg(&args, 1);
    let mut found: Opt<'a> = None;
    for (i, item) in arr.to_items().into_iter().enumerate() {
        let matched = match &func {
            Some(f) => {
                let call_args = func_args(f, item.clone(), Value::Number(i as f64), &arr);
                is_truthy(&ev.call_function(f, call_args)?)?
            }
            None => true,
        };
        if matched {
            if found.is_some() {
                return Err(Failure::new("D3138").index(i));
            }
            found = Some(item);
        }
    }
    match found {
        Some(v) => Ok(Some(v)),
        None => Err(Failure::new("D3139")),
    }
}

fn reduce<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let (Some(arr), Some(func)) = (arg(&args, 0), arg(&args, 1)) else {
        return Ok(None);
    };
    let arity = func.as_func().map(|f| f.arity()).unwrap_or(0);
    if arity < 2 {
        return Err(Failure::new("D3050").index(1));
    }
    let items = arr.to_items();
    let (mut result, start) = match arg(&args, 2) {
        None if !items.is_empty() => (Some(items[0].clone()), 1),
        init => (init, 0),
    };
    for (i, item) in items.iter().enumerate().skip(start) {
        let mut call_args = vec![result, Some(item.clone())];
        if arity >= 3 {
            call_args.push(Some(Value::Number(i as f64)));
        }
        if arity >= 4 {
            call_args.push(Some(arr.clone()));
        }
        result = ev.call_function(&func, call_args)?;
    }
    Ok(result)
}
