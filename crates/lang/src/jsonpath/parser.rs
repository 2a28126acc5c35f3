//! Recursive-descent parser for paths and the filter expressions inside them.

use serde_json::Value;

use super::filter::{CompareOp, Expr, Operand};
use super::regex::Regex;
use super::{Function, Path, PathError, Segment};

/// Parses a whole path string, which must start with `$`.
pub(super) fn parse_path(src: &str) -> Result<Path, PathError> {
    match src.strip_prefix('$') {
        Some(rest) => parse_after_root(src, rest),
        None => Err(PathError::new(format!(
            "Invalid path '{src}': a path must start with '$'"
        ))),
    }
}

/// Parses `rest`, the part of `src` after its root (`$`, `$$` or `$name`), as the steps of a
/// `$` path.
pub(super) fn parse_after_root(src: &str, rest: &str) -> Result<Path, PathError> {
    let offset = src.len() - rest.len();
    let mut parser = Parser {
        src,
        bytes: src.as_bytes(),
        pos: offset,
        embedded: false,
    };
    let path = parser.steps()?;
    if parser.pos < src.len() {
        return Err(parser.error("unexpected character"));
    }
    Ok(path)
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// True while parsing a path inside a filter expression, where a path ends at the first
    /// character that cannot continue it (blank, operator, closing parenthesis).
    embedded: bool,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> PathError {
        PathError::new(format!(
            "Invalid path '{}': {what} at position {}",
            self.src, self.pos
        ))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), PathError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", byte as char)))
        }
    }

    /// The character starting at the current position.
    fn current_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    /// Parses the steps following a root, up to the end of the input or, when embedded, up to
    /// the first character that cannot continue a path.
    fn steps(&mut self) -> Result<Path, PathError> {
        let mut segments = Vec::new();
        let mut function = None;
        while let Some(byte) = self.peek() {
            if function.is_some() && matches!(byte, b'.' | b'[') {
                return Err(self.error("a path function must be the last step of a path"));
            }
            match byte {
                b'.' if self.peek_at(1) == Some(b'.') => {
                    self.pos += 2;
                    let inner = match self.peek() {
                        None => return Err(self.error("a path must not end with '..'")),
                        Some(b'[') => self.bracket()?,
                        Some(b'*') => {
                            self.pos += 1;
                            Segment::Wildcard
                        }
                        Some(b'.') => return Err(self.error("unexpected '.'")),
                        Some(_) => match self.name()? {
                            (name, false) => Segment::Member(name),
                            (_, true) => {
                                return Err(self.error("a function cannot follow a deep scan"));
                            }
                        },
                    };
                    segments.push(Segment::Descendants(Box::new(inner)));
                }
                b'.' => {
                    self.pos += 1;
                    match self.peek() {
                        None => return Err(self.error("a path must not end with '.'")),
                        Some(b'.') => return Err(self.error("unexpected '.'")),
                        Some(b'[') => segments.push(self.bracket()?),
                        Some(b'*') => {
                            self.pos += 1;
                            segments.push(Segment::Wildcard);
                        }
                        Some(_) => match self.name()? {
                            (name, false) => segments.push(Segment::Member(name)),
                            (name, true) => function = Some(self.function(&name)?),
                        },
                    }
                }
                b'[' => segments.push(self.bracket()?),
                _ if self.embedded => break,
                _ => return Err(self.error("unexpected character")),
            }
        }
        Ok(Path::from_parts(segments, function))
    }

    /// Reads a dot-notation member name. Returns the name and whether it is followed by `(`,
    /// making it a function call.
    fn name(&mut self) -> Result<(Box<str>, bool), PathError> {
        // Built only when the name contains escapes; otherwise the name is a slice of the input.
        let mut unescaped: Option<String> = None;
        let begin = self.pos;
        let mut start = self.pos;
        let mut is_function = false;
        while let Some(byte) = self.peek() {
            match byte {
                b'.' | b'[' => break,
                b'(' => {
                    is_function = true;
                    break;
                }
                b'\\' => {
                    let name = unescaped.get_or_insert_with(String::new);
                    name.push_str(&self.src[start..self.pos]);
                    self.pos += 1;
                    let Some(c) = self.current_char() else {
                        return Err(self.error("a path must not end with an escape character"));
                    };
                    name.push(c);
                    self.pos += c.len_utf8();
                    start = self.pos;
                }
                b' ' | b'\t' | b'\n' | b'\r' if !self.embedded => {
                    return Err(self.error(
                        "use bracket notation ['my prop'] for member names containing blanks",
                    ));
                }
                b' ' | b'\t' | b'\n' | b'\r' | b')' | b'<' | b'>' | b'=' | b'~' | b'!' | b'&'
                | b'|' | b',' | b']'
                    if self.embedded =>
                {
                    break;
                }
                _ => self.pos += 1,
            }
        }
        if self.pos == begin {
            return Err(self.error("empty member name"));
        }
        let name = match unescaped {
            Some(mut name) => {
                name.push_str(&self.src[start..self.pos]);
                name.into_boxed_str()
            }
            None => Box::from(&self.src[begin..self.pos]),
        };
        Ok((name, is_function))
    }

    /// Parses `()` after a function name and checks the function exists.
    fn function(&mut self, name: &str) -> Result<Function, PathError> {
        let Some(function) = Function::from_name(name) else {
            return Err(self.error(&format!("unknown path function '{name}()'")));
        };
        self.expect(b'(')?;
        self.skip_ws();
        if self.peek() != Some(b')') {
            return Err(self.error(&format!("the path function '{name}()' takes no arguments")));
        }
        self.pos += 1;
        Ok(function)
    }

    /// Parses a bracket step: `['a']`, `['a','b']`, `[0]`, `[0,1]`, `[1:2]`, `[*]`, `[?(...)]`.
    fn bracket(&mut self) -> Result<Segment, PathError> {
        self.expect(b'[')?;
        self.skip_ws();
        let segment = match self.peek() {
            Some(b'\'' | b'"') => {
                let mut names = Vec::new();
                loop {
                    names.push(self.quoted()?.into_boxed_str());
                    self.skip_ws();
                    if self.peek() == Some(b',') {
                        self.pos += 1;
                        self.skip_ws();
                    } else {
                        break;
                    }
                }
                if names.len() == 1 {
                    Segment::Member(names.pop().unwrap_or_default())
                } else {
                    Segment::Members(names.into_boxed_slice())
                }
            }
            Some(b'*') => {
                self.pos += 1;
                Segment::Wildcard
            }
            Some(b'?') => {
                self.pos += 1;
                self.skip_ws();
                self.expect(b'(')?;
                let expr = self.or_expr()?;
                self.skip_ws();
                self.expect(b')')?;
                Segment::Filter(Box::new(expr))
            }
            Some(b'-' | b'0'..=b'9' | b':') => self.indexes()?,
            _ => return Err(self.error("invalid bracket expression")),
        };
        self.skip_ws();
        self.expect(b']')?;
        Ok(segment)
    }

    /// Parses `0`, `-1`, `0,1,2`, `1:2`, `1:`, `:2` inside brackets.
    fn indexes(&mut self) -> Result<Segment, PathError> {
        let first = self.opt_int()?;
        self.skip_ws();
        if self.peek() == Some(b':') {
            self.pos += 1;
            self.skip_ws();
            let end = self.opt_int()?;
            self.skip_ws();
            if self.peek() == Some(b':') {
                return Err(self.error("array slice steps are not supported"));
            }
            return Ok(Segment::Slice(first, end));
        }
        let Some(first) = first else {
            return Err(self.error("expected an array index"));
        };
        if self.peek() != Some(b',') {
            return Ok(Segment::Index(first));
        }
        let mut indexes = vec![first];
        while self.peek() == Some(b',') {
            self.pos += 1;
            self.skip_ws();
            match self.opt_int()? {
                Some(index) => indexes.push(index),
                None => return Err(self.error("expected an array index")),
            }
            self.skip_ws();
        }
        Ok(Segment::Indexes(indexes.into_boxed_slice()))
    }

    fn opt_int(&mut self) -> Result<Option<i64>, PathError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        if self.pos == digits {
            if self.pos != start {
                return Err(self.error("expected digits after '-'"));
            }
            return Ok(None);
        }
        self.src[start..self.pos]
            .parse()
            .map(Some)
            .map_err(|_| self.error("array index out of range"))
    }

    /// Reads a single- or double-quoted string, unescaping `\'`, `\"`, `\\`, `\n`, `\t`, `\r`,
    /// `\b`, `\f`, `\/` and `\uXXXX`; any other escaped character stands for itself.
    fn quoted(&mut self) -> Result<String, PathError> {
        let Some(quote) = self.peek() else {
            return Err(self.error("expected a quoted string"));
        };
        self.pos += 1;
        let mut out = String::new();
        let mut start = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string")),
                Some(b) if b == quote => {
                    out.push_str(&self.src[start..self.pos]);
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.src[start..self.pos]);
                    self.pos += 1;
                    let Some(c) = self.current_char() else {
                        return Err(self.error("unterminated string"));
                    };
                    self.pos += c.len_utf8();
                    match c {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'u' => {
                            let hex = self
                                .src
                                .get(self.pos..self.pos + 4)
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32);
                            match hex {
                                Some(c) => {
                                    out.push(c);
                                    self.pos += 4;
                                }
                                None => return Err(self.error("invalid \\u escape")),
                            }
                        }
                        other => out.push(other),
                    }
                    start = self.pos;
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    // ---- filter expressions ------------------------------------------------------------

    fn or_expr(&mut self) -> Result<Expr, PathError> {
        let mut left = self.and_expr()?;
        loop {
            self.skip_ws();
            if self.peek() == Some(b'|') && self.peek_at(1) == Some(b'|') {
                self.pos += 2;
                let right = self.and_expr()?;
                left = Expr::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self) -> Result<Expr, PathError> {
        let mut left = self.unary_expr()?;
        loop {
            self.skip_ws();
            if self.peek() == Some(b'&') && self.peek_at(1) == Some(b'&') {
                self.pos += 2;
                let right = self.unary_expr()?;
                left = Expr::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary_expr(&mut self) -> Result<Expr, PathError> {
        self.skip_ws();
        match self.peek() {
            Some(b'!') if self.peek_at(1) != Some(b'=') => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary_expr()?)))
            }
            Some(b'(') => {
                self.pos += 1;
                let inner = self.or_expr()?;
                self.skip_ws();
                self.expect(b')')?;
                Ok(inner)
            }
            _ => self.relation(),
        }
    }

    fn relation(&mut self) -> Result<Expr, PathError> {
        let left = self.operand()?;
        self.skip_ws();
        let Some(op) = self.compare_op() else {
            return match left {
                Operand::Relative(path) => Ok(Expr::Exists(path, true)),
                Operand::Absolute(path) => Ok(Expr::Exists(path, false)),
                Operand::Literal(Value::Bool(b)) => Ok(Expr::Const(b)),
                _ => Err(self.error("expected a comparison operator")),
            };
        };
        self.skip_ws();
        let right = self.operand()?;
        Ok(Expr::Compare(left, op, right))
    }

    fn compare_op(&mut self) -> Option<CompareOp> {
        const SYMBOLS: [(&str, CompareOp); 9] = [
            ("===", CompareOp::StrictEq),
            ("!==", CompareOp::StrictNe),
            ("==", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            ("<=", CompareOp::Le),
            (">=", CompareOp::Ge),
            ("=~", CompareOp::Matches),
            ("<", CompareOp::Lt),
            (">", CompareOp::Gt),
        ];
        const WORDS: [(&str, CompareOp); 8] = [
            ("in", CompareOp::In),
            ("nin", CompareOp::Nin),
            ("subsetof", CompareOp::SubsetOf),
            ("anyof", CompareOp::AnyOf),
            ("noneof", CompareOp::NoneOf),
            ("size", CompareOp::Size),
            ("empty", CompareOp::Empty),
            ("contains", CompareOp::Contains),
        ];
        let rest = &self.src[self.pos..];
        for (symbol, op) in SYMBOLS {
            if rest.starts_with(symbol) {
                self.pos += symbol.len();
                return Some(op);
            }
        }
        let word_len = rest
            .bytes()
            .position(|b| !b.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let word = &rest[..word_len];
        let (_, op) = WORDS.iter().find(|(w, _)| *w == word)?;
        self.pos += word_len;
        Some(*op)
    }

    fn operand(&mut self) -> Result<Operand, PathError> {
        self.skip_ws();
        match self.peek() {
            Some(root @ (b'@' | b'$')) => {
                self.pos += 1;
                let saved = self.embedded;
                self.embedded = true;
                let path = self.steps();
                self.embedded = saved;
                let path = path?;
                Ok(if root == b'@' {
                    Operand::Relative(path)
                } else {
                    Operand::Absolute(path)
                })
            }
            Some(b'/') => self.regex(),
            Some(_) => Ok(Operand::Literal(self.literal()?)),
            None => Err(self.error("expected an operand")),
        }
    }

    /// Parses `/pattern/flags`.
    fn regex(&mut self) -> Result<Operand, PathError> {
        self.expect(b'/')?;
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated regular expression")),
                Some(b'\\') => self.pos += 2,
                Some(b'/') => break,
                Some(_) => self.pos += 1,
            }
        }
        let pattern = &self.src[start..self.pos.min(self.src.len())];
        self.pos += 1;
        let flags_start = self.pos;
        while matches!(self.peek(), Some(b'a'..=b'z')) {
            self.pos += 1;
        }
        let flags = &self.src[flags_start..self.pos];
        Regex::new(pattern, flags)
            .map(Operand::Regex)
            .map_err(|e| self.error(&format!("invalid regular expression /{pattern}/: {e}")))
    }

    /// Parses a literal value: a quoted string, number, `true`, `false`, `null`, or a JSON-like
    /// array or object whose strings may use single quotes.
    fn literal(&mut self) -> Result<Value, PathError> {
        self.skip_ws();
        match self.peek() {
            Some(b'\'' | b'"') => Ok(Value::String(self.quoted()?)),
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    items.push(self.literal()?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err(self.error("expected ',' or ']'")),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut map = serde_json::Map::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                loop {
                    self.skip_ws();
                    let key = self.quoted()?;
                    self.skip_ws();
                    self.expect(b':')?;
                    let value = self.literal()?;
                    map.insert(key, value);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Value::Object(map));
                        }
                        _ => return Err(self.error("expected ',' or '}'")),
                    }
                }
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't' | b'f' | b'n') => {
                for (word, value) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.src[self.pos..].starts_with(word)
                        && !self
                            .peek_at(word.len())
                            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                    {
                        self.pos += word.len();
                        return Ok(value);
                    }
                }
                Err(self.error("expected a value"))
            }
            _ => Err(self.error("expected a value")),
        }
    }

    fn number(&mut self) -> Result<Value, PathError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while matches!(
            self.peek(),
            Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
        ) {
            self.pos += 1;
        }
        let text = &self.src[start..self.pos];
        match serde_json::from_str::<Value>(text) {
            Ok(value @ Value::Number(_)) => Ok(value),
            _ => Err(self.error(&format!("invalid number '{text}'"))),
        }
    }
}
