//! One user of a service: an `AuthorizationCode` built with default settings
//! (no `http_client`: every instance shares the process-wide default client
//! of its mode) and its own `InMemoryTokenCache` seeded with a valid token.
//! What a service builds per user when the user shows up with a stored token.

/// How many users the per-user benches keep alive at once.
pub const USERS: usize = 10_000;

/// The settings every user shares, the cache holding `token` its own.
/// `read_environment(false)`: a service passes its settings explicitly (with
/// it on, each build also reads three environment variables).
#[allow(unused_macros)]
macro_rules! user_builder {
    ($flow:ty, $token:expr) => {
        <$flow>::builder()
            .read_environment(false)
            .client_id("id")
            .client_secret("s")
            .redirect_uri("http://127.0.0.1:8888/callback")
            .token_cache(spotify_auth::InMemoryTokenCache::with_token($token))
            .build()
            .expect("valid settings")
    };
}

/// A blocking user holding `token`, not asked for anything yet.
#[cfg(feature = "blocking")]
pub fn blocking_user(token: spotify_auth::TokenInfo) -> spotify_auth::blocking::AuthorizationCode {
    user_builder!(spotify_auth::blocking::AuthorizationCode, token)
}

/// An async user holding `token`, not asked for anything yet.
#[cfg(feature = "async")]
pub fn async_user(token: spotify_auth::TokenInfo) -> spotify_auth::asynchronous::AuthorizationCode {
    user_builder!(spotify_auth::asynchronous::AuthorizationCode, token)
}
