//! Log files with a size cap: `NAME` grows to [`LogLimits::file_bytes`], then becomes
//! `NAME.1` (the previous `NAME.1` becomes `NAME.2`, and so on), keeping
//! [`LogLimits::files_kept`] rotated files.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Size cap of a log: how large one file grows and how many rotated files are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLimits {
    /// A file is rotated before a line would take it past this many bytes (a single longer
    /// line gets a file of its own).
    pub file_bytes: u64,
    /// Rotated files kept besides the current one; older ones are deleted.
    pub files_kept: usize,
}

impl LogLimits {
    /// The most bytes a log occupies on disk, lines longer than a file aside.
    pub fn max_bytes(&self) -> u64 {
        self.file_bytes * (self.files_kept as u64 + 1)
    }
}

impl Default for LogLimits {
    /// 10 MiB files, three rotated files kept: at most 40 MiB per log.
    fn default() -> Self {
        LogLimits {
            file_bytes: 10 * 1024 * 1024,
            files_kept: 3,
        }
    }
}

/// An append-only file of lines, rotated by its [`LogLimits`].
pub struct RotatingFile {
    path: PathBuf,
    limits: LogLimits,
    file: Option<BufWriter<File>>,
    size: u64,
}

impl RotatingFile {
    /// Opens (or creates) `path` for appending.
    pub fn open(path: impl Into<PathBuf>, limits: LogLimits) -> io::Result<RotatingFile> {
        let mut file = RotatingFile {
            path: path.into(),
            limits,
            file: None,
            size: 0,
        };
        file.reopen()?;
        Ok(file)
    }

    fn reopen(&mut self) -> io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = Some(BufWriter::new(file));
        Ok(())
    }

    /// Appends `line` and a newline, rotating first when the file would outgrow its cap.
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.limits.file_bytes {
            self.rotate()?;
        }
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                self.reopen()?;
                self.file.as_mut().expect("just opened")
            }
        };
        file.write_all(line)?;
        file.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }

    /// Writes out what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }

    /// Shifts the rotated files by one, dropping the oldest, and starts a new file.
    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        let kept = self.limits.files_kept;
        if kept == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            remove_if_present(&numbered(&self.path, kept))?;
            for n in (1..kept).rev() {
                rename_if_present(&numbered(&self.path, n), &numbered(&self.path, n + 1))?;
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        self.reopen()
    }
}

/// `path` with `.n` appended.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The files of the log at `path` that exist, oldest first: `path.N`, ..., `path.1`, `path`.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..)
        .map(|n| numbered(path, n))
        .take_while(|p| p.is_file())
        .collect();
    files.reverse();
    if path.is_file() {
        files.push(path.to_path_buf());
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_rotate_at_the_cap_and_the_oldest_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jsonl");
        let limits = LogLimits {
            file_bytes: 10,
            files_kept: 2,
        };
        let mut file = RotatingFile::open(&path, limits).unwrap();
        for line in ["aaaa", "bbbb", "cccc", "dddd", "eeee", "ffff", "gggg"] {
            file.write_line(line.as_bytes()).unwrap();
        }
        file.flush().unwrap();
        let contents: Vec<String> = log_files(&path)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert_eq!(contents, ["cccc\ndddd\n", "eeee\nffff\n", "gggg\n"]);
        assert_eq!(limits.max_bytes(), 30);

        // Reopening continues the current file where it was.
        let mut file = RotatingFile::open(&path, limits).unwrap();
        file.write_line(b"hhhh").unwrap();
        file.write_line(b"a line longer than a file").unwrap();
        file.flush().unwrap();
        let contents: Vec<String> = log_files(&path)
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert_eq!(
            contents,
            [
                "eeee\nffff\n",
                "gggg\nhhhh\n",
                "a line longer than a file\n"
            ]
        );
    }

    #[test]
    fn no_rotated_files_means_the_current_one_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.jsonl");
        assert!(log_files(&path).is_empty());
        std::fs::write(&path, "x\n").unwrap();
        assert_eq!(log_files(&path), vec![path.clone()]);
    }
}
