//! The default HTTP client: one per mode per process, shared by every
//! instance built without `http_client(...)`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};

use spotify_auth::testing::FakeSpotify;

use super::*;

/// A TCP relay to `backend` that counts the connections made to it.
struct CountingRelay {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl CountingRelay {
    fn start(backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(backend) else {
                    return;
                };
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Self { addr, connections }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` on a thread until `from` ends.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _: io::Result<()> = to.shutdown(Shutdown::Write);
    });
}

/// A client of this mode's type made by the test, not by the library.
fn own_client() -> mode::HttpClient {
    let made: Vec<Box<dyn std::any::Any>> = vec![
        #[cfg(feature = "blocking")]
        Box::new(ureq::Agent::new_with_defaults()),
        #[cfg(feature = "async")]
        Box::new({
            // reqwest's own default needs a process-wide crypto provider:
            // give it a TLS config instead (plain HTTP here, so no roots).
            let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .build()
                .unwrap()
        }),
    ];
    made.into_iter()
        .find_map(|c| c.downcast::<mode::HttpClient>().ok())
        .map(|c| *c)
        .expect("this mode's client")
}

/// A fake accounts server (it keeps connections alive, unlike mockito's),
/// behind a relay counting connections, and `N` refresh tokens it issued.
fn fake_behind_relay<const N: usize>() -> (FakeSpotify, CountingRelay, [String; N]) {
    let fake = FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .redirect_uri(REDIRECT)
        .start()
        .unwrap();
    let relay = CountingRelay::start(fake.addr());
    let tokens = [(); N].map(|_| fake.issue_refresh_token(CLIENT_ID, "user-read-email"));
    (fake, relay, tokens)
}

flow_test! {
    async fn instances_without_a_client_share_one_connection_pool() {
        const INSTANCES: usize = 4;
        let (fake, relay, tokens) = fake_behind_relay::<INSTANCES>();
        for refresh_token in tokens {
            let auth = builder(&relay.url()).refresh_token(refresh_token).build().unwrap();
            let got = auth.get_access_token().await;
            assert!(got.is_ok(), "{got:?}");
            // Let the client put the connection back in its pool (hyper does
            // it on the connection's task) before the next instance asks.
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(fake.token_request_count(), INSTANCES);
        // Separate clients could never share a connection: one per instance.
        let connections = relay.connections();
        assert!(connections < INSTANCES, "{connections} connections for {INSTANCES} instances: no pool shared");
    }
}

flow_test! {
    async fn an_instance_given_its_own_client_uses_it() {
        let (fake, relay, [r1, r2]) = fake_behind_relay::<2>();
        let first = builder(&relay.url()).refresh_token(r1).build().unwrap();
        let own = builder(&relay.url()).http_client(own_client()).refresh_token(r2).build().unwrap();
        let got = first.get_access_token().await;
        assert!(got.is_ok(), "{got:?}");
        let got = own.get_access_token().await;
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(fake.token_request_count(), 2);
        assert_eq!(relay.connections(), 2, "its own client, its own connection");
    }
}
