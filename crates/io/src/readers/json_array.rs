//! JSON array items, split incrementally: the array is never held whole, only one element at
//! a time. The splitter follows strings, escapes and nesting to find where each element ends,
//! and hands that element alone to the JSON parser.

/// The cause Step Functions reports for a JSON object that holds no array.
pub(crate) const NOT_AN_ARRAY: &str = "Attempting to map over non-iterable node.";

use super::{failed, malformed, read_failed};
use sluice_engine::invoke::TaskError;
use sluice_engine::items::ReadItem;
use std::io::{self, BufRead};

/// A byte scanner over JSON text that counts lines.
struct Scanner<R> {
    input: R,
    /// The line the next byte is on, from 1.
    line: u64,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

impl<R: BufRead> Scanner<R> {
    /// Consumes one byte.
    fn bump(&mut self) -> io::Result<()> {
        if let Some(&b) = self.input.fill_buf()?.first() {
            self.input.consume(1);
            if b == b'\n' {
                self.line += 1;
            }
        }
        Ok(())
    }

    /// Skips whitespace; the next byte, not consumed, or `None` at the end.
    fn skip_space(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let n = buf.iter().take_while(|&&b| is_space(b)).count();
            let next = buf.get(n).copied();
            self.line += newlines(&buf[..n]);
            self.input.consume(n);
            if next.is_some() {
                return Ok(next);
            }
        }
    }

    /// Reads one value up to a `,` or `closer` outside any string or nesting (not consumed:
    /// returned), or to the end (`None`). The value's bytes go to `out` when given.
    fn read_value(&mut self, closer: u8, mut out: Option<&mut Vec<u8>>) -> io::Result<Option<u8>> {
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let mut stop = None;
            let mut n = 0;
            for &b in buf {
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                    }
                } else {
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' if depth > 0 => depth -= 1,
                        b',' if depth == 0 => stop = Some(b),
                        _ if b == closer && depth == 0 => stop = Some(b),
                        _ => {}
                    }
                    if stop.is_some() {
                        break;
                    }
                }
                n += 1;
            }
            if let Some(out) = out.as_deref_mut() {
                out.extend_from_slice(&buf[..n]);
            }
            self.line += newlines(&buf[..n]);
            self.input.consume(n);
            if stop.is_some() {
                return Ok(stop);
            }
        }
    }

    /// Reads a string token (the next byte is its opening quote) and decodes it.
    fn read_string(&mut self) -> io::Result<Option<String>> {
        let mut token = Vec::new();
        self.bump()?;
        token.push(b'"');
        let mut escaped = false;
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let mut n = 0;
            let mut closed = false;
            for &b in buf {
                n += 1;
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    closed = true;
                    break;
                }
            }
            token.extend_from_slice(&buf[..n]);
            self.line += newlines(&buf[..n]);
            self.input.consume(n);
            if closed {
                return Ok(serde_json::from_slice(&token).ok());
            }
        }
    }
}

enum Phase {
    /// Not yet inside the array.
    Start,
    /// Inside the array; `first` until an element was read.
    Elements {
        first: bool,
    },
    /// The closing bracket was read.
    Closed,
    Done,
}

/// The elements of a JSON array as items.
pub(crate) struct JsonArrayItems<R> {
    scanner: Scanner<R>,
    origin: String,
    pointer: Option<String>,
    phase: Phase,
}

impl<R: BufRead> JsonArrayItems<R> {
    pub fn new(input: R, origin: String, pointer: Option<String>) -> Self {
        JsonArrayItems {
            scanner: Scanner { input, line: 1 },
            origin,
            pointer,
            phase: Phase::Start,
        }
    }

    fn io(&self, e: io::Error) -> TaskError {
        read_failed(&self.origin, e)
    }

    fn fail(&self, reason: impl std::fmt::Display) -> TaskError {
        failed(format!(
            "{} line {}: {reason}",
            self.origin, self.scanner.line
        ))
    }

