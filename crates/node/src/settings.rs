//! Readers of the settings a project file gives as numbers or text: durations, memory sizes,
//! counts and environment maps, each refusing what Lambda would refuse.

use serde::de::{Deserialize, Deserializer, Error};
use serde_json::Value;
use sluice_lang::source::kind;
use std::collections::BTreeMap;
use std::time::Duration;

/// Longest function `timeout`: 15 minutes, as Lambda allows.
const MAX_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Longest `idle_timeout`: a day.
const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// Smallest and largest `memory`, in MB, as Lambda allows.
const MEMORY_MB: std::ops::RangeInclusive<u64> = 128..=10_240;

/// `timeout`: a duration longer than 0 and at most 15 minutes.
pub fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let v = Value::deserialize(d)?;
    let t = duration(&v, MAX_TIMEOUT, "15m, as Lambda allows").map_err(D::Error::custom)?;
    if t.is_zero() {
        return Err(D::Error::custom("a timeout must be longer than 0"));
    }
    Ok(Some(t))
}

/// `idle_timeout`: a duration of at most a day.
pub fn idle_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let v = Value::deserialize(d)?;
    duration(&v, MAX_IDLE_TIMEOUT, "24h")
        .map(Some)
        .map_err(D::Error::custom)
}

/// Longest queue duration (`batch_timeout`, `retry_delay`, `visibility_timeout`): 12 hours.
const MAX_QUEUE_DURATION: Duration = Duration::from_secs(12 * 3600);

/// A queue's `batch_timeout`, `retry_delay` or `visibility_timeout`: at most 12 hours.
pub fn queue_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let v = Value::deserialize(d)?;
    duration(&v, MAX_QUEUE_DURATION, "12h")
        .map(Some)
        .map_err(D::Error::custom)
}

/// Longest emulated restore delay: 12 hours, about what a standard Glacier restore takes.
const MAX_RESTORE_DELAY: Duration = Duration::from_secs(12 * 3600);

/// `objects: {restore_delay}`: at most 12 hours.
pub fn restore_delay<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let v = Value::deserialize(d)?;
    duration(&v, MAX_RESTORE_DELAY, "12h")
        .map(Some)
        .map_err(D::Error::custom)
}

/// `objects: {copy_failure_rate}`: a fraction from 0 to 1.
pub fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = Value::deserialize(d)?;
    v.as_f64()
        .filter(|f| (0.0..=1.0).contains(f))
        .map(Some)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "expected a fraction from 0 to 1 (0.1 fails one copy in ten), found {}",
                match &v {
                    Value::Number(n) => n.to_string(),
                    other => kind(other).to_string(),
                }
            ))
        })
}

/// `memory`: a whole number of MB that Lambda allows.
pub fn memory<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = Value::deserialize(d)?;
    v.as_u64()
        .filter(|m| MEMORY_MB.contains(m))
        .and_then(|m| u32::try_from(m).ok())
        .map(Some)
        .ok_or_else(|| {
            let found = match &v {
                Value::Number(n) => n.to_string(),
                other => kind(other).to_string(),
            };
            D::Error::custom(format!(
                "expected a whole number of MB from {} to {}, as Lambda allows, found {found}",
                MEMORY_MB.start(),
                MEMORY_MB.end()
            ))
        })
}

/// `concurrency`: a whole number of at least 1.
pub fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match Value::deserialize(d)?.as_u64() {
        Some(n) if n >= 1 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        _ => Err(D::Error::custom(
            "concurrency must be a whole number of at least 1",
        )),
    }
}

/// `env`: variables of a function's environment, strings, numbers or booleans, read as text.
pub fn env<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    scalars(d, "env variable")
}

/// `substitutions`: values of a definition's `${Name}` placeholders, read as text.
pub fn substitutions<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    scalars(d, "substitution")
}

/// A mapping of names to strings, numbers or booleans, read as text; `what` names an entry.
fn scalars<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let Value::Object(map) = Value::deserialize(d)? else {
        return Err(D::Error::custom(format!(
            "expected a mapping of {what} names to strings, numbers or booleans"
        )));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, s)),
            Value::Number(_) | Value::Bool(_) => Ok((k, v.to_string())),
            other => Err(D::Error::custom(format!(
                "{what} '{k}' must be a string, a number or a boolean, found {}",
                kind(&other)
            ))),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Parses `60s`, `5m`, `500ms`, `1h` or a number of seconds, at most `max` (`max_text`).
fn duration(v: &Value, max: Duration, max_text: &str) -> Result<Duration, String> {
    let not_a_duration =
        |found: &str| format!("{found} is not a duration such as 60s, 5m or 500ms");
    let (secs, shown) = match v {
        Value::Number(n) => (n.as_f64().unwrap_or(f64::NAN), n.to_string()),
        Value::String(text) => {
            let text = text.trim();
            let split = text
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(text.len());
            let (number, unit) = text.split_at(split);
            let n: f64 = number
                .parse()
                .map_err(|_| not_a_duration(&format!("'{text}'")))?;
            let secs = match unit.trim() {
                "ms" => n / 1000.0,
                "s" | "" => n,
                "m" => n * 60.0,
                "h" => n * 3600.0,
                _ => return Err(not_a_duration(&format!("'{text}'"))),
            };
            (secs, format!("'{text}'"))
        }
        other => return Err(not_a_duration(kind(other))),
    };
    if !(0.0..=max.as_secs_f64()).contains(&secs) {
        return Err(format!(
            "expected a duration from 0 to {max_text}, found {shown}"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}
