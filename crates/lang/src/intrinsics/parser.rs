//! Parser for intrinsic function calls.

use serde_json::Value;

use super::{Arg, Function, IntrinsicCall, IntrinsicError, MAX_NESTING};
use crate::jsonpath;

pub(super) fn parse(src: &str) -> Result<IntrinsicCall, IntrinsicError> {
    let mut parser = Parser {
        src,
        bytes: src.as_bytes(),
        pos: 0,
    };
    let call = parser.call(1)?;
    parser.skip_ws();
    if parser.pos < src.len() {
        return Err(parser.error("unexpected text after the closing parenthesis"));
    }
    Ok(call)
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, what: &str) -> IntrinsicError {
        IntrinsicError::new(format!(
            "Invalid intrinsic function call '{}': {what} (at position {})",
            self.src, self.pos
        ))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn name(&mut self) -> &'a str {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn call(&mut self, depth: usize) -> Result<IntrinsicCall, IntrinsicError> {
        let start = self.pos;
        let name = self.name();
        if name.is_empty() {
            return Err(self.error("expected a function name"));
        }
        let Some(function) = Function::from_name(name) else {
            let message = format!("unknown function '{name}'");
            self.pos = start;
            return Err(self.error(&message));
        };
        if depth > MAX_NESTING {
            self.pos = start;
            return Err(self.error(&format!(
                "intrinsic functions can be nested at most {MAX_NESTING} deep"
            )));
        }
        self.skip_ws();
        if self.peek() != Some(b'(') {
            return Err(self.error("expected '('"));
        }
        self.pos += 1;
        self.skip_ws();
        let mut args = Vec::new();
        if self.peek() == Some(b')') {
            self.pos += 1;
        } else {
            loop {
                args.push(self.arg(depth)?);
                self.skip_ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                    }
                    Some(b')') => {
                        self.pos += 1;
                        break;
                    }
                    Some(_) => return Err(self.error("expected ',' or ')'")),
                    None => return Err(self.error("missing ')'")),
                }
            }
        }
        check_arguments(function, &args).map_err(|detail| {
            IntrinsicError::new(format!(
                "Invalid intrinsic function call '{}': {detail}",
                self.src
            ))
        })?;
        Ok(IntrinsicCall { function, args })
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, IntrinsicError> {
        match self.peek() {
            Some(b'\'') => self.string(),
            Some(b'$') => self.path(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => {
                let start = self.pos;
                let word = self.name();
                let literal = match word {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    "null" => Some(Value::Null),
                    _ => None,
                };
                let after = self.pos;
                self.skip_ws();
                if self.peek() == Some(b'(') {
                    self.pos = start;
                    return self.call(depth + 1).map(Arg::Call);
                }
                self.pos = after;
                match literal {
                    Some(value) => Ok(Arg::Literal(value)),
                    None => {
                        self.pos = start;
                        Err(self.error(&format!("unexpected argument '{word}'")))
                    }
                }
            }
            Some(_) => Err(self.error("expected an argument")),
            None => Err(self.error("missing ')'")),
        }
    }

    /// A single-quoted string; `\` makes the next character literal.
    fn string(&mut self) -> Result<Arg, IntrinsicError> {
        self.pos += 1;
        let start = self.pos;
        let mut value = String::new();
        let mut chunk = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated string literal")),
                Some(b'\'') => break,
                Some(b'\\') => {
                    value.push_str(&self.src[chunk..self.pos]);
                    self.pos += 1;
                    let Some(c) = self.src[self.pos..].chars().next() else {
                        return Err(self.error("unterminated escape sequence"));
                    };
                    value.push(c);
                    self.pos += c.len_utf8();
                    chunk = self.pos;
                }
                Some(_) => self.pos += 1,
            }
        }
        value.push_str(&self.src[chunk..self.pos]);
        let raw = self.src[start..self.pos].to_owned();
        self.pos += 1;
        Ok(Arg::String { value, raw })
    }

    fn number(&mut self) -> Result<Arg, IntrinsicError> {
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
            Ok(value @ Value::Number(_)) => Ok(Arg::Literal(value)),
            _ => {
                self.pos = start;
                Err(self.error(&format!("invalid number '{text}'")))
            }
        }
    }

    /// A path argument: runs to the first `,`, `)` or blank outside brackets, quotes and
    /// parentheses, and must parse as a path.
    fn path(&mut self) -> Result<Arg, IntrinsicError> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<u8> = None;
        while let Some(byte) = self.peek() {
            if let Some(q) = quote {
                match byte {
                    b'\\' => self.pos += 1,
                    b if b == q => quote = None,
                    _ => {}
                }
            } else {
                match byte {
                    b'\'' | b'"' if depth > 0 => quote = Some(byte),
                    b'[' | b'(' => depth += 1,
                    b']' | b')' if depth > 0 => depth -= 1,
                    b',' | b')' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => break,
                    _ => {}
                }
            }
            self.pos += 1;
        }
        let end = self.pos.min(self.src.len());
        let text = &self.src[start..end];
        if let Err(e) = jsonpath::parse_rooted(text) {
            self.pos = start;
            return Err(self.error(&format!("invalid path argument: {e}")));
        }
        Ok(Arg::Path(text.to_owned()))
    }
}

/// Checks what can be checked before evaluation: the number of arguments and the arguments
/// that must be written in a particular form.
fn check_arguments(function: Function, args: &[Arg]) -> Result<(), String> {
    let (min, max) = function.arity();
    let count = args.len();
    if count < min || max.is_some_and(|max| count > max) {
        let expected = match max {
            Some(max) if max == min => format!("{min}"),
            Some(max) => format!("{min} to {max}"),
            None => format!("at least {min}"),
        };
        return Err(format!(
            "{} takes {expected} argument{}, but {count} {} given",
            function.name(),
            if min == 1 { "" } else { "s" },
            if count == 1 { "was" } else { "were" },
        ));
    }
    match (function, args.first()) {
        (Function::JsonToString, Some(arg)) if !matches!(arg, Arg::Path(_)) => Err(format!(
            "the argument of {} must be a path",
            function.name()
        )),
        (Function::Format, Some(Arg::Literal(_))) => Err(format!(
            "the first argument of {} must be a string",
            function.name()
        )),
        _ => Ok(()),
    }
}
