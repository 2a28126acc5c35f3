//! Filter expressions (`[?(...)]`) and their Jayway comparison rules.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::Path;
use super::regex::Regex;

/// A parsed filter expression.
#[derive(Debug, Clone)]
pub(super) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `@.x` (relative when the flag is true) or `$.x` alone: true when the path selects a node.
    Exists(Path, bool),
    /// A bare `true` or `false`.
    Const(bool),
    Compare(Operand, CompareOp, Operand),
}

/// One side of a comparison.
#[derive(Debug, Clone)]
pub(super) enum Operand {
    /// `@...`: evaluated against the node being filtered.
    Relative(Path),
    /// `$...`: evaluated against the whole document.
    Absolute(Path),
    Literal(Value),
    Regex(Regex),
}

/// Comparison operators, as Jayway names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CompareOp {
    Eq,
    Ne,
    StrictEq,
    StrictNe,
    Lt,
    Le,
    Gt,
    Ge,
    Matches,
    In,
    Nin,
    SubsetOf,
    AnyOf,
    NoneOf,
    Size,
    Empty,
    Contains,
}

/// An operand after evaluation.
enum Resolved<'a> {
    /// A path that selected nothing.
    Undefined,
    Value(Cow<'a, Value>),
    Regex(&'a Regex),
}

impl Resolved<'_> {
    fn value(&self) -> Option<&Value> {
        match self {
            Resolved::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl Expr {
    /// Tests `item` (the node being filtered); `root` is the whole document for `$` paths.
    pub(super) fn test(&self, item: &Value, root: &Value) -> bool {
        match self {
            Expr::Or(a, b) => a.test(item, root) || b.test(item, root),
            Expr::And(a, b) => a.test(item, root) && b.test(item, root),
            Expr::Not(inner) => !inner.test(item, root),
            Expr::Const(b) => *b,
            Expr::Exists(path, relative) => {
                let node = if *relative { item } else { root };
                match path.resolve(node, root) {
                    None => false,
                    Some(found) => {
                        path.is_definite() || found.as_array().is_some_and(|a| !a.is_empty())
                    }
                }
            }
            Expr::Compare(left, op, right) => {
                let left = resolve(left, item, root);
                let right = resolve(right, item, root);
                compare(&left, *op, &right)
            }
        }
    }
}

fn resolve<'a>(operand: &'a Operand, item: &'a Value, root: &'a Value) -> Resolved<'a> {
    match operand {
        Operand::Relative(path) => path
            .resolve(item, root)
            .map_or(Resolved::Undefined, Resolved::Value),
        Operand::Absolute(path) => path
            .resolve(root, root)
            .map_or(Resolved::Undefined, Resolved::Value),
        Operand::Literal(value) => Resolved::Value(Cow::Borrowed(value)),
        Operand::Regex(regex) => Resolved::Regex(regex),
    }
}

fn compare(left: &Resolved<'_>, op: CompareOp, right: &Resolved<'_>) -> bool {
    let (l, r) = (left.value(), right.value());
    match op {
        CompareOp::Eq => l.zip(r).is_some_and(|(a, b)| loose_eq(a, b)),
        CompareOp::Ne => !compare(left, CompareOp::Eq, right),
        CompareOp::StrictEq => l
            .zip(r)
            .is_some_and(|(a, b)| same_type(a, b) && loose_eq(a, b)),
        CompareOp::StrictNe => !compare(left, CompareOp::StrictEq, right),
        CompareOp::Lt | CompareOp::Le | CompareOp::Gt | CompareOp::Ge => {
            let Some(ordering) = l.zip(r).and_then(|(a, b)| order(a, b)) else {
                return false;
            };
            match op {
                CompareOp::Lt => ordering == Ordering::Less,
                CompareOp::Le => ordering != Ordering::Greater,
                CompareOp::Gt => ordering == Ordering::Greater,
                _ => ordering != Ordering::Less,
            }
        }
        CompareOp::Matches => match (left, right) {
            (Resolved::Regex(re), other) | (other, Resolved::Regex(re))
                if !matches!(other, Resolved::Regex(_)) =>
            {
                match other.value() {
                    Some(Value::Array(items)) => items.iter().any(|i| re.is_match(&regex_input(i))),
                    Some(value) => re.is_match(&regex_input(value)),
                    None => re.is_match(""),
                }
            }
            _ => false,
        },
        CompareOp::In => match (l, r) {
            (Some(needle), Some(Value::Array(items))) => items.iter().any(|i| loose_eq(needle, i)),
            _ => false,
        },
        CompareOp::Nin => !compare(left, CompareOp::In, right),
        CompareOp::SubsetOf | CompareOp::AnyOf | CompareOp::NoneOf => match (l, r) {
            (Some(Value::Array(items)), Some(Value::Array(set))) => {
                let contained = |i: &Value| set.iter().any(|s| loose_eq(i, s));
                match op {
                    CompareOp::SubsetOf => items.iter().all(contained),
                    CompareOp::AnyOf => items.iter().any(contained),
                    _ => !items.iter().any(contained),
                }
            }
            _ => false,
        },
        CompareOp::Size => {
            let Some(expected) = r.and_then(Value::as_f64) else {
                return false;
            };
            let size = match l {
                Some(Value::String(s)) => s.chars().count(),
                Some(Value::Array(a)) => a.len(),
                Some(Value::Object(o)) => o.len(),
                _ => return false,
            };
            size as f64 == expected
        }
        CompareOp::Empty => {
            let Some(expected) = r.and_then(Value::as_bool) else {
                return false;
            };
            match l {
                Some(Value::String(s)) => s.is_empty() == expected,
                Some(Value::Array(a)) => a.is_empty() == expected,
                Some(Value::Object(o)) => o.is_empty() == expected,
                _ => false,
            }
        }
        CompareOp::Contains => match (l, r) {
            (Some(Value::String(hay)), Some(Value::String(needle))) => {
                hay.contains(needle.as_str())
            }
            (Some(Value::Array(items)), Some(needle)) => items.iter().any(|i| loose_eq(i, needle)),
            _ => false,
        },
    }
}

/// Jayway equality: numbers compare by value, a string equals a number when it parses as that
/// number, arrays and objects compare structurally.
fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y) == Some(Ordering::Equal),
        (Value::String(s), Value::Number(n)) | (Value::Number(n), Value::String(s)) => {
            decimal(s).is_some_and(|f| n.as_f64() == Some(f))
        }
        _ => a == b,
    }
}

fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Order for `<`, `<=`, `>`, `>=`: numbers by value, strings lexicographically, anything else
/// incomparable.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Compares two JSON numbers by value, exactly for integers.
pub(crate) fn number_cmp(x: &Number, y: &Number) -> Option<Ordering> {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return Some(a.cmp(&b));
    }
    x.as_f64()?.partial_cmp(&y.as_f64()?)
}

/// Parses a string the way a decimal number literal is read (digits, sign, point, exponent).
fn decimal(s: &str) -> Option<f64> {
    let plausible = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    if plausible { s.parse().ok() } else { None }
}

/// The text a regular expression is matched against: strings as they are, numbers and
/// booleans as their JSON text, anything else as the empty string.
fn regex_input(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        Value::Number(n) => Cow::Owned(n.to_string()),
        Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        _ => Cow::Borrowed(""),
    }
}
