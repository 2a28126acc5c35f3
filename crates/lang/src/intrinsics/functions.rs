//! The eighteen intrinsic functions, applied to evaluated arguments.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::{Hash as _, Hasher};

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::{Arg, Function, IntrinsicCall, IntrinsicError};
use sluice_jsonata::Draws;

/// Longest string `States.Base64Encode`, `States.Base64Decode` and `States.Hash` accept.
const MAX_STRING_CHARS: usize = 10_000;
/// Longest array `States.ArrayRange` may produce.
const MAX_RANGE_ELEMENTS: i128 = 1000;

/// Runs `call`'s function on its evaluated arguments (`args`, one per written argument).
pub(super) fn call(
    call: &IntrinsicCall,
    args: Vec<Value>,
    draws: &Draws,
) -> Result<Value, IntrinsicError> {
    let f = call.function;
    match f {
        Function::Format => format(call, args),
        Function::StringToJson => string_to_json(f, &args[0]),
        Function::JsonToString => serde_json::to_string(&args[0])
            .map(Value::String)
            .map_err(|e| fail(f, e)),
        Function::Array => Ok(Value::Array(args)),
        Function::ArrayPartition => {
            let items = array(f, &args[0], "first")?;
            let size = integer(f, &args[1], "second")?;
            if size <= 0 {
                return Err(fail(
                    f,
                    format!("the chunk size must be positive, got {size}"),
                ));
            }
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            Ok(Value::Array(
                items
                    .chunks(size)
                    .map(|chunk| Value::Array(chunk.to_vec()))
                    .collect(),
            ))
        }
        Function::ArrayContains => {
            let items = array(f, &args[0], "first")?;
            Ok(Value::Bool(items.contains(&args[1])))
        }
        Function::ArrayRange => array_range(f, &args),
        Function::ArrayGetItem => {
            let items = array(f, &args[0], "first")?;
            let index = integer(f, &args[1], "second")?;
            usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .ok_or_else(|| {
                    fail(
                        f,
                        format!(
                            "the index {index} is out of bounds for an array of length {}",
                            items.len()
                        ),
                    )
                })
        }
        Function::ArrayLength => Ok(Value::from(array(f, &args[0], "first")?.len())),
        Function::ArrayUnique => Ok(Value::Array(unique(array(f, &args[0], "first")?))),
        Function::Base64Encode => {
            let input = limited_string(f, &args[0], "first")?;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(input.as_bytes()),
            ))
        }
        Function::Base64Decode => base64_decode(f, &args[0]),
        Function::Hash => hash(f, &args[0], &args[1]),
        Function::JsonMerge => json_merge(f, args),
        Function::MathRandom => math_random(f, &args, draws),
        Function::MathAdd => {
            let a = int32(f, &args[0], "first")?;
            let b = int32(f, &args[1], "second")?;
            Ok(Value::from(i64::from(a) + i64::from(b)))
        }
        Function::StringSplit => {
            let input = string(f, &args[0], "first")?;
            let delimiters = string(f, &args[1], "second")?;
            Ok(Value::Array(
                input
                    .split(|c| delimiters.contains(c))
                    .filter(|part| !part.is_empty())
                    .map(|part| Value::String(part.to_owned()))
                    .collect(),
            ))
        }
        Function::Uuid => Ok(Value::String(draws.uuid().to_string())),
    }
}

fn fail(function: Function, detail: impl std::fmt::Display) -> IntrinsicError {
    IntrinsicError::new(format!(
        "Invalid arguments in {}: {detail}",
        function.name()
    ))
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(function: Function, which: &str, expected: &str, got: &Value) -> IntrinsicError {
    fail(
        function,
        format!(
            "the {which} argument must be {expected}, but it is {}",
            type_name(got)
        ),
    )
}

fn array<'a>(
    function: Function,
    value: &'a Value,
    which: &str,
) -> Result<&'a [Value], IntrinsicError> {
    value
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| wrong_type(function, which, "an array", value))
}

fn string<'a>(
    function: Function,
    value: &'a Value,
    which: &str,
) -> Result<&'a str, IntrinsicError> {
    value
        .as_str()
        .ok_or_else(|| wrong_type(function, which, "a string", value))
}

