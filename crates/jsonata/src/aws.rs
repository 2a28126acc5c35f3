//! The AWS Step Functions extension functions: `$partition`, `$range`, `$hash`, `$random`,
//! `$uuid` and `$parse`. Integer parameters given non-integers are rounded down.
//!
//! Errors of these functions use codes outside JSONata's own table: `D3200` (invalid
//! partition size), `D3201` (zero range step), `D3202` (unknown hash algorithm), `D3203`
//! (invalid JSON text), `D3204` (range too large).

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::builtins::{Def, arg, num_arg, number_result, str_arg, string_result};
use crate::error::{Failure, Res};
use crate::eval::Evaluator;
use crate::json::{Style, stringify};
use crate::random::{mix64, text_seed, unit_interval};
use crate::value::{Opt, Value};

pub(crate) const FUNCTIONS: &[Def] = &[
    Def {
        name: "partition",
        signature: "<an:a>",
        arity: 2,
        func: partition,
    },
    Def {
        name: "range",
        signature: "<nnn?:a>",
        arity: 3,
        func: range,
    },
    Def {
        name: "hash",
        signature: "<xs:s>",
        arity: 2,
        func: hash,
    },
    Def {
        name: "random",
        signature: "<(ns)?:n>",
        arity: 1,
        func: random,
    },
    Def {
        name: "uuid",
        signature: "<:s>",
        arity: 0,
        func: uuid,
    },
    Def {
        name: "parse",
        signature: "<s:j>",
        arity: 1,
        func: parse,
    },
];

/// Largest number of items `$range` produces.
const MAX_RANGE: f64 = 1e7;

/// Splits `items` into chunks of `size` (which must be at least 1 after rounding down).
pub(crate) fn partition_items<'a>(items: Vec<Value<'a>>, size: f64) -> Res<Value<'a>> {
    let size = size.floor();
    if size.is_nan() || size < 1.0 {
        return Err(Failure::new("D3200").message(format!(
            "The size argument of $partition must be a positive integer, got {}",
            crate::json::number_to_string(size)
        )));
    }
    let chunks = items
        .chunks(size.min(usize::MAX as f64) as usize)
        .map(|c| Value::array(c.to_vec()))
        .collect();
    Ok(Value::array(chunks))
}

fn partition<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(arr) = arg(&args, 0) else {
        return Ok(None);
    };
    let size = num_arg(&args, 1).unwrap_or(f64::NAN);
    Ok(Some(partition_items(arr.to_items(), size)?))
}

/// The numbers from `start` to `end` inclusive in steps of `step` (all rounded down).
pub(crate) fn range_items<'a>(start: f64, end: f64, step: f64) -> Res<Vec<Value<'a>>> {
    let (start, end, step) = (start.floor(), end.floor(), step.floor());
    if step == 0.0 || step.is_nan() {
        return Err(Failure::new("D3201").message("The step argument of $range must not be zero"));
    }
    let count = ((end - start) / step).floor() + 1.0;
    if count > MAX_RANGE {
        return Err(Failure::new("D3204").message(format!(
            "The range would contain {} items, more than the limit of {}",
            crate::json::number_to_string(count),
            crate::json::number_to_string(MAX_RANGE)
        )));
    }
    if count.is_nan() || count < 1.0 {
        return Ok(Vec::new());
    }
    Ok((0..count as u64)
        .map(|i| Value::Number(start + i as f64 * step))
        .collect())
}

fn range<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let (Some(start), Some(end)) = (num_arg(&args, 0), num_arg(&args, 1)) else {
        return Ok(None);
    };
    let step = num_arg(&args, 2).unwrap_or(1.0);
    Ok(Some(Value::sequence(range_items(start, end, step)?)))
}

/// Hashes text with one of the States.Hash algorithms, as lowercase hex.
pub(crate) fn hash_text(text: &str, algorithm: &str) -> Res<String> {
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    let data = text.as_bytes();
    Ok(match algorithm.to_ascii_uppercase().as_str() {
        "MD5" => hex(&Md5::digest(data)),
        "SHA-1" => hex(&Sha1::digest(data)),
        "SHA-256" => hex(&Sha256::digest(data)),
        "SHA-384" => hex(&Sha384::digest(data)),
        "SHA-512" => hex(&Sha512::digest(data)),
        _ => {
            return Err(Failure::new("D3202").message(format!(
                "Unsupported hash algorithm '{algorithm}'; expected one of MD5, SHA-1, SHA-256, SHA-384, SHA-512"
            )));
        }
    })
}

/// The text a value is hashed as: strings as they are, other values as compact JSON.
pub(crate) fn hash_input(v: &Value<'_>) -> String {
    match v.as_str() {
        Some(s) => s.to_string(),
        None => stringify(v, Style::default()).unwrap_or_default(),
    }
}

fn hash<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(v) = arg(&args, 0) else {
        return Ok(None);
    };
    let algorithm = str_arg(&args, 1).unwrap_or_default();
    string_result(hash_text(&hash_input(&v), algorithm)?)
}

/// A number in `[0, 1)` determined by the `seed` argument of `$random` (or FDL's
/// `mathRandom`), else drawn by the evaluation.
pub(crate) fn random_unit(ev: &Evaluator<'_>, seed: Option<&Value<'_>>) -> f64 {
    let bits = match seed {
        None => return ev.draws.unit(),
        Some(Value::Number(n)) => n.floor().to_bits(),
        Some(v) => text_seed(v.as_str().unwrap_or_default()),
    };
    unit_interval(mix64(bits))
}

fn random<'a>(ev: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    number_result(random_unit(ev, arg(&args, 0).as_ref()))
}

fn uuid<'a>(ev: &Evaluator<'a>, _: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    string_result(ev.draws.uuid().to_string())
}

/// Parses JSON text into a value.
pub(crate) fn parse_json<'a>(text: &str) -> Res<Value<'a>> {
    serde_json::from_str::<serde_json::Value>(text)
        .map(Value::from_owned_json)
        .map_err(|e| Failure::new("D3203").message(format!("Unable to parse the JSON string: {e}")))
}

fn parse<'a>(_: &Evaluator<'a>, args: Vec<Opt<'a>>) -> Res<Opt<'a>> {
    let Some(text) = str_arg(&args, 0) else {
        return Ok(None);
    };
    Ok(Some(parse_json(text)?))
}
