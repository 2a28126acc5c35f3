//! Operators and the value coercions they share with the function library.

use std::cmp::Ordering;

use super::Evaluator;
use crate::ast::{BinOp, Node};
use crate::env::FrameId;
use crate::error::{Failure, Res};
use crate::json::{Style, describe, stringify};
use crate::value::{Opt, Value};

/// Checks a number operand; non-finite numbers are `D1001`.
fn numeric(v: &Value<'_>) -> Res<Option<f64>> {
    match v {
        Value::Number(n) if n.is_nan() => Ok(None),
        Value::Number(n) if !n.is_finite() => Err(Failure::new("D1001").value("null")),
        Value::Number(n) => Ok(Some(*n)),
        _ => Ok(None),
    }
}

/// JSONata's effective boolean value (`$boolean`); `None` for undefined.
pub(crate) fn boolean(v: Option<&Value<'_>>) -> Res<Option<bool>> {
    let Some(v) = v else { return Ok(None) };
    Ok(Some(match v {
        Value::Bool(b) => *b,
        Value::Null => false,
        Value::Str(_) | Value::String(_) => !v.as_str().unwrap_or_default().is_empty(),
        Value::Number(_) => matches!(numeric(v)?, Some(n) if n != 0.0),
        Value::JArray(_) | Value::Array(_) => {
            let items = v.to_items();
            match items.len() {
                0 => false,
                1 => boolean(Some(&items[0]))?.unwrap_or(false),
                _ => {
                    let mut any = false;
                    for item in &items {
                        if boolean(Some(item))?.unwrap_or(false) {
                            any = true;
                        }
                    }
                    any
                }
            }
        }
        Value::Tuples(t) => !t.is_empty(),
        Value::JObject(_) | Value::Object(_) => v.as_object().is_some_and(|o| o.len() > 0),
        Value::Function(_) => false,
    }))
}

/// Deep equality (`=`): arrays element-wise, objects by key set and values.
pub(crate) fn deep_equal(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::Function(x), Value::Function(y)) => std::rc::Rc::ptr_eq(x, y),
        _ => {
            if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
                return x == y;
            }
            if let (Some(x), Some(y)) = (a.as_array(), b.as_array()) {
                return x.len() == y.len()
                    && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(&p, &q));
            }
            if let (Some(x), Some(y)) = (a.as_object(), b.as_object()) {
                if x.len() != y.len() {
                    return false;
                }
                return x
                    .entries()
                    .iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, &w)));
            }
            false
        }
    }
}

/// `$string` conversion: strings unchanged, functions empty, other values as JSON text with
/// numbers rounded to 15 significant digits.
pub(crate) fn to_string(v: &Value<'_>, pretty: bool) -> Res<String> {
    match v {
        Value::Str(_) | Value::String(_) => Ok(v.as_str().unwrap_or_default().to_string()),
        Value::Function(_) => Ok(String::new()),
        Value::Number(n) if !n.is_finite() => Err(Failure::new("D3001").value("null")),
        _ => Ok(stringify(
            v,
            Style {
                pretty,
                precision15: true,
            },
        )
        .unwrap_or_default()),
    }
}

/// `$append`: concatenates, treating single values as one-item arrays.
pub(crate) fn append<'a>(a: Opt<'a>, b: Opt<'a>) -> Opt<'a> {
    match (a, b) {
        (None, b) => b,
        (a, None) => a,
        (Some(a), Some(b)) => {
            let mut items = a.to_items();
            items.extend(b.to_items());
            Some(Value::array(items))
        }
    }
}

/// Compares strings the way JavaScript does (by UTF-16 code units).
pub(crate) fn compare_strings(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

impl<'a> Evaluator<'a> {
    pub(super) fn binary(
        &self,
        node: &'a Node,
        op: BinOp,
        lhs: &'a Node,
        rhs: &'a Node,
        input: &Opt<'a>,
        env: FrameId,
    ) -> Res<Opt<'a>> {
        let l = self.eval(lhs, input, env)?;
        if matches!(op, BinOp::And | BinOp::Or) {
            let lb = boolean(l.as_ref())
                .map_err(|e| e.at(node.pos).token(op.symbol()))?
                .unwrap_or(false);
            let short = if op == BinOp::And { !lb } else { lb };
            if short {
                return Ok(Some(Value::Bool(lb)));
            }
            let r = self.eval(rhs, input, env)?;
            let rb = boolean(r.as_ref())
                .map_err(|e| e.at(node.pos).token(op.symbol()))?
                .unwrap_or(false);
            return Ok(Some(Value::Bool(rb)));
        }
        let r = self.eval(rhs, input, env)?;
        binary_values(op, l, r).map_err(|e| e.at(node.pos).token(op.symbol()))
    }
}

