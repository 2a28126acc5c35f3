//! The spare instance of a function whose runtime has no zygote (Node.js): one instance
//! started ahead of demand, whose process start, bootstrap and handler load are done by
//! the time a cold start takes it. The next spare is started once the call that took
//! one has ended, so that starting it does not compete with that call.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use tokio::task::JoinHandle;

use crate::error::InvokeError;
use crate::instance::Instance;
use crate::pool::lock;

/// An instance being started or waiting, with the handler file's modification time when it
/// started.
struct Spare {
    start: JoinHandle<Result<Instance, InvokeError>>,
    handler_mtime: Option<SystemTime>,
}

/// Holds at most one spare instance of a function.
pub(crate) struct SpareSlot {
    handler_file: Option<PathBuf>,
    current: Mutex<Option<Spare>>,
}

impl SpareSlot {
    /// A slot for the handler loaded from `handler_file` (a changed file discards the spare).
    pub(crate) fn new(handler_file: Option<PathBuf>) -> SpareSlot {
        SpareSlot {
            handler_file,
            current: Mutex::new(None),
        }
    }

    fn handler_mtime(&self) -> Option<SystemTime> {
        let file = self.handler_file.as_ref()?;
        std::fs::metadata(file).and_then(|m| m.modified()).ok()
    }

    /// Starts a spare with `start` unless there is one already.
    pub(crate) fn refill<F>(&self, start: F)
    where
        F: Future<Output = Result<Instance, InvokeError>> + Send + 'static,
    {
        let mut current = lock(&self.current);
        if current.is_none() {
            *current = Some(Spare {
                start: tokio::spawn(start),
                handler_mtime: self.handler_mtime(),
            });
        }
    }

    /// The spare, once started, if it is alive and runs the current handler file; `None`
    /// (the spare discarded) otherwise, and when there is none.
    pub(crate) async fn take(&self) -> Option<Instance> {
        let spare = lock(&self.current).take()?;
        let fresh = spare.handler_mtime == self.handler_mtime();
        match spare.start.await {
            Ok(Ok(instance)) if fresh && instance.is_alive() => Some(instance),
            Ok(Ok(stale)) => {
                tracing::debug!(pid = stale.pid, "discarding a spare instance");
                None
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e.error, "the spare instance did not start");
                None
            }
            Err(_) => None,
        }
    }

    /// Stops the spare, waiting for it to have started first so that no process is left.
    pub(crate) async fn stop(&self) {
        let Some(spare) = lock(&self.current).take() else {
            return;
        };
        if let Ok(Ok(instance)) = spare.start.await {
            instance.kill();
            instance.wait_exit(std::time::Duration::from_secs(5)).await;
        }
    }
}

/// The file Node loads for `handler` (`path/to/module.export`) in `code_dir`, as the
/// bootstrap resolves it: `module.mjs`, `module.cjs`, `module.js`, then `module/index.js`.
pub(crate) fn node_handler_file(code_dir: &Path, handler: &str) -> Option<PathBuf> {
    let slash = handler.rfind('/').map_or(0, |i| i + 1);
    let dot = slash + handler[slash..].find('.')?;
    let base = code_dir.join(&handler[..dot]);
    let with = |ext: &str| PathBuf::from(format!("{}{ext}", base.display()));
    [
        with(".mjs"),
        with(".cjs"),
        with(".js"),
        base.join("index.js"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_handler_files_resolve_as_the_bootstrap_does() {
        let dir = tempfile::tempdir().unwrap();
        let code = dir.path();
        std::fs::create_dir_all(code.join("lib/v1.2")).unwrap();
        std::fs::write(code.join("index.js"), "").unwrap();
        std::fs::write(code.join("lib/v1.2/app.mjs"), "").unwrap();
        std::fs::create_dir_all(code.join("pkg")).unwrap();
        std::fs::write(code.join("pkg/index.js"), "").unwrap();
        assert_eq!(
            node_handler_file(code, "index.handler"),
            Some(code.join("index.js"))
        );
        assert_eq!(
            node_handler_file(code, "lib/v1.2/app.handlers.main"),
            Some(code.join("lib/v1.2/app.mjs"))
        );
        assert_eq!(
            node_handler_file(code, "pkg.handler"),
            Some(code.join("pkg/index.js"))
        );
        assert_eq!(node_handler_file(code, "missing.handler"), None);
        assert_eq!(node_handler_file(code, "nodot"), None);
    }
}
