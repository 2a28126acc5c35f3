//! MySQL/MariaDB values as text, the same whether read by the snapshot (the text protocol) or
//! from the binlog, as Canal writes them: integers (unsigned ones in full), decimals with their
//! scale, dates as `yyyy-MM-dd`, datetimes and timestamps as `yyyy-MM-dd HH:mm:ss[.f]` with the
//! column's fraction digits (timestamps in UTC), times as `[-]HH:mm:ss[.f]`, years as four
//! digits, text in UTF-8, binary values one character per byte (ISO-8859-1), `BIT` as an
//! unsigned integer. Unlike Canal, `ENUM` is its label and `SET` its labels joined by commas
//! (as MySQL shows them), and floats are their shortest round-trip decimal text.

use crate::change::Datum;
use crate::pg::types::latin1;
use mysql_async::Value;
use mysql_async::binlog::value::BinlogValue;

/// How a column's values are read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// `TINYINT` … `BIGINT`, with their width in bytes.
    Integer {
        /// `UNSIGNED`.
        unsigned: bool,
        /// Bytes of the type (1, 2, 3, 4 or 8).
        bytes: u32,
    },
    /// `FLOAT`.
    Float,
    /// `DOUBLE`.
    Double,
    /// `BIT(n)`.
    Bit,
    /// `DATE`.
    Date,
    /// `DATETIME(p)`.
    DateTime(u32),
    /// `TIMESTAMP(p)`, shown in UTC.
    Timestamp(u32),
    /// `TIME(p)`.
    Time(u32),
    /// Text: `CHAR`, `VARCHAR`, the `TEXT` family, `DECIMAL`, `YEAR` (`latin1` when the
    /// column's character set is latin1).
    Text {
        /// Decoded as ISO-8859-1.
        latin1: bool,
    },
    /// `JSON` (MySQL's binary JSON; MariaDB's JSON is text).
    Json,
    /// `BINARY`, `VARBINARY`, the `BLOB` family, spatial types.
    Binary,
    /// `ENUM`, with its labels.
    Enum(Vec<String>),
    /// `SET`, with its labels.
    Set(Vec<String>),
}

impl ValueKind {
    /// The kind of a column of `information_schema.COLUMNS`' `DATA_TYPE` `data_type`,
    /// `COLUMN_TYPE` `column_type`, character set and fraction digits.
    pub fn of(data_type: &str, column_type: &str, charset: Option<&str>, precision: u32) -> Self {
        let unsigned = column_type.contains("unsigned");
        let integer = |bytes| ValueKind::Integer { unsigned, bytes };
        match data_type {
            "tinyint" => integer(1),
            "smallint" => integer(2),
            "mediumint" => integer(3),
            "int" | "integer" => integer(4),
            "bigint" => integer(8),
            "float" => ValueKind::Float,
            "double" | "real" => ValueKind::Double,
            "bit" => ValueKind::Bit,
            "date" => ValueKind::Date,
            "datetime" => ValueKind::DateTime(precision),
            "timestamp" => ValueKind::Timestamp(precision),
            "time" => ValueKind::Time(precision),
            "json" => ValueKind::Json,
            "enum" => ValueKind::Enum(labels(column_type)),
            "set" => ValueKind::Set(labels(column_type)),
            "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob"
            | "geometry" | "point" | "linestring" | "polygon" | "multipoint"
            | "multilinestring" | "multipolygon" | "geometrycollection" => ValueKind::Binary,
            _ if charset == Some("binary") => ValueKind::Binary,
            _ => ValueKind::Text {
                latin1: charset == Some("latin1"),
            },
        }
    }

    /// A value of the snapshot (the text protocol's bytes, or NULL).
    pub fn from_text(&self, value: &Value) -> Datum {
        let bytes = match value {
            Value::NULL => return Datum::Null,
            Value::Bytes(b) => b.as_slice(),
            other => return Datum::Text(other.as_sql(true).trim_matches('\'').to_string()),
        };
        let text = || String::from_utf8_lossy(bytes).into_owned();
        Datum::Text(match self {
            ValueKind::Float => float_text(&text(), true),
            ValueKind::Double => float_text(&text(), false),
            ValueKind::Bit => bit_text(bytes),
            ValueKind::Binary => latin1(bytes),
            ValueKind::Text { latin1: true } => latin1(bytes),
            ValueKind::Json => serde_json::from_slice::<serde_json::Value>(bytes)
                .map_or_else(|_| text(), |v| v.to_string()),
            _ => text(),
        })
    }