fn limited_string<'a>(
    function: Function,
    value: &'a Value,
    which: &str,
) -> Result<&'a str, IntrinsicError> {
    let s = string(function, value, which)?;
    check_length(function, s)?;
    Ok(s)
}

fn check_length(function: Function, s: &str) -> Result<(), IntrinsicError> {
    if s.chars().count() > MAX_STRING_CHARS {
        return Err(fail(
            function,
            format!("the input exceeds the maximum length of {MAX_STRING_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A number as an integer; a fraction is rounded half up, like Java's `Math.round`.
fn integer(function: Function, value: &Value, which: &str) -> Result<i64, IntrinsicError> {
    let Value::Number(number) = value else {
        return Err(wrong_type(function, which, "a number", value));
    };
    if let Some(i) = number.as_i64() {
        return Ok(i);
    }
    let out_of_range = || {
        fail(
            function,
            format!("the {which} argument {number} is out of range"),
        )
    };
    if number.is_u64() {
        return Err(out_of_range());
    }
    let x = number.as_f64().ok_or_else(out_of_range)?;
    let rounded = round_half_up(x);
    if rounded < i64::MIN as f64 || rounded >= i64::MAX as f64 {
        return Err(out_of_range());
    }
    Ok(rounded as i64)
}

/// An integer argument that must fit in 32 bits.
fn int32(function: Function, value: &Value, which: &str) -> Result<i32, IntrinsicError> {
    let i = integer(function, value, which)?;
    i32::try_from(i).map_err(|_| {
        fail(
            function,
            format!("the {which} argument {i} is outside the range of a 32-bit integer"),
        )
    })
}

fn round_half_up(x: f64) -> f64 {
    let floor = x.floor();
    if x - floor >= 0.5 { floor + 1.0 } else { floor }
}

/// `States.Format`: replaces each `{}` in the template with the next argument.
fn format(call: &IntrinsicCall, args: Vec<Value>) -> Result<Value, IntrinsicError> {
    let f = call.function;
    let mut args = args.into_iter();
    let template_value = args.next().unwrap_or(Value::Null);
    let template = string(f, &template_value, "first")?;
    // A literal template keeps its escapes (`\{`, `\}`, `\'`, `\\`); a template read from a
    // path is taken as it is.
    let (text, escapes) = match call.args.first() {
        Some(Arg::String { raw, .. }) => (raw.as_str(), true),
        _ => (template, false),
    };
    let pieces = template_pieces(text, escapes).map_err(|detail| fail(f, detail))?;
    let values: Vec<Value> = args.collect();
    let placeholders = pieces.iter().filter(|p| p.is_none()).count();
    if placeholders != values.len() {
        return Err(fail(
            f,
            format!(
                "the template has {placeholders} placeholder{} but {} value{} given",
                if placeholders == 1 { "" } else { "s" },
                values.len(),
                if values.len() == 1 { " was" } else { "s were" },
            ),
        ));
    }
    let mut out = String::new();
    let mut values = values.iter();
    for piece in &pieces {
        match piece {
            Some(text) => out.push_str(text),
            None => {
                if let Some(value) = values.next() {
                    format_value(&mut out, value);
                }
            }
        }
    }
    Ok(Value::String(out))
}

/// Splits a template into literal text (`Some`) and placeholders (`None`).
fn template_pieces(text: &str, escapes: bool) -> Result<Vec<Option<String>>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if escapes => match chars.next() {
                Some(escaped) => literal.push(escaped),
                None => return Err("the template ends with an unterminated escape".into()),
            },
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                pieces.push(Some(std::mem::take(&mut literal)));
                pieces.push(None);
            }
            c => literal.push(c),
        }
    }
    pieces.push(Some(literal));
    Ok(pieces)
}

/// Writes a value the way `States.Format` inserts it: strings without quotes, numbers,
/// booleans and `null` as JSON, arrays as `[a, b]` and objects as `{key=value, key=value}`.
fn format_value(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                format_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push('=');
                format_value(out, item);
            }
            out.push('}');
        }
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

