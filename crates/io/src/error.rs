//! Storage failures.

/// A storage operation failed. Every variant names the object or URL it is about.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The storage URL cannot be used.
    #[error("storage URL '{url}': {reason}")]
    Url {
        /// The URL, with secrets removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bucket, key or prefix was refused (empty, absolute, `..`, control characters, ...).
    #[error("{0}")]
    InvalidKey(String),
    /// The object (or its bucket) does not exist.
    #[error("{path}: no such object")]
    NotFound {
        /// `BUCKET/KEY`.
        path: String,
    },
    /// The object was replaced while it was being read in parts.
    #[error("{path}: the object changed while it was being read")]
    Changed {
        /// `BUCKET/KEY`.
        path: String,
    },
    /// The object is archived and not restored: it cannot be read (or restored, if it is not
    /// archived).
    #[error("{path}: {reason} (InvalidObjectState)")]
    InvalidObjectState {
        /// `BUCKET/KEY`.
        path: String,
        /// Why the operation is not allowed in the object's state.
        reason: String,
    },
    /// A restore of the object is already under way.
    #[error("{path}: object restore is already in progress (RestoreAlreadyInProgress)")]
    RestoreInProgress {
        /// `BUCKET/KEY`.
        path: String,
    },
    /// A copy failed on purpose (`objects: {copy_failure_rate}` in the project), as a
    /// transient storage error would.
    #[error("{path}: injected transient failure (SlowDown: objects.copy_failure_rate is set)")]
    InjectedFault {
        /// `BUCKET/KEY` of the source.
        path: String,
    },
    /// The node's store, which keeps storage classes and restores, failed.
    #[error("{path}: the store keeping storage classes failed: {reason}")]
    Store {
        /// `BUCKET/KEY`.
        path: String,
        /// What the store reported.
        reason: String,
    },
    /// The operation cannot be done with this storage as configured.
    #[error("{path}: {reason}")]
    Unsupported {
        /// `BUCKET/KEY`.
        path: String,
        /// Why.
        reason: String,
    },
    /// The backend failed.
    #[error("{path}: {source}")]
    Backend {
        /// `BUCKET/KEY`, or the prefix listed.
        path: String,
        /// What the backend reported.
        #[source]
        source: object_store::Error,
    },
}

impl StorageError {
    /// Classifies a backend error about `path`.
    pub(crate) fn from_store(path: impl Into<String>, source: object_store::Error) -> Self {
        let path = path.into();
        match source {
            object_store::Error::NotFound { .. } => StorageError::NotFound { path },
            object_store::Error::Precondition { .. } => StorageError::Changed { path },
            object_store::Error::Generic { store, source } => {
                match source.downcast::<crate::s3_api::S3ApiError>() {
                    Ok(error) => error.about(&path),
                    Err(source) => StorageError::Backend {
                        path,
                        source: object_store::Error::Generic { store, source },
                    },
                }
            }
            source => StorageError::Backend { path, source },
        }
    }

    /// Whether the object or bucket was missing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }
}
