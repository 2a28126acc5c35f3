//! `sluice logs`: what functions printed, per function or per execution. Log files are read
//! a line at a time, rotated files first, so memory stays small however large they are;
//! `--tail N` reads a function's log from its end.

use crate::invoker::requests_path;
use anyhow::{Context, bail};
use serde_json::Value;
use sluice_functions::{function_log_path, log_files};
use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Longest log record read; a longer line (Sluice writes none) is skipped.
const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;
/// Bytes read at a time when looking for line starts from the end of a file.
const SCAN_BLOCK: usize = 64 * 1024;

/// Arguments of `sluice logs`.
#[derive(clap::Args)]
pub struct LogsArgs {
    /// A function name or an execution id.
    pub target: String,
    /// Print JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Print only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
}

/// The JSON records of a sequence of log files, one line at a time. A file that cannot be
/// opened (rotated away meanwhile) is skipped, as is a line that is not JSON.
struct Records {
    files: VecDeque<PathBuf>,
    /// Where to start in the next file opened (the first one).
    offset: u64,
    reader: Option<BufReader<File>>,
    line: Vec<u8>,
}

impl Records {
    /// The records of `files` (oldest first), starting `offset` bytes into the first.
    fn new(files: &[PathBuf], offset: u64) -> Records {
        Records {
            files: files.iter().cloned().collect(),
            offset,
            reader: None,
            line: Vec::new(),
        }
    }

    /// Opens the next file that can be opened; `None` when there is none left.
    fn open_next(&mut self) -> Option<()> {
        while let Some(path) = self.files.pop_front() {
            let offset = std::mem::take(&mut self.offset);
            if let Ok(mut file) = File::open(&path)
                && file.seek(SeekFrom::Start(offset)).is_ok()
            {
                self.reader = Some(BufReader::new(file));
                return Some(());
            }
        }
        None
    }

    /// Reads the next line of `reader` that fits [`MAX_RECORD_BYTES`] into `line`; `None` at
    /// the end of the file.
    fn next_line(reader: &mut BufReader<File>, line: &mut Vec<u8>) -> Option<()> {
        loop {
            line.clear();
            let read = reader
                .by_ref()
                .take(MAX_RECORD_BYTES as u64 + 1)
                .read_until(b'\n', line)
                .ok()?;
            if read == 0 {
                return None;
            }
            if line.len() <= MAX_RECORD_BYTES || line.ends_with(b"\n") {
                return Some(());
            }
            skip_line(reader).ok()?;
        }
    }
}

impl Iterator for Records {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        loop {
            if self.reader.is_none() {
                self.open_next()?;
            }
            let reader = self.reader.as_mut()?;
            if Self::next_line(reader, &mut self.line).is_none() {
                self.reader = None;
            } else if let Ok(record) = serde_json::from_slice(&self.line) {
                return Some(record);
            }
        }
    }
}

/// Consumes the rest of the current line.
fn skip_line(reader: &mut impl BufRead) -> io::Result<()> {
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(());
        }
        match available.iter().position(|&b| b == b'\n') {
            Some(pos) => {
                reader.consume(pos + 1);
                return Ok(());
            }
            None => {
                let len = available.len();
                reader.consume(len);
            }
        }
    }
}

/// Where the last `n` lines of `files` (oldest first) begin: the index of a file and an
/// offset in it. Files are read backwards from the newest, a block at a time.
fn tail_start(files: &[PathBuf], n: usize) -> io::Result<(usize, u64)> {
    let mut needed = n;
    for (index, path) in files.iter().enumerate().rev() {
        let mut file = File::open(path)?;
        if let Some(offset) = line_start_from_end(&mut file, &mut needed)? {
            return Ok((index, offset));
        }
    }
    Ok((0, 0))
}

