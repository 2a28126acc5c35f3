//! `object` triggers: an event for every object created (or deleted) under a prefix, as the S3
//! event notification (see [`crate::s3_event`]).
//!
//! Two paths see changes, and the store makes each change one event:
//!
//! - **Writes through Sluice**: [`Uploads`] is the [`ObjectObserver`] of the node's storage,
//!   so every write through it (the S3 endpoint, functions' object API, `s3:*` integrations,
//!   result writers) records its change and event before the write returns.
//! - **Writes from outside** (another program, or while no node ran): a watcher per trigger
//!   lists the prefix every [`SCAN_INTERVAL`] and compares it with the objects the store knows
//!   for the trigger, in key order, a page at a time.
//!
//! A change is recorded only if the store still knows the object as the recorder read it, and
//! its event goes into the trigger's outbox in the same transaction, under an id stable per key,
//! entity tag and kind: an object is not emitted twice for the same content, across restarts
//! too. The watcher of the node holding the trigger's lease (one node of those sharing the
//! store) delivers the outbox: a message onto the queue, an execution of the flow named by the
//! event id, or a call of the function. Delivery is at least once; a function that fails is
//! logged and not called again (a queue target retries). When a trigger is first served, the
//! objects already under its prefix are taken as known without events.

use crate::consumer::Targets;
use crate::deliver::{Delivery, deliver};
use crate::queues::{Queues, now_ms};
use crate::s3_event::{ObjectEventInput, event_id, s3_event};
use crate::triggers::{Target, UploadTrigger};
use futures_util::TryStreamExt;
use futures_util::future::BoxFuture;
use sluice_engine::objects::{ObjectChange, ObjectEvent};
use sluice_engine::store::{Store, StoreError};
use sluice_io::{Change, Created, ObjectInfo, ObjectObserver, Storage, StorageChange};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// How often a watcher lists its prefix.
pub const SCAN_INTERVAL: Duration = Duration::from_secs(1);
/// How long a node holds a trigger's lease without renewing it.
const LEASE_MS: i64 = 10_000;
/// Known objects read per page, changes recorded per transaction, events delivered per round.
const PAGE: usize = 500;
const BATCH: usize = 100;
const EVENTS: usize = 50;
/// Listed objects compared per round; a longer listing goes on in the next round, at once.
const SCAN_PAGE: usize = 1000;

/// One trigger with what the store keeps for it under.
struct Watch {
    trigger: UploadTrigger,
    /// The store's name for its known objects and outbox: a new prefix or suffix starts anew.
    id: String,
    /// Woken when an event was recorded on this node.
    recorded: Notify,
}

/// The object triggers of a node over a store, raising events into it; the bucket name is
/// what events carry. Cheap to clone.
#[derive(Clone)]
pub struct Uploads {
    store: Arc<dyn Store>,
    watches: Arc<Vec<Watch>>,
    bucket: Arc<str>,
}

impl fmt::Debug for Uploads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.watches.iter().map(|w| w.id.as_str()).collect();
        f.debug_struct("Uploads")
            .field("watches", &names)
            .field("bucket", &self.bucket)
            .finish()
    }
}

impl Uploads {
    /// The triggers over `store`; events name the bucket `bucket`.
    pub fn new(store: Arc<dyn Store>, triggers: Vec<UploadTrigger>, bucket: &str) -> Uploads {
        let watches = triggers
            .into_iter()
            .map(|trigger| Watch {
                id: format!("{}:{}*{}", trigger.name, trigger.prefix, trigger.suffix),
                trigger,
                recorded: Notify::new(),
            })
            .collect();
        Uploads {
            store,
            watches: Arc::new(watches),
            bucket: bucket.into(),
        }
    }

    /// The event of a change of `key`, if the trigger wants events of its kind.
    fn event(&self, watch: &Watch, key: &str, what: Event<'_>) -> Option<ObjectEvent> {
        let trigger = &watch.trigger;
        let (name, e_tag, size) = match what {
            Event::Created { how, e_tag, size } if trigger.created => {
                let name = match how {
                    Created::Put => "ObjectCreated:Put",
                    Created::Copy => "ObjectCreated:Copy",
                    Created::CompleteMultipartUpload => "ObjectCreated:CompleteMultipartUpload",
                };
                (name, e_tag, Some(size))
            }
            Event::Deleted { e_tag } if trigger.deleted => ("ObjectRemoved:Delete", e_tag, None),
            _ => return None,
        };
        let input = ObjectEventInput {
            trigger: &trigger.name,
            bucket: &self.bucket,
            key,
            name,
            e_tag,
            size,
            time_ms: now_ms(),
        };
        let id = event_id(&input);
        Some(ObjectEvent {
            body: s3_event(&input, &id).to_string(),
            id,
        })
    }

