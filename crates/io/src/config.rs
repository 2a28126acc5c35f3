//! Storage URLs: `file://DIR` and `s3://BUCKET[/PREFIX]?settings`.

use crate::error::StorageError;
use crate::location::validate_bucket;
use object_store::aws::AmazonS3ConfigKey;
use std::path::{Path, PathBuf};

/// A parsed storage URL. Parsing checks the URL only; nothing is created or contacted.
#[derive(Clone, Debug)]
pub enum StorageConfig {
    /// A local directory.
    File {
        /// The directory, resolved against the base directory.
        dir: PathBuf,
    },
    /// An S3-compatible bucket.
    S3 {
        /// The bucket holding the storage.
        bucket: String,
        /// The folder inside it (no leading or trailing `/`; empty for the bucket's root).
        prefix: String,
        /// Settings from the URL's query, in order.
        settings: Vec<(AmazonS3ConfigKey, String)>,
    },
}

/// Query parameters whose values are never shown.
const SECRET_SETTINGS: [&str; 4] = [
    "secret_access_key",
    "aws_secret_access_key",
    "session_token",
    "aws_session_token",
];

impl StorageConfig {
    /// Parses `url`; a relative `file://` directory is taken relative to `base_dir`.
    pub fn parse(url: &str, base_dir: &Path) -> Result<StorageConfig, StorageError> {
        let bad = |reason: String| StorageError::Url {
            url: redact(url),
            reason,
        };
        if let Some(rest) = url.strip_prefix("file://") {
            if rest.is_empty() {
                return Err(bad("file:// needs a directory, e.g. file://./data".into()));
            }
            let dir = Path::new(rest);
            let dir = if dir.is_absolute() {
                dir.to_path_buf()
            } else {
                base_dir.join(dir)
            };
            return Ok(StorageConfig::File { dir });
        }
        if !url.starts_with("s3://") {
            return Err(bad(
                "use file://DIR or s3://BUCKET[/PREFIX]?endpoint=...".into()
            ));
        }
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let bucket = parsed.host_str().unwrap_or_default().to_string();
        validate_bucket(&bucket).map_err(|e| bad(e.to_string()))?;
        let prefix = parsed.path().trim_matches('/').to_string();
        if !prefix.is_empty() {
            sluice_functions::validate_key(&prefix).map_err(|e| bad(format!("prefix: {e}")))?;
        }
        let mut settings = Vec::new();
        for (name, value) in parsed.query_pairs() {
            settings.push(setting(&name, &value).map_err(bad)?);
        }
        Ok(StorageConfig::S3 {
            bucket,
            prefix,
            settings,
        })
    }
}

/// One query parameter as an S3 setting. `path_style=true|false` is the inverse of
/// `virtual_hosted_style_request`; every other name is an `object_store` S3 setting name.
fn setting(name: &str, value: &str) -> Result<(AmazonS3ConfigKey, String), String> {
    if name == "path_style" {
        let path_style: bool = value
            .parse()
            .map_err(|_| format!("path_style must be true or false, not '{value}'"))?;
        return Ok((
            AmazonS3ConfigKey::VirtualHostedStyleRequest,
            (!path_style).to_string(),
        ));
    }
    let key = name.parse::<AmazonS3ConfigKey>().map_err(|_| {
        format!(
            "unknown setting '{name}' (endpoint, region, path_style, access_key_id, \
             secret_access_key, session_token, allow_http, or another object_store S3 setting)"
        )
    })?;
    Ok((key, value.to_string()))
}

/// The URL with the values of secret settings replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_SETTINGS.contains(&name) => format!("{name}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_resolve_against_the_base() {
        let base = Path::new("/p");
        match StorageConfig::parse("file://./data", base).unwrap() {
            StorageConfig::File { dir } => assert_eq!(dir, Path::new("/p/./data")),
            other => panic!("{other:?}"),
        }
        match StorageConfig::parse("file:///abs/d", base).unwrap() {
            StorageConfig::File { dir } => assert_eq!(dir, Path::new("/abs/d")),
            other => panic!("{other:?}"),
        }
        assert!(StorageConfig::parse("file://", base).is_err());
        assert!(StorageConfig::parse("gs://b", base).is_err());
    }

    #[test]
    fn s3_urls_carry_bucket_prefix_and_settings() {
        let url = "s3://data/sluice/run?endpoint=http://127.0.0.1:9000&region=eu&path_style=true\
                   &access_key_id=k&secret_access_key=s";
        match StorageConfig::parse(url, Path::new("/")).unwrap() {
            StorageConfig::S3 {
                bucket,
                prefix,
                settings,
            } => {
                assert_eq!(bucket, "data");
                assert_eq!(prefix, "sluice/run");
                assert_eq!(settings.len(), 5);
                assert!(
                    settings
                        .contains(&(AmazonS3ConfigKey::VirtualHostedStyleRequest, "false".into()))
                );
            }
            other => panic!("{other:?}"),
        }
        let err = StorageConfig::parse("s3://b?secret_access_key=hush&colour=red", Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown setting 'colour'"), "{err}");
        assert!(!err.contains("hush"), "{err}");
        assert!(StorageConfig::parse("s3://b/a//x", Path::new("/")).is_err());
    }
}
