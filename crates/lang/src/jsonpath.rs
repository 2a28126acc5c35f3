//! ASL paths: JSONPath in the Jayway flavour that AWS Step Functions evaluates.
//!
//! A [`Path`] is parsed once and evaluated many times. Evaluation follows Jayway JsonPath with its
//! default options, the library AWS uses:
//!
//! - A *definite* path (only member names and single indexes, such as `$.a.b[0]`) selects at most
//!   one node. When any step is missing, the path selects nothing and [`Path::query`] returns
//!   `None`; AWS reports this as `No results for path: $['a']['b'][0]`, using
//!   [`Path::normalized`].
//! - An *indefinite* path (wildcards `*`, deep scan `..`, filters `[?(...)]`, slices `[1:3]`,
//!   unions `[0,1]`) gathers every match into an array, which may be empty. Steps that do not
//!   apply to a node (a member of a non-object, an index into a non-array) are skipped rather
//!   than reported.
//! - A member step does not map over arrays: `$.a.b` where `a` is an array selects nothing; write
//!   `$.a[*].b`.
//! - A trailing function (`length()`, `size()`, `min()`, `max()`, `avg()`, `sum()`, `stddev()`,
//!   `keys()`, `first()`, `last()`) applies to each node the path before it selects. After a
//!   leading deep scan (`$..price.sum()`) it applies once, to the array of all matches.
//!
//! [`parse_rooted`] splits the three roots an ASL field may start with: `$` (state input), `$$`
//! (context object) and `$name` (a workflow variable).

mod eval;
mod filter;
mod parser;
mod regex;

use std::fmt;

use serde_json::Value;

/// What a path string is rooted at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathRoot {
    /// `$...`: the state's (effective) input.
    Input,
    /// `$$...`: the context object.
    Context,
    /// `$name...`: the workflow variable `name`.
    Variable(String),
}

/// A path that could not be parsed, or a write that [`Path::set`] could not perform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PathError {
    /// Human-readable description of the problem.
    pub message: String,
}

impl PathError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// One step of a path.
#[derive(Debug, Clone)]
enum Segment {
    /// `.name` or `['name']`.
    Member(Box<str>),
    /// `[3]` or `[-1]`.
    Index(i64),
    /// `['a','b']`.
    Members(Box<[Box<str>]>),
    /// `[0,2]`.
    Indexes(Box<[i64]>),
    /// `.*` or `[*]`.
    Wildcard,
    /// `[start:end]`, either bound optional.
    Slice(Option<i64>, Option<i64>),
    /// `[?(expression)]`.
    Filter(Box<filter::Expr>),
    /// `..` followed by the step it scans for.
    Descendants(Box<Segment>),
}

impl Segment {
    fn is_definite(&self) -> bool {
        matches!(self, Segment::Member(_) | Segment::Index(_))
    }
}

/// A function call ending a path, such as `length()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Length,
    Min,
    Max,
    Avg,
    Stddev,
    Sum,
    Keys,
    First,
    Last,
}

impl Function {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "length" | "size" => Function::Length,
            "min" => Function::Min,
            "max" => Function::Max,
            "avg" => Function::Avg,
            "stddev" => Function::Stddev,
            "sum" => Function::Sum,
            "keys" => Function::Keys,
            "first" => Function::First,
            "last" => Function::Last,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Function::Length => "length",
            Function::Min => "min",
            Function::Max => "max",
            Function::Avg => "avg",
            Function::Stddev => "stddev",
            Function::Sum => "sum",
            Function::Keys => "keys",
            Function::First => "first",
            Function::Last => "last",
        }
    }
}

/// How a path is evaluated, decided once at parse time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Only members and single indexes: at most one node.
    Reference,
    /// Definite steps ending in `['a','b']`: one object holding the members found.
    MergeLeaf,
    /// Anything else without a function: an array of matches.
    Indefinite,
    /// A function after a definite path: one value.
    FunctionDefinite,
    /// A function after an indefinite path: one value per match.
    FunctionPerNode,
    /// A function after a leading deep scan: one value computed over all matches.
    FunctionOverScan,
}

/// A parsed path.
///
/// Cheap to clone relative to parsing, immutable, and `Send + Sync`, so a definition can parse
/// its paths once and share them.
#[derive(Debug, Clone)]
pub struct Path {
    segments: Box<[Segment]>,
    function: Option<Function>,
    mode: Mode,
}

impl Path {
    /// Parses a path rooted at `$`: `"$"`, `"$.a.b"`, `"$['a b'][0]"`, `"$.a[*].b"`, `"$..x"`,
    /// `"$.a[?(@.b > 1)]"`, `"$.a[0:2]"`, `"$.a[0,1]"`, `"$.a.length()"`, `"$.store\.book"`.
    ///
    /// Surrounding whitespace is ignored. In dot notation a backslash makes the next character
    /// part of the member name (`$.store\.book` is the member `store.book`); member names with
    /// blanks need bracket notation.
    pub fn parse(s: &str) -> Result<Path, PathError> {
        parser::parse_path(s.trim())
    }

