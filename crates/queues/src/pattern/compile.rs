//! Reading a pattern's JSON into a [`Pattern`], refusing what AWS refuses with the place at
//! fault.

use super::{Comparison, Dialect, Matcher, Node, Pattern};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// The deepest nesting of keys a pattern may have.
const MAX_DEPTH: usize = 16;

/// A pattern that cannot be compiled: where (a path of keys such as `detail.amount[0]`) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("at {path}: ") })]
pub struct PatternError {
    /// The place at fault, empty for the whole pattern.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

fn fail<T>(path: &str, message: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError {
        path: path.to_string(),
        message: message.into(),
    })
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Compiles the pattern object at `path`.
pub(super) fn pattern(
    value: &Value,
    dialect: Dialect,
    path: &str,
    depth: usize,
) -> Result<Pattern, PatternError> {
    let Some(object) = value.as_object() else {
        return fail(path, "a pattern must be a JSON object of field names");
    };
    if depth > MAX_DEPTH {
        return fail(path, format!("patterns nest at most {MAX_DEPTH} levels"));
    }
    let mut compiled = Pattern {
        fields: Vec::new(),
        any_of: Vec::new(),
        source: Value::Null,
    };
    for (key, v) in object {
        let at = join(path, key);
        if key == "$or" {
            let Some(options) = v.as_array().filter(|a| !a.is_empty()) else {
                return fail(&at, "$or takes a non-empty list of patterns");
            };
            let options = options
                .iter()
                .enumerate()
                .map(|(i, o)| pattern(o, dialect, &format!("{at}[{i}]"), depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            compiled.any_of.push(options);
            continue;
        }
        let node = match v {
            Value::Array(items) => Node::Leaf(leaf(items, &at)?),
            Value::Object(_) if dialect == Dialect::FilterPolicyAttributes => {
                return fail(
                    &at,
                    "a filter policy on message attributes cannot nest keys (use filter_policy_scope: MessageBody)",
                );
            }
            Value::Object(_) => Node::Nested(pattern(v, dialect, &at, depth + 1)?),
            _ => return fail(&at, "a field takes a list of matchers, such as [\"value\"]"),
        };
        compiled.fields.push((key.clone(), node));
    }
    Ok(compiled)
}

/// The matchers of one field's list.
fn leaf(items: &[Value], path: &str) -> Result<Vec<Matcher>, PatternError> {
    if items.is_empty() {
        return fail(path, "the list of matchers is empty");
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| matcher(item, &format!("{path}[{i}]")))
        .collect()
}

fn matcher(item: &Value, path: &str) -> Result<Matcher, PatternError> {
    let object = match item {
        Value::Object(o) => o,
        Value::Array(_) => return fail(path, "a matcher cannot be a list"),
        exact => return Ok(Matcher::Exact(exact.clone())),
    };
    let (name, arg) = single(object, path)?;
    let at = join(path, name);
    match name {
        "prefix" => {
            let (text, ignore_case) = affix(arg, &at)?;
            Ok(Matcher::Prefix { text, ignore_case })
        }
        "suffix" => {
            let (text, ignore_case) = affix(arg, &at)?;
            Ok(Matcher::Suffix { text, ignore_case })
        }
        "equals-ignore-case" => Ok(Matcher::EqualsIgnoreCase(text(arg, &at)?)),
        "wildcard" => Ok(Matcher::Wildcard(text(arg, &at)?)),
        "anything-but" => anything_but(arg, &at),
        "numeric" => numeric(arg, &at),
        "exists" => match arg {
            Value::Bool(b) => Ok(Matcher::Exists(*b)),
            _ => fail(&at, "exists takes true or false"),
        },
        "cidr" => cidr(arg, &at),
        other => fail(
            path,
            format!(
                "unknown matcher '{other}' (prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists, cidr)"
            ),
        ),
    }
}

/// The one key of a matcher object.
fn single<'a>(
    object: &'a Map<String, Value>,
    path: &str,
) -> Result<(&'a str, &'a Value), PatternError> {
    let mut entries = object.iter();
    match (entries.next(), entries.next()) {
        (Some((k, v)), None) => Ok((k.as_str(), v)),
        _ => fail(
            path,
            "a matcher object has exactly one key, such as {\"prefix\": \"a\"}",
        ),
    }
}

fn text(arg: &Value, path: &str) -> Result<String, PatternError> {
    match arg {
        Value::String(s) => Ok(s.clone()),
        _ => fail(path, "takes a string"),
    }
}

/// The argument of `prefix`/`suffix`: a string, or `{"equals-ignore-case": string}`.
fn affix(arg: &Value, path: &str) -> Result<(String, bool), PatternError> {
    match arg {
        Value::String(s) => Ok((s.clone(), false)),
        Value::Object(o) => match single(o, path)? {
            ("equals-ignore-case", v) => Ok((text(v, &join(path, "equals-ignore-case"))?, true)),
            _ => fail(path, "takes a string or {\"equals-ignore-case\": string}"),
        },
        _ => fail(path, "takes a string or {\"equals-ignore-case\": string}"),
    }
}

/// `anything-but`: a string or number, a list of them, or one of prefix, suffix,
/// equals-ignore-case and wildcard (with a string or a list of strings).
fn anything_but(arg: &Value, path: &str) -> Result<Matcher, PatternError> {
    let scalar = |v: &Value, at: &str| match v {
        Value::String(_) | Value::Number(_) => Ok(Matcher::Exact(v.clone())),
        _ => fail(at, "anything-but takes strings and numbers"),
    };
    let excluded = match arg {
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| scalar(v, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()?,
        Value::Array(_) => return fail(path, "the list is empty"),
        Value::Object(o) => {
            let (name, inner) = single(o, path)?;
            let at = join(path, name);
            let texts = match inner {
                Value::Array(items) if !items.is_empty() => items
                    .iter()
                    .map(|v| text(v, &at))
                    .collect::<Result<Vec<_>, _>>()?,
                v => vec![text(v, &at)?],
            };
            texts
                .into_iter()
                .map(|t| match name {
                    "prefix" => Ok(Matcher::Prefix {
                        text: t,
                        ignore_case: false,
                    }),
                    "suffix" => Ok(Matcher::Suffix {
                        text: t,
                        ignore_case: false,
                    }),
                    "equals-ignore-case" => Ok(Matcher::EqualsIgnoreCase(t)),
                    "wildcard" => Ok(Matcher::Wildcard(t)),
                    _ => fail(
                        path,
                        "anything-but takes a value, a list, or prefix, suffix, equals-ignore-case or wildcard",
                    ),
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        v => vec![scalar(v, path)?],
    };
    Ok(Matcher::AnythingBut(excluded))
}

/// `numeric`: `["=", n]`, or up to a lower and an upper bound (`[">", 0, "<=", 5]`).
fn numeric(arg: &Value, path: &str) -> Result<Matcher, PatternError> {
    let Some(items) = arg.as_array().filter(|a| !a.is_empty() && a.len() % 2 == 0) else {
        return fail(
            path,
            "numeric takes operator and number pairs, such as [\">\", 0, \"<=\", 5]",
        );
    };
    let mut bounds = Vec::new();
    for pair in items.chunks(2) {
        let op = match pair[0].as_str() {
            Some("=") => Comparison::Eq,
            Some("<") => Comparison::Lt,
            Some("<=") => Comparison::Le,
            Some(">") => Comparison::Gt,
            Some(">=") => Comparison::Ge,
            _ => {
                return fail(
                    path,
                    format!("{} is not an operator (=, <, <=, >, >=)", pair[0]),
                );
            }
        };
        let Some(n) = pair[1].as_f64() else {
            return fail(path, format!("{} is not a number", pair[1]));
        };
        bounds.push((op, n));
    }
    let lower = |op: &Comparison| matches!(op, Comparison::Gt | Comparison::Ge);
    let upper = |op: &Comparison| matches!(op, Comparison::Lt | Comparison::Le);
    let ranged = match bounds.as_slice() {
        [_] => true,
        [(a, _), (b, _)] => (lower(a) && upper(b)) || (upper(a) && lower(b)),
        _ => false,
    };
    if !ranged {
        return fail(
            path,
            "numeric takes one comparison, or a lower and an upper bound",
        );
    }
    Ok(Matcher::Numeric(bounds))
}

/// `cidr`: `ADDRESS/BITS`.
fn cidr(arg: &Value, path: &str) -> Result<Matcher, PatternError> {
    let block = text(arg, path)?;
    let parsed = block.split_once('/').and_then(|(ip, bits)| {
        let network: IpAddr = ip.parse().ok()?;
        let bits: u8 = bits.parse().ok()?;
        let width = if network.is_ipv4() { 32 } else { 128 };
        (bits <= width).then_some((network, bits))
    });
    match parsed {
        Some((network, bits)) => Ok(Matcher::Cidr { network, bits }),
        None => fail(
            path,
            format!("'{block}' is not a CIDR block such as 10.0.0.0/24"),
        ),
    }
}