/// Applies a (non-short-circuit) binary operator to evaluated operands.
pub(crate) fn binary_values<'a>(op: BinOp, l: Opt<'a>, r: Opt<'a>) -> Res<Opt<'a>> {
    match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => arithmetic(op, l, r),
        BinOp::Eq | BinOp::Ne => {
            let (Some(l), Some(r)) = (l, r) else {
                return Ok(Some(Value::Bool(false)));
            };
            let eq = deep_equal(&l, &r);
            Ok(Some(Value::Bool(if op == BinOp::Eq { eq } else { !eq })))
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => compare(op, l, r),
        BinOp::Concat => {
            let mut s = match &l {
                Some(v) => to_string(v, false)?,
                None => String::new(),
            };
            if let Some(v) = &r {
                s.push_str(&to_string(v, false)?);
            }
            Ok(Some(Value::string(s)))
        }
        BinOp::Range => range(l, r),
        BinOp::In => {
            let (Some(l), Some(r)) = (l, r) else {
                return Ok(Some(Value::Bool(false)));
            };
            let found = r.to_items().iter().any(|item| deep_equal(item, &l));
            Ok(Some(Value::Bool(found)))
        }
        BinOp::And | BinOp::Or => {
            let lb = boolean(l.as_ref())?.unwrap_or(false);
            let rb = boolean(r.as_ref())?.unwrap_or(false);
            Ok(Some(Value::Bool(if op == BinOp::And {
                lb && rb
            } else {
                lb || rb
            })))
        }
    }
}

fn arithmetic<'a>(op: BinOp, l: Opt<'a>, r: Opt<'a>) -> Res<Opt<'a>> {
    let lv = match &l {
        Some(v) => match numeric(v)? {
            Some(n) => Some(n),
            None => return Err(Failure::new("T2001").value(describe(Some(v)))),
        },
        None => None,
    };
    let rv = match &r {
        Some(v) => match numeric(v)? {
            Some(n) => Some(n),
            None => return Err(Failure::new("T2002").value(describe(Some(v)))),
        },
        None => None,
    };
    let (Some(a), Some(b)) = (lv, rv) else {
        return Ok(None);
    };
    let n = match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        _ => a % b,
    };
    Ok(Some(Value::Number(n)))
}

fn comparable(v: &Opt<'_>) -> bool {
    match v {
        None => true,
        Some(v) => v.is_string() || v.is_number(),
    }
}

fn compare<'a>(op: BinOp, l: Opt<'a>, r: Opt<'a>) -> Res<Opt<'a>> {
    if !comparable(&l) || !comparable(&r) {
        let bad = if l.as_ref().is_some_and(|v| v.is_string() || v.is_number()) {
            r.as_ref()
        } else {
            l.as_ref()
        };
        return Err(Failure::new("T2010").value(describe(bad)));
    }
    let (Some(l), Some(r)) = (l, r) else {
        return Ok(None);
    };
    let ord = match (&l, &r) {
        (Value::Number(a), Value::Number(b)) => match a.partial_cmp(b) {
            Some(o) => o,
            None => return Ok(Some(Value::Bool(false))),
        },
        _ => match (l.as_str(), r.as_str()) {
            (Some(a), Some(b)) => compare_strings(a, b),
            _ => {
                return Err(Failure::new("T2009")
                    .value(describe(Some(&l)))
                    .value2(describe(Some(&r))));
            }
        },
    };
    let result = match op {
        BinOp::Lt => ord == Ordering::Less,
        BinOp::Le => ord != Ordering::Greater,
        BinOp::Gt => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    };
    Ok(Some(Value::Bool(result)))
}

fn is_integer(v: &Value<'_>) -> bool {
    matches!(v, Value::Number(n) if n.is_finite() && n.fract() == 0.0)
}

fn range<'a>(l: Opt<'a>, r: Opt<'a>) -> Res<Opt<'a>> {
    if let Some(v) = &l
        && !is_integer(v)
    {
        return Err(Failure::new("T2003").value(describe(Some(v))));
    }
    if let Some(v) = &r
        && !is_integer(v)
    {
        return Err(Failure::new("T2004").value(describe(Some(v))));
    }
    let (Some(Value::Number(a)), Some(Value::Number(b))) = (l, r) else {
        return Ok(None);
    };
    if a > b {
        return Ok(None);
    }
    let size = b - a + 1.0;
    if size > 1e7 {
        return Err(Failure::new("D2014").value(crate::json::number_to_string(size)));
    }
    let items = (0..size as i64)
        .map(|i| Value::Number(a + i as f64))
        .collect();
    Ok(Some(Value::sequence(items)))
}
