//! A small regular-expression engine for the `=~` filter operator.
//!
//! Jayway matches `/pattern/flags` against the whole string (Java's `Matcher.matches()`). This
//! engine supports the common subset of Java syntax: literals, `.`, character classes with
//! ranges and negation, the escapes `\d \D \w \W \s \S \b \B \t \n \r \f \v \0` and escaped
//! punctuation, anchors `^ $`, groups `( )` and `(?: )`, alternation `|`, and the quantifiers
//! `* + ? {n} {n,} {n,m}` (lazy and possessive suffixes are accepted and match the same
//! strings). Flags: `i` (case-insensitive), `s` (`.` matches newlines), `m` (`^`/`$` at line
//! breaks). Matching runs a Pike VM, so time is linear in the input whatever the pattern.

use std::fmt;

/// Largest program a pattern may compile to (counted repetitions expand).
const MAX_PROGRAM: usize = 20_000;

/// A compiled pattern.
#[derive(Clone)]
pub(super) struct Regex {
    source: String,
    program: Vec<Inst>,
    case_insensitive: bool,
    dot_all: bool,
    multi_line: bool,
}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/", self.source)
    }
}

#[derive(Debug, Clone)]
enum Inst {
    Char(char),
    Any,
    Class(Class),
    Split(usize, usize),
    Jump(usize),
    LineStart,
    LineEnd,
    WordBoundary(bool),
    Match,
}

#[derive(Debug, Clone, Default)]
struct Class {
    ranges: Vec<(char, char)>,
    negated: bool,
}

impl Class {
    fn contains(&self, c: char, case_insensitive: bool) -> bool {
        let hit = |c: char| self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
        let found = hit(c)
            || (case_insensitive && (c.to_lowercase().any(hit) || c.to_uppercase().any(hit)));
        found != self.negated
    }
}

#[derive(Debug, Clone)]
enum Node {
    Empty,
    Char(char),
    Any,
    Class(Class),
    LineStart,
    LineEnd,
    WordBoundary(bool),
    Concat(Vec<Node>),
    Alternate(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
}

impl Regex {
    /// Compiles `pattern` with Jayway/Java-style `flags` (`i`, `s`, `m`; others are ignored).
    pub(super) fn new(pattern: &str, flags: &str) -> Result<Regex, String> {
        let mut parser = RegexParser {
            chars: pattern.chars().collect(),
            pos: 0,
        };
        let node = parser.alternation()?;
        if parser.pos < parser.chars.len() {
            return Err(format!("unexpected '{}'", parser.chars[parser.pos]));
        }
        let mut program = Vec::new();
        compile(&node, &mut program)?;
        program.push(Inst::Match);
        Ok(Regex {
            source: pattern.to_owned(),
            program,
            case_insensitive: flags.contains('i'),
            dot_all: flags.contains('s'),
            multi_line: flags.contains('m'),
        })
    }

    /// True when the pattern matches the whole of `input`.
    pub(super) fn is_match(&self, input: &str) -> bool {
        let chars: Vec<char> = input.chars().collect();
        let n = self.program.len();
        let mut current = ThreadList::new(n);
        let mut next = ThreadList::new(n);
        let mut stack = Vec::new();
        self.add_thread(&mut current, &mut stack, 0, &chars, 0);
        for pos in 0..=chars.len() {
            if current.is_empty() {
                return false;
            }
            let c = chars.get(pos).copied();
            for i in 0..current.len() {
                let pc = current.dense[i];
                let advance = match (&self.program[pc], c) {
                    (Inst::Match, None) => return true,
                    (Inst::Char(expected), Some(c)) => self.same_char(*expected, c),
                    (Inst::Any, Some(c)) => self.dot_all || c != '\n',
                    (Inst::Class(class), Some(c)) => class.contains(c, self.case_insensitive),
                    _ => false,
                };
                if advance {
                    self.add_thread(&mut next, &mut stack, pc + 1, &chars, pos + 1);
                }
            }
            std::mem::swap(&mut current, &mut next);
            next.clear();
        }
        false
    }

    fn same_char(&self, expected: char, c: char) -> bool {
        expected == c
            || (self.case_insensitive
                && (expected.to_lowercase().eq(c.to_lowercase())
                    || expected.to_uppercase().eq(c.to_uppercase())))
    }

