//! Storage classes and restores of archived objects.
//!
//! An object is written in a [`StorageClass`] (`STANDARD` unless a put or copy names another).
//! An object in an archive class ([`StorageClass::is_archive`]) cannot be read until it is
//! restored: a read fails with [`StorageError::InvalidObjectState`]. A restore is asynchronous:
//! it is *ongoing* for the configured restore delay, then the object is readable until the
//! restore expires, `Days` later, as on S3 and OSS.
//!
//! Where classes live is the storage's [`ClassMode`]. On an S3 storage they are S3's own
//! (native): puts and copies send `x-amz-storage-class`, restores are RestoreObject requests,
//! and the server says what is archived and restored. Elsewhere (a local directory, or an S3
//! server without restores when chosen) they are emulated: the class and restore state of
//! every object written in a class other than `STANDARD` are kept in the node's store
//! ([`Store::object_class`]), shared by every process on that store, keyed by the object's path
//! and tagged with its entity tag, so that an object replaced by any writer (a function,
//! another tool) is back in `STANDARD`, as a fresh write is. An emulated restore takes
//! [`ObjectOptions::restore_delay`], not hours.

use crate::error::StorageError;
use chrono::{DateTime, TimeZone, Utc};
use sluice_engine::objects::ObjectClassRecord;
use sluice_engine::store::{Store, StoreError};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// A storage class, by its S3 name; OSS's names (`Standard`, `IA`, `Archive`, `ColdArchive`,
/// `DeepColdArchive`) are read too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StorageClass {
    /// `STANDARD` (OSS `Standard`): readable at once.
    #[default]
    Standard,
    /// `STANDARD_IA` (OSS `IA`): readable at once.
    StandardIa,
    /// `ONEZONE_IA`: readable at once.
    OnezoneIa,
    /// `INTELLIGENT_TIERING`: readable at once.
    IntelligentTiering,
    /// `REDUCED_REDUNDANCY`: readable at once.
    ReducedRedundancy,
    /// `GLACIER_IR` (instant retrieval): readable at once.
    GlacierIr,
    /// `GLACIER` (Flexible Retrieval): an archive.
    Glacier,
    /// `DEEP_ARCHIVE`: an archive.
    DeepArchive,
    /// OSS `Archive` (written `ARCHIVE` too): an archive.
    Archive,
    /// OSS `ColdArchive` (`COLD_ARCHIVE`): an archive.
    ColdArchive,
    /// OSS `DeepColdArchive` (`DEEP_COLD_ARCHIVE`): an archive.
    DeepColdArchive,
}

/// Every class with its name, as shown.
const NAMES: [(StorageClass, &str); 11] = [
    (StorageClass::Standard, "STANDARD"),
    (StorageClass::StandardIa, "STANDARD_IA"),
    (StorageClass::OnezoneIa, "ONEZONE_IA"),
    (StorageClass::IntelligentTiering, "INTELLIGENT_TIERING"),
    (StorageClass::ReducedRedundancy, "REDUCED_REDUNDANCY"),
    (StorageClass::GlacierIr, "GLACIER_IR"),
    (StorageClass::Glacier, "GLACIER"),
    (StorageClass::DeepArchive, "DEEP_ARCHIVE"),
    (StorageClass::Archive, "ARCHIVE"),
    (StorageClass::ColdArchive, "COLD_ARCHIVE"),
    (StorageClass::DeepColdArchive, "DEEP_COLD_ARCHIVE"),
];

impl StorageClass {
    /// The class's name (`STANDARD`, `GLACIER`, `ARCHIVE`, ...).
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("STANDARD", |(_, n)| n)
    }

    /// Whether objects of this class must be restored before they are read.
    pub fn is_archive(self) -> bool {
        matches!(
            self,
            StorageClass::Glacier
                | StorageClass::DeepArchive
                | StorageClass::Archive
                | StorageClass::ColdArchive
                | StorageClass::DeepColdArchive
        )
    }
}

impl FromStr for StorageClass {
    type Err = StorageError;

