//! String functions.

use super::{Def, arg, num_arg, str_arg, string_result};
use crate::error::{Failure, Res};
use crate::eval::{Evaluator, object_of, to_string};
use crate::json::describe;
use crate::regex::{Match, find_all, utf16_offset};
use crate::value::{Func, Opt, Value};

pub(super) const FUNCTIONS: &[Def] = &[
    Def {
        name: "string",
        signature: "<x-b?:s>",
        arity: 1,
        func: string,
    },
    Def {
        name: "length",
        signature: "<s-:n>",
        arity: 1,
        func: length,
    },
    Def {
        name: "substring",
        signature: "<s-nn?:s>",
        arity: 3,
        func: substring,
    },
    Def {
        name: "substringBefore",
        signature: "<s-s:s>",
        arity: 2,
        func: substring_before,
    },
    Def {
        name: "substringAfter",
        signature: "<s-s:s>",
        arity: 2,
        func: substring_after,
    },
    Def {
        name: "lowercase",
        signature: "<s-:s>",
        arity: 1,
        func: lowercase,
    },
    Def {
        name: "uppercase",
        signature: "<s-:s>",
        arity: 1,
        func: uppercase,
    },
    Def {
        name: "trim",
        signature: "<s-:s>",
        arity: 1,
        func: trim,
    },
    Def {
        name: "pad",
        signature: "<s-ns?:s>",
        arity: 3,
        func: pad,
    },
    Def {
        name: "contains",
        signature: "<s-(sf):b>",
        arity: 2,
        func: contains,
    },
    Def {
        name: "split",
        signature: "<s-(sf)n?:a<s>>",
        arity: 3,
        func: split,
    },
    Def {
        name: "join",
        signature: "<a<s>s?:s>",
        arity: 2,
        func: join,
    },
    Def {
        name: "match",
        signature: "<s-f<s:o>n?:a<o>>",
        arity: 3,
        func: match_fn,
    },
    Def {
        name: "replace",
        signature: "<s-(sf)(sf)n?:s>",
        arity: 4,
        func: replace,
    },
];

fn string<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(v) = arg(&args, 0) else {
        return Ok(None);
    };
    let pretty = matches!(arg(&args, 1), Some(Value::Bool(true)));
    string_result(to_string(&v, pretty)?)
}

fn length<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(str_arg(&args, 0).map(|s| Value::Number(s.chars().count() as f64)))
}

/// JavaScript `Array.prototype.slice` index normalisation.
fn slice_index(x: f64, len: usize) -> usize {
    let x = if x.is_nan() { 0.0 } else { x.trunc() };
    if x < 0.0 {
        (len as f64 + x).max(0.0) as usize
    } else {
        x.min(len as f64) as usize
    }
}

/// `$substring` semantics over code points.
pub(crate) fn substring_of(s: &str, start: f64, length: Option<f64>) -> String {
    let chars: Vec<char> = s.chars().collect();
    let len = chars.len();
    let mut start = start;
    if len as f64 + start < 0.0 {
        start = 0.0;
    }
    let end = match length {
        Some(l) => {
            if l.is_nan() || l <= 0.0 {
                return String::new();
            }
            if start >= 0.0 {
                start + l
            } else {
                len as f64 + start + l
            }
        }
        None => len as f64,
    };
    let (a, b) = (slice_index(start, len), slice_index(end, len));
    if a >= b {
        return String::new();
    }
    chars[a..b].iter().collect()
}

fn substring<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    let start = num_arg(&args, 1).unwrap_or(f64::NAN);
    string_result(substring_of(s, start, num_arg(&args, 2)))
}

fn substring_before<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    let chars = str_arg(&args, 1).unwrap_or("undefined");
    match s.find(chars) {
        Some(i) => string_result(&s[..i]),
        None => string_result(s),
    }
}

fn substring_after<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    let chars = str_arg(&args, 1).unwrap_or("undefined");
    match s.find(chars) {
        Some(i) => string_result(&s[i + chars.len()..]),
        None => string_result(s),
    }
}

fn lowercase<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(str_arg(&args, 0).map(|s| Value::string(s.to_lowercase())))
}

fn uppercase<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(str_arg(&args, 0).map(|s| Value::string(s.to_uppercase())))
}

