//! Single-flight refresh: many callers, one request.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

flow_test! {
    async fn eight_callers_on_an_expired_token_make_one_request() {
        let mut server = support::server().await;
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let mock = support::create(
            server
                .mock("POST", "/api/token")
                .with_header("content-type", "application/json")
                .with_body_from_request(move |_| {
                    h.fetch_add(1, Ordering::SeqCst);
                    // Slow enough that every caller arrives while it runs.
                    std::thread::sleep(Duration::from_millis(200));
                    token_body("fresh", Some("r2")).into_bytes()
                })
                .expect(1),
        )
        .await;
        let auth = Arc::new(builder(&server.url()).token_cache(cache_with(token("stale", -10, Some("r1")))).build().unwrap());
        let results = support::concurrently(8, move || {
            let auth = auth.clone();
            async move { auth.get_access_token().await }
        })
        .await;
        assert_eq!(results.len(), 8);
        for r in results {
            assert_eq!(r.unwrap(), "fresh");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        support::assert(&mock).await;
    }
}

flow_test! {
    async fn a_failed_refresh_fails_every_waiter_once_and_the_next_call_retries() {
        let mut server = support::server().await;
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let _failing = support::create(
            server
                .mock("POST", "/api/token")
                .with_status(500)
                .with_body_from_request(move |_| {
                    h.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(200));
                    b"{\"error\":\"server_error\"}".to_vec()
                }),
        )
        .await;
        let auth = Arc::new(
            builder(&server.url())
                .max_retries(0)
                .token_cache(cache_with(token("stale", -10, Some("r1"))))
                .build()
                .unwrap(),
        );
        let a = auth.clone();
        let results = support::concurrently(8, move || {
            let auth = a.clone();
            async move { auth.get_access_token().await }
        })
        .await;
        for r in results {
            assert!(matches!(r, Err(Error::TokenEndpoint { status: 500, .. })), "{r:?}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the waiters shared the one failure");
        // No stuck state: the next call makes a new attempt.
        let got = auth.get_access_token().await;
        assert!(got.is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }
}

flow_test! {
    async fn many_callers_on_an_expired_token_make_one_request() {
        use spotify_auth::testing::{FakeSpotify, Fault};
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, Some(CLIENT_SECRET))
            .rotate_refresh_tokens(true)
            .start()
            .unwrap();
        let refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        // Slow, so that every caller arrives during the refresh.
        server.inject(Fault::Delay(Duration::from_millis(300)), 1);
        let auth = Arc::new(
            builder(server.url())
                .token_cache(cache_with(token("stale", -10, Some(&refresh))))
                .build()
                .unwrap(),
        );
        let a = auth.clone();
        let results = support::concurrently(support::MANY, move || {
            let auth = a.clone();
            async move { auth.get_access_token().await }
        })
        .await;
        assert_eq!(results.len(), support::MANY);
        let tokens: Vec<String> = results.into_iter().map(|r| r.unwrap()).collect();
        assert!(tokens.iter().all(|t| *t == tokens[0] && t != "stale"));
        assert_eq!(server.token_request_count(), 1, "one refresh for {} callers", support::MANY);
    }
}
