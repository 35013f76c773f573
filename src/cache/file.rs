//! [`FileTokenCache`]: a token in a JSON file.
//!
//! In brief (the struct's documentation, which users see, has the details):
//! writes are atomic (temporary file in the same directory, fsync, rename,
//! directory fsync); the file is 0600 from its first byte and new parent
//! directories 0700; a file that exists but does not hold a token is an error
//! naming the path, never `None`, and is left alone until the next `set`; and
//! `lock` takes an exclusive `File::lock` on the never-deleted sidecar
//! `{path}.lock`, which serialises threads and processes alike, waiting at
//! most the lock wait.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{CacheLock, Entry, TokenCache, lock_file};
use crate::{Error, Result};

/// How old a temporary file must be before [`FileTokenCache::set`] removes it
/// as left behind by a killed writer (a live write takes milliseconds).
const STALE_TEMP_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// The default file name, **relative to the current working directory**
/// (the Python library's): a program started from another directory (cron,
/// a service manager, another shell) does not find it. Prefer
/// [`FileTokenCache::in_config_dir`].
pub const DEFAULT_PATH: &str = ".spotify_sdk_token.json";

/// The file name [`FileTokenCache::in_config_dir`] uses inside the app's
/// config directory.
pub const CONFIG_FILE_NAME: &str = "spotify-token.json";

/// The largest token file [`FileTokenCache::get`](TokenCache::get) reads
/// (1 MiB); a real one is a few hundred bytes.
const MAX_FILE_SIZE: u64 = 1 << 20;

/// The default lock wait: as long as a Redis lock's (180 s), above the
/// slowest refresh the flows' defaults allow (150 s).
const DEFAULT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(180);

/// How many temporary names `set` tries before giving up (a collision needs the
/// same pid and the same 64-bit random suffix, so one is plenty in practice).
const TEMP_ATTEMPTS: usize = 8;

/// A token persisted in a JSON file (the Python library's format), safe to
/// share between processes.
///
/// ```no_run
/// use spotify_auth::{FileTokenCache, TokenCache};
///
/// let cache = FileTokenCache::new("/home/me/.config/my-app/spotify-token.json");
/// let _guard = cache.lock()?; // waits for other processes sharing the file
/// if let Some(token) = cache.get()? {
///     println!("cached token expires in {:?}", token.expires_in());
/// }
/// # Ok::<(), spotify_auth::Error>(())
/// ```
///
/// What it guarantees:
///
/// - **Atomic writes.** [`set`](TokenCache::set) writes a temporary file in the
///   same directory, flushes it to disk, renames it over the target and then
///   flushes the directory. A reader, or a process that crashes mid-write,
///   sees the old token or the new one, never a mix or a truncated file. When
///   a write fails the temporary file is removed and the old file is untouched.
///   (A process killed mid-write cannot remove its temporary file: it stays
///   beside the target as `.{name}.tmp.{pid}.{random}`, also mode 0600.)
/// - **Private from the first byte.** On Unix the file is created with mode
///   0600 (and missing parent directories with 0700); it is never widened
///   first and narrowed later. Replacing a file that an older tool wrote with
///   wider permissions leaves a 0600 file, since the rename replaces it.
/// - **Corrupt files are errors.** A file that exists but cannot be read, is
///   empty, truncated, not a token, not a regular file, or larger than 1 MiB is
///   an [`Error::Cache`] naming the path and the problem (never the file's
///   content), not a missing token. The file is left as it is until the next
///   explicit [`set`](TokenCache::set) or [`clear`](TokenCache::clear).
/// - **A cross-process lock.** [`lock`](TokenCache::lock) takes an exclusive
///   lock on the sidecar file [`lock_path`](Self::lock_path) (`{path}.lock`),
///   so that processes, and threads, sharing the file refresh one at a time.
///   A waiter gives up after the lock wait (default 180 s, see
///   [`with_lock_wait`](Self::with_lock_wait)) with an [`Error::Cache`]:
///   a process stopped while holding it (`SIGSTOP`, a suspended laptop)
///   cannot hang the others for good. The lock is `flock`-style
///   (`File::lock`): on NFS it works only where the server supports such
///   locks (NFSv4; on older mounts Linux emulates it with `fcntl` locks,
///   and some mounts refuse it with an error); on Windows it is a
///   `LockFileEx` lock on the sidecar.
/// - **A logout is a record.** [`clear`](TokenCache::clear) writes a logout
///   record (a JSON object without `access_token`, which the Python
///   library reads as "no token") rather than removing the file: a removed
///   file means the data was lost, and any instance still holding the
///   login writes it back.
///
/// `Debug` shows the path and the lock wait.
#[derive(Debug, Clone)]
pub struct FileTokenCache {
    path: PathBuf,
    lock_wait: std::time::Duration,
}

impl FileTokenCache {
    /// A cache at `path`. Nothing is touched until the first call: the file and
    /// its missing parent directories are created by the first store.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }

