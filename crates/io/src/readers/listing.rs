//! Listing items: the objects under a prefix, fetched a page at a time.

use super::{Context, failed};
use crate::location::ObjectRef;
use crate::storage::ObjectInfo;
use serde_json::{Value, json};
use sluice_engine::invoke::TaskError;
use sluice_engine::items::{ItemIter, ReadItem};
use std::collections::VecDeque;

/// The objects under `prefix` as `listObjectsV2` items.
pub(crate) fn items(context: Context, bucket: String, prefix: String) -> ItemIter {
    Box::new(Pages::new(context, bucket, prefix).map(|r| r.map(|o| ReadItem::Item(item(&o)))))
}

/// The objects under `prefix`, to read each one (folder markers, keys ending in `/`, left out).
pub(crate) fn objects(
    context: Context,
    bucket: String,
    prefix: String,
) -> impl Iterator<Item = Result<ObjectRef, TaskError>> + Send + 'static {
    let objects_bucket = bucket.clone();
    Pages::new(context, bucket, prefix)
        .filter(|r| r.as_ref().map_or(true, |o| !o.key.ends_with('/')))
        .map(move |r| {
            r.and_then(|o| {
                ObjectRef::new(objects_bucket.clone(), o.key).map_err(|e| failed(e.to_string()))
            })
        })
}

/// An object as the Distributed Map's `listObjectsV2` reader shows it.
fn item(object: &ObjectInfo) -> Value {
    json!({
        "Etag": object.quoted_etag(),
        "Key": object.key,
        "LastModified": object.last_modified.timestamp(),
        "Size": object.size,
        "StorageClass": "STANDARD",
    })
}

/// A listing, one page request at a time.
struct Pages {
    context: Context,
    bucket: String,
    prefix: String,
    start_after: Option<String>,
    page: VecDeque<ObjectInfo>,
    more: bool,
}

impl Pages {
    fn new(context: Context, bucket: String, prefix: String) -> Pages {
        Pages {
            context,
            bucket,
            prefix,
            start_after: None,
            page: VecDeque::new(),
            more: true,
        }
    }
}

impl Iterator for Pages {
    type Item = Result<ObjectInfo, TaskError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() && self.more {
            let request = self.context.storage.list_page(
                &self.bucket,
                &self.prefix,
                self.start_after.as_deref(),
                self.context.options.page_size.max(1),
            );
            match self.context.handle.block_on(request) {
                Ok(page) => {
                    self.more = page.truncated;
                    self.start_after = page.objects.last().map(|o| o.key.clone());
                    self.page = page.objects.into();
                }
                Err(e) => {
                    self.more = false;
                    return Some(Err(failed(e.to_string())));
                }
            }
        }
        self.page.pop_front().map(Ok)
    }
}
