//! The shared cache (a file, or a Redis key), the handles actors get on it,
//! and a wrapper that reports every write.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use spotify_auth::{CacheLock, Entry, FileTokenCache, TokenCache};

use super::report::{Report, Reporter};

/// Where the shared token is, as passed to children.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum CacheSpec {
    File {
        path: PathBuf,
    },
    Redis {
        url: String,
        key: String,
        lock_ttl_ms: u64,
    },
}

/// Opens handles on the shared cache; one per process (for Redis: one
/// connection pool per process, as a service would have).
pub struct SharedCache {
    spec: CacheSpec,
    #[cfg(feature = "redis")]
    store: Option<spotify_auth::RedisStore>,
}

impl SharedCache {
    pub fn new(spec: CacheSpec) -> Self {
        #[cfg(feature = "redis")]
        let store = match &spec {
            CacheSpec::Redis {
                url, lock_ttl_ms, ..
            } => Some(
                spotify_auth::RedisStore::open(url)
                    .unwrap()
                    .with_max_connections(16)
                    .with_lock_ttl(std::time::Duration::from_millis(*lock_ttl_ms)),
            ),
            CacheSpec::File { .. } => None,
        };
        Self {
            spec,
            #[cfg(feature = "redis")]
            store,
        }
    }

    /// A new handle: for Redis, a lock holder of its own (another machine,
    /// as far as the lock is concerned).
    pub fn handle(&self) -> Arc<dyn TokenCache> {
        match &self.spec {
            CacheSpec::File { path } => Arc::new(FileTokenCache::new(path)),
            #[cfg(feature = "redis")]
            CacheSpec::Redis { key, .. } => Arc::new(self.store.as_ref().unwrap().cache(key)),
            #[cfg(not(feature = "redis"))]
            CacheSpec::Redis { .. } => panic!("a Redis cache needs the redis feature"),
        }
    }
}

/// Reports every `set` (the refresh token written and whether it worked),
/// and every failed `get` or `clear` that followed a read of a token under
/// the same lock (the library checking, then removing, a refused token), and
/// passes every call through.
pub struct Recording {
    inner: Arc<dyn TokenCache>,
    actor: String,
    reporter: Reporter,
    /// The refresh token the first `get` since the last `lock` read.
    read: Mutex<Option<String>>,
}

impl Recording {
    pub fn new(inner: Arc<dyn TokenCache>, actor: &str, reporter: Reporter) -> Recording {
        Recording {
            inner,
            actor: actor.to_owned(),
            reporter,
            read: Mutex::new(None),
        }
    }

    fn seen(&self) -> MutexGuard<'_, Option<String>> {
        self.read.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A failed call after `refresh` was read under the same lock.
    fn report_failure<T>(&self, result: &spotify_auth::Result<T>) {
        if let (Err(e), Some(refresh)) = (result, self.seen().clone()) {
            self.reporter.send(Report::RemovalFailed {
                actor: self.actor.clone(),
                refresh,
                error: e.to_string(),
            });
        }
    }
}

impl TokenCache for Recording {
    fn read(&self) -> spotify_auth::Result<Option<Entry>> {
        let result = self.inner.read();
        self.report_failure(&result);
        if let Ok(Some(Entry::Token(token))) = &result {
            let mut read = self.seen();
            if read.is_none() {
                *read = token.refresh_token.as_ref().map(|r| r.secret().to_owned());
            }
        }
        result
    }

    fn write(&self, entry: &Entry, lock: &CacheLock) -> spotify_auth::Result<()> {
        let result = self.inner.write(entry, lock);
        match entry {
            Entry::Token(token) => {
                if let Some(refresh) = &token.refresh_token {
                    self.reporter.send(Report::Write {
                        actor: self.actor.clone(),
                        refresh: refresh.secret().to_owned(),
                        error: result.as_ref().err().map(ToString::to_string),
                    });
                }
            }
            _ => self.report_failure(&result),
        }
        result
    }

    fn try_lock(&self) -> spotify_auth::Result<Option<CacheLock>> {
        *self.seen() = None;
        if sabotaged() {
            return Ok(Some(CacheLock::none()));
        }
        self.inner.try_lock()
    }

    fn confirm_lock(&self, lock: &CacheLock) -> spotify_auth::Result<bool> {
        self.inner.confirm_lock(lock)
    }

    fn never_blocks(&self) -> bool {
        self.inner.never_blocks()
    }

    fn lock(&self) -> spotify_auth::Result<CacheLock> {
        *self.seen() = None;
        if sabotaged() {
            return Ok(CacheLock::none());
        }
        self.inner.lock()
    }
}

/// `CHAOS_SABOTAGE=nolock`: the actors' caches do not lock, so sharers in
/// different processes refresh at once; a run must then fail (assertions 1
/// and 2). For checking that the harness catches a broken single flight.
fn sabotaged() -> bool {
    static NOLOCK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *NOLOCK.get_or_init(|| std::env::var("CHAOS_SABOTAGE").is_ok_and(|v| v == "nolock"))
}