    /// Moves to just inside the array: the top-level one, or the one `ItemsPointer` names.
    fn enter(&mut self) -> Result<(), TaskError> {
        let bom = self
            .scanner
            .input
            .fill_buf()
            .map(|buf| buf.starts_with(b"\xEF\xBB\xBF"));
        if bom.map_err(|e| self.io(e))? {
            self.scanner.input.consume(3);
        }
        if let Some(pointer) = self.pointer.clone() {
            self.descend(&pointer)?;
        }
        match self.scanner.skip_space().map_err(|e| self.io(e))? {
            Some(b'[') => self.scanner.bump().map_err(|e| self.io(e)),
            // The text Step Functions gives for an object that is not an array.
            Some(_) | None => Err(failed(NOT_AN_ARRAY.to_string())),
        }
    }

    /// Follows a JSON Pointer (RFC 6901) through objects and arrays.
    fn descend(&mut self, pointer: &str) -> Result<(), TaskError> {
        if pointer.is_empty() {
            return Ok(());
        }
        let Some(path) = pointer.strip_prefix('/') else {
            return Err(failed(format!(
                "ItemsPointer '{pointer}' must start with '/'"
            )));
        };
        for raw in path.split('/') {
            let segment = raw.replace("~1", "/").replace("~0", "~");
            let found = match self.scanner.skip_space().map_err(|e| self.io(e))? {
                Some(b'{') => self.find_member(&segment)?,
                Some(b'[') => match segment.parse::<usize>() {
                    Ok(index) => self.find_element(index)?,
                    Err(_) => false,
                },
                _ => false,
            };
            if !found {
                return Err(failed(format!(
                    "{}: ItemsPointer '{pointer}' names nothing ('{segment}' not found)",
                    self.origin
                )));
            }
        }
        Ok(())
    }

    /// Inside an object (at its `{`): moves to the value of member `name`.
    fn find_member(&mut self, name: &str) -> Result<bool, TaskError> {
        self.scanner.bump().map_err(|e| self.io(e))?;
        loop {
            if self.scanner.skip_space().map_err(|e| self.io(e))? != Some(b'"') {
                return Ok(false);
            }
            let key = self.scanner.read_string().map_err(|e| self.io(e))?;
            let Some(key) = key else {
                return Err(self.fail("malformed object key"));
            };
            if self.scanner.skip_space().map_err(|e| self.io(e))? != Some(b':') {
                return Err(self.fail("expected ':' after an object key"));
            }
            self.scanner.bump().map_err(|e| self.io(e))?;
            if key == name {
                return Ok(true);
            }
            match self
                .scanner
                .read_value(b'}', None)
                .map_err(|e| self.io(e))?
            {
                Some(b',') => self.scanner.bump().map_err(|e| self.io(e))?,
                _ => return Ok(false),
            }
        }
    }

    /// Inside an array (at its `[`): moves to element `index`.
    fn find_element(&mut self, index: usize) -> Result<bool, TaskError> {
        self.scanner.bump().map_err(|e| self.io(e))?;
        for _ in 0..index {
            if self.scanner.skip_space().map_err(|e| self.io(e))? == Some(b']') {
                return Ok(false);
            }
            match self
                .scanner
                .read_value(b']', None)
                .map_err(|e| self.io(e))?
            {
                Some(b',') => self.scanner.bump().map_err(|e| self.io(e))?,
                _ => return Ok(false),
            }
        }
        let next = self.scanner.skip_space().map_err(|e| self.io(e))?;
        Ok(!matches!(next, None | Some(b']')))
    }

