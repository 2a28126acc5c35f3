//! Amazon States Language: the machine, its scopes and the checks every state shares.
//!
//! Type-specific rules live in the submodules: [`fields`] (which fields each type accepts),
//! [`data`] (paths, payload templates, JSONata strings, `Assign`), [`choice`], [`errors`]
//! (Retry/Catch), [`states`] (Task, Wait, Fail, Parallel) and [`map`].

mod choice;
mod data;
mod errors;
mod express;
mod fields;
mod map;
mod states;

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::report::{At, Report};
use super::scope::Scope;
use super::suggest::closest;
use super::values;
use fields::StateType;

/// Longest state name accepted.
const MAX_STATE_NAME: usize = 80;

const TOP_LEVEL_FIELDS: &[&str] = &[
    "StartAt",
    "States",
    "Comment",
    "Version",
    "TimeoutSeconds",
    "QueryLanguage",
];
const BRANCH_FIELDS: &[&str] = &["StartAt", "States", "Comment", "QueryLanguage"];
const PROCESSOR_FIELDS: &[&str] = &[
    "StartAt",
    "States",
    "Comment",
    "QueryLanguage",
    "ProcessorConfig",
];
const QUERY_LANGUAGES: &[&str] = &["JSONPath", "JSONata"];

/// The query language a state is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ql {
    JsonPath,
    Jsonata,
}

impl Ql {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "JSONPath" => Some(Ql::JsonPath),
            "JSONata" => Some(Ql::Jsonata),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Ql::JsonPath => "JSONPath",
            Ql::Jsonata => "JSONata",
        }
    }
}

/// Facts about the whole machine that every scope needs.
struct Machine<'v> {
    /// The top-level query language, the default for every state.
    top_ql: Ql,
    /// Every state name anywhere in the machine.
    names: HashSet<&'v str>,
}

/// The kind of `States` block being checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScopeKind {
    Top,
    Branch,
    Processor,
}

/// Everything a state-level check needs.
struct StateCx<'s, 'v> {
    name: &'v str,
    at: At<'v>,
    ty: StateType,
    ql: Ql,
    machine: &'s Machine<'v>,
    scope: &'s mut Scope<'v>,
}

impl<'v> StateCx<'_, 'v> {
    /// The field `key`, when present and allowed for this state's type and query language
    /// (fields that are not allowed have already been reported).
    fn field(&self, key: &str) -> Option<At<'v>> {
        if fields::allowed(self.ty, self.ql).contains(&key) {
            self.at.get(key)
        } else {
            None
        }
    }

    /// Checks a transition target and records it.
    fn target(&mut self, r: &mut Report<'_>, at: &At<'v>) {
        self.scope.target(r, &self.machine.names, at, self.name);
    }
}

/// Validates an ASL document.
pub(super) fn validate(r: &mut Report<'_>) {
    let root = At::root(&r.doc.value);
    if !values::object(r, &root) {
        return;
    }
    r.unknown_fields(&root, TOP_LEVEL_FIELDS, &|_| None);
    if let Some(at) = root.get("Comment") {
        values::string(r, &at);
    }
    if let Some(at) = root.get("Version")
        && let Some(version) = values::string(r, &at)
        && version != "1.0"
    {
        r.error(&at, format!("unsupported version '{version}'"))
            .hint("the only ASL version is \"1.0\"");
    }
    if let Some(at) = root.get("TimeoutSeconds") {
        values::integer(r, &at, 0, 99_999_999);
    }
    let top_ql = query_language(r, &root).unwrap_or(Ql::JsonPath);
    let mut names = HashSet::new();
    collect_names(r, &root, &mut HashMap::new(), &mut names);
    let machine = Machine { top_ql, names };
    scope(r, &machine, &root, ScopeKind::Top);
}

/// Reads an optional `QueryLanguage` field.
fn query_language(r: &mut Report<'_>, at: &At<'_>) -> Option<Ql> {
    let field = at.get("QueryLanguage")?;
    values::one_of(r, &field, QUERY_LANGUAGES).and_then(Ql::parse)
}

