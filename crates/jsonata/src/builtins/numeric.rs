//! Numeric functions and aggregations.

use super::{Def, arg, num_arg, number_result, string_result};
use crate::error::{Failure, Res};
use crate::eval::Evaluator;
use crate::json::{describe, number_to_string};
use crate::value::{Opt, Value};

pub(super) const FUNCTIONS: &[Def] = &[
    Def {
        name: "number",
        signature: "<(nsb)-:n>",
        arity: 1,
        func: number,
    },
    Def {
        name: "abs",
        signature: "<n-:n>",
        arity: 1,
        func: abs,
    },
    Def {
        name: "floor",
        signature: "<n-:n>",
        arity: 1,
        func: floor,
    },
    Def {
        name: "ceil",
        signature: "<n-:n>",
        arity: 1,
        func: ceil,
    },
    Def {
        name: "round",
        signature: "<n-n?:n>",
        arity: 2,
        func: round,
    },
    Def {
        name: "power",
        signature: "<n-n:n>",
        arity: 2,
        func: power,
    },
    Def {
        name: "sqrt",
        signature: "<n-:n>",
        arity: 1,
        func: sqrt,
    },
    Def {
        name: "sum",
        signature: "<a<n>:n>",
        arity: 1,
        func: sum,
    },
    Def {
        name: "max",
        signature: "<a<n>:n>",
        arity: 1,
        func: max,
    },
    Def {
        name: "min",
        signature: "<a<n>:n>",
        arity: 1,
        func: min,
    },
    Def {
        name: "average",
        signature: "<a<n>:n>",
        arity: 1,
        func: average,
    },
    Def {
        name: "formatBase",
        signature: "<n-n?:s>",
        arity: 2,
        func: format_base,
    },
];

/// Parses a string the way `$number` does; `None` if it is not a number literal.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let decimal = {
        let mut chars = body.chars().peekable();
        let mut ok = false;
        while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
            chars.next();
            ok = true;
        }
        if ok && chars.peek() == Some(&'.') {
            chars.next();
            let mut frac = false;
            while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                chars.next();
                frac = true;
            }
            ok = frac;
        }
        if ok && matches!(chars.peek(), Some('e' | 'E')) {
            chars.next();
            if matches!(chars.peek(), Some('+' | '-')) {
                chars.next();
            }
            let mut exp = false;
            while chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                chars.next();
                exp = true;
            }
            ok = exp;
        }
        ok && chars.next().is_none()
    };
    if decimal {
        return s.parse::<f64>().ok().filter(|n| n.is_finite());
    }
    let lower = s.get(..2).map(str::to_ascii_lowercase);
    let radix = match lower.as_deref() {
        Some("0x") => 16,
        Some("0o") => 8,
        Some("0b") => 2,
        _ => return None,
    };
    let digits = &s[2..];
    if digits.is_empty() {
        return None;
    }
    let mut n = 0f64;
    for c in digits.chars() {
        n = n * radix as f64 + c.to_digit(radix)? as f64;
    }
    Some(n)
}

fn number<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(v) = arg(&args, 0) else {
        return Ok(None);
    };
    let n = match &v {
        Value::Number(n) => *n,
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => match v.as_str().and_then(parse_number) {
            Some(n) => n,
            None => return Err(Failure::new("D3030").index(1).value(describe(Some(&v)))),
        },
    };
    number_result(n)
}

fn unary<'a>(args: &[Opt<'a>], f: impl Fn(f64) -> f64) -> Res<Opt<'a>> {
    Ok(num_arg(args, 0).map(|n| Value::Number(f(n))))
}

fn abs<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    unary(&args, f64::abs)
}

fn floor<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    unary(&args, f64::floor)
}

fn ceil<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    unary(&args, f64::ceil)
}

/// `Math.round`: halves round towards positive infinity.
fn js_round(x: f64) -> f64 {
    let f = x.floor();
    if x - f >= 0.5 { f + 1.0 } else { f }
}

fn shift(value: f64, places: i32) -> f64 {
    let s = number_to_string(value);
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    format!("{mantissa}e{}", exp + places)
        .parse()
        .unwrap_or(f64::NAN)
}

/// `$round`: round half to even at `precision` decimal places (shifting through the decimal
/// text, like the reference implementation, to avoid binary artefacts).
pub(crate) fn round_half_even(arg: f64, precision: i32) -> f64 {
    let value = if precision != 0 {
        shift(arg, precision)
    } else {
        arg
    };
    let mut result = js_round(value);
    let diff = result - value;
    if diff.abs() == 0.5 && (result % 2.0).abs() == 1.0 {
        result -= 1.0;
    }
    if precision != 0 {
        result = shift(result, -precision);
    }
    if result == 0.0 { 0.0 } else { result }
}

fn round<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(n) = num_arg(&args, 0) else {
        return Ok(None);
    };
    let precision = num_arg(&args, 1).map(|p| p.trunc() as i32).unwrap_or(0);
    number_result(round_half_even(n, precision))
}

fn power<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(base) = num_arg(&args, 0) else {
        return Ok(None);
    };
    let exp = num_arg(&args, 1).unwrap_or(f64::NAN);
    let r = base.powf(exp);
    if !r.is_finite() {
        return Err(Failure::new("D3061")
            .value(number_to_string(base))
            .value2(number_to_string(exp)));
    }
    number_result(r)
}

fn sqrt<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(n) = num_arg(&args, 0) else {
        return Ok(None);
    };
    if n < 0.0 {
        return Err(Failure::new("D3060").index(1).value(number_to_string(n)));
    }
    number_result(n.sqrt())
}

fn numbers(args: &[Opt<'_>]) -> Option<Vec<f64>> {
    arg(args, 0).map(|v| v.to_items().iter().filter_map(Value::as_f64).collect())
}

fn sum<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(numbers(&args).map(|ns| Value::Number(ns.iter().sum())))
}

fn max<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(numbers(&args)
        .filter(|ns| !ns.is_empty())
        .map(|ns| Value::Number(ns.iter().copied().fold(f64::NEG_INFINITY, f64::max))))
}

fn min<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(numbers(&args)
        .filter(|ns| !ns.is_empty())
        .map(|ns| Value::Number(ns.iter().copied().fold(f64::INFINITY, f64::min))))
}

fn average<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(numbers(&args)
        .filter(|ns| !ns.is_empty())
        .map(|ns| Value::Number(ns.iter().sum::<f64>() / ns.len() as f64)))
}

/// Renders a non-negative integral value in `radix`.
fn integer_in_radix(mut n: f64, radix: u32) -> String {
    if n < 1.0 {
        return "0".into();
    }
    let mut digits = Vec::new();
    if n < 1.7e38 {
        let mut v = n as u128;
        while v > 0 {
            digits.push(std::char::from_digit((v % radix as u128) as u32, radix).unwrap_or('0'));
            v /= radix as u128;
        }
    } else {
        while n >= 1.0 {
            let d = (n % radix as f64) as u32;
            digits.push(std::char::from_digit(d, radix).unwrap_or('0'));
            n = (n / radix as f64).floor();
        }
    }
    digits.iter().rev().collect()
}

fn format_base<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(n) = num_arg(&args, 0) else {
        return Ok(None);
    };
    let value = round_half_even(n, 0);
    let radix = num_arg(&args, 1).unwrap_or(10.0);
    if !(2.0..=36.0).contains(&radix) {
        return Err(Failure::new("D3100").value(number_to_string(radix)));
    }
    let digits = integer_in_radix(value.abs(), radix.trunc() as u32);
    string_result(if value < 0.0 {
        format!("-{digits}")
    } else {
        digits
    })
}
