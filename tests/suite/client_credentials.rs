//! ClientCredentials: app-only tokens, against the fake accounts server.

use super::*;
use spotify_auth::ClientCredentialsBuilder;
use spotify_auth::testing::{FakeSpotify, Fault};

fn fake() -> FakeSpotify {
    FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .start()
        .unwrap()
}

fn app(server: &FakeSpotify) -> ClientCredentialsBuilder<mode::HttpClient> {
    mode::ClientCredentials::builder()
        .read_environment(false)
        .client_id(CLIENT_ID)
        .client_secret(CLIENT_SECRET)
        .accounts_base_url(server.url())
        .backoff_hook(|_| Duration::ZERO)
}

flow_test! {
    async fn app_token_is_fetched_with_basic_auth_and_cached() {
        let server = fake();
        let cache = Arc::new(InMemoryTokenCache::new());
        let app = app(&server).token_cache(cache.clone()).build().unwrap();
        let first = app.get_access_token().await.unwrap();
        let second = app.get_access_token().await.unwrap();
        assert_eq!(first, second);
        assert_eq!(server.token_request_count(), 1);
        let request = server.requests().into_iter().find(|r| r.path == "/api/token").unwrap();
        assert_eq!(request.form_param("grant_type"), Some("client_credentials"));
        assert_eq!(request.basic_auth(), Some((CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned())));
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), first);
        assert_eq!(stored.refresh_token, None);
        let header = app.get_authorization_header().await;
        assert_eq!(header.unwrap(), format!("Bearer {first}"));
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    async fn expired_app_token_is_fetched_again_once_for_many_callers() {
        let server = fake();
        let app = Arc::new(app(&server).token_cache(cache_with(token("old-app", -5, None))).build().unwrap());
        server.inject(Fault::Delay(Duration::from_millis(200)), 1);
        let a = app.clone();
        let results = support::concurrently(8, move || {
            let app = a.clone();
            async move { app.get_access_token().await }
        })
        .await;
        let tokens: Vec<String> = results.into_iter().map(|r| r.unwrap()).collect();
        assert!(tokens.iter().all(|t| *t == tokens[0] && t != "old-app"));
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    async fn app_token_requests_retry_server_errors() {
        let server = fake();
        server.inject(Fault::Status(502), 2);
        let app = app(&server).build().unwrap();
        let got = app.get_access_token().await;
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(server.token_request_count(), 3);
    }
}

flow_test! {
    async fn wrong_secret_is_invalid_client_and_not_retried() {
        let server = fake();
        let app = app(&server).client_secret("wrong").build().unwrap();
        let got = app.get_access_token().await;
        assert!(matches!(got, Err(Error::TokenEndpoint { status: 401, .. })), "{got:?}");
        assert_eq!(server.token_request_count(), 1);
    }
}

flow_test! {
    async fn the_secret_is_required_and_never_shown() {
        let e = mode::ClientCredentials::builder().read_environment(false).client_id("id").build().unwrap_err();
        assert!(matches!(e, Error::Config { setting: "client_secret", .. }), "{e}");
        assert!(e.to_string().contains("SPOTIFY_SDK_CLIENT_SECRET"), "{e}");
        let server = fake();
        let app = app(&server).build().unwrap();
        assert!(!format!("{app:?}").contains(CLIENT_SECRET));
    }
}
