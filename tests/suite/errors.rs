//! Errors compose: each keeps its cause as `source()` (the transport's own
//! error for `Error::Http`), no message repeats its cause's, and no secret is
//! in any of them.

use std::error::Error as _;

use super::*;

/// The messages of `error` and of its causes, outermost first: what
/// `anyhow`'s `{:#}` prints, joined with `": "`. Fails when a message repeats
/// one of its causes' or holds a secret.
pub fn report(error: &Error) -> String {
    let mut chain = vec![error.to_string()];
    let mut cause = error.source();
    while let Some(c) = cause {
        chain.push(c.to_string());
        cause = c.source();
    }
    for (i, outer) in chain.iter().enumerate() {
        for inner in &chain[i + 1..] {
            assert!(
                !outer.contains(inner.as_str()),
                "{outer:?} repeats its cause {inner:?}"
            );
        }
    }
    let text = chain.join(": ");
    for secret in [CLIENT_SECRET, "ref-SECRET-1", BASIC] {
        assert!(!text.contains(secret), "leaks {secret}: {text}");
        assert!(
            !format!("{error:?}").contains(secret),
            "Debug leaks {secret}: {error:?}"
        );
    }
    text
}

/// Whether `source` is the error type of this mode's HTTP client.
pub fn is_transport_error(source: &(dyn std::error::Error + 'static)) -> bool {
    use std::any::TypeId;
    let client = TypeId::of::<mode::HttpClient>();
    #[cfg(feature = "blocking")]
    if client == TypeId::of::<ureq::Agent>() {
        return source.is::<ureq::Error>();
    }
    #[cfg(feature = "async")]
    if client == TypeId::of::<reqwest::Client>() {
        return source.is::<reqwest::Error>();
    }
    panic!("unknown HTTP client")
}

flow_test! {
    async fn connection_refused_keeps_the_transport_error_as_source() {
        let auth = builder(&closed_port_url()).max_retries(0).refresh_token("ref-SECRET-1").build().unwrap();
        let got = auth.get_access_token().await;
        let e = got.unwrap_err();
        assert!(matches!(e, Error::Http { kind: spotify_auth::HttpErrorKind::Connect, .. }), "{e:?}");
        let text = report(&e);
        assert!(text.starts_with("HTTP transport error (connect): "), "{text}");
        assert!(text.to_lowercase().contains("refused"), "the cause is printed: {text}");
        let source = e.source().expect("a source");
        assert!(is_transport_error(source), "source is the HTTP client's error: {source:?}");
        // A clone (what every waiter on a shared refresh gets) keeps it.
        assert!(is_transport_error(e.clone().source().unwrap()));
    }
}

flow_test! {
    async fn timeout_keeps_the_transport_error_as_source() {
        // Accepts connections (the backlog does) and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let auth = builder(&url)
            .max_retries(0)
            .timeout(Duration::from_millis(200))
            .refresh_token("ref-SECRET-1")
            .build()
            .unwrap();
        let got = auth.get_access_token().await;
        let e = got.unwrap_err();
        assert!(matches!(e, Error::Http { kind: spotify_auth::HttpErrorKind::Timeout, .. }), "{e:?}");
        report(&e);
        assert!(is_transport_error(e.source().unwrap()), "{e:?}");
    }
}

flow_test! {
    async fn cache_io_error_keeps_the_io_error_as_source() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, b"").unwrap();
        let cache = spotify_auth::FileTokenCache::new(not_a_dir.join("token.json"));
        let auth = builder("http://127.0.0.1:9").token_cache(cache).build().unwrap();
        let got = auth.get_access_token().await;
        let e = got.unwrap_err();
        assert!(matches!(e, Error::Cache { .. }), "{e:?}");
        let text = report(&e);
        let io = e.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("the io::Error");
        assert!(text.ends_with(&format!(": {io}")), "the cause once, at the end: {text}");
    }
}

flow_test! {
    async fn token_endpoint_errors_print_once() {
        let mut server = support::server().await;
        let _m = support::create(
            server
                .mock("POST", "/api/token")
                .with_status(400)
                .with_header("content-type", "application/json")
                .with_body(r#"{"error":"invalid_grant","error_description":"Refresh token revoked"}"#),
        )
        .await;
        let auth = builder(&server.url()).refresh_token("ref-SECRET-1").build().unwrap();
        let got = auth.get_access_token().await;
        let e = got.unwrap_err();
        assert!(matches!(e, Error::ReauthorizationRequired { .. }), "{e:?}");
        let text = report(&e);
        assert_eq!(text.matches("Refresh token revoked").count(), 1, "{text}");
    }
}
