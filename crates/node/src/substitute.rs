//! Definition substitutions, as SAM's `DefinitionSubstitutions` apply them: each `${Name}` in a
//! string value of a definition is replaced by the flow's value for `Name` before the definition
//! is compiled.
//!
//! Only strings are touched, and the result is always a string (`"${Timeout}"` becomes `"30"`).
//! `${!Name}` is written as `${Name}`, unreplaced. A placeholder without a value is refused with
//! its place in the file. A JSON definition is rewritten in place, so positions in later
//! diagnostics stay on the same lines; a YAML one is rewritten as JSON.

use serde_json::Value;
use sluice_lang::diagnostic::{Diagnostic, Position};
use sluice_lang::source::{Document, join_pointer};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The definition text with its placeholders replaced, or a diagnostic for each placeholder
/// without a value.
pub fn substitute<'t>(
    file: &str,
    text: &'t str,
    values: &BTreeMap<String, String>,
) -> Result<Cow<'t, str>, Vec<Diagnostic>> {
    if !text.contains("${") {
        return Ok(Cow::Borrowed(text));
    }
    let missing = |name: &str| {
        let declared: Vec<&str> = values.keys().map(String::as_str).collect();
        let hint = match declared.is_empty() {
            true => "give it a value under the flow's substitutions: in sluice.yaml".to_string(),
            false => format!("substitutions of this flow: {}", declared.join(", ")),
        };
        (format!("no substitution for ${{{name}}}"), hint)
    };
    if text.trim_start().starts_with('{') && file.ends_with(".json") {
        return in_json(file, text, values, &missing).map(Cow::Owned);
    }
    let Ok(doc) = Document::parse(file, text) else {
        // Not readable: compiling it reports why.
        return Ok(Cow::Borrowed(text));
    };
    let mut value = doc.value.clone();
    let mut problems = Vec::new();
    walk(&mut value, "", &mut |pointer, s| {
        let (replaced, names) = replace(s, values, |v| v.to_string());
        for name in names {
            let (message, hint) = missing(&name);
            problems.push(doc.diagnostic(pointer, message).with_hint(hint));
        }
        replaced
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Cow::Owned(
        serde_json::to_string_pretty(&value).unwrap_or_default(),
    ))
}

/// Replaces placeholders inside the string literals of JSON text, leaving everything else as
/// written.
fn in_json(
    file: &str,
    text: &str,
    values: &BTreeMap<String, String>,
    missing: &dyn Fn(&str) -> (String, String),
) -> Result<String, Vec<Diagnostic>> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < bytes.len() && bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        let end = end.min(bytes.len());
        let literal = &text[i + 1..end];
        let (replaced, names) = replace(literal, values, |v| {
            let quoted = serde_json::to_string(v).unwrap_or_default();
            quoted[1..quoted.len() - 1].to_string()
        });
        for name in names {
            let (message, hint) = missing(&name);
            problems.push(
                Diagnostic::new(file, "", message)
                    .at(Some(position(text, i)))
                    .with_hint(hint),
            );
        }
        out.push_str(&text[copied..=i]);
        out.push_str(&replaced);
        copied = end;
        i = end + 1;
    }
    out.push_str(&text[copied.min(text.len())..]);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Line and column of a byte offset.
fn position(text: &str, offset: usize) -> Position {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Position::new(
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Calls `f` on every string of `value` (with its pointer) and stores what it returns.
fn walk(value: &mut Value, pointer: &str, f: &mut dyn FnMut(&str, &str) -> String) {
    match value {
        Value::String(s) => *s = f(pointer, s),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &join_pointer(pointer, &i.to_string()), f);
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                walk(item, &join_pointer(pointer, key), f);
            }
        }
        _ => {}
    }
}

/// `s` with each `${Name}` replaced by its value (written by `write`), and the names that have
/// none.
fn replace(
    s: &str,
    values: &BTreeMap<String, String>,
    write: impl Fn(&str) -> String,
) -> (String, Vec<String>) {
    let mut out = String::with_capacity(s.len());
    let mut missing = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return (out, missing);
        };
        let name = &after[..end];
        let is_name = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'))
        };
        match name.strip_prefix('!') {
            Some(literal) if is_name(literal) => {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            }
            _ if is_name(name) => match values.get(name) {
                Some(v) => out.push_str(&write(v)),
                None => missing.push(name.to_string()),
            },
            _ => out.push_str(&rest[start..start + 2 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    (out, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> BTreeMap<String, String> {
        [
            ("Arn", "arn:aws:lambda:us-east-1:1:function:f"),
            ("Quote", "say \"hi\""),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .into()
    }

    #[test]
    fn placeholders_in_json_strings_are_replaced_in_place() {
        let text =
            "{\n  \"Resource\": \"${Arn}\",\n  \"Comment\": \"${Quote} ${!Keep}\", \"N\": 5\n}";
        let out = substitute("f.json", text, &values()).unwrap();
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["Resource"], "arn:aws:lambda:us-east-1:1:function:f");
        assert_eq!(value["Comment"], "say \"hi\" ${Keep}");
        assert_eq!(out.lines().count(), text.lines().count());
    }

    #[test]
    fn a_placeholder_without_a_value_is_placed_in_the_file() {
        let text = "{\n  \"A\": \"${Arn}\",\n  \"B\": \"x-${Table}\"\n}";
        let errors = substitute("f.json", text, &values()).unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "f.json:3:8: no substitution for ${Table}\n  hint: substitutions of this flow: Arn, Quote"
        );
        let yaml =
            "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Comment: ${Nope}\n    End: true\n";
        let errors = substitute("f.yaml", yaml, &values()).unwrap_err();
        assert!(
            errors[0].to_string().starts_with("f.yaml:5:5: "),
            "{}",
            errors[0]
        );
        let yaml = yaml.replace("Nope", "Arn");
        let out = substitute("f.yaml", &yaml, &values()).unwrap();
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            value["States"]["A"]["Comment"],
            "arn:aws:lambda:us-east-1:1:function:f"
        );
    }
}
