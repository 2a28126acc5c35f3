//! Builds a JSON value and node positions from `saphyr-parser` events.
//!
//! Scalars follow the YAML 1.2 core schema: plain `null`/`~`/empty, `true`/`false`, integers and
//! floats become JSON types; quoted and block scalars stay strings. Anchors and aliases are
//! expanded (with a budget); complex keys and multiple documents are rejected.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

use super::{Parsed, Problem, join_pointer};
use crate::diagnostic::Position;

/// Most nodes alias expansion may produce, so a small file cannot blow up memory.
const MAX_EXPANDED_NODES: usize = 1_000_000;

/// Reads one YAML document.
pub(super) fn parse(text: &str) -> Result<Parsed, Problem> {
    let mut builder = Builder {
        parsed: Parsed {
            value: Value::Null,
            positions: HashMap::new(),
            problems: Vec::new(),
        },
        frames: Vec::new(),
        root: None,
        anchors: HashMap::new(),
        expanded: 0,
        documents: 0,
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| Problem::at(position(*e.marker()), e.info()))?;
        builder.event(event, span)?;
    }
    match builder.root.take() {
        Some(value) => {
            builder.parsed.value = value;
            Ok(builder.parsed)
        }
        None => Err(Problem::at(Position::new(1, 1), "the definition is empty")),
    }
}

fn position(marker: Marker) -> Position {
    let line = u32::try_from(marker.line()).unwrap_or(u32::MAX);
    let column = u32::try_from(marker.col() + 1).unwrap_or(u32::MAX);
    Position::new(line, column)
}

enum Frame {
    Map {
        pointer: String,
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
    },
    Seq {
        pointer: String,
        items: Vec<Value>,
        anchor: usize,
    },
}

/// Where the next node goes.
enum Slot {
    /// It is the key of a mapping entry.
    Key,
    /// It is a value at this pointer.
    Value(String),
}

