//! Shared set-up for the comparison of spotify-auth with rspotify 0.16: the
//! same token, the same credentials, and a client of each library in the mode
//! this build was compiled for (feature `blocking` or `async`, exactly one:
//! rspotify cannot be both in one build).

#[cfg(all(feature = "blocking", feature = "async"))]
compile_error!("rspotify has one mode per build: enable `blocking` or `async`, not both");
#[cfg(not(any(feature = "blocking", feature = "async")))]
compile_error!("enable `blocking` or `async`");

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

pub use rspotify;
pub use spotify_auth;

#[cfg(feature = "async")]
pub use spotify_auth::asynchronous::AuthorizationCode as Ours;
#[cfg(feature = "blocking")]
pub use spotify_auth::blocking::AuthorizationCode as Ours;

/// The mode of this build, for reports.
pub const MODE: &str = if cfg!(feature = "blocking") {
    "blocking"
} else {
    "async"
};

pub const CLIENT_ID: &str = "id";
pub const CLIENT_SECRET: &str = "s";
pub const REDIRECT_URI: &str = "http://127.0.0.1:8888/callback";

/// A Spotify-length access token (about 250 characters).
pub fn access_token() -> String {
    "BQ".to_owned() + &"Cx7d0a9f3e2b1c4d5e6f7a8b9c0d1e2f3a_-".repeat(7)[..248]
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Our token, valid for another `valid_for` seconds (negative: expired).
pub fn our_token(valid_for: i64, refresh_token: &str) -> spotify_auth::TokenInfo {
    spotify_auth::TokenInfo::new(access_token(), unix_now().saturating_add_signed(valid_for))
        .with_refresh_token(refresh_token)
        .with_scope("user-read-email")
}

/// rspotify's token, valid for another `valid_for` seconds (negative: expired).
pub fn their_token(valid_for: i64, refresh_token: &str) -> rspotify::Token {
    rspotify::Token {
        access_token: access_token(),
        expires_in: chrono::TimeDelta::try_seconds(3600).expect("an hour"),
        expires_at: Some(chrono::Utc::now() + chrono::TimeDelta::seconds(valid_for)),
        refresh_token: Some(refresh_token.to_owned()),
        scopes: HashSet::from(["user-read-email".to_owned()]),
    }
}

/// Our client holding `token`, with its token endpoint at `accounts` (a
/// `FakeSpotify` URL) when given. Its first `get_access_token` loads the cache.
pub fn ours(token: spotify_auth::TokenInfo, accounts: Option<&str>) -> Ours {
    let mut builder = Ours::builder()
        .read_environment(false)
        .client_id(CLIENT_ID)
        .client_secret(CLIENT_SECRET)
        .redirect_uri(REDIRECT_URI)
        .token_cache(spotify_auth::InMemoryTokenCache::with_token(token));
    if let Some(url) = accounts {
        builder = builder.accounts_base_url(url);
    }
    builder.build().expect("valid settings")
}

/// rspotify's Authorization Code client holding `token`, with automatic
/// refreshing on (its default) and its accounts URL at `accounts` when given.
pub fn theirs(token: rspotify::Token, accounts: Option<&str>) -> rspotify::AuthCodeSpotify {
    let mut client = rspotify::AuthCodeSpotify::from_token(token);
    client.creds = rspotify::Credentials::new(CLIENT_ID, CLIENT_SECRET);
    client.oauth = rspotify::OAuth {
        redirect_uri: REDIRECT_URI.to_owned(),
        ..Default::default()
    };
    client.config = rspotify::Config {
        token_refreshing: true,
        ..Default::default()
    };
    if let Some(url) = accounts {
        client.config.auth_base_url = url.to_owned();
    }
    client
}

/// One user of a service in rspotify: an `AuthCodeSpotify` holding `token`,
/// made the way its docs say to make one that can refresh
/// (`from_token_with_config`: the credentials, the redirect URI, automatic
/// refreshing on). Every rspotify constructor builds the instance's own HTTP
/// client (`HttpClient::default()`); there is no way to share one.
pub fn their_user(token: rspotify::Token) -> rspotify::AuthCodeSpotify {
    rspotify::AuthCodeSpotify::from_token_with_config(
        token,
        rspotify::Credentials::new(CLIENT_ID, CLIENT_SECRET),
        rspotify::OAuth {
            redirect_uri: REDIRECT_URI.to_owned(),
            ..Default::default()
        },
        rspotify::Config {
            token_refreshing: true,
            ..Default::default()
        },
    )
}

/// How many users the per-user comparisons keep alive at once.
pub const USERS: usize = 10_000;
