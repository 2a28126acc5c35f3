//! JavaScript-compatible text rendering: `Number.prototype.toString`, `JSON.stringify` and the
//! 15-significant-digit rounding `$string` applies to numbers.

use crate::value::Value;

/// Formats a number the way JavaScript's `String(n)` does.
pub(crate) fn number_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if n == 0.0 {
        return "0".into();
    }
    let sign = if n < 0.0 { "-" } else { "" };
    // Shortest round-trip digits in scientific form, e.g. "1.2345e-7".
    let sci = format!("{:e}", n.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let point = exp + 1;
    let body = if k <= point && point <= 21 {
        let mut s = digits.clone();
        s.extend(std::iter::repeat_n('0', (point - k) as usize));
        s
    } else if 0 < point && point <= 21 {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    } else if -6 < point && point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else {
        let e = point - 1;
        let esign = if e < 0 { "-" } else { "+" };
        if k == 1 {
            format!("{digits}e{esign}{}", e.abs())
        } else {
            format!("{}.{}e{esign}{}", &digits[..1], &digits[1..], e.abs())
        }
    };
    format!("{sign}{body}")
}

/// Rounds to 15 significant digits, as `Number(n.toPrecision(15))`.
pub(crate) fn precision15(n: f64) -> f64 {
    if !n.is_finite() || n == 0.0 {
        return n;
    }
    format!("{n:.14e}").parse().unwrap_or(n)
}

/// Quotes a string as JSON (JavaScript `JSON.stringify` escaping).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_quoted(&mut out, s);
    out
}

fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Options for [`stringify`].
#[derive(Clone, Copy, Default)]
pub(crate) struct Style {
    /// Indent nested structures by two spaces.
    pub pretty: bool,
    /// Round numbers to 15 significant digits (what `$string` does).
    pub precision15: bool,
}

/// `JSON.stringify` of a value; `None` when the value has no JSON text (a function).
pub(crate) fn stringify(v: &Value<'_>, style: Style) -> Option<String> {
    if v.is_function() {
        return if style.precision15 {
            Some("\"\"".into())
        } else {
            None
        };
    }
    let mut out = String::new();
    write_value(&mut out, v, style, 0);
    Some(out)
}

/// `JSON.stringify` of an optional value, `undefined` when missing (for error messages).
pub(crate) fn describe(v: Option<&Value<'_>>) -> String {
    v.and_then(|v| stringify(v, Style::default()))
        .unwrap_or_else(|| "undefined".into())
}

fn write_number(out: &mut String, n: f64, style: Style) {
    if !n.is_finite() {
        out.push_str("null");
        return;
    }
    let n = if style.precision15 { precision15(n) } else { n };
    out.push_str(&number_to_string(n));
}

fn newline(out: &mut String, style: Style, depth: usize) {
    if style.pretty {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    }
}

/// Deepest nesting rendered; deeper values are written as `null`.
const MAX_DEPTH: usize = 1000;

fn write_value(out: &mut String, v: &Value<'_>, style: Style, depth: usize) {
    if depth > MAX_DEPTH {
        out.push_str("null");
        return;
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, *n, style),
        Value::Str(_) | Value::String(_) => push_quoted(out, v.as_str().unwrap_or_default()),
        Value::Function(_) => {
            if style.precision15 {
                out.push_str("\"\"");
            } else {
                out.push_str("null");
            }
        }
        Value::Array(a) if a.is_outer_wrapper() && a.items.len() == 1 => {
            write_value(out, &a.items[0], style, depth)
        }
        Value::JArray(_) | Value::Array(_) | Value::Tuples(_) => {
            let items: Vec<Value<'_>> = match v {
                Value::Tuples(t) => t
                    .iter()
                    .filter_map(|t| {
                        t.iter()
                            .find(|(k, _)| *k == "@")
                            .and_then(|(_, v)| v.clone())
                    })
                    .collect(),
                _ => v.to_items(),
            };
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, style, depth + 1);
                write_value(out, item, style, depth + 1);
            }
            newline(out, style, depth);
            out.push(']');
        }
        Value::JObject(_) | Value::Object(_) => {
            let Some(obj) = v.as_object() else { return };
            let entries = obj.entries();
            if entries.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            let mut first = true;
            for (k, val) in entries.iter() {
                if val.is_function() && !style.precision15 {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                newline(out, style, depth + 1);
                push_quoted(out, k);
                out.push(':');
                if style.pretty {
                    out.push(' ');
                }
                write_value(out, val, style, depth + 1);
            }
            newline(out, style, depth);
            out.push('}');
        }
    }
}
