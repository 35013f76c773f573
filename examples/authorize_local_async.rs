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
        .token_cache(FileTokenCache::default())
        .build()?;

    let token = match auth.get_access_token().await {
        Ok(token) => token,
        Err(e) if e.requires_authorization() => {
            println!("Not logged in yet ({e}); opening the browser.");
            let options = AuthorizeLocalOptions::new()
                .on_url(|url| println!("If no browser opens, visit:\n{url}"));
            auth.authorize_local(options)
                .await?
                .access_token
                .into_secret()
        }
        Err(e) => return Err(e),
    };
    println!("Got an access token ({} characters).", token.len());
    Ok(())
}
