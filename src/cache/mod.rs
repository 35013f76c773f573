//! Token caches: where a [`TokenInfo`] lives between calls and between runs.
//!
//! [`InMemoryTokenCache`] is the default; [`InMemoryStore`] holds many
//! users' tokens in one process; [`FileTokenCache`] persists to a JSON
//! file; [`KeyringTokenCache`] (feature `keyring`) to the OS credential store;
//! [`RedisTokenCache`] shares one between machines; implement
//! [`TokenCache`] for anything else (a database). `SealedCache` (feature
//! `encryption`) wraps any of them and seals the tokens they store with the
//! app's key. What a store holds is an [`Entry`]: a login, or the record of
//! how one ended.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{Result, TokenInfo};

#[cfg(not(target_arch = "wasm32"))]
mod file;
#[cfg(all(feature = "keyring", not(target_arch = "wasm32")))]
mod keyring;
#[cfg(not(target_arch = "wasm32"))]
mod lock_file;
mod memory;
mod memory_store;
#[cfg(all(feature = "redis", not(target_arch = "wasm32")))]
mod redis;
#[cfg(feature = "encryption")]
mod sealed;

pub use crate::entry::{EndReason, Entry, LoginEnded, SealedEntry};
#[cfg(not(target_arch = "wasm32"))]
pub use file::{CONFIG_FILE_NAME, DEFAULT_PATH, FileTokenCache};
#[cfg(all(feature = "keyring", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "keyring")))]
pub use keyring::KeyringTokenCache;
pub use memory::InMemoryTokenCache;
pub use memory_store::{InMemoryStore, InMemoryStoreCache};
#[cfg(all(
    feature = "redis",
    any(feature = "blocking", feature = "async"),
    not(target_arch = "wasm32")
))]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisAttemptStore;
#[cfg(all(feature = "redis", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{RedisStore, RedisTokenCache};
#[cfg(feature = "encryption")]
#[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
pub use sealed::{KeyId, SealedCache, SealingKey, SealingKeys};

/// Storage for one login: a token, or the record of how the login ended.
///
/// Implement [`read`](Self::read) and [`write`](Self::write) (and
/// [`lock`](Self::lock) when several processes share the store); the
/// library calls them only around an authorization, a refresh or a logout,
/// never on the hot path of `get_access_token` (it keeps the login in
/// memory). In the async API every call runs on tokio's blocking thread
/// pool (unless the cache says it [never blocks](Self::never_blocks)), so
/// implementations may do blocking I/O. Store what [`Entry::to_json`] gives
/// and parse it back with [`Entry::from_json`], or keep the [`Entry`].
///
/// # The store is the truth, and a logout is a record in it
///
/// The library re-reads the store under its lock before every refresh and
/// takes what it finds as the state of the login:
///
/// - a token is the login (a newer one written by another process is
///   adopted);
/// - a record ([`Entry::Ended`]) says the login ended (a logout, or a
///   refresh token Spotify refused) and which refresh tokens it ended:
///   none of them is ever sent again, by any sharer;
/// - **nothing** means *unknown* (never written, or the data was lost: a
///   Redis restart, an evicted key, a file removed by hand), never a
///   logout: an instance holding a live login writes it back.
///
/// So `read` must return what the last successful `write` stored, or
/// `None` when the store lost it; it must never turn a record into `None`.
pub trait TokenCache: Send + Sync {
    /// What the store holds, or `None` when it holds nothing. A store that
    /// exists but cannot be read or parsed is an error, never `None`.
    fn read(&self) -> Result<Option<Entry>>;

    /// Replaces what the store holds with `entry`, completely or not at
    /// all, as the holder of `lock`: a guard this cache's
    /// [`lock`](Self::lock) returned, or [`CacheLock::none()`] for a caller
    /// holding no lock. A cache shared between processes fences its writes
    /// with the guard: a write whose lock lapsed (and may be held by
    /// another process now) is refused with an error, and one without a
    /// lock waits for no one and may be refused while another holder has
    /// it (see [`RedisTokenCache`]).
    fn write(&self, entry: &Entry, lock: &CacheLock) -> Result<()>;

    /// Takes this cache's exclusive lock, held until the returned guard is
    /// dropped. A cache shared between processes (or machines) serialises
    /// refreshes with it so that only one of them refreshes; the library
    /// re-reads the store after taking it. The default does nothing, which
    /// is right for a cache only one process uses.
    fn lock(&self) -> Result<CacheLock> {
        Ok(CacheLock::none())
    }

