//! Values as the evaluator sees them.
//!
//! Input documents and variables are borrowed (`Str`, `JArray`, `JObject` point into the caller's
//! `serde_json::Value`s), values built during evaluation are reference counted, so passing values
//! around never deep-copies. Undefined is represented by `Option::None` wherever a value may be
//! missing.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use serde_json::{Map, Value as Json};

use crate::ast::{LambdaDef, Node};
use crate::builtins::Builtin;
use crate::env::FrameId;
use crate::regex::RegexLit;

/// A runtime value.
#[derive(Clone)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Number(f64),
    /// A string borrowed from the input, a variable or the expression source.
    Str(&'a str),
    /// A string built during evaluation.
    String(Rc<str>),
    /// An array borrowed from the input or a variable.
    JArray(&'a [Json]),
    /// An object borrowed from the input or a variable.
    JObject(&'a Map<String, Json>),
    /// An array built during evaluation (possibly a sequence).
    Array(Rc<Array<'a>>),
    /// An object built during evaluation.
    Object(Rc<Object<'a>>),
    /// A function: lambda, built-in, partial application, regex matcher, ...
    Function(Rc<Func<'a>>),
    /// A tuple stream produced by a path using `@`, `#` or `%`.
    Tuples(Rc<Vec<Tuple<'a>>>),
}

/// An optional value (`None` = undefined).
pub(crate) type Opt<'a> = Option<Value<'a>>;

/// One tuple of a tuple stream: named bindings, `@` being the context item.
pub(crate) type Tuple<'a> = Vec<(&'a str, Opt<'a>)>;

const SEQUENCE: u8 = 1;
const KEEP_SINGLETON: u8 = 2;
const CONS: u8 = 4;
const OUTER_WRAPPER: u8 = 8;

/// An array built during evaluation, with JSONata's sequence flags.
pub(crate) struct Array<'a> {
    pub items: Vec<Value<'a>>,
    flags: Cell<u8>,
}

impl<'a> Array<'a> {
    fn with(items: Vec<Value<'a>>, flags: u8) -> Self {
        Array {
            items,
            flags: Cell::new(flags),
        }
    }

    /// Whether this array is a sequence (result of path navigation).
    pub fn is_sequence(&self) -> bool {
        self.flags.get() & SEQUENCE != 0
    }

    /// Whether a singleton sequence must stay an array (`[]` in a path).
    pub fn keeps_singleton(&self) -> bool {
        self.flags.get() & KEEP_SINGLETON != 0
    }

    /// Marks a sequence as keeping singletons.
    pub fn set_keep_singleton(&self) {
        self.flags.set(self.flags.get() | KEEP_SINGLETON);
    }

    /// Whether this array came from an array constructor at the start or end of a path.
    pub fn is_cons(&self) -> bool {
        self.flags.get() & CONS != 0
    }

    /// Whether this is the wrapper put around an array input document.
    pub fn is_outer_wrapper(&self) -> bool {
        self.flags.get() & OUTER_WRAPPER != 0
    }
}

/// Moves the children of uniquely owned arrays and objects out before they are dropped, so
/// that dropping deeply nested values does not recurse.
fn drop_iteratively(mut pending: Vec<Value<'_>>) {
    while let Some(v) = pending.pop() {
        match v {
            Value::Array(rc) => {
                if let Ok(mut arr) = Rc::try_unwrap(rc) {
                    pending.append(&mut arr.items);
                }
            }
            Value::Object(rc) => {
                if let Ok(mut obj) = Rc::try_unwrap(rc) {
                    pending.extend(obj.entries.drain(..).map(|(_, v)| v));
                }
            }
            _ => {}
        }
    }
}

impl Drop for Array<'_> {
    fn drop(&mut self) {
        if self
            .items
            .iter()
            .any(|v| matches!(v, Value::Array(_) | Value::Object(_)))
        {
            drop_iteratively(std::mem::take(&mut self.items));
        }
    }
}

impl Drop for Object<'_> {
    fn drop(&mut self) {
        if self
            .entries
            .iter()
            .any(|(_, v)| matches!(v, Value::Array(_) | Value::Object(_)))
        {
            drop_iteratively(self.entries.drain(..).map(|(_, v)| v).collect());
        }
    }
}

/// An object built during evaluation; keeps insertion order.
#[derive(Default)]
pub(crate) struct Object<'a> {
    entries: Vec<(Rc<str>, Value<'a>)>,
    index: HashMap<Rc<str>, usize>,
}

const INDEX_THRESHOLD: usize = 12;

impl<'a> Object<'a> {
    /// An empty object.
    pub fn new() -> Self {
        Object::default()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn position(&self, key: &str) -> Option<usize> {
        if self.index.is_empty() {
            self.entries.iter().position(|(k, _)| &**k == key)
        } else {
            self.index.get(key).copied()
        }
    }

    /// Looks a member up.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// Inserts or replaces a member (a replaced member keeps its position).
    pub fn insert(&mut self, key: &str, value: Value<'a>) {
        match self.position(key) {
            Some(i) => self.entries[i].1 = value,
            None => {
                let key: Rc<str> = Rc::from(key);
                self.entries.push((key.clone(), value));
                if !self.index.is_empty() {
                    self.index.insert(key, self.entries.len() - 1);
                } else if self.entries.len() > INDEX_THRESHOLD {
                    self.reindex();
                }
            }
        }
    }

    /// Removes a member.
    pub fn remove(&mut self, key: &str) {
        if let Some(i) = self.position(key) {
            self.entries.remove(i);
            if !self.index.is_empty() {
                self.reindex();
            }
        }
    }

    fn reindex(&mut self) {
        self.index = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
    }

    /// Members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value<'a>)> {
        self.entries.iter().map(|(k, v)| (&**k, v))
    }
}

/// Function values.
pub(crate) enum Func<'a> {
    /// A user-defined `function($x){...}` closing over its defining frame and input.
    Lambda {
        def: &'a LambdaDef,
        input: Opt<'a>,
        frame: FrameId,
    },
    /// A pending tail call, produced by a function call in tail position of a lambda body.
    Thunk {
        call: &'a Node,
        input: Opt<'a>,
        frame: FrameId,
    },
    /// A built-in function.
    Builtin(&'static Builtin),
    /// A partial application; `None` entries are the `?` placeholders.
    Partial {
        func: Value<'a>,
        args: Vec<Option<Opt<'a>>>,
    },
    /// Function composition `f ~> g`.
    Chain(Value<'a>, Value<'a>),
    /// A regex literal, callable as a matcher.
    Regex(&'a RegexLit),
    /// A transform expression `| pattern | update, delete |`.
    Transform { node: &'a Node, frame: FrameId },
}

impl Func<'_> {
    /// The number of parameters, as used by the higher-order functions to decide how many
    /// arguments to pass.
    pub fn arity(&self) -> usize {
        match self {
            Func::Lambda { def, .. } => def.params.len(),
            Func::Thunk { .. } => 0,
            Func::Builtin(b) => b.arity,
            Func::Partial { args, .. } => args.iter().filter(|a| a.is_none()).count(),
            Func::Chain(..) => 1,
            Func::Regex(_) => 2,
            Func::Transform { .. } => 1,
        }
    }
}

/// A borrowed view of an array value.
#[derive(Clone, Copy)]
pub(crate) enum ArrayRef<'r, 'a> {
    Json(&'a [Json]),
    Owned(&'r [Value<'a>]),
}

impl<'r, 'a> ArrayRef<'r, 'a> {
    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            ArrayRef::Json(a) => a.len(),
            ArrayRef::Owned(a) => a.len(),
        }
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The item at `i`.
    pub fn get(&self, i: usize) -> Option<Value<'a>> {
        match self {
            ArrayRef::Json(a) => a.get(i).map(Value::from_json),
            ArrayRef::Owned(a) => a.get(i).cloned(),
        }
    }

    /// Iterates over the items.
    pub fn iter(self) -> impl Iterator<Item = Value<'a>> + 'r {
        let (json, owned): (&'a [Json], &'r [Value<'a>]) = match self {
            ArrayRef::Json(a) => (a, &[]),
            ArrayRef::Owned(a) => (&[], a),
        };
        json.iter()
            .map(Value::from_json)
            .chain(owned.iter().cloned())
    }
}

/// A borrowed view of an object value.
#[derive(Clone, Copy)]
pub(crate) enum ObjectRef<'r, 'a> {
    Json(&'a Map<String, Json>),
    Owned(&'r Object<'a>),
}

impl<'r, 'a> ObjectRef<'r, 'a> {
    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            ObjectRef::Json(m) => m.len(),
            ObjectRef::Owned(o) => o.len(),
        }
    }

    /// Looks a member up.
    pub fn get(&self, key: &str) -> Option<Value<'a>> {
        match self {
            ObjectRef::Json(m) => m.get(key).map(Value::from_json),
            ObjectRef::Owned(o) => o.get(key).cloned(),
        }
    }

    /// Members in order, keys as owned strings.
    pub fn entries(self) -> Vec<(Rc<str>, Value<'a>)> {
        match self {
            ObjectRef::Json(m) => m
                .iter()
                .map(|(k, v)| (Rc::from(k.as_str()), Value::from_json(v)))
                .collect(),
            ObjectRef::Owned(o) => o
                .entries
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The keys in order.
    pub fn keys(self) -> Vec<Rc<str>> {
        match self {
            ObjectRef::Json(m) => m.keys().map(|k| Rc::from(k.as_str())).collect(),
            ObjectRef::Owned(o) => o.entries.iter().map(|(k, _)| k.clone()).collect(),
        }
    }
}

impl<'a> Value<'a> {
    /// Borrows a JSON value.
    pub fn from_json(v: &'a Json) -> Value<'a> {
        match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => Value::Str(s),
            Json::Array(a) => Value::JArray(a),
            Json::Object(o) => Value::JObject(o),
        }
    }

    /// Converts an owned JSON value (e.g. from `$parse`) into a value built during evaluation.
    pub fn from_owned_json(v: Json) -> Value<'a> {
        match v {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(b),
            Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => Value::string(s),
            Json::Array(a) => Value::array(a.into_iter().map(Value::from_owned_json).collect()),
            Json::Object(o) => {
                let mut obj = Object::new();
                for (k, v) in o {
                    obj.insert(&k, Value::from_owned_json(v));
                }
                Value::object(obj)
            }
        }
    }

    /// A new string value.
    pub fn string(s: impl Into<Rc<str>>) -> Value<'a> {
        Value::String(s.into())
    }

    /// A plain (non-sequence) array.
    pub fn array(items: Vec<Value<'a>>) -> Value<'a> {
        Value::Array(Rc::new(Array::with(items, 0)))
    }

    /// A sequence.
    pub fn sequence(items: Vec<Value<'a>>) -> Value<'a> {
        Value::Array(Rc::new(Array::with(items, SEQUENCE)))
    }

    /// An array produced by an array constructor flagged `consarray`.
    pub fn cons_array(items: Vec<Value<'a>>) -> Value<'a> {
        Value::Array(Rc::new(Array::with(items, CONS)))
    }

    /// The singleton sequence wrapping an array input document.
    pub fn outer_wrapper(inner: Value<'a>) -> Value<'a> {
        Value::Array(Rc::new(Array::with(vec![inner], SEQUENCE | OUTER_WRAPPER)))
    }

    /// A new object value.
    pub fn object(obj: Object<'a>) -> Value<'a> {
        Value::Object(Rc::new(obj))
    }

    /// A new function value.
    pub fn func(f: Func<'a>) -> Value<'a> {
        Value::Function(Rc::new(f))
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The array, if this is one (tuple streams are not arrays here).
    pub fn as_array(&self) -> Option<ArrayRef<'_, 'a>> {
        match self {
            Value::JArray(a) => Some(ArrayRef::Json(a)),
            Value::Array(a) => Some(ArrayRef::Owned(&a.items)),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<ObjectRef<'_, 'a>> {
        match self {
            Value::JObject(o) => Some(ObjectRef::Json(o)),
            Value::Object(o) => Some(ObjectRef::Owned(o)),
            _ => None,
        }
    }

    /// The function, if this is one.
    pub fn as_func(&self) -> Option<&Rc<Func<'a>>> {
        match self {
            Value::Function(f) => Some(f),
            _ => None,
        }
    }

    /// Whether this is an array (or a tuple stream, which JSONata treats as one).
    pub fn is_array(&self) -> bool {
        matches!(self, Value::JArray(_) | Value::Array(_) | Value::Tuples(_))
    }

    /// Whether this is an array flagged as a sequence.
    pub fn is_sequence(&self) -> bool {
        matches!(self, Value::Array(a) if a.is_sequence())
    }

    /// Whether this is an array built by a path-level array constructor.
    pub fn is_cons(&self) -> bool {
        matches!(self, Value::Array(a) if a.is_cons())
    }

    /// Whether this is the wrapper around an array input document.
    pub fn is_outer_wrapper(&self) -> bool {
        matches!(self, Value::Array(a) if a.is_outer_wrapper())
    }

    /// Whether this is a function.
    pub fn is_function(&self) -> bool {
        matches!(self, Value::Function(_))
    }

    /// Whether this is a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Value::Number(_))
    }

    /// Whether this is a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::Str(_) | Value::String(_))
    }

    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Value::JObject(_) | Value::Object(_))
    }

    /// The items of an array value, or the value itself as a one-item list.
    pub fn to_items(&self) -> Vec<Value<'a>> {
        match self.as_array() {
            Some(a) => a.iter().collect(),
            None => vec![self.clone()],
        }
    }

    /// JSONata's `$type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::Str(_) | Value::String(_) => "string",
            Value::JArray(_) | Value::Array(_) | Value::Tuples(_) => "array",
            Value::JObject(_) | Value::Object(_) => "object",
            Value::Function(_) => "function",
        }
    }

    /// An identity for objects and arrays built during evaluation (used by transforms).
    pub fn identity(&self) -> Option<usize> {
        match self {
            Value::Object(o) => Some(Rc::as_ptr(o) as *const u8 as usize),
            Value::JObject(o) => Some(*o as *const Map<String, Json> as *const u8 as usize),
            _ => None,
        }
    }
}

/// Why a value cannot be turned into JSON.
pub(crate) enum OutputError {
    /// A non-finite number.
    NotFinite,
    /// A function (or other non-JSON value).
    Unsupported,
    /// Nested deeper than [`MAX_OUTPUT_DEPTH`].
    TooDeep,
}

/// Deepest nesting converted to JSON.
const MAX_OUTPUT_DEPTH: usize = 1000;

/// Converts a number to JSON: integral values in the i64 range become integers.
pub(crate) fn number_to_json(n: f64) -> Result<Json, OutputError> {
    if !n.is_finite() {
        return Err(OutputError::NotFinite);
    }
    if n.fract() == 0.0 && (-9.223_372_036_854_775e18..=9.223_372_036_854_775e18).contains(&n) {
        return Ok(Json::from(n as i64));
    }
    serde_json::Number::from_f64(n)
        .map(Json::Number)
        .ok_or(OutputError::NotFinite)
}

/// Converts a value to an owned JSON value.
pub(crate) fn to_json(v: &Value<'_>) -> Result<Json, OutputError> {
    to_json_at(v, 0)
}

fn to_json_at(v: &Value<'_>, depth: usize) -> Result<Json, OutputError> {
    if depth > MAX_OUTPUT_DEPTH {
        return Err(OutputError::TooDeep);
    }
    let to_json = |v: &Value<'_>| to_json_at(v, depth + 1);
    Ok(match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => number_to_json(*n)?,
        Value::Str(s) => Json::String((*s).to_string()),
        Value::String(s) => Json::String(s.to_string()),
        Value::JArray(a) => Json::Array(a.to_vec()),
        Value::JObject(o) => Json::Object((*o).clone()),
        Value::Array(a) => {
            if a.is_outer_wrapper() && a.items.len() == 1 {
                return to_json(&a.items[0]);
            }
            Json::Array(a.items.iter().map(&to_json).collect::<Result<_, _>>()?)
        }
        Value::Object(o) => {
            let mut map = Map::with_capacity(o.len());
            for (k, v) in o.iter() {
                map.insert(k.to_string(), to_json(v)?);
            }
            Json::Object(map)
        }
        Value::Tuples(t) => {
            let mut out = Vec::with_capacity(t.len());
            for tuple in t.iter() {
                if let Some(Some(v)) = tuple.iter().find(|(k, _)| *k == "@").map(|(_, v)| v) {
                    out.push(to_json(v)?);
                }
            }
            Json::Array(out)
        }
        Value::Function(_) => return Err(OutputError::Unsupported),
    })
}