    /// Records changes of one watch; wakes its delivery when one was applied.
    async fn record(&self, watch: usize, changes: Vec<ObjectChange>) -> Result<u64, StoreError> {
        if changes.is_empty() {
            return Ok(0);
        }
        let (store, uploads) = (self.store.clone(), self.clone());
        let applied =
            blocking(move || store.object_record(&uploads.watches[watch].id, &changes)).await?;
        if applied > 0 {
            self.watches[watch].recorded.notify_one();
        }
        Ok(applied)
    }

    /// Records one write through the storage for every trigger watching its path.
    async fn observed(self, change: StorageChange) {
        for (i, watch) in self.watches.iter().enumerate() {
            if !watch.trigger.matches(&change.path) {
                continue;
            }
            let (store, id, path) = (self.store.clone(), watch.id.clone(), change.path.clone());
            let recorded = match blocking(move || store.object_known(&id, &path)).await {
                Ok(before) => match self.written(watch, &change, before) {
                    Some(recorded) => self.record(i, vec![recorded]).await.map(|_| ()),
                    None => Ok(()),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = recorded {
                // The watcher's next listing finds the change instead.
                tracing::warn!(trigger = %watch.trigger.name, path = %change.path, error = %e, "recording an object event failed");
            }
        }
    }

    /// What a write changes for a watch that knew the object as `before`.
    fn written(
        &self,
        watch: &Watch,
        change: &StorageChange,
        before: Option<String>,
    ) -> Option<ObjectChange> {
        let path = &change.path;
        match &change.change {
            Change::Created { how, e_tag, size } => {
                let tag = e_tag
                    .as_deref()
                    .map(bare_tag)
                    .unwrap_or_else(|| format!("{size}-{}", now_ms()));
                if before.as_deref() == Some(tag.as_str()) {
                    return None;
                }
                let what = Event::Created {
                    how: *how,
                    e_tag: &tag,
                    size: *size,
                };
                Some(ObjectChange {
                    key: path.clone(),
                    event: self.event(watch, path, what),
                    before,
                    after: Some(tag),
                })
            }
            // An object the trigger never knew (not listed yet, or gone already) raised no
            // creation, and its deletion raises nothing either.
            Change::Deleted => {
                let e_tag = before.as_deref()?;
                Some(ObjectChange {
                    key: path.clone(),
                    event: self.event(watch, path, Event::Deleted { e_tag }),
                    before,
                    after: None,
                })
            }
        }
    }
}

/// A change an event reports.
enum Event<'a> {
    Created {
        how: Created,
        e_tag: &'a str,
        size: u64,
    },
    Deleted {
        e_tag: &'a str,
    },
}

impl ObjectObserver for Uploads {
    fn watches(&self, path: &str) -> bool {
        self.watches.iter().any(|w| w.trigger.matches(path))
    }

    fn observe(&self, change: StorageChange) -> BoxFuture<'static, ()> {
        Box::pin(self.clone().observed(change))
    }
}

/// An entity tag without the quotes S3 puts around it.
fn bare_tag(e_tag: &str) -> String {
    e_tag.trim_matches('"').to_string()
}

/// The entity tag a watch keeps for a listed object.
fn tag_of(object: &ObjectInfo) -> String {
    match &object.e_tag {
        Some(t) => bare_tag(t),
        None => format!(
            "{}-{}",
            object.size,
            object.last_modified.timestamp_millis()
        ),
    }
}

/// Runs a store call off the async threads.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
}

/// What the watchers of a node use.
#[derive(Clone)]
struct Context {
    uploads: Uploads,
    storage: Storage,
    queues: Queues,
    targets: Targets,
    /// When the node started, epoch ms.
    since_ms: i64,
}