fn string_to_json(f: Function, value: &Value) -> Result<Value, IntrinsicError> {
    let text = string(f, value, "first")?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let mut parsed: Value = serde_json::from_str(text)
        .map_err(|e| fail(f, format!("the argument is not valid JSON: {e}")))?;
    normalize_negative_zero(&mut parsed);
    Ok(parsed)
}

/// Reads `-0` as the integer 0, as AWS does.
fn normalize_negative_zero(value: &mut Value) {
    match value {
        Value::Number(n) if n.as_f64().is_some_and(|x| x == 0.0 && x.is_sign_negative()) => {
            *value = Value::from(0);
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_negative_zero),
        Value::Object(map) => map.values_mut().for_each(normalize_negative_zero),
        _ => {}
    }
}

fn array_range(f: Function, args: &[Value]) -> Result<Value, IntrinsicError> {
    let first = integer(f, &args[0], "first")?;
    let last = integer(f, &args[1], "second")?;
    let step = integer(f, &args[2], "third")?;
    if step == 0 {
        return Err(fail(f, "the step must not be 0"));
    }
    let (first, last, step) = (i128::from(first), i128::from(last), i128::from(step));
    let count = if (step > 0 && first > last) || (step < 0 && first < last) {
        0
    } else {
        (last - first) / step + 1
    };
    if count > MAX_RANGE_ELEMENTS {
        return Err(fail(
            f,
            format!(
                "the range would have {count} elements, more than the maximum of {MAX_RANGE_ELEMENTS}"
            ),
        ));
    }
    Ok(Value::Array(
        (0..count)
            .map(|i| Value::from(i64::try_from(first + i * step).unwrap_or_default()))
            .collect(),
    ))
}

/// Removes later duplicates (deep equality), keeping the first occurrence of each value.
fn unique(items: &[Value]) -> Vec<Value> {
    let mut seen: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut out: Vec<Value> = Vec::new();
    for item in items {
        let mut hasher = DefaultHasher::new();
        hash_value(item, &mut hasher);
        let bucket = seen.entry(hasher.finish()).or_default();
        if bucket.iter().any(|&i| out[i] == *item) {
            continue;
        }
        bucket.push(out.len());
        out.push(item.clone());
    }
    out
}

/// Hashes a value consistently with `==` on values (object member order ignored).
fn hash_value(value: &Value, hasher: &mut impl Hasher) {
    match value {
        Value::Null => 0u8.hash(hasher),
        Value::Bool(b) => (1u8, b).hash(hasher),
        Value::Number(n) => (2u8, n.to_string()).hash(hasher),
        Value::String(s) => (3u8, s).hash(hasher),
        Value::Array(items) => {
            (4u8, items.len()).hash(hasher);
            for item in items {
                hash_value(item, hasher);
            }
        }
        Value::Object(map) => {
            (5u8, map.len()).hash(hasher);
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                key.hash(hasher);
                hash_value(&map[key], hasher);
            }
        }
    }
}

fn base64_decode(f: Function, value: &Value) -> Result<Value, IntrinsicError> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let input = limited_string(f, value, "first")?;
    let compact: String = input.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = LENIENT
        .decode(compact.as_bytes())
        .map_err(|e| fail(f, format!("the input is not valid Base64: {e}")))?;
    Ok(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
}

fn hash(f: Function, data: &Value, algorithm: &Value) -> Result<Value, IntrinsicError> {
    use sha2::Digest as _;
    let text = match data {
        Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
        other => std::borrow::Cow::Owned(other.to_string()),
    };
    check_length(f, &text)?;
    let algorithm = string(f, algorithm, "second")?;
    let bytes = text.as_bytes();
    let digest: Vec<u8> = match algorithm {
        "MD5" => md5::Md5::digest(bytes).to_vec(),
        "SHA-1" => sha1::Sha1::digest(bytes).to_vec(),
        "SHA-256" => sha2::Sha256::digest(bytes).to_vec(),
        "SHA-384" => sha2::Sha384::digest(bytes).to_vec(),
        "SHA-512" => sha2::Sha512::digest(bytes).to_vec(),
        other => {
            return Err(fail(
                f,
                format!(
                    "the hash algorithm '{other}' is not supported; use MD5, SHA-1, SHA-256, SHA-384 or SHA-512"
                ),
            ));
        }
    };
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    Ok(Value::String(hex))
}