/// The `States` objects nested in a state: Parallel branches and Map processors.
fn nested_scopes<'v>(state: &At<'v>) -> Vec<At<'v>> {
    let mut nested = Vec::new();
    if let Some(branches) = state.get("Branches") {
        nested.extend(branches.elements());
    }
    nested.extend(state.get("ItemProcessor"));
    nested.extend(state.get("Iterator"));
    nested
}

/// Walks every scope once, checking names for uniqueness and length across the machine.
fn collect_names<'v>(
    r: &mut Report<'_>,
    scope: &At<'v>,
    first_seen: &mut HashMap<&'v str, String>,
    names: &mut HashSet<&'v str>,
) {
    let Some(states) = scope.get("States") else {
        return;
    };
    for (name, state) in states.members() {
        let state = state.in_state(name);
        names.insert(name);
        if name.is_empty() {
            r.error(&state, "state names must not be empty");
        } else if name.chars().count() > MAX_STATE_NAME {
            r.error(
                &state,
                format!("state name is longer than {MAX_STATE_NAME} characters"),
            );
        }
        match first_seen.get(name) {
            Some(first) => {
                let hint = r.doc.nearest_position(first).map(|p| {
                    format!(
                        "the first state named '{name}' is at line {}, column {}",
                        p.line, p.column
                    )
                });
                r.error(
                    &state,
                    format!("the name '{name}' is already used by another state"),
                )
                .hint_opt(hint.or(Some(
                    "state names must be unique across the whole state machine".to_owned(),
                )));
            }
            None => {
                first_seen.insert(name, state.pointer.clone());
            }
        }
        for nested in nested_scopes(&state) {
            collect_names(r, &nested, first_seen, names);
        }
    }
}

/// Checks a `States` block with its `StartAt`, then every state in it.
fn scope<'v>(r: &mut Report<'_>, machine: &Machine<'v>, at: &At<'v>, kind: ScopeKind) {
    let what = match kind {
        ScopeKind::Top => "a state machine",
        ScopeKind::Branch => "a Parallel branch",
        ScopeKind::Processor => "a Map ItemProcessor",
    };
    if !values::object(r, at) {
        return;
    }
    let scope_ql = match kind {
        ScopeKind::Top => machine.top_ql,
        ScopeKind::Branch | ScopeKind::Processor => {
            let allowed = if kind == ScopeKind::Branch {
                BRANCH_FIELDS
            } else {
                PROCESSOR_FIELDS
            };
            r.unknown_fields(at, allowed, &|_| None);
            if let Some(comment) = at.get("Comment") {
                values::string(r, &comment);
            }
            let ql = query_language(r, at).unwrap_or(machine.top_ql);
            jsonpath_inside_jsonata(r, machine, at, ql);
            ql
        }
    };
    let Some(states) = at.get("States") else {
        r.missing(
            at,
            "States",
            &format!("{what} needs a States object naming its states"),
        );
        if at.get("StartAt").is_none() {
            r.missing(
                at,
                "StartAt",
                &format!("{what} needs StartAt naming its first state"),
            );
        }
        return;
    };
    let Some(members) = states.object() else {
        r.wrong_type(&states, "an object mapping state names to states");
        return;
    };
    if members.is_empty() {
        r.error(&states, "must contain at least one state");
    }
    let mut scope = Scope::new(members.keys().map(String::as_str));
    let start = scope.start_at(r, at, what);
    for (name, state) in states.members() {
        scope.declare(name);
        self::state(r, machine, &mut scope, state.in_state(name), name, scope_ql);
    }
    if let Some(start) = start {
        scope.report_unreachable(r, start, |name| states.member_pointer(name));
    }
}

