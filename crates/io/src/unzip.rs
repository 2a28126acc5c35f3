//! The built-in `unzip` handler: extracts a zip archive of the storage into a folder of the
//! storage, a bounded number of entries or seconds per call, resuming from a marker.
//!
//! The archive is read by ranges through a seekable [`ObjectReader`]: the central directory
//! first, then each entry's data, streamed through the decompressor into a buffered (multipart
//! above a few MiB) write. Memory stays bounded whatever the archive's or an entry's size.
//! Zip64 archives and entries are read like any other.
//!
//! An archive a call leaves unfinished stays parsed in [`OpenArchives`] for the call that
//! continues it (while the object keeps its size and entity tag): its central directory is
//! read once, not once per call, and its memory (tens of MiB for 100,000 entries) is
//! allocated once, instead of by whichever thread runs each call, which would leave the
//! allocator holding a freed copy per thread.

use crate::chunked::ObjectReader;
use crate::error::StorageError;
use crate::location::ObjectRef;
use crate::storage::Storage;
use serde_json::{Map, Value, json};
use sluice_engine::invoke::TaskError;
use sluice_functions::validate_key;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;
use zip::ZipArchive;
use zip::result::ZipError;

/// Bytes of the archive fetched per range.
const ARCHIVE_RANGE: u64 = 4 * 1024 * 1024;
/// Bytes of an entry decompressed at a time.
const COPY_CHUNK: usize = 256 * 1024;
/// Part size of the writes: an entry under it is written in one put.
const PART_BYTES: usize = 8 * 1024 * 1024;
/// The default time a call spends before it returns a marker.
const DEFAULT_BUDGET_SECONDS: f64 = 20.0;
/// Unfinished archives kept parsed at most; the oldest is dropped for a newer one.
const ARCHIVES_KEPT: usize = 2;

/// Parsed archives that calls left unfinished, for the calls that continue them.
#[derive(Default)]
pub(crate) struct OpenArchives {
    idle: Mutex<VecDeque<OpenArchive>>,
}

/// A parsed archive and what identifies the object it was read from.
struct OpenArchive {
    object: ObjectRef,
    size: u64,
    e_tag: Option<String>,
    archive: ZipArchive<ObjectReader>,
}

impl OpenArchives {
    /// The archive of `reader`'s object, parsed by an earlier call if that call read the same
    /// bytes (the same size and entity tag), else parsed now.
    fn open(&self, reader: ObjectReader, object: &ObjectRef) -> Result<OpenArchive, ZipError> {
        let (size, e_tag) = (reader.size(), reader.e_tag().map(str::to_string));
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = idle.iter().position(|o| o.object == *object)
            && let Some(kept) = idle.remove(at)
            && e_tag.is_some()
            && kept.e_tag == e_tag
            && kept.size == size
        {
            return Ok(kept);
        }
        drop(idle);
        Ok(OpenArchive {
            object: object.clone(),
            size,
            e_tag,
            archive: ZipArchive::new(reader)?,
        })
    }

    /// Keeps `open` for the next call.
    fn keep(&self, open: OpenArchive) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= ARCHIVES_KEPT {
            idle.pop_front();
        }
        idle.push_back(open);
    }
}

/// What one call was asked to do.
#[derive(Debug, PartialEq)]
pub(crate) struct UnzipRequest {
    /// The archive: `BUCKET/KEY`.
    archive: ObjectRef,
    /// The folder (`BUCKET/` or `BUCKET/PREFIX/`) the entries are written under.
    to: String,
    /// The index of the first entry to extract.
    marker: usize,
    /// Time after which no further entry is started.
    budget: Duration,
    /// Entries handled (written or skipped as directories) at most in this call.
    max_entries: Option<usize>,
}

