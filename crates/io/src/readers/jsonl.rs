//! JSON Lines items: one value per non-blank line.

use super::{malformed, read_failed};
use sluice_engine::invoke::TaskError;
use sluice_engine::items::ReadItem;
use std::io::BufRead;

/// The lines of an object as items.
pub(crate) struct JsonLinesItems<R> {
    input: R,
    origin: String,
    line: u64,
    done: bool,
}

impl<R: BufRead> JsonLinesItems<R> {
    pub fn new(input: R, origin: String) -> Self {
        JsonLinesItems {
            input,
            origin,
            line: 0,
            done: false,
        }
    }
}

impl<R: BufRead> Iterator for JsonLinesItems<R> {
    type Item = Result<ReadItem, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut bytes = Vec::new();
        while !self.done {
            bytes.clear();
            match self.input.read_until(b'\n', &mut bytes) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    let text = bytes.trim_ascii();
                    if text.is_empty() {
                        continue;
                    }
                    return Some(Ok(match serde_json::from_slice(text) {
                        Ok(value) => ReadItem::Item(value),
                        Err(e) => malformed(&self.origin, self.line, e),
                    }));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(read_failed(&self.origin, e)));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_become_items_and_bad_lines_fail_alone() {
        let got: Vec<_> = JsonLinesItems::new("{\"a\":1}\r\n\n[2\n\"x\"".as_bytes(), "b/k".into())
            .map(Result::unwrap)
            .collect();
        assert_eq!(got[0], ReadItem::Item(json!({"a": 1})));
        match &got[1] {
            ReadItem::Malformed(e) => assert!(e.cause.starts_with("b/k line 3: "), "{}", e.cause),
            other => panic!("{other:?}"),
        }
        assert_eq!(got[2], ReadItem::Item(json!("x")));
        assert_eq!(got.len(), 3);
    }
}
