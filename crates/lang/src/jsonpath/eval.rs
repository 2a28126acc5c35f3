//! Evaluation of parsed paths: reading (`query`) and writing (`set`).

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Map, Value};

use super::{Function, Mode, Path, PathError, Segment};

type Matches<'a> = Vec<Cow<'a, Value>>;

impl Path {
    /// Evaluates the path with `node` as `$` (or `@` inside a filter); `root` is the whole
    /// document, which `$` paths inside filters refer to.
    pub(super) fn resolve<'a>(
        &'a self,
        node: &'a Value,
        root: &'a Value,
    ) -> Option<Cow<'a, Value>> {
        match self.mode {
            Mode::Reference => definite(&self.segments, node).map(Cow::Borrowed),
            Mode::MergeLeaf => {
                let (Segment::Members(names), prefix) = self.segments.split_last()? else {
                    return None;
                };
                let target = definite(prefix, node)?.as_object()?;
                Some(Cow::Owned(merge_members(target, names)))
            }
            Mode::Indefinite => {
                let mut out = Vec::new();
                collect(&self.segments, node, root, true, &mut out);
                Some(Cow::Owned(into_array(out)))
            }
            Mode::FunctionDefinite => {
                let target = definite(&self.segments, node)?;
                apply(self.function?, target).map(Cow::Owned)
            }
            Mode::FunctionPerNode => {
                let function = self.function?;
                let mut out = Vec::new();
                collect(&self.segments, node, root, false, &mut out);
                let results = out
                    .iter()
                    .map(|v| apply(function, v))
                    .collect::<Option<Vec<_>>>()?;
                Some(Cow::Owned(Value::Array(results)))
            }
            Mode::FunctionOverScan => {
                let function = self.function?;
                let mut out = Vec::new();
                collect(&self.segments, node, root, false, &mut out);
                apply_over_matches(function, &out).map(Cow::Owned)
            }
        }
    }
}

fn into_array(matches: Matches<'_>) -> Value {
    Value::Array(matches.into_iter().map(Cow::into_owned).collect())
}

/// Follows member and index steps; `None` as soon as one is missing.
fn definite<'a>(segments: &[Segment], node: &'a Value) -> Option<&'a Value> {
    let mut current = node;
    for segment in segments {
        current = match segment {
            Segment::Member(name) => current.as_object()?.get(&**name)?,
            Segment::Index(index) => array_index(current, *index)?,
            _ => return None,
        };
    }
    Some(current)
}

fn array_index(node: &Value, index: i64) -> Option<&Value> {
    let items = node.as_array()?;
    items.get(normalize_index(index, items.len())?)
}

/// Turns a possibly negative index into a position, `None` when out of bounds.
fn normalize_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let position = if index < 0 { len + index } else { index };
    (0..len)
        .contains(&position)
        .then(|| usize::try_from(position).ok())
        .flatten()
}

fn slice_range(start: Option<i64>, end: Option<i64>, len: usize) -> Range<usize> {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let clamp = |i: i64| {
        let i = if i < 0 { len_i.saturating_add(i) } else { i };
        usize::try_from(i.clamp(0, len_i)).unwrap_or(0)
    };
    let start = start.map_or(0, clamp);
    let end = end.map_or(len, clamp);
    if start >= end { 0..0 } else { start..end }
}

fn merge_members(map: &Map<String, Value>, names: &[Box<str>]) -> Value {
    let mut merged = Map::new();
    for name in names {
        if let Some(value) = map.get(&**name) {
            merged.insert(name.to_string(), value.clone());
        }
    }
    Value::Object(merged)
}

/// Applies `segments` to `node`, pushing every match. `merge_leaf` is true when a trailing
/// `['a','b']` merges into one object (no function follows the path).
fn collect<'a>(
    segments: &'a [Segment],
    node: &'a Value,
    root: &'a Value,
    merge_leaf: bool,
    out: &mut Matches<'a>,
) {
    match segments.split_first() {
        None => out.push(Cow::Borrowed(node)),
        Some((segment, rest)) => step(segment, rest, node, root, merge_leaf, out),
    }
}

