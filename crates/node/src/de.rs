//! Typed reading of a parsed YAML or JSON document, with every problem placed at its file, line
//! and column.
//!
//! A [`Document`] holds the value and the position of each node. [`read`] deserializes a type
//! from it through [`serde_path_to_error`], which tells where a failure happened, and maps that
//! path back to a position. Serde stops at the first problem, so [`read`] takes the offending
//! node out and tries again, gathering every problem of the document in one pass.
//!
//! Messages are phrased for people editing the file: `expected a string, found a number`,
//! `unknown field 'colour', expected one of runtime, handler, ...`.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Unexpected, Visitor};
use serde_json::Value;
use sluice_lang::diagnostic::Diagnostic;
use sluice_lang::source::{Document, join_pointer};
use std::fmt;

/// Most problems gathered from one document before reading stops.
const MAX_PROBLEMS: usize = 100;

/// Reads a `T` from a document, with every problem found, each placed in the file.
///
/// The `T` is read from what is left once the offending nodes are taken out (`None` when
/// nothing readable is left), so that a caller can go on checking the rest.
pub fn read<T: DeserializeOwned>(doc: &Document) -> (Option<T>, Vec<Diagnostic>) {
    let mut value = doc.value.clone();
    let mut problems = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    loop {
        let error = match serde_path_to_error::deserialize(ValueDe(value.clone())) {
            Ok(read) => return (Some(read), problems),
            Err(error) => error,
        };
        let mut pointer = String::new();
        for segment in error.path().iter() {
            match segment {
                serde_path_to_error::Segment::Map { key } => pointer = join_pointer(&pointer, key),
                serde_path_to_error::Segment::Seq { index } => {
                    pointer = join_pointer(&pointer, &index.to_string())
                }
                _ => {}
            }
        }
        let error = error.into_inner();
        let (pointer, node) = match &error.field {
            // The path names the mapping or the field itself: report it on the mapping, at the
            // field's key.
            Some(Field::Unknown(field)) => {
                let parent = pointer
                    .strip_suffix(&format!("/{}", sluice_lang::source::escape_token(field)))
                    .unwrap_or(&pointer)
                    .to_string();
                let node = join_pointer(&parent, field);
                (parent, node)
            }
            Some(Field::Missing(field)) => {
                if removed.contains(&join_pointer(&pointer, field)) {
                    // Missing because an earlier problem took it out, which was reported: the
                    // mapping goes too.
                    if remove(&mut value, &pointer).is_none() {
                        return (None, problems);
                    }
                    removed.push(pointer);
                    continue;
                }
                (pointer.clone(), pointer)
            }
            None => (pointer.clone(), pointer),
        };
        let position = doc.nearest_position(&node);
        problems.push(Diagnostic::new(&doc.file, pointer, error.message).at(position));
        if problems.len() >= MAX_PROBLEMS || remove(&mut value, &node).is_none() {
            return (None, problems);
        }
        removed.push(node);
    }
}

/// Takes the node at `pointer` out of `value`.
fn remove(value: &mut Value, pointer: &str) -> Option<Value> {
    let (parent, last) = pointer.rsplit_once('/')?;
    let last = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent)? {
        Value::Object(map) => map.shift_remove(&last),
        Value::Array(items) => {
            let index: usize = last.parse().ok()?;
            (index < items.len()).then(|| items.remove(index))
        }
        _ => None,
    }
}

/// Which field a problem is about, when serde says.
#[derive(Debug)]
enum Field {
    Unknown(String),
    Missing(String),
}

/// A problem found while reading a document: its message and, for unknown and missing fields,
/// which field.
#[derive(Debug)]
pub struct ReadError {
    message: String,
    field: Option<Field>,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReadError {}

impl de::Error for ReadError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        ReadError {
            message: message.to_string(),
            field: None,
        }
    }

    fn invalid_type(found: Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        Self::custom(format!("expected {expected}, found {}", kind(&found)))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        ReadError {
            message: format!(
                "unknown field '{field}', expected one of {}",
                expected.join(", ")
            ),
            field: Some(Field::Unknown(field.to_string())),
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::custom(format!(
            "unknown value '{variant}', expected one of {}",
            expected.join(", ")
        ))
    }

    fn missing_field(field: &'static str) -> Self {
        ReadError {
            message: format!("missing field '{field}'"),
            field: Some(Field::Missing(field.to_string())),
        }
    }
}

/// How a problem names what it found: `a string`, `a number`, ...
fn kind(found: &Unexpected<'_>) -> String {
    match found {
        Unexpected::Bool(_) => "a boolean".into(),
        Unexpected::Unsigned(_) | Unexpected::Signed(_) | Unexpected::Float(_) => "a number".into(),
        Unexpected::Char(_) | Unexpected::Str(_) => "a string".into(),
        Unexpected::Unit | Unexpected::Option => "null".into(),
        Unexpected::Seq => "an array".into(),
        Unexpected::Map => "an object".into(),
        other => other.to_string(),
    }
}

/// A JSON value read as serde data, failing with [`ReadError`]s.
struct ValueDe(Value);

impl<'de> IntoDeserializer<'de, ReadError> for ValueDe {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for ValueDe {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => visitor.visit_u64(u),
                (None, Some(i)) => visitor.visit_i64(i),
                _ => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.into_iter().map(ValueDe));
                let read = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(read)
            }
            Value::Object(map) => {
                let mut map = MapDeserializer::new(map.into_iter().map(|(k, v)| (k, ValueDe(v))));
                let read = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(read)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            _ => self.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Entry {
        name: String,
        size: Option<u32>,
    }

    fn problems(text: &str) -> Vec<String> {
        let doc = Document::parse("f.yaml", text).unwrap();
        read::<std::collections::BTreeMap<String, Entry>>(&doc)
            .1
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn every_problem_is_placed_at_its_line_and_column() {
        let found = problems("a:\n  name: x\n  colour: red\n  size: big\nb: { name: 3 }\n");
        assert_eq!(
            found,
            [
                "f.yaml:3:3: field a: unknown field 'colour', expected one of name, size",
                "f.yaml:4:3: field a.size: expected u32, found a string",
                "f.yaml:5:6: field b.name: expected a string, found a number",
            ]
        );
    }

    #[test]
    fn a_missing_field_is_reported_on_its_mapping_once() {
        let found = problems("a:\n  size: 3\n");
        assert_eq!(found, ["f.yaml:1:1: field a: missing field 'name'"]);
        let found = problems("a:\n  name: [1]\n");
        assert_eq!(
            found,
            ["f.yaml:2:3: field a.name: expected a string, found an array"]
        );
    }
}
