//! Choice states: rules, comparison operators and their value types.

use serde_json::Value;

use super::super::report::{At, Report};
use super::super::values;
use super::data;
use super::states::timestamp;
use super::{Ql, StateCx};

/// What a comparison operator compares against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Operand {
    String,
    Numeric,
    Boolean,
    Timestamp,
    /// `Is*` type tests take `true` or `false`.
    TypeTest,
    /// `...Path` operators take a path to the value to compare with.
    Path,
}

const STRING_OPS: &[&str] = &[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
];
const NUMERIC_OPS: &[&str] = &[
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
];
const TIMESTAMP_OPS: &[&str] = &[
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
];
const TYPE_TESTS: &[&str] = &[
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
];
const COMBINATORS: &[&str] = &["And", "Or", "Not"];

/// The operand kind of a comparison operator, or `None` when `name` is not one.
fn operand(name: &str) -> Option<Operand> {
    if let Some(stem) = name.strip_suffix("Path")
        && (STRING_OPS.contains(&stem)
            || NUMERIC_OPS.contains(&stem)
            || TIMESTAMP_OPS.contains(&stem)
            || stem == "BooleanEquals")
    {
        return Some(Operand::Path);
    }
    if STRING_OPS.contains(&name) || name == "StringMatches" {
        Some(Operand::String)
    } else if NUMERIC_OPS.contains(&name) {
        Some(Operand::Numeric)
    } else if name == "BooleanEquals" {
        Some(Operand::Boolean)
    } else if TIMESTAMP_OPS.contains(&name) {
        Some(Operand::Timestamp)
    } else if TYPE_TESTS.contains(&name) {
        Some(Operand::TypeTest)
    } else {
        None
    }
}

/// Every comparison operator name, for suggestions.
fn operator_names() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for family in [STRING_OPS, NUMERIC_OPS, TIMESTAMP_OPS, &["BooleanEquals"]] {
        for op in family {
            names.push((*op).to_owned());
            names.push(format!("{op}Path"));
        }
    }
    names.push("StringMatches".to_owned());
    names.extend(TYPE_TESTS.iter().map(|op| (*op).to_owned()));
    names
}

/// Checks a Choice state's `Choices` and `Default`.
pub(super) fn choice(r: &mut Report<'_>, cx: &mut StateCx<'_, '_>) {
    match cx.field("Choices") {
        None => r.missing(
            &cx.at,
            "Choices",
            "a Choice state needs Choices, a non-empty array of rules",
        ),
        Some(at) => {
            for rule in values::array(r, &at, true).unwrap_or_default() {
                match cx.ql {
                    Ql::JsonPath => jsonpath_rule(r, cx, &rule, true),
                    Ql::Jsonata => jsonata_rule(r, cx, &rule),
                }
            }
        }
    }
    if let Some(at) = cx.field("Default") {
        cx.target(r, &at);
    }
}

/// A JSONata rule: `Condition`, `Next`, optional `Assign`/`Output`.
fn jsonata_rule<'v>(r: &mut Report<'_>, cx: &mut StateCx<'_, 'v>, rule: &At<'v>) {
    if !values::object(r, rule) {
        return;
    }
    let allowed = ["Condition", "Next", "Assign", "Output", "Comment"];
    r.unknown_fields(rule, &allowed, &|field| {
        (field == "Variable" || COMBINATORS.contains(&field) || operand(field).is_some()).then(
            || {
                (
                    "not allowed in a JSONata Choice rule".to_owned(),
                    Some(
                        "JSONata rules test a Condition such as \"{% $states.input.n > 1 %}\""
                            .to_owned(),
                    ),
                )
            },
        )
    });
    match rule.get("Condition") {
        None => r.missing(
            rule,
            "Condition",
            "a JSONata Choice rule needs Condition, true, false or \"{% ... %}\"",
        ),
        Some(at) => match at.value {
            Value::Bool(_) => {}
            Value::String(text) if text.starts_with("{%") => data::jsonata_value(r, &at),
            _ => {
                r.error(
                    &at,
                    "expected a boolean or a JSONata expression \"{% ... %}\"",
                );
            }
        },
    }
    rule_tail(r, cx, rule, Ql::Jsonata);
    if let Some(at) = rule.get("Output") {
        data::jsonata_value(r, &at);
    }
}