/// Checks one state.
fn state<'v>(
    r: &mut Report<'_>,
    machine: &Machine<'v>,
    scope: &mut Scope<'v>,
    at: At<'v>,
    name: &'v str,
    scope_ql: Ql,
) {
    if !values::object(r, &at) {
        return;
    }
    let Some(ty) = state_type(r, &at) else {
        record_edges_leniently(scope, &at, name);
        return;
    };
    let ql = query_language(r, &at).unwrap_or(scope_ql);
    jsonpath_inside_jsonata(r, machine, &at, ql);
    let allowed = fields::allowed(ty, ql);
    r.unknown_fields(&at, &allowed, &|field| fields::explain(field, ty, ql));
    if let Some(comment) = at.get("Comment") {
        values::string(r, &comment);
    }
    let mut cx = StateCx {
        name,
        at,
        ty,
        ql,
        machine,
        scope,
    };
    transition(r, &mut cx);
    data::common(r, &cx);
    match ty {
        StateType::Task => states::task(r, &cx),
        StateType::Choice => choice::choice(r, &mut cx),
        StateType::Wait => states::wait(r, &cx),
        StateType::Pass | StateType::Succeed => {}
        StateType::Fail => states::fail(r, &cx),
        StateType::Parallel => states::parallel(r, &cx),
        StateType::Map => map::map(r, &cx),
    }
    errors::retry_and_catch(r, &mut cx);
}

/// Reports an explicit `QueryLanguage: JSONPath` inside a JSONata state machine.
fn jsonpath_inside_jsonata(r: &mut Report<'_>, machine: &Machine<'_>, at: &At<'_>, ql: Ql) {
    if machine.top_ql == Ql::Jsonata
        && ql == Ql::JsonPath
        && let Some(field) = at.get("QueryLanguage")
    {
        r.error(&field, "a JSONata state machine cannot contain JSONPath states").hint(
            "set QueryLanguage to JSONata here, or make the top level JSONPath and opt states into JSONata",
        );
    }
}

/// Reads and checks `Type`.
fn state_type(r: &mut Report<'_>, at: &At<'_>) -> Option<StateType> {
    let Some(field) = at.get("Type") else {
        r.missing(
            at,
            "Type",
            &format!("set Type to one of {}", fields::TYPE_NAMES.join(", ")),
        );
        return None;
    };
    let text = values::string(r, &field)?;
    let ty = StateType::parse(text);
    if ty.is_none() {
        let hint = match closest(text, fields::TYPE_NAMES.iter().copied()) {
            Some(near) => format!("did you mean '{near}'?"),
            None => format!("use one of {}", fields::TYPE_NAMES.join(", ")),
        };
        r.error(&field, format!("unknown state type '{text}'"))
            .hint(hint);
    }
    ty
}

/// Records the transitions of a state whose type is unknown, so that its targets are not also
/// reported as unreachable.
fn record_edges_leniently<'v>(scope: &mut Scope<'v>, at: &At<'v>, name: &'v str) {
    let mut targets: Vec<&'v Value> = Vec::new();
    targets.extend(at.value.get("Next"));
    targets.extend(at.value.get("Default"));
    for list in ["Choices", "Catch"] {
        if let Some(Value::Array(items)) = at.value.get(list) {
            targets.extend(items.iter().filter_map(|item| item.get("Next")));
        }
    }
    for target in targets.into_iter().filter_map(Value::as_str) {
        scope.edge(name, target);
    }
}

/// Checks `Next`/`End`: exactly one on states that transition.
fn transition(r: &mut Report<'_>, cx: &mut StateCx<'_, '_>) {
    if !cx.ty.transitions() {
        return;
    }
    let next = cx.at.get("Next");
    let end = cx.at.get("End");
    let ends = match &end {
        Some(end) => values::boolean(r, end).unwrap_or(true),
        None => false,
    };
    match (&next, ends) {
        (Some(next), true) => {
            r.error(next, "a state cannot have both Next and End: true")
                .hint("keep Next to continue, or End: true to stop");
        }
        (None, false) => {
            let hint = "add Next naming the following state, or End: true to end here";
            if end.is_some() {
                r.error_at(
                    &cx.at.pointer,
                    Some(cx.name),
                    "End is false but there is no Next",
                )
                .hint(hint);
            } else {
                r.error_at(
                    &cx.at.pointer,
                    Some(cx.name),
                    format!("a {} state needs Next or End", cx.ty.name()),
                )
                .hint(hint);
            }
        }
        _ => {}
    }
    if let Some(next) = next {
        cx.target(r, &next);
    }
}

#[cfg(test)]
mod tests;
