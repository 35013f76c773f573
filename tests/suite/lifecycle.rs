//! The token lifecycle under faults: a token Spotify issued is never dropped,
//! a refresh token is never sent twice, and a logout sticks.

use super::*;
use spotify_auth::testing::{CacheOp, FakeSpotify, Fault, FaultyCache};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fake server with rotating (single-use) refresh tokens, and a stale
/// token holding a live refresh token.
pub fn rotating() -> (FakeSpotify, TokenInfo) {
    let server = FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .redirect_uri(REDIRECT)
        .rotate_refresh_tokens(true)
        .start()
        .unwrap();
    let refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
    let stale = token("stale", -10, Some(&refresh));
    (server, stale)
}

/// How many times the library tries one cache write before it keeps the
/// token unsaved (the first attempt and two quick retries).
pub const WRITE_ATTEMPTS: usize = 3;

/// A cache whose operations can be made to fail, holding `token`.
pub fn faulty(token: Option<TokenInfo>) -> Arc<FaultyCache<InMemoryTokenCache>> {
    Arc::new(FaultyCache::new(match token {
        Some(t) => InMemoryTokenCache::with_token(t),
        None => InMemoryTokenCache::new(),
    }))
}

/// What a faulty cache holds.
pub fn stored(cache: &FaultyCache<InMemoryTokenCache>) -> Option<TokenInfo> {
    cache.inner().get().unwrap()
}

/// The refresh tokens the token endpoint was sent, in order.
fn refresh_tokens_sent(server: &FakeSpotify) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter_map(|r| r.form_param("refresh_token").map(str::to_owned))
        .collect()
}

flow_test! {
    async fn a_failed_cache_write_keeps_the_refreshed_token_and_retries_the_write() {
        let (server, stale) = rotating();
        let cache = faulty(Some(stale.clone()));
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        cache.fail_always(CacheOp::WriteToken);
        let got = auth.get_access_token().await;
        let fresh = got.expect("the token Spotify issued is served although the write failed");
        assert_eq!(stored(&cache).unwrap(), stale, "the failed write left the cache as it was");
        let failure = auth.cache_write_error();
        assert!(matches!(failure, Some(Error::Cache { .. })), "the failure is there to see: {failure:?}");
        // Once the store works again, the write is retried beside the
        // callers, and nothing is sent.
        cache.heal(CacheOp::WriteToken);
        let again = auth.get_access_token().await;
        assert_eq!(again.unwrap(), fresh);
        eventually("the write retried", || stored(&cache).is_some_and(|t| t.access_token.secret() == fresh)).await;
        let saved = stored(&cache).unwrap();
        assert_eq!(saved.access_token.secret(), fresh);
        assert_ne!(saved.refresh_token, stale.refresh_token, "the rotated refresh token is stored");
        assert_eq!(server.token_request_count(), 1);
        eventually("no write owed", || auth.cache_write_error().is_none()).await;
        // The rotated refresh token is the one used next.
        let later = auth.force_refresh().await;
        assert!(later.is_ok(), "{later:?}");
        assert_eq!(refresh_tokens_sent(&server), [stale.refresh_token.unwrap().secret(), saved.refresh_token.unwrap().secret()]);
    }
}

flow_test! {
    async fn a_failed_cache_lock_after_a_refresh_is_not_a_lost_token() {
        // The lock is taken before the request; a failing *write* is what
        // can follow a refresh. Here every write fails for a while: the
        // token keeps being served from memory, with no second request.
        let (server, stale) = rotating();
        let cache = faulty(Some(stale.clone()));
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        cache.fail_always(CacheOp::WriteToken);
        let first = auth.get_access_token().await.unwrap();
        for _ in 0..5 {
            let got = auth.get_access_token().await;
            assert_eq!(got.unwrap(), first);
        }
        assert_eq!(server.token_request_count(), 1, "never the dead refresh token again");
        cache.heal(CacheOp::WriteToken);
    }
}