/// `Next` (required) and `Assign` on a top-level rule.
fn rule_tail<'v>(r: &mut Report<'_>, cx: &mut StateCx<'_, 'v>, rule: &At<'v>, ql: Ql) {
    match rule.get("Next") {
        None => r.missing(
            rule,
            "Next",
            "each top-level Choice rule needs Next, the state to go to when it matches",
        ),
        Some(at) => cx.target(r, &at),
    }
    if let Some(at) = rule.get("Assign") {
        data::assign(r, &at, ql);
    }
    if let Some(at) = rule.get("Comment") {
        values::string(r, &at);
    }
}

/// A JSONPath rule: a comparison with `Variable`, or `And`/`Or`/`Not`.
fn jsonpath_rule<'v>(r: &mut Report<'_>, cx: &mut StateCx<'_, 'v>, rule: &At<'v>, top_level: bool) {
    if !values::object(r, rule) {
        return;
    }
    let names = operator_names();
    let mut allowed: Vec<&str> = names.iter().map(String::as_str).collect();
    allowed.extend(["Variable", "And", "Or", "Not", "Comment"]);
    if top_level {
        allowed.extend(["Next", "Assign"]);
    }
    r.unknown_fields(rule, &allowed, &|field| match field {
        "Next" | "Assign" => Some((
            "only allowed on a top-level Choice rule".to_owned(),
            Some(
                "rules nested in And, Or or Not only test; the enclosing rule decides where to go"
                    .to_owned(),
            ),
        )),
        "Condition" | "Output" => Some((
            "not allowed in a JSONPath Choice rule".to_owned(),
            Some(
                "set \"QueryLanguage\": \"JSONata\" on the state to use Condition and Output"
                    .to_owned(),
            ),
        )),
        _ => None,
    });
    let operators: Vec<(&str, At<'_>)> = rule
        .members()
        .into_iter()
        .filter(|(key, _)| operand(key).is_some() || COMBINATORS.contains(key))
        .collect();
    match operators.as_slice() {
        [] => {
            r.error(rule, "a Choice rule needs a comparison operator with Variable, or And, Or or Not")
                .hint("for example {\"Variable\": \"$.status\", \"StringEquals\": \"done\", \"Next\": \"Done\"}");
        }
        [(op, at)] => operator(r, cx, rule, op, at),
        [(first, _), rest @ ..] => {
            for (op, at) in rest {
                r.error(
                    at,
                    format!("a Choice rule can have only one operator, found {first} and {op}"),
                )
                .hint("combine several tests with And or Or");
            }
        }
    }
    if top_level {
        rule_tail(r, cx, rule, Ql::JsonPath);
    }
}

/// Checks the single operator of a JSONPath rule and, for comparisons, its `Variable`.
fn operator<'v>(
    r: &mut Report<'_>,
    cx: &mut StateCx<'_, 'v>,
    rule: &At<'v>,
    op: &str,
    at: &At<'v>,
) {
    let Some(kind) = operand(op) else {
        if let Some(variable) = rule.get("Variable") {
            r.error(&variable, format!("Variable is not used with {op}"))
                .hint(format!("put Variable in the rules inside {op}"));
        }
        if op == "Not" {
            jsonpath_rule(r, cx, at, false);
        } else {
            for nested in values::array(r, at, true).unwrap_or_default() {
                jsonpath_rule(r, cx, &nested, false);
            }
        }
        return;
    };
    match rule.get("Variable") {
        None => r.missing(
            rule,
            "Variable",
            &format!("{op} compares the value at Variable, e.g. \"$.field\""),
        ),
        Some(variable) => data::path(r, &variable, false),
    }
    match kind {
        Operand::String => {
            values::string(r, at);
        }
        Operand::Numeric => {
            if !at.value.is_number() {
                r.wrong_type(at, "a number");
            }
        }
        Operand::Boolean | Operand::TypeTest => {
            values::boolean(r, at);
        }
        Operand::Timestamp => timestamp(r, at),
        Operand::Path => data::path(r, at, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_operators() {
        assert!(matches!(operand("StringEquals"), Some(Operand::String)));
        assert!(matches!(operand("StringMatches"), Some(Operand::String)));
        assert!(operand("StringMatchesPath").is_none());
        assert!(matches!(
            operand("NumericLessThanEqualsPath"),
            Some(Operand::Path)
        ));
        assert!(matches!(operand("BooleanEquals"), Some(Operand::Boolean)));
        assert!(matches!(operand("BooleanEqualsPath"), Some(Operand::Path)));
        assert!(matches!(operand("IsPresent"), Some(Operand::TypeTest)));
        assert!(operand("IsPresentPath").is_none());
        assert!(operand("And").is_none());
        assert_eq!(operator_names().len(), 16 * 2 + 1 + 6);
    }
}