impl UnzipRequest {
    /// Reads the event's (and options') fields: `archive`, `to`, `marker`?, `budget_seconds`?,
    /// `max_entries`?, `url_encoded`? (the archive key is URL-encoded, as in S3 events).
    pub(crate) fn from_args(args: &Map<String, Value>) -> Result<UnzipRequest, String> {
        let text = |name: &str| crate::fields::text(args, name);
        let mut archive = text("archive")?
            .ok_or("the field archive (BUCKET/KEY of the zip) is required")?
            .to_string();
        match args.get("url_encoded") {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => archive = url_decoded(&archive)?,
            Some(other) => return Err(format!("url_encoded must be true or false, not {other}")),
        }
        let archive = ObjectRef::parse(&archive).map_err(|e| format!("archive: {e}"))?;
        let mut to = text("to")?
            .ok_or("the field to (the folder BUCKET/PREFIX/ to write into) is required")?
            .to_string();
        if !to.ends_with('/') {
            to.push('/');
        }
        validate_key(to.trim_end_matches('/')).map_err(|e| format!("to: {e}"))?;
        let marker = match args.get("marker") {
            None | Some(Value::Null) => 0,
            Some(v) => count(v).ok_or_else(|| format!("marker must be an entry index, not {v}"))?,
        };
        let budget = match args.get("budget_seconds") {
            None | Some(Value::Null) => DEFAULT_BUDGET_SECONDS,
            Some(v) => v
                .as_f64()
                .filter(|s| *s > 0.0 && *s <= 86_400.0)
                .ok_or_else(|| format!("budget_seconds must be a number of seconds, not {v}"))?,
        };
        let max_entries = match args.get("max_entries") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                count(v)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("max_entries must be a positive count, not {v}"))?,
            ),
        };
        Ok(UnzipRequest {
            archive,
            to,
            marker,
            budget: Duration::from_secs_f64(budget),
            max_entries,
        })
    }
}

fn count(v: &Value) -> Option<usize> {
    v.as_u64().and_then(|n| usize::try_from(n).ok())
}

/// Decodes a key as S3 event notifications carry it: percent-encoded, `+` for a space.
fn url_decoded(key: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| format!("archive '{key}' is not URL-encoded UTF-8"))
}

/// The key an entry is written under, relative to the target folder, or `None` for a
/// directory; a name that would leave the folder (`..`, absolute, backslashes) is refused.
pub(crate) fn entry_key(name: &str) -> Result<Option<&str>, String> {
    if name.ends_with('/') {
        let dir = name.trim_end_matches('/');
        if !dir.is_empty() {
            validate_key(dir)?;
        }
        return Ok(None);
    }
    validate_key(name).map(|()| Some(name))
}

/// Extracts entries from `request.marker` on until the archive ends, the budget is spent or
/// `max_entries` are handled; answers `{"marker": NEXT | null, "written": n, "done": bool,
/// "entries": total}`.
pub(crate) fn unzip(
    storage: &Storage,
    handle: &Handle,
    archives: &OpenArchives,
    request: &UnzipRequest,
) -> Result<Value, TaskError> {
    let started = Instant::now();
    let archive_name = request.archive.to_string();
    let reader = ObjectReader::open(storage, handle, &request.archive, None, ARCHIVE_RANGE)
        .map_err(|e| storage_error(e.to_string()))?;
    let mut open = archives
        .open(reader, &request.archive)
        .map_err(|e| failed(&archive_name, None, e))?;
    let archive = &mut open.archive;
    let total = archive.len();
    let mut index = request.marker.min(total);
    let mut written = 0u64;
    let mut handled = 0usize;
    let mut buffer = vec![0u8; COPY_CHUNK];
    while index < total {
        if handled > 0
            && (started.elapsed() >= request.budget
                || request.max_entries.is_some_and(|max| handled >= max))
        {
            break;
        }
        let name = match archive.name_for_index(index) {
            Some(Ok(name)) => name.into_owned(),
            Some(Err(e)) => return Err(failed(&archive_name, Some(&format!("#{index}")), e)),
            None => {
                return Err(failed(
                    &archive_name,
                    Some(&format!("#{index}")),
                    ZipError::FileNotFound,
                ));
            }
        };
        let key = entry_key(&name).map_err(|reason| TaskError {
            error: "Unzip.InvalidEntryName".into(),
            cause: format!("{archive_name}: entry '{name}' (#{index}): {reason}"),
        })?;
        if let Some(key) = key {
            let mut entry = archive
                .by_index(index)
                .map_err(|e| failed(&archive_name, Some(&name), e))?;
            let target = ObjectRef::parse(&format!("{}{key}", request.to))
                .map_err(|e| storage_error(e.to_string()))?;
            copy_entry(storage, handle, &mut entry, &mut buffer, &target).map_err(|e| match e {
                CopyFailure::Read(e) => failed(&archive_name, Some(&name), ZipError::Io(e)),
                CopyFailure::Write(cause) => storage_error(cause),
            })?;
            written += 1;
        }
        handled += 1;
        index += 1;
    }
    let done = index >= total;
    if !done {
        archives.keep(open);
    }
    Ok(json!({
        "marker": if done { Value::Null } else { json!(index) },
        "written": written,
        "done": done,
        "entries": total,
    }))
}

