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
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    if binary {
        format!("X'{hex}'")
    } else {
        format!("CONVERT(X'{hex}' USING utf8mb4)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("a`b"), "`a``b`");
        assert_eq!(bytes_literal(b"\x00'", true), "X'0027'");
        assert_eq!(bytes_literal(b"z", false), "CONVERT(X'7A' USING utf8mb4)");
    }
}
