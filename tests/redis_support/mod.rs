//! What the Redis test binaries (`redis_cache`, `redis_lock`, `redis_pool`,
//! `redis_tls`) share: a `redis-server` of each test's own, and small helpers.
//! Each includes it with `mod redis_support;` (after `mod common;`).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::Client;
use spotify_auth::testing::FakeSpotify;
use spotify_auth::{Error, RedisStore, RedisTokenCache, TokenInfo};

pub const ID: &str = "redis-cache-client";
pub const SECRET: &str = "redis-cache-secret";
pub const REDIRECT: &str = "http://127.0.0.1:8888/callback";

// ---------------------------------------------------------------------------
// A redis-server of the test's own.

/// A `redis-server` on a free loopback port, with no persistence, killed when
/// dropped. [`stop`](Self::stop) and [`restart`](Self::restart) keep the port.
pub struct RedisServer {
    pub port: u16,
    password: Option<String>,
    /// For a TLS-only server: the PEM certificate of the CA that signed its
    /// certificate.
    ca: Option<Vec<u8>>,
    dir: tempfile::TempDir,
    process: Option<Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(None, false)
    }

    pub fn with_password(password: &str) -> Self {
        Self::start_with(Some(password), false)
    }

    /// A server that speaks only TLS, with a certificate for `127.0.0.1`
    /// from a CA of its own.
    pub fn with_tls(password: &str) -> Self {
        Self::start_with(Some(password), true)
    }

    fn start_with(password: Option<&str>, tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = RedisServer {
            port: 0,
            password: password.map(str::to_owned),
            ca: tls.then(|| make_certificates(dir.path())),
            dir,
            process: None,
        };
        // A free port may be taken by someone else before redis binds it: try
        // a few.
        for _ in 0..5 {
            server.port = free_port();
            if server.launch().is_ok() {
                return server;
            }
        }
        panic!("redis-server did not start: {}", server.log());
    }

    /// Starts the server again on the same port (with an empty data set).
    pub fn restart(&mut self) {
        if let Err(e) = self.launch() {
            panic!("redis-server did not restart on port {}: {e}", self.port);
        }
    }

    /// Kills the server and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    fn launch(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        if self.ca.is_some() {
            command
                .args(["--port", "0", "--tls-port", &port])
                .args([
                    "--tls-cert-file",
                    "server.pem",
                    "--tls-key-file",
                    "server.key",
                ])
                .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
                .current_dir(self.dir.path());
        } else {
            command.args(["--port", &port]);
        }
        command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--logfile", "redis.log"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let process = match command.spawn() {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not on PATH: these tests start their own Redis. Install it \
                 (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`), \
                 or run .ci/run, which does"
            ),
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.process.as_mut().unwrap().try_wait() {
                self.process = None;
                return Err(format!("exited with {status}: {}", self.log()));
            }
            if self.ping() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!("no answer to PING in 10 s: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn ping(&self) -> bool {
        self.client()
            .get_connection_with_timeout(Duration::from_millis(200))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// The URL to connect with (with the password, when there is one).
    pub fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "rediss" } else { "redis" };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("{scheme}://127.0.0.1:{}/0", self.port),
        }
    }

    /// The URL as the cache shows it: never with a password.
    pub fn shown_url(&self) -> String {
        let scheme = if self.ca.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// A client for this server (trusting its CA, for a TLS one).
    pub fn client(&self) -> redis::Client {
        match &self.ca {
            Some(ca) => redis::Client::build_with_tls(
                self.url(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.clone()),
                },
            )
            .unwrap(),
            None => redis::Client::open(self.url()).unwrap(),
        }
    }

    /// A plain connection, to look at or plant raw values.
    pub fn raw(&self) -> redis::Connection {
        self.client()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }

    /// A store for this server (trusting its CA, for a TLS one).
    pub fn store(&self) -> RedisStore {
        let store = RedisStore::open(&self.url()).unwrap();
        match &self.ca {
            Some(ca) => store.with_tls_config(tls_config(ca)),
            None => store,
        }
    }

    /// A cache for `key` with connections of its own (trusting the CA, for
    /// a TLS server).
    pub fn cache(&self, key: &str) -> RedisTokenCache {
        match self.ca {
            Some(_) => self.store().cache(key),
            None => RedisTokenCache::open(&self.url(), key).unwrap(),
        }
    }

    /// The CA's certificate file, for a TLS server.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// A rustls configuration with ring and `ca_pem` as its only root, built
/// without touching the process-wide default provider.
pub fn tls_config(ca_pem: &[u8]) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

/// How many clients the server has, `conn` included.
pub fn connected_clients(conn: &mut redis::Connection) -> usize {
    let info: String = redis::cmd("INFO").arg("clients").query(conn).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The string under `key`, if any.
pub fn get(conn: &mut redis::Connection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query(conn).unwrap()
}

/// Sets `key` to `value` (with an expiry in ms, when given).
pub fn put(conn: &mut redis::Connection, key: &str, value: &str, px: Option<u64>) {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(value);
    if let Some(px) = px {
        cmd.arg("PX").arg(px);
    }
    cmd.query::<()>(conn).unwrap();
}

/// Waits up to 10 s for `condition`; panics with `what` otherwise.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `ca.pem`, `server.pem` and `server.key` (for `127.0.0.1` and
/// `localhost`, signed by the CA) into `dir`; returns the CA's certificate.
pub fn make_certificates(dir: &Path) -> Vec<u8> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "spotify-auth test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &*ca)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
    ca.pem().into_bytes()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------
// Helpers.

/// The test client against the fake accounts server at `accounts`.
pub fn client(accounts: &str) -> Client<'_> {
    Client {
        id: ID,
        secret: SECRET,
        redirect: REDIRECT,
        accounts,
    }
}

pub fn fake() -> FakeSpotify {
    FakeSpotify::builder()
        .client(ID, Some(SECRET))
        .redirect_uri(REDIRECT)
        .rotate_refresh_tokens(true)
        .start()
        .unwrap()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn token(access: &str, expires_at: u64, refresh: &str) -> TokenInfo {
    TokenInfo::new(access.to_owned(), expires_at)
        .with_refresh_token(refresh)
        .with_scope("user-read-email")
}

/// The message of an `Error::Cache` without a path (panics on anything else).
pub fn cache_message<T: std::fmt::Debug>(result: spotify_auth::Result<T>) -> String {
    match result {
        Err(Error::Cache {
            path: None,
            message,
            ..
        }) => message,
        other => panic!("expected a cache error, got {other:?}"),
    }
}

pub fn exists(conn: &mut redis::Connection, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query::<i64>(conn).unwrap() == 1
}
