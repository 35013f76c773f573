//! The shared cache (a file, or a Redis key), the handles actors get on it,
//! and a wrapper that reports every write.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use spotify_auth::{CacheLock, EndReason, Entry, FileTokenCache, TokenCache};

use super::clock::unix_ms;
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

/// What an instance learnt through its cache.
#[derive(Default)]
pub struct Seen {
    /// Access token -> when the instance first read or wrote it (Unix ms).
    known: Mutex<HashMap<String, u64>>,
    /// The refresh tokens it read.
    read: Mutex<HashSet<String>>,
    /// The logout records it read (by their time).
    logouts: Mutex<HashSet<u64>>,
    /// The access token of the token it read or wrote last: what it holds
    /// (it adopts what it reads, and writes what it holds).
    latest: Mutex<Option<String>>,
    /// The refresh token of that token.
    latest_refresh: Mutex<Option<String>>,
}

impl Seen {
    /// When the instance first read or wrote `access_token`.
    pub fn known_since(&self, access_token: &str) -> Option<u64> {
        lock(&self.known).get(access_token).copied()
    }

    /// The access token of the token it read or wrote last.
    pub fn latest(&self) -> Option<String> {
        lock(&self.latest).clone()
    }

    /// The refresh token of the token it read or wrote last.
    pub fn latest_refresh(&self) -> Option<String> {
        lock(&self.latest_refresh).clone()
    }

    /// The instance holds nothing now (it read or wrote a record, or told
    /// a caller that the login ended).
    pub fn forget(&self) {
        *lock(&self.latest) = None;
        *lock(&self.latest_refresh) = None;
    }

    fn know(&self, token: &spotify_auth::TokenInfo) {
        let access_token = token.access_token.secret();
        lock(&self.known)
            .entry(access_token.to_owned())
            .or_insert_with(unix_ms);
        *lock(&self.latest) = Some(access_token.to_owned());
        *lock(&self.latest_refresh) = token.refresh_token.as_ref().map(|r| r.secret().to_owned());
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reports every `set` (the refresh token written and whether it worked),
/// every failed `get` or `clear` that followed a read of a token under the
/// same lock (the library checking, then removing, a refused token), the
/// first read of each refresh token and of each logout record, notes every
/// access token read or written ([`Seen`]), and passes every call through.
pub struct Recording {
    inner: Arc<dyn TokenCache>,
    actor: String,
    reporter: Reporter,
    /// The refresh token the first `get` since the last `lock` read.
    read: Mutex<Option<String>>,
    seen: Arc<Seen>,
}

impl Recording {
    pub fn new(inner: Arc<dyn TokenCache>, actor: &str, reporter: Reporter) -> Recording {
        Recording {
            inner,
            actor: actor.to_owned(),
            reporter,
            read: Mutex::new(None),
            seen: Arc::default(),
        }
    }

    /// What the instance using it learns through it.
    pub fn seen(&self) -> Arc<Seen> {
        Arc::clone(&self.seen)
    }

    /// Notes what a successful read returned: a record (or nothing) leaves
    /// the instance holding nothing until it writes what it holds.
    fn note_read(&self, entry: Option<&Entry>) {
        if !matches!(entry, Some(Entry::Token(_))) {
            self.seen.forget();
        }
        let Some(entry) = entry else { return };
        match entry {
            Entry::Token(token) => {
                self.seen.know(token);
                let Some(refresh) = &token.refresh_token else {
                    return;
                };
                if lock(&self.seen.read).insert(refresh.secret().to_owned()) {
                    self.reporter.send(Report::Read {
                        actor: self.actor.clone(),
                        refresh: refresh.secret().to_owned(),
                        at_ms: unix_ms(),
                    });
                }
            }
            Entry::Ended(record)
                if record.reason() == EndReason::Logout
                    && lock(&self.seen.logouts).insert(record.at_ms()) =>
            {
                self.reporter.send(Report::LogoutSeen {
                    actor: self.actor.clone(),
                    at_ms: unix_ms(),
                });
            }
            _ => {}
        }
    }

    fn last_read(&self) -> MutexGuard<'_, Option<String>> {
        lock(&self.read)
    }

    /// A failed call after `refresh` was read under the same lock.
    fn report_failure<T>(&self, result: &spotify_auth::Result<T>) {
        if let (Err(e), Some(refresh)) = (result, self.last_read().clone()) {
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
        if super::trace::on() {
            match &result {
                Ok(e) => super::trace::line(
                    &self.actor,
                    format_args!("read {}", super::trace::entry(e.as_ref())),
                ),
                Err(e) => super::trace::line(&self.actor, format_args!("read failed: {e}")),
            }
        }
        self.report_failure(&result);
        if let Ok(entry) = &result {
            self.note_read(entry.as_ref());
        }
        if let Ok(Some(Entry::Token(token))) = &result {
            let mut read = self.last_read();
            if read.is_none() {
                *read = token.refresh_token.as_ref().map(|r| r.secret().to_owned());
            }
        }
        result
    }

    fn write(&self, entry: &Entry, lock: &CacheLock) -> spotify_auth::Result<()> {
        match entry {
            Entry::Token(token) => self.seen.know(token),
            // A record the instance writes ends what it held.
            _ => self.seen.forget(),
        }
        let result = self.inner.write(entry, lock);
        if super::trace::on() {
            super::trace::line(
                &self.actor,
                format_args!(
                    "write {} ({:?}): {}",
                    super::trace::entry(Some(entry)),
                    lock,
                    result
                        .as_ref()
                        .map_or_else(ToString::to_string, |()| "ok".to_owned())
                ),
            );
        }
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
        *self.last_read() = None;
        if sabotaged() {
            return Ok(Some(CacheLock::none()));
        }
        let result = self.inner.try_lock();
        super::trace::line(&self.actor, format_args!("try_lock: {result:?}"));
        result
    }

    fn confirm_lock(&self, lock: &CacheLock) -> spotify_auth::Result<bool> {
        let result = self.inner.confirm_lock(lock);
        super::trace::line(&self.actor, format_args!("confirm_lock: {result:?}"));
        result
    }

    fn can_write_after_lapse(&self, lock: &CacheLock) -> spotify_auth::Result<bool> {
        let result = self.inner.can_write_after_lapse(lock);
        super::trace::line(
            &self.actor,
            format_args!("can_write_after_lapse: {result:?}"),
        );
        result
    }

    fn never_blocks(&self) -> bool {
        self.inner.never_blocks()
    }

    fn lock(&self) -> spotify_auth::Result<CacheLock> {
        *self.last_read() = None;
        if sabotaged() {
            return Ok(CacheLock::none());
        }
        let result = self.inner.lock();
        super::trace::line(&self.actor, format_args!("lock: {result:?}"));
        result
    }
}

/// `CHAOS_SABOTAGE=nolock`: the actors' caches do not lock, so sharers in
/// different processes refresh at once; a run must then fail (assertions 1
/// and 2). For checking that the harness catches a broken single flight.
fn sabotaged() -> bool {
    static NOLOCK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *NOLOCK.get_or_init(|| std::env::var("CHAOS_SABOTAGE").is_ok_and(|v| v == "nolock"))
}
