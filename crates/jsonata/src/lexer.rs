//! Tokenizer.

use crate::Syntax;
use crate::error::{Failure, Res};
use crate::regex::RegexLit;

/// Token kinds.
#[derive(Debug, Clone)]
pub(crate) enum Tok {
    Name(String),
    Variable(String),
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    Regex(RegexLit),
    Op(&'static str),
    End,
}

/// A token and the character offset just after it.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

/// Single-character operators (also the characters that end a name).
const SINGLE_OPS: &[(char, &str)] = &[
    ('.', "."),
    ('[', "["),
    (']', "]"),
    ('{', "{"),
    ('}', "}"),
    ('(', "("),
    (')', ")"),
    (',', ","),
    ('@', "@"),
    ('#', "#"),
    (';', ";"),
    (':', ":"),
    ('?', "?"),
    ('+', "+"),
    ('-', "-"),
    ('*', "*"),
    ('/', "/"),
    ('%', "%"),
    ('|', "|"),
    ('=', "="),
    ('<', "<"),
    ('>', ">"),
    ('^', "^"),
    ('&', "&"),
    ('!', "!"),
    ('~', "~"),
];

/// Two-character operators, tried before the single-character ones.
const DOUBLE_OPS: &[(&str, &str)] = &[
    ("..", ".."),
    (":=", ":="),
    ("!=", "!="),
    (">=", ">="),
    ("<=", "<="),
    ("**", "**"),
    ("~>", "~>"),
    ("?:", "?:"),
    ("??", "??"),
];

fn single_op(c: char) -> Option<&'static str> {
    SINGLE_OPS.iter().find(|(ch, _)| *ch == c).map(|(_, s)| *s)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}')
}

/// The tokenizer state.
pub(crate) struct Lexer {
    chars: Vec<char>,
    pos: usize,
    syntax: Syntax,
}

impl Lexer {
    /// A tokenizer over `source`.
    pub fn new(source: &str, syntax: Syntax) -> Lexer {
        Lexer {
            chars: source.chars().collect(),
            pos: 0,
            syntax,
        }
    }

