//! The MySQL/MariaDB source: a consistent snapshot of each table with the binlog position it
//! matches, then the row-based binlog (`binlog_format=ROW`, `binlog_row_image=FULL`) from the
//! earliest of those positions (found again by GTID on a restart where the server has them),
//! decoded into the same changes as PostgreSQL's.

pub mod catalog;
pub mod connect;
pub mod ddl;
pub mod gtid;
pub mod loader;
pub mod resume;
pub mod run;
pub mod snapshot;
pub mod stream;
pub mod types;

/// `` `name` `` with inner backquotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A string literal that holds `bytes` exactly whatever the connection's `sql_mode`: a hex
/// literal, read as text in the connection's character set unless `binary`.
pub fn bytes_literal(bytes: &[u8], binary: bool) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let (head, tail) = if binary {
        ("X'", "'")
    } else {
        ("CONVERT(X'", "' USING utf8mb4)")
    };
    // Written into one buffer: the loader calls this for every value of every row.
    let mut out = String::with_capacity(head.len() + 2 * bytes.len() + tail.len());
    out.push_str(head);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    out.push_str(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(bytes_literal(b"\x00'", true), "X'0027'");
        assert_eq!(bytes_literal(b"z", false), "CONVERT(X'7A' USING utf8mb4)");
        assert_eq!(bytes_literal(&[0xAB, 0x0F, 0xF0], true), "X'AB0FF0'");
        assert_eq!(bytes_literal(b"", false), "CONVERT(X'' USING utf8mb4)");
    }
}
