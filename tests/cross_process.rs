//! Processes sharing one FileTokenCache refresh once: 8 processes (half
//! blocking, half async when both modes are built) on an expired token,
//! against a fake server whose refresh tokens are single-use (rotating).
//!
//! The children are this test binary run again: the `child` test below does
//! the work when `CHILD` is set in its environment, and nothing otherwise.
#![cfg(any(feature = "blocking", feature = "async"))]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{Client, Flow, Mode};
use spotify_auth::testing::FakeSpotify;
use spotify_auth::{FileTokenCache, TokenCache, TokenInfo};

const CHILD: &str = "SPOTIFY_AUTH_TEST_CHILD";
const ID: &str = "cross-process-client";
const SECRET: &str = "cross-process-secret";
const REDIRECT: &str = "http://127.0.0.1:8888/callback";

/// The child's side (`mode|accounts|cache|go`): wait for the start signal,
/// get a token, report it.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return; // Not a child: nothing to do.
    };
    let [mode, accounts, cache, go] = spec.split('|').collect::<Vec<_>>()[..] else {
        panic!("bad child spec");
    };
    common::wait_for_start(go);
    let client = Client {
        id: ID,
        secret: SECRET,
        redirect: REDIRECT,
        accounts,
    };
    let flow = Flow::new(Mode::from_name(mode), &client, FileTokenCache::new(cache));
    common::report(flow.get_access_token());
}

#[test]
fn eight_processes_on_an_expired_token_refresh_once() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let server = FakeSpotify::builder()
        .client(ID, Some(SECRET))
        .redirect_uri(REDIRECT)
        .rotate_refresh_tokens(true)
        .start()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("shared/token.json");
    let cache = FileTokenCache::new(&cache_path);
    let mut refresh = server.issue_refresh_token(ID, "user-read-email");
    let modes = Mode::all();

    for round in 0..3 {
        // Expire the token (as time would), keeping the current refresh token.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        cache
            .set(
                &TokenInfo::new(format!("expired-{round}"), now - 1)
                    .with_refresh_token(refresh.clone()),
            )
            .unwrap();
        let go = dir.path().join(format!("go-{round}"));
        let before = server.token_request_count();
        let children: Vec<_> = (0..8)
            .map(|i| {
                let spec = format!(
                    "{}|{}|{}|{}",
                    modes[i % modes.len()].name(),
                    server.url(),
                    cache_path.display(),
                    go.display()
                );
                common::spawn_child(CHILD, spec)
            })
            .collect();
        let token = common::start_together(children, &go, &format!("round {round}"));
        assert_eq!(
            server.token_request_count() - before,
            1,
            "round {round}: one refresh in all"
        );
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), token);
        let rotated = stored.refresh_token.unwrap().into_secret();
        assert_ne!(rotated, refresh, "round {round}: the refresh token rotated");
        refresh = rotated;
    }
}
