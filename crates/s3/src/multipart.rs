//! Multipart uploads in progress: each a folder of part files under the uploads directory,
//! named by its upload id, with the object key it was created for.

use crate::errors::internal;
use crate::writes::{HashingWriter, MAX_PUT, Tally};
use s3s::dto::StreamingBlob;
use s3s::{S3Result, s3_error};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The highest part number, as on S3.
pub(crate) const MAX_PARTS: i32 = 10_000;

/// The file of an upload folder that holds the object key.
const KEY_FILE: &str = "key";

/// A part already uploaded.
#[derive(Debug)]
pub(crate) struct StagedPart {
    /// Its number.
    pub number: i32,
    /// Its size in bytes.
    pub size: u64,
    /// When it was uploaded.
    pub modified: SystemTime,
}

/// The multipart uploads in progress.
#[derive(Debug)]
pub(crate) struct Uploads {
    dir: PathBuf,
}

impl Uploads {
    /// Uploads staged under `dir` (created when the first upload starts).
    pub fn new(dir: PathBuf) -> Self {
        Uploads { dir }
    }

    /// Starts an upload of `key`; returns its id.
    pub async fn create(&self, key: &str) -> S3Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let folder = self.dir.join(&id);
        tokio::fs::create_dir_all(&folder)
            .await
            .map_err(|e| internal(format!("creating {}: {e}", folder.display())))?;
        tokio::fs::write(folder.join(KEY_FILE), key)
            .await
            .map_err(|e| internal(format!("creating {}: {e}", folder.display())))?;
        Ok(id)
    }

    /// The folder of upload `id` of `key`; `NoSuchUpload` unless it was created for that key.
    pub async fn folder(&self, id: &str, key: &str) -> S3Result<PathBuf> {
        let missing = || s3_error!(NoSuchUpload, "no upload {id} of {key}");
        let id = uuid::Uuid::parse_str(id).map_err(|_| missing())?;
        let folder = self.dir.join(id.to_string());
        match tokio::fs::read_to_string(folder.join(KEY_FILE)).await {
            Ok(k) if k == key => Ok(folder),
            _ => Err(missing()),
        }
    }

    /// Stages part `number` of an upload from a request body, replacing any earlier one.
    pub async fn put_part(
        &self,
        folder: &Path,
        number: i32,
        body: Option<StreamingBlob>,
    ) -> S3Result<Tally> {
        if !(1..=MAX_PARTS).contains(&number) {
            return Err(s3_error!(
                InvalidArgument,
                "part number {number} is not between 1 and {MAX_PARTS}"
            ));
        }
        let tmp = folder.join(format!("{number:05}.{}.tmp", uuid::Uuid::new_v4()));
        let file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| internal(format!("creating {}: {e}", tmp.display())))?;
        let mut writer = HashingWriter::new(file, MAX_PUT);
        let written = match writer.write_body(body).await {
            Ok(()) => writer.finish().await,
            Err(e) => Err(e),
        };
        let renamed = match written {
            Ok(tally) => tokio::fs::rename(&tmp, part_file(folder, number))
                .await
                .map(|()| tally)
                .map_err(|e| internal(format!("staging part {number}: {e}"))),
            Err(e) => Err(e),
        };
        if renamed.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        renamed
    }

    /// The parts staged so far, by number.
    pub async fn parts(&self, folder: &Path) -> S3Result<Vec<StagedPart>> {
        let failed = |e: std::io::Error| internal(format!("listing {}: {e}", folder.display()));
        let mut entries = tokio::fs::read_dir(folder).await.map_err(failed)?;
        let mut parts = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(failed)? {
            let Some(number) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            let meta = entry.metadata().await.map_err(failed)?;
            parts.push(StagedPart {
                number,
                size: meta.len(),
                modified: meta.modified().map_err(failed)?,
            });
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    /// Removes an upload's folder and its parts.
    pub async fn remove(&self, folder: &Path) -> S3Result<()> {
        tokio::fs::remove_dir_all(folder)
            .await
            .map_err(|e| internal(format!("removing {}: {e}", folder.display())))
    }
}

/// The file of part `number` in an upload folder.
pub(crate) fn part_file(folder: &Path, number: i32) -> PathBuf {
    folder.join(format!("{number:05}"))
}
