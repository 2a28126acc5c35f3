//! `MaxItems` and `skip`: the window of items a read yields.

use sluice_engine::invoke::TaskError;
use sluice_engine::items::{ItemIter, ReadItem};

/// Items `skip..max_items` of `items`. An error, in the skipped part or after, is yielded and
/// ends the iteration.
pub(crate) fn window(items: ItemIter, max_items: Option<u64>, skip: u64) -> ItemIter {
    Box::new(Window {
        items,
        remaining: max_items,
        skip,
        done: false,
    })
}

struct Window {
    items: ItemIter,
    remaining: Option<u64>,
    skip: u64,
    done: bool,
}

impl Window {
    /// The next item within `MaxItems`, ending the window after an error.
    fn take_one(&mut self) -> Option<Result<ReadItem, TaskError>> {
        if self.done || self.remaining == Some(0) {
            self.done = true;
            return None;
        }
        let next = self.items.next();
        match &next {
            None | Some(Err(_)) => self.done = true,
            Some(Ok(_)) => {
                if let Some(n) = &mut self.remaining {
                    *n -= 1;
                }
            }
        }
        next
    }
}

impl Iterator for Window {
    type Item = Result<ReadItem, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.skip > 0 {
            self.skip -= 1;
            match self.take_one()? {
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
        }
        self.take_one()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(n: u64, fail_at: Option<u64>) -> ItemIter {
        Box::new((0..n).map(move |i| {
            if Some(i) == fail_at {
                Err(TaskError {
                    error: "E".into(),
                    cause: i.to_string(),
                })
            } else {
                Ok(ReadItem::Item(json!(i)))
            }
        }))
    }

    fn values(iter: ItemIter) -> Vec<String> {
        iter.map(|r| match r {
            Ok(ReadItem::Item(v)) => v.to_string(),
            Ok(ReadItem::Malformed(e)) => format!("bad {}", e.cause),
            Err(e) => format!("err {}", e.cause),
        })
        .collect()
    }

    #[test]
    fn max_items_applies_before_skip() {
        assert_eq!(values(window(items(10, None), Some(4), 1)), ["1", "2", "3"]);
        assert_eq!(
            values(window(items(3, None), None, 5)),
            Vec::<String>::new()
        );
        assert_eq!(values(window(items(3, None), Some(2), 0)), ["0", "1"]);
    }

    #[test]
    fn errors_end_the_window_even_when_skipped() {
        assert_eq!(values(window(items(10, Some(1)), None, 3)), ["err 1"]);
        assert_eq!(values(window(items(10, Some(2)), None, 1)), ["1", "err 2"]);
    }
}
