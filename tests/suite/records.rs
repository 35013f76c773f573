//! A login is a record, not a key (issue 15): the rows of its fault table,
//! each in both modes. Every test here failed on the code before the
//! records (the commit that added it names the row).

use super::lifecycle::{
    WRITE_ATTEMPTS, faulty, follow_authorize, follow_authorize_url, rotating, short_lived, stored,
};
use super::*;
use spotify_auth::testing::{CacheOp, FakeSpotify, Fault};
use spotify_auth::{EndReason, Entry, FileTokenCache};

/// The refresh tokens the token endpoint was sent, in order.
fn refresh_tokens_sent(server: &FakeSpotify) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter_map(|r| r.form_param("refresh_token").map(str::to_owned))
        .collect()
}

/// The record a store holds, if it holds one.
fn record(cache: &dyn TokenCache) -> Option<spotify_auth::LoginEnded> {
    cache.read().unwrap().and_then(|e| e.ended().cloned())
}

flow_test! {
    /// Row 1: the store loses its data (a Redis restart without
    /// persistence, an eviction, a file removed by hand) while an instance
    /// holds a live login: the instance writes it back and goes on.
    async fn a_store_that_lost_its_data_is_repaired_from_memory() {
        // Tokens stale as soon as issued: every call goes to the store.
        let (server, stale) = short_lived();
        let cache = cache_with(stale);
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        let first = auth.get_access_token().await;
        assert!(first.is_ok(), "{first:?}");
        cache.lose_data();
        let got = auth.get_access_token().await;
        assert!(got.is_ok(), "the login goes on: {got:?}");
        let repaired = cache.get().unwrap().expect("written back");
        assert_eq!(repaired.access_token.secret(), got.unwrap());
        assert_eq!(server.token_request_count(), 2);
        // A sharer picks the repaired login up.
        let other = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        let shared = other.get_access_token().await;
        assert!(shared.is_ok(), "{shared:?}");
    }
}

flow_test! {
    /// Row 1 with a file removed by hand, by an instance whose token is
    /// still valid: nothing notices until the next refresh, which repairs.
    async fn a_token_file_removed_by_hand_is_written_back() {
        let (server, stale) = rotating();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.json");
        FileTokenCache::new(&path).set(&stale).unwrap();
        let auth = builder(server.url())
            .refresh_margin(Duration::from_secs(1))
            .token_cache(FileTokenCache::new(&path))
            .build()
            .unwrap();
        let token = auth.get_access_token().await.unwrap();
        std::fs::remove_file(&path).unwrap();
        let forced = auth.force_refresh().await;
        assert!(forced.is_ok(), "{forced:?}");
        let back = FileTokenCache::new(&path).get().unwrap().expect("written back");
        assert_eq!(back.access_token.secret(), forced.unwrap());
        assert_ne!(back.access_token.secret(), token);
        assert_eq!(server.token_request_count(), 2);
    }
}

flow_test! {
    /// Row 4: a token issued over an empty store (an exchange) whose write
    /// could not even take the lock is owed with its time; a sharer logs
    /// out meanwhile: the owed write never lands after that logout.
    async fn an_owed_write_never_lands_after_a_logout_made_since() {
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, Some(CLIENT_SECRET))
            .redirect_uri(REDIRECT)
            .start()
            .unwrap();
        let shared = Arc::new(InMemoryTokenCache::new());
        let a_cache = Arc::new(spotify_auth::testing::FaultyCache::new(shared.clone()));
        let a = builder(server.url()).token_cache(a_cache.clone()).build().unwrap();
        let b = builder(server.url()).token_cache(shared.clone()).build().unwrap();
        let url = a.get_authorization_url(Some("st"), None, false).unwrap();
        a_cache.fail_always(CacheOp::Lock);
        let exchanged = a.exchange_code(follow_authorize(&url)).await;
        assert!(matches!(exchanged, Err(Error::TokenNotStored { .. })), "{exchanged:?}");
        // Another process logs out (it knows nothing of A's token).
        let out = b.logout().await;
        assert!(out.is_ok(), "{out:?}");
        a_cache.heal(CacheOp::Lock);
        eventually("the owed write given up", || a.cache_write_error().is_none()).await;
        assert!(record(&*shared).is_some_and(|r| r.reason() == EndReason::Logout), "the logout stands");
        let got = a.get_access_token().await;
        assert!(matches!(got, Err(Error::NotAuthorized)), "{got:?}");
        assert_eq!(server.token_request_count(), 1, "nothing sent after the exchange");
    }
}