/// The offset where the `needed`-th line from the end of `file` starts; when the file has
/// fewer lines, `None`, with its lines taken off `needed`.
fn line_start_from_end(file: &mut File, needed: &mut usize) -> io::Result<Option<u64>> {
    let len = file.metadata()?.len();
    if *needed == 0 {
        return Ok(Some(len));
    }
    let mut block = vec![0u8; SCAN_BLOCK];
    let mut end = len;
    while end > 0 {
        let start = end.saturating_sub(SCAN_BLOCK as u64);
        let chunk = &mut block[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        for (i, &byte) in chunk.iter().enumerate().rev() {
            let at = start + i as u64;
            // A newline starts the line after it; the file's final newline starts none.
            if byte == b'\n' && at + 1 < len {
                *needed -= 1;
                if *needed == 0 {
                    return Ok(Some(at + 1));
                }
            }
        }
        end = start;
    }
    if len > 0 {
        *needed -= 1;
        if *needed == 0 {
            return Ok(Some(0));
        }
    }
    Ok(None)
}

/// The request ids an execution's function calls were made under.
fn execution_requests(log_dir: &Path, target: &str) -> io::Result<HashSet<String>> {
    let suffix = format!(":{target}");
    Ok(Records::new(&log_files(&requests_path(log_dir)), 0)
        .filter(|r| {
            r["execution"]
                .as_str()
                .is_some_and(|e| e == target || e.ends_with(&suffix))
        })
        .filter_map(|r| r["request_id"].as_str().map(str::to_string))
        .collect())
}

/// The log records of `requests` across every function, in time order: each function's log
/// is read in order and the heads are merged.
fn execution_records(
    log_dir: &Path,
    requests: HashSet<String>,
) -> anyhow::Result<impl Iterator<Item = Value>> {
    let mut streams = Vec::new();
    let requests_file = requests_path(log_dir);
    for entry in std::fs::read_dir(log_dir)
        .with_context(|| format!("reading {}", log_dir.display()))?
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "jsonl") && path != requests_file {
            let requests = requests.clone();
            let stream = Records::new(&log_files(&path), 0).filter(move |l| {
                l["request_id"]
                    .as_str()
                    .is_some_and(|r| requests.contains(r))
            });
            streams.push(stream.peekable());
        }
    }
    Ok(std::iter::from_fn(move || {
        let earliest = streams
            .iter_mut()
            .enumerate()
            .filter_map(|(i, s)| s.peek().map(|l| (i, timestamp(l))))
            .min_by(|a, b| a.1.cmp(&b.1))?;
        streams[earliest.0].next()
    }))
}

/// A record's time, for ordering (records without one come first).
fn timestamp(record: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    record["ts"]
        .as_str()
        .and_then(|ts| chrono::DateTime::parse_from_rfc3339(ts).ok())
}

/// Prints the log lines of a function, or of every function call an execution made.
pub fn logs(data_dir: &Path, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let log_dir = data_dir.join("logs");
    let function_log = function_log_path(&log_dir, &args.target);
    if function_log.exists() {
        let files = log_files(&function_log);
        let (first, offset) = match args.tail {
            Some(n) => tail_start(&files, n)?,
            None => (0, 0),
        };
        print_all(Records::new(&files[first..], offset), args.json);
    } else {
        let requests = execution_requests(&log_dir, &args.target)?;
        if requests.is_empty() {
            bail!(
                "no function named '{}' has logs and no execution '{}' called a function",
                args.target,
                args.target
            );
        }
        let records = execution_records(&log_dir, requests)?;
        match args.tail {
            Some(n) => {
                let mut last = VecDeque::with_capacity(n.min(1024));
                for record in records {
                    if last.len() == n {
                        last.pop_front();
                    }
                    if n > 0 {
                        last.push_back(record);
                    }
                }
                print_all(last, args.json);
            }
            None => print_all(records, args.json),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_all(records: impl IntoIterator<Item = Value>, json_out: bool) {
    for l in records {
        if json_out {
            outln!("{l}");
        } else {
            outln!(
                "{} {:<10} {:<36} {}",
                l["ts"].as_str().unwrap_or(""),
                l["function"].as_str().unwrap_or(""),
                l["request_id"].as_str().unwrap_or("init"),
                l["line"].as_str().unwrap_or("")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_log(dir: &Path, name: &str, lines: std::ops::Range<usize>) -> PathBuf {
        let path = dir.join(name);
        let text: String = lines.map(|n| format!("{{\"n\":{n}}}\n")).collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn numbers(records: Records) -> Vec<u64> {
        records.map(|r| r["n"].as_u64().unwrap()).collect()
    }

    #[test]
    fn the_tail_starts_in_the_right_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        // 20,000 short lines per file: more than one scan block each.
        let files = vec![
            write_log(dir.path(), "f.jsonl.2", 0..20_000),
            write_log(dir.path(), "f.jsonl.1", 20_000..40_000),
            write_log(dir.path(), "f.jsonl", 40_000..60_000),
        ];
        for n in [0, 1, 2, 19_999, 20_000, 20_001, 45_000, 60_000, 70_000] {
            let (first, offset) = tail_start(&files, n).unwrap();
            let got = numbers(Records::new(&files[first..], offset));
            let expected: Vec<u64> = (60_000u64.saturating_sub(n as u64)..60_000).collect();
            assert_eq!(got, expected, "last {n}");
        }
    }

    #[test]
    fn a_file_without_a_final_newline_has_a_last_line_all_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.jsonl");
        std::fs::write(&path, "{\"n\":1}\n{\"n\":2}").unwrap();
        let files = vec![path];
        let (first, offset) = tail_start(&files, 1).unwrap();
        assert_eq!(numbers(Records::new(&files[first..], offset)), [2]);
    }

    #[test]
    fn overlong_and_broken_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let long = "x".repeat(MAX_RECORD_BYTES + 10);
        std::fs::write(
            &path,
            format!("{{\"n\":1}}\nnot json\n{long}\n{{\"n\":2}}\n"),
        )
        .unwrap();
        assert_eq!(numbers(Records::new(&[path], 0)), [1, 2]);
    }
}