/// The running watchers of a node.
pub struct Watchers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Watchers {
    /// Starts a watcher for every trigger of `uploads`, listing `storage`. A trigger served for
    /// the first time takes the objects last modified before `since_ms` (when the node started)
    /// as known, without events.
    pub fn start(
        uploads: Uploads,
        storage: Storage,
        queues: Queues,
        targets: Targets,
        since_ms: i64,
        runtime: &tokio::runtime::Handle,
    ) -> Watchers {
        let (stop, stopped) = watch::channel(false);
        let context = Context {
            uploads,
            storage,
            queues,
            targets,
            since_ms,
        };
        let tasks = (0..context.uploads.watches.len())
            .map(|i| runtime.spawn(run(context.clone(), i, stopped.clone())))
            .collect();
        Watchers { stop, tasks }
    }

    /// Stops the watchers, giving up their leases.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// One trigger's watcher: while this node holds the trigger's lease (renewed between rounds),
/// list the prefix every [`SCAN_INTERVAL`], [`SCAN_PAGE`] objects a round, and deliver the
/// outbox (at once when this node recorded an event).
async fn run(context: Context, index: usize, mut stop: watch::Receiver<bool>) {
    let watch = &context.uploads.watches[index];
    let name = &watch.trigger.name;
    let lease = format!("objects:{}", watch.id);
    let mut held = None;
    let mut next_scan = tokio::time::Instant::now();
    // Where the listing goes on, and the baseline time while the first one runs.
    let mut cursor: Option<String> = None;
    let mut baseline = None;
    while !*stop.borrow() {
        let store = context.uploads.store.clone();
        let (taken, first) = match take_lease(store, &lease, held).await {
            Ok(taken) => taken,
            Err(e) => {
                tracing::warn!(trigger = %name, error = %e, "reading the trigger's lease failed");
                (None, false)
            }
        };
        held = taken;
        if first {
            baseline = Some(context.since_ms);
        }
        if held.is_none() {
            cursor = None;
        } else {
            if tokio::time::Instant::now() >= next_scan {
                match scan(
                    &context.uploads,
                    &context.storage,
                    index,
                    cursor.as_deref(),
                    baseline,
                )
                .await
                {
                    Ok(Some(last)) => cursor = Some(last),
                    done => {
                        if let Err(e) = done {
                            tracing::warn!(trigger = %name, error = %e, "listing the trigger's objects failed");
                        } else {
                            baseline = None;
                        }
                        cursor = None;
                        next_scan = tokio::time::Instant::now() + SCAN_INTERVAL;
                    }
                }
            }
            if let Err(e) = deliver_pending(&context, index).await {
                tracing::warn!(trigger = %name, error = %e, "delivering object events failed; retrying");
            }
        }
        let pause = if cursor.is_some() {
            Duration::ZERO
        } else {
            SCAN_INTERVAL
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = watch.recorded.notified() => {}
            _ = stop.changed() => {}
        }
    }
    if let Some(until) = held {
        let store = context.uploads.store.clone();
        let _ = blocking(move || store.trigger_advance(&lease, Some(until), 0)).await;
    }
}

/// Takes or renews the lease `key` (held until `held` by this node, if it is); returns until
/// when this node holds it now, and whether no node ever held it before.
async fn take_lease(
    store: Arc<dyn Store>,
    key: &str,
    held: Option<i64>,
) -> Result<(Option<i64>, bool), StoreError> {
    let key = key.to_string();
    blocking(move || {
        let now = now_ms();
        let until = now + LEASE_MS;
        match store.trigger_next(&key)? {
            None => Ok((
                store.trigger_advance(&key, None, until)?.then_some(until),
                true,
            )),
            Some(stored) if Some(stored) == held || stored <= now => {
                let taken = store.trigger_advance(&key, Some(stored), until)?;
                Ok((taken.then_some(until), false))
            }
            Some(_) => Ok((None, false)),
        }
    })
    .await
}

/// The objects a watch knows, read a page at a time in key order.
struct Known {
    store: Arc<dyn Store>,
    watch: String,
    page: VecDeque<(String, String)>,
    /// The last key read from the store.
    last: Option<String>,
    done: bool,
}

impl Known {
    /// The objects the watch knows after the key `after`.
    fn new(store: Arc<dyn Store>, watch: &str, after: Option<&str>) -> Known {
        Known {
            store,
            watch: watch.to_string(),
            page: VecDeque::new(),
            last: after.map(str::to_string),
            done: false,
        }
    }