flow_test! {
    async fn a_failed_write_after_an_exchange_keeps_the_login() {
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, Some(CLIENT_SECRET))
            .redirect_uri(REDIRECT)
            .start()
            .unwrap();
        let cache = faulty(None);
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        let url = auth.get_authorization_url(Some("st"), None, false).unwrap();
        let code = follow_authorize(&url);
        cache.fail_always(CacheOp::WriteToken);
        let exchanged = auth.exchange_code(code).await;
        match exchanged {
            Err(Error::TokenNotStored { source, .. }) => assert!(matches!(*source, Error::Cache { .. })),
            other => panic!("the failed write is reported: {other:?}"),
        }
        assert_eq!(stored(&cache), None);
        // This process goes on working, and once the store works again the
        // write is retried beside the callers.
        cache.heal(CacheOp::WriteToken);
        let got = auth.get_access_token().await;
        let token = got.expect("the login is kept in memory");
        eventually("the write retried", || stored(&cache).is_some()).await;
        assert_eq!(stored(&cache).unwrap().access_token.secret(), token);
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    async fn flows_sharing_an_in_memory_cache_refresh_once() {
        let (server, stale) = rotating();
        server.inject(Fault::Delay(Duration::from_millis(300)), 1);
        let cache = cache_with(stale);
        let a = Arc::new(builder(server.url()).token_cache(cache.clone()).build().unwrap());
        let b = Arc::new(builder(server.url()).token_cache(cache.clone()).build().unwrap());
        let flows = [a, b];
        let next = Arc::new(AtomicUsize::new(0));
        let results = support::concurrently(8, move || {
            let auth = flows[next.fetch_add(1, Ordering::SeqCst) % 2].clone();
            async move { auth.get_access_token().await }
        })
        .await;
        let tokens: Vec<String> = results.into_iter().map(|r| r.unwrap()).collect();
        assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
        assert_eq!(server.token_request_count(), 1, "one refresh for both flows");
    }
}

/// A fake server whose access tokens are stale as soon as they are issued
/// (`expires_in` 0), so every call takes the refresh path, and a stale
/// token holding a live refresh token.
pub fn short_lived() -> (FakeSpotify, TokenInfo) {
    let server = FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .redirect_uri(REDIRECT)
        .expires_in(0)
        .start()
        .unwrap();
    let refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
    let stale = token("stale", -10, Some(&refresh));
    (server, stale)
}

