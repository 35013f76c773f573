//! Issue 17, item 2: the per-user registry (`UserRegistry`), in both modes:
//! one instance per user from one template, bounded, and an eviction in the
//! middle of a refresh that neither loses the token nor makes a second
//! request. (That a user's instance never reads the environment is in
//! `tests/env.rs`, the binary that may change it.)

use super::*;
use spotify_auth::testing::{FakeSpotify, Fault};
use spotify_auth::{InMemoryStore, TokenCache};
use std::sync::atomic::{AtomicUsize, Ordering};

fn rotating_server() -> FakeSpotify {
    FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .rotate_refresh_tokens(true)
        .start()
        .unwrap()
}

flow_test! {
    async fn each_user_gets_one_instance_and_the_registry_stays_bounded() {
        let server = rotating_server();
        let store = InMemoryStore::new();
        let caches = store.clone();
        let users = mode::UserRegistry::new(builder(server.url()), move |user| caches.cache(user))
            .unwrap()
            .with_capacity(8);
        let alice = users.get("alice").unwrap();
        assert!(Arc::ptr_eq(&alice, &users.get("alice").unwrap()), "kept");
        assert!(!Arc::ptr_eq(&alice, &users.get("bob").unwrap()), "one each");
        assert!(users.existing("carol").is_none(), "existing builds nothing");
        for i in 0..100 {
            users.get(&format!("user-{i}")).unwrap();
        }
        assert!(users.len() <= 8, "{} instances kept", users.len());
        assert_eq!(users.capacity(), 8);
        // Each instance has its user's cache; building read nothing.
        let refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        store.cache("dave").set(&token("dave's", 3600, Some(&refresh))).unwrap();
        let dave = users.get("dave").unwrap();
        let got = dave.get_access_token().await;
        assert_eq!(got.unwrap(), "dave's");
        let removed = users.remove("dave").unwrap();
        assert!(Arc::ptr_eq(&removed, &dave));
        let got = dave.get_access_token().await;
        assert_eq!(got.unwrap(), "dave's", "a removed instance still works");
        assert!(users.cache_of("dave").get().unwrap().is_some());
        assert_eq!(server.token_request_count(), 0);
        assert!(format!("{users:?}").starts_with("UserRegistry"));
    }
}

flow_test! {
    async fn an_instance_evicted_during_its_refresh_loses_nothing_and_its_successor_sends_nothing() {
        let server = rotating_server();
        let refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        let store = InMemoryStore::new();
        store.cache("u").set(&token("stale", -10, Some(&refresh))).unwrap();
        let caches = store.clone();
        let users = Arc::new(
            mode::UserRegistry::new(builder(server.url()), move |user| caches.cache(user))
                .unwrap()
                .with_capacity(1),
        );
        let evicted = users.get("u").unwrap();
        // The refresh is granted at once but answered 300 ms later.
        server.inject(Fault::DelayResponse(Duration::from_millis(300)), 1);
        let turn = Arc::new(AtomicUsize::new(0));
        let (u, e) = (users.clone(), evicted.clone());
        let results = support::concurrently(2, move || {
            let (users, evicted, turn) = (u.clone(), e.clone(), turn.clone());
            async move {
                if turn.fetch_add(1, Ordering::SeqCst) == 0 {
                    // The instance refreshing: evicted while it waits.
                    evicted.get_access_token().await
                } else {
                    support::sleep(Duration::from_millis(100)).await;
                    users.get("someone-else").unwrap(); // past the capacity
                    users.remove("u");
                    let successor = users.get("u").unwrap();
                    assert!(!Arc::ptr_eq(&successor, &evicted));
                    successor.get_access_token().await
                }
            }
        })
        .await;
        let tokens: Vec<String> = results.into_iter().map(|r| r.unwrap()).collect();
        assert_ne!(tokens[0], "stale");
        assert_eq!(tokens[0], tokens[1], "the successor adopted the evicted one's token");
        assert_eq!(server.token_request_count(), 1, "one refresh");
        let stored = store.cache("u").get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), tokens[0], "stored");
    }
}

flow_test! {
    async fn a_template_with_a_login_of_its_own_is_refused() {
        let with_cache = builder("http://127.0.0.1:9").token_cache(InMemoryTokenCache::new());
        let e = mode::UserRegistry::new(with_cache, |_| InMemoryTokenCache::new()).unwrap_err();
        assert!(matches!(e, Error::Config { setting: "token_cache", .. }), "{e:?}");
        let with_refresh = builder("http://127.0.0.1:9").refresh_token("r");
        let e = mode::UserRegistry::new(with_refresh, |_| InMemoryTokenCache::new()).unwrap_err();
        assert!(matches!(e, Error::Config { setting: "refresh_token", .. }), "{e:?}");
        let no_id = mode::AuthorizationCode::builder()
            .read_environment(false)
            .redirect_uri(REDIRECT);
        let e = mode::UserRegistry::new(no_id, |_| InMemoryTokenCache::new()).unwrap_err();
        assert!(matches!(e, Error::Config { setting: "client_id", .. }), "checked at once: {e:?}");
    }
}
