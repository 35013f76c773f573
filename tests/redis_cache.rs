//! RedisTokenCache against real `redis-server` processes that the tests start
//! themselves (one per test, on a free loopback port, no persistence), and the
//! fake accounts server, in both modes.
//!
//! `redis-server` must be on PATH (`apt-get install redis-server`; `.ci/run`
//! installs it). The cross-process tests run this test binary again: the
//! `child` test below does a child's work when `CHILD` is set in its
//! environment, and nothing otherwise.
#![cfg(all(feature = "redis", any(feature = "blocking", feature = "async")))]

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Client, Flow, Mode};
use spotify_auth::testing::FakeSpotify;
use spotify_auth::{AccessToken, Error, RedisTokenCache, TokenCache, TokenInfo};

const CHILD: &str = "SPOTIFY_AUTH_REDIS_TEST_CHILD";
const ID: &str = "redis-cache-client";
const SECRET: &str = "redis-cache-secret";
const REDIRECT: &str = "http://127.0.0.1:8888/callback";

// ---------------------------------------------------------------------------
// A redis-server of the test's own.

/// A `redis-server` on a free loopback port, with no persistence, killed when
/// dropped. [`stop`](Self::stop) and [`restart`](Self::restart) keep the port.
struct RedisServer {
    port: u16,
    password: Option<String>,
    /// For a TLS-only server: the PEM certificate of the CA that signed its
    /// certificate.
    ca: Option<Vec<u8>>,
    dir: tempfile::TempDir,
    process: Option<Child>,
}

impl RedisServer {
    fn start() -> Self {
        Self::start_with(None, false)
    }

    fn with_password(password: &str) -> Self {
        Self::start_with(Some(password), false)
    }

