//! [`KeyringTokenCache`]: a login in the OS credential store.
//!
//! In brief (the struct's documentation, which users see, has the details):
//! one keychain item holds what [`Entry::to_json`] gives, or, when that is
//! longer than one item may hold (Windows: 2,560 bytes), a small manifest
//! naming the parts it was split into; the parts are written first, under
//! names the current value does not use, and the manifest last, so a
//! reader sees the old value or the new one, and a torn split (a part
//! missing or not matching the manifest's SHA-256) is an error, never a
//! wrong token. The keychain has no lock, so `lock` takes a lock file
//! (`lock_file.rs`, shared with `FileTokenCache`).
//!
//! keyring 4's own `Entry` installs a process-wide default store; this
//! cache holds its store instead (keyring-core's `Entry::new_in_store`), so
//! nothing is installed process-wide and a caller can give any keyring-core
//! store (`in_store`), the mock one in tests.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use keyring_core::{CredentialStore, Entry as Item, Error as KeyringError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CacheLock, Entry, TokenCache, lock_file};
use crate::error::ErrorSource;
use crate::{Error, Result};

/// The default lock wait, as [`FileTokenCache`](super::FileTokenCache)'s:
/// above the slowest refresh the flows' defaults allow (150 s).
const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(180);

/// The smallest item size [`KeyringTokenCache::with_max_item_len`] accepts
/// (a manifest must fit in one item).
const MIN_ITEM_LEN: usize = 256;

/// The most parts a value is split into: with 2,560-byte items, 160 KiB,
/// hundreds of times a real login.
const MAX_PARTS: usize = 64;

/// How often `read` re-reads a split value whose parts did not match its
/// manifest (a writer replaced them meanwhile) before calling it torn.
const READ_ATTEMPTS: usize = 3;

/// A login stored in the operating system's credential store: the Secret
/// Service on Linux and the BSDs (GNOME Keyring, KWallet, KeePassXC), the
/// Keychain on macOS, the Credential Manager on Windows.
///
/// ```no_run
/// use spotify_auth::{KeyringTokenCache, TokenCache};
///
/// // The item "my-app" / "alice" in the user's keychain.
/// let cache = KeyringTokenCache::new("my-app", "alice");
/// cache.check()?; // is there a keychain? (optional: every call says so too)
/// if let Some(token) = cache.get()? {
///     println!("cached token expires in {:?}", token.expires_in());
/// }
/// # Ok::<(), spotify_auth::Error>(())
/// ```
///
/// Give it to a flow with `.token_cache(KeyringTokenCache::new(...))`.
///
/// # Naming
///
/// The login is the generic password item of `service` and `user` (Secret
/// Service attributes `service` and `username`, label
/// `keyring:{user}@{service}`; macOS: service and account; Windows: target
/// `{user}.{service}`), as keyring 4 names them: pick your application's name
/// as the service and one user per login (the Spotify user, or the profile).
/// A value longer than one item holds is split: the parts are the items of
/// `service` and `{user}#part-a0`, `{user}#part-a1`, … (or `-b…`, the two
/// sets alternate), and the item of `user` holds a manifest naming them.
///
/// # What it guarantees
///
/// - **All or nothing.** A value that fits one item is written with one
///   call to the keychain. A longer one (above
///   [`max_item_len`](Self::max_item_len), 2,560 bytes by default: the
///   Windows Credential Manager's limit for a secret) is split: its parts
///   are written first under the names the current value does not use, then
///   the manifest (the part count, length and SHA-256) replaces the item of
///   `user` in one call; the old parts are then removed. A reader sees,
///   and a writer that dies half way leaves, the old value or the new one. A
///   split whose parts are missing or do not match the manifest reads as an
///   [`Error::Cache`], never as a token. Real logins are well under the
///   limit; records of ended logins are too.
/// - **Nothing is never a logout.** A logout ([`clear`](TokenCache::clear))
///   writes a record; the item is never deleted by this cache, so an empty
///   keychain means the data was lost, as the [`TokenCache`] contract says.
/// - **Errors, not guesses.** An item that holds neither a token nor a
///   record, a keychain that is locked or refuses access, or one that cannot
///   be reached (no Secret Service on the session bus) is an
///   [`Error::Cache`] naming the item (`keychain item "my-app" / "alice"`),
///   never its value; the platform's error is its
///   [`source`](std::error::Error::source).
/// - **A cross-process lock.** The keychain has none, so
///   [`lock`](TokenCache::lock) takes an exclusive `File::lock` on a lock
///   file, as [`FileTokenCache`](super::FileTokenCache) does (bounded wait,
///   [`try_lock`](TokenCache::try_lock) never waits): by default
///   [`default_lock_path`](Self::default_lock_path), in the user's cache
///   directory and named after the item, so that every program using the
///   same item takes the same lock. The lock file holds nothing.
/// - **Nothing process-wide.** Each cache holds its own connection to the
///   credential store, made at its first use (and again after a failure);
///   keyring-core's process-wide default store is neither read nor set.
///
/// `Debug` shows the service, the user, the lock file and the limits, never
/// a value.
#[derive(Clone)]
pub struct KeyringTokenCache {
    service: String,
    user: String,
    backend: Backend,
    lock_path: Option<PathBuf>,
    lock_wait: Duration,
    max_item_len: usize,
}

