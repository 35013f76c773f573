//! Issue 17, item 2, what only the async API can show: an instance evicted
//! from the registry, whose caller gave up and whose last `Arc` is dropped
//! while its refresh is in flight. The refresh runs on in its own task
//! (which holds the instance's engine), its token is stored, and the
//! user's next instance adopts it without a request. (Both modes' eviction
//! test is in `tests/suite/registry.rs`.)
#![cfg(feature = "async")]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spotify_auth::asynchronous::{AuthorizationCode, UserRegistry};
use spotify_auth::testing::{FakeSpotify, Fault};
use spotify_auth::{InMemoryStore, TokenCache, TokenInfo};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_instance_dropped_mid_refresh_still_stores_its_token() {
    let server = FakeSpotify::builder()
        .client("id", Some("secret"))
        .rotate_refresh_tokens(true)
        .start()
        .unwrap();
    let refresh = server.issue_refresh_token("id", "user-read-email");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let store = InMemoryStore::new();
    store
        .cache("u")
        .set(
            &TokenInfo::new("stale", now - 10)
                .with_refresh_token(refresh)
                .with_scope("user-read-email"),
        )
        .unwrap();
    let template = AuthorizationCode::builder()
        .read_environment(false)
        .client_id("id")
        .client_secret("secret")
        .redirect_uri("http://127.0.0.1:8888/callback")
        .accounts_base_url(server.url());
    let caches = store.clone();
    let users = UserRegistry::new(template, move |user| caches.cache(user)).unwrap();

    let evicted = users.get("u").unwrap();
    server.inject(Fault::DelayResponse(Duration::from_millis(300)), 1);
    let gave_up =
        tokio::time::timeout(Duration::from_millis(100), evicted.get_access_token()).await;
    assert!(gave_up.is_err(), "the caller gave up while the refresh ran");
    users.remove("u");
    drop(evicted); // the last Arc: only the refresh's task holds the engine now
    assert!(users.existing("u").is_none());

    let successor = users.get("u").unwrap();
    let token = successor.get_access_token().await.unwrap();
    assert_ne!(token, "stale");
    assert_eq!(
        server.token_request_count(),
        1,
        "the successor sent nothing"
    );
    let stored = store.cache("u").get().unwrap().unwrap();
    assert_eq!(stored.access_token.secret(), token);
    // Shutting down: out of the registry, then closed.
    users.remove("u");
    let successor = Arc::try_unwrap(successor).expect("the last Arc");
    successor.close().await.unwrap();
}
