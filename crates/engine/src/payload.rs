//! Size limits on payloads coming in from outside (an execution's input, an event), checked
//! before anything is stored and without reading more than the limit.

use sluice_lang::dataflow::MAX_PAYLOAD_BYTES;
use std::fmt;
use std::io::Read;
use std::path::Path;

/// A limit on the size of a payload, with what it applies to and whose limit it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadLimit {
    /// The most bytes accepted.
    pub bytes: usize,
    /// What is limited, e.g. `the execution input`.
    pub what: &'static str,
    /// The service whose limit it is, e.g. `Step Functions`.
    pub service: &'static str,
}

/// Step Functions' limit on an execution's input: [`MAX_PAYLOAD_BYTES`] (256 KiB) of UTF-8 text.
pub const EXECUTION_INPUT: PayloadLimit = PayloadLimit {
    bytes: MAX_PAYLOAD_BYTES,
    what: "the execution input",
    service: "Step Functions",
};

/// A payload over its limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PayloadTooLarge {
    /// The limit exceeded.
    pub limit: PayloadLimit,
    /// The payload's size in bytes, when known (a stream is read only one byte past the limit).
    pub size: Option<u64>,
}

impl fmt::Display for PayloadTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let PayloadLimit {
            bytes,
            what,
            service,
        } = self.limit;
        match self.size {
            Some(size) => write!(
                f,
                "{what} is {size} bytes, over the {service} limit of {bytes} bytes"
            ),
            None => write!(f, "{what} is over the {service} limit of {bytes} bytes"),
        }
    }
}

/// Why a payload file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadPayloadError {
    /// The payload is over its limit.
    #[error(transparent)]
    TooLarge(#[from] PayloadTooLarge),
    /// The file could not be read, or is not UTF-8.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl PayloadLimit {
    /// Fails when a payload of `size` bytes is over the limit.
    pub fn check(&self, size: u64) -> Result<(), PayloadTooLarge> {
        if size > self.bytes as u64 {
            return Err(PayloadTooLarge {
                limit: *self,
                size: Some(size),
            });
        }
        Ok(())
    }

    /// Reads the text of the file at `path` when it is within the limit. A regular file's size
    /// is checked before it is read; any file (a pipe, a device) is read at most one byte past
    /// the limit.
    pub fn read_file(&self, path: &Path) -> Result<String, ReadPayloadError> {
        let file = std::fs::File::open(path)?;
        let metadata = file.metadata()?;
        if metadata.is_file() {
            self.check(metadata.len())?;
        }
        self.read(file)
    }

    /// Reads text from `source`, at most one byte past the limit.
    pub fn read(&self, source: impl Read) -> Result<String, ReadPayloadError> {
        let mut text = String::new();
        source
            .take(self.bytes as u64 + 1)
            .read_to_string(&mut text)?;
        if text.len() > self.bytes {
            return Err(PayloadTooLarge {
                limit: *self,
                size: None,
            }
            .into());
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: PayloadLimit = PayloadLimit {
        bytes: 8,
        what: "the input",
        service: "Test",
    };

    #[test]
    fn sizes_over_the_limit_are_refused_with_both_numbers() {
        assert!(SMALL.check(8).is_ok());
        let e = SMALL.check(9).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the input is 9 bytes, over the Test limit of 8 bytes"
        );
        let e = EXECUTION_INPUT.check(262_145).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the execution input is 262145 bytes, over the Step Functions limit of 262144 bytes"
        );
    }

    #[test]
    fn files_are_checked_by_size_and_streams_read_one_byte_past_the_limit() {
        let file = std::env::temp_dir().join(format!("payload-{}.json", uuid::Uuid::new_v4()));
        std::fs::write(&file, "[1,2,3]").unwrap();
        let fits = SMALL.read_file(&file);
        std::fs::write(&file, "[1,2,3,4,5]").unwrap();
        let big = SMALL.read_file(&file);
        std::fs::remove_file(&file).unwrap();
        assert_eq!(fits.unwrap(), "[1,2,3]");
        match big {
            Err(ReadPayloadError::TooLarge(e)) => assert_eq!(e.size, Some(11)),
            other => panic!("{other:?}"),
        }
        let mut endless = std::io::repeat(b'x');
        match SMALL.read(&mut endless) {
            Err(ReadPayloadError::TooLarge(e)) => {
                assert_eq!(e.size, None);
                assert_eq!(e.to_string(), "the input is over the Test limit of 8 bytes");
            }
            other => panic!("{other:?}"),
        }
    }
}