    /// A server that speaks only TLS, with a certificate for `127.0.0.1`
    /// from a CA of its own.
    fn with_tls(password: &str) -> Self {
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
    fn restart(&mut self) {
        if let Err(e) = self.launch() {
            panic!("redis-server did not restart on port {}: {e}", self.port);
        }
    }

    /// Kills the server and waits for it to be gone.
    fn stop(&mut self) {
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

    fn ping(&self) -> bool {
        self.client()
            .get_connection_with_timeout(Duration::from_millis(200))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// The URL to connect with (with the password, when there is one).
    fn url(&self) -> String {
        let scheme = if self.ca.is_some() { "rediss" } else { "redis" };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("{scheme}://127.0.0.1:{}/0", self.port),
        }
    }

    /// The URL as the cache shows it: never with a password.
    fn shown_url(&self) -> String {
        let scheme = if self.ca.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// A client for this server (trusting its CA, for a TLS one).
    fn client(&self) -> redis::Client {
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
    fn raw(&self) -> redis::Connection {
        self.client()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }

    fn cache(&self, key: &str) -> RedisTokenCache {
        match self.ca {
            Some(_) => RedisTokenCache::from_client(self.client(), key),
            None => RedisTokenCache::open(&self.url(), key).unwrap(),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes `ca.pem`, `server.pem` and `server.key` (for `127.0.0.1` and
/// `localhost`, signed by the CA) into `dir`; returns the CA's certificate.
fn make_certificates(dir: &Path) -> Vec<u8> {
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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---------------------------------------------------------------------------
// Helpers.

/// The test client against the fake accounts server at `accounts`.
fn client(accounts: &str) -> Client<'_> {
    Client {
        id: ID,
        secret: SECRET,
        redirect: REDIRECT,
        accounts,
    }
}

fn fake() -> FakeSpotify {
    FakeSpotify::builder()
        .client(ID, Some(SECRET))
        .redirect_uri(REDIRECT)
        .rotate_refresh_tokens(true)
        .start()
        .unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(access: &str, expires_at: u64, refresh: &str) -> TokenInfo {
    TokenInfo {
        access_token: AccessToken::new(access.to_owned()),
        expires_at,
        refresh_token: Some(refresh.to_owned().into()),
        scope: Some("user-read-email".to_owned()),
        authorized_at: None,
    }
}

/// The message of an `Error::Cache` without a path (panics on anything else).
fn cache_message<T: std::fmt::Debug>(result: spotify_auth::Result<T>) -> String {
    match result {
        Err(Error::Cache {
            path: None,
            message,
            ..
        }) => message,
        other => panic!("expected a cache error, got {other:?}"),
    }
}

fn exists(conn: &mut redis::Connection, key: &str) -> bool {
    redis::cmd("EXISTS").arg(key).query::<i64>(conn).unwrap() == 1
}

// ---------------------------------------------------------------------------
// The child processes.

/// A child's side, selected by the first field of `CHILD`:
///
/// - `refresh|mode|accounts|redis|key|go`: wait for the file `go`, get a
///   token through the cache, print `TOKEN:...` or `ERROR:...`;
/// - `hold|redis|key|ttl_ms`: take the lock, print `LOCKED`, and sleep until
///   killed.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return; // Not a child: nothing to do.
    };
    let parts: Vec<&str> = spec.split('|').collect();
    match parts[..] {
        ["refresh", mode, accounts, url, key, go] => {
            common::wait_for_start(go);
            let cache = RedisTokenCache::open(url, key)
                .unwrap()
                .with_lock_ttl(Duration::from_secs(5));
            common::report(
                Flow::new(Mode::from_name(mode), &client(accounts), cache).get_access_token(),
            );
        }
        ["hold", url, key, ttl_ms] => {
            let cache = RedisTokenCache::open(url, key)
                .unwrap()
                .with_lock_ttl(Duration::from_millis(ttl_ms.parse().unwrap()));
            let _guard = cache.lock().unwrap();
            println!("\nLOCKED");
            std::thread::sleep(Duration::from_secs(60));
        }
        _ => panic!("bad child spec {spec}"),
    }
}

// ---------------------------------------------------------------------------
// The tests.

#[test]
fn set_get_clear_with_keys_kept_apart() {
    let redis = RedisServer::start();
    let alice = redis.cache("spotify:token:alice");
    let bob = redis.cache("spotify:token:bob");
    assert_eq!(alice.get().unwrap(), None);
    assert_eq!(alice.lock_key(), "spotify:token:alice:lock");

    let alice_token = token("alice-access", now() + 3600, "alice-refresh");
    let bob_token = token("bob-access", now() + 3600, "bob-refresh");
    alice.set(&alice_token).unwrap();
    bob.set(&bob_token).unwrap();
    assert_eq!(alice.get().unwrap(), Some(alice_token.clone()));
    assert_eq!(bob.get().unwrap(), Some(bob_token.clone()));

    // The stored value is the file cache's JSON format.
    let stored: String = redis::cmd("GET")
        .arg("spotify:token:alice")
        .query(&mut redis.raw())
        .unwrap();
    assert_eq!(stored, alice_token.to_json());

    let newer = token("alice-access-2", now() + 7200, "alice-refresh-2");
    alice.set(&newer).unwrap();
    assert_eq!(alice.get().unwrap(), Some(newer));

    alice.clear().unwrap();
    alice.clear().unwrap(); // a missing key is fine
    assert_eq!(alice.get().unwrap(), None);
    assert_eq!(bob.get().unwrap(), Some(bob_token), "bob's key untouched");
}

#[test]
fn a_value_that_is_not_a_token_is_an_error_naming_the_key_not_the_value() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let cache = redis.cache("spotify:token:corrupt");
    let garbage = r#"{"access_token": "leaked-secret-value", "expires_at"#;
    redis::cmd("SET")
        .arg("spotify:token:corrupt")
        .arg(garbage)
        .query::<()>(&mut raw)
        .unwrap();
    let message = cache_message(cache.get());
    assert!(message.contains("\"spotify:token:corrupt\""), "{message}");
    assert!(message.starts_with(&redis.shown_url()), "{message}");
    assert!(!message.contains("leaked-secret-value"), "{message}");
    let left: String = redis::cmd("GET")
        .arg("spotify:token:corrupt")
        .query(&mut raw)
        .unwrap();
    assert_eq!(left, garbage, "left as it is");

    // A key of another type.
    redis::cmd("HSET")
        .arg("spotify:token:hash")
        .arg("access_token")
        .arg("leaked-secret-value")
        .query::<()>(&mut raw)
        .unwrap();
    let message = cache_message(redis.cache("spotify:token:hash").get());
    assert!(message.contains("\"spotify:token:hash\""), "{message}");
    assert!(!message.contains("leaked-secret-value"), "{message}");

    // The cache stays usable: `set` replaces the bad value.
    let good = token("good", now() + 3600, "refresh");
    cache.set(&good).unwrap();
    assert_eq!(cache.get().unwrap(), Some(good));
}

#[test]
fn the_lock_excludes_others_until_released_and_only_its_owner_releases_it() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let key = "spotify:token:locked";
    let holder = redis.cache(key);
    let waiter = redis.cache(key).with_lock_wait(Duration::from_millis(200));

    let held = holder.lock().unwrap();
    assert!(exists(&mut raw, "spotify:token:locked:lock"));
    let message = cache_message(waiter.lock());
    assert!(message.starts_with(&redis.shown_url()), "{message}");
    assert!(message.contains("spotify:token:locked:lock"), "{message}");
    drop(held);
    assert!(!exists(&mut raw, "spotify:token:locked:lock"), "released");
    drop(waiter.lock().unwrap());

    // A holder whose lock expired does not delete its successor's lock.
    let short = redis.cache(key).with_lock_ttl(Duration::from_millis(200));
    let expired = short.lock().unwrap();
    let started = Instant::now();
    let successor = holder.lock().unwrap(); // waits for the expiry
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(expired);
    assert!(
        exists(&mut raw, "spotify:token:locked:lock"),
        "the successor's lock survives the late release"
    );
    drop(successor);
    assert!(!exists(&mut raw, "spotify:token:locked:lock"));
}

#[test]
fn eight_processes_on_an_expired_token_refresh_once() {
    let redis = RedisServer::start();
    let server = fake();
    let key = "spotify:token:shared";
    let cache = redis.cache(key);
    let mut raw = redis.raw();
    let dir = tempfile::tempdir().unwrap();
    let mut refresh = server.issue_refresh_token(ID, "user-read-email");
    let modes = Mode::all();

    for round in 0..2 {
        cache
            .set(&token(&format!("expired-{round}"), now() - 1, &refresh))
            .unwrap();
        let go = dir.path().join(format!("go-{round}"));
        let before = server.token_request_count();
        let children: Vec<_> = (0..8)
            .map(|i| {
                common::spawn_child(
                    CHILD,
                    format!(
                        "refresh|{}|{}|{}|{key}|{}",
                        modes[i % modes.len()].name(),
                        server.url(),
                        redis.url(),
                        go.display()
                    ),
                )
            })
            .collect();
        let token = common::start_together(children, &go, &format!("round {round}"));
        assert_eq!(
            server.token_request_count() - before,
            1,
            "round {round}: one refresh in all"
        );
        assert!(
            !exists(&mut raw, &format!("{key}:lock")),
            "round {round}: every child released the lock before exiting"
        );
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), token);
        let rotated = stored.refresh_token.unwrap().into_secret();
        assert_ne!(rotated, refresh, "round {round}: the refresh token rotated");
        refresh = rotated;
    }
}

#[test]
fn a_lock_holder_killed_mid_refresh_holds_the_others_up_only_until_its_ttl() {
    const TTL_MS: u64 = 1000;
    let redis = RedisServer::start();
    let server = fake();
    let key = "spotify:token:orphaned";
    let cache = Arc::new(redis.cache(key));
    let mut raw = redis.raw();
    let mut refresh = server.issue_refresh_token(ID, "user-read-email");

    for mode in Mode::all() {
        cache.set(&token("expired", now() - 1, &refresh)).unwrap();
        let mut holder = common::spawn_child(CHILD, format!("hold|{}|{key}|{TTL_MS}", redis.url()));
        let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
        let locked = lines.any(|line| line.is_ok_and(|l| l == "LOCKED"));
        assert!(locked, "{mode:?}: the holder did not take the lock");
        holder.kill().unwrap(); // SIGKILL: no release
        holder.wait().unwrap();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(format!("{key}:lock"))
            .query(&mut raw)
            .unwrap();
        assert!(ttl > 0, "{mode:?}: the dead holder's lock is still there");

        let before = server.token_request_count();
        let started = Instant::now();
        let result = Flow::new(mode, &client(server.url()), cache.clone()).get_access_token();
        let waited = started.elapsed();
        let token = result.unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert!(
            waited < Duration::from_millis(10 * TTL_MS),
            "{mode:?}: waited {waited:?}, the lock TTL is {TTL_MS} ms"
        );
        assert_eq!(server.token_request_count() - before, 1, "{mode:?}");
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), token);
        refresh = stored.refresh_token.unwrap().into_secret();
    }
}

#[test]
fn redis_stopped_mid_run_is_a_clear_error_and_the_same_cache_recovers() {
    let mut redis = RedisServer::start();
    let server = fake();
    let shown = redis.shown_url();
    let cache = Arc::new(
        redis
            .cache("spotify:token:restart")
            .with_connect_timeout(Duration::from_secs(1))
            .with_io_timeout(Duration::from_secs(1)),
    );
    let refresh = server.issue_refresh_token(ID, "user-read-email");
    cache.set(&token("expired", now() - 1, &refresh)).unwrap();
    assert!(cache.get().unwrap().is_some());
    let flows: Vec<_> = Mode::all()
        .into_iter()
        .map(|mode| (mode, Flow::new(mode, &client(server.url()), cache.clone())))
        .collect();

    redis.stop();
    let started = Instant::now();
    let errors = [
        cache_message(cache.get()),
        cache_message(cache.set(&token("new", now() + 3600, "r"))),
        cache_message(cache.clear()),
        cache_message(cache.lock()),
    ];
    for message in errors {
        assert!(message.starts_with(&format!("{shown}: ")), "{message}");
    }
    for (mode, flow) in &flows {
        let message = cache_message(flow.get_access_token());
        assert!(message.starts_with(&shown), "{mode:?}: {message}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "failing calls return promptly"
    );
    assert_eq!(server.token_request_count(), 0);

    redis.restart();
    assert_eq!(
        cache.get().unwrap(),
        None,
        "a fresh server (no persistence)"
    );
    cache.set(&token("expired", now() - 1, &refresh)).unwrap();
    for (mode, flow) in &flows {
        let token = flow
            .get_access_token()
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), token, "{mode:?}");
    }
    assert_eq!(server.token_request_count(), 1, "one refresh for both");
}

