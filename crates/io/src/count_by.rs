//! The `count-by` built-in: counts the records of a JSON-lines object by the value of one
//! top-level field, reading the object in ranges and each line where it lies.

use crate::builtins::{invalid, storage_error};
use crate::chunked::ObjectReader;
use crate::json_scan::{Scan, top_level_string};
use crate::location::ObjectRef;
use crate::storage::Storage;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value, json};
use sluice_engine::invoke::TaskError;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::BufRead;
use tokio::runtime::Handle;

/// Bytes fetched per range.
const READ_CHUNK: u64 = 8 * 1024 * 1024;

/// Counts the records of the object the event names by `field` (blocking).
pub(crate) fn count_by(
    storage: &Storage,
    handle: &Handle,
    args: &Map<String, Value>,
) -> Result<Value, TaskError> {
    let field =
        string_arg(args, "field")?.ok_or_else(|| invalid("the option field is required"))?;
    let object = object_arg(args)?;
    let mut reader = ObjectReader::open(storage, handle, &object, None, READ_CHUNK)
        .map_err(|e| storage_error(e.to_string()))?;
    let mut counter = Counter::new(field, &object);
    // Lines are parsed where they lie in the fetched range; only a line cut by the end of a
    // range is copied, to be completed by the next one.
    let mut cut: Vec<u8> = Vec::new();
    loop {
        let chunk = reader
            .fill_buf()
            .map_err(|e| storage_error(format!("{object}: {e}")))?;
        if chunk.is_empty() {
            break;
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            if cut.is_empty() {
                counter.line(&chunk[start..end])?;
            } else {
                cut.extend_from_slice(&chunk[start..end]);
                counter.line(&cut)?;
                cut.clear();
            }
            start = end + 1;
        }
        cut.extend_from_slice(&chunk[start..]);
        let read = chunk.len();
        reader.consume(read);
    }
    if !cut.is_empty() {
        counter.line(&cut)?;
    }
    Ok(counter.result())
}

/// What `count-by` has counted so far in one object.
struct Counter<'a> {
    field: &'a str,
    object: &'a ObjectRef,
    /// Records per group.
    counts: GroupCounts,
    records: u64,
    missing: u64,
    /// Lines seen, for the line number of a malformed one.
    lines: u64,
}

impl<'a> Counter<'a> {
    fn new(field: &'a str, object: &'a ObjectRef) -> Counter<'a> {
        Counter {
            field,
            object,
            counts: GroupCounts::default(),
            records: 0,
            missing: 0,
            lines: 0,
        }
    }

    /// Counts one line (without its newline); a blank line is skipped, a malformed one fails.
    fn line(&mut self, line: &[u8]) -> Result<(), TaskError> {
        self.lines += 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            return Ok(());
        }
        let group = match top_level_string(text, self.field) {
            Scan::Found(value) => Some(Cow::Borrowed(value)),
            Scan::Missing => None,
            Scan::Unsure => group_of(text, self.field).map_err(|e| TaskError {
                error: "Sluice.MalformedRecord".into(),
                cause: format!("{} line {}: {e}", self.object, self.lines),
            })?,
        };
        self.records += 1;
        match group {
            None => self.missing += 1,
            Some(value) => self.counts.add(value),
        }
        Ok(())
    }

    /// `{"key", "records", "counts"}`, with `"missing"` when records lacked the field.
    fn result(self) -> Value {
        let counts = self.counts.into_sorted();
        let mut result =
            json!({ "key": self.object.to_string(), "records": self.records, "counts": counts });
        if self.missing > 0 {
            result["missing"] = json!(self.missing);
        }
        result
    }
}

/// Records per group. Most fields counted have a handful of values, found fastest by a look
/// along a short list; past [`GroupCounts::LISTED`] groups they move to a hash map.
#[derive(Default)]
struct GroupCounts {
    listed: Vec<(String, u64)>,
    hashed: HashMap<String, u64, foldhash::fast::RandomState>,
}

impl GroupCounts {
    /// Groups kept in the list before the hash map takes them all.
    const LISTED: usize = 16;

    fn add(&mut self, group: Cow<'_, str>) {
        if self.hashed.is_empty() {
            if let Some((_, n)) = self.listed.iter_mut().find(|(g, _)| *g == group) {
                *n += 1;
                return;
            }
            if self.listed.len() < Self::LISTED {
                self.listed.push((group.into_owned(), 1));
                return;
            }
            self.hashed.extend(self.listed.drain(..));
        }
        match self.hashed.get_mut(group.as_ref()) {
            Some(n) => *n += 1,
            None => {
                self.hashed.insert(group.into_owned(), 1);
            }
        }
    }

    fn into_sorted(self) -> BTreeMap<String, u64> {
        self.listed.into_iter().chain(self.hashed).collect()
    }
}

/// The object an event names: `key` (`BUCKET/KEY`), or `Bucket` and `Key`.
fn object_arg(args: &Map<String, Value>) -> Result<ObjectRef, TaskError> {
    let object = match (string_arg(args, "key")?, string_arg(args, "Bucket")?) {
        (Some(path), _) => ObjectRef::parse(path),
        (None, Some(bucket)) => {
            let key = string_arg(args, "Key")?.ok_or_else(|| invalid("Key is required"))?;
            ObjectRef::new(bucket, key)
        }
        (None, None) => {
            return Err(invalid(
                "the event must name an object: key, or Bucket and Key",
            ));
        }
    };
    object.map_err(|e| invalid(e.to_string()))
}

