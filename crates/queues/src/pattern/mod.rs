//! Content filters: SNS subscription filter policies and EventBridge event patterns, one matcher
//! for both (their semantics coincide where they overlap).
//!
//! A pattern is a JSON object. Each key names a field of the document matched: its value is a
//! list of matchers (the field matches when any of them does; a field holding an array matches
//! when any element does) or, for nested fields, another pattern. Every key must match (AND);
//! `"$or": [PATTERN, ...]` matches when one of its patterns does. Matchers:
//!
//! | matcher | matches |
//! |---|---|
//! | `"text"`, `12.5`, `true`, `null` | that exact value (numbers compared as numbers) |
//! | `{"prefix": "p"}`, `{"suffix": "s"}` | strings starting or ending so (`{"prefix": {"equals-ignore-case": "p"}}` ignores case) |
//! | `{"equals-ignore-case": "t"}` | strings equal to `t` ignoring case |
//! | `{"wildcard": "a*b"}` | strings matching the glob (`*` any run of characters, `\*` a star) |
//! | `{"anything-but": X}` | strings and numbers X does not match: a value, a list of them, or `{"prefix"|"suffix"|"equals-ignore-case"|"wildcard": ...}` |
//! | `{"numeric": [">", 0, "<=", 5]}` | numbers within the bounds (`=`, `<`, `<=`, `>`, `>=`; at most a lower and an upper bound) |
//! | `{"exists": true}` / `{"exists": false}` | a field that is present / absent |
//! | `{"cidr": "10.0.0.0/24"}` | IP addresses (v4 or v6) within the block |
//!
//! A field that is absent matches only `{"exists": false}`.

mod compile;
#[cfg(test)]
mod tests;

pub use compile::PatternError;
use serde_json::Value;
use std::net::IpAddr;

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    fields: Vec<(String, Node)>,
    any_of: Vec<Vec<Pattern>>,
    /// The JSON compiled (kept for the whole pattern only, null for its nested parts).
    source: Value,
}

/// What one field must hold.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    /// Any of these matchers.
    Leaf(Vec<Matcher>),
    /// An object matching this pattern.
    Nested(Pattern),
}

/// One matcher of a field's list.
#[derive(Clone, Debug, PartialEq)]
enum Matcher {
    Exact(Value),
    Prefix { text: String, ignore_case: bool },
    Suffix { text: String, ignore_case: bool },
    EqualsIgnoreCase(String),
    Wildcard(String),
    AnythingBut(Vec<Matcher>),
    Numeric(Vec<(Comparison, f64)>),
    Exists(bool),
    Cidr { network: IpAddr, bits: u8 },
}

/// A numeric comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Comparison {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Where a pattern applies: which extensions it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// An SNS filter policy on message attributes: one level of keys, no nesting.
    FilterPolicyAttributes,
    /// An SNS filter policy on the message body (JSON), nested keys allowed.
    FilterPolicyBody,
    /// An EventBridge event pattern, matched against the event JSON.
    EventPattern,
}

impl Pattern {
    /// Compiles `pattern` written for `dialect`; the error names the place at fault.
    pub fn compile(pattern: &Value, dialect: Dialect) -> Result<Pattern, PatternError> {
        let mut compiled = compile::pattern(pattern, dialect, "", 0)?;
        compiled.source = pattern.clone();
        Ok(compiled)
    }

    /// The JSON the pattern was compiled from.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Whether `document` (a JSON object) matches.
    pub fn matches(&self, document: &Value) -> bool {
        let empty = serde_json::Map::new();
        let object = document.as_object().unwrap_or(&empty);
        self.fields
            .iter()
            .all(|(key, node)| node.matches(object.get(key)))
            && self
                .any_of
                .iter()
                .all(|patterns| patterns.iter().any(|p| p.matches(document)))
    }
}

impl Node {
    fn matches(&self, value: Option<&Value>) -> bool {
        match (self, value) {
            (Node::Nested(p), Some(Value::Array(items))) => items.iter().any(|i| p.matches(i)),
            (Node::Nested(p), Some(v)) => p.matches(v),
            (Node::Nested(p), None) => p.matches(&Value::Null),
            (Node::Leaf(ms), None) => ms.contains(&Matcher::Exists(false)),
            (Node::Leaf(ms), Some(v)) => ms.iter().any(|m| m.matches_present(v)),
        }
    }
}

impl Matcher {
    /// Whether a present value matches: an array when any element does.
    fn matches_present(&self, value: &Value) -> bool {
        match (self, value) {
            (Matcher::Exists(present), _) => *present,
            (_, Value::Array(items)) => items.iter().any(|i| self.matches_one(i)),
            _ => self.matches_one(value),
        }
    }

    fn matches_one(&self, value: &Value) -> bool {
        match self {
            Matcher::Exact(Value::Number(n)) => same_number(n.as_f64(), value),
            Matcher::Exact(exact) => exact == value,
            Matcher::Prefix { text, ignore_case } => string(value).is_some_and(|s| {
                if *ignore_case {
                    s.to_lowercase().starts_with(&text.to_lowercase())
                } else {
                    s.starts_with(text.as_str())
                }
            }),
            Matcher::Suffix { text, ignore_case } => string(value).is_some_and(|s| {
                if *ignore_case {
                    s.to_lowercase().ends_with(&text.to_lowercase())
                } else {
                    s.ends_with(text.as_str())
                }
            }),
            Matcher::EqualsIgnoreCase(text) => {
                string(value).is_some_and(|s| s.to_lowercase() == text.to_lowercase())
            }
            Matcher::Wildcard(glob) => string(value).is_some_and(|s| wildcard(glob, s)),
            Matcher::AnythingBut(excluded) => {
                (value.is_string() || value.is_number())
                    && !excluded.iter().any(|m| m.matches_one(value))
            }
            Matcher::Numeric(bounds) => value.as_f64().is_some_and(|n| {
                bounds.iter().all(|(op, bound)| match op {
                    Comparison::Eq => n == *bound,
                    Comparison::Lt => n < *bound,
                    Comparison::Le => n <= *bound,
                    Comparison::Gt => n > *bound,
                    Comparison::Ge => n >= *bound,
                })
            }),
            Matcher::Exists(present) => *present,
            Matcher::Cidr { network, bits } => string(value)
                .and_then(|s| s.parse::<IpAddr>().ok())
                .is_some_and(|ip| within(ip, *network, *bits)),
        }
    }
}

fn string(value: &Value) -> Option<&str> {
    value.as_str()
}

fn same_number(exact: Option<f64>, value: &Value) -> bool {
    matches!((exact, value.as_f64()), (Some(a), Some(b)) if a == b)
}

/// Whether `ip` lies in the block `network/bits` (of the same family).
fn within(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    let (ip, network, width) = match (ip, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(a) as u128, u32::from(n) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(a), u128::from(n), 128),
        _ => return false,
    };
    let shift = width - u32::from(bits);
    if shift >= width {
        return true;
    }
    (ip >> shift) == (network >> shift)
}

/// Whether `text` matches the glob: `*` any run of characters, `\*` a literal star.
fn wildcard(glob: &str, text: &str) -> bool {
    let mut tokens = Vec::new();
    let mut chars = glob.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => tokens.push(Some(chars.next().unwrap_or('\\'))),
            '*' => tokens.push(None),
            c => tokens.push(Some(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    let (mut t, mut p) = (0, 0);
    // Where the last star was, and the text position it last stood for.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Some(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(None) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(Option::is_none)
}
