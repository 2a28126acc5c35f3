//! The runtimes shipped with Sluice, written to the cache directory at pool start,
//! and the command line that starts each kind of function.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::{FunctionConfig, Runtime};

const PYTHON_BOOTSTRAP: &str = include_str!("../runtimes/python/bootstrap.py");
const NODE_BOOTSTRAP: &str = include_str!("../runtimes/node/bootstrap.js");

/// Where the bootstraps were installed.
#[derive(Clone, Debug)]
pub(crate) struct Bootstraps {
    /// Directory holding the runtimes (exported as `LAMBDA_RUNTIME_DIR`).
    pub dir: PathBuf,
    python: PathBuf,
    node: PathBuf,
}

impl Bootstraps {
    /// Writes the bootstraps under `<cache_dir>/runtimes`, replacing stale copies
    /// atomically so that running instances never read a half-written file.
    pub(crate) fn install(cache_dir: &Path) -> io::Result<Bootstraps> {
        let dir = std::path::absolute(cache_dir.join("runtimes"))?;
        let python = write_if_changed(&dir.join("python"), "bootstrap.py", PYTHON_BOOTSTRAP)?;
        let node = write_if_changed(&dir.join("node"), "bootstrap.js", NODE_BOOTSTRAP)?;
        Ok(Bootstraps { dir, python, node })
    }

    /// Program and arguments that start `config`'s runtime; `code_dir` is absolute.
    pub(crate) fn command(
        &self,
        config: &FunctionConfig,
        code_dir: &Path,
    ) -> (PathBuf, Vec<PathBuf>) {
        match config.runtime {
            Runtime::Python3 => ("python3".into(), vec![self.python.clone()]),
            Runtime::Node => ("node".into(), vec![self.node.clone()]),
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
