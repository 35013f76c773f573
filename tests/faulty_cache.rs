//! `testing::FaultyCache`: a `TokenCache` wrapper that passes calls through,
//! counts them, and fails the ones it is told to.

use std::sync::{Arc, Mutex};

use spotify_auth::testing::{CacheOp, FaultyCache};
use spotify_auth::{
    AccessToken, CacheLock, Error, InMemoryTokenCache, RefreshToken, TokenCache, TokenInfo,
};

fn token(access: &str) -> TokenInfo {
    TokenInfo {
        access_token: AccessToken::new(access),
        expires_at: 4_000_000_000,
        refresh_token: Some(RefreshToken::new("AQ-refresh-secret")),
        scope: None,
        authorized_at: None,
    }
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
    fn get(&self) -> spotify_auth::Result<Option<TokenInfo>> {
        self.log.lock().unwrap().push("get");
        self.stored.get()
    }
    fn set(&self, token: &TokenInfo) -> spotify_auth::Result<()> {
        self.log.lock().unwrap().push("set");
        self.stored.set(token)
    }
    fn clear(&self) -> spotify_auth::Result<()> {
        self.log.lock().unwrap().push("clear");
        self.stored.clear()
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

    assert_eq!(
        cache.inner().log(),
        ["get", "set", "get", "lock", "clear", "get"]
    );
    assert_eq!(cache.calls(CacheOp::Get), 3);
    assert_eq!(cache.calls(CacheOp::Set), 1);
    assert_eq!(cache.calls(CacheOp::Clear), 1);
    assert_eq!(cache.calls(CacheOp::Lock), 1);
    assert!(CacheOp::ALL.iter().all(|&op| cache.failures(op) == 0));
}

#[test]
fn fail_next_fails_that_many_calls_of_that_operation_only() {
    let cache = FaultyCache::new(Logging::default());
    cache.set(&token("BQ-1")).unwrap();
    cache.fail_next(CacheOp::Set, 2);
    cache.fail_next(CacheOp::Set, 1); // adds up: three failures

    for _ in 0..3 {
        assert_injected(cache.set(&token("BQ-2")), "set");
        // Other operations are untouched, and a failed set stored nothing.
        assert_eq!(cache.get().unwrap().unwrap().access_token.secret(), "BQ-1");
    }
    cache.set(&token("BQ-2")).unwrap();
    assert_eq!(cache.get().unwrap().unwrap().access_token.secret(), "BQ-2");

    assert_eq!(cache.calls(CacheOp::Set), 5);
    assert_eq!(cache.failures(CacheOp::Set), 3);
    assert_eq!(cache.failures(CacheOp::Get), 0);
    // Failed calls never reached the inner cache.
    let sets = cache.inner().log().iter().filter(|&&c| c == "set").count();
    assert_eq!(sets, 2);
    cache.fail_next(CacheOp::Clear, 0);
    cache.clear().unwrap();
}

#[test]
fn each_operation_can_fail() {
    let cache = FaultyCache::new(Logging::default());
    for op in CacheOp::ALL {
        cache.fail_next(op, 1);
    }
    assert_injected(cache.get(), "get");
    assert_injected(cache.set(&token("BQ")), "set");
    assert_injected(cache.clear(), "clear");
    assert_injected(cache.lock(), "lock");
    assert!(cache.inner().log().is_empty());
    assert!(cache.get().is_ok() && cache.lock().is_ok());
    assert!(cache.set(&token("BQ")).is_ok() && cache.clear().is_ok());
    assert_eq!(cache.inner().log(), ["get", "lock", "set", "clear"]);
}

#[test]
fn fail_always_lasts_until_healed() {
    let cache = FaultyCache::new(InMemoryTokenCache::new());
    cache.fail_always(CacheOp::Get);
    cache.fail_always(CacheOp::Lock);
    cache.fail_next(CacheOp::Clear, 5);
    for _ in 0..10 {
        assert_injected(cache.get(), "get");
    }
    cache.heal(CacheOp::Get);
    assert!(cache.get().unwrap().is_none());
    assert_injected(cache.lock(), "lock");
    assert_injected(cache.clear(), "clear");

    cache.heal_all();
    assert!(cache.lock().is_ok());
    assert!(cache.clear().is_ok(), "pending fail_next is forgotten too");
    assert_eq!(cache.calls(CacheOp::Get), 11);
    assert_eq!(cache.failures(CacheOp::Get), 10);
    assert_eq!(cache.failures(CacheOp::Clear), 1);
}

#[test]
fn shared_between_threads_behind_an_arc() {
    let cache = Arc::new(FaultyCache::new(InMemoryTokenCache::with_token(token(
        "BQ",
    ))));
    cache.fail_next(CacheOp::Get, 50);
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
    assert_eq!(cache.calls(CacheOp::Get), 100);
    assert_eq!(cache.failures(CacheOp::Get), 50);
    // An Arc of it is a cache too, and so is a box of that.
    let boxed: Box<dyn TokenCache> = Box::new(Arc::clone(&cache));
    assert!(boxed.get().unwrap().is_some());
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    send_sync(&cache);
}

#[test]
fn debug_shows_counters_not_the_token() {
    let cache = FaultyCache::new(InMemoryTokenCache::with_token(token("BQ-secret-access")));
    cache.fail_next(CacheOp::Set, 1);
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
    assert!(error.contains("injected failure of set"), "{error}");
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

    cache.fail_next(CacheOp::Lock, 1);
    assert_injected(auth.get_access_token(), "lock");
    assert_eq!(
        server.token_request_count(),
        0,
        "nothing sent without the lock"
    );

    assert!(auth.get_access_token().is_ok());
    assert_eq!(server.token_request_count(), 1);
    assert!(cache.calls(CacheOp::Lock) >= 2);
    assert!(cache.calls(CacheOp::Set) >= 1);
}
