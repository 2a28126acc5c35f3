//! The `topics:` and `rules:` of a project file, resolved against its queues, functions and
//! flows, with their filter policies and event patterns compiled.

use crate::model::{RuleSpec, RuleTargetSpec, SubscriberSpec, TopicSpec};
use crate::project::Project;
use sluice_io::http::endpoint;
use sluice_queues::bus::{DEFAULT_BUS, RuleConfig};
use sluice_queues::pattern::{Dialect, Pattern};
use sluice_queues::topics::{Endpoint, Filter, FilterScope, Subscriber, TopicConfig};
use sluice_queues::triggers::Target;

/// A problem: the place under the entry (a JSON pointer suffix, empty for the entry) and why.
pub(crate) type Problem = (String, String);

fn at(place: impl Into<String>, message: impl Into<String>) -> Problem {
    (place.into(), message.into())
}

/// Checks a topic or rule name: letters, digits, `-`, `_` and `.`, up to 256 characters.
fn check_name(kind: &str, name: &str) -> Result<(), Problem> {
    let fits = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fits {
        Ok(())
    } else {
        Err(at(
            "",
            format!("a {kind} name has 1 to 256 letters, digits, '-', '_' or '.', not '{name}'"),
        ))
    }
}

/// Runs `check` on each of `items`, the problems of item `i` placed under `list/i`: the
/// results, or every problem found.
fn each<T, R>(
    items: &[T],
    list: &str,
    check: impl Fn(&T) -> Result<R, Problem>,
) -> Result<Vec<R>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match check(item) {
            Ok(r) => out.push(r),
            Err((place, message)) => {
                let place = match place.is_empty() {
                    true => format!("{list}/{i}"),
                    false => format!("{list}/{i}/{place}"),
                };
                problems.push((place, message));
            }
        }
    }
    match problems.is_empty() {
        true => Ok(out),
        false => Err(problems),
    }
}

/// One topic of the project file.
pub(crate) fn topic(
    project: &Project,
    name: &str,
    spec: &TopicSpec,
) -> Result<TopicConfig, Vec<Problem>> {
    check_name("topic", name).map_err(|p| vec![p])?;
    let subscribers = each(&spec.subscribers, "subscribers", |s| subscriber(project, s))?;
    Ok(TopicConfig {
        name: name.to_string(),
        subscribers,
    })
}

fn subscriber(project: &Project, spec: &SubscriberSpec) -> Result<Subscriber, Problem> {
    let endpoint = match (&spec.queue, &spec.function, &spec.flow, &spec.http) {
        (Some(q), None, None, None) => Endpoint::Queue(declared_queue(project, q)?),
        (None, Some(f), None, None) => Endpoint::Function(declared_function(project, f)?),
        (None, None, Some(f), None) => Endpoint::Flow(declared_flow(project, f)?),
        (None, None, None, Some(url)) => {
            endpoint(url).map_err(|e| at("http", e))?;
            Endpoint::Http(url.clone())
        }
        _ => {
            return Err(at(
                "",
                "a subscriber needs exactly one of queue, function, flow or http",
            ));
        }
    };
    let raw = spec.raw_message_delivery.unwrap_or(false);
    if raw && matches!(endpoint, Endpoint::Function(_) | Endpoint::Flow(_)) {
        return Err(at(
            "raw_message_delivery",
            "raw_message_delivery applies to queue and http subscribers only",
        ));
    }
    let scope = match spec.filter_policy_scope.as_deref() {
        None | Some("MessageAttributes") => FilterScope::MessageAttributes,
        Some("MessageBody") => FilterScope::MessageBody,
        Some(other) => {
            return Err(at(
                "filter_policy_scope",
                format!("filter_policy_scope is MessageAttributes or MessageBody, not '{other}'"),
            ));
        }
    };
    let filter = match &spec.filter_policy {
        None => None,
        Some(policy) => {
            let dialect = match scope {
                FilterScope::MessageAttributes => Dialect::FilterPolicyAttributes,
                FilterScope::MessageBody => Dialect::FilterPolicyBody,
            };
            let policy = Pattern::compile(policy, dialect).map_err(|e| {
                at(
                    "filter_policy",
                    format!("the filter policy is not valid: {e}"),
                )
            })?;
            Some(Filter { policy, scope })
        }
    };
    Ok(Subscriber {
        endpoint,
        filter,
        raw,
    })
}

/// One rule of the project file.
pub(crate) fn rule(
    project: &Project,
    name: &str,
    spec: &RuleSpec,
) -> Result<RuleConfig, Vec<Problem>> {
    let mut problems = Vec::new();
    problems.extend(check_name("rule", name).err());
    let bus = spec.bus.clone().unwrap_or_else(|| DEFAULT_BUS.to_string());
    problems.extend(check_name("bus", &bus).err().map(|(_, m)| at("bus", m)));
    let pattern = Pattern::compile(&spec.pattern, Dialect::EventPattern)
        .map_err(|e| at("pattern", format!("the event pattern is not valid: {e}")));
    if spec.targets.is_empty() {
        problems.push(at("targets", "a rule needs at least one target"));
    }
    let targets = each(&spec.targets, "targets", |t| target(project, t));
    match (pattern, targets) {
        (Ok(pattern), Ok(targets)) if problems.is_empty() => Ok(RuleConfig {
            name: name.to_string(),
            bus,
            pattern,
            targets,
        }),
        (pattern, targets) => {
            problems.extend(pattern.err());
            problems.extend(targets.err().into_iter().flatten());
            Err(problems)
        }
    }
}

fn target(project: &Project, spec: &RuleTargetSpec) -> Result<Target, Problem> {
    match (&spec.queue, &spec.function, &spec.flow) {
        (Some(q), None, None) => Ok(Target::Queue(declared_queue(project, q)?)),
        (None, Some(f), None) => Ok(Target::Function(declared_function(project, f)?)),
        (None, None, Some(f)) => Ok(Target::Flow(declared_flow(project, f)?)),
        _ => Err(at(
            "",
            "a target needs exactly one of queue, function or flow",
        )),
    }
}

fn declared_queue(project: &Project, name: &str) -> Result<String, Problem> {
    match project.queues.iter().any(|q| q.name == name) {
        true => Ok(name.to_string()),
        false => Err(at(
            "queue",
            format!("the queue '{name}' is not declared under queues:"),
        )),
    }
}

fn declared_function(project: &Project, name: &str) -> Result<String, Problem> {
    match project.function_names().contains(&name) {
        true => Ok(name.to_string()),
        false => Err(at(
            "function",
            format!("the function '{name}' is not declared under functions:"),
        )),
    }
}

fn declared_flow(project: &Project, name: &str) -> Result<String, Problem> {
    match project.flows.iter().any(|f| f.name == name) {
        true => Ok(name.to_string()),
        false => Err(at(
            "flow",
            format!("the flow '{name}' is not declared under flows:"),
        )),
    }
}
