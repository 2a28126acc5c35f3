//! The PostgreSQL source: logical replication with pgoutput, after a consistent snapshot.

pub mod catalog;
pub mod chunks;
pub mod connect;
pub mod copy_text;
pub mod decoder;
pub mod pgoutput;
pub mod snapshot;
pub mod stream;
pub mod types;

/// An LSN as PostgreSQL writes it (`16/B374D848`).
pub fn lsn_text(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xFFFF_FFFF)
}

/// Reads an LSN written as `16/B374D848`.
pub fn parse_lsn(text: &str) -> Result<u64, String> {
    let (hi, lo) = text
        .split_once('/')
        .ok_or_else(|| format!("'{text}' is not an LSN (HI/LO in hex)"))?;
    let hi = u32::from_str_radix(hi, 16).map_err(|_| format!("'{text}' is not an LSN"))?;
    let lo = u32::from_str_radix(lo, 16).map_err(|_| format!("'{text}' is not an LSN"))?;
    Ok((u64::from(hi) << 32) | u64::from(lo))
}

/// The name of the slot and of the publication of the source `trigger`: `sluice_` and the
/// trigger's name, lower-cased, with every character outside `a-z0-9_` replaced by `_`, at most
/// 63 bytes.
pub fn object_name(trigger: &str) -> String {
    let mut name: String = format!("sluice_{trigger}")
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    name.truncate(63);
    name
}

/// `"name"` with inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with inner quotes doubled.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_round_trip() {
        assert_eq!(lsn_text(0x1_6B37_4D48), "1/6B374D48");
        assert_eq!(parse_lsn("1/6B374D48"), Ok(0x1_6B37_4D48));
        assert_eq!(parse_lsn("0/0"), Ok(0));
        assert!(parse_lsn("12").is_err());
        assert!(parse_lsn("x/1").is_err());
    }

    #[test]
    fn names_are_safe_identifiers() {
        assert_eq!(object_name("Orders-EU.v2"), "sluice_orders_eu_v2");
        assert_eq!(object_name(&"x".repeat(100)).len(), 63);
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