/// Where the items are.
#[derive(Clone)]
enum Backend {
    /// The platform's credential store, connected at first use (shared by
    /// the clones of one cache).
    Platform(Arc<Mutex<Option<Arc<CredentialStore>>>>),
    /// A store the caller gave.
    Given(Arc<CredentialStore>),
}

impl KeyringTokenCache {
    /// The largest value one item holds by default: 2,560 bytes, the
    /// Windows Credential Manager's limit for a secret
    /// (`CRED_MAX_CREDENTIAL_BLOB_SIZE`, which keyring 4's Windows store
    /// enforces). The same on every platform, so that a value is stored
    /// the same way everywhere.
    pub const DEFAULT_MAX_ITEM_LEN: usize = 2560;

    /// The item of `service` and `user` in the platform's credential store
    /// (see [Naming](#naming)). Nothing is touched until the first call; the
    /// lock file is [`default_lock_path`](Self::default_lock_path).
    pub fn new(service: impl Into<String>, user: impl Into<String>) -> Self {
        Self::with_backend(Backend::Platform(Arc::default()), service, user)
    }

    /// The item of `service` and `user` in `store`, any keyring-core 1
    /// credential store (another platform store, a test double such as
    /// `keyring_core::mock::Store`).
    pub fn in_store(
        store: Arc<CredentialStore>,
        service: impl Into<String>,
        user: impl Into<String>,
    ) -> Self {
        Self::with_backend(Backend::Given(store), service, user)
    }

    fn with_backend(backend: Backend, service: impl Into<String>, user: impl Into<String>) -> Self {
        let (service, user) = (service.into(), user.into());
        Self {
            lock_path: Self::default_lock_path(&service, &user),
            service,
            user,
            backend,
            lock_wait: DEFAULT_LOCK_WAIT,
            max_item_len: Self::DEFAULT_MAX_ITEM_LEN,
        }
    }

