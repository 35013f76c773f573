//! What the benches share: a Spotify-length valid token, and the two caches
//! holding it.
#![allow(dead_code)]

pub mod counting;
pub mod users;

/// A Spotify-length access token (theirs are about 250 characters).
pub fn spotify_length_token() -> String {
    "BQ".chars()
        .chain(
            "Cx7d0a9f3e2b1c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3_-"
                .chars()
                .cycle(),
        )
        .take(250)
        .collect()
}

/// A token valid for another hour, with a refresh token and scopes.
pub fn valid_token() -> spotify_auth::TokenInfo {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    spotify_auth::TokenInfo::new(spotify_length_token(), now + 3600)
        .with_refresh_token("AQD".to_owned() + &"r".repeat(128))
        .with_scope("user-read-email user-top-read")
}

/// The two caches, each holding a valid token; the directory of the file
/// cache lives as long as the returned guard.
/// A temporary directory (kept for the file cache's lifetime) and the named caches.
pub type Caches = (
    tempfile::TempDir,
    Vec<(&'static str, Box<dyn spotify_auth::TokenCache>)>,
);

pub fn caches() -> Caches {
    use spotify_auth::TokenCache;
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = spotify_auth::FileTokenCache::new(dir.path().join("token.json"));
    file.set(&valid_token()).expect("write the token file");
    let memory = spotify_auth::InMemoryTokenCache::with_token(valid_token());
    (
        dir,
        vec![("memory", Box::new(memory)), ("file", Box::new(file))],
    )
}