/// `$trim`: collapses runs of whitespace to one space and strips both ends.
pub(crate) fn trim_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_space = false;
    for c in s.chars() {
        if matches!(c, ' ' | '\t' | '\n' | '\r') {
            if !in_space {
                out.push(' ');
                in_space = true;
            }
        } else {
            out.push(c);
            in_space = false;
        }
    }
    let out = out.strip_prefix(' ').unwrap_or(&out);
    out.strip_suffix(' ').unwrap_or(out).to_string()
}

fn trim<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    Ok(str_arg(&args, 0).map(|s| Value::string(trim_str(s))))
}

/// The widest `$pad` result, in characters: a wider one is an error rather than a string too
/// large to build.
const MAX_PAD_WIDTH: f64 = 10_000_000.0;

fn pad<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    let width = num_arg(&args, 1).unwrap_or(0.0);
    let fill = match str_arg(&args, 2) {
        Some(c) if !c.is_empty() => c,
        _ => " ",
    };
    if width.abs() > MAX_PAD_WIDTH {
        return Err(Failure::new("D1001").value(crate::json::number_to_string(width)));
    }
    let pad_len = width.abs().floor() as i64 - s.chars().count() as i64;
    if pad_len <= 0 {
        return string_result(s);
    }
    let padding: String = fill.chars().cycle().take(pad_len as usize).collect();
    if width > 0.0 {
        string_result(format!("{s}{padding}"))
    } else {
        string_result(format!("{padding}{s}"))
    }
}

/// Matches of a matcher argument (a regex value) against `s`.
pub(crate) fn matcher_matches(
    matcher: &Value<'_>,
    s: &str,
    limit: Option<usize>,
) -> Res<Vec<Match>> {
    match matcher.as_func().map(|f| &**f) {
        Some(Func::Regex(re)) => find_all(&re.regex, s, limit),
        _ => Err(Failure::new("T1010")),
    }
}

fn contains<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    let Some(token) = arg(&args, 1) else {
        return Ok(None);
    };
    let found = match token.as_str() {
        Some(t) => s.contains(t),
        None => !matcher_matches(&token, s, Some(1))?.is_empty(),
    };
    Ok(Some(Value::Bool(found)))
}

fn limit_of(args: &[Opt<'_>], i: usize, code: &'static str, index: usize) -> Res<Option<usize>> {
    match num_arg(args, i) {
        None => Ok(None),
        Some(l) if l < 0.0 => Err(Failure::new(code)
            .index(index)
            .value(describe(Some(&Value::Number(l))))),
        Some(l) => Ok(Some(l.floor() as usize)),
    }
}

fn split<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    let limit = limit_of(&args, 2, "D3020", 3)?;
    let Some(sep) = arg(&args, 1) else {
        return Ok(None);
    };
    let mut parts: Vec<String> = Vec::new();
    if limit != Some(0) {
        match sep.as_str() {
            Some("") => parts = s.chars().map(|c| c.to_string()).collect(),
            Some(sep) => parts = s.split(sep).map(str::to_string).collect(),
            None => {
                let matches = matcher_matches(&sep, s, limit)?;
                let mut start = 0;
                for m in &matches {
                    parts.push(s[start..m.start].to_string());
                    start = m.end;
                }
                if limit.is_none_or(|l| matches.len() < l) {
                    parts.push(s[start..].to_string());
                }
            }
        }
        if let Some(l) = limit {
            parts.truncate(l);
        }
    }
    Ok(Some(Value::array(
        parts.into_iter().map(Value::string).collect(),
    )))
}

fn join<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(items) = arg(&args, 0) else {
        return Ok(None);
    };
    let sep = str_arg(&args, 1).unwrap_or("");
    let parts: Vec<String> = items
        .to_items()
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    string_result(parts.join(sep))
}

fn groups_value<'a>(m: &Match) -> Value<'a> {
    Value::array(
        m.groups
            .iter()
            .map(|g| g.clone().map(Value::string).unwrap_or(Value::Null))
            .collect(),
    )
}

