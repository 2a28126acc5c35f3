//! A fast path for reading one top-level field of a JSON-lines record.
//!
//! [`top_level_string`] walks a line once, byte by byte, checking it against JSON's grammar as
//! it goes, and answers only when the answer is certain: the line is a valid JSON object and
//! the first occurrence of the field is a string without escapes ([`Scan::Found`]), or the line
//! is a valid JSON object without the field ([`Scan::Missing`]). Everything else — an escape in
//! a key or in the wanted value, a value that is not a string, a lone surrogate, deep nesting,
//! a byte that is not UTF-8, any syntax error — is [`Scan::Unsure`], and the caller parses the
//! line with `serde_json`, which gives the exact value or the exact error. So the fast path can
//! only ever be slower, never different.

/// The deepest nesting the fast path follows; deeper lines go to the full parser.
const MAX_DEPTH: usize = 64;

/// Numbers with this many decimal digits before the point (exponent included) go to the full
/// parser, which refuses those beyond `f64`'s range.
const MAX_MAGNITUDE: usize = 300;

fn hex_value(digit: u8) -> u32 {
    char::from(digit).to_digit(16).unwrap_or(0)
}

/// What the fast path knows of a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan<'a> {
    /// A valid object whose first `field` is this string, which has no escapes.
    Found(&'a str),
    /// A valid object without `field`.
    Missing,
    /// Anything else: ask the full parser.
    Unsure,
}

/// The first top-level `field` of the JSON object `line` (surrounding whitespace allowed).
pub fn top_level_string<'a>(line: &'a [u8], field: &str) -> Scan<'a> {
    let mut cursor = Cursor { text: line, at: 0 };
    match cursor.object(field.as_bytes()) {
        Some(found) if cursor.at_end() => match found {
            // Checked to be UTF-8 when its closing quote was read.
            Some(value) => std::str::from_utf8(value).map_or(Scan::Unsure, Scan::Found),
            None => Scan::Missing,
        },
        _ => Scan::Unsure,
    }
}

/// A position in a line; every method returns `None` where the full parser must decide.
struct Cursor<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn at_end(&mut self) -> bool {
        self.skip_whitespace();
        self.at == self.text.len()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// The top-level object: `Some(Some(value))` when `field` is found with a plain string.
    fn object(&mut self, field: &[u8]) -> Option<Option<&'a [u8]>> {
        self.expect(b'{')?;
        self.skip_whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(None);
        }
        let mut found = None;
        loop {
            self.expect(b'"')?;
            let (key, escaped) = self.string_body()?;
            if escaped {
                return None;
            }
            self.expect(b':')?;
            self.skip_whitespace();
            if found.is_none() && key == field {
                self.expect(b'"')?;
                let (value, escaped) = self.string_body()?;
                if escaped {
                    return None;
                }
                found = Some(value);
            } else {
                self.value(1)?;
            }
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(found);
                }
                _ => return None,
            }
        }
    }

    /// The rest of a string whose opening quote was read: its raw bytes, and whether it held
    /// an escape. Control characters, malformed escapes and bytes that are not UTF-8 are
    /// refused.
    fn string_body(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.at;
        let mut escaped = false;
        let mut bits = 0;
        loop {
            let byte = self.peek()?;
            bits |= byte;
            match byte {
                b'"' => {
                    self.at += 1;
                    let body = &self.text[start..self.at - 1];
                    if bits >= 0x80 && std::str::from_utf8(body).is_err() {
                        return None;
                    }
                    return Some((body, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.at += 1;
                    self.escape()?;
                }
                0x00..=0x1f => return None,
                _ => self.at += 1,
            }
        }
    }

    /// The escape after a backslash. `\u` must hold four hex digits and no surrogate (whether
    /// a pair is well formed is left to the full parser).
    fn escape(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.at += 1;
                Some(())
            }
            b'u' => {
                let digits = self.text.get(self.at + 1..self.at + 5)?;
                if !digits.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let code = digits
                    .iter()
                    .fold(0u32, |code, digit| code * 16 + hex_value(*digit));
                if (0xd800..=0xdfff).contains(&code) {
                    return None;
                }
                self.at += 5;
                Some(())
            }
            _ => None,
        }
    }

    /// Any JSON value, checked and skipped; `depth` counts the containers around it.
    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_whitespace();
        match self.peek()? {
            b'"' => {
                self.at += 1;
                self.string_body().map(drop)
            }
            b'{' => self.container(b'}', depth, true),
            b'[' => self.container(b']', depth, false),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// An object (`keyed`) or an array, from its opening bracket.
    fn container(&mut self, close: u8, depth: usize, keyed: bool) -> Option<()> {
        self.at += 1;
        self.skip_whitespace();
        if self.peek()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            if keyed {
                self.expect(b'"')?;
                self.string_body()?;
                self.expect(b':')?;
            }
            self.value(depth + 1)?;
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                byte if byte == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        (self.text.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, of a size that cannot overflow an
    /// `f64` (the full parser refuses those).
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let start = self.at;
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let whole_digits = self.at - start;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        let mut exponent = 0;
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            let negative = self.peek() == Some(b'-');
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            let digits_start = self.at;
            self.some_digits()?;
            let digits = &self.text[digits_start..self.at];
            if digits.len() > 3 {
                return None;
            }
            let value = digits
                .iter()
                .fold(0usize, |n, digit| n * 10 + usize::from(digit - b'0'));
            exponent = if negative { 0 } else { value };
        }
        (whole_digits + exponent < MAX_MAGNITUDE).then_some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(line: &str) -> Scan<'_> {
        top_level_string(line.as_bytes(), "value")
    }

    #[test]
    fn plain_records_are_answered() {
        assert_eq!(
            scan(r#"{"id": 0, "user": "u026225", "value": "data_2"}"#),
            Scan::Found("data_2")
        );
        assert_eq!(
            scan(r#" {"id":-1.5e+3,"x":[1,{"a":null}]} "#),
            Scan::Missing
        );
        assert_eq!(scan("{}"), Scan::Missing);
        assert_eq!(
            scan(r#"{"value":"first","value":"second"}"#),
            Scan::Found("first")
        );
        assert_eq!(
            scan(r#"{"note":"say \"hi\" \u00e9","value":"é"}"#),
            Scan::Found("é")
        );
    }

    #[test]
    fn anything_doubtful_goes_to_the_full_parser() {
        for line in [
            r#"{"value": 1}"#,
            r#"{"value": "a\nb"}"#,
            r#"{"val\u0075e": "x"}"#,
            r#"{"value": "x"} trailing"#,
            r#"{"value": "x",}"#,
            r#"{"id": 01, "value": "x"}"#,
            r#"{"id": 1., "value": "x"}"#,
            r#"{"id": 1e400, "value": "x"}"#,
            r#"{"id": 1e, "value": "x"}"#,
            r#"{"id": tru, "value": "x"}"#,
            r#"{"s": "\ud800", "value": "x"}"#,
            r#"{"s": "\q", "value": "x"}"#,
            "{\"s\": \"tab\there\", \"value\": \"x\"}",
            r#"["value", "x"]"#,
            r#"{"value" "x"}"#,
            r#"{"a": [1 2], "value": "x"}"#,
            "",
        ] {
            assert_eq!(scan(line), Scan::Unsure, "{line}");
        }
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(scan(&deep), Scan::Unsure);
        assert_eq!(
            top_level_string(b"{\"s\": \"\xff\", \"value\": \"x\"}", "value"),
            Scan::Unsure
        );
    }
}
