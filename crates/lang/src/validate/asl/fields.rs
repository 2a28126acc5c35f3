//! Which fields each state type accepts in each query language.

use super::super::report::Explanation;
use super::Ql;

/// The eight state types, as written in `Type`.
pub(super) const TYPE_NAMES: &[&str] = &[
    "Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map",
];

/// A state type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StateType {
    Pass,
    Task,
    Choice,
    Wait,
    Succeed,
    Fail,
    Parallel,
    Map,
}

const ALL_TYPES: [StateType; 8] = [
    StateType::Pass,
    StateType::Task,
    StateType::Choice,
    StateType::Wait,
    StateType::Succeed,
    StateType::Fail,
    StateType::Parallel,
    StateType::Map,
];

impl StateType {
    pub fn parse(text: &str) -> Option<Self> {
        ALL_TYPES.into_iter().find(|ty| ty.name() == text)
    }

    pub fn name(self) -> &'static str {
        match self {
            StateType::Pass => "Pass",
            StateType::Task => "Task",
            StateType::Choice => "Choice",
            StateType::Wait => "Wait",
            StateType::Succeed => "Succeed",
            StateType::Fail => "Fail",
            StateType::Parallel => "Parallel",
            StateType::Map => "Map",
        }
    }

    /// Whether the state needs exactly one of `Next`/`End`.
    pub fn transitions(self) -> bool {
        !matches!(
            self,
            StateType::Choice | StateType::Succeed | StateType::Fail
        )
    }
}

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
const NEXT_END: &[&str] = &["Next", "End"];
const IO_PATHS: &[&str] = &["InputPath", "OutputPath"];
const RESULT: &[&str] = &["Parameters", "ResultSelector", "ResultPath"];
const ERRORS: &[&str] = &["Retry", "Catch"];
const TASK: &[&str] = &[
    "Resource",
    "Credentials",
    "TimeoutSeconds",
    "TimeoutSecondsPath",
    "HeartbeatSeconds",
    "HeartbeatSecondsPath",
];
const MAP: &[&str] = &[
    "ItemProcessor",
    "Iterator",
    "ItemsPath",
    "Items",
    "ItemReader",
    "ItemSelector",
    "ItemBatcher",
    "ResultWriter",
    "MaxConcurrency",
    "MaxConcurrencyPath",
    "ToleratedFailurePercentage",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCount",
    "ToleratedFailureCountPath",
    "Label",
];
const WAIT: &[&str] = &["Seconds", "Timestamp", "SecondsPath", "TimestampPath"];

/// Fields that exist only in JSONPath states.
const JSONPATH_ONLY: &[&str] = &[
    "InputPath",
    "OutputPath",
    "Parameters",
    "ResultSelector",
    "ResultPath",
    "Result",
    "TimeoutSecondsPath",
    "HeartbeatSecondsPath",
    "SecondsPath",
    "TimestampPath",
    "ErrorPath",
    "CausePath",
    "ItemsPath",
    "MaxConcurrencyPath",
    "ToleratedFailurePercentagePath",
    "ToleratedFailureCountPath",
];

/// Fields that exist only in JSONata states.
const JSONATA_ONLY: &[&str] = &["Arguments", "Output", "Items"];

