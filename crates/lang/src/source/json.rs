//! A strict RFC 8259 JSON reader that records the position of every node.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use super::{Parsed, Problem, join_pointer};
use crate::diagnostic::Position;

/// Deepest nesting accepted, to keep recursion bounded.
const MAX_DEPTH: usize = 256;

/// Reads one JSON document.
pub(super) fn parse(text: &str) -> Result<Parsed, Problem> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        at: 0,
        line: 1,
        line_start: 0,
        parsed: Parsed {
            value: Value::Null,
            positions: HashMap::new(),
            problems: Vec::new(),
        },
    };
    reader.skip_whitespace();
    let value = reader.value(String::new(), 0)?;
    reader.skip_whitespace();
    if reader.at < reader.bytes.len() {
        return Err(reader.error("unexpected text after the end of the JSON document"));
    }
    reader.parsed.value = value;
    Ok(reader.parsed)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    line: u32,
    line_start: usize,
    parsed: Parsed,
}

impl Reader<'_> {
    fn position(&self) -> Position {
        self.position_of(self.at)
    }

    fn position_of(&self, at: usize) -> Position {
        let column = self.text[self.line_start..at].chars().count() + 1;
        Position::new(self.line, u32::try_from(column).unwrap_or(u32::MAX))
    }

    fn error(&self, message: impl Into<String>) -> Problem {
        Problem::at(self.position(), message)
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> Problem {
        Problem::at(self.position_of(at), message)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(byte) = self.peek() {
            match byte {
                b' ' | b'\t' | b'\r' => self.at += 1,
                b'\n' => {
                    self.at += 1;
                    self.line += 1;
                    self.line_start = self.at;
                }
                _ => break,
            }
        }
    }

    fn found(&self) -> String {
        match self.text[self.at..].chars().next() {
            None => "end of input".to_owned(),
            Some(c) => format!("'{c}'"),
        }
    }

    /// Reads a value starting at the current (non-space) byte.
    fn value(&mut self, pointer: String, depth: usize) -> Result<Value, Problem> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        if pointer.is_empty() {
            let position = self.position();
            self.parsed.positions.insert(String::new(), position);
        }
        match self.peek() {
            Some(b'{') => self.object(pointer, depth),
            Some(b'[') => self.array(pointer, depth),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            _ => Err(self.error(format!("expected a JSON value, found {}", self.found()))),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, Problem> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error(format!("expected a JSON value, found {}", self.found())))
        }
    }

    fn object(&mut self, pointer: String, depth: usize) -> Result<Value, Problem> {
        self.at += 1;
        let mut map = Map::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error(format!(
                    "expected a member name in double quotes, found {}",
                    self.found()
                )));
            }
            let key_position = self.position();
            let key = self.string()?;
            let member = join_pointer(&pointer, &key);
            if map.contains_key(&key) {
                self.parsed
                    .duplicate_key(member.clone(), &key, key_position);
            }
            self.parsed.positions.insert(member.clone(), key_position);
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error(format!(
                    "expected ':' after member name, found {}",
                    self.found()
                )));
            }
            self.at += 1;
            self.skip_whitespace();
            let value = self.value(member, depth + 1)?;
            map.insert(key, value);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b'}') {
                        return Err(self.error("trailing comma before '}'"));
                    }
                }
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(map));
                }
                _ => {
                    return Err(self.error(format!(
                        "expected ',' or '}}' after an object member, found {}",
                        self.found()
                    )));
                }
            }
        }
    }

    fn array(&mut self, pointer: String, depth: usize) -> Result<Value, Problem> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_whitespace();
            let element = join_pointer(&pointer, &items.len().to_string());
            let position = self.position();
            self.parsed.positions.insert(element.clone(), position);
            items.push(self.value(element, depth + 1)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => {
                    self.at += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b']') {
                        return Err(self.error("trailing comma before ']'"));
                    }
                }
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => {
                    return Err(self.error(format!(
                        "expected ',' or ']' after an array element, found {}",
                        self.found()
                    )));
                }
            }
        }
    }

    fn number(&mut self) -> Result<Value, Problem> {
        let start = self.at;
        let digits = |reader: &mut Self| {
            let from = reader.at;
            while matches!(reader.peek(), Some(b'0'..=b'9')) {
                reader.at += 1;
            }
            reader.at > from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        if self.peek() == Some(b'0') {
            self.at += 1;
            if matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("leading zeros are not allowed in numbers"));
            }
        } else if !digits(self) {
            return Err(self.error(format!("expected a digit, found {}", self.found())));
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !digits(self) {
                return Err(self.error(format!(
                    "expected a digit after '.', found {}",
                    self.found()
                )));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return Err(self.error(format!(
                    "expected a digit in the exponent, found {}",
                    self.found()
                )));
            }
        }
        let text = &self.text[start..self.at];
        serde_json::from_str::<Number>(text)
            .map(Value::Number)
            .map_err(|_| self.error_at(start, format!("number {text} is out of range")))
    }

    /// Reads a string starting at its opening quote.
    fn string(&mut self) -> Result<String, Problem> {
        let open = self.at;
        self.at += 1;
        let mut out = String::new();
        loop {
            let run_start = self.at;
            while let Some(byte) = self.peek() {
                if byte == b'"' || byte == b'\\' || byte < 0x20 {
                    break;
                }
                self.at += 1;
            }
            out.push_str(&self.text[run_start..self.at]);
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.at += 1;
                    out.push(self.escape()?);
                }
                Some(_) => {
                    return Err(self.error("control characters must be escaped inside strings"));
                }
                None => return Err(self.error_at(open, "unterminated string")),
            }
        }
    }

    /// Reads the escape after a backslash.
    fn escape(&mut self) -> Result<char, Problem> {
        let Some(byte) = self.peek() else {
            return Err(self.error("unterminated escape sequence"));
        };
        self.at += 1;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => {
                self.at -= 1;
                return Err(self.error(format!(
                    "invalid escape sequence '\\{}'",
                    self.found().trim_matches('\'')
                )));
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, Problem> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(digits) = digits else {
            return Err(self.error("expected four hex digits after '\\u'"));
        };
        self.at += 4;
        u32::from_str_radix(digits, 16)
            .map_err(|_| self.error("expected four hex digits after '\\u'"))
    }

    fn unicode_escape(&mut self) -> Result<char, Problem> {
        let start = self.at - 2;
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if !self.text[self.at..].starts_with("\\u") {
                return Err(self.error_at(start, "unpaired surrogate in '\\u' escape"));
            }
            self.at += 2;
            let low = self.hex4()?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(self.error_at(start, "unpaired surrogate in '\\u' escape"));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code)
            .ok_or_else(|| self.error_at(start, "unpaired surrogate in '\\u' escape"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(text: &str) -> Parsed {
        parse(text).unwrap_or_else(|e| panic!("{}: {:?}", text, e.message))
    }

    fn err(text: &str) -> (Position, String) {
        let problem = parse(text).err().expect("expected a syntax error");
        (problem.position.unwrap(), problem.message)
    }

    #[test]
    fn values_match_serde_json() {
        let text = r#" {"a": [1, -2.5e3, 0, true, false, null], "b": {"c": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}, "big": 18446744073709551615, "f": 0.1} "#;
        assert_eq!(ok(text).value, serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(ok("\"é\"").value, json!("é"));
        assert_eq!(ok("[]").value, json!([]));
    }

    #[test]
    fn records_member_and_element_positions() {
        let parsed = ok("{\n  \"é\": [10,\n    {\"k\": 1}],\n  \"a/b\": 2\n}");
        let at = |p: &str| parsed.positions.get(p).copied();
        assert_eq!(at(""), Some(Position::new(1, 1)));
        assert_eq!(at("/é"), Some(Position::new(2, 3)));
        assert_eq!(at("/é/0"), Some(Position::new(2, 9)));
        assert_eq!(at("/é/1"), Some(Position::new(3, 5)));
        assert_eq!(at("/é/1/k"), Some(Position::new(3, 6)));
        assert_eq!(at("/a~1b"), Some(Position::new(4, 3)));
    }

    #[test]
    fn syntax_errors_point_at_the_problem() {
        assert_eq!(err("{\"a\": 1,}").0, Position::new(1, 9));
        assert_eq!(err("{\"a\" 1}").0, Position::new(1, 6));
        assert_eq!(err("[1 2]").0, Position::new(1, 4));
        assert_eq!(err("{\n \"a\": tru}").0, Position::new(2, 7));
        assert_eq!(err("{\"a\": \"x").0, Position::new(1, 7));
        assert_eq!(err("{} x").0, Position::new(1, 4));
        assert_eq!(err("01").0, Position::new(1, 2));
        assert!(err("1e999").1.contains("out of range"));
        assert!(err("\"\\ud800\"").1.contains("surrogate"));
        assert!(err("\"a\tb\"").1.contains("control"));
        assert!(err("\"\\x\"").1.contains("invalid escape"));
        assert!(err("").1.contains("end of input"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(10_000);
        assert!(err(&text).1.contains("nesting"));
    }

    #[test]
    fn every_corpus_line_reads_like_serde_json() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/conformance/asl-localstack.jsonl"
        );
        let Ok(corpus) = std::fs::read_to_string(path) else {
            eprintln!("skipping: conformance corpus not found at {path}");
            return;
        };
        for line in corpus.lines().filter(|line| !line.trim().is_empty()) {
            assert_eq!(ok(line).value, serde_json::from_str::<Value>(line).unwrap());
        }
    }
}
