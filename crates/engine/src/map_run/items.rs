//! A run's finished items as the store holds them: read a page at a time, and the failed ones
//! summarized for error causes and `describe`.

use crate::invoke::TaskError;
use crate::store::{ItemRecord, Store};
use serde::Serialize;
use std::collections::VecDeque;

/// Finished items read per page.
const PAGE: usize = 1000;

/// Longest error or cause kept of one failed item in a summary, in characters.
const DETAIL_CHARS: usize = 200;

/// Failed items named in the cause of a run that exceeded its tolerance.
const CAUSE_ITEMS: usize = 3;

/// A run's finished items in index order, read from the store a page at a time. A read error
/// ends the iteration and is left in [`ItemPages::error`].
pub struct ItemPages<'a> {
    store: &'a dyn Store,
    run: &'a str,
    next: u64,
    page: VecDeque<ItemRecord>,
    /// Why reading stopped early, if it did.
    pub error: Option<TaskError>,
}

impl<'a> ItemPages<'a> {
    /// The items of `run`, from the first.
    pub fn new(store: &'a dyn Store, run: &'a str) -> ItemPages<'a> {
        ItemPages {
            store,
            run,
            next: 0,
            page: VecDeque::new(),
            error: None,
        }
    }
}

impl Iterator for ItemPages<'_> {
    type Item = ItemRecord;

    fn next(&mut self) -> Option<ItemRecord> {
        if self.page.is_empty() && self.error.is_none() {
            match self.store.map_items(self.run, self.next, PAGE) {
                Ok(rows) => self.page.extend(rows),
                Err(e) => {
                    self.error = Some(TaskError {
                        error: "States.Runtime".into(),
                        cause: e.to_string(),
                    })
                }
            }
        }
        let item = self.page.pop_front()?;
        self.next = item.index + 1;
        Some(item)
    }
}

/// One item that did not succeed, with why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailedItem {
    /// The item's (or batch's) index in the run.
    pub index: u64,
    /// `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    /// The error, at most a few hundred characters.
    pub error: String,
    /// The cause, at most a few hundred characters.
    pub cause: String,
    /// The child execution, if one ran (an unreadable item has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
}

impl FailedItem {
    fn of(item: ItemRecord) -> FailedItem {
        let field = |name: &str| {
            let text = match item.output.get(name) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            };
            bounded(&text, DETAIL_CHARS)
        };
        FailedItem {
            index: item.index,
            error: field("Error"),
            cause: field("Cause"),
            status: item.status,
            execution: item.execution,
        }
    }
}

/// The first `limit` items of `run` that did not succeed, in index order.
pub fn failed_items(
    store: &dyn Store,
    run: &str,
    limit: usize,
) -> Result<Vec<FailedItem>, TaskError> {
    let mut pages = ItemPages::new(store, run);
    let failed = (&mut pages)
        .filter(|i| i.status != "SUCCEEDED")
        .take(limit)
        .map(FailedItem::of)
        .collect();
    match pages.error {
        Some(e) => Err(e),
        None => Ok(failed),
    }
}

/// `failure` with the first failed items of `run` added to its cause, as
/// `item N: Error: cause`. The cause stays as it is when the items cannot be read.
pub fn with_failed_items(failure: TaskError, store: &dyn Store, run: &str) -> TaskError {
    let items = match failed_items(store, run, CAUSE_ITEMS) {
        Ok(items) if !items.is_empty() => items,
        _ => return failure,
    };
    let listed: Vec<String> = items
        .iter()
        .map(|i| format!("item {}: {}: {}", i.index, i.error, i.cause))
        .collect();
    TaskError {
        cause: format!(
            "{}. First failed items: {}",
            failure.cause,
            listed.join("; ")
        ),
        error: failure.error,
    }
}

/// `text` cut to at most `max` characters, an ellipsis marking the cut.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::bounded;

    #[test]
    fn bounded_cuts_on_characters() {
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abcd", 3), "abc…");
        assert_eq!(bounded("ééé", 2), "éé…");
    }
}