    /// Reads a class by its S3 name or its OSS name, in any case (`ColdArchive` is
    /// `COLD_ARCHIVE`, `IA` is `STANDARD_IA`).
    fn from_str(name: &str) -> Result<StorageClass, StorageError> {
        let folded: String = name
            .chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if folded == "IA" {
            return Ok(StorageClass::StandardIa);
        }
        NAMES
            .iter()
            .find(|(_, n)| n.replace('_', "") == folded)
            .map(|(c, _)| *c)
            .ok_or_else(|| {
                let known: Vec<&str> = NAMES.iter().map(|(_, n)| *n).collect();
                StorageError::InvalidKey(format!(
                    "unknown storage class '{name}' (known: {})",
                    known.join(", ")
                ))
            })
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How fast an archived object is retrieved: RestoreObject's `GlacierJobParameters.Tier`.
/// The emulation takes its restore delay whatever the tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RestoreTier {
    /// `Standard` (the default): hours on S3.
    #[default]
    Standard,
    /// `Bulk`: the cheapest and slowest.
    Bulk,
    /// `Expedited`: minutes, for some classes only.
    Expedited,
}

impl RestoreTier {
    /// The tier's name as S3 writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreTier::Standard => "Standard",
            RestoreTier::Bulk => "Bulk",
            RestoreTier::Expedited => "Expedited",
        }
    }
}

impl FromStr for RestoreTier {
    type Err = StorageError;

    /// Reads `Standard`, `Bulk` or `Expedited`, in any case.
    fn from_str(name: &str) -> Result<RestoreTier, StorageError> {
        [
            RestoreTier::Standard,
            RestoreTier::Bulk,
            RestoreTier::Expedited,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            StorageError::InvalidKey(format!(
                "unknown restore tier '{name}' (known: Standard, Bulk, Expedited)"
            ))
        })
    }
}

/// Where the restore of an archived object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreStatus {
    /// Requested, not done yet.
    Ongoing,
    /// Done: the object is readable until `expiry`.
    Restored {
        /// When the restored copy expires.
        expiry: DateTime<Utc>,
    },
}

impl RestoreStatus {
    /// The status as S3's `x-amz-restore` header shows it: `ongoing-request="true"`, or
    /// `ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`.
    pub fn header(&self) -> String {
        match self {
            RestoreStatus::Ongoing => "ongoing-request=\"true\"".into(),
            RestoreStatus::Restored { expiry } => format!(
                "ongoing-request=\"false\", expiry-date=\"{}\"",
                expiry.format("%a, %d %b %Y %H:%M:%S GMT")
            ),
        }
    }
}

/// What a restore request did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreStarted {
    /// The restore started (S3 answers 202 Accepted).
    Started,
    /// The object was restored already; its expiry was moved (S3 answers 200 OK).
    AlreadyRestored,
}

/// Where storage classes and restores are kept (`objects: {classes}` in the project).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassMode {
    /// Native on an S3 storage, emulated on a local directory (the default).
    #[default]
    Auto,
    /// Emulated in the node's store, whatever the storage: for S3 servers that keep no
    /// classes or have no RestoreObject (`s3s-fs`, ...).
    Emulated,
    /// The S3 server's own classes and restores; an S3 storage is needed.
    Native,
}

/// How a node treats storage classes, restores and injected faults (`objects:` in the project).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ObjectOptions {
    /// Where classes and restores are kept.
    pub classes: ClassMode,
    /// How long an emulated restore stays ongoing (default 1 s).
    pub restore_delay: Duration,
    /// The fraction of copies (0 to 1) that fail as a transient storage error would, before
    /// anything is copied: a fault-injection knob for tests of retries. 0 (the default) in
    /// production.
    pub copy_failure_rate: f64,
}

impl Default for ObjectOptions {
    fn default() -> Self {
        ObjectOptions {
            classes: ClassMode::Auto,
            restore_delay: Duration::from_secs(1),
            copy_failure_rate: 0.0,
        }
    }
}

/// The class of one object version and its restore, as known from the store.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ClassState {
    /// The class.
    pub class: StorageClass,
    /// Its restore, if one is ongoing or done and not expired.
    pub restore: Option<RestoreStatus>,
}

impl ClassState {
    /// Whether the object can be read now.
    pub fn readable(&self) -> bool {
        !self.class.is_archive() || matches!(self.restore, Some(RestoreStatus::Restored { .. }))
    }
}

/// The store-kept classes of a storage's objects.
#[derive(Clone)]
pub(crate) struct ObjectClasses {
    store: Arc<dyn Store>,
    options: ObjectOptions,
}

