//! The runtimes shipped with Sluice, written to the cache directory at pool start,
//! and the command line that starts each kind of function.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::{FunctionConfig, Runtime};

const PYTHON_BOOTSTRAP: &str = include_str!("../runtimes/python/bootstrap.py");
const PYTHON_ZYGOTE: &str = include_str!("../runtimes/python/zygote.py");
const NODE_BOOTSTRAP: &str = include_str!("../runtimes/node/bootstrap.js");

/// Open files an instance may hold at once, Lambda's limit.
const OPEN_FILES: u64 = 1024;

/// Where the bootstraps were installed.
#[derive(Clone, Debug)]
pub(crate) struct Bootstraps {
    /// Directory holding the runtimes (exported as `LAMBDA_RUNTIME_DIR`).
    pub dir: PathBuf,
    python: PathBuf,
    python_zygote: PathBuf,
    node: PathBuf,
}

impl Bootstraps {
    /// Writes the bootstraps under `<cache_dir>/runtimes`, replacing stale copies
    /// atomically so that running instances never read a half-written file.
    pub(crate) fn install(cache_dir: &Path) -> io::Result<Bootstraps> {
        let dir = std::path::absolute(cache_dir.join("runtimes"))?;
        let python = write_if_changed(&dir.join("python"), "bootstrap.py", PYTHON_BOOTSTRAP)?;
        let python_zygote = write_if_changed(&dir.join("python"), "zygote.py", PYTHON_ZYGOTE)?;
        let node = write_if_changed(&dir.join("node"), "bootstrap.js", NODE_BOOTSTRAP)?;
        Ok(Bootstraps {
            dir,
            python,
            python_zygote,
            node,
        })
    }

    /// Program and arguments that start `config`'s runtime; `code_dir` is absolute.
    pub(crate) fn command(
        &self,
        config: &FunctionConfig,
        code_dir: &Path,
    ) -> (PathBuf, Vec<PathBuf>) {
        match config.runtime {
            Runtime::Python3 => (
                "python3".into(),
                vec![
                    self.python.clone(),
                    "--limits".into(),
                    python_limits(config).into(),
                ],
            ),
            Runtime::Node => {
                let mut args: Vec<PathBuf> = node_heap_flags(config.memory_mb)
                    .into_iter()
                    .map(PathBuf::from)
                    .collect();
                args.push(self.node.clone());
                ("node".into(), args)
            }
            Runtime::Provided => {
                let handler = config.handler.trim();
                let handler = if handler.is_empty() {
                    "bootstrap"
                } else {
                    handler
                };
                (code_dir.join(handler), Vec::new())
            }
        }
    }

    /// The zygote script of `config`'s runtime, when it has one and `fork` is on.
    pub(crate) fn zygote(&self, config: &FunctionConfig) -> Option<PathBuf> {
        (config.fork && config.runtime == Runtime::Python3).then(|| self.python_zygote.clone())
    }
}

/// The limits the Python runtime applies before loading the handler: `memory_mb` as the
/// address space (none when 0) and [`OPEN_FILES`] open files, as `as=BYTES,nofile=N`.
pub(crate) fn python_limits(config: &FunctionConfig) -> String {
    let mut limits = format!("nofile={OPEN_FILES}");
    if config.memory_mb > 0 {
        let bytes = u64::from(config.memory_mb) * 1024 * 1024;
        limits.push_str(&format!(",as={bytes}"));
    }
    limits
}

/// V8's heap sizes for `memory_mb` as Lambda's Node runtime sets them: a tenth of the memory
/// for the young generation (two semi-spaces of a twentieth each), the rest for the old
/// generation, whose exhaustion is V8's fatal "JavaScript heap out of memory". None when 0.
pub(crate) fn node_heap_flags(memory_mb: u32) -> Vec<String> {
    if memory_mb == 0 {
        return Vec::new();
    }
    let young = memory_mb / 10;
    vec![
        format!("--max-semi-space-size={}", young / 2),
        format!("--max-old-space-size={}", memory_mb - young),
    ]
}

/// What V8 prints on stderr when the old generation is exhausted, just before it aborts.
pub(crate) const NODE_OUT_OF_MEMORY: &str = "JavaScript heap out of memory";

/// A command running `program` with at most [`OPEN_FILES`] open files (soft and hard, never
/// above Sluice's own hard limit), for runtimes that cannot lower their own limit: `/bin/sh`
/// sets it with `ulimit` and `exec`s `program` in its place, same process, removing the
/// `PWD` and `SHLVL` a shell exports so that the environment stays the instance's own.
pub(crate) fn with_open_files_limit(program: &Path) -> tokio::process::Command {
    use rustix::process::{Resource, getrlimit};
    let limit = getrlimit(Resource::Nofile)
        .maximum
        .map_or(OPEN_FILES, |hard| hard.min(OPEN_FILES));
    let mut command = tokio::process::Command::new("/bin/sh");
    command
        .args([
            "-c",
            "ulimit -n \"$1\" && shift && unset PWD SHLVL && exec \"$@\"",
            "sh",
        ])
        .arg(limit.to_string())
        .arg(program);
    command
}

/// The file `program` names on `path` (a `PATH` value), when it is a native (ELF)
/// executable rather than a script such as a version manager's shim. Symbolic links are
/// kept, so that an interpreter in a virtual environment still finds its environment.
pub(crate) fn native_on_path(program: &Path, path: Option<&str>) -> Option<PathBuf> {
    let found = path?
        .split(':')
        .map(Path::new)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())?;
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(&found).ok()?;
    std::io::Read::read_exact(&mut file, &mut magic).ok()?;
    (magic == *b"\x7fELF").then_some(found)
}

fn write_if_changed(dir: &Path, name: &str, content: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    if std::fs::read_to_string(&path).is_ok_and(|old| old == content) {
        return Ok(path);
    }
    let tmp = dir.join(format!(".{name}.{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_heap_follows_lambdas_split_of_memory() {
        assert_eq!(
            node_heap_flags(128),
            ["--max-semi-space-size=6", "--max-old-space-size=116"]
        );
        assert_eq!(
            node_heap_flags(1024),
            ["--max-semi-space-size=51", "--max-old-space-size=922"]
        );
        assert!(node_heap_flags(0).is_empty());
    }

    #[test]
    fn only_native_executables_on_path_skip_the_probe() {
        let dir = tempfile::tempdir().unwrap();
        let (scripts, natives) = (dir.path().join("shims"), dir.path().join("bin"));
        std::fs::create_dir_all(&scripts).unwrap();
        std::fs::create_dir_all(&natives).unwrap();
        std::fs::write(scripts.join("python3"), "#!/bin/sh\nexec python3 \"$@\"\n").unwrap();
        let native = std::env::current_exe().unwrap();
        std::fs::copy(&native, natives.join("python3")).unwrap();
        let program = Path::new("python3");

        let shim_first = format!("relative:{}:{}", scripts.display(), natives.display());
        assert_eq!(native_on_path(program, Some(&shim_first)), None);
        let native_first = format!("{}:{}", natives.display(), scripts.display());
        assert_eq!(
            native_on_path(program, Some(&native_first)),
            Some(natives.join("python3"))
        );
        assert_eq!(
            native_on_path(Path::new("absent"), Some(&native_first)),
            None
        );
        assert_eq!(native_on_path(program, None), None);
    }
}