    /// The lock file to use instead of the default one. Every program
    /// sharing the item must use the same.
    pub fn with_lock_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.lock_path = Some(path.into());
        self
    }

    /// How long [`lock`](TokenCache::lock) waits for another holder before
    /// it fails with an [`Error::Cache`] (default 180 s). Set it above your
    /// slowest refresh.
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The largest value stored in one item (default
    /// [`DEFAULT_MAX_ITEM_LEN`](Self::DEFAULT_MAX_ITEM_LEN)); longer ones
    /// are split. At least 256 bytes (smaller values are raised to that).
    /// Every program sharing the item may use its own: a reader follows
    /// whatever split it finds.
    pub fn with_max_item_len(mut self, bytes: usize) -> Self {
        self.max_item_len = bytes.max(MIN_ITEM_LEN);
        self
    }

    /// The service the item is stored under.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The user the item is stored under.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The lock file, `None` when there is no default one (no home
    /// directory) and none was given: [`lock`](TokenCache::lock) then fails
    /// saying so.
    pub fn lock_path(&self) -> Option<&Path> {
        self.lock_path.as_deref()
    }

    /// The lock wait in use.
    pub fn lock_wait(&self) -> Duration {
        self.lock_wait
    }

    /// The largest value stored in one item.
    pub fn max_item_len(&self) -> usize {
        self.max_item_len
    }

    /// The default lock file of the item of `service` and `user`:
    /// `spotify-auth/keychain-locks/{service}.{user}.{hash}.lock` in the
    /// user's cache directory (`$XDG_CACHE_HOME` or `~/.cache` on Linux,
    /// `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows), where
    /// `{hash}` tells apart names that differ only in characters a file
    /// name cannot hold. `None` without a home directory.
    pub fn default_lock_path(service: &str, user: &str) -> Option<PathBuf> {
        let dirs = directories::BaseDirs::new()?;
        Some(
            dirs.cache_dir()
                .join("spotify-auth")
                .join("keychain-locks")
                .join(lock_file_name(service, user)),
        )
    }

    /// Whether the credential store can be used: connects to it (once) and
    /// looks the item up, without creating or changing anything. `Ok` when
    /// the store answered, whether or not the item exists; the error says
    /// why not (no keychain on this platform, no Secret Service on the
    /// session bus, a locked keychain).
    pub fn check(&self) -> Result<()> {
        let store = self.store()?;
        self.get_item(&store, &self.user).map(drop)
    }

    /// The platform's credential store, the one [`new`](Self::new) uses,
    /// connected now: for other secrets an application keeps beside the
    /// login (the `spotify-auth` tool keeps a confidential app's client
    /// secret there), through keyring-core 1's `Entry::new_in_store`. An
    /// [`Error::Cache`] when there is none (no keychain on this platform, no
    /// Secret Service on the session bus).
    pub fn platform_store() -> Result<Arc<CredentialStore>> {
        platform_store().map_err(|e| keyring_error("the credential store", "cannot open it", e))
    }

    /// `keychain item "service" / "user"`, for messages.
    fn name(&self, user: &str) -> String {
        format!("keychain item {:?} / {:?}", self.service, user)
    }

    fn error(&self, message: impl fmt::Display) -> Error {
        Error::Cache {
            path: None,
            message: format!("{}: {message}", self.name(&self.user)),
            source: None,
        }
    }

    fn keyring_error(&self, user: &str, what: &str, error: KeyringError) -> Error {
        keyring_error(&self.name(user), what, error)
    }

    /// The credential store, connected on first use (again after a
    /// failure).
    fn store(&self) -> Result<Arc<CredentialStore>> {
        match &self.backend {
            Backend::Given(store) => Ok(Arc::clone(store)),
            Backend::Platform(slot) => {
                let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(store) = &*slot {
                    return Ok(Arc::clone(store));
                }
                let store = platform_store().map_err(|e| {
                    self.keyring_error(&self.user, "cannot open the credential store", e)
                })?;
                *slot = Some(Arc::clone(&store));
                Ok(store)
            }
        }
    }

    fn item(&self, store: &Arc<CredentialStore>, user: &str) -> Result<Item> {
        Item::new_in_store(store, &self.service, user)
            .map_err(|e| self.keyring_error(user, "cannot name the item", e))
    }

    /// The secret of the item of `user`, `None` when there is no such item.
    fn get_item(&self, store: &Arc<CredentialStore>, user: &str) -> Result<Option<Vec<u8>>> {
        match self.item(store, user)?.get_secret() {
            Ok(secret) => Ok(Some(secret)),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(e) => Err(self.keyring_error(user, "cannot read", e)),
        }
    }

    fn set_item(&self, store: &Arc<CredentialStore>, user: &str, secret: &[u8]) -> Result<()> {
        self.item(store, user)?
            .set_secret(secret)
            .map_err(|e| self.keyring_error(user, "cannot write", e))
    }

    /// Removes the parts of `slot` from `from` on, up to the first missing
    /// one. Best effort: they are named by no manifest.
    fn remove_parts(&self, store: &Arc<CredentialStore>, slot: Slot, from: usize) {
        for index in from..MAX_PARTS {
            let Ok(item) = self.item(store, &part_user(&self.user, slot, index)) else {
                return;
            };
            if item.delete_credential().is_err() {
                return;
            }
        }
    }

    /// The value a manifest names, or why it cannot be had (torn).
    fn join_parts(
        &self,
        store: &Arc<CredentialStore>,
        manifest: &Manifest,
    ) -> Result<std::result::Result<Vec<u8>, String>> {
        let mut value = Vec::with_capacity(manifest.len);
        for index in 0..manifest.parts {
            let user = part_user(&self.user, manifest.slot, index);
            match self.get_item(store, &user)? {
                Some(part) => value.extend_from_slice(&part),
                None => {
                    return Ok(Err(format!(
                        "the value is split in {} parts and part {index} ({:?}) is missing",
                        manifest.parts, user
                    )));
                }
            }
            if value.len() > manifest.len {
                break;
            }
        }
        if value.len() != manifest.len || hex(&Sha256::digest(&value)) != manifest.sha256 {
            return Ok(Err(format!(
                "the value is split in {} parts that do not add up to the value its \
                 manifest describes",
                manifest.parts
            )));
        }
        Ok(Ok(value))
    }

    fn parse(&self, value: &[u8]) -> Result<Entry> {
        if value.trim_ascii().is_empty() {
            return Err(self.error("the item is empty (not a token)"));
        }
        Entry::from_json(value).map_err(|m| self.error(m))
    }

    fn open_lock_file(&self) -> Result<(File, PathBuf)> {
        let path = self.lock_path.clone().ok_or_else(|| {
            self.error(
                "no directory for its lock file (no home directory?): give one with \
                 KeyringTokenCache::with_lock_path",
            )
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            lock_file::create_private_dir(dir)
                .map_err(|e| Error::cache_io(dir, "cannot create the lock file's directory", e))?;
        }
        let file = lock_file::open(&path)?;
        Ok((file, path))
    }
}

impl fmt::Debug for KeyringTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringTokenCache")
            .field("service", &self.service)
            .field("user", &self.user)
            .field(
                "store",
                &match self.backend {
                    Backend::Platform(_) => "platform",
                    Backend::Given(_) => "given",
                },
            )
            .field("lock_path", &self.lock_path)
            .field("lock_wait", &self.lock_wait)
            .field("max_item_len", &self.max_item_len)
            .finish()
    }
}

