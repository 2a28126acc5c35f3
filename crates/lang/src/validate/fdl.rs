//! CloudFlow FDL: the flow, its scopes and the checks every state shares.
//!
//! Type-specific rules are in [`states`], Retry/Catch in [`errors`], and constructors (the maps
//! whose `.$` keys hold FDL expressions) in [`constructors`].

mod constructors;
mod errors;
mod states;

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::report::{At, Explanation, Report};
use super::scope::Scope;
use super::suggest::closest;
use super::values;

/// Longest flow or state name accepted.
const MAX_NAME: usize = 128;
const TYPE_NAMES: &[&str] = &[
    "Pass", "Task", "Choice", "Parallel", "Map", "Wait", "Succeed", "Fail",
];
const TOP_LEVEL_FIELDS: &[&str] = &[
    "Type",
    "Name",
    "SpecVersion",
    "Description",
    "StartAt",
    "States",
    "Timeout",
];
const SCOPE_FIELDS: &[&str] = &["StartAt", "States", "Description"];
const COMMON_FIELDS: &[&str] = &["Name", "Type", "Description", "InputConstructor"];
const NEXT_END: &[&str] = &["Next", "End"];
const OUTPUT: &[&str] = &["OutputConstructor", "GlobalConstructor"];
const ERRORS: &[&str] = &["Retry", "Catch"];

/// Fields a state of type `ty` accepts besides [`COMMON_FIELDS`].
fn type_fields(ty: &str) -> Vec<&'static str> {
    let parts: &[&[&'static str]] = match ty {
        "Pass" => &[NEXT_END, OUTPUT],
        "Task" => &[
            NEXT_END,
            OUTPUT,
            ERRORS,
            &["Action", "TaskMode", "Parameters", "Timeout"],
        ],
        "Choice" => &[&["Branches", "Default", "GlobalConstructor"]],
        "Parallel" => &[NEXT_END, OUTPUT, ERRORS, &["Branches"]],
        "Map" => &[NEXT_END, OUTPUT, ERRORS, states::MAP_FIELDS],
        "Wait" => &[NEXT_END, OUTPUT, &["Seconds", "Seconds.$"]],
        "Succeed" => &[OUTPUT],
        "Fail" => &[&["Code", "Detail", "Code.$", "Detail.$"]],
        _ => &[],
    };
    let mut fields = COMMON_FIELDS.to_vec();
    fields.extend(parts.iter().flat_map(|part| part.iter()));
    fields
}

/// Whether `name` is a valid FDL flow or state name: `[A-Za-z_][A-Za-z0-9_-]*`, 1–128 chars.
fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check_name(r: &mut Report<'_>, at: &At<'_>, name: &str, what: &str) {
    if !is_valid_name(name) {
        r.error(at, format!("'{name}' is not a valid {what} name")).hint(format!(
            "{what} names are 1 to {MAX_NAME} characters: letters, digits, '_' and '-', starting with a letter or '_'"
        ));
    }
}

/// Everything a state-level check needs.
struct StateCx<'s, 'v> {
    name: &'v str,
    at: At<'v>,
    ty: &'v str,
    all_names: &'s HashSet<&'v str>,
    scope: &'s mut Scope<'v>,
}

impl<'v> StateCx<'_, 'v> {
    /// The field `key`, when present and allowed for this state's type.
    fn field(&self, key: &str) -> Option<At<'v>> {
        if type_fields(self.ty).contains(&key) {
            self.at.get(key)
        } else {
            None
        }
    }

    /// Checks a transition target and records it.
    fn target(&mut self, r: &mut Report<'_>, at: &At<'v>) {
        self.scope.target(r, self.all_names, at, self.name);
    }
}