impl fmt::Debug for ObjectClasses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectClasses")
            .field("options", &self.options)
            .finish()
    }
}

/// A restore of `days` days reaches this far (S3 allows up to 30,000 days).
const MAX_RESTORE_DAYS: u32 = 30_000;
/// How often a restore is retried when another process changed the record meanwhile.
const SWAP_ATTEMPTS: usize = 16;

impl ObjectClasses {
    /// Classes kept in `store`.
    pub fn new(store: Arc<dyn Store>, options: ObjectOptions) -> Self {
        ObjectClasses { store, options }
    }

    /// Records that the object at `path`, with entity tag `e_tag`, was written in `class`.
    pub async fn written(
        &self,
        path: &str,
        e_tag: Option<&str>,
        class: StorageClass,
    ) -> Result<(), StorageError> {
        if class == StorageClass::Standard {
            // Records are tagged: an older record no longer applies to the new object.
            return Ok(());
        }
        let Some(e_tag) = e_tag else {
            return Err(StorageError::Unsupported {
                path: path.to_string(),
                reason: format!(
                    "the storage reports no entity tag, so the {class} class cannot be kept"
                ),
            });
        };
        let record = ObjectClassRecord {
            e_tag: bare(e_tag).to_string(),
            class: class.as_str().to_string(),
            restore_ready_ms: None,
            restore_expiry_ms: None,
        };
        let key = path.to_string();
        self.blocking(path, move |store| {
            store.object_class_put(&key, Some(&record))
        })
        .await
    }

    /// Forgets the class of a deleted object (a store write only when it had one).
    pub async fn deleted(&self, path: &str) -> Result<(), StorageError> {
        if self.record(path).await?.is_none() {
            return Ok(());
        }
        let key = path.to_string();
        self.blocking(path, move |store| store.object_class_put(&key, None))
            .await
    }

    /// Starts (or extends) the restore of the object at `path`, whose entity tag is `e_tag`,
    /// for `days` days.
    pub async fn restore(
        &self,
        path: &str,
        e_tag: Option<&str>,
        days: u32,
    ) -> Result<RestoreStarted, StorageError> {
        if days == 0 || days > MAX_RESTORE_DAYS {
            return Err(StorageError::InvalidKey(format!(
                "{path}: Days must be between 1 and {MAX_RESTORE_DAYS}, not {days}"
            )));
        }
        for _ in 0..SWAP_ATTEMPTS {
            let now = Utc::now();
            let record = self.record(path).await?;
            let state = state_of(record.as_ref(), e_tag, now);
            let Some(before) = record.filter(|_| state.class.is_archive()) else {
                return Err(StorageError::InvalidObjectState {
                    path: path.to_string(),
                    reason: format!(
                        "restore is not allowed for the object's storage class {}",
                        state.class
                    ),
                });
            };
            let days_ms = i64::from(days) * 86_400_000;
            let now_ms = now.timestamp_millis();
            let (after, outcome) = match state.restore {
                Some(RestoreStatus::Ongoing) => {
                    return Err(StorageError::RestoreInProgress {
                        path: path.to_string(),
                    });
                }
                Some(RestoreStatus::Restored { .. }) => (
                    ObjectClassRecord {
                        restore_expiry_ms: Some(now_ms + days_ms),
                        ..before.clone()
                    },
                    RestoreStarted::AlreadyRestored,
                ),
                None => {
                    let delay = i64::try_from(self.options.restore_delay.as_millis())
                        .unwrap_or(i64::MAX / 2);
                    let ready = now_ms + delay;
                    (
                        ObjectClassRecord {
                            restore_ready_ms: Some(ready),
                            restore_expiry_ms: Some(ready + days_ms),
                            ..before.clone()
                        },
                        RestoreStarted::Started,
                    )
                }
            };
            let key = path.to_string();
            let swapped = self
                .blocking(path, move |store| {
                    store.object_class_swap(&key, &before, &after)
                })
                .await?;
            if swapped {
                return Ok(outcome);
            }
        }
        Err(StorageError::Unsupported {
            path: path.to_string(),
            reason: "the restore state kept changing under concurrent requests".into(),
        })
    }

