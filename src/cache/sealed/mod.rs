//! [`SealedCache`]: any [`TokenCache`] with its tokens sealed at rest under
//! the app's key (feature `encryption`).
//!
//! Files: `keys` (the keys, from bytes, text or the environment), `format`
//! (the sealed bytes and their text: seal, open), `carrier` (how a sealed
//! value travels through an inner cache that stores [`Entry`]s).
//!
//! # How a sealed value travels through the inner cache
//!
//! Inner caches store [`Entry`]s and serialise them themselves: a sealed
//! value is an [`Entry::Sealed`], stored as `{"sealed":"<text>"}`. Read
//! without the key (by the Python library, or this crate without the
//! wrapper) it is no token: the Python library reads "no token", a flow
//! refuses it with an error that says to give it the key, and nothing is
//! ever sent.
//!
//! # Why records are not sealed
//!
//! A record of how a login ended ([`Entry::Ended`]) holds no secret: a
//! reason, a time and fingerprints (128 bits of SHA-256) of the refresh
//! tokens it ended. Sealing it would hide nothing, and stored as it is every
//! reader still understands a logout without the key: the Python library
//! reads "no token", the CLI's `status` says logged out, and a store that
//! watches for logouts written elsewhere ([`TokenCache::watch_ended`]) sees
//! one. So a sealed store holds a sealed token or a record in the clear,
//! never a token in the clear (once migrated). Someone who can write to the
//! store could forge a record, but could as well delete or garble the value:
//! sealing records would not protect a login from them.
//!
//! # Why XChaCha20-Poly1305
//!
//! Its 192-bit nonce can be drawn at random for every write, with no counter
//! to keep and no limit worth counting on how many values one key seals
//! (AES-256-GCM's 96-bit random nonces call for a new key after about 2³²
//! seals); it is constant-time in software on every CPU, AES instructions or
//! not; and RustCrypto's implementation is pure Rust.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroizing;

use super::{CacheLock, EndedListener, Entry, TokenCache};
use crate::{Error, Result, observe};

mod carrier;
mod format;
mod keys;

use carrier::Stored;
use format::OpenError;
pub use keys::{KeyId, SealingKey, SealingKeys};

/// A [`TokenCache`] that seals every token it stores with the app's key,
/// through any other cache: [`RedisTokenCache`](crate::RedisTokenCache),
/// [`FileTokenCache`](crate::FileTokenCache), a cache of your own (feature
/// `encryption`).
///
/// A Redis dump, `MONITOR`, a backup or a copied token file then shows no
/// access or refresh token, only the sealed value (XChaCha20-Poly1305, a
/// fresh random nonce per write); without the key it opens nowhere, and
/// with it only where it was written: the value is bound to the **place**
/// the cache is given, so a value copied to another user's key does not
/// open.
///
/// ```
/// use spotify_auth::{FileTokenCache, SealedCache, SealingKey, SealingKeys, TokenCache};
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("token.json");
///
/// // Once: the keys, 32 bytes each (in production from the environment:
/// // `SealingKeys::from_env("MY_APP_TOKEN_KEYS")?`, hex or base64, the current one first).
/// let keys = SealingKeys::new(SealingKey::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?);
/// // Per login: the cache you would have used, wrapped, and the place to bind to.
/// let cache = SealedCache::new(FileTokenCache::new(&path), keys, "alice");
/// # let token = spotify_auth::TokenInfo::new("the-access-token", 1 << 40)
/// #     .with_refresh_token("the-refresh-token");
/// cache.set(&token)?;
/// assert_eq!(cache.get()?, Some(token));
/// let file = std::fs::read_to_string(&path).unwrap();
/// assert!(!file.contains("the-refresh-token") && !file.contains("the-access-token"));
/// # Ok::<(), spotify_auth::Error>(())
/// ```
///
/// For a [`RedisTokenCache`](crate::RedisTokenCache), `SealedCache::redis`
/// binds to its key. Give the cache to a flow as any other
/// (`.token_cache(cache)`); everything else about the inner cache holds:
/// its lock, its fencing, its errors.
///
/// # What is sealed
///
/// Tokens: each [`write`](TokenCache::write) of [`Entry::Token`] seals the
/// entry's JSON with the [current key](SealingKeys::current) and stores the
/// sealed value through the inner cache. Records of how a login ended are
/// stored as they are (they hold no secret; see the module's documentation
/// for why). [`lock`](TokenCache::lock), [`try_lock`](TokenCache::try_lock),
/// [`confirm_lock`](TokenCache::confirm_lock),
/// [`watch_ended`](TokenCache::watch_ended) and
/// [`never_blocks`](TokenCache::never_blocks) are the inner cache's, and its
/// guards pass through unchanged (a Redis write is fenced by its own guard).
///
/// # The place
///
/// The associated data of every seal: the value opens only in a cache given
/// the same place. Use what names the login: the Redis key, the user's id,
/// the profile. A file path works too, but the value stops opening if the
/// file is moved or reached through another path.
///
/// # Errors
///
/// A sealed value that does not open (a wrong key, an altered value, a
/// value moved from another place) is an [`Error::Cache`] saying which, and
/// never `Ok(None)`: the login is not taken for ended or lost, and nothing
/// is written over it until the app stores a login again
/// ([`set`](TokenCache::set), a new authorization). No error shows a key,
/// a token or the sealed value; a key appears as its [`KeyId`] at most.
///
/// # Tokens stored in the clear: migration
///
/// A token in the clear (stored before sealing was turned on, or by a
/// writer without the key) is read as it is, and re-sealed in place at the
/// next [`lock`](TokenCache::lock) or [`try_lock`](TokenCache::try_lock)
/// taken through this cache (every refresh, `set` and `clear` takes one),
/// under that lock, with its guard, before the guard is handed out, unless
/// it was written again first. The first lock taken through each instance
/// reads the store once for this; after that, only a read that found
/// something to re-seal makes the next lock look again.
/// [`refuse_plaintext`](Self::refuse_plaintext) turns this off once every
/// store is sealed: a token in the clear is then an error, so that whoever
/// can write to the store cannot plant a login of their own.
///
/// # Key rotation
///
/// Make the new key current and keep the old one behind it
/// ([`SealingKeys::with_previous`], or a comma-separated list in the
/// environment variable). Values sealed with the old key open, and are
/// re-sealed with the current one the same way as tokens in the clear: at
/// the next lock taken through the cache, and at every write. Drop the old
/// key once every store has been rewritten; a value still sealed with a key
/// that is gone is an error naming the key's id.
///
/// `Debug` shows the inner cache, the place and the key ids.
pub struct SealedCache<C> {
    inner: C,
    keys: SealingKeys,
    place: String,
    refuse_plaintext: bool,
    /// The store may hold a token in the clear, or one sealed with an older
    /// key: the next lock looks, and re-seals it under the lock.
    recheck: AtomicBool,
}

