//! CSV items: an incremental record parser and the rows-to-objects reader over it.

use super::spec::{CsvOptions, check_headers};
use super::{failed, malformed, read_failed};
use serde_json::{Map, Value};
use sluice_engine::invoke::TaskError;
use sluice_engine::items::ReadItem;
use std::io::{self, BufRead};

/// One record: the line it starts on, and its fields or why it cannot be read.
#[derive(Debug, PartialEq)]
pub(crate) struct Record {
    pub line: u64,
    pub fields: Result<Vec<String>, String>,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    /// At the start of a field.
    FieldStart,
    /// Inside an unquoted field.
    Unquoted,
    /// After a backslash in an unquoted field.
    UnquotedEscape,
    /// Inside a quoted field.
    Quoted,
    /// After a backslash in a quoted field.
    QuotedEscape,
    /// After a quote inside a quoted field: a closing quote, or the first of `""`.
    QuoteInQuoted,
    /// In a broken record, skipping to the end of its line.
    Skip,
}

/// Parses CSV records from a byte stream, one at a time, tracking line numbers.
pub(crate) struct CsvParser<R> {
    input: R,
    delimiter: u8,
    /// The line the next byte is on, from 1.
    line: u64,
}

impl<R: BufRead> CsvParser<R> {
    pub fn new(input: R, delimiter: u8) -> Self {
        CsvParser {
            input,
            delimiter,
            line: 1,
        }
    }

    /// The next non-blank record, `None` at the end of the input.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        if self.line == 1 && self.input.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
            self.input.consume(3);
        }
        loop {
            match self.parse_record()? {
                None => return Ok(None),
                Some((_, true)) => continue,
                Some((record, false)) => return Ok(Some(record)),
            }
        }
    }

    /// One physical record and whether it was blank.
    fn parse_record(&mut self) -> io::Result<Option<(Record, bool)>> {
        let line = self.line;
        let mut fields: Vec<Vec<u8>> = Vec::new();
        let mut field: Vec<u8> = Vec::new();
        let mut state = State::FieldStart;
        let mut error: Option<String> = None;
        let mut started = false;
        let mut blank = true;
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                if !started {
                    return Ok(None);
                }
                if matches!(state, State::Quoted | State::QuotedEscape) {
                    error =
                        Some("a quoted field is not closed before the end of the object".into());
                }
                break;
            }
            started = true;
            let mut used = 0;
            let mut ended = false;
            for &b in buf {
                used += 1;
                if b == b'\n' {
                    self.line += 1;
                }
                if b != b'\n' && b != b'\r' {
                    blank = false;
                }
                state = match (state, b) {
                    (State::Skip, b'\n') => {
                        ended = true;
                        break;
                    }
                    (State::Skip, _) => State::Skip,
                    (State::FieldStart | State::Unquoted | State::QuoteInQuoted, b'\n') => {
                        if state != State::QuoteInQuoted && field.last() == Some(&b'\r') {
                            field.pop();
                        }
                        ended = true;
                        break;
                    }
                    (State::FieldStart | State::Unquoted | State::QuoteInQuoted, d)
                        if d == self.delimiter =>
                    {
                        fields.push(std::mem::take(&mut field));
                        State::FieldStart
                    }
                    (State::FieldStart, b'"') => {
                        blank = false;
                        State::Quoted
                    }
                    (State::FieldStart | State::Unquoted, b'\\') => State::UnquotedEscape,
                    (State::FieldStart | State::Unquoted, _) => {
                        field.push(b);
                        State::Unquoted
                    }
                    (State::UnquotedEscape, _) => {
                        field.push(b);
                        State::Unquoted
                    }
                    (State::Quoted, b'"') => State::QuoteInQuoted,
                    (State::Quoted, b'\\') => State::QuotedEscape,
                    (State::Quoted | State::QuotedEscape, _) => {
                        field.push(b);
                        State::Quoted
                    }
                    (State::QuoteInQuoted, b'"') => {
                        field.push(b'"');
                        State::Quoted
                    }
                    (State::QuoteInQuoted, b'\r') => State::QuoteInQuoted,
                    (State::QuoteInQuoted, _) => {
                        error = Some(format!(
                            "unexpected character '{}' after a closing quote",
                            (b as char).escape_default()
                        ));
                        State::Skip
                    }
                };
            }
            self.input.consume(used);
            if ended {
                break;
            }
        }
        if blank {
            return Ok(Some((
                Record {
                    line,
                    fields: Ok(Vec::new()),
                },
                true,
            )));
        }
        fields.push(field);
        let fields = match error {
            Some(reason) => Err(reason),
            None => fields
                .into_iter()
                .enumerate()
                .map(|(i, f)| {
                    String::from_utf8(f).map_err(|_| format!("field {} is not valid UTF-8", i + 1))
                })
                .collect(),
        };
        Ok(Some((Record { line, fields }, false)))
    }
}

