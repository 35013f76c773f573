//! The behaviour suite, written once and compiled for each mode (see
//! `tests/blocking.rs` and `tests/asynchronous.rs`): `mode` is the API under
//! test, `maybe` strips or keeps `async`, `support` holds the little that
//! differs.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[allow(unused_imports)]
pub(crate) use super::{maybe, mode, support};
pub use spotify_auth::{
    AuthorizationCodeBuilder, Error, InMemoryTokenCache, RefreshToken, Scopes, TokenCache,
    TokenInfo,
};

mod authorization_url;
pub mod authorize_local;
mod client_credentials;
mod concurrency;
mod errors;
mod exchange;
mod faults;
mod force_refresh;
mod http_client;
pub mod lifecycle;
mod logout;
mod needed;
mod records;
mod redaction;
mod refresh;
mod registry;
mod retries;
mod settings;
mod stateless;
mod tls;

pub const REDIRECT: &str = "http://127.0.0.1:8888/callback";
pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret-value";
/// `base64("test-client-id:test-client-secret-value")`.
pub const BASIC: &str = "Basic dGVzdC1jbGllbnQtaWQ6dGVzdC1jbGllbnQtc2VjcmV0LXZhbHVl";

/// A confidential client against `base`, ignoring the environment, never
/// sleeping between retries.
pub fn builder(base: &str) -> AuthorizationCodeBuilder<mode::HttpClient> {
    mode::AuthorizationCode::builder()
        .read_environment(false)
        .client_id(CLIENT_ID)
        .client_secret(CLIENT_SECRET)
        .redirect_uri(REDIRECT)
        .accounts_base_url(base)
        .backoff_hook(|_| Duration::ZERO)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token expiring `expires_in` seconds from now (negative: expired).
pub fn token(access: &str, expires_in: i64, refresh: Option<&str>) -> TokenInfo {
    let mut token =
        TokenInfo::new(access, (now() as i64 + expires_in) as u64).with_scope("user-read-email");
    token.refresh_token = refresh.map(RefreshToken::new);
    token
}

/// A cache holding `token`, shared with the test.
pub fn cache_with(token: TokenInfo) -> Arc<InMemoryTokenCache> {
    Arc::new(InMemoryTokenCache::with_token(token))
}

/// A token endpoint response body.
pub fn token_body(access: &str, refresh: Option<&str>) -> String {
    let mut v = serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "user-read-email user-read-private",
    });
    if let Some(r) = refresh {
        v["refresh_token"] = r.into();
    }
    v.to_string()
}

/// A mock of the token endpoint answering 200 with `body`.
pub fn token_mock(server: &mut mockito::ServerGuard, body: String) -> mockito::Mock {
    server
        .mock("POST", "/api/token")
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(body)
}

/// Waits (at most 5 s) until `done` holds: for work that runs beside a call
/// (a due cache write is retried in a task of its own in the async API, on
/// the caller's thread in the blocking one).
#[maybe]
pub async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        support::sleep(Duration::from_millis(5)).await;
    }
}

/// An address where nothing listens.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