    /// The key of the next known object, without taking it.
    async fn peek(&mut self) -> Result<Option<&str>, StoreError> {
        if self.page.is_empty() && !self.done {
            let (store, watch, last) = (self.store.clone(), self.watch.clone(), self.last.clone());
            let page =
                blocking(move || store.object_known_page(&watch, last.as_deref(), PAGE)).await?;
            self.done = page.len() < PAGE;
            self.last = page.last().map(|(k, _)| k.clone()).or(self.last.take());
            self.page.extend(page);
        }
        Ok(self.page.front().map(|(k, _)| k.as_str()))
    }

    /// Takes the next known object.
    fn take(&mut self) -> Option<(String, String)> {
        self.page.pop_front()
    }
}

/// One round of a watch's listing: compares up to [`SCAN_PAGE`] listed objects after `after`
/// with the objects the store knows for the trigger, and records the differences: objects new
/// or changed, objects gone. With `baseline` (the trigger is served for the first time),
/// objects last modified before that time are recorded without events. Returns the last key
/// listed when the listing goes on, `None` when it reached its end.
async fn scan(
    uploads: &Uploads,
    storage: &Storage,
    index: usize,
    after: Option<&str>,
    baseline: Option<i64>,
) -> Result<Option<String>, String> {
    let watch = &uploads.watches[index];
    let trigger = &watch.trigger;
    let failed = |e: StoreError| e.to_string();
    let mut listing = storage
        .list_paths(&trigger.prefix, after)
        .map_err(|e| e.to_string())?;
    let mut known = Known::new(uploads.store.clone(), &watch.id, after);
    let mut changes = Vec::new();
    let gone = |(key, e_tag): (String, String)| ObjectChange {
        event: uploads.event(watch, &key, Event::Deleted { e_tag: &e_tag }),
        before: Some(e_tag),
        after: None,
        key,
    };
    let mut listed = 0;
    let mut last = None;
    while listed < SCAN_PAGE {
        let Some(object) = listing.try_next().await.map_err(|e| e.to_string())? else {
            break;
        };
        listed += 1;
        last = Some(object.key.clone());
        if !trigger.matches(&object.key) {
            continue;
        }
        while matches!(known.peek().await.map_err(failed)?, Some(k) if k < object.key.as_str()) {
            changes.extend(known.take().map(gone));
        }
        let before = match known.peek().await.map_err(failed)? {
            Some(k) if k == object.key => known.take().map(|(_, t)| t),
            _ => None,
        };
        let tag = tag_of(&object);
        if before.as_deref() != Some(tag.as_str()) {
            let old = baseline.is_some_and(|t| object.last_modified.timestamp_millis() < t);
            let what = Event::Created {
                how: Created::Put,
                e_tag: &tag,
                size: object.size,
            };
            changes.push(ObjectChange {
                event: if old {
                    None
                } else {
                    uploads.event(watch, &object.key, what)
                },
                key: object.key,
                before,
                after: Some(tag),
            });
        }
        if changes.len() >= BATCH {
            let batch = std::mem::take(&mut changes);
            uploads.record(index, batch).await.map_err(failed)?;
        }
    }
    // Known objects the listing has passed (all of them at its end) are gone.
    let end = listed < SCAN_PAGE;
    while let Some(k) = known.peek().await.map_err(failed)? {
        if !end && last.as_deref().is_none_or(|l| k > l) {
            break;
        }
        changes.extend(known.take().map(gone));
        if changes.len() >= BATCH {
            let batch = std::mem::take(&mut changes);
            uploads.record(index, batch).await.map_err(failed)?;
        }
    }
    uploads.record(index, changes).await.map_err(failed)?;
    Ok(if end { None } else { last })
}

/// Delivers the watch's outbox, oldest first, forgetting each event once delivered.
async fn deliver_pending(context: &Context, index: usize) -> Result<(), String> {
    let watch = &context.uploads.watches[index];
    loop {
        let (store, id) = (context.uploads.store.clone(), watch.id.clone());
        let pending = blocking(move || store.object_events(&id, EVENTS))
            .await
            .map_err(|e| e.to_string())?;
        if pending.is_empty() {
            return Ok(());
        }
        let mut delivered = Vec::with_capacity(pending.len());
        let mut failed = None;
        for p in pending {
            match deliver_one(context, watch, &p.event).await {
                Ok(()) => delivered.push(p.seq),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let (store, id) = (context.uploads.store.clone(), watch.id.clone());
        blocking(move || store.object_events_done(&id, &delivered))
            .await
            .map_err(|e| e.to_string())?;
        if let Some(e) = failed {
            return Err(e);
        }
    }
}

/// Delivers one event; a function's failure is logged, not retried.
async fn deliver_one(context: &Context, watch: &Watch, event: &ObjectEvent) -> Result<(), String> {
    let trigger = &watch.trigger;
    let body: serde_json::Value = match serde_json::from_str(&event.body) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(trigger = %trigger.name, id = %event.id, error = %e, "an unreadable object event was dropped");
            return Ok(());
        }
    };
    let delivery = Delivery {
        trigger: trigger.name.clone(),
        event: body.clone(),
        execution: event.id.clone(),
        input: body,
        key: event.id.clone(),
    };
    match deliver(&trigger.target, &context.queues, &context.targets, delivery).await {
        Err(e) if matches!(trigger.target, Target::Function(_)) => {
            tracing::warn!(trigger = %trigger.name, id = %event.id, error = %e, "the function failed on an object event; it is not called again");
            Ok(())
        }
        result => result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use sluice_store::SqliteStore;

    fn uploads(dir: &std::path::Path, deleted: bool) -> Uploads {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("s.db")).unwrap());
        let trigger = UploadTrigger {
            name: "logs".into(),
            prefix: "raw/logs/".into(),
            suffix: ".log".into(),
            created: true,
            deleted,
            target: Target::Queue("q".into()),
        };
        Uploads::new(store, vec![trigger], "lake")
    }

