//! From a login to a usable token (issue 16): the scopes a stored login was
//! granted are checked against those the app asks for, and
//! `get_access_token_or_authorize` logs in only when needed.

use super::authorize_local::{browser, fake_with_redirect};
use super::*;
use spotify_auth::AuthorizeLocalOptions;
use spotify_auth::testing::FakeSpotify;

/// A token granted `scope`, expiring `expires_in` seconds from now.
fn granted(access: &str, expires_in: i64, refresh: &str, scope: Option<&str>) -> TokenInfo {
    let mut token = token(access, expires_in, Some(refresh));
    token.scope = scope.map(str::to_owned);
    token
}

fn fake() -> FakeSpotify {
    FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .start()
        .unwrap()
}

flow_test! {
    async fn a_scope_added_after_the_login_asks_for_a_new_login() {
        let server = fake();
        for expires_in in [3600, -10] {
            let cache = cache_with(granted("old", expires_in, "r", Some("user-read-email")));
            let auth = builder(server.url())
                .scope(["user-read-email", "user-top-read"])
                .token_cache(cache)
                .build()
                .unwrap();
            let got = auth.get_access_token().await;
            match &got {
                Err(Error::MissingScopes { missing, .. }) => assert_eq!(missing.as_str(), "user-top-read"),
                other => panic!("expires_in {expires_in}: {other:?}"),
            }
            let e = got.unwrap_err();
            assert!(e.requires_authorization());
            assert!(e.to_string().contains("user-top-read"), "{e}");
            let header = auth.get_authorization_header().await;
            assert!(matches!(header, Err(Error::MissingScopes { .. })), "{header:?}");
        }
        assert_eq!(server.token_request_count(), 0, "nothing sent: a refresh cannot add scopes");
    }
}

flow_test! {
    async fn a_superset_or_unknown_scopes_are_fine() {
        let server = fake();
        for scope in [Some("user-top-read streaming user-read-email"), None] {
            let cache = cache_with(granted("kept", 3600, "r", scope));
            let auth = builder(server.url())
                .scope("user-read-email,user-top-read")
                .token_cache(cache)
                .build()
                .unwrap();
            let got = auth.get_access_token().await;
            assert_eq!(got.unwrap(), "kept", "{scope:?}");
        }
        // An app that asks for nothing takes any login.
        let auth = builder(server.url())
            .token_cache(cache_with(granted("any", 3600, "r", Some(""))))
            .build()
            .unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "any");
    }
}

flow_test! {
    async fn a_refreshed_token_lacking_a_scope_is_kept_but_not_used() {
        let server = fake();
        // Spotify grants what the login was authorized for.
        let refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        let cache = cache_with(granted("stale", -10, &refresh, None));
        let auth = builder(server.url())
            .scope(["user-read-email", "user-top-read"])
            .token_cache(cache.clone())
            .build()
            .unwrap();
        let got = auth.get_access_token().await;
        assert!(matches!(got, Err(Error::MissingScopes { .. })), "{got:?}");
        let kept = cache.get().unwrap().expect("what Spotify sent is kept");
        assert_eq!(kept.scope.as_deref(), Some("user-read-email"));
        let again = auth.get_access_token().await;
        assert!(matches!(again, Err(Error::MissingScopes { .. })), "{again:?}");
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    async fn get_access_token_or_authorize_logs_in_only_when_needed() {
        let (server, redirect) = fake_with_redirect();
        let cache = Arc::new(InMemoryTokenCache::new());
        let auth = builder(server.url())
            .redirect_uri(&redirect)
            .scope("user-read-email")
            .token_cache(cache.clone())
            .build()
            .unwrap();
        let logins = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let options = || {
            let logins = logins.clone();
            AuthorizeLocalOptions::new()
                .open_browser(false)
                .timeout(Duration::from_secs(20))
                .on_url(move |url| {
                    logins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    browser(url);
                })
        };
        // No login: the browser login runs, and its token is returned.
        let first = auth.get_access_token_or_authorize(options()).await;
        let first = first.expect("logged in");
        assert_eq!(cache.get().unwrap().unwrap().access_token.secret(), first);
        // A usable login: no browser.
        let again = auth.get_access_token_or_authorize(options()).await;
        assert_eq!(again.unwrap(), first);
        assert_eq!(logins.load(std::sync::atomic::Ordering::SeqCst), 1);
        // A scope added since: a new login, with it.
        let wider = builder(server.url())
            .redirect_uri(&redirect)
            .scope("user-read-email user-top-read")
            .token_cache(cache.clone())
            .build()
            .unwrap();
        let widened = wider.get_access_token_or_authorize(options()).await;
        assert!(widened.is_ok(), "{widened:?}");
        assert_eq!(logins.load(std::sync::atomic::Ordering::SeqCst), 2);
        let scope = cache.get().unwrap().unwrap().scope.unwrap();
        assert!(Scopes::from(scope.as_str()).contains("user-top-read"), "{scope}");
    }
}

flow_test! {
    async fn get_access_token_or_authorize_passes_other_errors_through() {
        // The token endpoint is down: not a reason to open a browser.
        let auth = builder(&closed_port_url())
            .max_retries(0)
            .token_cache(cache_with(token("expired", -10, Some("r"))))
            .build()
            .unwrap();
        let options = AuthorizeLocalOptions::new()
            .open_browser(false)
            .on_url(|_| panic!("no browser for a network error"));
        let got = auth.get_access_token_or_authorize(options).await;
        assert!(matches!(got, Err(Error::Http { .. })), "{got:?}");
    }
}
