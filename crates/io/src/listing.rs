//! Sorted listings under a plain string prefix, as S3's ListObjectsV2 returns them.
//!
//! S3 lists keys in lexicographic order itself; a local directory does not, so it is walked
//! one level at a time, each level sorted, skipping the folders that cannot hold a wanted key.

use crate::storage::ObjectInfo;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use std::sync::Arc;

/// One page of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct ListPage {
    /// The objects, in key order.
    pub objects: Vec<ObjectInfo>,
    /// Whether more objects follow the last one.
    pub truncated: bool,
}

/// How a backend produces a sorted listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListingMode {
    /// Walk folders level by level (a local directory).
    Walk,
    /// The backend lists in key order (S3).
    Native,
}

/// Objects whose full path starts with `prefix` (`BUCKET/...`), in path order, after `after`.
pub(crate) fn list_sorted(
    store: Arc<dyn ObjectStore>,
    mode: ListingMode,
    prefix: String,
    after: Option<String>,
) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
    let start = Path::from(match prefix.rfind('/') {
        Some(i) => &prefix[..i],
        None => "",
    });
    match mode {
        ListingMode::Walk => walk(store, start, Filter { prefix, after }),
        ListingMode::Native => native(store, start, Filter { prefix, after }),
    }
}

/// Which paths a listing wants.
struct Filter {
    prefix: String,
    after: Option<String>,
}

impl Filter {
    fn wants_object(&self, path: &str) -> bool {
        path.starts_with(&self.prefix) && self.after.as_deref().is_none_or(|a| path > a)
    }

    /// Whether the folder `dir` (ending in `/`) may hold a wanted path.
    fn wants_dir(&self, dir: &str) -> bool {
        let overlaps = dir.starts_with(&self.prefix) || self.prefix.starts_with(dir);
        let all_before = self
            .after
            .as_deref()
            .is_some_and(|a| a > dir && !a.starts_with(dir));
        overlaps && !all_before
    }
}

/// The backend's own (sorted) listing, cut to the prefix's range.
fn native(
    store: Arc<dyn ObjectStore>,
    start: Path,
    filter: Filter,
) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
    let listing = match &filter.after {
        Some(after) => store.list_with_offset(Some(&start), &Path::from(after.as_str())),
        None => store.list(Some(&start)),
    };
    let filter = Arc::new(filter);
    let in_range = filter.clone();
    listing
        .try_take_while(move |meta| {
            let path = meta.location.as_ref();
            let before_end = path <= in_range.prefix.as_str() || path.starts_with(&in_range.prefix);
            std::future::ready(Ok(before_end))
        })
        .try_filter(move |meta| std::future::ready(filter.wants_object(meta.location.as_ref())))
        .boxed()
}

enum Entry {
    Dir(Path),
    Object(ObjectMeta),
}

struct Walk {
    store: Arc<dyn ObjectStore>,
    filter: Filter,
    /// Entries still to visit, the next one last.
    stack: Vec<Entry>,
}

/// A depth-first walk of folders, each level listed and sorted as S3 sorts keys: a folder
/// `d` sorts as `d/`, so that `a-b` comes before `a/x` and `a0` after it.
fn walk(
    store: Arc<dyn ObjectStore>,
    start: Path,
    filter: Filter,
) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
    let state = Walk {
        store,
        filter,
        stack: vec![Entry::Dir(start)],
    };
    stream::try_unfold(state, |mut walk| async move {
        while let Some(entry) = walk.stack.pop() {
            let dir = match entry {
                Entry::Object(meta) => return Ok(Some((meta, walk))),
                Entry::Dir(dir) => dir,
            };
            let level = match walk.store.list_with_delimiter(Some(&dir)).await {
                Ok(level) => level,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let mut children: Vec<(String, Entry)> = Vec::new();
            for meta in level.objects {
                let path = meta.location.to_string();
                if walk.filter.wants_object(&path) {
                    children.push((path, Entry::Object(meta)));
                }
            }
            for sub in level.common_prefixes {
                let path = format!("{sub}/");
                if walk.filter.wants_dir(&path) {
                    children.push((path, Entry::Dir(sub)));
                }
            }
            children.sort_by(|a, b| a.0.cmp(&b.0));
            walk.stack
                .extend(children.into_iter().rev().map(|(_, entry)| entry));
        }
        Ok(None)
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_outside_the_range_are_skipped() {
        let f = Filter {
            prefix: "b/data/pa".into(),
            after: Some("b/data/part-2/x".into()),
        };
        assert!(f.wants_dir("b/"));
        assert!(f.wants_dir("b/data/"));
        assert!(f.wants_dir("b/data/part-2/"));
        assert!(f.wants_dir("b/data/part-3/"));
        assert!(!f.wants_dir("b/data/part-1/"));
        assert!(!f.wants_dir("b/other/"));
        assert!(f.wants_object("b/data/part-2/y"));
        assert!(!f.wants_object("b/data/part-2/x"));
        assert!(!f.wants_object("b/data/p"));
    }
}