    /// A value of a binlog row event; an error says what could not be read.
    pub fn from_binlog(&self, value: &BinlogValue<'_>) -> Result<Datum, String> {
        let value = match value {
            BinlogValue::Value(v) => v,
            BinlogValue::Jsonb(j) => {
                let json = serde_json::Value::try_from(j.clone())
                    .map_err(|e| format!("a JSON value: {e}"))?;
                return Ok(Datum::Text(json.to_string()));
            }
            BinlogValue::JsonDiff(_) => {
                return Err("a partial JSON update (set binlog_row_value_options='')".into());
            }
        };
        Ok(Datum::Text(match (self, value) {
            (_, Value::NULL) => return Ok(Datum::Null),
            (ValueKind::Integer { unsigned, bytes }, Value::Int(n)) => {
                if *unsigned && *n < 0 {
                    let bits = bytes * 8;
                    let mask = if bits >= 64 {
                        u64::MAX
                    } else {
                        (1u64 << bits) - 1
                    };
                    ((*n as u64) & mask).to_string()
                } else {
                    n.to_string()
                }
            }
            (ValueKind::Enum(labels), Value::Int(n)) => usize::try_from(*n)
                .ok()
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| labels.get(i))
                .cloned()
                .unwrap_or_default(),
            (ValueKind::Timestamp(p), Value::Int(secs)) => utc_text(*secs, 0, *p),
            (ValueKind::Timestamp(p), Value::Bytes(b)) => {
                let text = String::from_utf8_lossy(b);
                let (secs, micros) = text.split_once('.').unwrap_or((&text, "0"));
                utc_text(
                    secs.parse().map_err(|_| format!("a TIMESTAMP '{text}'"))?,
                    micros.parse().unwrap_or(0),
                    *p,
                )
            }
            (ValueKind::Set(labels), Value::Bytes(b)) => {
                let mask = b
                    .iter()
                    .rev()
                    .fold(0u64, |m, byte| (m << 8) | u64::from(*byte));
                labels
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i < 64 && mask & (1 << i) != 0)
                    .map(|(_, l)| l.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            }
            (ValueKind::Float, Value::Float(f)) => f.to_string(),
            (ValueKind::Float, Value::Double(f)) => (*f as f32).to_string(),
            (_, Value::Double(f)) => f.to_string(),
            (_, Value::Float(f)) => f.to_string(),
            (_, Value::Int(n)) => n.to_string(),
            (_, Value::UInt(n)) => n.to_string(),
            (ValueKind::Date, Value::Date(y, m, d, ..)) => format!("{y:04}-{m:02}-{d:02}"),
            (
                ValueKind::DateTime(p) | ValueKind::Timestamp(p),
                Value::Date(y, m, d, h, mi, s, us),
            ) => {
                format!(
                    "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
                    fraction(*us, *p)
                )
            }
            (kind, Value::Time(negative, days, h, m, s, us)) => {
                let p = if let ValueKind::Time(p) = kind { *p } else { 6 };
                let hours = u64::from(*days) * 24 + u64::from(*h);
                format!(
                    "{}{hours:02}:{m:02}:{s:02}{}",
                    if *negative { "-" } else { "" },
                    fraction(*us, p)
                )
            }
            (_, Value::Date(y, m, d, h, mi, s, us)) => {
                format!(
                    "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}{}",
                    fraction(*us, 6)
                )
            }
            (ValueKind::Bit, Value::Bytes(b)) => bit_text(b),
            (ValueKind::Binary | ValueKind::Text { latin1: true }, Value::Bytes(b)) => latin1(b),
            (_, Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        }))
    }
}

/// The labels of an `enum('a','b')` or `set('a','b')` column type (quotes inside doubled).
pub fn labels(column_type: &str) -> Vec<String> {
    let Some(start) = column_type.find('(') else {
        return Vec::new();
    };
    let inner = column_type[start + 1..].trim_end_matches(')');
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                '\'' => break,
                '\\' => label.extend(chars.next()),
                other => label.push(other),
            }
        }
        out.push(label);
    }
    out
}

/// The JDBC type code (`java.sql.Types`) Canal gives a column; an `UNSIGNED` integer gets the
/// next wider type, which holds all its values.
pub fn sql_type(data_type: &str, column_type: &str) -> i32 {
    let unsigned = column_type.contains("unsigned");
    match (data_type, unsigned) {
        ("tinyint", false) => -6,
        ("tinyint", true) | ("smallint", false) => 5,
        ("smallint", true) | ("mediumint", _) | ("int" | "integer", false) => 4,
        ("int" | "integer", true) | ("bigint", false) => -5,
        ("bigint", true) | ("decimal" | "numeric", _) => 3,
        ("float", _) => 7,
        ("double" | "real", _) => 8,
        ("bit", _) | ("set", _) => -7,
        ("date", _) => 91,
        ("time", _) => 92,
        ("datetime" | "timestamp", _) => 93,
        ("year", _) | ("varchar", _) | ("json", _) => 12,
        ("char", _) => 1,
        ("tinytext" | "text" | "mediumtext" | "longtext", _) => 2005,
        ("enum", _) => 4,
        _ => 2004,
    }
}

/// `.ffffff` cut to `digits` digits (nothing for 0).
fn fraction(micros: u32, digits: u32) -> String {
    if digits == 0 {
        return String::new();
    }
    let all = format!("{micros:06}");
    format!(".{}", &all[..(digits.min(6) as usize)])
}

/// Unix seconds and microseconds as UTC `yyyy-MM-dd HH:mm:ss[.f]` (`0` is MySQL's zero
/// timestamp, `0000-00-00 00:00:00`).
fn utc_text(secs: i64, micros: u32, digits: u32) -> String {
    if secs == 0 && micros == 0 {
        return format!("0000-00-00 00:00:00{}", fraction(0, digits));
    }
    match chrono::DateTime::from_timestamp(secs, micros * 1000) {
        Some(at) => format!(
            "{}{}",
            at.format("%Y-%m-%d %H:%M:%S"),
            fraction(micros, digits)
        ),
        None => secs.to_string(),
    }
}

/// A `BIT` value's bytes (big-endian) as an unsigned integer.
fn bit_text(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(0u64, |n, b| (n << 8) | u64::from(*b))
        .to_string()
}

/// A float the server wrote as text, as its shortest round-trip text (what the binlog path
/// gives).
fn float_text(text: &str, single: bool) -> String {
    if single {
        text.parse::<f32>()
            .map_or_else(|_| text.to_string(), |f| f.to_string())
    } else {
        text.parse::<f64>()
            .map_or_else(|_| text.to_string(), |f| f.to_string())
    }
}

#[cfg(test)]
mod tests;