fn json_merge(f: Function, args: Vec<Value>) -> Result<Value, IntrinsicError> {
    let mut args = args.into_iter();
    let (Some(first), Some(second), Some(deep)) = (args.next(), args.next(), args.next()) else {
        return Err(fail(f, "three arguments are required"));
    };
    let Value::Object(mut merged) = first else {
        return Err(wrong_type(f, "first", "an object", &first));
    };
    let Value::Object(overrides) = second else {
        return Err(wrong_type(f, "second", "an object", &second));
    };
    match deep {
        Value::Bool(false) => {}
        Value::Bool(true) => {
            return Err(fail(
                f,
                "deep merging is not supported; the third argument must be false",
            ));
        }
        other => return Err(wrong_type(f, "third", "a boolean", &other)),
    }
    merge_shallow(&mut merged, overrides);
    Ok(Value::Object(merged))
}

fn merge_shallow(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        into.insert(key, value);
    }
}

fn math_random(f: Function, args: &[Value], draws: &Draws) -> Result<Value, IntrinsicError> {
    let start = int32(f, &args[0], "first")?;
    let end = int32(f, &args[1], "second")?;
    if start >= end {
        return Err(fail(
            f,
            format!("the start {start} must be less than the end {end}"),
        ));
    }
    let Ok(bound) = i32::try_from(i64::from(end) - i64::from(start)) else {
        return Err(fail(f, "the range between start and end is too large"));
    };
    let offset = match args.get(2) {
        Some(seed) => JavaRandom::new(integer(f, seed, "third")?).next_int(bound),
        None => (draws.next_u64() % bound as u64) as i32,
    };
    Ok(Value::Number(Number::from(
        i64::from(start) + i64::from(offset),
    )))
}

/// The linear congruential generator of `java.util.Random`, so that a seed gives the same
/// sequence as on the JVM.
struct JavaRandom {
    seed: u64,
}

impl JavaRandom {
    const MULTIPLIER: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;

    fn new(seed: i64) -> Self {
        Self {
            seed: (seed as u64 ^ Self::MULTIPLIER) & Self::MASK,
        }
    }

    fn next(&mut self, bits: u32) -> i32 {
        self.seed = self.seed.wrapping_mul(Self::MULTIPLIER).wrapping_add(0xB) & Self::MASK;
        (self.seed >> (48 - bits)) as i32
    }

    /// Uniform in `0..bound`; `bound` must be positive.
    fn next_int(&mut self, bound: i32) -> i32 {
        let mut r = self.next(31);
        let m = bound - 1;
        if bound & m == 0 {
            return ((i64::from(bound) * i64::from(r)) >> 31) as i32;
        }
        let mut u = r;
        loop {
            r = u % bound;
            if u.wrapping_sub(r).wrapping_add(m) >= 0 {
                return r;
            }
            u = self.next(31);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_random_matches_the_jvm() {
        // Values printed by OpenJDK 17 for `new java.util.Random(seed).nextInt(bound)`.
        assert_eq!(JavaRandom::new(42).next_int(100), 30);
        assert_eq!(JavaRandom::new(0).next_int(10), 0);
        assert_eq!(JavaRandom::new(1).next_int(16), 11);
        assert_eq!(JavaRandom::new(3).next_int(999), 239);
        assert_eq!(JavaRandom::new(-7).next_int(1 << 30), 288_967_331);
        assert_eq!(
            JavaRandom::new(123_456_789_012).next_int(i32::MAX),
            29_712_462
        );
        let mut r = JavaRandom::new(42);
        let first: Vec<i32> = (0..5).map(|_| r.next_int(100)).collect();
        assert_eq!(first, [30, 63, 48, 84, 70]);
    }

    #[test]
    fn rounds_like_java() {
        for (x, expected) in [
            (1.5, 2.0),
            (2.5, 3.0),
            (-1.5, -1.0),
            (-2.5, -2.0),
            (-0.5, 0.0),
            (-1.51, -2.0),
            (1.49, 1.0),
            (0.49999999999999994, 0.0),
        ] {
            assert_eq!(round_half_up(x), expected, "{x}");
        }
    }
}