impl TokenCache for KeyringTokenCache {
    /// What the item holds; `None` only when there is no item.
    ///
    /// An item that holds neither a token nor a record, a split whose parts
    /// are missing or do not match, and a credential store that cannot be
    /// reached are an [`Error::Cache`] naming the item.
    fn read(&self) -> Result<Option<Entry>> {
        let store = self.store()?;
        let mut torn = String::new();
        for _ in 0..READ_ATTEMPTS {
            let Some(value) = self.get_item(&store, &self.user)? else {
                return Ok(None);
            };
            let manifest = match Manifest::parse(&value) {
                None => return self.parse(&value).map(Some),
                Some(Err(problem)) => return Err(self.error(problem)),
                Some(Ok(manifest)) => manifest,
            };
            match self.join_parts(&store, &manifest)? {
                Ok(value) => return self.parse(&value).map(Some),
                // A writer may have replaced the parts since: read again.
                Err(problem) => torn = problem,
            }
        }
        Err(self.error(format_args!(
            "{torn} (a write was interrupted, or another program changed the parts); \
             a new login or logout writes over it"
        )))
    }

    /// Replaces the value, completely or not at all: in one item when it
    /// fits, else split (see the struct's documentation), the manifest
    /// written last. Parts no manifest names any more are then removed
    /// (best effort). The lock is not checked: every writer of the item
    /// runs under it.
    fn write(&self, entry: &Entry, _lock: &CacheLock) -> Result<()> {
        let store = self.store()?;
        let value = entry.to_json().into_bytes();
        // The parts the current value uses, if split (an item holding
        // anything else is written over).
        let old = self
            .get_item(&store, &self.user)?
            .and_then(|current| Manifest::parse(&current))
            .and_then(|manifest| manifest.ok());
        if value.len() <= self.max_item_len {
            self.set_item(&store, &self.user, &value)?;
            for slot in [Slot::A, Slot::B] {
                self.remove_parts(&store, slot, 0);
            }
            return Ok(());
        }
        let parts: Vec<&[u8]> = value.chunks(self.max_item_len).collect();
        if parts.len() > MAX_PARTS {
            return Err(self.error(format_args!(
                "the value ({} bytes) is too large for the credential store (at most {} bytes)",
                value.len(),
                MAX_PARTS * self.max_item_len
            )));
        }
        let slot = match old {
            Some(Manifest { slot: Slot::A, .. }) => Slot::B,
            _ => Slot::A,
        };
        for (index, part) in parts.iter().enumerate() {
            self.set_item(&store, &part_user(&self.user, slot, index), part)?;
        }
        let manifest = Manifest {
            split: 1,
            slot,
            parts: parts.len(),
            len: value.len(),
            sha256: hex(&Sha256::digest(&value)),
        };
        // The commit point: one write of the item readers start from.
        self.set_item(&store, &self.user, manifest.to_json().as_bytes())?;
        self.remove_parts(&store, slot.other(), 0);
        self.remove_parts(&store, slot, parts.len());
        Ok(())
    }

    /// Takes an exclusive lock on [`lock_path`](KeyringTokenCache::lock_path)
    /// (created 0600, its directory 0700, when missing), waiting while
    /// another process or thread holds it, for at most the lock wait;
    /// dropping the returned guard releases it. Not reentrant.
    fn lock(&self) -> Result<CacheLock> {
        let (file, path) = self.open_lock_file()?;
        lock_file::lock(
            file,
            &path,
            self.lock_wait,
            "KeyringTokenCache::with_lock_wait",
        )
    }

    /// The lock when no other process or thread holds it; `None` when one
    /// does. Never waits.
    fn try_lock(&self) -> Result<Option<CacheLock>> {
        let (file, path) = self.open_lock_file()?;
        lock_file::try_lock(file, &path)
    }
}

/// A keyring error, without anything it may carry of a value: the
/// bytes of `BadEncoding` and `BadDataFormat`, the entries (whose
/// `Debug` may show a value) of `Ambiguous`.
fn keyring_error(name: &str, what: &str, error: KeyringError) -> Error {
    let (problem, source) = match error {
        KeyringError::PlatformFailure(e) => (
            "the credential store failed".to_owned(),
            Some(ErrorSource::from(e)),
        ),
        KeyringError::NoStorageAccess(e) => (
            "the credential store cannot be accessed (locked, or access refused)".to_owned(),
            Some(ErrorSource::from(e)),
        ),
        KeyringError::NoEntry => ("no such item".to_owned(), None),
        KeyringError::BadEncoding(_) | KeyringError::BadDataFormat(..) => (
            "the credential store holds data it cannot decode".to_owned(),
            None,
        ),
        KeyringError::BadStoreFormat(reason) => {
            (format!("the credential store is malformed: {reason}"), None)
        }
        KeyringError::TooLong(what, limit) => (
            format!("its {what} is longer than the credential store's limit ({limit})"),
            None,
        ),
        KeyringError::Invalid(what, reason) => (
            format!("its {what} is not valid for the credential store: {reason}"),
            None,
        ),
        KeyringError::Ambiguous(items) => (
            format!(
                "{} items of the credential store match it: remove the extra ones",
                items.len()
            ),
            None,
        ),
        KeyringError::NoDefaultStore => ("there is no credential store".to_owned(), None),
        KeyringError::NotSupportedByStore(reason) => (reason, None),
        _ => ("the credential store failed".to_owned(), None),
    };
    Error::Cache {
        path: None,
        message: format!("{name}: {what}: {problem}"),
        source,
    }
}