struct Builder {
    parsed: Parsed,
    frames: Vec<Frame>,
    root: Option<Value>,
    anchors: HashMap<usize, (Value, usize)>,
    expanded: usize,
    documents: usize,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Problem> {
        let at = position(span.start);
        let is_map = matches!(event, Event::MappingStart(..));
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Problem::at(
                        at,
                        "a definition file must hold a single YAML document",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => match self.slot(at) {
                Slot::Key => self.key(text.into_owned(), at),
                Slot::Value(pointer) => {
                    let value = self.scalar(&text, style, tag.as_deref(), &pointer, at);
                    self.finish(value, anchor);
                }
            },
            Event::MappingStart(anchor, tag) | Event::SequenceStart(anchor, tag) => {
                let Slot::Value(pointer) = self.slot(at) else {
                    return Err(Problem::at(
                        at,
                        "mapping keys must be plain values, not collections",
                    ));
                };
                if let Some(tag) = tag.as_deref().filter(|t| !t.is_yaml_core_schema()) {
                    self.unsupported_tag(tag, &pointer, at);
                }
                self.frames.push(if is_map {
                    Frame::Map {
                        pointer,
                        map: Map::new(),
                        key: None,
                        anchor,
                    }
                } else {
                    Frame::Seq {
                        pointer,
                        items: Vec::new(),
                        anchor,
                    }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (value, anchor) = match self.frames.pop() {
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    None => return Ok(()),
                };
                self.finish(value, anchor);
            }
            Event::Alias(id) => {
                let Some((value, nodes)) = self.anchors.get(&id).cloned() else {
                    return Err(Problem::at(at, "alias refers to an unknown anchor"));
                };
                self.expanded += nodes;
                if self.expanded > MAX_EXPANDED_NODES {
                    return Err(Problem::at(at, "aliases expand to too many nodes"));
                }
                match self.slot(at) {
                    Slot::Key => match value {
                        Value::String(key) => self.key(key, at),
                        _ => {
                            return Err(Problem::at(
                                at,
                                "an alias used as a mapping key must name a string",
                            ));
                        }
                    },
                    Slot::Value(_) => self.finish(value, 0),
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    /// Decides where the node starting at `at` goes, recording its position when it is a value.
    fn slot(&mut self, at: Position) -> Slot {
        let pointer = match self.frames.last() {
            None => {
                self.parsed.positions.insert(String::new(), at);
                return Slot::Value(String::new());
            }
            Some(Frame::Map { key: None, .. }) => return Slot::Key,
            Some(Frame::Map {
                pointer,
                key: Some(key),
                ..
            }) => return Slot::Value(join_pointer(pointer, key)),
            Some(Frame::Seq { pointer, items, .. }) => {
                join_pointer(pointer, &items.len().to_string())
            }
        };
        self.parsed.positions.insert(pointer.clone(), at);
        Slot::Value(pointer)
    }

    fn key(&mut self, key: String, at: Position) {
        let Some(Frame::Map {
            pointer,
            map,
            key: slot,
            ..
        }) = self.frames.last_mut()
        else {
            return;
        };
        let member = join_pointer(pointer, &key);
        if map.contains_key(&key) {
            self.parsed.duplicate_key(member.clone(), &key, at);
        }
        self.parsed.positions.insert(member, at);
        *slot = Some(key);
    }

    /// Attaches a finished node to its parent (or makes it the root) and remembers its anchor.
    fn finish(&mut self, value: Value, anchor: usize) {
        if anchor != 0 {
            self.anchors
                .insert(anchor, (value.clone(), count_nodes(&value)));
        }
        match self.frames.last_mut() {
            Some(Frame::Map { map, key, .. }) => {
                if let Some(key) = key.take() {
                    map.insert(key, value);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(value),
            None => {
                if self.root.is_none() {
                    self.root = Some(value);
                }
            }
        }
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        pointer: &str,
        at: Position,
    ) -> Value {
        let plain = style == ScalarStyle::Plain;
        let Some(tag) = tag else {
            return if plain {
                resolve_plain(text)
            } else {
                Value::String(text.to_owned())
            };
        };
        if !tag.is_yaml_core_schema() {
            self.unsupported_tag(tag, pointer, at);
            return if plain {
                resolve_plain(text)
            } else {
                Value::String(text.to_owned())
            };
        }
        let resolved = resolve_plain(text);
        let fits = match tag.suffix.as_str() {
            "str" => return Value::String(text.to_owned()),
            "null" => resolved.is_null(),
            "bool" => resolved.is_boolean(),
            "int" => resolved.is_i64() || resolved.is_u64(),
            "float" => resolved.is_number(),
            _ => false,
        };
        if !fits {
            self.parsed.problems.push(Problem {
                pointer: pointer.to_owned(),
                position: Some(at),
                message: format!("'{text}' is not a valid {tag}"),
                hint: None,
            });
        }
        resolved
    }

    fn unsupported_tag(&mut self, tag: &Tag, pointer: &str, at: Position) {
        self.parsed.problems.push(Problem {
            pointer: pointer.to_owned(),
            position: Some(at),
            message: format!("unsupported YAML tag '{tag}'"),
            hint: Some("remove the tag; definitions are plain JSON-compatible YAML".to_owned()),
        });
    }
}

fn count_nodes(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(number) = resolve_int(text) {
        return Value::Number(number);
    }
    if is_float(text)
        && let Some(number) = text.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(number);
    }
    Value::String(text.to_owned())
}

fn resolve_int(text: &str) -> Option<Number> {
    let radix = |digits: &str, radix: u32| {
        (!digits.is_empty())
            .then(|| u64::from_str_radix(digits, radix).ok())
            .flatten()
            .map(Number::from)
    };
    if let Some(hex) = text.strip_prefix("0x") {
        return radix(hex, 16);
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return radix(octal, 8);
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let unsigned: Cow<'_, str> = if text.starts_with('+') {
        Cow::Borrowed(digits)
    } else {
        Cow::Borrowed(text)
    };
    if let Ok(n) = unsigned.parse::<i64>() {
        return Some(Number::from(n));
    }
    if let Ok(n) = unsigned.parse::<u64>() {
        return Some(Number::from(n));
    }
    unsigned.parse::<f64>().ok().and_then(Number::from_f64)
}

/// `[-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`
fn is_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(cut) => (&body[..cut], Some(&body[cut + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match fraction {
        Some(fraction) => {
            all_digits(whole) && all_digits(fraction) && !(whole.is_empty() && fraction.is_empty())
        }
        None => !whole.is_empty() && all_digits(whole),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
        !digits.is_empty() && all_digits(digits)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(text: &str) -> Parsed {
        parse(text).unwrap_or_else(|e| panic!("{text}: {}", e.message))
    }

    #[test]
    fn resolves_core_schema_scalars() {
        let parsed = ok(concat!(
            "a: true\nb: False\nc: ~\nd:\ne: 12\nf: -3\ng: 2.0\nh: 1e3\ni: 0x1F\nj: 0o17\n",
            "k: '12'\nl: \"true\"\nm: yes\nn: .inf\no: 1.2.3\np: !!str 5\nq: +7\nr: .5\n",
            "s: |\n  line\nt: 18446744073709551615\n"
        ));
        assert_eq!(
            parsed.value,
            json!({
                "a": true, "b": false, "c": null, "d": null, "e": 12, "f": -3, "g": 2.0, "h": 1000.0,
                "i": 31, "j": 15, "k": "12", "l": "true", "m": "yes", "n": ".inf", "o": "1.2.3",
                "p": "5", "q": 7, "r": 0.5, "s": "line\n", "t": 18446744073709551615u64
            })
        );
        assert!(parsed.value["g"].is_f64());
        assert!(parsed.problems.is_empty());
    }

    #[test]
    fn records_positions_of_keys_and_elements() {
        let text = "States:\n  - Name: A\n    Type: Pass\n  - \"Name\": B\nList: [x, 'y']\n";
        let parsed = ok(text);
        let at = |p: &str| parsed.positions.get(p).copied();
        assert_eq!(at(""), Some(Position::new(1, 1)));
        assert_eq!(at("/States"), Some(Position::new(1, 1)));
        assert_eq!(at("/States/0"), Some(Position::new(2, 5)));
        assert_eq!(at("/States/0/Type"), Some(Position::new(3, 5)));
        assert_eq!(at("/States/1/Name"), Some(Position::new(4, 5)));
        assert_eq!(at("/List/1"), Some(Position::new(5, 11)));
    }

    #[test]
    fn expands_anchors_and_aliases() {
        let parsed = ok("base: &b {x: 1}\ncopy: *b\nlist: [&s hi, *s]\n");
        assert_eq!(
            parsed.value,
            json!({"base": {"x": 1}, "copy": {"x": 1}, "list": ["hi", "hi"]})
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"));
        }
        let problem = parse(&text).err().expect("should be refused");
        assert!(problem.message.contains("too many"));
    }

    #[test]
    fn rejects_multiple_documents_complex_keys_and_empty_text() {
        assert!(
            parse("a: 1\n---\nb: 2\n")
                .err()
                .unwrap()
                .message
                .contains("single")
        );
        assert!(
            parse("? [a]\n: 1\n")
                .err()
                .unwrap()
                .message
                .contains("keys")
        );
        assert!(
            parse("# nothing\n")
                .err()
                .unwrap()
                .message
                .contains("empty")
        );
    }

    #[test]
    fn reports_tags() {
        let parsed = ok("a: !Ref x\nb: !!int nope\n");
        assert_eq!(parsed.problems.len(), 2);
        assert_eq!(parsed.problems[0].position, Some(Position::new(1, 4)));
        assert_eq!(parsed.problems[1].pointer, "/b");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let problem = parse("a: 1\n b: 2\n").err().expect("bad indentation");
        assert_eq!(problem.position.unwrap().line, 2);
    }

    #[test]
    fn json_text_of_every_corpus_definition_reads_the_same_as_yaml() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/conformance/asl-localstack.jsonl"
        );
        let Ok(corpus) = std::fs::read_to_string(path) else {
            eprintln!("skipping: conformance corpus not found at {path}");
            return;
        };
        for line in corpus.lines().filter(|line| !line.trim().is_empty()) {
            let case: Value = serde_json::from_str(line).expect("corpus line is JSON");
            let definition = &case["definition"];
            let text = serde_json::to_string_pretty(definition).expect("serializes");
            let parsed = parse(&text).unwrap_or_else(|e| panic!("{}: {}", case["id"], e.message));
            assert_eq!(&parsed.value, definition, "{}", case["id"]);
            assert!(parsed.problems.is_empty(), "{}", case["id"]);
        }
    }
}