    /// A cache in the user's config directory for the app `app_name`:
    /// `spotify-token.json` in `$XDG_CONFIG_HOME/{app}` (default
    /// `~/.config/{app}`) on Linux, `~/Library/Application
    /// Support/{app}` on macOS, `%APPDATA%\{app}\config` on Windows (the
    /// `directories` crate's `ProjectDirs::config_dir`). The same file
    /// whatever directory the program is started from, unlike
    /// [`default`](Self::default), which is relative to the working
    /// directory. Nothing is created until the first store (the directory
    /// is made 0700).
    ///
    /// Errors: [`Error::Config`] (setting `token_cache`) when `app_name` is
    /// empty or not a plain name (a path separator, `.` or `..`), or when the
    /// platform has no home directory to put it in.
    ///
    /// ```no_run
    /// use spotify_auth::FileTokenCache;
    /// let cache = FileTokenCache::in_config_dir("my-app")?;
    /// println!("the login lives in {}", cache.path().display());
    /// # Ok::<(), spotify_auth::Error>(())
    /// ```
    pub fn in_config_dir(app_name: &str) -> Result<Self> {
        let plain = !app_name.is_empty()
            && app_name != "."
            && app_name != ".."
            && !app_name.contains(['/', '\\', '\0']);
        if !plain {
            return Err(Error::Config {
                setting: "token_cache",
                message: "the app name for FileTokenCache::in_config_dir must be a plain \
                          directory name (not empty, no path separator)"
                    .into(),
            });
        }
        let dirs =
            directories::ProjectDirs::from("", "", app_name).ok_or_else(|| Error::Config {
                setting: "token_cache",
                message: "no home directory to find the config directory in: give the cache a \
                      path (FileTokenCache::new)"
                    .into(),
            })?;
        Ok(Self::new(dirs.config_dir().join(CONFIG_FILE_NAME)))
    }

    /// How long [`lock`](TokenCache::lock) waits for another holder (another
    /// process or thread) before it fails with an [`Error::Cache`] (default
    /// 180 s). Set it above your slowest refresh.
    pub fn with_lock_wait(mut self, wait: std::time::Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The lock wait in use.
    pub fn lock_wait(&self) -> std::time::Duration {
        self.lock_wait
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file's path: the cache's path with `.lock` appended
    /// (`token.json.lock`). It is created by the first
    /// [`lock`](TokenCache::lock) and never deleted, since deleting a lock
    /// file that another process may have open breaks the lock.
    pub fn lock_path(&self) -> PathBuf {
        let mut name = OsString::from(self.path.as_os_str());
        name.push(".lock");
        PathBuf::from(name)
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::Cache {
            path: Some(self.path.clone()),
            message: message.into(),
            source: None,
        }
    }

    fn io_error(&self, what: &str, e: io::Error) -> Error {
        Error::cache_io(&self.path, what, e)
    }

    /// The directory holding the file (`.` for a bare file name).
    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    /// Creates the file's missing parent directories (0700 on Unix).
    fn create_dir(&self) -> Result<()> {
        lock_file::create_private_dir(self.dir())
            .map_err(|e| self.io_error("cannot create the parent directory", e))
    }

    /// Creates a new, empty, private temporary file beside the target.
    fn create_temp(&self) -> Result<(File, TempFile)> {
        let name = self
            .path
            .file_name()
            .ok_or_else(|| self.error("the path has no file name"))?;
        let dir = self.dir();
        let mut last_err = None;
        for _ in 0..TEMP_ATTEMPTS {
            let mut temp_name = OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(
                ".tmp.{}.{:016x}",
                std::process::id(),
                fastrand::u64(..)
            ));
            let temp_path = dir.join(temp_name);
            match new_private_file().open(&temp_path) {
                Ok(file) => return Ok((file, TempFile(Some(temp_path)))),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => return Err(self.io_error("cannot create a temporary file", e)),
            }
        }
        let e = last_err.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists));
        Err(self.io_error("cannot create a temporary file", e))
    }

    /// Removes temporary files a killed writer left behind (each holds a copy
    /// of a token): this cache's `.{name}.tmp.*` files older than
    /// [`STALE_TEMP_AGE`], which no live writer can still be using. Best
    /// effort: failures are ignored.
    fn sweep_stale_temps(&self) {
        let Some(name) = self.path.file_name() else {
            return;
        };
        let mut prefix = OsString::from(".");
        prefix.push(name);
        prefix.push(".tmp.");
        let Some(prefix) = prefix.to_str() else {
            return;
        };
        let Ok(entries) = fs::read_dir(self.dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let is_ours = file_name.to_str().is_some_and(|n| n.starts_with(prefix));
            let is_stale = || {
                entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > STALE_TEMP_AGE)
            };
            if is_ours && is_stale() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Writes and flushes the entry to the temporary file, then closes it.
    fn write_temp(&self, mut file: File, entry: &Entry) -> Result<()> {
        file.write_all(entry.to_json().as_bytes())
            .map_err(|e| self.io_error("cannot write a temporary file", e))?;
        file.sync_all()
            .map_err(|e| self.io_error("cannot sync a temporary file", e))
    }

    /// Flushes the directory entry changes (a rename or a removal) to disk.
    fn sync_dir(&self) -> Result<()> {
        #[cfg(unix)]
        {
            let synced = File::open(self.dir()).and_then(|d| d.sync_all());
            match synced {
                Ok(()) => {}
                // Some file systems cannot fsync a directory; nothing more to do.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
                    ) => {}
                Err(e) => return Err(self.io_error("cannot sync the directory", e)),
            }
        }
        Ok(())
    }

    /// Opens (creating it 0600 with its parent directories when missing)
    /// the lock file.
    fn open_lock_file(&self) -> Result<(File, PathBuf)> {
        self.create_dir()?;
        let lock_path = self.lock_path();
        let file = lock_file::open(&lock_path)?;
        Ok((file, lock_path))
    }
}

