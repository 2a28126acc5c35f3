//! Array functions.

use super::{Def, arg, number_result};
use crate::error::{Failure, Res};
use crate::eval::{Evaluator, append, boolean, deep_equal};
use crate::value::{Opt, Value};

pub(super) const FUNCTIONS: &[Def] = &[
    Def {
        name: "count",
        signature: "<a:n>",
        arity: 1,
        func: count,
    },
    Def {
        name: "append",
        signature: "<xx:a>",
        arity: 2,
        func: append_fn,
    },
    Def {
        name: "sort",
        signature: "<af?:a>",
        arity: 2,
        func: sort,
    },
    Def {
        name: "reverse",
        signature: "<a:a>",
        arity: 1,
        func: reverse,
    },
    Def {
        name: "shuffle",
        signature: "<a:a>",
        arity: 1,
        func: shuffle,
    },
    Def {
        name: "distinct",
        signature: "<x:x>",
        arity: 1,
        func: distinct,
    },
    Def {
        name: "zip",
        signature: "<a+>",
        arity: 1,
        func: zip,
    },
];

fn count<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    number_result(arg(&args, 0).map(|v| v.to_items().len()).unwrap_or(0) as f64)
}

fn append_fn<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(append(arg(&args, 0), arg(&args, 1)))
}

/// JavaScript truthiness of a comparator result.
fn truthy(v: &Opt<'_>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => *n != 0.0 && !n.is_nan(),
        Some(v) if v.is_string() => !v.as_str().unwrap_or_default().is_empty(),
        Some(_) => true,
    }
}

fn sort<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(arr) = arg(&args, 0) else {
        return Ok(None);
    };
    let items = arr.to_items();
    if items.len() <= 1 {
        return Ok(Some(arr));
    }
    let sorted = match arg(&args, 1) {
        None => {
            let all_numbers = items.iter().all(Value::is_number);
            let all_strings = items.iter().all(Value::is_string);
            if !all_numbers && !all_strings {
                return Err(Failure::new("D3070").index(1));
            }
            crate::eval::merge_sort(items, &mut |a: &Value<'a>, b: &Value<'a>| {
                Ok(match (a, b) {
                    (Value::Number(x), Value::Number(y)) => x > y,
                    _ => {
                        crate::eval::compare_strings(
                            a.as_str().unwrap_or_default(),
                            b.as_str().unwrap_or_default(),
                        ) == std::cmp::Ordering::Greater
                    }
                })
            })?
        }
        Some(func) => crate::eval::merge_sort(items, &mut |a: &Value<'a>, b: &Value<'a>| {
            let r = ev.call_function(&func, vec![Some(a.clone()), Some(b.clone())])?;
            Ok(truthy(&r))
        })?,
    };
    Ok(Some(Value::array(sorted)))
}

fn reverse<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(arr) = arg(&args, 0) else {
        return Ok(None);
    };
    let mut items = arr.to_items();
    if items.len() <= 1 {
        return Ok(Some(arr));
    }
    items.reverse();
    Ok(Some(Value::array(items)))
}

fn shuffle<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(arr) = arg(&args, 0) else {
        return Ok(None);
    };
    let mut items = arr.to_items();
    if items.len() <= 1 {
        return Ok(Some(arr));
    }
    ev.draws.shuffle(&mut items);
    Ok(Some(Value::array(items)))
}

fn distinct<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(arr) = arg(&args, 0) else {
        return Ok(None);
    };
    if !arr.is_array() {
        return Ok(Some(arr));
    }
    let items = arr.to_items();
    if items.len() <= 1 {
        return Ok(Some(arr));
    }
    let mut out: Vec<Value<'a>> = Vec::new();
    for item in items {
        if !out.iter().any(|o| deep_equal(o, &item)) {
            out.push(item);
        }
    }
    Ok(Some(if arr.is_sequence() {
        Value::sequence(out)
    } else {
        Value::array(out)
    }))
}

fn zip<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let arrays: Vec<Vec<Value<'a>>> = args
        .iter()
        .map(|a| match a {
            Some(v) if v.is_array() => v.to_items(),
            _ => Vec::new(),
        })
        .collect();
    let len = arrays.iter().map(Vec::len).min().unwrap_or(0);
    let result = (0..len)
        .map(|i| Value::array(arrays.iter().map(|a| a[i].clone()).collect()))
        .collect();
    Ok(Some(Value::array(result)))
}

/// Whether any item of a value is truthy (used by `$filter` and friends).
pub(crate) fn is_truthy(v: &Opt<'_>) -> Res<bool> {
    Ok(boolean(v.as_ref())?.unwrap_or(false))
}
