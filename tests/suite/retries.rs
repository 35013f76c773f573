//! The retry policy against a real (mock) endpoint. No test sleeps: the
//! backoff hook records the planned delays and waits zero.

use super::*;
use std::sync::Mutex;

/// A builder whose backoff hook records every planned delay.
fn recording(
    base: &str,
) -> (
    AuthorizationCodeBuilder<mode::HttpClient>,
    Arc<Mutex<Vec<Duration>>>,
) {
    let delays = Arc::new(Mutex::new(Vec::new()));
    let d = delays.clone();
    let b = builder(base).backoff_hook(move |planned| {
        d.lock().unwrap().push(planned);
        Duration::ZERO
    });
    (b, delays)
}

fn expired_cache() -> Arc<InMemoryTokenCache> {
    cache_with(token("stale", -10, Some("r")))
}

flow_test! {
    async fn server_errors_are_retried_with_growing_jittered_delays() {
        let mut server = support::server().await;
        let failing = support::create(server.mock("POST", "/api/token").with_status(500).expect(2)).await;
        let ok = support::create(token_mock(&mut server, token_body("fresh", None)).expect(1)).await;
        let (b, delays) = recording(&server.url());
        let auth = b.token_cache(expired_cache()).build().unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "fresh");
        support::assert(&failing).await;
        support::assert(&ok).await;
        let delays = delays.lock().unwrap().clone();
        assert_eq!(delays.len(), 2);
        assert!(delays[0] >= Duration::from_millis(250) && delays[0] <= Duration::from_millis(500), "{delays:?}");
        assert!(delays[1] >= Duration::from_millis(500) && delays[1] <= Duration::from_millis(1000), "{delays:?}");
    }
}

flow_test! {
    async fn server_errors_exhaust_the_retries() {
        let mut server = support::server().await;
        let failing = support::create(
            server.mock("POST", "/api/token").with_status(503).with_body(r#"{"error":"server_error"}"#).expect(4),
        )
        .await;
        let (b, delays) = recording(&server.url());
        let cache = expired_cache();
        let auth = b.token_cache(cache.clone()).build().unwrap();
        let e = auth.get_access_token().await.unwrap_err();
        assert!(matches!(e, Error::TokenEndpoint { status: 503, .. }), "{e:?}");
        support::assert(&failing).await;
        assert_eq!(delays.lock().unwrap().len(), 3);
        assert_eq!(cache.get().unwrap().unwrap().access_token.secret(), "stale", "cache untouched");
    }
}

flow_test! {
    async fn connection_refused_is_retried_then_a_transport_error() {
        let (b, delays) = recording(&closed_port_url());
        let auth = b.max_retries(2).token_cache(expired_cache()).build().unwrap();
        let e = auth.get_access_token().await.unwrap_err();
        assert!(matches!(e, Error::Http { kind: spotify_auth::HttpErrorKind::Connect, .. }), "{e:?}");
        assert_eq!(delays.lock().unwrap().len(), 2);
    }
}

flow_test! {
    async fn client_errors_are_never_retried() {
        let mut server = support::server().await;
        let mock = support::create(
            server
                .mock("POST", "/api/token")
                .with_status(401)
                .with_body(r#"{"error":"invalid_client","error_description":"Invalid client"}"#)
                .expect(1),
        )
        .await;
        let (b, delays) = recording(&server.url());
        let auth = b.token_cache(expired_cache()).build().unwrap();
        let e = auth.get_access_token().await.unwrap_err();
        assert!(matches!(e, Error::TokenEndpoint { status: 401, ref error, .. } if error.as_deref() == Some("invalid_client")), "{e:?}");
        support::assert(&mock).await;
        assert!(delays.lock().unwrap().is_empty());
    }
}

flow_test! {
    async fn rate_limit_waits_retry_after_then_succeeds() {
        let mut server = support::server().await;
        let limited = support::create(
            server.mock("POST", "/api/token").with_status(429).with_header("retry-after", "1").expect(1),
        )
        .await;
        let ok = support::create(token_mock(&mut server, token_body("fresh", None)).expect(1)).await;
        let (b, delays) = recording(&server.url());
        let auth = b.token_cache(expired_cache()).build().unwrap();
        let got = auth.get_access_token().await;
        assert_eq!(got.unwrap(), "fresh");
        support::assert(&limited).await;
        support::assert(&ok).await;
        assert_eq!(*delays.lock().unwrap(), [Duration::from_secs(1)]);
    }
}

flow_test! {
    async fn rate_limit_beyond_the_budget_is_an_error() {
        let mut server = support::server().await;
        let limited = support::create(
            server.mock("POST", "/api/token").with_status(429).with_header("retry-after", "3600").expect(1),
        )
        .await;
        let (b, delays) = recording(&server.url());
        let auth = b.token_cache(expired_cache()).build().unwrap();
        let e = auth.get_access_token().await.unwrap_err();
        assert!(matches!(e, Error::RateLimited { retry_after, .. } if retry_after == Duration::from_secs(3600)), "{e:?}");
        support::assert(&limited).await;
        assert!(delays.lock().unwrap().is_empty());
    }
}
