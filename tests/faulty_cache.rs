//! `testing::FaultyCache`: a `TokenCache` wrapper that passes calls through,
//! counts them, and fails the ones it is told to.

use std::sync::{Arc, Mutex};

use spotify_auth::testing::{CacheOp, FaultyCache};
use spotify_auth::{CacheLock, Entry, Error, InMemoryTokenCache, TokenCache, TokenInfo};

fn token(access: &str) -> TokenInfo {
    TokenInfo::new(access, 4_000_000_000).with_refresh_token("AQ-refresh-secret")
}

/// An inner cache that logs every call it receives.
#[derive(Default)]
struct Logging {
    log: Mutex<Vec<&'static str>>,
    stored: InMemoryTokenCache,
}

impl Logging {
    fn log(&self) -> Vec<&'static str> {
        self.log.lock().unwrap().clone()
    }
}

impl TokenCache for Logging {
    fn read(&self) -> spotify_auth::Result<Option<Entry>> {
        self.log.lock().unwrap().push("read");
        self.stored.read()
    }
    fn write(&self, entry: &Entry, lock: &CacheLock) -> spotify_auth::Result<()> {
        let what = match entry {
            Entry::Token(_) => "write_token",
            _ => "write_record",
        };
        self.log.lock().unwrap().push(what);
        self.stored.write(entry, lock)
    }
    fn lock(&self) -> spotify_auth::Result<CacheLock> {
        self.log.lock().unwrap().push("lock");
        Ok(CacheLock::new("held"))
    }
}

fn assert_injected<T: std::fmt::Debug>(result: spotify_auth::Result<T>, op: &str) {
    match result {
        Err(Error::Cache {
            path: None,
            message,
            source: None,
            ..
        }) => {
            assert!(message.contains("injected"), "{message}");
            assert!(message.contains(op), "{message}");
        }
        other => panic!("expected an injected {op} failure, got {other:?}"),
    }
}

#[test]
fn every_call_passes_through_and_is_counted() {
    let cache = FaultyCache::new(Logging::default());
    assert!(cache.get().unwrap().is_none());
    cache.set(&token("BQ-1")).unwrap();
    assert_eq!(cache.get().unwrap().unwrap().access_token.secret(), "BQ-1");
    let guard = cache.lock().unwrap();
    assert_eq!(format!("{guard:?}"), "CacheLock(held)", "the inner guard");
    drop(guard);
    cache.clear().unwrap();
    assert!(cache.get().unwrap().is_none());

    // `set` and `clear` (a logout record) take the lock; `clear` reads what
    // it ends.
    assert_eq!(
        cache.inner().log(),
        [
            "read",
            "lock",
            "write_token",
            "read",
            "lock",
            "lock",
            "read",
            "write_record",
            "read"
        ]
    );
    assert_eq!(cache.calls(CacheOp::Read), 4);
    assert_eq!(cache.calls(CacheOp::WriteToken), 1);
    assert_eq!(cache.calls(CacheOp::WriteRecord), 1);
    assert_eq!(cache.calls(CacheOp::Lock), 3);
    assert!(CacheOp::ALL.iter().all(|&op| cache.failures(op) == 0));
}

#[test]
fn fail_next_fails_that_many_calls_of_that_operation_only() {
    let cache = FaultyCache::new(Logging::default());
    cache.set(&token("BQ-1")).unwrap();
    cache.fail_next(CacheOp::WriteToken, 2);
    cache.fail_next(CacheOp::WriteToken, 1); // adds up: three failures

    for _ in 0..3 {
        assert_injected(cache.set(&token("BQ-2")), "write_token");
        // Other operations are untouched, and a failed set stored nothing.
        assert_eq!(cache.get().unwrap().unwrap().access_token.secret(), "BQ-1");
    }
    cache.set(&token("BQ-2")).unwrap();
    assert_eq!(cache.get().unwrap().unwrap().access_token.secret(), "BQ-2");

    assert_eq!(cache.calls(CacheOp::WriteToken), 5);
    assert_eq!(cache.failures(CacheOp::WriteToken), 3);
    assert_eq!(cache.failures(CacheOp::Read), 0);
    // Failed calls never reached the inner cache.
    let sets = cache
        .inner()
        .log()
        .iter()
        .filter(|&&c| c == "write_token")
        .count();
    assert_eq!(sets, 2);
    cache.fail_next(CacheOp::WriteRecord, 0);
    cache.clear().unwrap();
}