/// Validates an FDL document.
pub(super) fn validate(r: &mut Report<'_>) {
    let root = At::root(&r.doc.value);
    if !values::object(r, &root) {
        return;
    }
    r.unknown_fields(&root, TOP_LEVEL_FIELDS, &|_| None);
    match root.get("Type") {
        None => r.missing(&root, "Type", "an FDL flow starts with Type: StateMachine"),
        Some(at) => {
            if let Some(ty) = values::string(r, &at)
                && ty != "StateMachine"
            {
                r.error(&at, format!("Type must be StateMachine, found '{ty}'"));
            }
        }
    }
    match root.get("SpecVersion") {
        None => r.missing(&root, "SpecVersion", "add SpecVersion: v1"),
        Some(at) => {
            if let Some(version) = values::string(r, &at)
                && version != "v1"
            {
                r.error(&at, format!("unsupported SpecVersion '{version}'"))
                    .hint("the supported version is v1");
            }
        }
    }
    match root.get("Name") {
        None => r.missing(&root, "Name", "an FDL flow needs a Name"),
        Some(at) => {
            if let Some(name) = values::string(r, &at) {
                check_name(r, &at, name, "flow");
            }
        }
    }
    if let Some(at) = root.get("Description") {
        values::string(r, &at);
    }
    let mut all_names = HashSet::new();
    collect_names(&root, &mut all_names);
    scope(r, &all_names, &root, "a flow");
}

/// Every state name anywhere in the flow, for hints about transitions across scopes.
fn collect_names<'v>(scope: &At<'v>, names: &mut HashSet<&'v str>) {
    let Some(states) = scope.get("States") else {
        return;
    };
    for state in states.elements() {
        names.extend(state.value.get("Name").and_then(Value::as_str));
        if let Some(branches) = state.get("Branches") {
            for branch in branches.elements() {
                collect_names(&branch, names);
            }
        }
        for key in ["Processor", "ItemProcessor"] {
            if let Some(processor) = state.get(key) {
                collect_names(&processor, names);
            }
        }
    }
}

/// Checks a scope (the flow, a Parallel branch or a Map processor) and every state in it.
fn scope<'v>(r: &mut Report<'_>, all_names: &HashSet<&'v str>, at: &At<'v>, what: &str) {
    if !values::object(r, at) {
        return;
    }
    if !at.pointer.is_empty() {
        r.unknown_fields(at, SCOPE_FIELDS, &|_| None);
    }
    let Some(states_at) = at.get("States") else {
        r.missing(
            at,
            "States",
            &format!("{what} needs States, a list of states"),
        );
        return;
    };
    let Some(states) = values::array(r, &states_at, true) else {
        return;
    };
    let mut first_seen: HashMap<&str, String> = HashMap::new();
    let mut named: Vec<(&'v str, At<'v>)> = Vec::new();
    let mut nameless: Vec<At<'v>> = Vec::new();
    for state in states {
        match state_name(r, &state) {
            Some((name, name_at)) => {
                if let Some(first) = first_seen.get(name) {
                    let hint = r.doc.nearest_position(first).map(|p| {
                        format!(
                            "the first state named '{name}' is at line {}, column {}",
                            p.line, p.column
                        )
                    });
                    let name_at = name_at.in_state(name);
                    r.error(
                        &name_at,
                        format!("the name '{name}' is already used in this scope"),
                    )
                    .hint_opt(hint);
                } else {
                    first_seen.insert(name, name_at.pointer);
                    named.push((name, state));
                }
            }
            None if state.value.is_object() => nameless.push(state),
            None => {}
        }
    }
    let mut scope = Scope::new(named.iter().map(|(name, _)| *name));
    let start = scope.start_at(r, at, what);
    let mut pointers: HashMap<&str, String> = HashMap::new();
    for (name, state) in named {
        scope.declare(name);
        pointers.insert(name, state.pointer.clone());
        self::state(r, all_names, &mut scope, state.in_state(name), name);
    }
    for state in nameless {
        self::state(r, all_names, &mut scope, state, "");
    }
    if let Some(start) = start {
        scope.report_unreachable(r, start, |name| {
            pointers.get(name).cloned().unwrap_or_default()
        });
    }
}