    /// Adds `pc` and everything reachable from it without consuming input.
    fn add_thread(
        &self,
        list: &mut ThreadList,
        stack: &mut Vec<usize>,
        pc: usize,
        chars: &[char],
        pos: usize,
    ) {
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            if !list.insert(pc) {
                continue;
            }
            match &self.program[pc] {
                Inst::Jump(target) => stack.push(*target),
                Inst::Split(a, b) => {
                    stack.push(*b);
                    stack.push(*a);
                }
                Inst::LineStart => {
                    let at_start = pos == 0 || (self.multi_line && chars[pos - 1] == '\n');
                    if at_start {
                        stack.push(pc + 1);
                    }
                }
                Inst::LineEnd => {
                    let at_end =
                        pos == chars.len() || (self.multi_line && chars.get(pos) == Some(&'\n'));
                    if at_end {
                        stack.push(pc + 1);
                    }
                }
                Inst::WordBoundary(expected) => {
                    let word =
                        |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
                    let before = pos > 0 && word(chars.get(pos - 1));
                    let after = word(chars.get(pos));
                    if (before != after) == *expected {
                        stack.push(pc + 1);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A set of program counters with insertion order (sparse-set representation).
struct ThreadList {
    dense: Vec<usize>,
    sparse: Vec<usize>,
}

impl ThreadList {
    fn new(capacity: usize) -> Self {
        Self {
            dense: Vec::with_capacity(capacity),
            sparse: vec![0; capacity],
        }
    }

    fn insert(&mut self, pc: usize) -> bool {
        let i = self.sparse[pc];
        if i < self.dense.len() && self.dense[i] == pc {
            return false;
        }
        self.sparse[pc] = self.dense.len();
        self.dense.push(pc);
        true
    }

    fn len(&self) -> usize {
        self.dense.len()
    }

    fn is_empty(&self) -> bool {
        self.dense.is_empty()
    }

    fn clear(&mut self) {
        self.dense.clear();
    }
}

fn compile(node: &Node, program: &mut Vec<Inst>) -> Result<(), String> {
    if program.len() > MAX_PROGRAM {
        return Err("pattern too large".into());
    }
    match node {
        Node::Empty => {}
        Node::Char(c) => program.push(Inst::Char(*c)),
        Node::Any => program.push(Inst::Any),
        Node::Class(class) => program.push(Inst::Class(class.clone())),
        Node::LineStart => program.push(Inst::LineStart),
        Node::LineEnd => program.push(Inst::LineEnd),
        Node::WordBoundary(b) => program.push(Inst::WordBoundary(*b)),
        Node::Concat(nodes) => {
            for n in nodes {
                compile(n, program)?;
            }
        }
        Node::Alternate(options) => {
            // split L1, next; L1: a; jmp end; next: split L2, ... ; last option
            let mut jumps = Vec::new();
            for (i, option) in options.iter().enumerate() {
                if i + 1 < options.len() {
                    let split = program.len();
                    program.push(Inst::Split(split + 1, 0));
                    compile(option, program)?;
                    jumps.push(program.len());
                    program.push(Inst::Jump(0));
                    let next = program.len();
                    program[split] = Inst::Split(split + 1, next);
                } else {
                    compile(option, program)?;
                }
            }
            let end = program.len();
            for j in jumps {
                program[j] = Inst::Jump(end);
            }
        }
        Node::Repeat { node, min, max } => {
            for _ in 0..*min {
                compile(node, program)?;
            }
            match max {
                None => {
                    // loop: split body, end; body; jmp loop
                    let split = program.len();
                    program.push(Inst::Split(split + 1, 0));
                    compile(node, program)?;
                    program.push(Inst::Jump(split));
                    let end = program.len();
                    program[split] = Inst::Split(split + 1, end);
                }
                Some(max) => {
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(program.len());
                        program.push(Inst::Split(0, 0));
                        compile(node, program)?;
                        if program.len() > MAX_PROGRAM {
                            return Err("pattern too large".into());
                        }
                    }
                    let end = program.len();
                    for s in splits {
                        program[s] = Inst::Split(s + 1, end);
                    }
                }
            }
        }
    }
    Ok(())
}

struct RegexParser {
    chars: Vec<char>,
    pos: usize,
}

impl RegexParser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn alternation(&mut self) -> Result<Node, String> {
        let mut options = vec![self.concatenation()?];
        while self.eat('|') {
            options.push(self.concatenation()?);
        }
        Ok(if options.len() == 1 {
            options.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alternate(options)
        })
    }

    fn concatenation(&mut self) -> Result<Node, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.quantified(atom)?);
        }
        Ok(Node::Concat(items))
    }