    /// Takes the lock if that can be done without waiting for another
    /// holder: `Ok(None)` when someone else holds it. A refresh that is
    /// only due (the token is still valid) uses this and leaves the refresh
    /// to whoever holds the lock. The default waits with
    /// [`lock`](Self::lock) (off the runtime): implement it so that a due
    /// refresh never waits for another process's.
    fn try_lock(&self) -> Result<Option<CacheLock>> {
        self.lock().map(Some)
    }

    /// Checks, right before a refresh request is sent under `lock`, that the
    /// lock is still held (and, for a lock with a lease, renews it): a
    /// holder whose lease lapsed must not send a refresh token another
    /// holder may be sending. `Ok(false)` when it is no longer held. A
    /// cache may also mark the request in flight here, so that a holder
    /// whose lease lapses mid-request can still store its answer and the
    /// next holder waits for it (`RedisTokenCache` does). The default
    /// says yes.
    fn confirm_lock(&self, lock: &CacheLock) -> Result<bool> {
        let _ = lock;
        Ok(true)
    }

    /// For a lock [`confirm_lock`](Self::confirm_lock) found lapsed: whether
    /// its holder may still write the answer of the request it sent before
    /// the lapse (`RedisTokenCache`: its in-flight marker still stands, so
    /// nobody wrote since and the next holder is waiting for it). A flow
    /// that owes the store such an answer then keeps the lapsed lock and
    /// writes with it, instead of releasing it (which would end the marker,
    /// and let the next holder send the refresh token the answer replaced).
    /// The default says no.
    fn can_write_after_lapse(&self, lock: &CacheLock) -> Result<bool> {
        let _ = lock;
        Ok(false)
    }

    /// For a store whose lock is granted by an event loop rather than taken
    /// by a call that blocks (the browser's Web Locks, which
    /// `spotify_auth::browser::LocalStorageTokenCache` uses on wasm32): the
    /// lock as a future, which the async API awaits instead of calling
    /// [`lock`](Self::lock) or [`try_lock`](Self::try_lock). `wait`: wait
    /// for another holder; else resolve to `Ok(None)` when someone holds it.
    /// `None`, the default: the store has no such lock, and the methods
    /// above are used. The blocking API never calls it.
    fn lock_async(&self, wait: bool) -> Option<LockFuture> {
        let _ = wait;
        None
    }

    /// Registers `listener`, to be called (from any thread) whenever this
    /// cache learns that another sharer ended the login it stores: a logout
    /// recorded elsewhere. The flows register one when they are built: it
    /// makes them consult the store before handing their token out again,
    /// so a logout reaches every sharer at once instead of at its next
    /// refresh. [`RedisTokenCache`] watches its store for them; the default
    /// never calls the listener (sharers then see a logout at their next
    /// refresh, as they always do). A listener holds only a weak reference
    /// to its flow: keeping it registered after the flow is gone is
    /// harmless.
    fn watch_ended(&self, listener: EndedListener) {
        let _ = listener;
    }

    /// Whether `read`, `write`, [`try_lock`](Self::try_lock) and
    /// [`confirm_lock`](Self::confirm_lock) return at once, without I/O or
    /// waiting (a store in this process's memory). The async API then
    /// calls them on the caller's task instead of tokio's blocking pool.
    /// Default `false`: say `true` only when it holds.
    fn never_blocks(&self) -> bool {
        false
    }

    /// The stored token; `None` when the store holds none (nothing, or a
    /// record of a login that ended). A login written back while the store
    /// recovers from a data loss ([`Entry::Recovering`]) is returned too.
    /// Provided: built on [`read`](Self::read).
    fn get(&self) -> Result<Option<TokenInfo>> {
        Ok(self.read()?.and_then(|entry| entry.token().cloned()))
    }

    /// Stores `token` under the lock (waiting for a refresh in progress).
    /// Provided: built on [`lock`](Self::lock) and [`write`](Self::write).
    fn set(&self, token: &TokenInfo) -> Result<()> {
        let lock = self.lock()?;
        self.write(&Entry::Token(token.clone()), &lock)
    }

    /// Logs out: under the lock (waiting for a refresh in progress), writes
    /// a logout record naming the stored login's refresh token (and those
    /// an earlier record named), so that no sharer sends it again; a store
    /// that cannot be read (a corrupt file) is written over all the same.
    /// Not a deletion: a store left empty would read as data lost, and be
    /// repaired by any instance still holding the login. Provided: built
    /// on [`lock`](Self::lock), [`read`](Self::read) and
    /// [`write`](Self::write).
    ///
    /// `set` and `clear` take the lock: holding a guard of this cache's
    /// lock yourself, write with it ([`write`](Self::write)) instead, or
    /// the lock waits for your own guard.
    fn clear(&self) -> Result<()> {
        let lock = self.lock()?;
        let stored = self.read().unwrap_or(None);
        let record = LoginEnded::logout_over(stored.as_ref(), &[]);
        self.write(&Entry::Ended(record), &lock)
    }
}