/// Why an entry could not be copied.
enum CopyFailure {
    /// Reading (or decompressing, or checking) the entry failed.
    Read(io::Error),
    /// Writing the target failed: the storage's error, naming the target.
    Write(String),
}

/// Streams one entry's bytes into `target`; nothing is visible unless every byte was read and
/// its checksum matched.
fn copy_entry(
    storage: &Storage,
    handle: &Handle,
    entry: &mut impl Read,
    buffer: &mut [u8],
    target: &ObjectRef,
) -> Result<(), CopyFailure> {
    let write_failed = |e: io::Error| CopyFailure::Write(format!("{target}: {e}"));
    let mut writer = storage.writer(target, PART_BYTES);
    let copied = (|| {
        loop {
            let n = match entry.read(buffer) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(CopyFailure::Read(e)),
            };
            handle
                .block_on(writer.write_all(&buffer[..n]))
                .map_err(write_failed)?;
        }
    })();
    match copied {
        Ok(()) => handle.block_on(writer.shutdown()).map_err(write_failed),
        Err(e) => {
            let _ = handle.block_on(writer.abort());
            Err(e)
        }
    }
}

/// A failure while reading the archive: the storage's own (`Sluice.StorageError`) or the
/// archive's (`Unzip.CorruptArchive`), naming the archive and the entry.
fn failed(archive: &str, entry: Option<&str>, e: ZipError) -> TaskError {
    let place = match entry {
        Some(entry) => format!("{archive}: entry '{entry}'"),
        None => archive.to_string(),
    };
    if let ZipError::Io(io) = &e
        && let Some(storage) = io.get_ref().and_then(|r| r.downcast_ref::<StorageError>())
    {
        return storage_error(format!("{place}: {storage}"));
    }
    TaskError {
        error: kind(&e).into(),
        cause: format!("{place}: {e}"),
    }
}

/// The error name of an archive's failure, looking through the I/O errors the entry readers
/// wrap theirs in.
fn kind(e: &ZipError) -> &'static str {
    match e {
        ZipError::UnsupportedArchive(_) | ZipError::CompressionMethodNotSupported(_) => {
            "Unzip.UnsupportedArchive"
        }
        ZipError::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ZipError>())
            .map_or("Unzip.CorruptArchive", kind),
        _ => "Unzip.CorruptArchive",
    }
}

