//! Storage failures as S3 reports them.

use s3s::{S3Error, S3ErrorCode, s3_error};
use sluice_io::StorageError;

/// An `object_store` failure on `key` as the S3 error a client expects.
pub(crate) fn from_store(key: &str, error: object_store::Error) -> S3Error {
    use object_store::Error as E;
    match error {
        E::NotFound { .. } => s3_error!(NoSuchKey, "The specified key does not exist: {key}"),
        E::Precondition { .. } => s3_error!(PreconditionFailed, "{key}: {error}"),
        E::NotModified { .. } => s3_error!(NotModified),
        E::AlreadyExists { .. } => s3_error!(PreconditionFailed, "{key} already exists"),
        E::InvalidPath { .. } => s3_error!(InvalidArgument, "{key}: {error}"),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            s3_error!(AccessDenied, "{key}: the storage refused access: {error}")
        }
        error => internal(format!("{key}: {error}")),
    }
}

/// A sluice storage failure (validation or backend) as an S3 error.
pub(crate) fn from_storage(error: StorageError) -> S3Error {
    match error {
        StorageError::InvalidKey(why) => s3_error!(InvalidArgument, "{why}"),
        StorageError::NotFound { path } => {
            s3_error!(NoSuchKey, "The specified key does not exist: {path}")
        }
        error @ StorageError::InvalidObjectState { .. } => {
            s3_error!(InvalidObjectState, "{error}")
        }
        error @ StorageError::RestoreInProgress { .. } => {
            s3_error!(RestoreAlreadyInProgress, "{error}")
        }
        error @ StorageError::InjectedFault { .. } => s3_error!(SlowDown, "{error}"),
        error => internal(error.to_string()),
    }
}

/// A failure of the node itself, logged, with its message kept for the client.
pub(crate) fn internal(message: String) -> S3Error {
    tracing::warn!(error = %message, "S3 request failed");
    S3Error::with_message(S3ErrorCode::InternalError, message)
}
