//! A Distributed Map run as the interpreter hands it to the driver: where its items come from,
//! how each item becomes a child's input, and the limits that bound it.

pub mod items;
pub mod machine;
pub mod rerun;

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
    /// Children are EXPRESS: they run in memory, only their items are stored (see
    /// [`machine`] for how a resumed run runs again the children that were in flight).
    #[serde(default)]
    pub express: bool,
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

/// How many item failures a Map tolerates (`ToleratedFailureCount`,
/// `ToleratedFailurePercentage`), and the one rule deciding when they are too many.
///
/// The Map fails when the failures exceed either threshold that is set: more than `count`
/// failed items, or a failed share of all items above `percent`. Neither set means no failure
/// is tolerated. The share is of the total number of items, so it can only be judged once that
/// total is known; the count can be judged at any time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tolerance {
    /// `ToleratedFailureCount`.
    pub count: Option<u64>,
    /// `ToleratedFailurePercentage`, 0 to 100.
    pub percent: Option<f64>,
}

/// How many items a Map has, as far as it is known when failures are judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemTotal {
    /// Every item is known: this many.
    Known(u64),
    /// More items may still come.
    Unknown,
}

impl Tolerance {
    /// Whether either threshold is set (a Map without one fails with its first failure).
    pub fn is_set(&self) -> bool {
        self.count.is_some() || self.percent.is_some()
    }

    /// Whether `failed` failed items exceed the tolerance, among `total` items.
    pub fn exceeded(&self, failed: u64, total: ItemTotal) -> bool {
        if failed == 0 {
            return false;
        }
        if !self.is_set() {
            return true;
        }
        let over_count = self.count.is_some_and(|n| failed > n);
        let over_percent = match (self.percent, total) {
            (Some(p), ItemTotal::Known(t)) => failed as f64 * 100.0 > p * t as f64,
            _ => false,
        };
        over_count || over_percent
    }
}

/// The error a Map fails with when too many items failed.
pub fn tolerance_exceeded() -> TaskError {
    TaskError {
        error: "States.ExceedToleratedFailureThreshold".into(),
        cause: "The specified tolerated failure threshold was exceeded".into(),
    }
}

impl MapRunSpec {
    /// The run's failure tolerance.
    pub fn tolerance(&self) -> Tolerance {
        Tolerance {
            count: self.tolerated_count,
            percent: self.tolerated_percent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{ItemTotal::*, Tolerance};

    fn t(count: Option<u64>, percent: Option<f64>) -> Tolerance {
        Tolerance { count, percent }
    }

    #[test]
    fn nothing_is_tolerated_by_default() {
        let none = t(None, None);
        assert!(!none.exceeded(0, Known(10)));
        assert!(none.exceeded(1, Known(10)));
        assert!(none.exceeded(1, Unknown));
        assert!(!none.is_set());
    }

    #[test]
    fn the_count_is_exceeded_above_it_whatever_the_total() {
        let two = t(Some(2), None);
        assert!(!two.exceeded(2, Unknown));
        assert!(two.exceeded(3, Unknown));
        assert!(!two.exceeded(2, Known(2)));
        assert!(two.exceeded(3, Known(100)));
        let zero = t(Some(0), None);
        assert!(!zero.exceeded(0, Known(5)));
        assert!(zero.exceeded(1, Known(5)));
    }

    #[test]
    fn the_percentage_is_of_the_total_once_it_is_known() {
        let half = t(None, Some(50.0));
        assert!(!half.exceeded(5, Known(10)), "exactly 50% is tolerated");
        assert!(half.exceeded(6, Known(10)));
        assert!(!half.exceeded(6, Unknown), "more items may still come");
        assert!(!half.exceeded(1, Known(2)));
        assert!(half.exceeded(2, Known(3)));
        let all = t(None, Some(100.0));
        assert!(!all.exceeded(10, Known(10)));
        let none = t(None, Some(0.0));
        assert!(none.exceeded(1, Known(1000)));
        let fraction = t(None, Some(0.5));
        assert!(!fraction.exceeded(1, Known(200)));
        assert!(fraction.exceeded(2, Known(200)));
    }

    #[test]
    fn with_both_set_either_one_exceeded_fails() {
        let both = t(Some(1), Some(50.0));
        assert!(!both.exceeded(1, Known(10)));
        assert!(both.exceeded(2, Known(10)), "count exceeded, share within");
        assert!(both.exceeded(2, Unknown));
        let loose_count = t(Some(10), Some(10.0));
        assert!(
            loose_count.exceeded(2, Known(10)),
            "share exceeded, count within"
        );
        assert!(!loose_count.exceeded(1, Known(10)));
    }
}