fn string_arg<'a>(args: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, TaskError> {
    crate::fields::text(args, name).map_err(invalid)
}

/// The text `line` is grouped under by the full parser, or why it is malformed.
fn group_of<'a>(line: &'a [u8], field: &str) -> Result<Option<Cow<'a, str>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let group = FieldOf(field).deserialize(&mut de)?;
    de.end()?;
    Ok(group)
}

/// Reads one JSON object and keeps only the value of one top-level field, as the text it is
/// grouped under; every other field is skipped without being built.
struct FieldOf<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for FieldOf<'_> {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldOf<'_> {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_field) = map.next_key_seed(KeyIs(self.0))? {
            if is_field && found.is_none() {
                found = Some(map.next_value_seed(GroupText)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Whether a key is the one wanted.
struct KeyIs<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// A value as the text it is grouped under: a string as itself (borrowed when it has no
/// escapes), anything else as its compact JSON text.
struct GroupText;

impl<'de> DeserializeSeed<'de> for GroupText {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for GroupText {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Cow::Owned(json!(v).to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed("null"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let v: Value = serde::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Cow::Owned(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let v: Value = serde::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Cow::Owned(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(line: &str) -> Result<Option<String>, serde_json::Error> {
        group_of(line.as_bytes(), "value").map(|g| g.map(Cow::into_owned))
    }

    #[test]
    fn reads_only_the_wanted_field() {
        let line = r#"{"id": 1, "nested": {"value": "no"}, "value": "data_1", "x": [1, {"a": 2}]}"#;
        assert_eq!(group(line).unwrap().as_deref(), Some("data_1"));
        assert_eq!(
            group(r#"{"value": "a\"b"}"#).unwrap().as_deref(),
            Some("a\"b")
        );
        assert_eq!(group(r#"{"value": 12}"#).unwrap().as_deref(), Some("12"));
        assert_eq!(
            group(r#"{"value": null}"#).unwrap().as_deref(),
            Some("null")
        );
        assert_eq!(
            group(r#"{"value": [1,"x"]}"#).unwrap().as_deref(),
            Some(r#"[1,"x"]"#)
        );
        assert_eq!(group(r#"{"id": 1}"#).unwrap(), None);
    }

    #[test]
    fn many_groups_are_counted_past_the_list() {
        let mut counts = GroupCounts::default();
        for i in 0..1000 {
            counts.add(Cow::Owned(format!("g{}", i % 40)));
        }
        let sorted = counts.into_sorted();
        assert_eq!(sorted.len(), 40);
        assert!(sorted.values().all(|n| *n == 25), "{sorted:?}");
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(group(r#"{"value": "data_1""#).is_err());
        assert!(group(r#"{"value": "data_1"} trailing"#).is_err());
        assert!(group(r#"[1, 2]"#).is_err());
        assert!(group("not json").is_err());
    }

    /// Random records, most valid and some with one byte changed: whenever the fast path
    /// answers, the full parser gives the same group.
    #[test]
    fn the_fast_path_agrees_with_the_full_parser() {
        let mut random = Random(0x9e37_79b9_7f4a_7c15);
        let (mut found, mut missing, mut unsure) = (0, 0, 0);
        for _ in 0..100_000 {
            let mut line = random.object(0).into_bytes();
            if random.below(4) == 0 {
                let at = random.below(line.len());
                line[at] = b"{}[],:\"\\ 0-.eEx\tu"[random.below(17)];
            }
            match top_level_string(&line, "value") {
                Scan::Unsure => unsure += 1,
                Scan::Found(text) => {
                    found += 1;
                    let line = String::from_utf8(line.clone()).unwrap();
                    assert_eq!(group(&line).unwrap().as_deref(), Some(text), "{line}");
                }
                Scan::Missing => {
                    missing += 1;
                    let line = String::from_utf8(line.clone()).unwrap();
                    assert_eq!(group(&line).unwrap(), None, "{line}");
                }
            }
        }
        assert!(
            found > 2_000 && missing > 2_000 && unsure > 2_000,
            "{found} found, {missing} missing, {unsure} unsure"
        );
    }

    /// A small xorshift generator of JSON texts.
    struct Random(u64);

    impl Random {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }

        fn object(&mut self, depth: usize) -> String {
            let fields: Vec<String> = (0..self.below(5))
                .map(|_| {
                    let key = ["\"value\"", "\"id\"", "\"v\\u0061lue\"", "\"x y\""][self.below(4)];
                    format!("{key}:{}", self.value(depth + 1))
                })
                .collect();
            format!("{{{}}}", fields.join(", "))
        }

        fn value(&mut self, depth: usize) -> String {
            let pick = self.below(if depth > 3 { 8 } else { 10 });
            match pick {
                0 => "\"data_1\"".into(),
                1 => "\"a\\\"b \\u00e9 \\n\"".into(),
                2 => "\"é\"".into(),
                3 => ["0", "-12", "3.25", "1e9", "-4E-2", "1e999"][self.below(6)].into(),
                4 => ["true", "false", "null"][self.below(3)].into(),
                5 => "\"\\ud83d\\ude00\"".into(),
                6 | 7 => "\"plain\"".into(),
                8 => self.object(depth),
                _ => format!("[{}, {}]", self.value(depth + 1), self.value(depth + 1)),
            }
        }
    }
}