/// Every field a state of `ty` may carry in `ql`.
pub(super) fn allowed(ty: StateType, ql: Ql) -> Vec<&'static str> {
    let mut fields: Vec<&'static str> = COMMON.to_vec();
    let parts: &[&[&str]] = match ty {
        StateType::Pass => &[
            NEXT_END,
            IO_PATHS,
            &["Parameters", "ResultPath", "Result", "Assign", "Output"],
        ],
        StateType::Task => &[
            NEXT_END,
            IO_PATHS,
            RESULT,
            ERRORS,
            TASK,
            &["Assign", "Arguments", "Output"],
        ],
        StateType::Choice => &[IO_PATHS, &["Choices", "Default", "Assign", "Output"]],
        StateType::Wait => &[NEXT_END, IO_PATHS, WAIT, &["Assign", "Output"]],
        StateType::Succeed => &[IO_PATHS, &["Output"]],
        StateType::Fail => &[&["Error", "ErrorPath", "Cause", "CausePath"]],
        StateType::Parallel => &[
            NEXT_END,
            IO_PATHS,
            RESULT,
            ERRORS,
            &["Branches", "Assign", "Arguments", "Output"],
        ],
        StateType::Map => &[
            NEXT_END,
            IO_PATHS,
            RESULT,
            ERRORS,
            MAP,
            &["Assign", "Output"],
        ],
    };
    let other_only = match ql {
        Ql::JsonPath => JSONATA_ONLY,
        Ql::Jsonata => JSONPATH_ONLY,
    };
    fields.extend(
        parts
            .iter()
            .flat_map(|part| part.iter())
            .filter(|field| !other_only.contains(field)),
    );
    fields
}

/// A precise message for a field that exists but does not belong here.
pub(super) fn explain(field: &str, ty: StateType, ql: Ql) -> Option<Explanation> {
    let other = match ql {
        Ql::JsonPath => Ql::Jsonata,
        Ql::Jsonata => Ql::JsonPath,
    };
    if allowed(ty, other).contains(&field) {
        let hint = match ql {
            Ql::Jsonata => {
                "JSONata states use Arguments, Output and {% %} expressions instead of paths, Parameters and ResultSelector"
            }
            Ql::JsonPath => "set \"QueryLanguage\": \"JSONata\" to use Arguments, Output and Items",
        };
        return Some((
            format!("not allowed in a {} state", ql.name()),
            Some(hint.to_owned()),
        ));
    }
    if NEXT_END.contains(&field) && !ty.transitions() {
        let hint = match ty {
            StateType::Choice => "a Choice state moves on through its Choices rules and Default",
            _ => "Succeed and Fail states end their scope by themselves",
        };
        return Some((
            format!("not allowed in a {} state", ty.name()),
            Some(hint.to_owned()),
        ));
    }
    let owners: Vec<&str> = ALL_TYPES
        .into_iter()
        .filter(|other| {
            allowed(*other, Ql::JsonPath).contains(&field)
                || allowed(*other, Ql::Jsonata).contains(&field)
        })
        .map(StateType::name)
        .collect();
    if owners.is_empty() {
        return None;
    }
    Some((
        format!("not allowed in a {} state", ty.name()),
        Some(format!("{field} belongs to {} states", owners.join(", "))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_language_filters_fields() {
        let jsonpath = allowed(StateType::Task, Ql::JsonPath);
        assert!(jsonpath.contains(&"ResultPath") && !jsonpath.contains(&"Output"));
        let jsonata = allowed(StateType::Task, Ql::Jsonata);
        assert!(jsonata.contains(&"Arguments") && !jsonata.contains(&"InputPath"));
        assert!(!allowed(StateType::Fail, Ql::Jsonata).contains(&"ErrorPath"));
        assert!(!allowed(StateType::Succeed, Ql::JsonPath).contains(&"Next"));
    }

    #[test]
    fn explains_misplaced_fields() {
        let (message, _) = explain("InputPath", StateType::Pass, Ql::Jsonata).unwrap();
        assert_eq!(message, "not allowed in a JSONata state");
        let (message, _) = explain("Next", StateType::Choice, Ql::JsonPath).unwrap();
        assert_eq!(message, "not allowed in a Choice state");
        let (message, hint) = explain("Resource", StateType::Pass, Ql::JsonPath).unwrap();
        assert_eq!(message, "not allowed in a Pass state");
        assert_eq!(hint.as_deref(), Some("Resource belongs to Task states"));
        assert!(explain("Nxt", StateType::Pass, Ql::JsonPath).is_none());
    }
}