    fn put(path: &str, e_tag: &str, how: Created) -> StorageChange {
        StorageChange {
            path: path.into(),
            change: Change::Created {
                how,
                e_tag: Some(format!("\"{e_tag}\"")),
                size: 3,
            },
        }
    }

    /// (eventName, key, eTag) of the pending events.
    fn pending(u: &Uploads) -> Vec<(String, String, String)> {
        let events = u.store.object_events(&u.watches[0].id, 10_000).unwrap();
        events
            .iter()
            .map(|p| {
                let body: Value = serde_json::from_str(&p.event.body).unwrap();
                let r = &body["Records"][0];
                let o = &r["s3"]["object"];
                let tag = o["eTag"].as_str().unwrap_or("-").to_string();
                (
                    r["eventName"].as_str().unwrap().into(),
                    o["key"].as_str().unwrap().into(),
                    tag,
                )
            })
            .collect()
    }

    fn event(name: &str, key: &str, tag: &str) -> (String, String, String) {
        (name.into(), key.into(), tag.into())
    }

    #[tokio::test]
    async fn each_write_through_the_storage_is_one_event() {
        let dir = tempfile::tempdir().unwrap();
        let u = uploads(dir.path(), true);
        assert!(u.watches("raw/logs/a.log") && !u.watches("raw/logs/a.txt"));
        assert!(!u.watches("raw/other/a.log"));
        u.observe(put("raw/logs/a.log", "t1", Created::Put)).await;
        u.observe(put("raw/logs/a.log", "t1", Created::Put)).await;
        u.observe(put(
            "raw/logs/a.log",
            "t2",
            Created::CompleteMultipartUpload,
        ))
        .await;
        u.observe(put("raw/logs/b.log", "t1", Created::Copy)).await;
        let delete = |path: &str| StorageChange {
            path: path.into(),
            change: Change::Deleted,
        };
        u.observe(delete("raw/logs/a.log")).await;
        u.observe(delete("raw/logs/a.log")).await;
        assert_eq!(
            pending(&u),
            [
                event("ObjectCreated:Put", "raw/logs/a.log", "t1"),
                event(
                    "ObjectCreated:CompleteMultipartUpload",
                    "raw/logs/a.log",
                    "t2"
                ),
                event("ObjectCreated:Copy", "raw/logs/b.log", "t1"),
                event("ObjectRemoved:Delete", "raw/logs/a.log", "-"),
            ],
            "a write seen twice is one event; a second delete raises nothing"
        );
        assert_eq!(
            u.store
                .object_known_page(&u.watches[0].id, None, 10)
                .unwrap(),
            [("raw/logs/b.log".to_string(), "t1".to_string())]
        );
    }