#[test]
fn a_valid_token_in_memory_is_served_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let server = fake();
    let cache = Arc::new(
        redis
            .cache("spotify:token:memory")
            .with_connect_timeout(Duration::from_secs(1))
            .with_io_timeout(Duration::from_secs(1)),
    );
    cache
        .set(&token("still-valid", now() + 3600, "refresh"))
        .unwrap();
    let flows: Vec<_> = Mode::all()
        .into_iter()
        .map(|mode| Flow::new(mode, &client(server.url()), cache.clone()))
        .collect();
    for flow in &flows {
        assert_eq!(flow.get_access_token().unwrap(), "still-valid");
    }
    redis.stop();
    assert!(cache.get().is_err(), "Redis is down");
    for flow in &flows {
        assert_eq!(flow.get_access_token().unwrap(), "still-valid");
    }
    assert_eq!(server.token_request_count(), 0);
}

#[test]
fn the_password_is_never_shown() {
    let password = format!("pw-{:016x}", fastrand::u64(..));
    let mut redis = RedisServer::with_password(&password);
    let shown = redis.shown_url();
    let port = redis.port;
    let urls = [
        redis.url(),
        format!("redis://default:{password}@127.0.0.1:{port}/0"),
    ];
    for url in &urls {
        let cache = RedisTokenCache::open(url, "spotify:token:secret").unwrap();
        let debug = format!("{cache:?}");
        assert!(!debug.contains(&password), "{debug}");
        assert!(debug.contains("127.0.0.1") && debug.contains("spotify:token:secret"));
        assert!(cache.url().starts_with("redis://"), "{}", cache.url());
        cache.set(&token("a", now() + 3600, "r")).unwrap();
        assert!(cache.get().unwrap().is_some(), "the password works");
    }

    // A wrong password: refused, and neither password is shown.
    let wrong = format!("wrong-{password}");
    let cache = RedisTokenCache::open(
        &format!("redis://:{wrong}@127.0.0.1:{port}/0"),
        "spotify:token:secret",
    )
    .unwrap();
    let error = cache.get().unwrap_err();
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(&password), "{text}");
        assert!(text.contains(&shown), "{text}");
    }
    assert!(!format!("{cache:?}").contains(&password));

    // Redis down: the errors name the URL without its password.
    let cache = RedisTokenCache::open(&urls[1], "spotify:token:secret")
        .unwrap()
        .with_lock_wait(Duration::from_millis(100));
    redis.stop();
    let errors = [
        cache.get().unwrap_err(),
        cache.set(&token("b", now() + 3600, "r")).unwrap_err(),
        cache.clear().unwrap_err(),
        cache.lock().unwrap_err(),
    ];
    for error in errors {
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains(&password), "{text}");
            assert!(text.contains("redis://default@127.0.0.1:"), "{text}");
        }
    }
}

