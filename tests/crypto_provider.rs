//! No process-global state: building clients in both modes (the shared
//! default client and more instances), refreshing over HTTP and failing a
//! TLS handshake over HTTPS leaves rustls without a process-wide default
//! `CryptoProvider`. Checked in a child process of this test binary, so that
//! nothing else ran in that process before.
#![cfg(any(feature = "blocking", feature = "async"))]

mod common;

use std::error::Error as _;
use std::net::TcpListener;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use spotify_auth::Error;
use spotify_auth::testing::FakeSpotify;

const CHILD: &str = "SPOTIFY_AUTH_CRYPTO_PROVIDER_CHILD";
const ID: &str = "crypto-provider-client";
const SECRET: &str = "crypto-provider-secret";
const REDIRECT: &str = "http://127.0.0.1:8888/callback";

#[test]
fn nothing_is_installed_process_wide() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let output = common::spawn_child(CHILD, "run".into())
        .wait_with_output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("CHILD OK"),
        "the child ran: {stdout}\n{stderr}"
    );
}

/// The child's side: everything that could install a provider, then the check.
#[test]
fn child() {
    if std::env::var_os(CHILD).is_none() {
        return; // Not a child: nothing to do.
    }
    assert!(CryptoProvider::get_default().is_none(), "clean at start");

    let fake = FakeSpotify::builder()
        .client(ID, Some(SECRET))
        .redirect_uri(REDIRECT)
        .start()
        .unwrap();
    let https = self_signed_tls_server();

    #[cfg(feature = "blocking")]
    {
        use spotify_auth::blocking::AuthorizationCode;
        for _ in 0..2 {
            let auth = AuthorizationCode::builder()
                .read_environment(false)
                .client_id(ID)
                .client_secret(SECRET)
                .redirect_uri(REDIRECT)
                .accounts_base_url(fake.url())
                .refresh_token(fake.issue_refresh_token(ID, "user-read-email"))
                .build()
                .unwrap();
            auth.get_access_token().unwrap();
        }
        let auth = AuthorizationCode::builder()
            .read_environment(false)
            .client_id(ID)
            .client_secret(SECRET)
            .redirect_uri(REDIRECT)
            .accounts_base_url(&https)
            .max_retries(0)
            .refresh_token("a-refresh-token")
            .build()
            .unwrap();
        let got = auth.get_access_token();
        assert_certificate_refused(got, "blocking");
    }

    #[cfg(feature = "async")]
    {
        use spotify_auth::asynchronous::AuthorizationCode;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for _ in 0..2 {
                let auth = AuthorizationCode::builder()
                    .read_environment(false)
                    .client_id(ID)
                    .client_secret(SECRET)
                    .redirect_uri(REDIRECT)
                    .accounts_base_url(fake.url())
                    .refresh_token(fake.issue_refresh_token(ID, "user-read-email"))
                    .build()
                    .unwrap();
                auth.get_access_token().await.unwrap();
            }
            let auth = AuthorizationCode::builder()
                .read_environment(false)
                .client_id(ID)
                .client_secret(SECRET)
                .redirect_uri(REDIRECT)
                .accounts_base_url(&https)
                .max_retries(0)
                .refresh_token("a-refresh-token")
                .build()
                .unwrap();
            let got = auth.get_access_token().await;
            assert_certificate_refused(got, "async");
        });
    }

    assert_eq!(
        fake.token_request_count(),
        2 * common::Mode::all().len(),
        "every refresh went through"
    );
    assert!(
        CryptoProvider::get_default().is_none(),
        "a process-wide CryptoProvider was installed"
    );
    println!("\nCHILD OK");
}

/// The HTTPS request was refused because the certificate is not trusted.
fn assert_certificate_refused(got: spotify_auth::Result<String>, mode: &str) {
    let e = got.expect_err(mode);
    assert!(matches!(e, Error::Http { .. }), "{mode}: {e:?}");
    let mut chain = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        chain.push_str(": ");
        chain.push_str(&c.to_string());
        cause = c.source();
    }
    assert!(
        chain.to_lowercase().contains("certificate"),
        "{mode}: the cause names the certificate: {chain}"
    );
    println!("{mode}: {chain}");
}

/// A TLS server on loopback with a self-signed certificate for 127.0.0.1,
/// which no trust store knows; its base URL. It handshakes with each
/// connection until the client gives up.
fn self_signed_tls_server() -> String {
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = key.cert.der().clone();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
    // The server's provider is explicit too: the check is about what the
    // library does.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], private)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { return };
            let config = config.clone();
            std::thread::spawn(move || {
                let mut conn = rustls::ServerConnection::new(config).unwrap();
                while conn.is_handshaking() {
                    if conn.complete_io(&mut tcp).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}
