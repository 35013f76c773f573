//! Token caches: where a [`TokenInfo`] lives between calls and between runs.
//!
//! [`InMemoryTokenCache`] is the default; [`FileTokenCache`] persists to a JSON
//! file; implement [`TokenCache`] for anything else (a database, a keyring).

use std::sync::Arc;

use crate::{Result, TokenInfo};

mod file;
mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use file::{DEFAULT_PATH, FileTokenCache};
pub use memory::InMemoryTokenCache;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{RedisStore, RedisTokenCache};

/// Storage for one token.
///
/// Implementations must be cheap to call concurrently; the library calls them
/// only around an authorization or a refresh, never on the hot path of
/// `get_access_token` (it keeps the current token in memory). In the async API
/// every call runs on tokio's blocking thread pool (unless the cache says it
/// [never blocks](Self::never_blocks)), so implementations may do blocking
/// I/O.
///
/// # The cache is the truth
///
/// The library re-reads the cache under its lock before every refresh, and
/// takes what it finds as the state of the login: a newer token written by
/// another process is adopted; a cache that is empty where this instance had
/// a token is a logout (by another process, or `spotify-auth logout`), and the
/// login ends here too. So `get` must return what the last successful `set`
/// stored (or `None` after `clear`): a cache that forgets tokens logs users
/// out.
pub trait TokenCache: Send + Sync {
    /// The stored token, or `None` when there is none. A store that exists but
    /// cannot be read or parsed is an error, never `None`.
    fn get(&self) -> Result<Option<TokenInfo>>;

    /// Stores `token`, replacing any previous one, completely or not at all.
    fn set(&self, token: &TokenInfo) -> Result<()>;

    /// Removes the stored token (logout, or a refresh token Spotify refused).
    fn clear(&self) -> Result<()>;

    /// Takes this cache's exclusive refresh lock, held until the returned guard
    /// is dropped. A cache shared between processes (or machines) serialises
    /// refreshes with it so that only one of them refreshes; the library
    /// re-reads the cache after taking it. The default does nothing, which is
    /// right for a cache only one process uses.
    fn lock(&self) -> Result<CacheLock> {
        Ok(CacheLock::none())
    }

    /// Whether `get`, `set`, `clear` and [`try_lock`](Self::try_lock) return
    /// at once, without I/O or waiting (a store in this process's memory).
    /// The async API then calls them on the caller's task instead of tokio's
    /// blocking pool, which saves two thread hops per refresh. Default
    /// `false`: say `true` only when it holds.
    fn never_blocks(&self) -> bool {
        false
    }

    /// Takes the refresh lock if that can be done at once: `Ok(None)` when it
    /// is held by someone else, or when this cache cannot tell without
    /// blocking (the default); the library then waits with
    /// [`lock`](Self::lock), off the runtime.
    fn try_lock(&self) -> Result<Option<CacheLock>> {
        Ok(None)
    }
}

/// A held [`TokenCache::lock`]; dropping it releases the lock.
#[must_use = "the lock is released when this guard is dropped"]
pub struct CacheLock(#[allow(dead_code)] Option<Box<dyn Send>>);

impl CacheLock {
    /// A guard that holds nothing.
    pub fn none() -> Self {
        CacheLock(None)
    }

    /// A guard that releases the lock when `guard` is dropped.
    pub fn new(guard: impl Send + 'static) -> Self {
        CacheLock(Some(Box::new(guard)))
    }
}

impl std::fmt::Debug for CacheLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
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
            fn get(&self) -> Result<Option<TokenInfo>> {
                (**self).get()
            }
            fn set(&self, token: &TokenInfo) -> Result<()> {
                (**self).set(token)
            }
            fn clear(&self) -> Result<()> {
                (**self).clear()
            }
            fn lock(&self) -> Result<CacheLock> {
                (**self).lock()
            }
            fn never_blocks(&self) -> bool {
                (**self).never_blocks()
            }
            fn try_lock(&self) -> Result<Option<CacheLock>> {
                (**self).try_lock()
            }
        }
    )*};
}
forward_cache!(Arc, Box);
