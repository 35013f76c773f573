//! get_access_token: the cached token, refreshes, the refresh margin.

use super::*;
use mockito::Matcher;

flow_test! {
    async fn valid_cached_token_makes_no_request() {
        let mut server = support::server().await;
        let mock = support::create(token_mock(&mut server, token_body("new", None)).expect(0)).await;
        let auth = builder(&server.url()).token_cache(cache_with(token("cached", 3600, Some("r")))).build().unwrap();
        for _ in 0..3 {
            let got = auth.get_access_token().await;
            assert_eq!(got.unwrap(), "cached");
        }
        support::assert(&mock).await;
    }
}

flow_test! {
    async fn a_valid_token_starts_nothing_beside_the_callers() {
        use spotify_auth::testing::{CacheOp, FaultyCache};
        let mut server = support::server().await;
        let mock = support::create(token_mock(&mut server, token_body("new", None)).expect(0)).await;
        let cache = Arc::new(FaultyCache::new(InMemoryTokenCache::with_token(token("cached", 3600, Some("r")))));
        let auth = builder(&server.url()).token_cache(cache.clone()).build().unwrap();
        for _ in 0..3 {
            let got = auth.get_access_token().await;
            assert_eq!(got.unwrap(), "cached");
        }
        // The store was looked at once (the first call): no refresh ahead
        // of a token far from expiry.
        assert_eq!(cache.calls(CacheOp::Lock), 1, "no refresh ahead of a token far from expiry");
        assert_eq!(cache.calls(CacheOp::Read), 1);
        // close() waits for any work started beside the callers (there was
        // none), then checks once that the store still holds the login.
        let closed = auth.close().await;
        assert!(closed.is_ok(), "{closed:?}");
        assert_eq!(cache.calls(CacheOp::Lock), 2);
        assert_eq!(cache.calls(CacheOp::Read), 2);
        assert_eq!(cache.calls(CacheOp::WriteToken), 0, "it still does");
        support::assert(&mock).await;
    }
}

flow_test! {
    async fn expired_token_is_refreshed_with_its_refresh_token() {
        let mut server = support::server().await;
        let mock = support::create(
            token_mock(&mut server, token_body("fresh", None))
                .match_header("authorization", BASIC)
                .match_body(Matcher::Exact("grant_type=refresh_token&refresh_token=r-old".into()))
                .expect(1),
        )
        .await;
        let cache = cache_with(token("stale", -10, Some("r-old")));
        let auth = builder(&server.url()).token_cache(cache.clone()).build().unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "fresh");
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "fresh", "no second request");
        support::assert(&mock).await;
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), "fresh");
        assert_eq!(stored.refresh_token.unwrap().secret(), "r-old", "kept: the response had none");
        assert_eq!(stored.scope.as_deref(), Some("user-read-email user-read-private"));
    }
}

flow_test! {
    async fn rotated_refresh_token_replaces_the_old_one() {
        let mut server = support::server().await;
        let mock = support::create(token_mock(&mut server, token_body("fresh", Some("r-new"))).expect(1)).await;
        let cache = cache_with(token("stale", -10, Some("r-old")));
        let auth = builder(&server.url()).token_cache(cache.clone()).build().unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "fresh");
        support::assert(&mock).await;
        assert_eq!(cache.get().unwrap().unwrap().refresh_token.unwrap().secret(), "r-new");
    }
}

flow_test! {
    async fn bootstrap_refresh_token_is_used_when_the_cache_is_empty() {
        let mut server = support::server().await;
        let mock = support::create(
            token_mock(&mut server, token_body("boot", None))
                .match_body(Matcher::UrlEncoded("refresh_token".into(), "r-boot".into()))
                .expect(1),
        )
        .await;
        let cache = Arc::new(InMemoryTokenCache::new());
        let auth = builder(&server.url()).refresh_token("r-boot").token_cache(cache.clone()).build().unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "boot");
        support::assert(&mock).await;
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.refresh_token.unwrap().secret(), "r-boot", "the bootstrap token is kept for later refreshes");
    }
}

flow_test! {
    async fn public_client_refresh_sends_client_id_and_no_basic() {
        let mut server = support::server().await;
        let mock = support::create(
            token_mock(&mut server, token_body("fresh", None))
                .match_header("authorization", Matcher::Missing)
                .match_body(Matcher::Exact(format!("grant_type=refresh_token&refresh_token=r&client_id={CLIENT_ID}")))
                .expect(1),
        )
        .await;
        let auth = builder(&server.url()).client_secret("").token_cache(cache_with(token("old", -1, Some("r")))).build().unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "fresh");
        support::assert(&mock).await;
    }
}

flow_test! {
    async fn no_token_at_all_says_authorize_first() {
        let auth = builder(&closed_port_url()).build().unwrap();
        let e = auth.get_access_token().await.unwrap_err();
        assert!(matches!(e, Error::NotAuthorized), "{e:?}");
        assert!(e.to_string().contains("authorize first"), "{e}");
        assert!(e.requires_authorization());
    }
}

flow_test! {
    async fn refresh_margin_decides_when_to_refresh() {
        let mut server = support::server().await;
        let mock = support::create(token_mock(&mut server, token_body("fresh", None)).expect(1)).await;
        // 100 s left, margin 30 s: used as is.
        let auth = builder(&server.url()).token_cache(cache_with(token("ok", 100, Some("r")))).build().unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "ok");
        // 100 s left, margin 120 s: refreshed ahead, while the callers get
        // the still valid token at once.
        let auth = builder(&server.url())
            .refresh_margin(Duration::from_secs(120))
            .token_cache(cache_with(token("ok", 100, Some("r"))))
            .build()
            .unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "ok", "valid: served at once");
        let mut last = String::new();
        for _ in 0..1000 {
            last = auth.get_access_token().await.unwrap();
            if last == "fresh" {
                break;
            }
            support::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(last, "fresh");
        support::assert(&mock).await;
    }
}