/// Applies one `segment` to `node`, then the `rest` to each result.
fn step<'a>(
    segment: &'a Segment,
    rest: &'a [Segment],
    node: &'a Value,
    root: &'a Value,
    merge_leaf: bool,
    out: &mut Matches<'a>,
) {
    match segment {
        Segment::Member(name) => {
            if let Some(child) = node.as_object().and_then(|m| m.get(&**name)) {
                collect(rest, child, root, merge_leaf, out);
            }
        }
        Segment::Index(index) => {
            if let Some(child) = array_index(node, *index) {
                collect(rest, child, root, merge_leaf, out);
            }
        }
        Segment::Members(names) => {
            let Some(map) = node.as_object() else { return };
            if rest.is_empty() && merge_leaf {
                out.push(Cow::Owned(merge_members(map, names)));
            } else {
                for name in names.iter() {
                    if let Some(child) = map.get(&**name) {
                        collect(rest, child, root, merge_leaf, out);
                    }
                }
            }
        }
        Segment::Indexes(indexes) => {
            for index in indexes.iter() {
                if let Some(child) = array_index(node, *index) {
                    collect(rest, child, root, merge_leaf, out);
                }
            }
        }
        Segment::Wildcard => match node {
            Value::Object(map) => {
                for child in map.values() {
                    collect(rest, child, root, merge_leaf, out);
                }
            }
            Value::Array(items) => {
                for child in items {
                    collect(rest, child, root, merge_leaf, out);
                }
            }
            _ => {}
        },
        Segment::Slice(start, end) => {
            if let Some(items) = node.as_array() {
                for child in &items[slice_range(*start, *end, items.len())] {
                    collect(rest, child, root, merge_leaf, out);
                }
            }
        }
        Segment::Filter(expr) => match node {
            Value::Object(_) if expr.test(node, root) => {
                collect(rest, node, root, merge_leaf, out);
            }
            Value::Array(items) => {
                for item in items {
                    if expr.test(item, root) {
                        collect(rest, item, root, merge_leaf, out);
                    }
                }
            }
            _ => {}
        },
        Segment::Descendants(inner) => descend(inner, rest, node, root, merge_leaf, out),
    }
}

/// Deep scan: applies `inner` (then `rest`) to `node` and to every node below it, in document
/// order, parents before children.
fn descend<'a>(
    inner: &'a Segment,
    rest: &'a [Segment],
    node: &'a Value,
    root: &'a Value,
    merge_leaf: bool,
    out: &mut Matches<'a>,
) {
    match inner {
        // A filter after `..` tests each object itself.
        Segment::Filter(expr) => {
            if node.is_object() && expr.test(node, root) {
                collect(rest, node, root, merge_leaf, out);
            }
        }
        // A trailing member union after `..` merges objects holding all the members.
        Segment::Members(names) if rest.is_empty() && merge_leaf => {
            if let Some(map) = node.as_object()
                && names.iter().all(|n| map.contains_key(&**n))
            {
                out.push(Cow::Owned(merge_members(map, names)));
            }
        }
        _ => step(inner, rest, node, root, merge_leaf, out),
    }
    match node {
        Value::Object(map) => {
            for child in map.values() {
                descend(inner, rest, child, root, merge_leaf, out);
            }
        }
        Value::Array(items) => {
            for child in items {
                descend(inner, rest, child, root, merge_leaf, out);
            }
        }
        _ => {}
    }
}

/// Applies a path function to one node. `None` when the function cannot produce a value
/// (an aggregate over no numbers).
fn apply(function: Function, node: &Value) -> Option<Value> {
    match function {
        Function::Length => Some(match node {
            Value::Array(items) => Value::from(items.len()),
            Value::Object(map) => Value::from(map.len()),
            _ => Value::Null,
        }),
        Function::Keys => Some(match node {
            Value::Object(map) => Value::Array(map.keys().cloned().map(Value::String).collect()),
            _ => Value::Null,
        }),
        Function::First => Some(match node {
            Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        }),
        Function::Last => Some(match node {
            Value::Array(items) => items.last().cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        }),
        Function::Min | Function::Max | Function::Avg | Function::Stddev | Function::Sum => {
            let numbers = node
                .as_array()
                .map(|items| items.iter())
                .into_iter()
                .flatten();
            aggregate(function, numbers)
        }
    }
}

