//! Binlog positions in the `u64` that every source position is: the file's sequence number (the
//! digits after the last dot of `mysql-bin.000042`) in the high 32 bits, the byte offset in the
//! file in the low 32 bits. Ordered like the binlog itself, so the rest of the crate compares
//! and stores them as it does PostgreSQL LSNs.

/// The position of `offset` in binlog file `file`; an error when the name has no sequence
/// number or the offset does not fit.
pub fn binlog_position(file: &str, offset: u64) -> Result<u64, String> {
    let sequence = file
        .rsplit_once('.')
        .and_then(|(_, digits)| digits.parse::<u32>().ok())
        .ok_or_else(|| format!("binlog file '{file}' has no sequence number (NAME.000001)"))?;
    let offset = u32::try_from(offset)
        .map_err(|_| format!("binlog offset {offset} of {file} is beyond 4 GiB"))?;
    Ok((u64::from(sequence) << 32) | u64::from(offset))
}

/// The byte offset of a binlog position.
pub fn binlog_offset(position: u64) -> u64 {
    position & 0xFFFF_FFFF
}

/// The file sequence number of a binlog position.
pub fn binlog_sequence(position: u64) -> u32 {
    (position >> 32) as u32
}

/// The name of the file of `position`, given the binlog's base name (`mysql-bin`).
pub fn binlog_file(base: &str, position: u64) -> String {
    format!("{base}.{:06}", binlog_sequence(position))
}

/// `FILE:OFFSET`, as `sluice cdc status` shows a binlog position.
pub fn binlog_text(base: &str, position: u64) -> String {
    format!(
        "{}:{}",
        binlog_file(base, position),
        binlog_offset(position)
    )
}

/// The base name of binlog file `file` (`mysql-bin` of `mysql-bin.000042`).
pub fn binlog_base(file: &str) -> &str {
    file.rsplit_once('.').map_or(file, |(base, _)| base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_file_then_offset_and_round_trip() {
        let a = binlog_position("mysql-bin.000002", 4_000_000).unwrap();
        let b = binlog_position("mysql-bin.000003", 4).unwrap();
        assert!(a < b);
        assert_eq!(binlog_offset(a), 4_000_000);
        assert_eq!(binlog_sequence(b), 3);
        assert_eq!(binlog_text("mysql-bin", b), "mysql-bin.000003:4");
        assert_eq!(binlog_base("mysql-bin.000003"), "mysql-bin");
        assert!(
            binlog_position("binlog", 4)
                .unwrap_err()
                .contains("no sequence")
        );
        assert!(binlog_position("b.000001", 1 << 33).is_err());
    }
}