    fn quantified(&mut self, atom: Node) -> Result<Node, String> {
        let (min, max) = match self.peek() {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            Some('{') => match self.counted()? {
                Some(bounds) => bounds,
                None => return Ok(atom),
            },
            _ => return Ok(atom),
        };
        // Step over `*`, `+`, `?` or the closing `}`.
        self.pos += 1;
        // Lazy and possessive variants accept the same strings.
        if matches!(self.peek(), Some('?' | '+')) {
            self.pos += 1;
        }
        if matches!(self.peek(), Some('*' | '+' | '?')) {
            return Err("nested quantifier".into());
        }
        Ok(Node::Repeat {
            node: Box::new(atom),
            min,
            max,
        })
    }

    /// Parses `{n}`, `{n,}` or `{n,m}`, leaving the position on the closing brace. Returns
    /// `None` (position unchanged) when the brace does not start a quantifier.
    fn counted(&mut self) -> Result<Option<(u32, Option<u32>)>, String> {
        let start = self.pos;
        self.pos += 1;
        let number = |p: &mut Self| {
            let from = p.pos;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.pos += 1;
            }
            p.chars[from..p.pos]
                .iter()
                .collect::<String>()
                .parse::<u32>()
                .ok()
        };
        let Some(min) = number(self) else {
            self.pos = start;
            return Ok(None);
        };
        let max = if self.eat(',') {
            if self.peek() == Some('}') {
                None
            } else {
                match number(self) {
                    Some(max) => Some(max),
                    None => return Err("invalid repetition".into()),
                }
            }
        } else {
            Some(min)
        };
        if self.peek() != Some('}') {
            return Err("unterminated repetition".into());
        }
        if max.is_some_and(|max| max < min) || min > 1000 || max.is_some_and(|m| m > 1000) {
            return Err("invalid repetition bounds".into());
        }
        Ok(Some((min, max)))
    }

