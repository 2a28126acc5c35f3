//! Object locations in the storage namespace: `BUCKET/KEY`, validated so that nothing escapes
//! the configured root.

use crate::error::StorageError;
use object_store::path::Path;
use sluice_functions::validate_key;
use std::fmt;

/// An object: a bucket (the top-level folder of the storage) and a key inside it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// The bucket: one path segment.
    pub bucket: String,
    /// The key inside the bucket.
    pub key: String,
}

impl ObjectRef {
    /// A validated location: the bucket is one safe segment, the key a safe relative path
    /// (see [`sluice_functions::validate_key`]).
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Result<Self, StorageError> {
        let bucket = bucket.into();
        let key = key.into();
        validate_bucket(&bucket)?;
        validate_key(&key).map_err(StorageError::InvalidKey)?;
        Ok(ObjectRef { bucket, key })
    }

    /// Parses `BUCKET/KEY` (as in `CopySource`, or `s3://BUCKET/KEY` without the scheme).
    pub fn parse(path: &str) -> Result<Self, StorageError> {
        match path.split_once('/') {
            Some((bucket, key)) => ObjectRef::new(bucket, key),
            None => Err(StorageError::InvalidKey(format!(
                "'{path}' is not BUCKET/KEY"
            ))),
        }
    }

    /// The path in the storage root: `BUCKET/KEY`.
    pub fn path(&self) -> Path {
        Path::from(self.to_string())
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.bucket, self.key)
    }
}

/// Checks a bucket name: one segment that [`validate_key`] accepts.
pub(crate) fn validate_bucket(bucket: &str) -> Result<(), StorageError> {
    if bucket.is_empty() {
        return Err(StorageError::InvalidKey("bucket name is empty".into()));
    }
    if bucket.contains('/') {
        return Err(StorageError::InvalidKey(format!(
            "bucket name '{bucket}' contains '/'"
        )));
    }
    validate_key(bucket).map_err(|e| StorageError::InvalidKey(format!("bucket name: {e}")))
}

/// Checks a listing prefix: empty, or a string whose directory part (up to its last `/`) is a
/// valid key and whose last part has no backslash or control character. `a/b/`, `a/b`, `a/pa`
/// pass; `../x`, `/a`, `a//b` do not.
pub fn validate_prefix(prefix: &str) -> Result<(), StorageError> {
    let (dir, tail) = match prefix.rfind('/') {
        Some(i) => (&prefix[..i], &prefix[i + 1..]),
        None => ("", prefix),
    };
    if prefix.starts_with('/') {
        return Err(StorageError::InvalidKey(format!(
            "prefix '{prefix}' is absolute"
        )));
    }
    if !dir.is_empty() {
        validate_key(dir).map_err(|e| StorageError::InvalidKey(format!("prefix: {e}")))?;
    }
    if tail.contains('\\') || tail.chars().any(char::is_control) {
        return Err(StorageError::InvalidKey(format!(
            "prefix '{}' contains a backslash or a control character",
            prefix.escape_debug()
        )));
    }
    if tail == "." || tail == ".." {
        return Err(StorageError::InvalidKey(format!(
            "prefix '{prefix}' ends in a '{tail}' segment"
        )));
    }
    Ok(())
}

/// A bucket name derived from a project directory's name: lower-cased, with every character
/// S3 refuses replaced by `-`, trimmed to 63 characters; `None` when nothing valid remains.
pub fn bucket_name_for(dir_name: &str) -> Option<String> {
    let mapped: String = dir_name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .take(63)
        .collect();
    let name = mapped.trim_matches('-').to_string();
    valid_bucket_name(&name).then_some(name)
}

/// S3's bucket naming rules (the ones that matter to clients).
pub fn valid_bucket_name(name: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && edge(name.chars().next())
        && edge(name.chars().last())
        && !name.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_come_from_directory_names() {
        assert_eq!(bucket_name_for("wordcount").as_deref(), Some("wordcount"));
        assert_eq!(
            bucket_name_for("My_Project 2").as_deref(),
            Some("my-project-2")
        );
        assert_eq!(bucket_name_for("_x_"), None);
        assert_eq!(bucket_name_for("ab"), None);
    }

    #[test]
    fn locations_are_validated() {
        assert_eq!(
            ObjectRef::new("b", "a/c.csv").unwrap().path().as_ref(),
            "b/a/c.csv"
        );
        for (bucket, key) in [
            ("", "k"),
            ("a/b", "k"),
            ("..", "k"),
            ("b", "../k"),
            ("b", "/k"),
            ("b", "a//k"),
            ("b", "a\\k"),
            ("b", ""),
        ] {
            assert!(ObjectRef::new(bucket, key).is_err(), "{bucket:?} {key:?}");
        }
        assert_eq!(ObjectRef::parse("b/x/y").unwrap().key, "x/y");
        assert!(ObjectRef::parse("nokey").is_err());
    }

    #[test]
    fn prefixes_are_validated() {
        for good in ["", "a", "a/", "a/b/", "a/pa", "x..y"] {
            assert!(validate_prefix(good).is_ok(), "{good}");
        }
        for bad in [
            "/a", "../a", "a/../", "a//b", "a/..", "a\\b", "a\n", "a/./b",
        ] {
            assert!(validate_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
