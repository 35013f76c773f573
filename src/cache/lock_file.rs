//! The cross-process lock the caches on one machine share: an exclusive
//! `File::lock` on a sidecar lock file that is never deleted (deleting a lock
//! file another process may have open breaks the lock), taken with a bounded
//! wait, or without waiting at all.
//!
//! [`FileTokenCache`](super::FileTokenCache) locks `{path}.lock` beside its
//! token file; [`KeyringTokenCache`](super::KeyringTokenCache), whose
//! keychain has no lock of its own, a file in the user's cache directory.
//! Every call opens its own handle, so the lock excludes other threads of
//! this process as well as other processes.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use super::CacheLock;
use crate::{Error, Result, observe};

/// Creates `dir` and its missing parents, 0700 on Unix.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens the lock file at `path`, creating it (0600 on Unix) when missing;
/// its directory must exist.
pub(crate) fn open(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map_err(|e| Error::cache_io(path, "cannot open the lock file", e))
}

/// Takes the exclusive lock on `file` (opened from `path`), waiting while
/// another holder has it, for at most `wait`; `setting` names the builder
/// method that changes the wait, for the error.
pub(crate) fn lock(file: File, path: &Path, wait: Duration, setting: &str) -> Result<CacheLock> {
    let lock_err = |what: &str, e| Error::cache_io(path, what, e);
    match file.try_lock() {
        Ok(()) => return Ok(CacheLock::new(file)),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => return Err(lock_err("cannot lock the lock file", e)),
    }
    let waiting = observe::Stopwatch::start();
    observe::debug!(cache, path = %path.display(), "waiting for the lock file (held by another process or thread)");
    let deadline = Instant::now().checked_add(wait);
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            observe::debug!(cache, path = %path.display(), waited_ms = waiting.ms(), "gave up waiting for the lock file");
            return Err(Error::Cache {
                path: Some(path.to_path_buf()),
                message: format!(
                    "the lock file is still held by another process or thread after waiting {} s \
                     (see {setting})",
                    wait.as_secs_f64()
                ),
                source: None,
            });
        }
        let pause = Duration::from_millis(fastrand::u64(10..=50));
        std::thread::sleep(left.map_or(pause, |l| l.min(pause)));
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => {
                return Err(lock_err("cannot lock the lock file", e));
            }
        }
    }
    observe::debug!(cache, path = %path.display(), waited_ms = waiting.ms(), "took the lock file");
    Ok(CacheLock::new(file))
}

/// The lock on `file` (opened from `path`) when no other holder has it;
/// `None` when one does. Never waits.
pub(crate) fn try_lock(file: File, path: &Path) -> Result<Option<CacheLock>> {
    match file.try_lock() {
        Ok(()) => Ok(Some(CacheLock::new(file))),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::cache_io(path, "cannot lock the lock file", e)),
    }
}
