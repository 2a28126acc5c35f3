//! PostgreSQL's `COPY ... TO STDOUT` text format, read line by line: columns separated by tabs,
//! `\N` for NULL, and backslash escapes for the backslash, control characters and octal or
//! hex bytes. What the snapshot reads, as the server's output text of each value.

/// The longest row kept while its end has not arrived (a row longer than this is refused).
const MAX_ROW: usize = 256 << 20;

/// Rows of `COPY` text output, fed in chunks as the server sends them.
#[derive(Default)]
pub struct CopyText {
    partial: Vec<u8>,
}

impl CopyText {
    /// Feeds `chunk`, calling `row` with the raw text of each row it completes (without its
    /// newline); an error when a row grows beyond the bound.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        mut row: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                row(&rest[..end])?;
            } else {
                self.partial.extend_from_slice(&rest[..end]);
                let line = std::mem::take(&mut self.partial);
                row(&line)?;
            }
            rest = &rest[end + 1..];
        }
        if self.partial.len() + rest.len() > MAX_ROW {
            return Err(format!(
                "a row of COPY output is longer than {MAX_ROW} bytes"
            ));
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// Whether a row was left without its end.
    pub fn unfinished(&self) -> bool {
        !self.partial.is_empty()
    }
}

/// The values of one row of `COPY` text output, `columns` of them; an error names what is wrong.
pub fn fields(line: &[u8], columns: usize) -> Result<Vec<Option<String>>, String> {
    let mut out = Vec::with_capacity(columns);
    for field in line.split(|&b| b == b'\t') {
        out.push(if field == b"\\N" {
            None
        } else {
            Some(unescape(field)?)
        });
    }
    if out.len() != columns {
        return Err(format!(
            "a row of COPY output has {} columns, not {columns}",
            out.len()
        ));
    }
    Ok(out)
}

/// One field's text with its escapes undone.
fn unescape(field: &[u8]) -> Result<String, String> {
    if !field.contains(&b'\\') {
        return String::from_utf8(field.to_vec()).map_err(|e| format!("COPY output: {e}"));
    }
    let mut bytes = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        i += 1;
        if b != b'\\' || i == field.len() {
            bytes.push(b);
            continue;
        }
        let c = field[i];
        i += 1;
        match c {
            b'b' => bytes.push(8),
            b'f' => bytes.push(12),
            b'n' => bytes.push(b'\n'),
            b'r' => bytes.push(b'\r'),
            b't' => bytes.push(b'\t'),
            b'v' => bytes.push(11),
            b'0'..=b'7' => {
                let mut value = u32::from(c - b'0');
                for _ in 0..2 {
                    match field.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                bytes.push((value & 0xFF) as u8);
            }
            b'x' => {
                let mut value = 0u8;
                let mut digits = 0;
                while digits < 2 {
                    let Some(d) = field.get(i).and_then(|d| char::from(*d).to_digit(16)) else {
                        break;
                    };
                    value = value * 16 + d as u8;
                    i += 1;
                    digits += 1;
                }
                if digits == 0 {
                    bytes.push(b'x');
                } else {
                    bytes.push(value);
                }
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|e| format!("COPY output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_split_across_chunks_and_escapes_are_undone() {
        let mut copy = CopyText::default();
        let mut rows = Vec::new();
        let mut collect = |line: &[u8]| {
            rows.push(fields(line, 3)?);
            Ok(())
        };
        copy.feed(b"1\ta\\tb\\\\c\t\\N\n2\tx", &mut collect)
            .unwrap();
        copy.feed(b"y\\n\t\\\\x0a\n", &mut collect).unwrap();
        assert!(!copy.unfinished());
        assert_eq!(
            rows,
            vec![
                vec![Some("1".into()), Some("a\tb\\c".into()), None],
                vec![Some("2".into()), Some("xy\n".into()), Some("\\x0a".into())],
            ]
        );
        assert_eq!(unescape(b"\\101\\x42\\q").unwrap(), "ABq");
    }

    #[test]
    fn a_row_of_the_wrong_width_is_refused() {
        assert!(fields(b"1\t2", 3).unwrap_err().contains("2 columns, not 3"));
    }
}
