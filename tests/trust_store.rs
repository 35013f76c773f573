//! One trust store for both modes: the operating system's, through
//! `rustls-platform-verifier`. A CA the system trusts (here through
//! `SSL_CERT_FILE`, which is how the OS store is read on Linux and how a
//! corporate CA is often added) is trusted in both modes; with no usable
//! store, the async `build()` fails with an error each time, not once for
//! the life of the process. Each case runs in a child process of this test
//! binary, with its own environment.
#![cfg(any(feature = "blocking", feature = "async"))]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;

use spotify_auth::Error;

const CHILD: &str = "SPOTIFY_AUTH_TRUST_STORE_CHILD";
const URL: &str = "SPOTIFY_AUTH_TRUST_STORE_URL";
const ID: &str = "trust-store-client";
const SECRET: &str = "trust-store-secret";

#[test]
fn a_ca_in_the_os_trust_store_is_trusted_in_both_modes() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let (url, ca_pem) = tls_token_endpoint();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    run_child("trusted", &url, Some(&ca_file));
}

#[test]
fn without_a_usable_trust_store_async_build_fails_each_time() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let (url, _) = tls_token_endpoint();
    let dir = tempfile::tempdir().unwrap();
    run_child("no-store", &url, Some(&dir.path().join("missing.pem")));
}

/// The child's side.
#[test]
fn child() {
    let Ok(case) = std::env::var(CHILD) else {
        return; // Not a child: nothing to do.
    };
    let url = std::env::var(URL).unwrap();
    match case.as_str() {
        "trusted" => {
            for (mode, got) in requests(&url) {
                match got {
                    // The handshake went through: the server's answer.
                    Err(Error::TokenEndpoint { status: 400, .. }) => {}
                    other => panic!("{mode}: {other:?}"),
                }
            }
        }
        "no-store" => no_store(&url),
        other => panic!("unknown case {other}"),
    }
    println!("\nCHILD OK");
}

fn run_child(case: &str, url: &str, ssl_cert_file: Option<&std::path::Path>) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .env(URL, url)
        .env_remove("SSL_CERT_DIR")
        .env_remove("SSL_CERT_FILE");
    if let Some(file) = ssl_cert_file {
        command.env("SSL_CERT_FILE", file);
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("CHILD OK"),
        "the child ran: {stdout}\n{stderr}"
    );
}

/// `SSL_CERT_FILE` names a missing file, so no CA can be loaded.
fn no_store(url: &str) {
    #[cfg(feature = "blocking")]
    {
        // The agent is built; its TLS setup (and so the failure) comes with
        // the first HTTPS request, as an HTTP error.
        let got = blocking(url).get_access_token();
        let e = got.unwrap_err();
        assert!(matches!(e, Error::Http { .. }), "{e:?}");
        let text = chain(&e);
        assert!(text.contains("CA certificates"), "{text}");
    }
    #[cfg(feature = "async")]
    {
        for attempt in 0..2 {
            match asynchronous(url) {
                Err(Error::Config {
                    setting: "http_client",
                    message,
                    ..
                }) => {
                    assert!(message.contains("CA certificates"), "{message}");
                }
                other => panic!("attempt {attempt}: {:?}", other.map(|_| ())),
            }
        }
        // SAFETY: this child runs one test on one thread; nothing else reads
        // the environment meanwhile.
        unsafe { std::env::remove_var("SSL_CERT_FILE") };
        // The system store is back: built now (not a failure kept forever).
        assert!(asynchronous(url).is_ok());
    }
}

/// A token request in each mode; what each got.
fn requests(url: &str) -> Vec<(&'static str, spotify_auth::Result<String>)> {
    vec![
        #[cfg(feature = "blocking")]
        ("blocking", blocking(url).get_access_token()),
        #[cfg(feature = "async")]
        ("async", {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let auth = asynchronous(url).unwrap();
            runtime.block_on(auth.get_access_token())
        }),
    ]
}

#[cfg(feature = "blocking")]
fn blocking(url: &str) -> spotify_auth::blocking::AuthorizationCode {
    spotify_auth::blocking::AuthorizationCode::builder()
        .read_environment(false)
        .client_id(ID)
        .client_secret(SECRET)
        .redirect_uri("http://127.0.0.1:8888/callback")
        .accounts_base_url(url)
        .max_retries(0)
        .refresh_token("a-refresh-token")
        .build()
        .unwrap()
}

#[cfg(feature = "async")]
fn asynchronous(url: &str) -> spotify_auth::Result<spotify_auth::asynchronous::AuthorizationCode> {
    spotify_auth::asynchronous::AuthorizationCode::builder()
        .read_environment(false)
        .client_id(ID)
        .client_secret(SECRET)
        .redirect_uri("http://127.0.0.1:8888/callback")
        .accounts_base_url(url)
        .max_retries(0)
        .refresh_token("a-refresh-token")
        .build()
}

/// The error and its causes, as `{:#}` prints them.
#[cfg(feature = "blocking")]
fn chain(e: &Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A token endpoint over TLS on loopback, its certificate issued by a new
/// CA; its base URL and the CA certificate (PEM). Every request gets
/// `400 invalid_client`.
fn tls_token_endpoint() -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![server_cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
    )
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let config = config.clone();
            std::thread::spawn(move || answer_invalid_client(config, tcp));
        }
    });
    (url, ca.pem())
}

/// Reads the request head, answers `400 invalid_client`, then reads what is
/// left until the client closes (closing with unread data would reset the
/// connection under the client's feet).
fn answer_invalid_client(config: Arc<rustls::ServerConfig>, tcp: std::net::TcpStream) {
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => return, // e.g. the client refused the certificate
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = r#"{"error":"invalid_client","error_description":"Invalid client"}"#;
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if tls
        .write_all(response.as_bytes())
        .and_then(|_| tls.flush())
        .is_err()
    {
        return;
    }
    while matches!(tls.read(&mut buf), Ok(n) if n > 0) {}
}