    fn atom(&mut self) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err("unexpected end of pattern".into());
        };
        self.pos += 1;
        match c {
            '(' => {
                if self.eat('?') && !self.eat(':') {
                    return Err("unsupported group construct".into());
                }
                let inner = self.alternation()?;
                if !self.eat(')') {
                    return Err("missing ')'".into());
                }
                Ok(inner)
            }
            '[' => self.class().map(Node::Class),
            '.' => Ok(Node::Any),
            '^' => Ok(Node::LineStart),
            '$' => Ok(Node::LineEnd),
            '\\' => self.escape(false),
            '*' | '+' | '?' => Err(format!("dangling '{c}'")),
            c => Ok(Node::Char(c)),
        }
    }

    /// Parses the escape after a backslash. Inside a class, `\b` is not a word boundary.
    fn escape(&mut self, in_class: bool) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err("trailing backslash".into());
        };
        self.pos += 1;
        let class = |ranges: &[(char, char)], negated: bool| {
            Node::Class(Class {
                ranges: ranges.to_vec(),
                negated,
            })
        };
        const DIGIT: &[(char, char)] = &[('0', '9')];
        const WORD: &[(char, char)] = &[('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
        const SPACE: &[(char, char)] = &[(' ', ' '), ('\t', '\r')];
        Ok(match c {
            'd' => class(DIGIT, false),
            'D' => class(DIGIT, true),
            'w' => class(WORD, false),
            'W' => class(WORD, true),
            's' => class(SPACE, false),
            'S' => class(SPACE, true),
            'b' if !in_class => Node::WordBoundary(true),
            'B' if !in_class => Node::WordBoundary(false),
            't' => Node::Char('\t'),
            'n' => Node::Char('\n'),
            'r' => Node::Char('\r'),
            'f' => Node::Char('\u{c}'),
            'v' => Node::Char('\u{b}'),
            '0' => Node::Char('\0'),
            c if c.is_ascii_alphanumeric() => return Err(format!("unsupported escape '\\{c}'")),
            c => Node::Char(c),
        })
    }

    fn class(&mut self) -> Result<Class, String> {
        let mut class = Class {
            ranges: Vec::new(),
            negated: self.eat('^'),
        };
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err("missing ']'".into());
            };
            if c == ']' && !first {
                self.pos += 1;
                return Ok(class);
            }
            first = false;
            self.pos += 1;
            let low = if c == '\\' {
                match self.escape(true)? {
                    Node::Char(c) => c,
                    Node::Class(inner) if !inner.negated => {
                        class.ranges.extend(inner.ranges);
                        continue;
                    }
                    _ => return Err("unsupported escape in character class".into()),
                }
            } else {
                c
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']') {
                self.pos += 1;
                let Some(mut high) = self.peek() else {
                    return Err("missing ']'".into());
                };
                self.pos += 1;
                if high == '\\' {
                    match self.escape(true)? {
                        Node::Char(c) => high = c,
                        _ => return Err("invalid range in character class".into()),
                    }
                }
                if high < low {
                    return Err("invalid range in character class".into());
                }
                class.ranges.push((low, high));
            } else {
                class.ranges.push((low, low));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn matches(pattern: &str, flags: &str, input: &str) -> bool {
        Regex::new(pattern, flags).unwrap().is_match(input)
    }

    #[test]
    fn literals_and_dot() {
        assert!(matches("abc", "", "abc"));
        assert!(!matches("abc", "", "abcd"));
        assert!(!matches("abc", "", "xabc"));
        assert!(matches("a.c", "", "abc"));
        assert!(!matches("a.c", "", "a\nc"));
        assert!(matches("a.c", "s", "a\nc"));
        assert!(matches("", "", ""));
    }

    #[test]
    fn quantifiers() {
        assert!(matches("a*", "", ""));
        assert!(matches("a*", "", "aaaa"));
        assert!(matches("a+b", "", "aaab"));
        assert!(!matches("a+b", "", "b"));
        assert!(matches("colou?r", "", "color"));
        assert!(matches("colou?r", "", "colour"));
        assert!(matches("a{2,3}", "", "aa"));
        assert!(matches("a{2,3}", "", "aaa"));
        assert!(!matches("a{2,3}", "", "aaaa"));
        assert!(matches("a{2}", "", "aa"));
        assert!(matches("a{2,}", "", "aaaaa"));
        assert!(!matches("a{2,}", "", "a"));
        assert!(matches(".*?x", "", "abcx"));
        assert!(matches("a{", "", "a{"));
    }

    #[test]
    fn classes_groups_alternation() {
        assert!(matches("[a-c]+", "", "abcab"));
        assert!(!matches("[a-c]+", "", "abd"));
        assert!(matches("[^0-9]+", "", "abc"));
        assert!(!matches("[^0-9]+", "", "a1"));
        assert!(matches("\\d{3}-\\d{4}", "", "555-1234"));
        assert!(matches("(foo|bar)baz", "", "barbaz"));
        assert!(matches("(?:ab)+", "", "ababab"));
        assert!(!matches("(?:ab)+", "", "aba"));
        assert!(matches("[\\w.]+@[\\w.]+", "", "a.b@c.d"));
        assert!(matches("x|", "", ""));
        assert!(matches("[-a]+", "", "-a-"));
        assert!(matches("[]a]+", "", "]a"));
    }

    #[test]
    fn anchors_flags_and_escapes() {
        assert!(matches("^abc$", "", "abc"));
        assert!(matches("ABC", "i", "abc"));
        assert!(matches("[A-C]+", "i", "abc"));
        assert!(!matches("ABC", "", "abc"));
        assert!(matches("a\\.b", "", "a.b"));
        assert!(!matches("a\\.b", "", "axb"));
        assert!(matches(".*\\bword\\b.*", "", "a word here"));
        assert!(!matches(".*\\bword\\b.*", "", "swordfish"));
        assert!(matches("(a*)*b", "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
        assert!(!matches("(a*)*b", "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "(", "a)", "[a", "*a", "a**", "\\", "a{3,1}", "(?<n>a)", "\\q",
        ] {
            assert!(Regex::new(bad, "").is_err(), "{bad}");
        }
    }
}
