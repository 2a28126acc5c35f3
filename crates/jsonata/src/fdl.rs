//! Alibaba Cloud CloudFlow FDL expression flavour.
//!
//! On top of the JSONata grammar, FDL accepts `==` (equality), `&&` (and), `||` (or), unary
//! `!` (not), and calls its built-ins by bare name: `format("hello {}", $Input.name)`,
//! `uuid()`, `arrayContains($Input.tags, "x")`, ...
//!
//! Errors: `F0001` for an unknown function name (at parse time), `F0002` for invalid
//! arguments.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::aws::{hash_input, hash_text, parse_json, partition_items, random_unit, range_items};
use crate::error::{Failure, Res};
use crate::eval::{Evaluator, deep_equal};
use crate::json::{Style, stringify};
use crate::value::{Object, Opt, Value};

/// Names of the FDL built-ins.
const FUNCTIONS: &[&str] = &[
    "format",
    "uuid",
    "arrayContains",
    "arrayUnique",
    "fromBase64",
    "toBase64",
    "stringToJson",
    "jsonToString",
    "array",
    "arrayPartition",
    "arrayRange",
    "arrayGetItem",
    "arrayLength",
    "jsonMerge",
    "mathRandom",
    "mathAdd",
    "stringSplit",
    "hash",
    "length",
    "len",
];

/// Most items `arrayRange` may produce (as `States.ArrayRange`).
const MAX_RANGE_ITEMS: usize = 1000;

/// Scans an FDL-only operator at the start of `chars`: `==`, `&&`, `||` or a lone `!`.
pub(crate) fn operator(chars: &[char]) -> Option<(&'static str, usize)> {
    match (chars.first(), chars.get(1)) {
        (Some('='), Some('=')) => Some(("=", 2)),
        (Some('&'), Some('&')) => Some(("and", 2)),
        (Some('|'), Some('|')) => Some(("or", 2)),
        (Some('!'), Some('=')) => None,
        (Some('!'), _) => Some(("!", 1)),
        _ => None,
    }
}

/// Whether `name` is an FDL built-in.
pub(crate) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

fn invalid(name: &str, detail: impl std::fmt::Display) -> Failure {
    Failure::new("F0002").message(format!("Invalid arguments to {name}(): {detail}"))
}

fn json_text(v: &Value<'_>) -> String {
    stringify(v, Style::default()).unwrap_or_else(|| "null".into())
}

fn arity(name: &str, args: &[Opt<'_>], min: usize, max: usize) -> Res<()> {
    if args.len() < min || args.len() > max {
        let expected = if min == max {
            min.to_string()
        } else {
            format!("{min} to {max}")
        };
        return Err(invalid(
            name,
            format!("expected {expected} arguments, got {}", args.len()),
        ));
    }
    Ok(())
}

fn string_at<'r>(name: &str, args: &'r [Opt<'_>], i: usize) -> Res<&'r str> {
    args.get(i)
        .and_then(|a| a.as_ref())
        .and_then(|v| v.as_str())
        .ok_or_else(|| invalid(name, format!("argument {} must be a string", i + 1)))
}

fn number_at(name: &str, args: &[Opt<'_>], i: usize) -> Res<f64> {
    args.get(i)
        .and_then(|a| a.as_ref())
        .and_then(|v| v.as_f64())
        .ok_or_else(|| invalid(name, format!("argument {} must be a number", i + 1)))
}

fn array_at<'a>(name: &str, args: &[Opt<'a>], i: usize) -> Res<Vec<Value<'a>>> {
    match args.get(i).and_then(|a| a.as_ref()) {
        Some(v) if v.is_array() => Ok(v.to_items()),
        _ => Err(invalid(
            name,
            format!("argument {} must be an array", i + 1),
        )),
    }
}

/// `format`: replaces each `{}` with the next argument (strings as they are, other values as
/// JSON); `\{`, `\}` and `\\` are literal characters.
fn format(args: &[Opt<'_>]) -> Res<String> {
    let tpl = string_at("format", args, 0)?;
    let mut values = args[1..].iter();
    let mut out = String::with_capacity(tpl.len());
    let mut chars = tpl.chars().peekable();
    let mut used = 0;
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('{' | '}' | '\\')) => {
                out.push(chars.next().unwrap_or('\\'));
            }
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                used += 1;
                let Some(v) = values.next() else {
                    return Err(invalid(
                        "format",
                        format!(
                            "the template has more placeholders than the {} arguments",
                            args.len() - 1
                        ),
                    ));
                };
                match v {
                    Some(v) => match v.as_str() {
                        Some(s) => out.push_str(s),
                        None => out.push_str(&json_text(v)),
                    },
                    None => out.push_str("null"),
                }
            }
            c => out.push(c),
        }
    }
    if used != args.len() - 1 {
        return Err(invalid(
            "format",
            format!("{} arguments for {used} placeholders", args.len() - 1),
        ));
    }
    Ok(out)
}

fn merge<'a>(a: &Value<'a>, b: &Value<'a>, deep: bool) -> Value<'a> {
    let (Some(x), Some(y)) = (a.as_object(), b.as_object()) else {
        return b.clone();
    };
    let mut out = Object::new();
    for (k, v) in x.entries() {
        out.insert(&k, v);
    }
    for (k, v) in y.entries() {
        let merged = match (deep, out.get(&k)) {
            (true, Some(existing)) if existing.is_object() && v.is_object() => {
                merge(existing, &v, true)
            }
            _ => v,
        };
        out.insert(&k, merged);
    }
    Value::object(out)
}

