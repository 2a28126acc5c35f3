//! A Distributed Map run as the interpreter hands it to the driver: where its items come from,
//! how each item becomes a child's input, and the limits that bound it.

use crate::invoke::TaskError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One step from a scope to a nested one: the state's name and the branch index (always 0 for
/// a Map's item processor).
pub type ScopeStep = (String, u32);

/// Everything the driver needs to run a Distributed Map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapRunSpec {
    /// Run id, unique in the store: `<execution>/<label>:<token>`.
    pub id: String,
    /// The map run ARN.
    pub arn: String,
    /// The Map state's name.
    pub state: String,
    /// The label children are named after (`Label`, or the state name).
    pub label: String,
    /// Where the items come from.
    pub source: ItemSource,
    /// How each item becomes a child input (`ItemSelector`), evaluated per item.
    pub selector: Option<SelectorSnapshot>,
    /// `ItemBatcher`, evaluated.
    pub batcher: Option<BatcherSpec>,
    /// Children running at once; 0 = the driver's limit.
    pub max_concurrency: usize,
    /// Failures tolerated (count).
    pub tolerated_count: Option<u64>,
    /// Failures tolerated (percent of items).
    pub tolerated_percent: Option<f64>,
    /// `ResultWriter`, evaluated.
    pub writer: Option<Value>,
    /// The item processor, as a path from the definition's root.
    pub processor: Vec<ScopeStep>,
    /// CloudFlow shape: the result is `{"Items": [...]}`.
    pub fdl: bool,
}

/// Where a run's items come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ItemSource {
    /// Items already in the state's input (`ItemsPath` / `Items`).
    Inline(Vec<Value>),
    /// An `ItemReader` with its parameters evaluated.
    Reader(Value),
}

/// The query language an `ItemSelector` is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SelectorLanguage {
    /// JSONPath template.
    JsonPath,
    /// JSONata template.
    Jsonata,
    /// CloudFlow FDL `ItemConstructor`.
    Fdl,
}

/// An `ItemSelector` with the values it may read, captured when the Map state started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelectorSnapshot {
    /// The template.
    pub template: Value,
    /// Its language.
    pub language: SelectorLanguage,
    /// The state's effective input (`$`).
    pub effective: Value,
    /// The state's raw input (`$states.input`).
    pub raw: Value,
    /// The context object (`$$`), without `Map.Item`.
    pub context: Value,
    /// The variables in scope, innermost last applied.
    pub vars: Map<String, Value>,
    /// CloudFlow globals.
    pub globals: Map<String, Value>,
    /// The instant JSONata's `$now()` reports, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now_ms: Option<i64>,
    /// The seed of the Map state's JSONata evaluations; each item draws its own from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// An evaluated `ItemBatcher`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatcherSpec {
    /// Items per batch at most.
    pub max_items: usize,
    /// Serialized bytes per batch at most.
    pub max_bytes: usize,
    /// `BatchInput`, added to every batch.
    pub batch_input: Option<Value>,
}

/// Groups a stream of items into `{"BatchInput": ..., "Items": [...]}` batches.
#[derive(Debug)]
pub struct Batcher<'a> {
    spec: &'a BatcherSpec,
    current: Vec<Value>,
    bytes: usize,
}

impl<'a> Batcher<'a> {
    /// An empty batcher.
    pub fn new(spec: &'a BatcherSpec) -> Batcher<'a> {
        Batcher {
            spec,
            current: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds an item; returns the batch it closed, if adding it would overflow the current one.
    pub fn push(&mut self, item: Value) -> Option<Value> {
        let size = serde_json::to_string(&item).map(|s| s.len()).unwrap_or(0);
        let closed = if !self.current.is_empty()
            && (self.current.len() >= self.spec.max_items
                || self.bytes + size > self.spec.max_bytes)
        {
            self.bytes = 0;
            Some(self.take())
        } else {
            None
        };
        self.bytes += size;
        self.current.push(item);
        closed
    }

    /// The last, partial batch.
    pub fn finish(mut self) -> Option<Value> {
        (!self.current.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> Value {
        let mut m = Map::new();
        if let Some(b) = &self.spec.batch_input {
            m.insert("BatchInput".into(), b.clone());
        }
        m.insert(
            "Items".into(),
            Value::Array(std::mem::take(&mut self.current)),
        );
        Value::Object(m)
    }
}

/// Whether `failed` failures out of `total` items stay within the run's tolerance.
pub fn within_tolerance(spec: &MapRunSpec, failed: u64, total: u64) -> bool {
    let by_count = spec.tolerated_count.is_some_and(|n| failed <= n);
    let by_percent = spec
        .tolerated_percent
        .is_some_and(|p| failed as f64 * 100.0 / total.max(1) as f64 <= p);
    failed == 0 || by_count || by_percent
}

/// The error a run fails with when too many items failed.
pub fn tolerance_exceeded() -> TaskError {
    TaskError {
        error: "States.ExceedToleratedFailureThreshold".into(),
        cause: "The specified tolerated failure threshold was exceeded".into(),
    }
}