    /// Length of the source in characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn token(&self, tok: Tok) -> Res<Token> {
        Ok(Token { tok, pos: self.pos })
    }

    /// The next token. `infix` is true where an operand has just been read, so that `/` is
    /// division rather than the start of a regex.
    pub fn next(&mut self, infix: bool) -> Res<Token> {
        loop {
            while self.at(self.pos).is_some_and(is_space) {
                self.pos += 1;
            }
            if self.at(self.pos) == Some('/') && self.at(self.pos + 1) == Some('*') {
                let start = self.pos;
                self.pos += 2;
                loop {
                    if self.pos >= self.chars.len() {
                        return Err(Failure::new("S0106").at(start));
                    }
                    if self.at(self.pos) == Some('*') && self.at(self.pos + 1) == Some('/') {
                        self.pos += 2;
                        break;
                    }
                    self.pos += 1;
                }
                continue;
            }
            break;
        }
        let Some(c) = self.at(self.pos) else {
            return self.token(Tok::End);
        };
        if !infix && c == '/' {
            self.pos += 1;
            return self.scan_regex();
        }
        if self.syntax == Syntax::Fdl
            && let Some((op, len)) = crate::fdl::operator(&self.chars[self.pos..])
        {
            self.pos += len;
            return self.token(Tok::Op(op));
        }
        if let Some(n) = self.at(self.pos + 1) {
            let pair: String = [c, n].iter().collect();
            if let Some((_, op)) = DOUBLE_OPS.iter().find(|(s, _)| *s == pair) {
                self.pos += 2;
                return self.token(Tok::Op(op));
            }
        }
        if let Some(op) = single_op(c) {
            self.pos += 1;
            return self.token(Tok::Op(op));
        }
        if c == '"' || c == '\'' {
            return self.scan_string(c);
        }
        if c.is_ascii_digit() {
            return self.scan_number();
        }
        if c == '`' {
            self.pos += 1;
            let start = self.pos;
            while let Some(ch) = self.at(self.pos) {
                if ch == '`' {
                    let name: String = self.chars[start..self.pos].iter().collect();
                    self.pos += 1;
                    return self.token(Tok::Name(name));
                }
                self.pos += 1;
            }
            self.pos = self.chars.len();
            return Err(Failure::new("S0105").at(self.pos));
        }
        let start = self.pos;
        let mut i = self.pos;
        while let Some(ch) = self.at(i) {
            if is_space(ch) || single_op(ch).is_some() {
                break;
            }
            i += 1;
        }
        self.pos = i;
        if c == '$' {
            let name: String = self.chars[start + 1..i].iter().collect();
            return self.token(Tok::Variable(name));
        }
        let name: String = self.chars[start..i].iter().collect();
        match name.as_str() {
            "or" => self.token(Tok::Op("or")),
            "and" => self.token(Tok::Op("and")),
            "in" => self.token(Tok::Op("in")),
            "true" => self.token(Tok::Bool(true)),
            "false" => self.token(Tok::Bool(false)),
            "null" => self.token(Tok::Null),
            "" => self.token(Tok::End),
            _ => self.token(Tok::Name(name)),
        }
    }

    fn scan_string(&mut self, quote: char) -> Res<Token> {
        self.pos += 1;
        let mut s = String::new();
        while let Some(c) = self.at(self.pos) {
            if c == '\\' {
                self.pos += 1;
                let Some(e) = self.at(self.pos) else { break };
                match e {
                    '"' => s.push('"'),
                    '\\' => s.push('\\'),
                    '/' => s.push('/'),
                    'b' => s.push('\u{8}'),
                    'f' => s.push('\u{c}'),
                    'n' => s.push('\n'),
                    'r' => s.push('\r'),
                    't' => s.push('\t'),
                    'u' => {
                        let hex: String = self.chars[self.pos + 1..]
                            .iter()
                            .take(4)
                            .collect::<String>();
                        if hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit()) {
                            let unit = u16::from_str_radix(&hex, 16).unwrap_or(0);
                            self.pos += 4;
                            self.push_utf16_unit(&mut s, unit);
                        } else {
                            return Err(Failure::new("S0104").at(self.pos));
                        }
                    }
                    other => {
                        return Err(Failure::new("S0103").at(self.pos).token(other.to_string()));
                    }
                }
            } else if c == quote {
                self.pos += 1;
                return self.token(Tok::Str(s));
            } else {
                s.push(c);
            }
            self.pos += 1;
        }
        Err(Failure::new("S0101").at(self.pos))
    }

    /// Appends a `\uXXXX` escape, joining a surrogate pair with a following `\uXXXX` escape.
    fn push_utf16_unit(&mut self, s: &mut String, unit: u16) {
        if (0xD800..0xDC00).contains(&unit)
            && self.at(self.pos + 1) == Some('\\')
            && self.at(self.pos + 2) == Some('u')
        {
            let hex: String = self.chars[self.pos + 3..].iter().take(4).collect();
            if let Ok(low) = u16::from_str_radix(&hex, 16)
                && hex.len() == 4
                && (0xDC00..0xE000).contains(&low)
                && let Some(c) = char::decode_utf16([unit, low]).next().and_then(Result::ok)
            {
                s.push(c);
                self.pos += 6;
                return;
            }
        }
        s.push(char::from_u32(unit as u32).unwrap_or('\u{FFFD}'));
    }

    fn scan_number(&mut self) -> Res<Token> {
        let start = self.pos;
        let mut i = self.pos;
        let digits = |i: &mut usize, chars: &[char]| {
            let s = *i;
            while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
                *i += 1;
            }
            *i > s
        };
        if self.at(i) == Some('0') {
            i += 1;
        } else {
            digits(&mut i, &self.chars);
        }
        if self.at(i) == Some('.') && self.at(i + 1).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
            digits(&mut i, &self.chars);
        }
        if matches!(self.at(i), Some('e' | 'E')) {
            let mut j = i + 1;
            if matches!(self.at(j), Some('+' | '-')) {
                j += 1;
            }
            if digits(&mut j, &self.chars) {
                i = j;
            }
        }
        let text: String = self.chars[start..i].iter().collect();
        let n: f64 = text.parse().unwrap_or(f64::NAN);
        if n.is_finite() {
            self.pos = i;
            self.token(Tok::Num(n))
        } else {
            Err(Failure::new("S0102").at(self.pos).token(text))
        }
    }

    fn scan_regex(&mut self) -> Res<Token> {
        let start = self.pos;
        let mut depth: i32 = 0;
        while let Some(c) = self.at(self.pos) {
            if c == '/' && depth == 0 {
                let mut backslashes = 0;
                while self.pos > backslashes && self.at(self.pos - backslashes - 1) == Some('\\') {
                    backslashes += 1;
                }
                if backslashes % 2 == 0 {
                    let pattern: String = self.chars[start..self.pos].iter().collect();
                    if pattern.is_empty() {
                        return Err(Failure::new("S0301").at(self.pos));
                    }
                    self.pos += 1;
                    let flag_start = self.pos;
                    while matches!(self.at(self.pos), Some('i' | 'm')) {
                        self.pos += 1;
                    }
                    let flags: String = self.chars[flag_start..self.pos].iter().collect();
                    let lit = RegexLit::compile(&pattern, &flags).map_err(|e| e.at(self.pos))?;
                    return self.token(Tok::Regex(lit));
                }
            }
            let prev = if self.pos > 0 {
                self.at(self.pos - 1)
            } else {
                None
            };
            if matches!(c, '(' | '[' | '{') && prev != Some('\\') {
                depth += 1;
            }
            if matches!(c, ')' | ']' | '}') && prev != Some('\\') {
                depth -= 1;
            }
            self.pos += 1;
        }
        Err(Failure::new("S0302").at(self.pos))
    }
}