impl<C: TokenCache> SealedCache<C> {
    /// `inner` with its tokens sealed under `keys`, bound to `place` (see
    /// [The place](Self#the-place)). Nothing is read or written.
    pub fn new(inner: C, keys: impl Into<SealingKeys>, place: impl Into<String>) -> Self {
        SealedCache {
            inner,
            keys: keys.into(),
            place: place.into(),
            refuse_plaintext: false,
            recheck: AtomicBool::new(true),
        }
    }

    /// Refuses tokens stored in the clear (an [`Error::Cache`]) instead of
    /// reading and re-sealing them: for when every store has been migrated.
    pub fn refuse_plaintext(mut self) -> Self {
        self.refuse_plaintext = true;
        self
    }

    /// The inner cache.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The inner cache, unwrapped.
    pub fn into_inner(self) -> C {
        self.inner
    }

    /// The place values are bound to.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// The keys.
    pub fn keys(&self) -> &SealingKeys {
        &self.keys
    }

    fn error(&self, message: impl fmt::Display) -> Error {
        Error::Cache {
            path: None,
            message: format!("sealed entry at {:?}: {message}", self.place),
            source: None,
        }
    }

    /// Opens a sealed value: the entry, and whether the current key opened it.
    fn open(&self, text: &str) -> Result<(Entry, bool)> {
        let opened = format::open(&self.keys, &self.place, text).map_err(|e| match e {
            OpenError::Malformed(why) => {
                self.error(format_args!("not a valid sealed value ({why})"))
            }
            OpenError::Version(v) => self.error(format_args!(
                "sealed in a format this version does not know (version {v})"
            )),
            OpenError::UnknownKey(id) => self.error(format_args!(
                "sealed with a key that is not among this cache's keys (key id {id}); \
                 add it behind the current key to open it"
            )),
            OpenError::Refused(id) => self.error(format_args!(
                "does not open with the key it names (key id {id}): the value was \
                 altered, or moved here from another place (another key or file)"
            )),
        })?;
        let entry = Entry::from_json(&opened.plaintext)
            .map_err(|m| self.error(format_args!("opened, but holds no valid entry: {m}")))?;
        Ok((entry, opened.by_current))
    }

    /// Seals `entry` when it holds a token: what to store through the
    /// inner cache.
    fn sealed(&self, entry: &Entry) -> Result<Option<Entry>> {
        if entry.token().is_none() {
            return Ok(None);
        }
        let json = Zeroizing::new(entry.to_json());
        let text = format::seal(&self.keys, &self.place, json.as_bytes())?;
        Ok(Some(carrier::carry(text)))
    }