flow_test! {
    /// Row 4, as the issue found it: the write of a token issued over an
    /// empty store (a bootstrap refresh) fails; a sharer logs out. The
    /// instance that owes the write keeps the store's lock while it retries,
    /// so the logout is written after the token, never the other way round.
    async fn a_logout_during_an_owed_write_is_written_after_it() {
        let (server, stale) = rotating();
        let boot = stale.refresh_token.clone().unwrap();
        let shared = Arc::new(InMemoryTokenCache::new());
        let a_cache = Arc::new(spotify_auth::testing::FaultyCache::new(shared.clone()));
        let a = builder(server.url())
            .refresh_token(boot.secret())
            .token_cache(a_cache.clone())
            .build()
            .unwrap();
        let b = builder(server.url()).token_cache(shared.clone()).build().unwrap();
        // The quick retries and the first retry beside the callers fail.
        a_cache.fail_next(CacheOp::WriteToken, 2 * WRITE_ATTEMPTS);
        let token = a.get_access_token().await.unwrap();
        let out = b.logout().await;
        assert!(out.is_ok(), "{out:?}");
        let ended = record(&*shared).expect("a logout record");
        let issued = server.issued_refresh_tokens();
        let a_refresh = RefreshToken::new(issued.last().unwrap().token());
        assert!(ended.ends(&a_refresh), "the logout names A's token: it was stored first");
        let issued = a_cache.calls(CacheOp::WriteToken);
        assert!(issued > 2 * WRITE_ATTEMPTS, "A's token was written first");
        // A's access token is still valid, and A sees the logout at its next
        // refresh (here forced): nothing is sent, nothing written back.
        let got = a.force_refresh().await;
        assert!(matches!(got, Err(Error::NotAuthorized)), "{got:?}");
        assert_ne!(got.ok(), Some(token));
        assert_eq!(server.token_request_count(), 1);
        assert!(shared.get().unwrap().is_none(), "logged out");
    }
}

flow_test! {
    /// Row 5: a sharer configured with a bootstrap refresh token (a
    /// builder's `refresh_token`, the environment) after another sharer
    /// logged out: the logged-out token is never sent; a new one is.
    async fn a_logged_out_bootstrap_token_is_never_sent_again() {
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, Some(CLIENT_SECRET))
            .start()
            .unwrap();
        let boot = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        let cache = Arc::new(InMemoryTokenCache::new());
        let a = builder(server.url()).refresh_token(boot.as_str()).token_cache(cache.clone()).build().unwrap();
        let first = a.get_access_token().await;
        assert!(first.is_ok(), "{first:?}");
        // `spotify-auth logout` (the store's own clear) in another process.
        cache.clear().unwrap();
        let c = builder(server.url()).refresh_token(boot.as_str()).token_cache(cache.clone()).build().unwrap();
        let got = c.get_access_token().await;
        assert!(matches!(got, Err(Error::NotAuthorized)), "{got:?}");
        assert_eq!(server.token_request_count(), 1, "the logged-out token is not sent");
        let again = a.get_access_token().await;
        assert!(again.is_ok(), "A's access token is still valid (a logout is seen at the next refresh): {again:?}");
        // A new bootstrap token starts a new login.
        let fresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        let d = builder(server.url()).refresh_token(fresh.as_str()).token_cache(cache.clone()).build().unwrap();
        let got = d.get_access_token().await;
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(refresh_tokens_sent(&server), [boot.clone(), fresh]);
    }
}

flow_test! {
    /// Row 6: a callback submitted twice (a reload, a double click): one
    /// request for one code, concurrent or moments apart, PKCE or not.
    async fn one_code_is_exchanged_once() {
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, Some(CLIENT_SECRET))
            .client("public-client", None)
            .redirect_uri(REDIRECT)
            .start()
            .unwrap();
        for public in [false, true] {
            let b = builder(server.url());
            let b = if public { b.client_id("public-client").client_secret("") } else { b };
            let auth = Arc::new(b.build().unwrap());
            let url = auth.get_authorization_url(Some("st"), None, false).unwrap();
            let callback = follow_authorize_url(&url);
            let code = auth.parse_response_url(&callback, Some("st")).unwrap();
            let before = server.token_request_count();
            let (a, c) = (auth.clone(), code.clone());
            let results = support::concurrently(6, move || {
                let (auth, code) = (a.clone(), c.clone());
                async move { auth.exchange_code(code).await }
            })
            .await;
            let tokens: Vec<TokenInfo> = results.into_iter().map(|r| r.expect("every caller gets the result")).collect();
            assert!(tokens.iter().all(|t| *t == tokens[0]), "public {public}");
            let later = auth.exchange_code(code).await;
            assert_eq!(later.unwrap(), tokens[0], "public {public}: moments later, the same result");
            assert_eq!(server.token_request_count() - before, 1, "public {public}: one request");
        }
    }
}

