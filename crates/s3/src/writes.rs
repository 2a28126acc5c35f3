//! Streaming request bodies into objects and part files, hashing them on the way.

use crate::errors::internal;
use futures_util::StreamExt;
use md5::{Digest, Md5};
use s3s::dto::StreamingBlob;
use s3s::{S3Result, s3_error};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The buffer of a streamed put: an object smaller than this is written with one request to
/// the storage; a larger one goes up as a multipart upload in parts of this size, at most two
/// in flight.
pub const PUT_BUFFER: usize = 8 * 1024 * 1024;

/// The largest body of a single put or upload part, as on S3.
pub(crate) const MAX_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// What a body amounted to.
#[derive(Debug)]
pub(crate) struct Tally {
    /// MD5 of the bytes.
    pub md5: [u8; 16],
    /// How many bytes.
    pub size: u64,
}

impl Tally {
    /// The entity tag S3 gives a single put: the hex MD5.
    pub fn e_tag(&self) -> String {
        hex(&self.md5)
    }
}

/// A writer that hashes what passes and refuses more than a limit.
pub(crate) struct HashingWriter<W> {
    inner: W,
    md5: Md5,
    size: u64,
    limit: u64,
}

impl<W: AsyncWrite + Unpin> HashingWriter<W> {
    /// Writes into `inner`, at most `limit` bytes.
    pub fn new(inner: W, limit: u64) -> Self {
        HashingWriter {
            inner,
            md5: Md5::new(),
            size: 0,
            limit,
        }
    }

    /// The writer underneath, e.g. to abort it after a failure.
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Writes `data`.
    pub async fn write(&mut self, data: &[u8]) -> S3Result<()> {
        self.size += data.len() as u64;
        if self.size > self.limit {
            return Err(s3_error!(
                EntityTooLarge,
                "the body exceeds {} bytes",
                self.limit
            ));
        }
        self.md5.update(data);
        self.inner
            .write_all(data)
            .await
            .map_err(|e| internal(format!("writing: {e}")))
    }

    /// Writes a whole request body (absent: empty).
    pub async fn write_body(&mut self, body: Option<StreamingBlob>) -> S3Result<()> {
        let Some(mut body) = body else {
            return Ok(());
        };
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| s3_error!(IncompleteBody, "reading the body: {e}"))?;
            self.write(&chunk).await?;
        }
        Ok(())
    }

    /// Flushes and closes the writer (committing an object), and tells what was written.
    pub async fn finish(mut self) -> S3Result<Tally> {
        self.inner
            .shutdown()
            .await
            .map_err(|e| internal(format!("completing the write: {e}")))?;
        Ok(Tally {
            md5: self.md5.finalize().into(),
            size: self.size,
        })
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_hashed_and_bounded() {
        let mut writer = HashingWriter::new(Vec::new(), 10);
        writer.write(b"hello").await.unwrap();
        let tally = writer.finish().await.unwrap();
        assert_eq!(tally.size, 5);
        assert_eq!(tally.e_tag(), "5d41402abc4b2a76b9719d911017c592");

        let mut writer = HashingWriter::new(Vec::new(), 4);
        let refused = writer.write(b"hello").await.unwrap_err();
        assert_eq!(refused.code(), &s3s::S3ErrorCode::EntityTooLarge);
    }
}