    #[tokio::test]
    async fn a_trigger_without_deleted_events_forgets_deleted_objects_silently() {
        let dir = tempfile::tempdir().unwrap();
        let u = uploads(dir.path(), false);
        u.observe(put("raw/logs/a.log", "t1", Created::Put)).await;
        u.observe(StorageChange {
            path: "raw/logs/a.log".into(),
            change: Change::Deleted,
        })
        .await;
        assert_eq!(pending(&u).len(), 1);
        assert!(
            u.store
                .object_known("logs:raw/logs/*.log", "raw/logs/a.log")
                .unwrap()
                .is_none()
        );
    }

    /// Runs listing rounds from the start until the listing's end; returns how many it took.
    async fn full_scan(u: &Uploads, storage: &Storage, baseline: Option<i64>) -> usize {
        let mut cursor = None;
        for round in 1.. {
            cursor = scan(u, storage, 0, cursor.as_deref(), baseline)
                .await
                .unwrap();
            if cursor.is_none() {
                return round;
            }
        }
        unreachable!()
    }

    #[tokio::test]
    async fn the_watcher_lists_in_rounds_and_finds_new_changed_and_gone_objects() {
        let dir = tempfile::tempdir().unwrap();
        let u = uploads(dir.path(), true);
        let storage = Storage::from_url("file://./data", dir.path()).unwrap();
        let logs = dir.path().join("data/raw/logs");
        std::fs::create_dir_all(logs.join("sub")).unwrap();
        std::fs::write(logs.join("old.log"), "there before").unwrap();
        let since = now_ms() + 1_000;
        assert_eq!(full_scan(&u, &storage, Some(since)).await, 1);
        assert!(pending(&u).is_empty(), "objects there before raise nothing");
        let n = SCAN_PAGE + SCAN_PAGE / 2;
        for i in 0..n {
            std::fs::write(logs.join(format!("f{i:05}.log")), "x").unwrap();
            std::fs::write(logs.join(format!("f{i:05}.txt")), "not a log").unwrap();
        }
        std::fs::write(logs.join("sub/deep.log"), "deep").unwrap();
        assert_eq!(
            full_scan(&u, &storage, None).await,
            4,
            "three thousand keys, a thousand a round"
        );
        assert_eq!(pending(&u).len(), n + 1);
        assert_eq!(full_scan(&u, &storage, None).await, 4);
        assert_eq!(pending(&u).len(), n + 1, "nothing new, nothing raised");
        std::fs::remove_file(logs.join("f00999.log")).unwrap();
        std::fs::remove_file(logs.join("f01000.log")).unwrap();
        std::fs::remove_file(logs.join("sub/deep.log")).unwrap();
        std::fs::write(logs.join("old.log"), "changed, and longer").unwrap();
        full_scan(&u, &storage, None).await;
        let all = pending(&u);
        let mut last: Vec<(String, String)> = all[n + 1..]
            .iter()
            .map(|(e, k, _)| (e.clone(), k.clone()))
            .collect();
        last.sort();
        let pair = |e: &str, k: &str| (e.to_string(), k.to_string());
        assert_eq!(
            last,
            [
                pair("ObjectCreated:Put", "raw/logs/old.log"),
                pair("ObjectRemoved:Delete", "raw/logs/f00999.log"),
                pair("ObjectRemoved:Delete", "raw/logs/f01000.log"),
                pair("ObjectRemoved:Delete", "raw/logs/sub/deep.log"),
            ]
        );
    }

    #[tokio::test]
    async fn one_node_at_a_time_holds_a_triggers_lease() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
        let (mine, first) = take_lease(store.clone(), "objects:w", None).await.unwrap();
        assert!(
            mine.is_some() && first,
            "the first taker holds it, first ever"
        );
        let (other, _) = take_lease(store.clone(), "objects:w", None).await.unwrap();
        assert_eq!(other, None, "another node does not take a held lease");
        let (renewed, first) = take_lease(store.clone(), "objects:w", mine).await.unwrap();
        assert!(renewed.is_some() && !first, "the holder renews it");
        assert!(store.trigger_advance("objects:w", renewed, 0).unwrap());
        let (taken, first) = take_lease(store, "objects:w", None).await.unwrap();
        assert!(
            taken.is_some() && !first,
            "a released lease is taken at once"
        );
    }
}
