//! force_refresh: the answer to a Web API 401.

use super::lifecycle::rotating;
use super::*;
use spotify_auth::testing::{FakeSpotify, Fault};

/// A flow holding a valid token it got from the fake server (one request).
#[maybe]
async fn logged_in(
    server: &FakeSpotify,
    cache: Arc<InMemoryTokenCache>,
) -> (mode::AuthorizationCode, String) {
    let auth = builder(server.url()).token_cache(cache).build().unwrap();
    let first = auth.get_access_token().await.unwrap();
    (auth, first)
}

flow_test! {
    async fn force_refresh_replaces_a_token_that_looks_valid() {
        let (server, stale) = rotating();
        let cache = cache_with(stale);
        let (auth, first) = logged_in(&server, cache.clone()).await;
        server.revoke_access_token(&first);
        let second = auth.force_refresh().await.unwrap();
        assert_ne!(second, first);
        assert_eq!(server.token_request_count(), 2);
        assert!(server.access_token_is_live(&second));
        assert_eq!(cache.get().unwrap().unwrap().access_token.secret(), second, "stored");
        let again = auth.get_access_token().await;
        assert_eq!(again.unwrap(), second, "the new token is the one served");
    }
}

flow_test! {
    async fn concurrent_force_refreshes_after_one_rejection_make_one_request() {
        let (server, stale) = rotating();
        let (auth, first) = logged_in(&server, cache_with(stale)).await;
        server.inject(Fault::Delay(Duration::from_millis(600)), 1);
        let auth = Arc::new(auth);
        let a = auth.clone();
        let results = support::concurrently(16, move || {
            let auth = a.clone();
            async move { auth.force_refresh().await }
        })
        .await;
        let tokens: Vec<String> = results.into_iter().map(|r| r.unwrap()).collect();
        assert!(tokens.iter().all(|t| *t == tokens[0] && *t != first), "{tokens:?}");
        assert_eq!(server.token_request_count(), 2, "one refresh for 16 callers");
    }
}

flow_test! {
    async fn a_force_refresh_after_a_newer_token_was_stored_makes_no_request() {
        let (server, stale) = rotating();
        let cache = cache_with(stale);
        let (a, first) = logged_in(&server, cache.clone()).await;
        let b = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        let b_first = b.get_access_token().await.unwrap();
        assert_eq!(b_first, first, "b read a's token from the cache");
        // Both saw `first` rejected; a refreshes first.
        let newer = a.force_refresh().await.unwrap();
        let requests = server.token_request_count();
        let got = b.force_refresh().await;
        assert_eq!(got.unwrap(), newer, "b takes the newer token from the cache");
        assert_eq!(server.token_request_count(), requests, "no request");
    }
}

flow_test! {
    async fn a_force_refresh_that_fails_in_passing_never_returns_the_rejected_token() {
        let (server, stale) = rotating();
        let (auth, _first) = logged_in(&server, cache_with(stale)).await;
        server.inject(Fault::Status(503), 10);
        let got = auth.force_refresh().await;
        assert!(matches!(got, Err(Error::TokenEndpoint { status: 503, .. })), "{got:?}");
        server.clear_faults();
        let later = auth.force_refresh().await;
        assert!(later.is_ok(), "{later:?}");
    }
}

flow_test! {
    async fn force_refresh_with_nothing_to_refresh_with_asks_to_authorize() {
        let auth = builder("http://127.0.0.1:9").build().unwrap();
        let got = auth.force_refresh().await;
        assert!(matches!(got, Err(Error::NotAuthorized)), "{got:?}");
    }
}

flow_test! {
    async fn client_credentials_force_refresh_fetches_a_new_app_token() {
        let server = FakeSpotify::builder().client(CLIENT_ID, Some(CLIENT_SECRET)).start().unwrap();
        let app = mode::ClientCredentials::builder()
            .read_environment(false)
            .client_id(CLIENT_ID)
            .client_secret(CLIENT_SECRET)
            .accounts_base_url(server.url())
            .build()
            .unwrap();
        let first = app.get_access_token().await.unwrap();
        let second = app.force_refresh().await.unwrap();
        assert_ne!(first, second);
        assert_eq!(server.token_request_count(), 2);
        let third = app.get_access_token().await;
        assert_eq!(third.unwrap(), second);
    }
}

flow_test! {
    async fn concurrent_force_refreshes_on_an_instance_without_a_token_make_one_request() {
        let (server, stale) = rotating();
        // A fresh instance: nothing in memory, a token in the cache (which
        // the callers saw rejected, through another instance).
        let auth = Arc::new(builder(server.url()).token_cache(cache_with(token("seen-rejected", 3600, stale.refresh_token.as_ref().map(|r| r.secret())))).build().unwrap());
        // Slow, so that every caller asks while it runs (a caller that asks
        // after a newer token arrived wants a newer one still).
        server.inject(Fault::Delay(Duration::from_millis(600)), 1);
        let a = auth.clone();
        let results = support::concurrently(16, move || {
            let auth = a.clone();
            async move { auth.force_refresh().await }
        })
        .await;
        let tokens: Vec<String> = results.into_iter().map(|r| r.unwrap()).collect();
        assert!(tokens.iter().all(|t| *t == tokens[0] && t != "seen-rejected"), "{tokens:?}");
        assert_eq!(server.token_request_count(), 1, "one refresh for 16 callers");
    }
}

flow_test! {
    async fn force_refresh_rejected_refreshes_only_a_token_still_current() {
        let (server, stale) = rotating();
        let (auth, first) = logged_in(&server, cache_with(stale)).await;
        // Two requests saw `first` rejected; the first to get here refreshes.
        let second = auth.force_refresh_rejected(&first).await.unwrap();
        assert_ne!(second, first);
        assert_eq!(server.token_request_count(), 2);
        // The other arrives after the refresh: it gets the new token, no request.
        let late = auth.force_refresh_rejected(&format!("Bearer {first}")).await;
        assert_eq!(late.unwrap(), second);
        assert_eq!(server.token_request_count(), 2);
        // Its own rejection, as a header value: a refresh.
        let third = auth.force_refresh_rejected(&format!("Bearer {second}")).await.unwrap();
        assert_ne!(third, second);
        assert_eq!(server.token_request_count(), 3);
    }
}

flow_test! {
    async fn force_refresh_rejected_with_a_sharer_that_refreshed_makes_no_request() {
        let (server, stale) = rotating();
        let cache = cache_with(stale);
        let (a, first) = logged_in(&server, cache.clone()).await;
        let b = builder(server.url()).token_cache(cache.clone()).build().unwrap();
        let b_first = b.get_access_token().await.unwrap();
        assert_eq!(b_first, first);
        let newer = a.force_refresh_rejected(&first).await.unwrap();
        let requests = server.token_request_count();
        let got = b.force_refresh_rejected(&first).await;
        assert_eq!(got.unwrap(), newer, "b reads the newer token from the cache");
        assert_eq!(server.token_request_count(), requests);
    }
}