flow_test! {
    async fn a_logout_by_a_sharer_is_not_undone_by_a_long_running_instance() {
        let (server, stale) = short_lived();
        let cache = cache_with(stale);
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        let first = auth.get_access_token().await;
        assert!(first.is_ok(), "{first:?}");
        assert_eq!(server.token_request_count(), 1);
        // `spotify-auth logout` in another process.
        cache.clear().unwrap();
        let got = auth.get_access_token().await;
        assert!(matches!(got, Err(Error::NotAuthorized)), "{got:?}");
        assert!(got.unwrap_err().requires_authorization());
        assert_eq!(server.token_request_count(), 1, "nothing sent");
        assert_eq!(cache.get().unwrap(), None, "nothing written back");
        // And it stays logged out.
        let again = auth.get_access_token().await;
        assert!(matches!(again, Err(Error::NotAuthorized)), "{again:?}");
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    async fn a_logout_by_a_sharer_wins_over_a_token_whose_write_failed() {
        let (server, stale) = short_lived();
        let cache = faulty(Some(stale));
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        cache.fail_next(CacheOp::WriteToken, WRITE_ATTEMPTS);
        let first = auth.get_access_token().await;
        assert!(first.is_ok(), "{first:?}");
        cache.clear().unwrap();
        let got = auth.get_access_token().await;
        assert!(matches!(got, Err(Error::NotAuthorized)), "{got:?}");
        assert_eq!(stored(&cache), None, "the unsaved token is not written over the logout");
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    async fn a_transient_exchange_failure_can_be_retried_with_the_same_code() {
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, None)
            .redirect_uri(REDIRECT)
            .start()
            .unwrap();
        let auth = builder(server.url()).client_secret("").read_environment(false).build().unwrap();
        let url = auth.get_authorization_url(Some("st"), None, false).unwrap();
        let callback = follow_authorize_url(&url);
        let code = auth.parse_response_url(&callback, Some("st")).unwrap();
        server.inject(Fault::Status(503), 1);
        let first = auth.exchange_code(code.clone()).await;
        assert!(matches!(first, Err(Error::TokenEndpoint { status: 503, .. })), "{first:?}");
        let second = auth.exchange_code(code).await;
        assert!(second.is_ok(), "{second:?}");
    }
}

flow_test! {
    async fn many_authorization_urls_do_not_evict_a_login_in_progress() {
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, None)
            .redirect_uri(REDIRECT)
            .start()
            .unwrap();
        let auth = builder(server.url()).client_secret("").build().unwrap();
        let first = auth.get_authorization_url(Some("first"), None, false).unwrap();
        for i in 0..40 {
            auth.get_authorization_url(Some(&format!("other-{i}")), None, false).unwrap();
        }
        let callback = follow_authorize_url(&first);
        let code = auth.parse_response_url(&callback, Some("first")).unwrap();
        let got = auth.exchange_code(code).await;
        assert!(got.is_ok(), "{got:?}");
    }
}

flow_test! {
    async fn an_exchange_whose_request_was_sent_is_not_retried() {
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, Some(CLIENT_SECRET))
            .redirect_uri(REDIRECT)
            .start()
            .unwrap();
        let auth = builder(server.url()).build().unwrap();
        for fault in [Fault::Status(500), Fault::DropConnection, Fault::TruncatedBody] {
            let before = server.token_request_count();
            let url = auth.get_authorization_url(Some("st"), None, false).unwrap();
            let code = follow_authorize(&url);
            server.inject(fault.clone(), 1);
            let got = auth.exchange_code(code).await;
            assert!(got.is_err(), "{fault:?}: {got:?}");
            assert!(!matches!(got, Err(Error::TokenEndpoint { status: 400, .. })), "{fault:?}: the original error, not invalid_grant: {got:?}");
            assert_eq!(server.token_request_count(), before + 1, "{fault:?}: sent once");
        }
    }
}

flow_test! {
    async fn an_exchange_that_could_not_connect_is_retried() {
        let auth = builder(&closed_port_url()).max_retries(2).build().unwrap();
        let got = auth.exchange_code("a-code").await;
        assert!(matches!(got, Err(Error::Http { .. })), "{got:?}");
        // Retried: checked through the backoff hook's count below.
        let retries = Arc::new(AtomicUsize::new(0));
        let r = retries.clone();
        let auth = builder(&closed_port_url())
            .max_retries(2)
            .backoff_hook(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
                Duration::ZERO
            })
            .build()
            .unwrap();
        let got = auth.exchange_code("a-code").await;
        assert!(got.is_err());
        assert_eq!(retries.load(Ordering::SeqCst), 2, "never sent, so safe to retry");
    }
}

flow_test! {
    async fn invalid_grant_removes_only_the_refused_token() {
        let (server, stale) = rotating();
        let refused = stale.refresh_token.clone().unwrap();
        server.revoke_refresh_token(refused.secret());
        // Another machine (whose lock lapsed) stores a newer token while this
        // one is refreshing with the old refresh token.
        let newer = token("newer", 3600, Some("newer-refresh"));
        let cache = Arc::new(OvertakenAfterRead {
            inner: InMemoryTokenCache::with_token(stale.clone()),
            newer: Mutex::new(Some(newer.clone())),
            reads: AtomicUsize::new(0),
        });
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        let got = auth.get_access_token().await;
        assert!(matches!(got, Err(Error::ReauthorizationRequired { .. })), "{got:?}");
        assert_eq!(cache.inner.get().unwrap(), Some(newer), "the other machine's token is not the refused one: kept");
    }
}

