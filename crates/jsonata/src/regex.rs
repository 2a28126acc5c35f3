//! Regular expression literals: translation of JavaScript syntax to the `regex` crate and the
//! match iteration JSONata performs (including its zero-length-match check).

use regex::Regex;

use crate::error::{Failure, Res};

/// A compiled `/pattern/flags` literal.
#[derive(Clone, Debug)]
pub(crate) struct RegexLit {
    pub source: String,
    pub flags: String,
    pub regex: Regex,
}

impl RegexLit {
    /// Compiles a JavaScript-style pattern with `i`/`m` flags.
    pub fn compile(pattern: &str, flags: &str) -> Res<RegexLit> {
        let mut prefix = String::new();
        if flags.contains('i') || flags.contains('m') {
            prefix.push_str("(?");
            if flags.contains('i') {
                prefix.push('i');
            }
            if flags.contains('m') {
                prefix.push('m');
            }
            prefix.push(')');
        }
        let translated = format!("{prefix}{}", translate(pattern));
        let regex = Regex::new(&translated).map_err(|e| {
            let detail = e.to_string();
            let last = detail.lines().last().unwrap_or_default().trim().to_string();
            Failure::new("S0303").message(format!(
                "Invalid regular expression /{pattern}/: {}",
                last.trim_start_matches("error: ")
            ))
        })?;
        Ok(RegexLit {
            source: pattern.to_string(),
            flags: flags.to_string(),
            regex,
        })
    }
}

/// Rewrites the JavaScript constructs the `regex` crate reads differently.
fn translate(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                let e = chars[i + 1];
                i += 2;
                match (e, in_class) {
                    ('d', false) => out.push_str("[0-9]"),
                    ('d', true) => out.push_str("0-9"),
                    ('D', false) => out.push_str("[^0-9]"),
                    ('w', false) => out.push_str("[0-9A-Za-z_]"),
                    ('w', true) => out.push_str("0-9A-Za-z_"),
                    ('W', false) => out.push_str("[^0-9A-Za-z_]"),
                    ('b', false) => out.push_str("(?-u:\\b)"),
                    ('B', false) => out.push_str("(?-u:\\B)"),
                    ('0', _) => out.push_str("\\x00"),
                    ('/', _) => out.push('/'),
                    ('c', _) if i < chars.len() && chars[i].is_ascii_alphabetic() => {
                        out.push_str(&format!("\\x{:02X}", (chars[i] as u32) % 32));
                        i += 1;
                    }
                    ('u', _)
                        if i + 4 <= chars.len()
                            && chars[i..i + 4].iter().all(|h| h.is_ascii_hexdigit()) =>
                    {
                        out.push_str("\\u{");
                        out.extend(&chars[i..i + 4]);
                        out.push('}');
                        i += 4;
                    }
                    (e, _) if e.is_ascii_alphanumeric() => {
                        out.push('\\');
                        out.push(e);
                    }
                    (e, _) => {
                        // Escaped punctuation is a literal character in JavaScript.
                        out.push_str(&regex::escape(&e.to_string()));
                    }
                }
                continue;
            }
            '[' if !in_class => {
                if chars.get(i + 1) == Some(&']') {
                    // `[]` matches nothing in JavaScript.
                    out.push_str("[^\\s\\S]");
                    i += 2;
                    continue;
                }
                if chars.get(i + 1) == Some(&'^') && chars.get(i + 2) == Some(&']') {
                    // `[^]` matches anything.
                    out.push_str("[\\s\\S]");
                    i += 3;
                    continue;
                }
                in_class = true;
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
            }
            '[' if in_class => out.push_str("\\["),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '{' if !in_class && !is_quantifier(&chars[i..]) => out.push_str("\\{"),
            '}' if !in_class => {
                if closes_quantifier(&chars[..i]) {
                    out.push('}');
                } else {
                    out.push_str("\\}");
                }
            }
            '&' | '~' | '-' if in_class && chars.get(i + 1) == Some(&c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn is_quantifier(rest: &[char]) -> bool {
    let s: String = rest.iter().take_while(|c| **c != '}').collect();
    if rest.len() <= s.len() {
        return false;
    }
    let body = &s[1..];
    let mut parts = body.splitn(2, ',');
    let min = parts.next().unwrap_or_default();
    let max = parts.next();
    !min.is_empty()
        && min.chars().all(|c| c.is_ascii_digit())
        && max.is_none_or(|m| m.chars().all(|c| c.is_ascii_digit()))
}

fn closes_quantifier(before: &[char]) -> bool {
    match before.iter().rposition(|c| *c == '{') {
        Some(open) => is_quantifier(
            &before[open..]
                .iter()
                .copied()
                .chain(['}'])
                .collect::<Vec<_>>(),
        ),
        None => false,
    }
}

/// One match, with offsets in bytes of the subject string.
#[derive(Clone, Debug)]
pub(crate) struct Match {
    pub text: String,
    pub start: usize,
    pub end: usize,
    pub groups: Vec<Option<String>>,
}

/// All matches JSONata's matcher loop yields, up to `limit`. A zero-length match after the
/// first one is error `D1004`, as in the reference implementation.
pub(crate) fn find_all(re: &Regex, s: &str, limit: Option<usize>) -> Res<Vec<Match>> {
    let mut out = Vec::new();
    let mut from = 0usize;
    loop {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        if !out.is_empty() && from >= s.len() {
            break;
        }
        let Some(caps) = re.captures_at(s, from) else {
            break;
        };
        let whole = caps.get(0).expect("group 0 always participates");
        if !out.is_empty() && whole.as_str().is_empty() {
            return Err(Failure::new("D1004"));
        }
        out.push(Match {
            text: whole.as_str().to_string(),
            start: whole.start(),
            end: whole.end(),
            groups: caps
                .iter()
                .skip(1)
                .map(|g| g.map(|m| m.as_str().to_string()))
                .collect(),
        });
        from = whole.end();
    }
    Ok(out)
}

/// Converts a byte offset into a UTF-16 offset (JavaScript string index).
pub(crate) fn utf16_offset(s: &str, byte: usize) -> usize {
    s[..byte].chars().map(char::len_utf16).sum()
}
