//! Typed checks on single values, shared by both dialects.

use serde_json::Value;

use super::report::{At, Report};
use super::suggest::closest;
use crate::source::kind;

/// Expects a string.
pub(super) fn string<'v>(r: &mut Report<'_>, at: &At<'v>) -> Option<&'v str> {
    let text = at.value.as_str();
    if text.is_none() {
        r.wrong_type(at, "a string");
    }
    text
}

/// Expects a non-empty string.
pub(super) fn non_empty_string<'v>(r: &mut Report<'_>, at: &At<'v>) -> Option<&'v str> {
    let text = string(r, at)?;
    if text.is_empty() {
        r.error(at, "must not be empty");
        return None;
    }
    Some(text)
}

/// Expects an integer in `min..=max`.
pub(super) fn integer(r: &mut Report<'_>, at: &At<'_>, min: i64, max: i64) -> Option<i64> {
    let expected = match (min, max) {
        (0, i64::MAX) => "a non-negative integer".to_owned(),
        (1, i64::MAX) => "a positive integer".to_owned(),
        _ => format!("an integer from {min} to {max}"),
    };
    let found = match at.value {
        Value::Number(n) => match n.as_i64() {
            Some(v) if (min..=max).contains(&v) => return Some(v),
            Some(v) => v.to_string(),
            None => n.to_string(),
        },
        other => kind(other).to_owned(),
    };
    r.error(at, format!("expected {expected}, found {found}"));
    None
}

/// Expects a number of at least `min` and at most `max`.
pub(super) fn number(r: &mut Report<'_>, at: &At<'_>, min: f64, max: f64) -> Option<f64> {
    let Some(v) = at.value.as_f64() else {
        r.wrong_type(at, "a number");
        return None;
    };
    if v < min || v > max {
        let range = if max == f64::MAX {
            format!("at least {min}")
        } else {
            format!("from {min} to {max}")
        };
        r.error(at, format!("expected a number {range}, found {}", at.value));
        return None;
    }
    Some(v)
}

/// Expects a boolean.
pub(super) fn boolean(r: &mut Report<'_>, at: &At<'_>) -> Option<bool> {
    let value = at.value.as_bool();
    if value.is_none() {
        r.wrong_type(at, "a boolean");
    }
    value
}

/// Expects one of a fixed set of strings, suggesting the closest on a miss.
pub(super) fn one_of<'v>(r: &mut Report<'_>, at: &At<'v>, allowed: &[&str]) -> Option<&'v str> {
    let text = string(r, at)?;
    if allowed.contains(&text) {
        return Some(text);
    }
    let choices = allowed.join(", ");
    let hint = match closest(text, allowed.iter().copied()) {
        Some(near) => format!("did you mean '{near}'? (one of {choices})"),
        None => format!("use one of {choices}"),
    };
    r.error(at, format!("invalid value '{text}'")).hint(hint);
    None
}

/// Expects an object.
pub(super) fn object(r: &mut Report<'_>, at: &At<'_>) -> bool {
    let ok = at.value.is_object();
    if !ok {
        r.wrong_type(at, "an object");
    }
    ok
}

/// Expects an array (non-empty when asked), returning its elements.
pub(super) fn array<'v>(r: &mut Report<'_>, at: &At<'v>, non_empty: bool) -> Option<Vec<At<'v>>> {
    match at.value {
        Value::Array(items) if non_empty && items.is_empty() => {
            r.error(at, "must not be empty");
            None
        }
        Value::Array(_) => Some(at.elements()),
        _ => {
            r.wrong_type(at, "an array");
            None
        }
    }
}

/// Whether `text` is an RFC 3339 timestamp as ASL accepts it: `2016-03-14T01:59:00Z`, with an
/// optional fraction and either `Z` or a numeric offset.
pub(super) fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
            .then(|| text[range].parse::<u32>().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    ) else {
        return false;
    };
    let separators = b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && b.get(10) == Some(&b'T')
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':');
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    if !separators || day == 0 || day > month_days || hour > 23 || minute > 59 || second > 60 {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let count = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if count == 0 {
            return false;
        }
        rest = &fraction[count..];
    }
    match rest.as_bytes() {
        b"Z" => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (*h1 - b'0') * 10 + (*h2 - b'0') < 24
                && (*m1 - b'0') * 10 + (*m2 - b'0') < 60
        }
        _ => false,
    }
}

/// Whether `text` is an identifier: a letter or `_`, then letters, digits or `_`.
pub(super) fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        for ok in [
            "2016-03-14T01:59:00Z",
            "2016-03-14T01:59:00.123Z",
            "2024-02-29T23:59:59+05:30",
            "2016-03-14T01:59:00-00:00",
        ] {
            assert!(is_timestamp(ok), "{ok}");
        }
        for bad in [
            "2016-03-14t01:59:00Z",
            "2016-03-14T01:59:00z",
            "2016-03-14T01:59:00",
            "2023-02-29T00:00:00Z",
            "2016-13-14T01:59:00Z",
            "2016-03-14T24:00:00Z",
            "2016-03-14T01:59:00.Z",
            "2016-03-14 01:59:00Z",
            "2016-03-14T01:59:00+0530",
            "x",
            "",
        ] {
            assert!(!is_timestamp(bad), "{bad}");
        }
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("x"));
        assert!(is_identifier("_a1"));
        assert!(is_identifier("größe"));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier("a.b"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier(""));
    }
}