impl Default for FileTokenCache {
    /// A cache at `.spotify_sdk_token.json` **in the current working
    /// directory** (the Python library's default): run from another
    /// directory, the program finds no login there. Prefer
    /// [`FileTokenCache::in_config_dir`] for anything but a one-off script.
    fn default() -> Self {
        Self::new(DEFAULT_PATH)
    }
}

impl TokenCache for FileTokenCache {
    /// What the file holds; `None` only when the file does not exist.
    ///
    /// Files that exist but hold neither a token nor a record (unreadable,
    /// empty, truncated, corrupt, not a regular file, over 1 MiB) are an
    /// [`Error::Cache`] naming the path, and are left as they are.
    fn read(&self) -> Result<Option<Entry>> {
        // Check the type before opening: opening a FIFO would block.
        let meta = match fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error("cannot read", e)),
        };
        if meta.is_dir() {
            return Err(self.error("is a directory, not a token file"));
        }
        if !meta.is_file() {
            return Err(self.error("is not a regular file"));
        }
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_error("cannot open", e)),
        };
        // Re-check on the open handle: the path may have been replaced since.
        let meta = file
            .metadata()
            .map_err(|e| self.io_error("cannot read", e))?;
        if !meta.is_file() {
            return Err(self.error("is not a regular file"));
        }
        if meta.len() > MAX_FILE_SIZE {
            return Err(self.error(format!(
                "file too large ({} bytes; a token file is at most {MAX_FILE_SIZE} bytes)",
                meta.len()
            )));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io_error("cannot read", e))?;
        if bytes.len() as u64 > MAX_FILE_SIZE {
            return Err(self.error(format!(
                "file too large (over {MAX_FILE_SIZE} bytes; a token file is at most {MAX_FILE_SIZE} bytes)"
            )));
        }
        if bytes.trim_ascii().is_empty() {
            return Err(self.error("file is empty (not a valid token file)"));
        }
        Entry::from_json(&bytes)
            .map(Some)
            .map_err(|m| self.error(m))
    }

    /// Replaces the file's content atomically: a private temporary file in
    /// the same directory, fsync, rename over the file, fsync of the
    /// directory. Missing parent directories are created. When a step
    /// before the rename fails, the old file is untouched and the temporary
    /// file removed; when only the final directory fsync fails, the new
    /// content is in place but may not survive a power loss, and the error
    /// says so. The lock is not checked: every writer of the file runs
    /// under it.
    fn write(&self, entry: &Entry, _lock: &CacheLock) -> Result<()> {
        self.create_dir()?;
        let (file, mut temp) = self.create_temp()?;
        // `file` is closed before `temp` can remove it (Windows cannot remove
        // an open file).
        self.write_temp(file, entry)?;
        let temp_path = temp.0.as_deref().expect("the temporary file is armed");
        fs::rename(temp_path, &self.path).map_err(|e| self.io_error("cannot replace", e))?;
        temp.disarm();
        self.sync_dir()?;
        self.sweep_stale_temps();
        Ok(())
    }

    /// Takes an exclusive lock on [`lock_path`](FileTokenCache::lock_path)
    /// (created 0600 with its parent directories when missing), waiting
    /// while another process or thread holds it, for at most the lock wait;
    /// dropping the returned guard releases it.
    ///
    /// Every call opens its own handle, so the lock excludes other threads of
    /// this process as well as other processes. It is not reentrant: calling
    /// `lock` again on the same thread while holding the guard waits out
    /// the lock wait and fails.
    fn lock(&self) -> Result<CacheLock> {
        let (file, lock_path) = self.open_lock_file()?;
        lock_file::lock(
            file,
            &lock_path,
            self.lock_wait,
            "FileTokenCache::with_lock_wait",
        )
    }

    /// The lock when no other process or thread holds it; `None` when one
    /// does. Never waits.
    fn try_lock(&self) -> Result<Option<CacheLock>> {
        let (file, lock_path) = self.open_lock_file()?;
        lock_file::try_lock(file, &lock_path)
    }
}

/// Options that create a new file, failing if it exists; 0600 on Unix from
/// the moment it exists.
fn new_private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// A temporary file that is removed when dropped, unless disarmed.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}
