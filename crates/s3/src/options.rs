//! What the endpoint serves, and its bucket's name.

use sluice_io::valid_bucket_name;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Settings of an [`crate::S3Endpoint`].
#[derive(Clone, Debug)]
pub struct S3Options {
    /// The name of the one bucket, mapped to the storage root (see [`bucket_name_for`]).
    pub bucket: String,
    /// Secret access keys by access key id; requests must be signed with one of them.
    pub access_keys: BTreeMap<String, String>,
    /// Where multipart upload parts are staged until the upload completes or is aborted.
    pub uploads_dir: PathBuf,
}

/// Why options were refused.
#[derive(Debug, thiserror::Error)]
pub enum S3OptionsError {
    /// The bucket name breaks S3's naming rules.
    #[error(
        "bucket name '{0}' is not a valid S3 bucket name (3 to 63 lower-case letters, digits, '-' or '.', starting and ending with a letter or digit)"
    )]
    BadBucket(String),
    /// No access key is configured: S3 clients sign every request, and a signature can only
    /// be checked against a known secret.
    #[error(
        "the S3 endpoint needs access keys to check the requests' signatures: give --access-keys ID:SECRET (or SLUICE_ACCESS_KEYS)"
    )]
    NoAccessKeys,
}

impl S3Options {
    /// Checks the options.
    pub fn validate(&self) -> Result<(), S3OptionsError> {
        if !valid_bucket_name(&self.bucket) {
            return Err(S3OptionsError::BadBucket(self.bucket.clone()));
        }
        if self.access_keys.is_empty() {
            return Err(S3OptionsError::NoAccessKeys);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_need_a_valid_bucket_and_keys() {
        let mut options = S3Options {
            bucket: "Bad_Name".into(),
            access_keys: BTreeMap::new(),
            uploads_dir: PathBuf::from("/tmp"),
        };
        assert!(matches!(
            options.validate(),
            Err(S3OptionsError::BadBucket(_))
        ));
        options.bucket = "good.name".into();
        assert!(matches!(
            options.validate(),
            Err(S3OptionsError::NoAccessKeys)
        ));
        options.access_keys.insert("id".into(), "secret".into());
        assert!(options.validate().is_ok());
    }
}
