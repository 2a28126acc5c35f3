//! Triggers: what starts work from outside a flow. An `http` trigger is a route of the node
//! whose requests go to a queue (answered once the message is durable), a function (called with
//! the Lambda function URL event, whose answer is the response) or a flow (an execution per
//! request); a `cron` trigger does the same on a schedule (see [`crate::cron`]); an `object`
//! trigger on every object created or deleted under a prefix (see [`crate::uploads`]).

use serde_json::Value;

/// Where a trigger's events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A message onto this queue.
    Queue(String),
    /// A call of this function.
    Function(String),
    /// An execution of this flow.
    Flow(String),
}

/// The largest request body an HTTP trigger takes unless told otherwise (1 MiB).
pub const DEFAULT_MAX_BODY: usize = 1 << 20;

/// A route of the node.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpTrigger {
    /// The trigger's name.
    pub name: String,
    /// The path, `/...`.
    pub path: String,
    /// The method (`POST` by default).
    pub method: String,
    /// Where requests go.
    pub target: Target,
    /// A bearer token requests must carry, if any.
    pub token: Option<String>,
    /// The largest body taken, in bytes.
    pub max_body: usize,
}

/// A schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct CronTrigger {
    /// The trigger's name.
    pub name: String,
    /// When it fires.
    pub schedule: crate::cron::Schedule,
    /// Where each firing goes.
    pub target: Target,
    /// The input each firing carries (with `time`, the scheduled time, added for flows).
    pub input: Value,
    /// What a firing does while the flow execution of an earlier one still runs.
    pub overlap: Overlap,
    /// What becomes of firings missed while no node ran.
    pub missed: Missed,
}

/// What a schedule's firing does while the flow execution an earlier firing started still runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overlap {
    /// Starts its execution beside the running one.
    #[default]
    Allow,
    /// Starts nothing.
    Skip,
    /// Stops the running one, then starts its own.
    Cancel,
}

impl Overlap {
    /// Reads `allow`, `skip` or `cancel`.
    pub fn parse(text: &str) -> Result<Overlap, String> {
        match text {
            "allow" => Ok(Overlap::Allow),
            "skip" => Ok(Overlap::Skip),
            "cancel" => Ok(Overlap::Cancel),
            other => Err(format!(
                "'{other}' is not an overlap policy (allow, skip or cancel)"
            )),
        }
    }
}

/// What becomes of the firings a schedule missed while no node ran (found at start-up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Missed {
    /// One firing, for the earliest time missed.
    #[default]
    RunOnce,
    /// None: the schedule goes on from the next time due.
    Skip,
}

impl Missed {
    /// Reads `run_once` or `skip`.
    pub fn parse(text: &str) -> Result<Missed, String> {
        match text {
            "run_once" => Ok(Missed::RunOnce),
            "skip" => Ok(Missed::Skip),
            other => Err(format!(
                "'{other}' is not a policy for missed firings (run_once or skip)"
            )),
        }
    }
}

/// Objects created or deleted under a prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct UploadTrigger {
    /// The trigger's name (the events' `configurationId`).
    pub name: String,
    /// The storage paths it watches start with this.
    pub prefix: String,
    /// ... and end with this.
    pub suffix: String,
    /// Whether creations raise events.
    pub created: bool,
    /// Whether deletions raise events.
    pub deleted: bool,
    /// Where the events go.
    pub target: Target,
}

impl UploadTrigger {
    /// Whether the object at storage path `path` is one the trigger watches.
    pub fn matches(&self, path: &str) -> bool {
        path.starts_with(&self.prefix) && path.ends_with(&self.suffix)
    }
}

/// The event kinds an `object` trigger takes in `events:`.
pub const OBJECT_EVENTS: [&str; 2] = ["created", "deleted"];

/// Paths the node serves itself, which an HTTP trigger cannot take (`/000000000000/QUEUE` are
/// the queue URLs of the SQS endpoint).
pub const RESERVED_PATHS: [&str; 7] = [
    "/",
    "/v1",
    "/2015-03-31",
    "/000000000000",
    "/healthz",
    "/readyz",
    "/metrics",
];

/// Checks an HTTP trigger's path: absolute, and none of the node's own.
pub fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') || path.contains(['{', '}', '*', '?', '#']) {
        return Err(format!(
            "path '{path}' must be a plain absolute path such as /ingest"
        ));
    }
    let taken = RESERVED_PATHS
        .iter()
        .any(|r| path == *r || (*r != "/" && path.starts_with(&format!("{r}/"))));
    if taken {
        return Err(format!(
            "path '{path}' is one of the node's own ({})",
            RESERVED_PATHS.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_paths_are_plain_and_not_the_nodes() {
        assert!(check_path("/ingest").is_ok());
        assert!(check_path("/hooks/github").is_ok());
        for bad in ["ingest", "/", "/v1/flows", "/metrics", "/a/{id}"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
