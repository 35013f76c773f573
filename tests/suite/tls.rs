//! A certificate the trust store does not hold: the same error in both
//! modes (`HttpErrorKind::Tls`, rustls's error in its chain), never retried
//! (a refresh or an exchange makes one connection), and the login kept as it
//! was. The server is on loopback, its certificate self-signed by `rcgen`.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};

use spotify_auth::HttpErrorKind;

use super::errors::report;
use super::*;

/// A TLS server on loopback whose self-signed certificate no trust store
/// holds: its base URL, and how many connections it has accepted.
fn untrusted_tls_server() -> (String, Arc<AtomicUsize>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { return };
            // Counted before the handshake: a client that saw the
            // certificate was counted.
            counter.fetch_add(1, Ordering::SeqCst);
            let config = config.clone();
            std::thread::spawn(move || {
                let mut conn = rustls::ServerConnection::new(config).unwrap();
                // Runs until the client refuses the certificate and closes.
                while conn.is_handshaking() {
                    if conn.complete_io(&mut tcp).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, accepted)
}

/// The error is a TLS failure whose chain says the certificate was refused,
/// with no secret in it.
fn assert_certificate_refused(e: &Error) {
    assert!(
        matches!(
            e,
            Error::Http {
                kind: HttpErrorKind::Tls,
                ..
            }
        ),
        "{e:?}"
    );
    let text = report(e);
    assert!(text.starts_with("HTTP transport error (tls): "), "{text}");
    assert!(
        text.to_lowercase().contains("certificate"),
        "the cause is printed: {text}"
    );
}

flow_test! {
    async fn an_untrusted_certificate_is_a_tls_error_and_a_refresh_is_not_retried() {
        let (url, accepted) = untrusted_tls_server();
        let cache = cache_with(token("acc-old", -10, Some("ref-SECRET-1")));
        let auth = builder(&url).max_retries(3).token_cache(cache.clone()).build().unwrap();
        let e = auth.get_access_token().await.unwrap_err();
        assert_certificate_refused(&e);
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection: not retried");
        // A passing failure: the login is kept, and the next call tries again.
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.refresh_token.unwrap().secret(), "ref-SECRET-1");
        let again = auth.get_access_token().await.unwrap_err();
        assert_certificate_refused(&again);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}

flow_test! {
    async fn an_untrusted_certificate_fails_an_exchange_once() {
        let (url, accepted) = untrusted_tls_server();
        let auth = builder(&url).max_retries(3).build().unwrap();
        let e = auth.exchange_code("the-code").await.unwrap_err();
        assert_certificate_refused(&e);
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection: not retried");
    }
}