/// The platform's credential store: the one keyring 4's `v1` feature picks.
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    #[cfg(all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    ))]
    let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
    #[cfg(target_os = "macos")]
    let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
    #[cfg(target_os = "windows")]
    let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
    #[cfg(any(
        all(
            unix,
            not(any(target_os = "macos", target_os = "ios", target_os = "android"))
        ),
        target_os = "macos",
        target_os = "windows"
    ))]
    return Ok(store);
    #[cfg(not(any(
        all(
            unix,
            not(any(target_os = "macos", target_os = "ios", target_os = "android"))
        ),
        target_os = "macos",
        target_os = "windows"
    )))]
    Err(KeyringError::NotSupportedByStore(
        "this platform has no credential store this crate supports".to_owned(),
    ))
}

/// One of the two sets of part names; a split value uses the one the
/// value it replaces does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Slot {
    #[serde(rename = "a")]
    A,
    #[serde(rename = "b")]
    B,
}

impl Slot {
    fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

/// The user of part `index` of `slot`: `{user}#part-a0`.
fn part_user(user: &str, slot: Slot, index: usize) -> String {
    let slot = match slot {
        Slot::A => 'a',
        Slot::B => 'b',
    };
    format!("{user}#part-{slot}{index}")
}

/// What the item of a split value holds.
#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    /// The format version, under the key that marks a manifest.
    #[serde(rename = "spotify_auth_split")]
    split: u32,
    slot: Slot,
    parts: usize,
    len: usize,
    /// The SHA-256 of the whole value, lowercase hex.
    sha256: String,
}