flow_test! {
    async fn token_within_margin_without_refresh_token_is_still_served() {
        let auth = builder(&closed_port_url()).token_cache(cache_with(token("last", 10, None))).build().unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "last");
        let auth = builder(&closed_port_url()).token_cache(cache_with(token("dead", -1, None))).build().unwrap();
        let got = auth.get_access_token().await;
        assert!(matches!(got, Err(Error::NotAuthorized)));
    }
}

flow_test! {
    async fn invalid_grant_is_not_retried_and_clears_the_cache() {
        let mut server = support::server().await;
        let mock = support::create(
            server
                .mock("POST", "/api/token")
                .with_status(400)
                .with_body(r#"{"error":"invalid_grant","error_description":"Refresh token revoked"}"#)
                .expect(1),
        )
        .await;
        let cache = cache_with(token("stale", -10, Some("r-dead")));
        let auth = builder(&server.url()).token_cache(cache.clone()).build().unwrap();
        let e = auth.get_access_token().await.unwrap_err();
        match &e {
            Error::ReauthorizationRequired { description, .. } => {
                assert_eq!(description.as_deref(), Some("Refresh token revoked"))
            }
            other => panic!("{other:?}"),
        }
        assert!(e.requires_authorization());
        support::assert(&mock).await;
        assert_eq!(cache.get().unwrap(), None, "the dead refresh token is gone");
        let record = cache.read().unwrap().and_then(|e| e.ended().cloned());
        assert!(record.is_some_and(|r| r.ends(&RefreshToken::new("r-dead"))), "a refusal record names it");
        // The next call does not try the dead token again.
        let got = auth.get_access_token().await;
        assert!(matches!(got, Err(Error::ReauthorizationRequired { .. })), "{got:?}");
        support::assert(&mock).await;
    }
}

flow_test! {
    async fn file_cache_round_trip_through_the_flow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/token.json");
        let mut server = support::server().await;
        let mock = support::create(token_mock(&mut server, token_body("acc", Some("ref"))).expect(1)).await;
        let auth = builder(&server.url()).token_cache(spotify_auth::FileTokenCache::new(&path)).build().unwrap();
        let token = auth.exchange_code("c").await.unwrap();
        support::assert(&mock).await;
        // A new instance (a later run) reads it back without a request.
        let again = builder(&server.url()).token_cache(spotify_auth::FileTokenCache::new(&path)).build().unwrap();
        let got = again.get_access_token().await;
        assert_eq!(got.unwrap(), "acc");
        assert_eq!(spotify_auth::FileTokenCache::new(&path).get().unwrap(), Some(token));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        support::assert(&mock).await;
    }
}

flow_test! {
    async fn a_passing_refresh_failure_falls_back_to_a_still_valid_token() {
        use spotify_auth::testing::{FakeSpotify, Fault};
        let server = FakeSpotify::builder().client(CLIENT_ID, Some(CLIENT_SECRET)).start().unwrap();
        let refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        // 20 s left, inside the 30 s margin: due for a refresh, still usable.
        let cache = cache_with(token("still-good", 20, Some(&refresh)));
        let auth = builder(server.url()).max_retries(0).token_cache(cache.clone()).build().unwrap();
        server.inject(Fault::Status(503), 2);
        // The first refresh is sent (ahead of expiry, beside the callers)
        // and fails: every caller gets the still valid token meanwhile.
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "still-good");
        eventually("the refresh ahead was sent", || server.token_request_count() == 1).await;
        // It is tried again on a later call, and succeeds once the server is back.
        let mut seen = Vec::new();
        for _ in 0..2000 {
            let got = auth.get_access_token().await.unwrap();
            if got != "still-good" {
                seen.push(got);
                break;
            }
            support::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(seen.len(), 1, "a new token arrived");
        assert_eq!(server.token_request_count(), 3, "two 503s, then the new token");
        // A refused client is not papered over: once the token has expired,
        // the caller waits for the refresh and gets its error.
        let auth = builder(server.url()).client_secret("wrong").token_cache(cache_with(token("expired", -1, Some(&refresh)))).build().unwrap();
        let got = auth.get_access_token().await;
        assert!(matches!(got, Err(Error::TokenEndpoint { status: 401, .. })), "{got:?}");
    }
}

flow_test! {
    async fn authorization_header_is_bearer_and_the_current_token() {
        let mut server = support::server().await;
        let mock = support::create(token_mock(&mut server, token_body("fresh", None)).expect(1)).await;
        let auth = builder(&server.url()).token_cache(cache_with(token("cached", 3600, Some("r")))).build().unwrap();
        let header = auth.get_authorization_header().await;
        assert_eq!(header.unwrap(), "Bearer cached");
        // Expiring: the header follows the refreshed token.
        let auth = builder(&server.url()).token_cache(cache_with(token("stale", -5, Some("r")))).build().unwrap();
        let header = auth.get_authorization_header().await;
        assert_eq!(header.unwrap(), "Bearer fresh");
        let header = auth.get_authorization_header().await;
        assert_eq!(header.unwrap(), "Bearer fresh", "now from memory");
        support::assert(&mock).await;
        let auth = builder(&closed_port_url()).build().unwrap();
        let header = auth.get_authorization_header().await;
        assert!(matches!(header, Err(Error::NotAuthorized)), "{header:?}");
    }
}