flow_test! {
    /// Row 8: a token valid for 20 more seconds (inside the margin) while
    /// the store is down, or its lock is held by a stopped process: callers
    /// get it at once; the refresh due runs beside them and fails quietly.
    async fn a_valid_token_never_waits_for_a_store_that_is_down() {
        let (server, _) = rotating();
        let refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        // Every refresh ahead fails (the endpoint is down too).
        server.inject(Fault::Status(503), 1000);
        let cache = faulty(Some(token("still-good", 20, Some(&refresh))));
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        let first = auth.get_access_token().await;
        assert_eq!(first.unwrap(), "still-good", "the first call serves it too");
        cache.fail_always(CacheOp::Read);
        cache.fail_always(CacheOp::Lock);
        for _ in 0..20 {
            let got = auth.get_access_token().await;
            assert_eq!(got.unwrap(), "still-good");
            let header = auth.get_authorization_header().await;
            assert_eq!(header.unwrap(), "Bearer still-good");
        }
        // A lock held elsewhere (another process, stopped): no wait either.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.json");
        FileTokenCache::new(&path).set(&token("still-good", 20, Some(&refresh))).unwrap();
        let auth = builder(server.url())
            .token_cache(FileTokenCache::new(&path).with_lock_wait(Duration::from_secs(30)))
            .build()
            .unwrap();
        let first = auth.get_access_token().await;
        assert_eq!(first.unwrap(), "still-good");
        let held = FileTokenCache::new(&path).lock().unwrap();
        let started = std::time::Instant::now();
        for _ in 0..20 {
            let got = auth.get_access_token().await;
            assert_eq!(got.unwrap(), "still-good");
        }
        // A bound against a hang, not a timing assertion: waiting for the
        // lock would take its whole 30 s wait.
        assert!(started.elapsed() < Duration::from_secs(20), "a valid token waited for the lock");
        drop(held);
    }
}