fn storage_error(cause: String) -> TaskError {
    TaskError {
        error: "Sluice.StorageError".into(),
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    /// A zip of `entries` (`name`, content; a name ending in `/` is a directory), deflated,
    /// every file's headers in Zip64 form when `zip64`.
    fn archive(entries: &[(String, Vec<u8>)], zip64: bool) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .large_file(zip64);
        for (name, data) in entries {
            if name.ends_with('/') {
                zip.add_directory(name.as_str(), options).unwrap();
            } else {
                zip.start_file(name.as_str(), options).unwrap();
                zip.write_all(data).unwrap();
            }
        }
        zip.finish().unwrap().into_inner()
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        runtime: tokio::runtime::Runtime,
        storage: Storage,
        archives: OpenArchives,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let storage = Storage::from_url("file://./data", dir.path()).unwrap();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            Fixture {
                _dir: dir,
                runtime,
                storage,
                archives: OpenArchives::default(),
            }
        }

        fn put(&self, path: &str, data: Vec<u8>) {
            let object = ObjectRef::parse(path).unwrap();
            self.runtime
                .block_on(self.storage.put(&object, Bytes::from(data)))
                .unwrap();
        }

        fn get(&self, path: &str) -> Vec<u8> {
            let object = ObjectRef::parse(path).unwrap();
            self.runtime
                .block_on(self.storage.get(&object))
                .unwrap()
                .data
                .to_vec()
        }

        fn call(&self, event: Value) -> Result<Value, TaskError> {
            let request = UnzipRequest::from_args(event.as_object().unwrap()).unwrap();
            unzip(
                &self.storage,
                self.runtime.handle(),
                &self.archives,
                &request,
            )
        }
    }

    #[test]
    fn a_zip64_archive_of_more_than_65535_entries_is_extracted_over_several_calls() {
        let fixture = Fixture::new();
        // Directories are skipped, so 65,540 of them cost no writes yet force the Zip64 end
        // of central directory record.
        let mut entries: Vec<(String, Vec<u8>)> = (0..65_540)
            .map(|i| (format!("d{i}/"), Vec::new()))
            .collect();
        let big: Vec<u8> = (0..9 * 1024 * 1024u32)
            .map(|i| (i * 7 % 253) as u8)
            .collect();
        entries.push(("d1/big.bin".into(), big.clone()));
        entries.push(("d2/deep/small.txt".into(), b"small".to_vec()));
        entries.push(("top.txt".into(), Vec::new()));
        fixture.put("up/many.zip", archive(&entries, true));
        let mut marker = Value::Null;
        let mut calls = 0;
        let mut written = 0;
        loop {
            let result = fixture
                .call(json!({"archive": "up/many.zip", "to": "out/many", "marker": marker, "max_entries": 20_000}))
                .unwrap();
            calls += 1;
            written += result["written"].as_u64().unwrap();
            assert_eq!(result["entries"], 65_543);
            if result["done"] == true {
                assert_eq!(result["marker"], Value::Null);
                break;
            }
            assert_eq!(result["marker"], 20_000 * calls);
            marker = result["marker"].clone();
        }
        assert_eq!((calls, written), (4, 3));
        assert!(fixture.get("out/many/d1/big.bin") == big);
        assert_eq!(fixture.get("out/many/d2/deep/small.txt"), b"small");
        assert_eq!(fixture.get("out/many/top.txt"), b"");
    }

    #[test]
    fn an_archive_replaced_between_calls_is_read_again() {
        let fixture = Fixture::new();
        let version = |tag: &str| -> Vec<(String, Vec<u8>)> {
            (0..4)
                .map(|i| {
                    (
                        format!("f{i}.txt"),
                        format!("{tag} {i}").repeat(i + 1).into_bytes(),
                    )
                })
                .collect()
        };
        fixture.put("up/a.zip", archive(&version("old"), false));
        let event = |marker: Value| json!({"archive": "up/a.zip", "to": "out/a", "marker": marker, "max_entries": 2});
        let first = fixture.call(event(Value::Null)).unwrap();
        assert_eq!(first["marker"], 2);
        assert_eq!(
            fixture.archives.idle.lock().unwrap().len(),
            1,
            "kept parsed"
        );
        // Longer contents: every entry of the new archive lies elsewhere.
        fixture.put("up/a.zip", archive(&version("new, longer"), false));
        let second = fixture.call(event(json!(2))).unwrap();
        assert_eq!(second["done"], true, "{second}");
        assert_eq!(
            fixture.get("out/a/f3.txt"),
            "new, longer 3".repeat(4).as_bytes()
        );
        assert_eq!(fixture.get("out/a/f0.txt"), b"old 0");
        assert!(
            fixture.archives.idle.lock().unwrap().is_empty(),
            "a finished archive is let go"
        );
    }

    #[test]
    fn a_corrupt_entry_or_a_bad_name_fails_naming_the_archive_and_the_entry() {
        let fixture = Fixture::new();
        let content: Vec<u8> = (0..100_000u32).map(|i| (i % 97) as u8).collect();
        let mut bytes = archive(
            &[
                ("ok.txt".into(), b"fine".to_vec()),
                ("data/broken.bin".into(), content),
            ],
            false,
        );
        let name_at = bytes
            .windows(15)
            .position(|w| w == b"data/broken.bin")
            .unwrap();
        // Inside the second entry's compressed data, after its local header.
        for b in &mut bytes[name_at + 100..name_at + 140] {
            *b ^= 0x5a;
        }
        fixture.put("up/broken.zip", bytes);
        let error = fixture
            .call(json!({"archive": "up/broken.zip", "to": "out/b/"}))
            .unwrap_err();
        assert_eq!(error.error, "Unzip.CorruptArchive", "{}", error.cause);
        assert!(
            error
                .cause
                .starts_with("up/broken.zip: entry 'data/broken.bin': "),
            "{}",
            error.cause
        );
        assert_eq!(fixture.get("out/b/ok.txt"), b"fine");
        let missing = fixture.runtime.block_on(
            fixture
                .storage
                .head(&ObjectRef::parse("out/b/data/broken.bin").unwrap(), None),
        );
        assert!(missing.is_err(), "a corrupt entry leaves nothing behind");

        fixture.put(
            "up/evil.zip",
            archive(&[("../evil.txt".into(), b"x".to_vec())], false),
        );
        let error = fixture
            .call(json!({"archive": "up/evil.zip", "to": "out/e/"}))
            .unwrap_err();
        assert_eq!(error.error, "Unzip.InvalidEntryName");
        assert!(
            error
                .cause
                .contains("up/evil.zip: entry '../evil.txt' (#0)"),
            "{}",
            error.cause
        );

        // A method this build does not decompress (12: bzip2), in both headers.
        let mut bytes = archive(&[("x.bz2.txt".into(), b"x".to_vec())], false);
        for (signature, at) in [(b"PK\x03\x04", 8), (b"PK\x01\x02", 10)] {
            let header = bytes.windows(4).position(|w| w == signature).unwrap();
            bytes[header + at..header + at + 2].copy_from_slice(&12u16.to_le_bytes());
        }
        fixture.put("up/bzip2.zip", bytes);
        let error = fixture
            .call(json!({"archive": "up/bzip2.zip", "to": "out/z/"}))
            .unwrap_err();
        assert_eq!(error.error, "Unzip.UnsupportedArchive", "{}", error.cause);
        assert!(
            error.cause.starts_with("up/bzip2.zip: entry 'x.bz2.txt': "),
            "{}",
            error.cause
        );

        fixture.put("up/not.zip", b"this is not a zip archive".to_vec());
        let error = fixture
            .call(json!({"archive": "up/not.zip", "to": "out/n/"}))
            .unwrap_err();
        assert_eq!(error.error, "Unzip.CorruptArchive");
        assert!(error.cause.starts_with("up/not.zip: "), "{}", error.cause);

        let error = fixture
            .call(json!({"archive": "up/absent.zip", "to": "out/n/"}))
            .unwrap_err();
        assert_eq!(error.error, "Sluice.StorageError");
        assert!(error.cause.contains("up/absent.zip"), "{}", error.cause);
    }

    #[test]
    fn entry_names_stay_inside_the_folder() {
        assert_eq!(entry_key("a/b/c.txt"), Ok(Some("a/b/c.txt")));
        assert_eq!(entry_key("top.txt"), Ok(Some("top.txt")));
        assert_eq!(entry_key("a/b/"), Ok(None));
        for bad in [
            "../evil.txt",
            "a/../../evil.txt",
            "/etc/passwd",
            "a\\..\\b.txt",
            "a//b.txt",
            "./a.txt",
            "../",
            "",
        ] {
            assert!(entry_key(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn requests_are_read_with_defaults_and_checked() {
        let args = |v: Value| v.as_object().unwrap().clone();
        let request = UnzipRequest::from_args(&args(
            json!({"archive": "up/a+b%2B.zip", "to": "out/x", "url_encoded": true}),
        ))
        .unwrap();
        assert_eq!(request.archive, ObjectRef::parse("up/a b+.zip").unwrap());
        assert_eq!(request.to, "out/x/");
        assert_eq!(request.marker, 0);
        assert_eq!(request.budget, Duration::from_secs(20));
        assert_eq!(request.max_entries, None);
        let request = UnzipRequest::from_args(&args(
            json!({"archive": "up/a.zip", "to": "out/", "marker": 7, "budget_seconds": 0.5, "max_entries": 3}),
        ))
        .unwrap();
        assert_eq!((request.marker, request.max_entries), (7, Some(3)));
        assert_eq!(request.budget, Duration::from_millis(500));
        for (bad, says) in [
            (json!({"to": "out/"}), "archive"),
            (json!({"archive": "up/a.zip"}), "to"),
            (json!({"archive": "a.zip", "to": "out/"}), "archive"),
            (json!({"archive": "up/a.zip", "to": "../out/"}), "to"),
            (
                json!({"archive": "up/a.zip", "to": "out/", "marker": -1}),
                "marker",
            ),
            (
                json!({"archive": "up/a.zip", "to": "out/", "max_entries": 0}),
                "max_entries",
            ),
            (
                json!({"archive": "up/a.zip", "to": "out/", "budget_seconds": "x"}),
                "budget_seconds",
            ),
        ] {
            let error = UnzipRequest::from_args(&args(bad.clone())).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
