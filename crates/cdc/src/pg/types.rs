//! PostgreSQL types: their JDBC codes (as PgJDBC reports them) and how their text is
//! normalised for Canal-JSON.
//!
//! Values are read as the server's output text, with the session pinned to `TimeZone=UTC`,
//! `DateStyle=ISO`, `IntervalStyle=postgres`, `extra_float_digits=3` and `bytea_output=hex`
//! (see [`SESSION_OPTIONS`]), so that the snapshot and the stream render them the same way.

/// Session settings for every connection that reads values.
pub const SESSION_OPTIONS: &str = "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex";

/// Well-known type OIDs.
pub mod oid {
    /// `bool`.
    pub const BOOL: u32 = 16;
    /// `bytea`.
    pub const BYTEA: u32 = 17;
    /// `char` (one byte).
    pub const CHAR: u32 = 18;
    /// `name`.
    pub const NAME: u32 = 19;
    /// `int8`.
    pub const INT8: u32 = 20;
    /// `int2`.
    pub const INT2: u32 = 21;
    /// `int4`.
    pub const INT4: u32 = 23;
    /// `text`.
    pub const TEXT: u32 = 25;
    /// `json`.
    pub const JSON: u32 = 114;
    /// `float4`.
    pub const FLOAT4: u32 = 700;
    /// `float8`.
    pub const FLOAT8: u32 = 701;
    /// `bpchar` (`character(n)`).
    pub const BPCHAR: u32 = 1042;
    /// `varchar`.
    pub const VARCHAR: u32 = 1043;
    /// `date`.
    pub const DATE: u32 = 1082;
    /// `time`.
    pub const TIME: u32 = 1083;
    /// `timestamp`.
    pub const TIMESTAMP: u32 = 1114;
    /// `timestamptz`.
    pub const TIMESTAMPTZ: u32 = 1184;
    /// `timetz`.
    pub const TIMETZ: u32 = 1266;
    /// `numeric`.
    pub const NUMERIC: u32 = 1700;
    /// `jsonb`.
    pub const JSONB: u32 = 3802;
}

/// The JDBC type code (`java.sql.Types`) of a column of type `type_oid` whose declared type
/// reads `type_name`: arrays are `ARRAY` (2003), json, uuid, enums and the rest `OTHER` (1111).
pub fn sql_type(type_oid: u32, type_name: &str) -> i32 {
    match type_oid {
        oid::INT2 => 5,
        oid::INT4 => 4,
        oid::INT8 => -5,
        oid::NUMERIC => 2,
        oid::FLOAT4 => 7,
        oid::FLOAT8 => 8,
        oid::BOOL => -7,
        oid::CHAR | oid::BPCHAR => 1,
        oid::VARCHAR | oid::TEXT | oid::NAME => 12,
        oid::DATE => 91,
        oid::TIME => 92,
        oid::TIMETZ => 2013,
        oid::TIMESTAMP | oid::TIMESTAMPTZ => 93,
        oid::BYTEA => -2,
        _ if type_name.ends_with("[]") => 2003,
        _ => 1111,
    }
}

/// Normalises the output text of a value of type `type_oid`: booleans become `true`/`false`,
/// `bytea` (`\x…` hex) becomes one character per byte (U+0000..U+00FF, Canal's binary rule);
/// everything else is kept as the server wrote it.
pub fn normalize(type_oid: u32, text: String) -> String {
    match type_oid {
        oid::BOOL => match text.as_str() {
            "t" => "true".into(),
            "f" => "false".into(),
            _ => text,
        },
        oid::BYTEA => decode_hex_bytea(&text).map_or(text, |bytes| latin1(&bytes)),
        _ => text,
    }
}

/// The bytes of `\x…` hex text, if it is that.
fn decode_hex_bytea(text: &str) -> Option<Vec<u8>> {
    let hex = text.strip_prefix("\\x")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Bytes as the characters U+0000..U+00FF.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The bytes of text written by [`latin1`], or `None` when a character is beyond U+00FF.
pub fn from_latin1(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_pgjdbc() {
        assert_eq!(sql_type(oid::INT8, "bigint"), -5);
        assert_eq!(sql_type(oid::NUMERIC, "numeric(10,2)"), 2);
        assert_eq!(sql_type(oid::TIMESTAMPTZ, "timestamp with time zone"), 93);
        assert_eq!(sql_type(oid::BOOL, "boolean"), -7);
        assert_eq!(sql_type(oid::JSONB, "jsonb"), 1111);
        assert_eq!(sql_type(1007, "integer[]"), 2003);
        assert_eq!(sql_type(oid::BYTEA, "bytea"), -2);
    }

    #[test]
    fn booleans_and_bytea_are_normalised() {
        assert_eq!(normalize(oid::BOOL, "t".into()), "true");
        assert_eq!(normalize(oid::BOOL, "f".into()), "false");
        assert_eq!(normalize(oid::BYTEA, "\\x00ff41".into()), "\u{0}\u{ff}A");
        assert_eq!(from_latin1("\u{0}\u{ff}A"), Some(vec![0, 255, 65]));
        assert_eq!(from_latin1("€"), None);
        assert_eq!(normalize(oid::TEXT, "héllo ✓".into()), "héllo ✓");
    }
}
