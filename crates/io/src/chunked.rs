//! [`ObjectReader`]: a blocking, seekable reader of one object, fetched in byte ranges.

use crate::error::StorageError;
use crate::location::ObjectRef;
use crate::storage::{GetRequest, Storage};
use bytes::Bytes;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use tokio::runtime::Handle;

/// Reads an object sequentially in byte ranges of a fixed size, so that only one range is in
/// memory at a time whatever the object's size. Each range is fetched with
/// `If-Match` on the entity tag seen when the reader opened, so an object replaced halfway
/// fails the read ([`StorageError::Changed`]) instead of mixing two versions.
///
/// Seeking within the range in memory costs nothing; seeking elsewhere drops it, and the next
/// read fetches a range from the new position.
///
/// Blocks on `handle` for every range: use it off the runtime's worker threads.
pub struct ObjectReader {
    storage: Storage,
    handle: Handle,
    object: ObjectRef,
    version: Option<String>,
    e_tag: Option<String>,
    size: u64,
    /// Offset of the next range to fetch.
    next: u64,
    chunk: u64,
    buffer: Bytes,
    consumed: usize,
}

impl ObjectReader {
    /// Opens `object` (a given version, if any) for reading in ranges of `chunk_bytes`. Fails
    /// at once when the object does not exist.
    pub fn open(
        storage: &Storage,
        handle: &Handle,
        object: &ObjectRef,
        version: Option<&str>,
        chunk_bytes: u64,
    ) -> Result<ObjectReader, StorageError> {
        let info = handle.block_on(storage.head(object, version))?;
        Ok(ObjectReader {
            storage: storage.clone(),
            handle: handle.clone(),
            object: object.clone(),
            version: version.map(str::to_string),
            e_tag: info.e_tag,
            size: info.size,
            next: 0,
            chunk: chunk_bytes.max(1),
            buffer: Bytes::new(),
            consumed: 0,
        })
    }

    /// The object's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The object's entity tag when it was opened, if the storage gives one.
    pub fn e_tag(&self) -> Option<&str> {
        self.e_tag.as_deref()
    }

    /// Another reader of the same object (the same version and entity tag), from byte `start`.
    pub fn at(&self, start: u64) -> ObjectReader {
        ObjectReader {
            storage: self.storage.clone(),
            handle: self.handle.clone(),
            object: self.object.clone(),
            version: self.version.clone(),
            e_tag: self.e_tag.clone(),
            size: self.size,
            next: start.min(self.size),
            chunk: self.chunk,
            buffer: Bytes::new(),
            consumed: 0,
        }
    }

    /// Bytes `start..start + length` of the object, in one read (blocking), checked against the
    /// entity tag seen when the reader opened.
    pub fn range(&self, start: u64, length: u64) -> Result<Bytes, StorageError> {
        let request = GetRequest {
            range: Some(start..self.size.min(start + length)),
            version: self.version.clone(),
            if_match: self.e_tag.clone(),
        };
        let object = self
            .handle
            .block_on(self.storage.get_with(&self.object, request))?;
        Ok(object.data)
    }

    fn fetch(&mut self) -> Result<(), StorageError> {
        let end = self.size.min(self.next + self.chunk);
        let request = GetRequest {
            range: Some(self.next..end),
            version: self.version.clone(),
            if_match: self.e_tag.clone(),
        };
        let object = self
            .handle
            .block_on(self.storage.get_with(&self.object, request))?;
        if object.data.is_empty() {
            return Err(StorageError::Changed {
                path: self.object.to_string(),
            });
        }
        self.next += object.data.len() as u64;
        self.buffer = object.data;
        self.consumed = 0;
        Ok(())
    }
}

impl BufRead for ObjectReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.consumed == self.buffer.len() && self.next < self.size {
            self.fetch().map_err(io::Error::other)?;
        }
        Ok(&self.buffer[self.consumed..])
    }

    fn consume(&mut self, amount: usize) {
        self.consumed = (self.consumed + amount).min(self.buffer.len());
    }
}

impl Read for ObjectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl Seek for ObjectReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let position = self.next - (self.buffer.len() - self.consumed) as u64;
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.size.checked_add_signed(delta),
            SeekFrom::Current(delta) => position.checked_add_signed(delta),
        }
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: seek before the start of the object", self.object),
            )
        })?;
        let buffer_start = self.next - self.buffer.len() as u64;
        if (buffer_start..=self.next).contains(&target) {
            self.consumed = (target - buffer_start) as usize;
        } else {
            self.buffer = Bytes::new();
            self.consumed = 0;
            self.next = target;
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader over `data` stored in a fresh directory, with ranges of `chunk` bytes.
    fn reader(
        dir: &std::path::Path,
        runtime: &tokio::runtime::Runtime,
        data: &[u8],
        chunk: u64,
    ) -> ObjectReader {
        let storage = Storage::from_url("file://./data", dir).unwrap();
        let object = ObjectRef::parse("b/object.bin").unwrap();
        runtime
            .block_on(storage.put(&object, Bytes::copy_from_slice(data)))
            .unwrap();
        ObjectReader::open(&storage, runtime.handle(), &object, None, chunk).unwrap()
    }

    #[test]
    fn seeks_anywhere_and_holds_at_most_one_range() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut r = reader(dir.path(), &runtime, &data, 64);
        let mut four = [0u8; 4];
        for (to, at) in [
            (SeekFrom::End(-4), 996),
            (SeekFrom::Start(10), 10),
            (SeekFrom::Current(100), 114),
            (SeekFrom::Current(-50), 68),
            (SeekFrom::Start(0), 0),
        ] {
            assert_eq!(r.seek(to).unwrap(), at);
            r.read_exact(&mut four).unwrap();
            assert_eq!(four, data[at as usize..at as usize + 4]);
            assert!(
                r.buffer.len() <= 64,
                "one range of at most 64 bytes is held"
            );
            assert_eq!(r.stream_position().unwrap(), at + 4);
        }
        let mut rest = Vec::new();
        r.seek(SeekFrom::Start(900)).unwrap();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, data[900..]);
        assert_eq!(r.seek(SeekFrom::Start(5000)).unwrap(), 5000);
        assert_eq!(r.read(&mut four).unwrap(), 0, "past the end reads nothing");
        let error = r.seek(SeekFrom::End(-1001)).unwrap_err();
        assert!(error.to_string().contains("b/object.bin"), "{error}");
    }
}
