//! The fixed facts of an execution: names, ARNs and start time, from which the context object
//! (`$$` / `$states.context`) is built.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Names and identifiers an execution runs under.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    /// Account id used in ARNs.
    pub account_id: String,
    /// Region used in ARNs.
    pub region: String,
    /// State machine (flow) name.
    pub state_machine_name: String,
    /// Execution name.
    pub execution_name: String,
    /// Role ARN reported in the context object.
    pub role_arn: String,
    /// `STANDARD` or `EXPRESS`.
    pub state_machine_type: String,
    /// Start time, epoch ms.
    pub start_ms: i64,
    /// Seed of the execution's random decisions (retry jitter, JSONata `$random()`,
    /// `$uuid()`, `$shuffle()`): with the same seed, name, input and clock an execution
    /// decides the same.
    #[serde(default)]
    pub seed: u64,
    /// For a child of a Distributed Map: the run it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentRun>,
    /// For a child flow: the execution whose `states:startExecution` Task started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
}

/// Where a Distributed Map child belongs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParentRun {
    /// The map run id.
    pub run: String,
    /// The child's index in the run.
    pub index: u64,
    /// The item processor it runs, as a path from the definition's root (see
    /// [`crate::map_run::ScopeStep`]).
    pub processor: Vec<crate::map_run::ScopeStep>,
}

impl RunInfo {
    /// Defaults for a local run of `flow` named `execution`, with a fresh random seed.
    pub fn local(flow: &str, execution: &str, start_ms: i64) -> RunInfo {
        RunInfo {
            account_id: "000000000000".into(),
            region: "local".into(),
            state_machine_name: flow.into(),
            execution_name: execution.into(),
            role_arn: "arn:aws:iam::000000000000:role/sluice".into(),
            state_machine_type: "STANDARD".into(),
            start_ms,
            seed: rand::random(),
            parent: None,
            started_by: None,
        }
    }

    /// The state machine ARN.
    pub fn state_machine_arn(&self) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{}",
            self.region, self.account_id, self.state_machine_name
        )
    }

    /// The execution ARN.
    pub fn execution_arn(&self) -> String {
        let kind = if self.state_machine_type == "EXPRESS" {
            "express"
        } else {
            "execution"
        };
        let arn = format!(
            "arn:aws:states:{}:{}:{kind}:{}:{}",
            self.region, self.account_id, self.state_machine_name, self.execution_name
        );
        if kind == "express" {
            // Express execution ARNs end with a per-run id.
            let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, arn.as_bytes());
            format!("{arn}:{id}")
        } else {
            arn
        }
    }

    /// The parts of the context object that never change during the execution.
    pub fn context_base(&self, input: &Value) -> Map<String, Value> {
        let mut m = Map::new();
        let mut execution = json!({
            "Id": self.execution_arn(),
            "Input": input,
            "StartTime": sluice_lang::timestamp::format(epoch(self.start_ms)),
            "Name": self.execution_name,
            "RoleArn": self.role_arn,
        });
        if self.state_machine_type != "EXPRESS" {
            execution["RedriveCount"] = json!(0);
        }
        m.insert("Execution".into(), execution);
        m.insert(
            "StateMachine".into(),
            json!({ "Id": self.state_machine_arn(), "Name": self.state_machine_name }),
        );
        m
    }
}

/// The most characters an execution name may have, as on Step Functions.
pub const MAX_EXECUTION_NAME_CHARS: usize = 80;

/// Checks an execution name against Step Functions' rules: 1 to 80 characters, no whitespace,
/// none of `< > { } [ ] ? * " # % \ ^ | ~ ` $ & , ; : /`, and no control characters
/// (U+0000 to U+001F, U+007F to U+009F). The error says which rule the name breaks.
pub fn validate_execution_name(name: &str) -> Result<(), String> {
    const FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";
    let count = name.chars().count();
    if count == 0 {
        return Err("an execution name must not be empty".into());
    }
    if count > MAX_EXECUTION_NAME_CHARS {
        return Err(format!(
            "an execution name has at most {MAX_EXECUTION_NAME_CHARS} characters, this one has {count}"
        ));
    }
    for c in name.chars() {
        if c.is_control() {
            return Err(format!(
                "an execution name must not contain control characters, found U+{:04X}",
                u32::from(c)
            ));
        }
        if c.is_whitespace() {
            return Err(format!(
                "an execution name must not contain whitespace, found U+{:04X}",
                u32::from(c)
            ));
        }
        if FORBIDDEN.contains(c) {
            return Err(format!(
                "an execution name must not contain '{c}' (nor any of {FORBIDDEN})"
            ));
        }
    }
    Ok(())
}

/// An epoch-millisecond instant as a UTC date-time.
pub fn epoch(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_names_follow_step_functions_rules() {
        for ok in [
            "a",
            "first-run",
            "run_2024.01.01",
            "Größe-été",
            "(parens)'quote'!@=+",
            &"x".repeat(80),
            &"é".repeat(80),
        ] {
            assert_eq!(validate_execution_name(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "must not be empty"),
            (
                &"x".repeat(81) as &str,
                "at most 80 characters, this one has 81",
            ),
            ("a b", "whitespace, found U+0020"),
            ("a\u{3000}b", "whitespace, found U+3000"),
            ("a\u{a0}b", "whitespace, found U+00A0"),
            ("tab\t", "control characters, found U+0009"),
            ("nul\0", "control characters, found U+0000"),
            ("del\u{7f}", "control characters, found U+007F"),
            ("c1\u{9f}", "control characters, found U+009F"),
        ] {
            let err = validate_execution_name(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        for c in "<>{}[]?*\"#%\\^|~`$&,;:/".chars() {
            let name = format!("a{c}b");
            let err = validate_execution_name(&name).unwrap_err();
            assert!(err.contains(&format!("'{c}'")), "{name}: {err}");
        }
    }
}