/// Calls the FDL built-in `name` with evaluated arguments.
pub(crate) fn call<'a>(ev: &Evaluator<'a>, name: &str, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let value = match name {
        "format" => {
            if args.is_empty() {
                return Err(invalid(name, "a template is required"));
            }
            Value::string(format(&args)?)
        }
        "uuid" => {
            arity(name, &args, 0, 0)?;
            Value::string(ev.draws.uuid().to_string())
        }
        "arrayContains" => {
            arity(name, &args, 2, 2)?;
            let items = array_at(name, &args, 0)?;
            let needle = args[1].clone().unwrap_or(Value::Null);
            Value::Bool(items.iter().any(|i| deep_equal(i, &needle)))
        }
        "arrayUnique" => {
            arity(name, &args, 1, 1)?;
            let mut out: Vec<Value<'a>> = Vec::new();
            for item in array_at(name, &args, 0)? {
                if !out.iter().any(|o| deep_equal(o, &item)) {
                    out.push(item);
                }
            }
            Value::array(out)
        }
        "fromBase64" => {
            arity(name, &args, 1, 1)?;
            let s = string_at(name, &args, 0)?;
            let bytes = STANDARD
                .decode(s.trim())
                .map_err(|e| invalid(name, format!("not valid base64: {e}")))?;
            Value::string(
                String::from_utf8(bytes)
                    .map_err(|_| invalid(name, "the decoded data is not UTF-8 text"))?,
            )
        }
        "toBase64" => {
            arity(name, &args, 1, 1)?;
            Value::string(STANDARD.encode(string_at(name, &args, 0)?.as_bytes()))
        }
        "stringToJson" => {
            arity(name, &args, 1, 1)?;
            parse_json(string_at(name, &args, 0)?)?
        }
        "jsonToString" => {
            arity(name, &args, 1, 1)?;
            Value::string(
                args[0]
                    .as_ref()
                    .map(json_text)
                    .unwrap_or_else(|| "null".into()),
            )
        }
        "array" => Value::array(args.into_iter().map(|a| a.unwrap_or(Value::Null)).collect()),
        "arrayPartition" => {
            arity(name, &args, 2, 2)?;
            partition_items(array_at(name, &args, 0)?, number_at(name, &args, 1)?)?
        }
        "arrayRange" => {
            arity(name, &args, 3, 3)?;
            let items = range_items(
                number_at(name, &args, 0)?,
                number_at(name, &args, 1)?,
                number_at(name, &args, 2)?,
            )?;
            if items.len() > MAX_RANGE_ITEMS {
                return Err(invalid(
                    name,
                    format!("the range exceeds {MAX_RANGE_ITEMS} items"),
                ));
            }
            Value::array(items)
        }
        "arrayGetItem" => {
            arity(name, &args, 2, 2)?;
            let items = array_at(name, &args, 0)?;
            let index = number_at(name, &args, 1)?;
            if index < 0.0 || index.fract() != 0.0 || index as usize >= items.len() {
                return Err(invalid(
                    name,
                    format!(
                        "index {} is out of bounds",
                        crate::json::number_to_string(index)
                    ),
                ));
            }
            items[index as usize].clone()
        }
        "arrayLength" => {
            arity(name, &args, 1, 1)?;
            Value::Number(array_at(name, &args, 0)?.len() as f64)
        }
        "jsonMerge" => {
            arity(name, &args, 2, 3)?;
            let (Some(a), Some(b)) = (args[0].as_ref(), args[1].as_ref()) else {
                return Err(invalid(name, "both arguments must be objects"));
            };
            if !a.is_object() || !b.is_object() {
                return Err(invalid(name, "both arguments must be objects"));
            }
            let deep = matches!(args.get(2), Some(Some(Value::Bool(true))));
            merge(a, b, deep)
        }
        "mathRandom" => {
            arity(name, &args, 2, 3)?;
            let start = number_at(name, &args, 0)?.floor();
            let end = number_at(name, &args, 1)?.floor();
            if end <= start {
                return Err(invalid(name, "the end must be greater than the start"));
            }
            let unit = random_unit(ev, args.get(2).and_then(|a| a.as_ref()));
            Value::Number(start + (unit * (end - start)).floor())
        }
        "mathAdd" => {
            arity(name, &args, 2, 2)?;
            Value::Number(number_at(name, &args, 0)? + number_at(name, &args, 1)?)
        }
        "stringSplit" => {
            arity(name, &args, 2, 2)?;
            let s = string_at(name, &args, 0)?;
            let delimiters = string_at(name, &args, 1)?;
            Value::array(
                s.split(|c| delimiters.contains(c))
                    .filter(|p| !p.is_empty())
                    .map(Value::string)
                    .collect(),
            )
        }
        "hash" => {
            arity(name, &args, 2, 2)?;
            let Some(v) = args[0].as_ref() else {
                return Err(invalid(name, "the value to hash is missing"));
            };
            Value::string(hash_text(&hash_input(v), string_at(name, &args, 1)?)?)
        }
        "length" | "len" => {
            arity(name, &args, 1, 1)?;
            match args[0].as_ref() {
                Some(v) if v.is_string() => {
                    Value::Number(v.as_str().unwrap_or_default().chars().count() as f64)
                }
                Some(v) if v.is_array() => Value::Number(v.to_items().len() as f64),
                Some(v) if v.is_object() => {
                    Value::Number(v.as_object().map(|o| o.len()).unwrap_or(0) as f64)
                }
                _ => {
                    return Err(invalid(
                        name,
                        "argument 1 must be a string, array or object",
                    ));
                }
            }
        }
        other => return Err(Failure::new("F0001").message(format!("Unknown function: {other}"))),
    };
    Ok(Some(value))
}