    /// Under a lock just taken (`lock`): re-seals a token found in the clear,
    /// or sealed with an older key, when a look is due. Best effort: a
    /// failure leaves the store as it was (the caller's own read reports
    /// what is wrong with it) and the look due.
    fn upgrade(&self, lock: &CacheLock) {
        if !self.recheck.load(Ordering::Acquire) {
            return;
        }
        let Ok(stored) = self.inner.read() else {
            return;
        };
        let entry = match stored.as_ref().map(carrier::classify) {
            None | Some(Stored::Other) => {
                self.recheck.store(false, Ordering::Release);
                return;
            }
            Some(Stored::PlainToken) if self.refuse_plaintext => return,
            Some(Stored::PlainToken) => stored.expect("classified"),
            Some(Stored::Sealed(text)) => match self.open(text) {
                Ok((_, true)) => {
                    self.recheck.store(false, Ordering::Release);
                    return;
                }
                Ok((entry, false)) => entry,
                Err(_) => return,
            },
        };
        match self.write(&entry, lock) {
            Ok(()) => {
                observe::debug!(cache, place = %self.place, "re-sealed the stored token with the current key")
            }
            Err(e) => {
                observe::warn!(cache, place = %self.place, error = observe::err(&e), "could not re-seal the stored token; it is tried again at the next lock")
            }
        }
    }
}

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
impl SealedCache<crate::RedisTokenCache> {
    /// `cache` with its tokens sealed under `keys`, bound to its key.
    pub fn redis(cache: crate::RedisTokenCache, keys: impl Into<SealingKeys>) -> Self {
        let place = cache.key().to_owned();
        Self::new(cache, keys, place)
    }
}

impl<C: TokenCache> TokenCache for SealedCache<C> {
    /// What the inner cache holds, opened: a token (sealed, or in the clear
    /// unless [refused](SealedCache::refuse_plaintext)), a record, or
    /// `None` when it holds nothing. A sealed value that does not open is an
    /// [`Error::Cache`], never `None`.
    fn read(&self) -> Result<Option<Entry>> {
        let Some(stored) = self.inner.read()? else {
            return Ok(None);
        };
        match carrier::classify(&stored) {
            Stored::Other => Ok(Some(stored)),
            Stored::PlainToken if self.refuse_plaintext => Err(self.error(
                "the store holds a token in the clear, and this cache refuses unsealed \
                 tokens (refuse_plaintext): store the login again",
            )),
            Stored::PlainToken => {
                self.recheck.store(true, Ordering::Release);
                Ok(Some(stored))
            }
            Stored::Sealed(text) => {
                let (entry, by_current) = self.open(text)?;
                if !by_current {
                    self.recheck.store(true, Ordering::Release);
                }
                Ok(Some(entry))
            }
        }
    }

    /// Seals a token with the current key and writes it through the inner
    /// cache with `lock`; writes a record as it is.
    fn write(&self, entry: &Entry, lock: &CacheLock) -> Result<()> {
        match self.sealed(entry)? {
            Some(sealed) => {
                self.inner.write(&sealed, lock)?;
                self.recheck.store(false, Ordering::Release);
                Ok(())
            }
            None => self.inner.write(entry, lock),
        }
    }

    /// The inner cache's lock; its guard, unchanged, once a token found in
    /// the clear or sealed with an older key was re-sealed under it.
    fn lock(&self) -> Result<CacheLock> {
        let guard = self.inner.lock()?;
        self.upgrade(&guard);
        Ok(guard)
    }

    /// The inner cache's `try_lock`, re-sealing as [`lock`](Self::lock)
    /// does when it got the lock.
    fn try_lock(&self) -> Result<Option<CacheLock>> {
        let guard = self.inner.try_lock()?;
        if let Some(guard) = &guard {
            self.upgrade(guard);
        }
        Ok(guard)
    }

    fn confirm_lock(&self, lock: &CacheLock) -> Result<bool> {
        self.inner.confirm_lock(lock)
    }

    fn can_write_after_lapse(&self, lock: &CacheLock) -> Result<bool> {
        self.inner.can_write_after_lapse(lock)
    }

    /// The inner cache's asynchronous lock (a browser store's Web Lock),
    /// without the re-sealing [`lock`](Self::lock) does: a token found in
    /// the clear or under an older key is sealed again at its next write.
    fn lock_async(&self, wait: bool) -> Option<crate::cache::LockFuture> {
        self.inner.lock_async(wait)
    }

    fn watch_ended(&self, listener: EndedListener) {
        self.inner.watch_ended(listener)
    }

    /// The inner cache's answer: sealing is a few microseconds of CPU.
    fn never_blocks(&self) -> bool {
        self.inner.never_blocks()
    }
}

impl<C: fmt::Debug> fmt::Debug for SealedCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedCache")
            .field("inner", &self.inner)
            .field("place", &self.place)
            .field("keys", &self.keys)
            .field("refuse_plaintext", &self.refuse_plaintext)
            .finish()
    }
}

#[cfg(test)]
mod tests;