/// Rows as items: objects of header name -> string value.
pub(crate) struct CsvItems<R> {
    parser: CsvParser<R>,
    origin: String,
    headers: Option<Vec<String>>,
    done: bool,
}

impl<R: BufRead> CsvItems<R> {
    pub fn new(input: R, origin: String, options: CsvOptions) -> Self {
        CsvItems {
            parser: CsvParser::new(input, options.delimiter),
            origin,
            headers: options.headers,
            done: false,
        }
    }

    /// Reads the header row the first time when it is not given; `false` when the input is
    /// empty.
    fn load_headers(&mut self) -> Result<bool, TaskError> {
        if self.headers.is_some() {
            return Ok(true);
        }
        let record = self
            .parser
            .next_record()
            .map_err(|e| read_failed(&self.origin, e))?;
        let Some(record) = record else {
            return Ok(false);
        };
        let names = record.fields.map_err(|reason| {
            failed(format!(
                "{} line {}: header row: {reason}",
                self.origin, record.line
            ))
        })?;
        check_headers(&names).map_err(|e| failed(format!("{}: {}", self.origin, e.cause)))?;
        self.headers = Some(names);
        Ok(true)
    }

    fn next_item(&mut self) -> Result<Option<ReadItem>, TaskError> {
        if !self.load_headers()? {
            return Ok(None);
        }
        let record = self
            .parser
            .next_record()
            .map_err(|e| read_failed(&self.origin, e))?;
        let Some(record) = record else {
            return Ok(None);
        };
        let headers = self.headers.as_deref().unwrap_or_default();
        Ok(Some(match record.fields {
            Ok(fields) => ReadItem::Item(row(headers, fields)),
            Err(reason) => malformed(&self.origin, record.line, reason),
        }))
    }
}

/// A row as Step Functions shapes it: every header present, missing fields `""`, extra
/// fields dropped.
fn row(headers: &[String], fields: Vec<String>) -> Value {
    let mut fields = fields.into_iter();
    let map: Map<String, Value> = headers
        .iter()
        .map(|h| (h.clone(), Value::String(fields.next().unwrap_or_default())))
        .collect();
    Value::Object(map)
}

impl<R: BufRead> Iterator for CsvItems<R> {
    type Item = Result<ReadItem, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_item();
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
        }
        next.transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str, delimiter: u8) -> Vec<(u64, Result<Vec<String>, String>)> {
        let mut parser = CsvParser::new(text.as_bytes(), delimiter);
        let mut out = Vec::new();
        while let Some(r) = parser.next_record().unwrap() {
            out.push((r.line, r.fields));
        }
        out
    }

    fn ok(fields: &[&str]) -> Result<Vec<String>, String> {
        Ok(fields.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn quoting_escapes_and_line_ends() {
        let got = records(
            "a,b,c\r\n\"x,1\",\"say \"\"hi\"\"\",\"two\nlines\"\n\nd\\,e,f\\g,\"q\\\"\"\nlast,,",
            b',',
        );
        assert_eq!(
            got,
            vec![
                (1, ok(&["a", "b", "c"])),
                (2, ok(&["x,1", "say \"hi\"", "two\nlines"])),
                (5, ok(&["d,e", "fg", "q\""])),
                (6, ok(&["last", "", ""])),
            ]
        );
    }

    #[test]
    fn broken_records_are_reported_and_reading_goes_on() {
        let got = records("a|b\n\"x\"y|z\nc|d\n\"open|e", b'|');
        assert_eq!(got[0], (1, ok(&["a", "b"])));
        assert_eq!(got[1].0, 2);
        assert!(
            got[1]
                .1
                .as_ref()
                .unwrap_err()
                .contains("after a closing quote")
        );
        assert_eq!(got[2], (3, ok(&["c", "d"])));
        assert_eq!(got[3].0, 4);
        assert!(got[3].1.as_ref().unwrap_err().contains("not closed"));
    }

    #[test]
    fn rows_become_objects_of_strings() {
        let options = CsvOptions {
            headers: None,
            delimiter: b',',
        };
        let items: Vec<_> =
            CsvItems::new("\u{feff}n,v\n1,2,3\n4\n".as_bytes(), "b/k".into(), options)
                .map(|r| r.unwrap())
                .collect();
        assert_eq!(
            items,
            vec![
                ReadItem::Item(serde_json::json!({"n": "1", "v": "2"})),
                ReadItem::Item(serde_json::json!({"n": "4", "v": ""})),
            ]
        );
    }
}
