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
//! is used. The token is kept in `.spotify_sdk_token.json` (mode 0600).

use spotify_auth::{AuthorizationCode, AuthorizeLocalOptions, FileTokenCache, scopes};

fn main() -> Result<(), spotify_auth::Error> {
    let redirect = std::env::var(spotify_auth::ENV_REDIRECT_URI)
        .unwrap_or_else(|_| "http://127.0.0.1:8888/callback".into());
    let auth = AuthorizationCode::builder()
        .redirect_uri(redirect)
        .scope([scopes::USER_READ_PRIVATE, scopes::USER_TOP_READ])
        .token_cache(FileTokenCache::default())
        .build()?;

    let token = match auth.get_access_token() {
        Ok(token) => {
            println!("Using the cached login (refreshed if it had expired).");
            token
        }
        Err(e) if e.requires_authorization() => {
            println!("Not logged in yet ({e}); opening the browser.");
            let options = AuthorizeLocalOptions::new()
                .on_url(|url| println!("If no browser opens, visit:\n{url}"));
            auth.authorize_local(options)?.access_token.into_secret()
        }
        Err(e) => return Err(e),
    };
    println!("Got an access token ({} characters). Try:", token.len());
    println!("  curl -H \"Authorization: Bearer $TOKEN\" https://api.spotify.com/v1/me");
    Ok(())
}
