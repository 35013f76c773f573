//! The fault matrix (against the fake accounts server): every row checks the
//! outcome, how many token requests the server saw, and that the file cache
//! holds exactly the old token or a complete new one.

use super::*;
use spotify_auth::FileTokenCache;
use spotify_auth::testing::{FakeSpotify, Fault};
use std::sync::Mutex;

/// One row's setup: a fake server with rotating refresh tokens, a file cache
/// holding an expired token with a valid refresh token.
struct Row {
    server: FakeSpotify,
    cache: Arc<FileTokenCache>,
    old: TokenInfo,
    delays: Arc<Mutex<Vec<Duration>>>,
    _dir: tempfile::TempDir,
}

impl Row {
    fn new() -> Self {
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, Some(CLIENT_SECRET))
            .redirect_uri(REDIRECT)
            .rotate_refresh_tokens(true)
            .start()
            .unwrap();
        let refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(FileTokenCache::new(dir.path().join("token.json")));
        let old = token("old-access", -10, Some(&refresh));
        cache.set(&old).unwrap();
        Row {
            server,
            cache,
            old,
            delays: Arc::default(),
            _dir: dir,
        }
    }

    fn auth(
        &self,
        configure: impl FnOnce(
            AuthorizationCodeBuilder<mode::HttpClient>,
        ) -> AuthorizationCodeBuilder<mode::HttpClient>,
    ) -> mode::AuthorizationCode {
        let delays = self.delays.clone();
        configure(
            builder(self.server.url())
                .timeout(Duration::from_secs(5))
                .token_cache(self.cache.clone())
                .backoff_hook(move |d| {
                    delays.lock().unwrap().push(d);
                    Duration::ZERO
                }),
        )
        .build()
        .unwrap()
    }

    /// The cache holds the old token untouched.
    fn assert_old(&self) {
        assert_eq!(
            self.cache.get().unwrap().as_ref(),
            Some(&self.old),
            "the old token, untouched"
        );
    }

    /// The cache holds a complete new token: the access token returned, a new
    /// (rotated) refresh token, a future expiry.
    fn assert_new(&self, access: &str) {
        let t = self.cache.get().unwrap().unwrap();
        assert_eq!(t.access_token.secret(), access);
        assert_ne!(t.refresh_token, self.old.refresh_token, "rotated");
        assert!(t.refresh_token.is_some());
        assert!(t.expires_at > now() + 3000);
    }
}

flow_test! {
    async fn one_500_then_success() {
        let row = Row::new();
        row.server.inject(Fault::Status(500), 1);
        let got = row.auth(|b| b).get_access_token().await;
        row.assert_new(&got.unwrap());
        assert_eq!(row.server.token_request_count(), 2);
        assert_eq!(row.delays.lock().unwrap().len(), 1);
    }
}

flow_test! {
    async fn status_503_on_every_attempt_is_an_error() {
        let row = Row::new();
        row.server.inject(Fault::Status(503), 4);
        let got = row.auth(|b| b.max_retries(3)).get_access_token().await;
        assert!(matches!(got, Err(Error::TokenEndpoint { status: 503, .. })), "{got:?}");
        assert_eq!(row.server.token_request_count(), 4);
        row.assert_old();
    }
}

flow_test! {
    async fn rate_limited_then_success() {
        let row = Row::new();
        row.server.inject(Fault::rate_limited(1), 1);
        let got = row.auth(|b| b).get_access_token().await;
        row.assert_new(&got.unwrap());
        assert_eq!(row.server.token_request_count(), 2);
        assert_eq!(*row.delays.lock().unwrap(), [Duration::from_secs(1)]);
    }
}

flow_test! {
    async fn rate_limited_beyond_the_budget() {
        let row = Row::new();
        row.server.inject(Fault::rate_limited(120), 1);
        let got = row.auth(|b| b).get_access_token().await;
        assert!(matches!(got, Err(Error::RateLimited { retry_after, .. }) if retry_after == Duration::from_secs(120)), "{got:?}");
        assert_eq!(row.server.token_request_count(), 1);
        row.assert_old();
    }
}

flow_test! {
    async fn dropped_connections_are_retried() {
        let row = Row::new();
        row.server.inject(Fault::DropConnection, 1);
        row.server.inject(Fault::TruncatedBody, 1);
        let got = row.auth(|b| b).get_access_token().await;
        row.assert_new(&got.unwrap());
        assert_eq!(row.server.token_request_count(), 3);
    }
}