/// Drives the fake's `/authorize` (it redirects at once) and returns the
/// callback URL.
pub fn follow_authorize_url(url: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .build()
        .into();
    let response = agent.get(url).call().unwrap();
    response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// The code of [`follow_authorize_url`]'s callback.
pub fn follow_authorize(url: &str) -> String {
    let callback = url::Url::parse(&follow_authorize_url(url)).unwrap();
    callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

/// A cache into which another machine writes `newer` right after the read
/// that precedes the refresh (as when its Redis lock lapsed): the second
/// read (the first is the instance's first look at the store).
struct OvertakenAfterRead {
    inner: InMemoryTokenCache,
    newer: Mutex<Option<TokenInfo>>,
    reads: AtomicUsize,
}

impl TokenCache for OvertakenAfterRead {
    fn read(&self) -> spotify_auth::Result<Option<spotify_auth::Entry>> {
        let got = self.inner.read();
        if self.reads.fetch_add(1, Ordering::SeqCst) == 0 {
            return got;
        }
        if let Some(t) = self.newer.lock().unwrap().take() {
            // Another machine, whose lock lapsed: no lock of ours.
            self.inner
                .write(
                    &spotify_auth::Entry::Token(t),
                    &spotify_auth::CacheLock::none(),
                )
                .unwrap();
        }
        got
    }
    fn write(
        &self,
        entry: &spotify_auth::Entry,
        lock: &spotify_auth::CacheLock,
    ) -> spotify_auth::Result<()> {
        self.inner.write(entry, lock)
    }
    fn lock(&self) -> spotify_auth::Result<spotify_auth::CacheLock> {
        self.inner.lock()
    }
}

flow_test! {
    async fn a_refused_token_whose_write_never_landed_names_the_token_it_replaced() {
        let (server, stale) = rotating();
        let first = stale.refresh_token.clone().unwrap();
        let cache = faulty(Some(stale));
        let a = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        // A refreshes T into U, and cannot store U: the store keeps T.
        cache.fail_always(CacheOp::WriteToken);
        a.get_access_token().await.unwrap();
        let u = server.issued_refresh_tokens().last().unwrap().token().to_owned();
        // Spotify refuses U (revoked): the store still holds T, which U
        // replaced. The refusal names both.
        server.revoke_refresh_token(&u);
        let refused = a.force_refresh().await;
        assert!(matches!(refused, Err(Error::ReauthorizationRequired { .. })), "{refused:?}");
        let record = cache.inner().read().unwrap();
        let ended = record.as_ref().and_then(|e| e.ended()).expect("a refusal record");
        assert!(ended.ends(&first) && ended.ends(&RefreshToken::new(u.as_str())));
        // A sharer never sends T, which U replaced.
        cache.heal(CacheOp::WriteToken);
        let b = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        let got = b.get_access_token().await;
        assert!(got.unwrap_err().requires_authorization());
        assert_eq!(refresh_tokens_sent(&server), vec![first.secret().to_owned(), u]);
    }
}

flow_test! {
    async fn an_owed_write_whose_store_cannot_be_read_backs_off() {
        let (server, stale) = rotating();
        let cache = faulty(Some(stale));
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        cache.fail_always(CacheOp::WriteToken);
        auth.get_access_token().await.unwrap();
        assert!(auth.cache_write_error().is_some(), "owed");
        // The store goes down: a retry fails before its write is tried.
        // It backs off all the same (the suite's backoff is zero, the
        // store's floor 10 ms), rather than spinning on the store.
        cache.fail_always(CacheOp::Read);
        let reads = cache.calls(CacheOp::Read);
        support::sleep(Duration::from_millis(300)).await;
        let during = cache.calls(CacheOp::Read) - reads;
        assert!(during <= 40, "{during} reads in 300 ms: the retries spin");
        cache.heal(CacheOp::Read);
        cache.heal(CacheOp::WriteToken);
        eventually("the write lands", || auth.cache_write_error().is_none()).await;
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    async fn failed_writes_are_retried_with_backoff_not_on_every_call() {
        let (server, stale) = rotating();
        let cache = faulty(Some(stale));
        // The store's own schedule (1 s after the second failure), not the
        // suite's zero backoff: only the quick retries' pauses are zero.
        let auth = builder(server.url())
            .backoff_hook(|d| if d < Duration::from_millis(500) { Duration::ZERO } else { d })
            .token_cache(cache.clone())
            .build()
            .unwrap();
        cache.fail_always(CacheOp::WriteToken);
        let token = auth.get_access_token().await.unwrap();
        // The write is retried beside the callers at once; after a second
        // failure the retry waits a second, and calls meanwhile do no I/O.
        eventually("the write retried", || cache.calls(CacheOp::WriteToken) == 2 * WRITE_ATTEMPTS).await;
        let reads = cache.calls(CacheOp::Read);
        for _ in 0..10 {
            let got = auth.get_access_token().await;
            assert_eq!(got.unwrap(), token);
        }
        assert_eq!(cache.calls(CacheOp::WriteToken), 2 * WRITE_ATTEMPTS, "backing off");
        assert_eq!(cache.calls(CacheOp::Read), reads, "the callers do no store I/O");
        assert!(auth.cache_write_error().is_some());
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    async fn tokens_shorter_than_the_margin_are_not_refreshed_on_every_call() {
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, Some(CLIENT_SECRET))
            .expires_in(20)
            .start()
            .unwrap();
        let refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        // The default margin (30 s) is longer than these tokens' life: it is
        // clamped to half of it.
        let auth = builder(server.url()).refresh_token(refresh).build().unwrap();
        for _ in 0..5 {
            let got = auth.get_access_token().await;
            assert!(got.is_ok(), "{got:?}");
        }
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    async fn a_refused_token_whose_removal_fails_is_never_sent_again() {
        let (server, stale) = rotating();
        let refused = stale.refresh_token.clone().unwrap();
        server.revoke_refresh_token(refused.secret());
        let cache = faulty(Some(stale.clone()));
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        cache.fail_always(CacheOp::WriteRecord);
        let got = auth.get_access_token().await;
        assert!(matches!(got, Err(Error::ReauthorizationRequired { .. })), "told what Spotify said: {got:?}");
        // Tried three times, then owed: retried beside the callers (F6).
        assert!(cache.calls(CacheOp::WriteRecord) >= 3, "the removal was tried three times");
        assert_eq!(stored(&cache), Some(stale.clone()), "still there: every removal failed");
        // The next call finds the refused token in the cache: nothing sent.
        let again = auth.get_access_token().await;
        assert!(matches!(again, Err(Error::ReauthorizationRequired { .. })), "{again:?}");
        assert_eq!(server.token_request_count(), 1, "the refused token is never sent again");
        cache.heal(CacheOp::WriteRecord);
        let healed = auth.get_access_token().await;
        assert!(healed.unwrap_err().requires_authorization());
        assert_eq!(stored(&cache), None, "removed once the cache works");
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    async fn a_write_that_fails_once_is_retried_before_the_lock_is_released() {
        let (server, stale) = rotating();
        let cache = faulty(Some(stale));
        let auth = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        cache.fail_next(CacheOp::WriteToken, 2);
        let token = auth.get_access_token().await.unwrap();
        assert_eq!(cache.calls(CacheOp::WriteToken), 3, "a blip of the store costs two quick retries");
        assert!(auth.cache_write_error().is_none(), "stored before any sharer could take the lock");
        assert_eq!(stored(&cache).unwrap().access_token.secret(), token);
    }
}