/// A lock being taken without blocking a thread (see
/// [`TokenCache::lock_async`]): the guard, or `None` when it was not waited
/// for and someone else holds it.
pub type LockFuture = Pin<Box<dyn Future<Output = Result<Option<CacheLock>>> + Send>>;

/// Takes `cache`'s lock (waiting for another holder when `wait`, else `None`
/// when someone holds it) and reads the store under it; a failed read keeps
/// the lock with its error. Blocking: run where the mode runs cache I/O.
#[cfg(any(feature = "blocking", feature = "async"))]
pub(crate) fn lock_and_read(
    cache: &dyn TokenCache,
    wait: bool,
) -> Result<Option<(CacheLock, Result<Option<Entry>>)>> {
    let guard = if wait {
        crate::observe::lock_cache(cache)?
    } else {
        match cache.try_lock()? {
            Some(guard) => guard,
            None => return Ok(None),
        }
    };
    let stored = cache.read().and_then(crate::entry::unsealed);
    Ok(Some((guard, stored)))
}

/// What a cache calls when it learns that the login it stores ended
/// elsewhere (see [`TokenCache::watch_ended`]). Cheap to clone.
#[derive(Clone)]
pub struct EndedListener(Arc<dyn Fn() + Send + Sync>);

impl EndedListener {
    /// A listener running `on_ended`, which must return quickly (it runs on
    /// the cache's watching thread).
    pub fn new(on_ended: impl Fn() + Send + Sync + 'static) -> Self {
        EndedListener(Arc::new(on_ended))
    }

    /// Tells the listener.
    pub fn notify(&self) {
        (self.0)()
    }
}

impl std::fmt::Debug for EndedListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EndedListener")
    }
}

/// A held [`TokenCache::lock`]; dropping it releases the lock.
#[must_use = "the lock is released when this guard is dropped"]
pub struct CacheLock {
    guard: Option<Box<dyn Any + Send + Sync>>,
    lease: bool,
}

impl CacheLock {
    /// A guard that holds nothing.
    pub fn none() -> Self {
        CacheLock {
            guard: None,
            lease: false,
        }
    }

    /// A guard that releases the lock when `guard` is dropped.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        CacheLock {
            guard: Some(Box::new(guard)),
            lease: false,
        }
    }

    /// A guard of a lock held on a lease that may lapse while it is held
    /// (a Redis key with a TTL): the flows call
    /// [`TokenCache::confirm_lock`] with it right before sending a refresh.
    pub fn leased(guard: impl Send + Sync + 'static) -> Self {
        CacheLock {
            guard: Some(Box::new(guard)),
            lease: true,
        }
    }

    /// Whether it was made with [`leased`](Self::leased).
    pub fn has_lease(&self) -> bool {
        self.lease
    }

    /// The guard given to [`new`](Self::new), when it is a `G`: how a
    /// cache's [`write`](TokenCache::write) finds its own guard (and, say,
    /// the lock owner to fence with) in the lock it is handed.
    pub fn guard<G: Any>(&self) -> Option<&G> {
        self.guard.as_deref()?.downcast_ref::<G>()
    }

    /// Whether it holds a lock.
    pub fn is_held(&self) -> bool {
        self.guard.is_some()
    }
}

impl std::fmt::Debug for CacheLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.guard.is_some() {
            "CacheLock(held)"
        } else {
            "CacheLock(none)"
        })
    }
}

/// A shared or boxed cache is a cache.
macro_rules! forward_cache {
    ($($wrapper:ident),*) => {$(
        impl<C: TokenCache + ?Sized> TokenCache for $wrapper<C> {
            fn read(&self) -> Result<Option<Entry>> {
                (**self).read()
            }
            fn write(&self, entry: &Entry, lock: &CacheLock) -> Result<()> {
                (**self).write(entry, lock)
            }
            fn lock(&self) -> Result<CacheLock> {
                (**self).lock()
            }
            fn try_lock(&self) -> Result<Option<CacheLock>> {
                (**self).try_lock()
            }
            fn confirm_lock(&self, lock: &CacheLock) -> Result<bool> {
                (**self).confirm_lock(lock)
            }
            fn can_write_after_lapse(&self, lock: &CacheLock) -> Result<bool> {
                (**self).can_write_after_lapse(lock)
            }
            fn lock_async(&self, wait: bool) -> Option<LockFuture> {
                (**self).lock_async(wait)
            }
            fn watch_ended(&self, listener: EndedListener) {
                (**self).watch_ended(listener)
            }
            fn never_blocks(&self) -> bool {
                (**self).never_blocks()
            }
        }
    )*};
}
forward_cache!(Arc, Box);