impl Manifest {
    /// `None` when `value` is not a manifest (an entry, or garbage);
    /// `Some(Err)` for a manifest that cannot be used.
    fn parse(value: &[u8]) -> Option<std::result::Result<Manifest, String>> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(rename = "spotify_auth_split")]
            split: Option<serde::de::IgnoredAny>,
        }
        if value.trim_ascii_start().first() != Some(&b'{') {
            return None;
        }
        serde_json::from_slice::<Probe>(value).ok()?.split?;
        let manifest = match serde_json::from_slice::<Manifest>(value) {
            Ok(m) => m,
            Err(_) => return Some(Err("the item holds a malformed split manifest".to_owned())),
        };
        let valid = manifest.parts >= 1
            && manifest.parts <= MAX_PARTS
            && manifest.len >= 1
            && manifest.sha256.len() == 64
            && manifest.sha256.bytes().all(|b| b.is_ascii_hexdigit());
        Some(match manifest.split {
            1 if valid => Ok(manifest),
            1 => Err("the item holds a malformed split manifest".to_owned()),
            v => Err(format!(
                "the item holds a split manifest of version {v}, written by a newer \
                 version of this library"
            )),
        })
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a manifest serializes")
    }
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `{service}.{user}.{hash}.lock`, with every character a file name may
/// not hold replaced by `_`, each name cut at 40 characters, and the first
/// 64 bits of a SHA-256 of both names to tell apart those that then look
/// alike.
fn lock_file_name(service: &str, user: &str) -> String {
    let safe = |name: &str| -> String {
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect()
    };
    let mut hasher = Sha256::new();
    hasher.update(service.as_bytes());
    hasher.update([0]);
    hasher.update(user.as_bytes());
    let digest = hasher.finalize();
    format!(
        "{}.{}.{}.lock",
        safe(service),
        safe(user),
        hex(&digest[..8])
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessToken, LoginEnded, RefreshToken, TokenInfo};

    const SERVICE: &str = "spotify-auth-test";
    const USER: &str = "alice";

    fn mock() -> Arc<CredentialStore> {
        keyring_core::mock::Store::new().unwrap()
    }

    fn cache(store: &Arc<CredentialStore>) -> KeyringTokenCache {
        let dir = std::env::temp_dir();
        KeyringTokenCache::in_store(Arc::clone(store), SERVICE, USER)
            .with_lock_path(dir.join(format!("spotify-auth-unit-{}.lock", fastrand::u64(..))))
    }

    fn token(access: &str, scope_len: usize) -> TokenInfo {
        TokenInfo {
            access_token: AccessToken::new(access),
            expires_at: 1_900_000_000,
            refresh_token: Some(RefreshToken::new(format!("refresh-of-{access}"))),
            scope: Some("s".repeat(scope_len)),
            authorized_at: Some(1_800_000_000),
        }
    }

    /// The raw secret of the item of `user`, `None` when there is none.
    fn raw(store: &Arc<CredentialStore>, user: &str) -> Option<Vec<u8>> {
        match Item::new_in_store(store, SERVICE, user)
            .unwrap()
            .get_secret()
        {
            Ok(secret) => Some(secret),
            Err(KeyringError::NoEntry) => None,
            Err(e) => panic!("{e}"),
        }
    }

    fn put(store: &Arc<CredentialStore>, user: &str, secret: &[u8]) {
        Item::new_in_store(store, SERVICE, user)
            .unwrap()
            .set_secret(secret)
            .unwrap();
    }

    /// The parts of `slot` that exist.
    fn parts(store: &Arc<CredentialStore>, slot: Slot) -> usize {
        (0..MAX_PARTS)
            .take_while(|&i| raw(store, &part_user(USER, slot, i)).is_some())
            .count()
    }

    fn write(cache: &KeyringTokenCache, entry: &Entry) {
        cache.write(entry, &CacheLock::none()).unwrap();
    }

    #[test]
    fn a_small_value_is_one_item_and_reads_back() {
        let store = mock();
        let cache = cache(&store);
        assert!(cache.read().unwrap().is_none(), "nothing stored is None");
        let entry = Entry::Token(token("small", 20));
        write(&cache, &entry);
        assert_eq!(cache.read().unwrap(), Some(entry.clone()));
        assert_eq!(raw(&store, USER).unwrap(), entry.to_json().into_bytes());
        assert_eq!(parts(&store, Slot::A) + parts(&store, Slot::B), 0);
    }

    #[test]
    fn a_value_over_the_limit_is_split_and_reads_back_whole() {
        let store = mock();
        let cache = cache(&store);
        let entry = Entry::Token(token("large", 6000));
        let len = entry.to_json().len();
        assert!(len > KeyringTokenCache::DEFAULT_MAX_ITEM_LEN);
        write(&cache, &entry);
        assert_eq!(cache.read().unwrap(), Some(entry.clone()));
        let expected = len.div_ceil(KeyringTokenCache::DEFAULT_MAX_ITEM_LEN);
        assert_eq!(parts(&store, Slot::A), expected);
        for i in 0..expected {
            let part = raw(&store, &part_user(USER, Slot::A, i)).unwrap();
            assert!(part.len() <= KeyringTokenCache::DEFAULT_MAX_ITEM_LEN);
        }
        let manifest = raw(&store, USER).unwrap();
        assert!(manifest.len() < MIN_ITEM_LEN, "{}", manifest.len());
        assert!(!String::from_utf8_lossy(&manifest).contains("large"));

        // Exactly at the limit: one item; one byte over: two parts.
        let at = |n: usize| {
            let cache = KeyringTokenCache::in_store(mock(), SERVICE, USER).with_max_item_len(n);
            let entry = Entry::Token(token("edge", 300));
            (cache, entry)
        };
        let (c, e) = at(e_len(&Entry::Token(token("edge", 300))));
        write(&c, &e);
        assert_eq!(c.read().unwrap(), Some(e.clone()));
        let (c, e) = at(e_len(&e) - 1);
        write(&c, &e);
        assert_eq!(c.read().unwrap(), Some(e));
    }

    fn e_len(entry: &Entry) -> usize {
        entry.to_json().len()
    }

    #[test]
    fn overwrites_alternate_part_sets_and_remove_the_old_parts() {
        let store = mock();
        let cache = cache(&store).with_max_item_len(300);
        let first = Entry::Token(token("first", 1000));
        write(&cache, &first);
        let in_a = parts(&store, Slot::A);
        assert!(in_a >= 4, "{in_a}");
        let second = Entry::Token(token("second", 500));
        write(&cache, &second);
        assert_eq!(cache.read().unwrap(), Some(second));
        assert_eq!(parts(&store, Slot::A), 0, "the old parts are removed");
        assert!(parts(&store, Slot::B) >= 2);
        let third = Entry::Token(token("third", 1500));
        write(&cache, &third);
        assert_eq!(cache.read().unwrap(), Some(third));
        assert_eq!(parts(&store, Slot::B), 0);
        // Back to one item: no part is left.
        let small = Entry::Token(token("small", 10));
        write(&cache, &small);
        assert_eq!(cache.read().unwrap(), Some(small));
        assert_eq!(parts(&store, Slot::A) + parts(&store, Slot::B), 0);
        // A record of an ended login is stored and read like a token.
        let record = Entry::Ended(LoginEnded::logout([&RefreshToken::new("refresh-of-small")]));
        write(&cache, &record);
        assert_eq!(cache.read().unwrap(), Some(record));
    }

    /// A store whose item of one user cannot be written (its writes fail
    /// as a locked keychain's would): an interrupted write.
    struct Flaky {
        inner: Arc<CredentialStore>,
        read_only: Mutex<Option<String>>,
    }

    /// An item whose writes fail.
    struct ReadOnly(Item);

    impl keyring_core::api::CredentialApi for ReadOnly {
        fn set_secret(&self, _: &[u8]) -> keyring_core::Result<()> {
            Err(KeyringError::NoStorageAccess("read-only".into()))
        }
        fn get_secret(&self) -> keyring_core::Result<Vec<u8>> {
            self.0.get_secret()
        }
        fn delete_credential(&self) -> keyring_core::Result<()> {
            Err(KeyringError::NoStorageAccess("read-only".into()))
        }
        fn get_credential(&self) -> keyring_core::Result<Option<Arc<keyring_core::Credential>>> {
            Ok(None)
        }
        fn get_specifiers(&self) -> Option<(String, String)> {
            self.0.get_specifiers()
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    impl keyring_core::api::CredentialStoreApi for Flaky {
        fn vendor(&self) -> String {
            "flaky".into()
        }
        fn id(&self) -> String {
            "flaky".into()
        }
        fn build(
            &self,
            service: &str,
            user: &str,
            modifiers: Option<&std::collections::HashMap<&str, &str>>,
        ) -> keyring_core::Result<Item> {
            let item = self.inner.build(service, user, modifiers)?;
            if self.read_only.lock().unwrap().as_deref() == Some(user) {
                return Ok(Item::new_with_credential(Arc::new(ReadOnly(item))));
            }
            Ok(item)
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    #[test]
    fn an_interrupted_split_write_leaves_the_old_value() {
        let store = mock();
        let flaky = Arc::new(Flaky {
            inner: Arc::clone(&store),
            read_only: Mutex::new(None),
        });
        let cache = KeyringTokenCache::in_store(flaky.clone(), SERVICE, USER)
            .with_max_item_len(300)
            .with_lock_path(std::env::temp_dir().join("unused.lock"));
        let old = Entry::Token(token("old", 900));
        write(&cache, &old);
        assert!(parts(&store, Slot::A) >= 3);

        // Every part of the new value is written, then the manifest's write
        // (the commit) fails.
        *flaky.read_only.lock().unwrap() = Some(USER.to_owned());
        let new = Entry::Token(token("new", 1200));
        let err = cache.write(&new, &CacheLock::none()).unwrap_err();
        assert!(err.to_string().contains("cannot write"), "{err}");
        assert!(parts(&store, Slot::B) >= 4, "the new parts were written");
        assert_eq!(cache.read().unwrap(), Some(old), "the old value is intact");

        // The next write succeeds (over the leftover parts) and cleans up.
        *flaky.read_only.lock().unwrap() = None;
        write(&cache, &new);
        assert_eq!(cache.read().unwrap(), Some(new));
        assert_eq!(parts(&store, Slot::A), 0);

        // A value in one item: its write fails whole, the split stays.
        *flaky.read_only.lock().unwrap() = Some(USER.to_owned());
        let small = Entry::Token(token("small", 10));
        assert!(cache.write(&small, &CacheLock::none()).is_err());
        assert_ne!(cache.read().unwrap(), Some(small));
    }

    #[test]
    fn a_torn_split_is_an_error_never_a_token() {
        let store = mock();
        let cache = cache(&store).with_max_item_len(300);
        let entry = Entry::Token(token("torn-secret-access", 900));
        write(&cache, &entry);

        // A part replaced by another value's part: the hash does not match.
        let original = raw(&store, &part_user(USER, Slot::A, 1)).unwrap();
        put(
            &store,
            &part_user(USER, Slot::A, 1),
            &vec![b'x'; original.len()],
        );
        let err = cache.read().unwrap_err().to_string();
        assert!(
            err.contains("keychain item \"spotify-auth-test\" / \"alice\""),
            "{err}"
        );
        assert!(err.contains("do not add up"), "{err}");
        assert!(!err.contains("torn-secret-access"), "{err}");
        put(&store, &part_user(USER, Slot::A, 1), &original);
        assert_eq!(cache.read().unwrap(), Some(entry));

        // A part missing.
        Item::new_in_store(&store, SERVICE, &part_user(USER, Slot::A, 2))
            .unwrap()
            .delete_credential()
            .unwrap();
        let err = cache.read().unwrap_err().to_string();
        assert!(err.contains("part 2"), "{err}");
        assert!(err.contains("is missing"), "{err}");
        assert!(!err.contains("torn-secret-access"), "{err}");

        // A manifest that cannot be used.
        put(&store, USER, br#"{"spotify_auth_split": 1, "slot": "a"}"#);
        let err = cache.read().unwrap_err().to_string();
        assert!(err.contains("malformed split manifest"), "{err}");
        put(
            &store,
            USER,
            br#"{"spotify_auth_split": 2, "slot": "a", "parts": 1, "len": 1, "sha256": "00"}"#,
        );
        let err = cache.read().unwrap_err().to_string();
        assert!(err.contains("version 2"), "{err}");
    }

    #[test]
    fn a_corrupt_item_is_an_error_naming_the_item_not_the_value() {
        let store = mock();
        let cache = cache(&store);
        for bad in [
            &b"not json: corrupt-secret-value"[..],
            b"",
            b"   ",
            b"{\"access_token\": \"corrupt-secret-value\"",
            b"[\"corrupt-secret-value\"]",
            b"\xff\xfe corrupt-secret-value",
        ] {
            put(&store, USER, bad);
            let err = cache.read().unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(text.contains("keychain item"), "{text}");
            assert!(!text.contains("corrupt-secret-value"), "{text}");
            assert!(cache.get().is_err(), "get is an error too, never None");
        }
        // `clear` writes a record over it.
        cache.clear().unwrap();
        assert!(matches!(cache.read().unwrap(), Some(Entry::Ended(_))));
    }

    #[test]
    fn keyring_errors_carry_no_value() {
        let store = mock();
        let cache = cache(&store);
        let main = Item::new_in_store(&store, SERVICE, USER).unwrap();
        let cred: &keyring_core::mock::Cred = main.as_any().downcast_ref().unwrap();
        for error in [
            KeyringError::BadEncoding(b"leaked-secret-bytes".to_vec()),
            KeyringError::BadDataFormat(b"leaked-secret-bytes".to_vec(), "bad".into()),
            KeyringError::NoStorageAccess("the collection is locked".into()),
            KeyringError::PlatformFailure("dbus went away".into()),
            KeyringError::TooLong("secret".into(), 2560),
        ] {
            cred.set_error(error);
            let err = cache.read().unwrap_err();
            let mut text = format!("{err} {err:?}");
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                text.push_str(&format!(" {s} {s:?}"));
                source = s.source();
            }
            assert!(text.contains("keychain item"), "{text}");
            assert!(!text.contains("leaked-secret-bytes"), "{text}");
        }
    }

    #[test]
    fn too_large_a_value_is_refused_and_the_old_one_kept() {
        let store = mock();
        let cache = cache(&store).with_max_item_len(256);
        let old = Entry::Token(token("old", 10));
        write(&cache, &old);
        let huge = Entry::Token(token("huge", 256 * MAX_PARTS));
        let err = cache.write(&huge, &CacheLock::none()).unwrap_err();
        assert!(err.to_string().contains("too large"), "{err}");
        assert_eq!(cache.read().unwrap(), Some(old));
    }

    #[test]
    fn debug_shows_names_not_values() {
        let store = mock();
        let cache = cache(&store);
        write(&cache, &Entry::Token(token("debug-secret-access", 10)));
        let debug = format!("{cache:?}");
        assert!(
            debug.contains("spotify-auth-test") && debug.contains("alice"),
            "{debug}"
        );
        assert!(!debug.contains("debug-secret-access"), "{debug}");
        assert_eq!(cache.with_max_item_len(1).max_item_len(), MIN_ITEM_LEN);
    }

    #[test]
    fn lock_file_names_are_safe_and_distinct() {
        let a = lock_file_name("spotify-auth", "default");
        assert!(a.starts_with("spotify-auth.default."), "{a}");
        assert!(a.ends_with(".lock"));
        let b = lock_file_name("spotify-auth", "de/fault");
        let c = lock_file_name("spotify-auth", "de:fault");
        assert!(!b.contains('/'), "{b}");
        assert_ne!(
            b, c,
            "names that look alike once made safe differ by their hash"
        );
        assert_ne!(
            lock_file_name("a.b", "c"),
            lock_file_name("a", "b.c"),
            "the separator is not ambiguous"
        );
        let long = lock_file_name(&"s".repeat(500), &"u".repeat(500));
        assert!(long.len() < 120, "{long}");
    }

    #[test]
    fn the_lock_serialises_two_handles_and_try_lock_never_waits() {
        let store = mock();
        let one = cache(&store).with_lock_wait(Duration::from_millis(50));
        let two = one.clone();
        let held = one.lock().unwrap();
        assert!(two.try_lock().unwrap().is_none(), "held elsewhere: None");
        let err = two.lock().unwrap_err().to_string();
        assert!(err.contains("KeyringTokenCache::with_lock_wait"), "{err}");
        drop(held);
        assert!(two.try_lock().unwrap().is_some());
        let _ = std::fs::remove_file(one.lock_path().unwrap());
    }
}
