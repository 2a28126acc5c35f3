//! ListObjectsV2 pages: keys under a prefix, rolled up at a delimiter, cut at `max-keys`.
//!
//! The storage lists keys in order, so the keys a common prefix rolls up are consecutive: a
//! page is one pass over the sorted listing, in bounded memory. The continuation token is the
//! last key or common prefix of the page; a page resumed after a common prefix skips the keys
//! under it. Files at the storage root, outside any folder, are no objects of the bucket
//! (flows cannot name them) and are left out.

use futures_util::stream::{BoxStream, StreamExt};
use sluice_io::{ObjectInfo, StorageError};

/// The most keys a page holds, as on S3.
pub(crate) const MAX_KEYS: usize = 1000;

/// What a page lists.
#[derive(Debug, Default)]
pub(crate) struct PageRequest {
    /// Keys start with this.
    pub prefix: String,
    /// Keys with this after the prefix are rolled up into common prefixes.
    pub delimiter: Option<String>,
    /// The most keys and common prefixes in the page.
    pub max_keys: usize,
    /// The continuation token of the previous page, if any.
    pub token: Option<String>,
}

impl PageRequest {
    /// Where the storage listing starts: after the token, else after `start_after`.
    pub fn after<'a>(&'a self, start_after: Option<&'a str>) -> Option<&'a str> {
        self.token.as_deref().or(start_after)
    }

    /// The common prefix the previous page ended on, whose keys are not to be listed again.
    fn rolled_up(&self) -> Option<String> {
        let token = self.token.as_deref()?;
        let delimiter = self.delimiter.as_deref().filter(|d| !d.is_empty())?;
        (token.starts_with(&self.prefix) && token.ends_with(delimiter)).then(|| token.to_string())
    }

    /// The common prefix `key` rolls up into, if any.
    fn common_prefix(&self, key: &str) -> Option<String> {
        let delimiter = self.delimiter.as_deref().filter(|d| !d.is_empty())?;
        let rest = key.strip_prefix(&self.prefix)?;
        let end = rest.find(delimiter)? + delimiter.len();
        Some(format!("{}{}", self.prefix, &rest[..end]))
    }
}

/// One page of a listing.
#[derive(Debug, Default)]
pub(crate) struct Page {
    /// The objects, in key order.
    pub objects: Vec<ObjectInfo>,
    /// The common prefixes, in order.
    pub common_prefixes: Vec<String>,
    /// The token of the next page, when more follow.
    pub next_token: Option<String>,
}

/// Reads one page from `listing`: the storage's sorted listing under the request's prefix,
/// after [`PageRequest::after`].
pub(crate) async fn read_page(
    mut listing: BoxStream<'static, Result<ObjectInfo, StorageError>>,
    request: &PageRequest,
) -> Result<Page, StorageError> {
    let mut page = Page::default();
    if request.max_keys == 0 {
        return Ok(page);
    }
    let mut skip = request.rolled_up();
    let mut count = 0;
    let mut last = None;
    while let Some(object) = listing.next().await {
        let object = object?;
        let outside = !object.key.contains('/');
        if outside || skip.as_deref().is_some_and(|p| object.key.starts_with(p)) {
            continue;
        }
        if count == request.max_keys {
            page.next_token = last;
            break;
        }
        count += 1;
        match request.common_prefix(&object.key) {
            Some(prefix) => {
                page.common_prefixes.push(prefix.clone());
                last = Some(prefix.clone());
                skip = Some(prefix);
            }
            None => {
                last = Some(object.key.clone());
                page.objects.push(object);
            }
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn listing(
        keys: &[&str],
        after: Option<&str>,
    ) -> BoxStream<'static, Result<ObjectInfo, StorageError>> {
        let objects: Vec<_> = keys
            .iter()
            .filter(|k| after.is_none_or(|a| **k > a))
            .map(|k| {
                Ok(ObjectInfo {
                    key: k.to_string(),
                    size: 1,
                    last_modified: chrono::Utc::now(),
                    e_tag: None,
                    version: None,
                    storage_class: Default::default(),
                    restore: None,
                })
            })
            .collect();
        stream::iter(objects).boxed()
    }

    /// Every page of a listing, as (objects, common prefixes) per page.
    async fn pages(
        keys: &[&str],
        prefix: &str,
        delimiter: Option<&str>,
        max_keys: usize,
    ) -> Vec<Vec<String>> {
        let mut request = PageRequest {
            prefix: prefix.into(),
            delimiter: delimiter.map(str::to_string),
            max_keys,
            token: None,
        };
        let mut pages = Vec::new();
        loop {
            let under: Vec<&str> = keys
                .iter()
                .copied()
                .filter(|k| k.starts_with(prefix))
                .collect();
            let page = read_page(listing(&under, request.after(None)), &request)
                .await
                .unwrap();
            let mut entries: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
            entries.extend(page.common_prefixes.iter().map(|p| format!("{p}*")));
            pages.push(entries);
            match page.next_token {
                Some(token) => request.token = Some(token),
                None => return pages,
            }
        }
    }

    const KEYS: &[&str] = &[
        "README", "a/1", "a/2", "a/b/3", "a/c/4", "a/c/5", "a/d", "b/6",
    ];

    #[tokio::test]
    async fn delimiters_roll_keys_up_across_pages() {
        assert_eq!(
            pages(KEYS, "a/", Some("/"), 2).await,
            vec![vec!["a/1", "a/2"], vec!["a/b/*", "a/c/*"], vec!["a/d"]]
        );
        assert_eq!(
            pages(KEYS, "", Some("/"), 1000).await,
            vec![vec!["a/*", "b/*"]]
        );
        assert_eq!(
            pages(KEYS, "a/", None, 4).await,
            vec![vec!["a/1", "a/2", "a/b/3", "a/c/4"], vec!["a/c/5", "a/d"]]
        );
    }

    #[tokio::test]
    async fn a_page_of_exactly_the_rest_has_no_next_token() {
        assert_eq!(pages(KEYS, "b/", None, 1).await, vec![vec!["b/6"]]);
        assert_eq!(pages(KEYS, "a/", None, 0).await, vec![Vec::<String>::new()]);
    }
}