#[test]
fn a_server_that_never_answers_times_out() {
    // Connections to this listener are accepted by the kernel and then never
    // answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let cache = RedisTokenCache::open(&format!("redis://127.0.0.1:{port}"), "k")
        .unwrap()
        .with_connect_timeout(Duration::from_millis(300))
        .with_io_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let get = cache_message(cache.get());
    let lock = cache_message(cache.lock());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    for message in [get, lock] {
        assert!(
            message.starts_with(&format!("redis://127.0.0.1:{port}/0: ")),
            "{message}"
        );
    }
}

#[test]
fn tls_with_a_private_ca_and_a_password() {
    let password = format!("pw-{:016x}", fastrand::u64(..));
    let redis = RedisServer::with_tls(&password);
    let server = fake();
    let shown = redis.shown_url();
    assert!(shown.starts_with("rediss://"));

    // A client that trusts the CA, given to the cache.
    let cache = Arc::new(redis.cache("spotify:token:tls"));
    assert_eq!(cache.url(), shown);
    assert!(!format!("{cache:?}").contains(&password));
    let mut refresh = server.issue_refresh_token(ID, "user-read-email");
    for mode in Mode::all() {
        cache.set(&token("expired", now() - 1, &refresh)).unwrap();
        let token = Flow::new(mode, &client(server.url()), cache.clone())
            .get_access_token()
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), token, "{mode:?}");
        refresh = stored.refresh_token.unwrap().into_secret();
    }
    assert!(!exists(&mut redis.raw(), "spotify:token:tls:lock"));

    // The system's roots do not know the CA: refused, an error (no panic)
    // naming the URL without its password.
    let untrusted = RedisTokenCache::open(&redis.url(), "spotify:token:tls").unwrap();
    let message = cache_message(untrusted.get());
    assert!(message.starts_with(&format!("{shown}: ")), "{message}");
    assert!(!message.contains(&password), "{message}");

    // `#insecure` (no certificate checks) is not compiled in: an error too.
    let insecure = format!("{}#insecure", redis.url());
    let message = cache_message(RedisTokenCache::open(&insecure, "k").unwrap().get());
    assert!(
        message.starts_with(&format!("{shown}#insecure: ")),
        "{message}"
    );
    assert!(!message.contains(&password), "{message}");
}

#[test]
fn urls_that_are_not_redis_urls_are_configuration_errors() {
    for url in ["http://example.com", "redis://", "not a url"] {
        match RedisTokenCache::open(url, "k") {
            Err(Error::Config { setting, .. }) => assert_eq!(setting, "redis_url"),
            other => panic!("{url}: {other:?}"),
        }
    }
}
