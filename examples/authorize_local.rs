//! Log in once through the browser, then refresh silently in later runs
//! (blocking API).
//!
//! Needs a Spotify app whose redirect URIs include
//! `http://127.0.0.1:8888/callback` (or set `SPOTIFY_SDK_REDIRECT_URI`):
//!
//! ```text
//! SPOTIFY_SDK_CLIENT_ID=... cargo run --example authorize_local
//! ```
//!
//! Without `SPOTIFY_SDK_CLIENT_SECRET` the app is treated as public and PKCE
//! is used. The login is kept in the config directory
//! (`~/.config/spotify-auth-example/spotify-token.json` on Linux, mode
//! 0600), the same file whatever directory the example runs from.

use spotify_auth::{AuthorizationCode, AuthorizeLocalOptions, FileTokenCache, scopes};

fn main() -> Result<(), spotify_auth::Error> {
    let redirect = std::env::var(spotify_auth::ENV_REDIRECT_URI)
        .unwrap_or_else(|_| "http://127.0.0.1:8888/callback".into());
    let auth = AuthorizationCode::builder()
        .redirect_uri(redirect)
        .scope([scopes::USER_READ_PRIVATE, scopes::USER_TOP_READ])
        .token_cache(FileTokenCache::in_config_dir("spotify-auth-example")?)
        .build()?;

    // The stored login (refreshed if it had expired), or the browser when
    // there is none, it was logged out or refused, or lacks a scope.
    let options = AuthorizeLocalOptions::new()
        .on_url(|url| println!("Log in through your browser (if none opens, visit):\n{url}"));
    let token = auth.get_access_token_or_authorize(options)?;
    println!("Got an access token ({} characters). Try:", token.len());
    println!("  curl -H \"Authorization: Bearer $TOKEN\" https://api.spotify.com/v1/me");
    // Finishes a refresh still running beside the call before the process
    // ends.
    auth.close()
}