    fn from_parts(segments: Vec<Segment>, function: Option<Function>) -> Path {
        let all_definite = segments.iter().all(Segment::is_definite);
        let mode = match function {
            None if all_definite => Mode::Reference,
            None => match segments.split_last() {
                Some((Segment::Members(_), rest)) if rest.iter().all(Segment::is_definite) => {
                    Mode::MergeLeaf
                }
                _ => Mode::Indefinite,
            },
            Some(_) if matches!(segments.first(), Some(Segment::Descendants(_))) => {
                Mode::FunctionOverScan
            }
            Some(_) if all_definite => Mode::FunctionDefinite,
            Some(_) => Mode::FunctionPerNode,
        };
        Path {
            segments: segments.into_boxed_slice(),
            function,
            mode,
        }
    }

    /// True when the path can select at most one node and names it exactly: a Reference Path
    /// made of member names and single array indexes only (no wildcards, filters, slices,
    /// unions, deep scan or functions). Only such paths can be written with [`Path::set`].
    pub fn is_reference(&self) -> bool {
        self.mode == Mode::Reference
    }

    /// True when the path is `$` itself.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty() && self.function.is_none()
    }

    /// True when evaluation yields a single value rather than an array of matches (Jayway's
    /// "definite" paths): reference paths, paths ending in a member union `['a','b']` after
    /// definite steps, and function calls after a definite path or a leading deep scan.
    pub fn is_definite(&self) -> bool {
        !matches!(self.mode, Mode::Indefinite | Mode::FunctionPerNode)
    }

    /// ASL evaluation against `root`.
    ///
    /// A definite path (see [`Path::is_definite`]) gives `Some(node)` or `None` when the node is
    /// absent; any other path gives `Some(array of all matches)`, possibly empty. A trailing
    /// aggregate function that has no numbers to work on (`$.empty.sum()`) also gives `None`,
    /// as Jayway raises an error there.
    pub fn query(&self, root: &Value) -> Option<Value> {
        self.resolve(root, root).map(std::borrow::Cow::into_owned)
    }

    /// Writes `value` at this reference path inside `root` (ResultPath semantics).
    ///
    /// Missing members along the way are created as objects and an existing member is
    /// overwritten; `$` replaces `root`. An index step overwrites an existing array element.
    /// Fails, leaving `root` untouched, when the path is not a reference path or when a value
    /// that is not an object (or, for an index step, not an array holding that index) is in the
    /// way.
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), PathError> {
        eval::set(self, root, value)
    }

    /// Normalized form used in AWS (Jayway) messages: `$['NoSuchInputPath']` for
    /// `$.NoSuchInputPath`, `$['a'][0]`, `$['a'][*]`, `$..['x']`, `$['a'][?]`, `$['a'].length()`.
    pub fn normalized(&self) -> String {
        let mut out = String::from("$");
        for segment in self.segments.iter() {
            write_segment(&mut out, segment);
        }
        if let Some(function) = self.function {
            out.push('.');
            out.push_str(function.name());
            out.push_str("()");
        }
        out
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized())
    }
}

fn write_segment(out: &mut String, segment: &Segment) {
    use std::fmt::Write as _;
    match segment {
        Segment::Member(name) => {
            let _ = write!(out, "['{name}']");
        }
        Segment::Index(index) => {
            let _ = write!(out, "[{index}]");
        }
        Segment::Members(names) => {
            out.push('[');
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "'{name}'");
            }
            out.push(']');
        }
        Segment::Indexes(indexes) => {
            out.push('[');
            for (i, index) in indexes.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{index}");
            }
            out.push(']');
        }
        Segment::Wildcard => out.push_str("[*]"),
        Segment::Slice(start, end) => {
            out.push('[');
            if let Some(start) = start {
                let _ = write!(out, "{start}");
            }
            out.push(':');
            if let Some(end) = end {
                let _ = write!(out, "{end}");
            }
            out.push(']');
        }
        Segment::Filter(_) => out.push_str("[?]"),
        Segment::Descendants(inner) => {
            out.push_str("..");
            write_segment(out, inner);
        }
    }
}

/// Splits a path string by its root and parses the rest as a `$` path.
///
/// `"$$.Execution.Id"` gives `(Context, "$.Execution.Id")`, `"$var.x"` gives
/// `(Variable("var"), "$.x")`, `"$.x"` gives `(Input, "$.x")` and `"$"` gives `(Input, "$")`.
/// A variable name starts with a letter or `_` and continues with letters, digits and `_`.
pub fn parse_rooted(s: &str) -> Result<(PathRoot, Path), PathError> {
    let s = s.trim();
    let Some(rest) = s.strip_prefix('$') else {
        return Err(PathError::new(format!(
            "Invalid path '{s}': a path must start with '$'"
        )));
    };
    if let Some(rest) = rest.strip_prefix('$') {
        return Ok((PathRoot::Context, parser::parse_after_root(s, rest)?));
    }
    let name_len = variable_name_len(rest);
    if name_len > 0 {
        let (name, rest) = rest.split_at(name_len);
        return Ok((
            PathRoot::Variable(name.to_owned()),
            parser::parse_after_root(s, rest)?,
        ));
    }
    Ok((PathRoot::Input, parser::parse_after_root(s, rest)?))
}

/// Length in bytes of the variable name at the start of `s` (0 when there is none).
fn variable_name_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {}
        _ => return 0,
    }
    bytes
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
        .unwrap_or(bytes.len())
}

#[cfg(test)]
mod tests;