/// The `Name` of a state, reporting problems with it.
fn state_name<'v>(r: &mut Report<'_>, state: &At<'v>) -> Option<(&'v str, At<'v>)> {
    if !values::object(r, state) {
        return None;
    }
    let Some(at) = state.get("Name") else {
        r.missing(state, "Name", "each FDL state needs a Name");
        return None;
    };
    let name = values::string(r, &at)?;
    check_name(r, &at, name, "state");
    Some((name, at))
}

/// Checks one state.
fn state<'v>(
    r: &mut Report<'_>,
    all_names: &HashSet<&'v str>,
    scope: &mut Scope<'v>,
    at: At<'v>,
    name: &'v str,
) {
    let Some(type_at) = at.get("Type") else {
        r.missing(
            &at,
            "Type",
            &format!("set Type to one of {}", TYPE_NAMES.join(", ")),
        );
        return;
    };
    let Some(ty) = values::string(r, &type_at) else {
        return;
    };
    if !TYPE_NAMES.contains(&ty) {
        let hint = match closest(ty, TYPE_NAMES.iter().copied()) {
            Some(near) => format!("did you mean '{near}'?"),
            None => format!("use one of {}", TYPE_NAMES.join(", ")),
        };
        r.error(&type_at, format!("unknown state type '{ty}'"))
            .hint(hint);
        for key in ["Next", "Default"] {
            if let Some(target) = at.value.get(key).and_then(Value::as_str) {
                scope.edge(name, target);
            }
        }
        return;
    }
    let allowed = type_fields(ty);
    r.unknown_fields(&at, &allowed, &|field| explain(field, ty));
    if let Some(description) = at.get("Description") {
        values::string(r, &description);
    }
    let mut cx = StateCx {
        name,
        at,
        ty,
        all_names,
        scope,
    };
    transition(r, &mut cx);
    for key in ["InputConstructor", "OutputConstructor", "GlobalConstructor"] {
        if let Some(at) = cx.field(key) {
            constructors::constructor(r, &at);
        }
    }
    match ty {
        "Task" => states::task(r, &cx),
        "Choice" => states::choice(r, &mut cx),
        "Parallel" => states::parallel(r, &cx),
        "Map" => states::map(r, &cx),
        "Wait" => states::wait(r, &cx),
        "Fail" => states::fail(r, &cx),
        _ => {}
    }
    errors::retry_and_catch(r, &mut cx);
}

/// A precise message for a field that exists on other state types.
fn explain(field: &str, ty: &str) -> Option<Explanation> {
    if NEXT_END.contains(&field) && matches!(ty, "Choice" | "Succeed" | "Fail") {
        let hint = if ty == "Choice" {
            "a Choice state moves on through its Branches and Default"
        } else {
            "Succeed and Fail states end their scope by themselves"
        };
        return Some((
            format!("not allowed in a {ty} state"),
            Some(hint.to_owned()),
        ));
    }
    let owners: Vec<&str> = TYPE_NAMES
        .iter()
        .copied()
        .filter(|other| type_fields(other).contains(&field))
        .collect();
    (!owners.is_empty()).then(|| {
        (
            format!("not allowed in a {ty} state"),
            Some(format!("{field} belongs to {} states", owners.join(", "))),
        )
    })
}

/// Checks `Next`/`End`: exactly one on states that transition.
fn transition(r: &mut Report<'_>, cx: &mut StateCx<'_, '_>) {
    if matches!(cx.ty, "Choice" | "Succeed" | "Fail") {
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
            r.error_at(
                &cx.at.pointer,
                Some(cx.name),
                format!("a {} state needs Next or End", cx.ty),
            )
            .hint("add Next naming the following state, or End: true to end here");
        }
        _ => {}
    }
    if let Some(next) = next {
        cx.target(r, &next);
    }
}

#[cfg(test)]
mod tests;