    /// The record of the object at `path`, if it has one.
    pub async fn record(&self, path: &str) -> Result<Option<ObjectClassRecord>, StorageError> {
        let key = path.to_string();
        self.blocking(path, move |store| store.object_class(&key))
            .await
    }

    /// Runs a store call off the async threads; its failure names `path`.
    async fn blocking<T: Send + 'static>(
        &self,
        path: &str,
        call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let store = self.store.clone();
        let failed = |reason: String| StorageError::Store {
            path: path.to_string(),
            reason,
        };
        tokio::task::spawn_blocking(move || call(&*store))
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(e.to_string()))
    }
}

/// An entity tag without its quotes: listings and reads of one backend may differ in quoting.
fn bare(e_tag: &str) -> &str {
    e_tag.trim_matches('"')
}

/// The class of an object version given its record (if any) and its entity tag.
pub(crate) fn state_of(
    record: Option<&ObjectClassRecord>,
    e_tag: Option<&str>,
    now: DateTime<Utc>,
) -> ClassState {
    let Some(record) = record.filter(|r| e_tag.map(bare) == Some(bare(&r.e_tag))) else {
        return ClassState {
            class: StorageClass::Standard,
            restore: None,
        };
    };
    let class = record.class.parse().unwrap_or_default();
    let now_ms = now.timestamp_millis();
    let restore = match (record.restore_ready_ms, record.restore_expiry_ms) {
        (Some(ready), _) if ready > now_ms => Some(RestoreStatus::Ongoing),
        (Some(_), Some(expiry)) if expiry > now_ms => Some(RestoreStatus::Restored {
            expiry: Utc
                .timestamp_millis_opt(expiry)
                .single()
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }),
        _ => None,
    };
    ClassState { class, restore }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_read_by_s3_and_oss_names() {
        for (name, class) in [
            ("STANDARD", StorageClass::Standard),
            ("Standard", StorageClass::Standard),
            ("IA", StorageClass::StandardIa),
            ("standard_ia", StorageClass::StandardIa),
            ("GLACIER", StorageClass::Glacier),
            ("Archive", StorageClass::Archive),
            ("ARCHIVE", StorageClass::Archive),
            ("ColdArchive", StorageClass::ColdArchive),
            ("DEEP_ARCHIVE", StorageClass::DeepArchive),
        ] {
            assert_eq!(name.parse::<StorageClass>().unwrap(), class, "{name}");
        }
        let err = "FROZEN".parse::<StorageClass>().unwrap_err().to_string();
        assert!(err.contains("unknown storage class 'FROZEN'"), "{err}");
        assert!(StorageClass::ColdArchive.is_archive());
        assert!(!StorageClass::GlacierIr.is_archive());
    }

    #[test]
    fn restore_tiers_are_read_in_any_case() {
        assert_eq!("bulk".parse::<RestoreTier>().unwrap(), RestoreTier::Bulk);
        assert_eq!(
            "Expedited".parse::<RestoreTier>().unwrap().as_str(),
            "Expedited"
        );
        let err = "Fast".parse::<RestoreTier>().unwrap_err().to_string();
        assert!(err.contains("unknown restore tier 'Fast'"), "{err}");
    }

    #[test]
    fn a_record_applies_to_its_version_and_its_restore_runs_its_course() {
        let record = ObjectClassRecord {
            e_tag: "t".into(),
            class: "GLACIER".into(),
            restore_ready_ms: Some(1_000),
            restore_expiry_ms: Some(5_000),
        };
        let at = |ms| Utc.timestamp_millis_opt(ms).unwrap();
        let other = state_of(Some(&record), Some("u"), at(0));
        assert_eq!(other.class, StorageClass::Standard);
        assert!(other.readable());
        let ongoing = state_of(Some(&record), Some("t"), at(999));
        assert_eq!(ongoing.restore, Some(RestoreStatus::Ongoing));
        assert!(!ongoing.readable());
        let restored = state_of(Some(&record), Some("t"), at(1_000));
        assert!(restored.readable());
        assert_eq!(
            restored.restore.unwrap().header(),
            "ongoing-request=\"false\", expiry-date=\"Thu, 01 Jan 1970 00:00:05 GMT\""
        );
        let expired = state_of(Some(&record), Some("t"), at(5_000));
        assert_eq!(expired.restore, None);
        assert!(!expired.readable());
    }
}