    /// The next element, `None` after the closing bracket.
    fn element(&mut self, first: bool) -> Result<Option<ReadItem>, TaskError> {
        let not_closed = "the JSON array is not closed before the end of the object";
        match self.scanner.skip_space().map_err(|e| self.io(e))? {
            None => return Err(self.fail(not_closed)),
            Some(b']') if first => {
                self.scanner.bump().map_err(|e| self.io(e))?;
                self.phase = Phase::Closed;
                return Ok(None);
            }
            Some(_) => {}
        }
        let line = self.scanner.line;
        let mut bytes = Vec::new();
        let stop = self
            .scanner
            .read_value(b']', Some(&mut bytes))
            .map_err(|e| self.io(e))?;
        match stop {
            Some(b']') => self.phase = Phase::Closed,
            Some(_) => self.phase = Phase::Elements { first: false },
            None => return Err(self.fail(not_closed)),
        }
        self.scanner.bump().map_err(|e| self.io(e))?;
        let bytes = bytes.trim_ascii();
        Ok(Some(if bytes.is_empty() {
            malformed(&self.origin, line, "empty array element")
        } else {
            match serde_json::from_slice(bytes) {
                Ok(value) => ReadItem::Item(value),
                Err(e) => malformed(&self.origin, line, e),
            }
        }))
    }

    /// After the array: only whitespace may follow a top-level array.
    fn finish(&mut self) -> Result<(), TaskError> {
        if self.pointer.is_some() {
            return Ok(());
        }
        match self.scanner.skip_space().map_err(|e| self.io(e))? {
            None => Ok(()),
            Some(_) => Err(self.fail("unexpected content after the JSON array")),
        }
    }

    fn step(&mut self) -> Result<Option<ReadItem>, TaskError> {
        loop {
            match self.phase {
                Phase::Start => {
                    self.enter()?;
                    self.phase = Phase::Elements { first: true };
                }
                Phase::Elements { first } => {
                    if let Some(item) = self.element(first)? {
                        return Ok(Some(item));
                    }
                }
                Phase::Closed => {
                    self.phase = Phase::Done;
                    self.finish()?;
                }
                Phase::Done => return Ok(None),
            }
        }
    }
}

impl<R: BufRead> Iterator for JsonArrayItems<R> {
    type Item = Result<ReadItem, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.step();
        if next.is_err() {
            self.phase = Phase::Done;
        }
        next.transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str, pointer: Option<&str>) -> Vec<Result<ReadItem, TaskError>> {
        JsonArrayItems::new(text.as_bytes(), "b/k".into(), pointer.map(str::to_string)).collect()
    }

    fn item(v: serde_json::Value) -> Result<ReadItem, TaskError> {
        Ok(ReadItem::Item(v))
    }

    #[test]
    fn elements_are_split_across_strings_and_nesting() {
        let text = "\u{feff} [ {\"a\": \"x],y\\\"\"}, [1, [2]], \"s\" ,\n 3.5, null ]\n";
        assert_eq!(
            read(text, None),
            vec![
                item(json!({"a": "x],y\""})),
                item(json!([1, [2]])),
                item(json!("s")),
                item(json!(3.5)),
                item(json!(null)),
            ]
        );
        assert!(read("[]", None).is_empty());
    }

    #[test]
    fn a_bad_element_fails_alone() {
        let got = read("[1,\n tru ,\n{\"k\": 2}]", None);
        assert_eq!(got[0], item(json!(1)));
        match &got[1] {
            Ok(ReadItem::Malformed(e)) => {
                assert!(e.cause.starts_with("b/k line 2: "), "{}", e.cause)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(got[2], item(json!({"k": 2})));
    }

    #[test]
    fn structure_errors_end_the_read() {
        for (text, expected) in [
            ("{\"a\": 1}", NOT_AN_ARRAY),
            ("[1, 2", "not closed"),
            ("[1] x", "unexpected content"),
        ] {
            let got = read(text, None);
            let e = got.last().unwrap().as_ref().unwrap_err();
            assert!(e.cause.contains(expected), "{text}: {}", e.cause);
        }
    }

    #[test]
    fn items_pointer_finds_a_nested_array() {
        let text =
            r#"{"skip": {"items": [0]}, "data": [{"x": []}, {"items": [1, 2]}], "after": 1}"#;
        assert_eq!(
            read(text, Some("/data/1/items")),
            vec![item(json!(1)), item(json!(2))]
        );
        let e = read(text, Some("/data/7")).pop().unwrap().unwrap_err();
        assert!(e.cause.contains("names nothing"), "{}", e.cause);
    }
}
