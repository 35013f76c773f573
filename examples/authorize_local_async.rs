//! Log in once through the browser, then refresh silently in later runs
//! (async API).
//!
//! ```text
//! SPOTIFY_SDK_CLIENT_ID=... cargo run --example authorize_local_async --features async
//! ```

use spotify_auth::{AsyncAuthorizationCode, AuthorizeLocalOptions, FileTokenCache, scopes};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), spotify_auth::Error> {
    let redirect = std::env::var(spotify_auth::ENV_REDIRECT_URI)
        .unwrap_or_else(|_| "http://127.0.0.1:8888/callback".into());
    let auth = AsyncAuthorizationCode::builder()
        .redirect_uri(redirect)
        .scope([scopes::USER_READ_PRIVATE, scopes::USER_TOP_READ])
        .token_cache(FileTokenCache::in_config_dir("spotify-auth-example")?)
        .build()?;

    let options = AuthorizeLocalOptions::new()
        .on_url(|url| println!("Log in through your browser (if none opens, visit):\n{url}"));
    let token = auth.get_access_token_or_authorize(options).await?;
    println!("Got an access token ({} characters).", token.len());
    // Returning from `main` drops the runtime: finish what runs beside the
    // callers first (a refresh ahead, a write owed to the store).
    auth.close().await
}