/// Applies a function after a leading deep scan to all matches at once.
fn apply_over_matches(function: Function, matches: &[Cow<'_, Value>]) -> Option<Value> {
    match function {
        // The count of the children of every match.
        Function::Length => Some(Value::from(
            matches
                .iter()
                .map(|m| match &**m {
                    Value::Array(items) => items.len(),
                    Value::Object(map) => map.len(),
                    _ => 0,
                })
                .sum::<usize>(),
        )),
        Function::Min | Function::Max | Function::Avg | Function::Stddev | Function::Sum => {
            aggregate(function, matches.iter().map(|m| &**m))
        }
        Function::Keys | Function::First | Function::Last => {
            let all = Value::Array(matches.iter().map(|m| (**m).clone()).collect());
            apply(function, &all)
        }
    }
}

/// Numeric aggregate over the numbers among `values` (others are ignored); the result is a
/// floating-point number, `None` when there are no numbers.
fn aggregate<'a>(function: Function, values: impl Iterator<Item = &'a Value>) -> Option<Value> {
    let mut count = 0u64;
    let mut sum = 0.0f64;
    let mut sum_sq = 0.0f64;
    let mut min = f64::INFINITY;
    let mut max = f64::NEG_INFINITY;
    for x in values.filter_map(Value::as_f64) {
        count += 1;
        sum += x;
        sum_sq += x * x;
        min = min.min(x);
        max = max.max(x);
    }
    if count == 0 {
        return None;
    }
    let n = count as f64;
    let result = match function {
        Function::Min => min,
        Function::Max => max,
        Function::Sum => sum,
        Function::Avg => sum / n,
        _ => (sum_sq / n - (sum / n) * (sum / n)).max(0.0).sqrt(),
    };
    serde_json::Number::from_f64(result).map(Value::Number)
}

/// ResultPath-style write; see [`Path::set`].
pub(super) fn set(path: &Path, root: &mut Value, value: Value) -> Result<(), PathError> {
    if !path.is_reference() {
        return Err(PathError::new(format!(
            "The path '{}' is not a reference path and cannot be written to",
            path.normalized()
        )));
    }
    let Some((last, prefix)) = path.segments.split_last() else {
        *root = value;
        return Ok(());
    };
    // Check the whole way first so that a failed write leaves `root` untouched.
    check_writable(path, root)?;
    let mut current = root;
    for segment in prefix {
        current = match segment {
            Segment::Member(name) => match current {
                Value::Object(map) => map
                    .entry(name.to_string())
                    .or_insert_with(|| Value::Object(Map::new())),
                _ => return Err(not_writable(path)),
            },
            Segment::Index(index) => match current {
                Value::Array(items) => {
                    let i =
                        normalize_index(*index, items.len()).ok_or_else(|| not_writable(path))?;
                    &mut items[i]
                }
                _ => return Err(not_writable(path)),
            },
            _ => return Err(not_writable(path)),
        };
    }
    match (last, current) {
        (Segment::Member(name), Value::Object(map)) => {
            map.insert(name.to_string(), value);
            Ok(())
        }
        (Segment::Index(index), Value::Array(items)) => {
            let i = normalize_index(*index, items.len()).ok_or_else(|| not_writable(path))?;
            items[i] = value;
            Ok(())
        }
        _ => Err(not_writable(path)),
    }
}

/// Verifies, without modifying anything, that [`set`] can write `path` into `root`.
fn check_writable(path: &Path, root: &Value) -> Result<(), PathError> {
    let mut current = Some(root);
    for segment in path.segments.iter() {
        // `None` means the member is missing and will be created as an empty object.
        current = match (segment, current) {
            (_, None) if matches!(segment, Segment::Member(_)) => None,
            (Segment::Member(name), Some(Value::Object(map))) => map.get(&**name),
            (Segment::Index(index), Some(Value::Array(items))) => Some(
                normalize_index(*index, items.len())
                    .map(|i| &items[i])
                    .ok_or_else(|| not_writable(path))?,
            ),
            _ => return Err(not_writable(path)),
        };
    }
    Ok(())
}

fn not_writable(path: &Path) -> PathError {
    PathError::new(format!(
        "Unable to write to the path '{}': a value that is not an object (or an array holding the index) is in the way",
        path.normalized()
    ))
}