flow_test! {
    async fn dropped_on_every_attempt_is_a_transport_error() {
        let row = Row::new();
        row.server.inject(Fault::DropConnection, 3);
        let got = row.auth(|b| b.max_retries(2)).get_access_token().await;
        assert!(matches!(got, Err(Error::Http { .. })), "{got:?}");
        assert_eq!(row.server.token_request_count(), 3);
        row.assert_old();
    }
}

flow_test! {
    async fn a_response_slower_than_the_timeout_is_retried() {
        let row = Row::new();
        row.server.inject(Fault::Delay(Duration::from_secs(3)), 1);
        let got = row.auth(|b| b.timeout(Duration::from_millis(300))).get_access_token().await;
        row.assert_new(&got.unwrap());
        assert_eq!(row.server.token_request_count(), 2);
    }
}

flow_test! {
    async fn timeouts_on_every_attempt_are_a_timeout_error() {
        let row = Row::new();
        row.server.inject(Fault::Delay(Duration::from_secs(3)), 2);
        let got = row.auth(|b| b.timeout(Duration::from_millis(200)).max_retries(1)).get_access_token().await;
        assert!(matches!(got, Err(Error::Http { kind: spotify_auth::HttpErrorKind::Timeout, .. })), "{got:?}");
        assert_eq!(row.server.token_request_count(), 2);
        row.assert_old();
    }
}

flow_test! {
    async fn malformed_success_bodies_are_typed_errors() {
        let huge = format!(r#"{{"access_token":"a","expires_in":3600,"pad":"{}"}}"#, "x".repeat(1 << 20));
        let bodies: Vec<(&str, String)> = vec![
            ("not JSON", "<html>oops</html>".into()),
            ("no access_token", r#"{"token_type":"Bearer","expires_in":3600}"#.into()),
            ("no expires_in", r#"{"access_token":"a"}"#.into()),
            ("negative expires_in", r#"{"access_token":"a","expires_in":-5}"#.into()),
            ("non-numeric expires_in", r#"{"access_token":"a","expires_in":"soon"}"#.into()),
            ("an error in a 200", r#"{"error":"invalid_grant","error_description":"nope"}"#.into()),
            ("over 1 MiB", huge),
        ];
        for (what, body) in bodies {
            let row = Row::new();
            row.server.inject(Fault::body(200, "application/json", body), 1);
            let got = row.auth(|b| b).get_access_token().await;
            assert!(matches!(got, Err(Error::InvalidTokenResponse { .. })), "{what}: {got:?}");
            assert_eq!(row.server.token_request_count(), 1, "{what}: not retried");
            row.assert_old();
        }
    }
}

flow_test! {
    async fn numeric_string_expires_in_is_accepted() {
        let row = Row::new();
        row.server.inject(Fault::body(200, "application/json", r#"{"access_token":"s","expires_in":"3600","refresh_token":"r2"}"#), 1);
        let got = row.auth(|b| b).get_access_token().await;
        assert_eq!(got.unwrap(), "s");
        assert_eq!(row.cache.get().unwrap().unwrap().refresh_token.unwrap().secret(), "r2");
    }
}

flow_test! {
    async fn invalid_client_is_not_retried() {
        let row = Row::new();
        let got = row.auth(|b| b.client_secret("wrong-secret")).get_access_token().await;
        assert!(matches!(got, Err(Error::TokenEndpoint { status: 401, ref error, .. }) if error.as_deref() == Some("invalid_client")), "{got:?}");
        assert_eq!(row.server.token_request_count(), 1);
        row.assert_old();
    }
}

flow_test! {
    async fn invalid_grant_requires_a_new_login_and_records_the_refusal() {
        let row = Row::new();
        let dead = row.old.refresh_token.clone().unwrap();
        assert!(row.server.revoke_refresh_token(dead.secret()));
        let auth = row.auth(|b| b);
        let got = auth.get_access_token().await;
        assert!(matches!(got, Err(Error::ReauthorizationRequired { .. })), "{got:?}");
        assert_eq!(row.server.token_request_count(), 1);
        assert_eq!(row.cache.get().unwrap(), None, "no dead refresh token left behind");
        let record = row.cache.read().unwrap().and_then(|e| e.ended().cloned()).expect("a record");
        assert_eq!(record.reason(), spotify_auth::EndReason::Refused);
        assert!(record.ends(&dead), "the record names the refused token");
        let again = auth.get_access_token().await;
        assert!(matches!(again, Err(Error::ReauthorizationRequired { .. })), "{again:?}");
        assert_eq!(row.server.token_request_count(), 1, "the dead token is not tried again");
    }
}