flow_test! {
    /// Row 8's other half: an expired token and a lock held elsewhere for
    /// good: the wait is bounded (the file cache's lock wait), then a
    /// passing error; nothing sent.
    async fn the_wait_for_a_file_lock_held_elsewhere_is_bounded() {
        let (server, stale) = rotating();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.json");
        FileTokenCache::new(&path).set(&stale).unwrap();
        let held = FileTokenCache::new(&path).lock().unwrap();
        let auth = builder(server.url())
            .token_cache(FileTokenCache::new(&path).with_lock_wait(Duration::from_millis(200)))
            .build()
            .unwrap();
        let got = auth.get_access_token().await;
        match got {
            Err(Error::Cache { message, .. }) => assert!(message.contains("still held"), "{message}"),
            other => panic!("a bounded wait: {other:?}"),
        }
        drop(held);
        let got = auth.get_access_token().await;
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    /// F1 (the chaos test's finding): A's write keeps failing through its
    /// quick retries; a sharer B whose token expired must not read the
    /// stale store and spend the refresh token A already spent. A keeps the
    /// store's lock while it owes the write, and retries it beside its
    /// callers; B waits for it and adopts A's token.
    async fn a_write_that_keeps_failing_does_not_end_a_sharers_login() {
        let (server, stale) = rotating();
        let spent = stale.refresh_token.clone().unwrap();
        let shared = cache_with(stale);
        let a_cache = Arc::new(spotify_auth::testing::FaultyCache::new(shared.clone()));
        let a = builder(server.url()).token_cache(a_cache.clone()).build().unwrap();
        let b = builder(server.url()).token_cache(shared.clone()).build().unwrap();
        a_cache.fail_next(CacheOp::WriteToken, WRITE_ATTEMPTS + 1);
        let from_a = a.get_access_token().await.unwrap();
        let from_b = b.get_access_token().await;
        assert_eq!(from_b.expect("B's login goes on"), from_a, "B adopted A's token");
        assert_eq!(refresh_tokens_sent(&server), [spent.secret().to_owned()], "T was sent once");
        assert!(a.cache_write_error().is_none());
    }
}

flow_test! {
    /// Item 8: a 2xx answer that is incomplete (no `expires_in`) still
    /// carries the rotated refresh token: it is stored for the next
    /// refresh before the problem is reported.
    async fn an_incomplete_answer_keeps_its_rotated_refresh_token() {
        let (server, stale) = rotating();
        let cache = cache_with(stale);
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        server.inject(
            Fault::body(200, "application/json", r#"{"access_token":"half","refresh_token":"rotated-by-spotify"}"#),
            1,
        );
        let got = auth.get_access_token().await;
        match got {
            Err(Error::InvalidTokenResponse { reason, .. }) => {
                assert!(reason.contains("expires_in"), "{reason}");
                assert!(!reason.contains("rotated-by-spotify"), "{reason}");
            }
            other => panic!("the problem is reported: {other:?}"),
        }
        let kept = cache.get().unwrap().unwrap();
        assert_eq!(kept.refresh_token.as_ref().unwrap().secret(), "rotated-by-spotify");
        assert!(kept.is_expired(), "its access token is never handed out");
        // The next call refreshes with it.
        let _ = auth.get_access_token().await;
        assert_eq!(refresh_tokens_sent(&server).last().map(String::as_str), Some("rotated-by-spotify"));
    }
}

flow_test! {
    /// Item 6: `close()` makes a write still owed to the store.
    async fn close_makes_an_owed_write() {
        let (server, stale) = rotating();
        let cache = faulty(Some(stale.clone()));
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        cache.fail_always(CacheOp::WriteToken);
        let token = auth.get_access_token().await.unwrap();
        assert!(auth.cache_write_error().is_some());
        cache.heal(CacheOp::WriteToken);
        let closed = auth.close().await;
        assert!(closed.is_ok(), "{closed:?}");
        assert_eq!(stored(&cache).unwrap().access_token.secret(), token);
    }
}

flow_test! {
    /// `close()` reports a write it could not make: the token is lost with
    /// the process, and the caller should know.
    async fn close_reports_a_write_it_could_not_make() {
        let (server, stale) = rotating();
        let cache = faulty(Some(stale.clone()));
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        cache.fail_always(CacheOp::WriteToken);
        let _ = auth.get_access_token().await.unwrap();
        let closed = auth.close().await;
        assert!(matches!(closed, Err(Error::TokenNotStored { .. })), "{closed:?}");
        assert_eq!(stored(&cache), Some(stale));
        cache.heal(CacheOp::WriteToken);
        assert!(matches!(cache.inner().read().unwrap(), Some(Entry::Token(_))));
    }
}

/// A shared in-memory store that tells its watchers of a logout, as a Redis
/// store does across machines.
struct Watching {
    inner: Arc<InMemoryTokenCache>,
    listeners: std::sync::Mutex<Vec<spotify_auth::EndedListener>>,
}

impl Watching {
    fn logout_elsewhere(&self) {
        self.inner.clear().unwrap();
        for listener in self.listeners.lock().unwrap().iter() {
            listener.notify();
        }
    }
}

impl TokenCache for Watching {
    fn read(&self) -> spotify_auth::Result<Option<Entry>> {
        self.inner.read()
    }
    fn write(&self, entry: &Entry, lock: &spotify_auth::CacheLock) -> spotify_auth::Result<()> {
        self.inner.write(entry, lock)
    }
    fn lock(&self) -> spotify_auth::Result<spotify_auth::CacheLock> {
        self.inner.lock()
    }
    fn watch_ended(&self, listener: spotify_auth::EndedListener) {
        self.listeners.lock().unwrap().push(listener);
    }
}

flow_test! {
    /// Issue 17, item 3 (the flow's side): a store that hears of a logout
    /// recorded elsewhere tells the flows built on it, which then hand out
    /// nothing before consulting it, though their token is still valid.
    async fn a_logout_heard_from_the_store_stops_the_token_at_once() {
        let (server, _) = rotating();
        let refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        let store = Arc::new(Watching {
            inner: cache_with(token("valid", 3600, Some(&refresh))),
            listeners: std::sync::Mutex::new(Vec::new()),
        });
        let auth = builder(server.url()).token_cache(store.clone()).build().unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "valid");
        store.logout_elsewhere();
        let got = auth.get_access_token().await;
        assert!(matches!(got, Err(Error::NotAuthorized)), "{got:?}");
        let header = auth.get_authorization_header().await;
        assert!(matches!(header, Err(Error::NotAuthorized)), "{header:?}");
        assert_eq!(server.token_request_count(), 0);
        // A notice about a store that still holds a token (a new login
        // meanwhile) costs one read: the token there is adopted.
        store.inner.set(&token("new-login", 3600, Some(&refresh))).unwrap();
        for listener in store.listeners.lock().unwrap().iter() {
            listener.notify();
        }
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "new-login");
    }
}
