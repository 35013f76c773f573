//! The whole Authorization Code flow, on any machine.
//!
//! Without `SPOTIFY_SDK_CLIENT_ID` in the environment it runs offline: it
//! starts the fake Spotify accounts server from `spotify_auth::testing`, logs
//! in with `authorize_local` through a stand-in "browser" that follows the
//! authorization URL over HTTP, caches the token in a file, and refreshes it.
//!
//! With `SPOTIFY_SDK_CLIENT_ID` and `SPOTIFY_SDK_REDIRECT_URI` set (and
//! `SPOTIFY_SDK_CLIENT_SECRET` for a confidential app), it logs in to the real
//! Spotify through your browser instead.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::time::Duration;

use spotify_auth::testing::FakeSpotify;
use spotify_auth::{
    AuthorizationCode, AuthorizeLocalOptions, FileTokenCache, TokenCache, TokenInfo, scopes,
};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os(spotify_auth::ENV_CLIENT_ID).is_some() {
        return real_spotify();
    }
    println!(
        "No {} set: running offline against a fake Spotify.\n",
        spotify_auth::ENV_CLIENT_ID
    );

    // Registered without a port, as Spotify allows for loopback URIs: the
    // login binds a free port and uses that exact URI throughout.
    let redirect_uri = "http://127.0.0.1/callback";
    let server = FakeSpotify::builder()
        .client("quickstart-app", None) // a public client: PKCE
        .redirect_uri(redirect_uri)
        .rotate_refresh_tokens(true)
        .start()?;
    println!("1. Fake accounts server listening at {}", server.url());

    let dir = std::env::temp_dir().join(format!("spotify-auth-quickstart-{}", std::process::id()));
    let cache_path = dir.join("token.json");
    // Each "run" of the app builds its AuthorizationCode the same way.
    let app = || {
        AuthorizationCode::builder()
            .read_environment(false)
            .client_id("quickstart-app")
            .redirect_uri(redirect_uri)
            .scope([scopes::USER_READ_EMAIL, scopes::USER_TOP_READ])
            .accounts_base_url(server.url())
            .token_cache(FileTokenCache::new(&cache_path))
            .build()
    };
    let auth = app()?;

    let options = AuthorizeLocalOptions::new()
        .open_browser(false)
        .timeout(Duration::from_secs(30))
        .on_url(|url| {
            println!(
                "2. Authorization URL: {}...",
                &url[..url.find('?').unwrap_or(url.len())]
            );
            println!("   A stand-in browser follows it: /authorize -> 302 -> the local callback");
            let url = url.to_owned();
            std::thread::spawn(move || {
                if let Err(e) = ureq::get(&url).call() {
                    eprintln!("   the stand-in browser failed: {e}");
                }
            });
        });
    let token = auth.authorize_local(options)?;
    println!("3. Callback received, state checked, code exchanged (PKCE).");
    describe("4. Token received", &token);

    let cached = FileTokenCache::new(&cache_path);
    println!(
        "5. Cached in {}{}",
        cache_path.display(),
        mode_of(&cache_path)
    );

    let later = app()?;
    let before = server.token_request_count();
    later.get_access_token()?;
    println!(
        "6. A later run reads the cached token: {} token request(s) made.",
        server.token_request_count() - before
    );

    // Age the cached token past its expiry, as an hour would.
    let mut aged = cached.get()?.ok_or("the cache is empty")?;
    aged.expires_at = 0;
    cached.set(&aged)?;
    let next_run = app()?;
    let before = server.token_request_count();
    let fresh = next_run.get_access_token()?;
    let refreshed = cached.get()?.ok_or("the cache is empty")?;
    assert_eq!(refreshed.access_token.secret(), fresh);
    assert_ne!(refreshed.refresh_token, aged.refresh_token, "rotated");
    println!(
        "7. Expired token refreshed silently: {} token request(s); the rotated refresh token was stored.",
        server.token_request_count() - before
    );
    describe("   Refreshed token", &refreshed);

    std::fs::remove_dir_all(&dir)?;
    println!("\nDone: the whole flow ran with no network beyond loopback.");
    Ok(())
}

fn real_spotify() -> Result<(), Box<dyn std::error::Error>> {
    let auth = AuthorizationCode::builder()
        .scope([scopes::USER_READ_EMAIL])
        .token_cache(FileTokenCache::default())
        .build()?;
    let options =
        AuthorizeLocalOptions::new().on_url(|url| println!("Opening your browser at:\n{url}"));
    auth.get_access_token_or_authorize(options)?;
    let login = auth.token_cache().get()?.ok_or("no login stored")?;
    describe(
        &format!("Logged in (kept in {})", spotify_auth::cache::DEFAULT_PATH),
        &login,
    );
    auth.close()?;
    Ok(())
}

/// Prints what a token is, never the token itself.
fn describe(label: &str, token: &TokenInfo) {
    println!(
        "{label}: expires in {} s, scopes [{}], refresh token {}",
        token.expires_in().as_secs(),
        token.scope.as_deref().unwrap_or(""),
        if token.refresh_token.is_some() {
            "present"
        } else {
            "absent"
        },
    );
}

#[cfg(unix)]
fn mode_of(path: &std::path::Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) => format!(" (mode {:o})", m.permissions().mode() & 0o777),
        Err(_) => String::new(),
    }
}

#[cfg(not(unix))]
fn mode_of(_: &std::path::Path) -> String {
    String::new()
}
