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
/// every call runs on tokio's blocking thread pool, so implementations may do
/// blocking I/O.
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
        }
    )*};
}
forward_cache!(Arc, Box);
