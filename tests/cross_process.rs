//! Processes sharing one FileTokenCache refresh once: 8 processes (half
//! blocking, half async when both modes are built) on an expired token,
//! against a fake server whose refresh tokens are single-use (rotating).
//!
//! The children are this test binary run again: the `child` test below does
//! the work when `CHILD` is set in its environment, and nothing otherwise.
#![cfg(any(feature = "blocking", feature = "async"))]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use spotify_auth::testing::FakeSpotify;
use spotify_auth::{AccessToken, FileTokenCache, TokenCache, TokenInfo};

const CHILD: &str = "SPOTIFY_AUTH_TEST_CHILD";
const ID: &str = "cross-process-client";
const SECRET: &str = "cross-process-secret";

/// The child's side: wait for the start signal, get a token, print it.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return; // Not a child: nothing to do.
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [mode, accounts, cache, go] = parts[..] else {
        panic!("bad child spec");
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Path::new(go).exists() {
        assert!(Instant::now() < deadline, "no start signal");
        std::thread::sleep(Duration::from_millis(1));
    }
    let result = match mode {
        #[cfg(feature = "blocking")]
        "blocking" => spotify_auth::blocking::AuthorizationCode::builder()
            .read_environment(false)
            .client_id(ID)
            .client_secret(SECRET)
            .redirect_uri("http://127.0.0.1:8888/callback")
            .accounts_base_url(accounts)
            .token_cache(FileTokenCache::new(cache))
            .build()
            .unwrap()
            .get_access_token(),
        #[cfg(feature = "async")]
        "async" => tokio::runtime::Runtime::new().unwrap().block_on(async {
            spotify_auth::asynchronous::AuthorizationCode::builder()
                .read_environment(false)
                .client_id(ID)
                .client_secret(SECRET)
                .redirect_uri("http://127.0.0.1:8888/callback")
                .accounts_base_url(accounts)
                .token_cache(FileTokenCache::new(cache))
                .build()
                .unwrap()
                .get_access_token()
                .await
        }),
        other => panic!("mode {other} not built"),
    };
    match result {
        Ok(token) => println!("\nTOKEN:{token}"),
        Err(e) => println!("\nERROR:{e}"),
    }
}

fn modes() -> Vec<&'static str> {
    [
        cfg!(feature = "blocking").then_some("blocking"),
        cfg!(feature = "async").then_some("async"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[test]
fn eight_processes_on_an_expired_token_refresh_once() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let server = FakeSpotify::builder()
        .client(ID, Some(SECRET))
        .redirect_uri("http://127.0.0.1:8888/callback")
        .rotate_refresh_tokens(true)
        .start()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("shared/token.json");
    let cache = FileTokenCache::new(&cache_path);
    let mut refresh = server.issue_refresh_token(ID, "user-read-email");
    let exe = std::env::current_exe().unwrap();
    let modes = modes();

    for round in 0..3 {
        // Expire the token (as time would), keeping the current refresh token.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        cache
            .set(&TokenInfo {
                access_token: AccessToken::new(format!("expired-{round}")),
                expires_at: now - 1,
                refresh_token: Some(refresh.clone().into()),
                scope: None,
            })
            .unwrap();
        let go = dir.path().join(format!("go-{round}"));
        let before = server.token_request_count();
        let children: Vec<_> = (0..8)
            .map(|i| {
                let spec = format!(
                    "{}|{}|{}|{}",
                    modes[i % modes.len()],
                    server.url(),
                    cache_path.display(),
                    go.display()
                );
                Command::new(&exe)
                    .args(["--exact", "child", "--nocapture", "--test-threads=1"])
                    .env(CHILD, spec)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        std::fs::write(&go, b"go").unwrap();
        let mut tokens = Vec::new();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "child failed: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = stdout
                .lines()
                .find(|l| l.starts_with("TOKEN:") || l.starts_with("ERROR:"))
                .unwrap_or_else(|| panic!("no result in {stdout}"));
            assert!(line.starts_with("TOKEN:"), "round {round}: {line}");
            tokens.push(line["TOKEN:".len()..].to_owned());
        }
        assert_eq!(
            server.token_request_count() - before,
            1,
            "round {round}: one refresh in all"
        );
        assert!(
            tokens.iter().all(|t| *t == tokens[0]),
            "round {round}: everyone got the same token"
        );
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), tokens[0]);
        let rotated = stored.refresh_token.unwrap().into_secret();
        assert_ne!(rotated, refresh, "round {round}: the refresh token rotated");
        refresh = rotated;
    }
}