#[test]
fn each_operation_can_fail() {
    let cache = FaultyCache::new(Logging::default());
    for op in CacheOp::ALL {
        cache.fail_next(op, 1);
    }
    assert_injected(cache.get(), "read");
    assert_injected(cache.set(&token("BQ")), "lock");
    assert_injected(cache.set(&token("BQ")), "write_token");
    assert_injected(cache.clear(), "write_record");
    assert!(
        cache
            .inner()
            .log()
            .iter()
            .all(|&c| c == "lock" || c == "read"),
        "a failed call does not reach the inner cache: {:?}",
        cache.inner().log()
    );
    let before = cache.inner().log().len();
    assert!(cache.get().is_ok() && cache.lock().is_ok());
    assert!(cache.set(&token("BQ")).is_ok() && cache.clear().is_ok());
    assert_eq!(
        cache.inner().log()[before..],
        [
            "read",
            "lock",
            "lock",
            "write_token",
            "lock",
            "read",
            "write_record"
        ]
    );
}

#[test]
fn fail_always_lasts_until_healed() {
    let cache = FaultyCache::new(InMemoryTokenCache::new());
    cache.fail_always(CacheOp::Read);
    cache.fail_always(CacheOp::Lock);
    cache.fail_next(CacheOp::WriteRecord, 5);
    for _ in 0..10 {
        assert_injected(cache.get(), "read");
    }
    cache.heal(CacheOp::Read);
    assert!(cache.get().unwrap().is_none());
    assert_injected(cache.lock(), "lock");
    assert_injected(cache.clear(), "lock");

    cache.heal_all();
    assert!(cache.lock().is_ok());
    assert!(cache.clear().is_ok(), "pending fail_next is forgotten too");
    assert_eq!(cache.calls(CacheOp::Read), 12);
    assert_eq!(cache.failures(CacheOp::Read), 10);
    assert_eq!(cache.failures(CacheOp::WriteRecord), 0);
}

#[test]
fn shared_between_threads_behind_an_arc() {
    let cache = Arc::new(FaultyCache::new(InMemoryTokenCache::with_token(token(
        "BQ",
    ))));
    cache.fail_next(CacheOp::Read, 50);
    let failed: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let cache = Arc::clone(&cache);
                scope.spawn(move || (0..25).filter(|_| cache.get().is_err()).count())
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(failed, 50);
    assert_eq!(cache.calls(CacheOp::Read), 100);
    assert_eq!(cache.failures(CacheOp::Read), 50);
    // An Arc of it is a cache too, and so is a box of that.
    let boxed: Box<dyn TokenCache> = Box::new(Arc::clone(&cache));
    assert!(boxed.get().unwrap().is_some());
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    send_sync(&cache);
}

#[test]
fn debug_shows_counters_not_the_token() {
    let cache = FaultyCache::new(InMemoryTokenCache::with_token(token("BQ-secret-access")));
    cache.fail_next(CacheOp::WriteToken, 1);
    let _ = cache.get();
    let debug = format!("{cache:?}");
    assert!(debug.starts_with("FaultyCache"), "{debug}");
    assert!(debug.contains("InMemoryTokenCache"), "{debug}");
    assert!(debug.contains("calls: 1"), "{debug}");
    assert!(debug.contains("fail_next: 1"), "{debug}");
    assert!(!debug.contains("BQ-secret-access"), "{debug}");
    assert!(!debug.contains("AQ-refresh-secret"), "{debug}");
    assert_eq!(CacheOp::Lock.to_string(), "lock");
    let error = cache.set(&token("BQ")).unwrap_err().to_string();
    assert!(error.contains("injected failure of write_token"), "{error}");
    assert_eq!(
        cache
            .into_inner()
            .get()
            .unwrap()
            .unwrap()
            .access_token
            .secret(),
        "BQ-secret-access"
    );
}

#[cfg(feature = "blocking")]
#[test]
fn the_library_sees_an_injected_failure_as_a_cache_error() {
    let server = spotify_auth::testing::FakeSpotify::builder()
        .client("id", Some("secret"))
        .start()
        .unwrap();
    let refresh_token = server.issue_refresh_token("id", "");
    let cache = Arc::new(FaultyCache::new(InMemoryTokenCache::new()));
    let auth = spotify_auth::blocking::AuthorizationCode::builder()
        .read_environment(false)
        .client_id("id")
        .client_secret("secret")
        .redirect_uri("http://127.0.0.1:8888/callback")
        .accounts_base_url(server.url())
        .backoff_hook(|_| std::time::Duration::ZERO)
        .refresh_token(refresh_token.as_str())
        .token_cache(Arc::clone(&cache))
        .build()
        .unwrap();

    // The first call looks at the store, then refreshes: both take the lock.
    cache.fail_next(CacheOp::Lock, 2);
    assert_injected(auth.get_access_token(), "lock");
    assert_eq!(
        server.token_request_count(),
        0,
        "nothing sent without the lock"
    );

    assert!(auth.get_access_token().is_ok());
    assert_eq!(server.token_request_count(), 1);
    assert!(cache.calls(CacheOp::Lock) >= 2);
    assert!(cache.calls(CacheOp::WriteToken) >= 1);
}