fn match_fn<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    let limit = limit_of(&args, 2, "D3040", 3)?;
    let Some(matcher) = arg(&args, 1) else {
        return Ok(None);
    };
    if limit == Some(0) {
        return Ok(Some(Value::sequence(Vec::new())));
    }
    let matches = matcher_matches(&matcher, s, limit)?;
    let results = matches
        .iter()
        .map(|m| {
            object_of(vec![
                ("match", Value::string(m.text.as_str())),
                ("index", Value::Number(utf16_offset(s, m.start) as f64)),
                ("groups", groups_value(m)),
            ])
        })
        .collect();
    Ok(Some(Value::sequence(results)))
}

/// Expands `$0`, `$1`, `$$` ... in a replacement string.
fn expand_replacement(replacement: &str, m: &Match) -> String {
    let chars: Vec<char> = replacement.chars().collect();
    let mut out = String::new();
    let mut pos = 0;
    while pos < chars.len() {
        let Some(offset) = chars[pos..].iter().position(|c| *c == '$') else {
            break;
        };
        let index = pos + offset;
        out.extend(&chars[pos..index]);
        pos = index + 1;
        match chars.get(pos) {
            Some('$') => {
                out.push('$');
                pos += 1;
            }
            Some('0') => {
                out.push_str(&m.text);
                pos += 1;
            }
            _ => {
                let group_count = m.groups.len();
                let max_digits = if group_count == 0 {
                    1
                } else {
                    (group_count as f64).log10().floor() as usize + 1
                };
                let parse = |n: usize| -> Option<usize> {
                    let digits: String = chars[pos..]
                        .iter()
                        .take(n)
                        .take_while(|c| c.is_ascii_digit())
                        .collect();
                    digits.parse().ok()
                };
                let mut group = parse(max_digits);
                if max_digits > 1 && group.is_some_and(|g| g > group_count) {
                    group = parse(max_digits - 1);
                }
                match group {
                    Some(g) => {
                        if group_count > 0
                            && g >= 1
                            && let Some(Some(text)) = m.groups.get(g - 1)
                        {
                            out.push_str(text);
                        }
                        pos += g.to_string().len();
                    }
                    None => out.push('$'),
                }
            }
        }
    }
    out.extend(&chars[pos.min(chars.len())..]);
    out
}

fn replace<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(s) = str_arg(&args, 0) else {
        return Ok(None);
    };
    let pattern = arg(&args, 1);
    if pattern.as_ref().and_then(|p| p.as_str()) == Some("") {
        return Err(Failure::new("D3010").index(2).value("\"\""));
    }
    let limit = limit_of(&args, 3, "D3011", 4)?;
    let replacement = arg(&args, 2);
    let (Some(pattern), Some(replacement)) = (pattern, replacement) else {
        return Ok(None);
    };
    if limit == Some(0) {
        return string_result(s);
    }
    if let Some(p) = pattern.as_str() {
        let rep = match replacement.as_str() {
            Some(r) => r.to_string(),
            None => to_string(&replacement, false)?,
        };
        let mut out = String::new();
        let mut rest = s;
        let mut count = 0;
        while let Some(i) = rest.find(p) {
            if limit.is_some_and(|l| count >= l) {
                break;
            }
            out.push_str(&rest[..i]);
            out.push_str(&rep);
            rest = &rest[i + p.len()..];
            count += 1;
        }
        out.push_str(rest);
        return string_result(out);
    }
    let matches = matcher_matches(&pattern, s, limit)?;
    let mut out = String::new();
    let mut position = 0;
    for m in &matches {
        out.push_str(&s[position..m.start]);
        let substitute = match replacement.as_str() {
            Some(r) => expand_replacement(r, m),
            None => {
                let match_obj = object_of(vec![
                    ("match", Value::string(m.text.as_str())),
                    ("start", Value::Number(utf16_offset(s, m.start) as f64)),
                    ("end", Value::Number(utf16_offset(s, m.end) as f64)),
                    ("groups", groups_value(m)),
                ]);
                match ev.call_function(&replacement, vec![Some(match_obj)])? {
                    Some(v) if v.is_string() => v.as_str().unwrap_or_default().to_string(),
                    other => return Err(Failure::new("D3012").value(describe(other.as_ref()))),
                }
            }
        };
        out.push_str(&substitute);
        position = m.end;
    }
    out.push_str(&s[position..]);
    string_result(out)
}
