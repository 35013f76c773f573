//! Refreshes at service scale: 10,000 users whose tokens expired together,
//! each refreshed once by a service that runs a bounded number of refreshes
//! at a time, against the loopback fake accounts server
//! (`spotify_auth::testing::FakeSpotify`, in this process).
//!
//! `cargo bench --features async --bench service_refresh` (add nothing else:
//! the blocking rows come with the default `blocking` feature). Per round it
//! prints the wall time, refreshes per second, the token requests the server
//! saw (expected: exactly one per user) and the TCP connections clients
//! opened to it (`FakeSpotify::connection_count`: a client that reuses its
//! connections opens about as many as it has requests in flight, not one per
//! refresh).
//!
//! - `service_refresh/async/library/{64,256}`: one `AuthorizationCode` per
//!   user (default settings: all share the process-wide default
//!   `reqwest::Client`), each with its own `InMemoryTokenCache` holding an
//!   expired token and a refresh token the server issued; 64 or 256 tasks on
//!   a 2-worker multi-thread runtime each take the next user and call
//!   `get_access_token` until every user is done;
//! - `service_refresh/async/bare_post/{64,256}`: the same refresh forms
//!   POSTed with one `reqwest::Client` and the body read, nothing else: what
//!   the fake server and reqwest can do on this machine, the ceiling;
//! - `service_refresh/blocking/library/64`: the blocking API from 64 threads
//!   (default settings: all share the process-wide default `ureq::Agent`).
//!
//! The users are built before the clock starts; each round has a new server
//! (so its counts are the round's own) and new users. The fake server shares
//! the machine's cores with the client and serves each request on a thread
//! of its own, which caps the rate: read the figures beside `bare_post`.
//! A report, not a test: nothing is asserted about timings.
//!
//! The fake server's HTTP library, tiny_http 0.12, serves each connection on
//! a thread of its pool for the connection's whole life, and its pool can
//! leave a new connection unserved when several arrive at once: a connection
//! handed over while the pool's count of idle threads is stale (a thread was
//! woken but has not taken its task yet) is queued with no thread left to
//! take it, until some other connection closes. A client opening 64
//! connections at once then sees some requests hang until its timeout (30 s
//! for the library, which then retries). Each round therefore grows that
//! pool first ([`grow_server_pool`]: twice as many connections as will be in
//! flight, opened together and closed); the connections it opens are not
//! counted in the round's figure, and the per-refresh latencies (p50, p99,
//! max) show whether a request still hung.

use std::time::Duration;

use spotify_auth::testing::FakeSpotify;

mod common;

/// Users whose tokens expire together.
const USERS: usize = 10_000;
/// Rounds per row.
#[allow(dead_code)]
const ROUNDS: usize = 3;

/// A fake server with one client, and a refresh token it issued per user.
#[allow(dead_code)]
fn server_and_refresh_tokens() -> (FakeSpotify, Vec<String>) {
    let server = FakeSpotify::builder()
        .client("id", Some("s"))
        .start()
        .expect("fake server");
    let refresh_tokens = (0..USERS)
        .map(|_| server.issue_refresh_token("id", "user-read-email"))
        .collect();
    (server, refresh_tokens)
}

/// Grows the fake server's connection thread pool so that a burst of up to
/// `n` new connections finds an idle thread for each (see the module
/// documentation): opens `2 n` connections together, then closes them, and
/// returns the server's connection count afterwards, to subtract. Idle pool
/// threads live five seconds: call it just before the clock starts.
#[allow(dead_code)]
fn grow_server_pool(server: &FakeSpotify, n: usize) -> usize {
    let connections: Vec<_> = (0..2 * n)
        .map(|_| std::net::TcpStream::connect(server.addr()).expect("connect"))
        .collect();
    while server.connection_count() < 2 * n {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    drop(connections);
    std::thread::sleep(Duration::from_millis(300));
    server.connection_count()
}

/// Each refresh's duration, sorted.
#[allow(dead_code)]
type Latencies = Vec<Duration>;

/// A token that expired a minute ago, holding `refresh_token`.
#[allow(dead_code)]
fn expired(refresh_token: String) -> spotify_auth::TokenInfo {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    spotify_auth::TokenInfo::new(common::spotify_length_token(), now - 60)
        .with_refresh_token(refresh_token)
        .with_scope("user-read-email")
}

/// What one round did.
#[allow(dead_code)]
struct Round {
    elapsed: Duration,
    ok: usize,
    requests: usize,
    /// Opened by the clients during the round (the pool's growing excluded).
    connections: usize,
    latencies: Latencies,
}

/// Prints a round and returns its rate.
#[allow(dead_code)]
fn report(row: &str, round: usize, r: &Round) -> f64 {
    let rate = USERS as f64 / r.elapsed.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: f64| ms(r.latencies[((r.latencies.len() - 1) as f64 * q) as usize]);
    println!(
        "service_refresh/{row} round {round}: {:.0} ms, {rate:.0} refreshes/s, \
         {}/{USERS} ok, {} token requests, {} connections opened; \
         per refresh p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(r.elapsed),
        r.ok,
        r.requests,
        r.connections,
        at(0.5),
        at(0.99),
        ms(*r.latencies.last().expect("latencies")),
    );
    rate
}

/// Runs `ROUNDS` rounds of `round` and prints their median rate.
#[allow(dead_code)]
fn row(row: &str, round: impl Fn() -> Round) {
    let mut rates: Vec<f64> = (1..=ROUNDS).map(|i| report(row, i, &round())).collect();
    rates.sort_by(f64::total_cmp);
    println!(
        "service_refresh/{row}: median {:.0} refreshes/s over {ROUNDS} rounds",
        rates[ROUNDS / 2]
    );
}

#[cfg(feature = "async")]
mod asynchronous {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;
    use spotify_auth::asynchronous::AuthorizationCode;

    /// `concurrency` tasks, each taking the next index until all `USERS`
    /// are done; returns how many `call`s succeeded, the wall time and each
    /// call's duration (sorted).
    async fn drive<F>(
        concurrency: usize,
        call: impl Fn(usize) -> F + Send + Sync + 'static,
    ) -> (usize, Duration, Latencies)
    where
        F: std::future::Future<Output = bool> + Send,
    {
        let call = Arc::new(call);
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (call, next) = (Arc::clone(&call), Arc::clone(&next));
                tokio::spawn(async move {
                    let (mut ok, mut latencies) = (0, Vec::new());
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= USERS {
                            return (ok, latencies);
                        }
                        let began = Instant::now();
                        ok += usize::from(call(i).await);
                        latencies.push(began.elapsed());
                    }
                })
            })
            .collect();
        let (mut ok, mut latencies) = (0, Vec::with_capacity(USERS));
        for worker in workers {
            let (worker_ok, worker_latencies) = worker.await.expect("worker task");
            ok += worker_ok;
            latencies.extend(worker_latencies);
        }
        let elapsed = start.elapsed();
        latencies.sort();
        (ok, elapsed, latencies)
    }

    pub fn library(rt: &tokio::runtime::Runtime, concurrency: usize) -> Round {
        let (server, refresh_tokens) = server_and_refresh_tokens();
        let users: Arc<Vec<AuthorizationCode>> = Arc::new(
            refresh_tokens
                .into_iter()
                .map(|refresh_token| {
                    AuthorizationCode::builder()
                        .read_environment(false)
                        .client_id("id")
                        .client_secret("s")
                        .redirect_uri("http://127.0.0.1:8888/callback")
                        .accounts_base_url(server.url())
                        .token_cache(spotify_auth::InMemoryTokenCache::with_token(expired(
                            refresh_token,
                        )))
                        .build()
                        .expect("valid settings")
                })
                .collect(),
        );
        let before = grow_server_pool(&server, concurrency);
        let (ok, elapsed, latencies) = rt.block_on(drive(concurrency, move |i| {
            let users = Arc::clone(&users);
            async move { users[i].get_access_token().await.is_ok() }
        }));
        Round {
            elapsed,
            ok,
            requests: server.token_request_count(),
            connections: server.connection_count() - before,
            latencies,
        }
    }

    pub fn bare_post(rt: &tokio::runtime::Runtime, concurrency: usize) -> Round {
        use base64::Engine;

        let (server, refresh_tokens) = server_and_refresh_tokens();
        let bodies: Arc<Vec<String>> = Arc::new(
            refresh_tokens
                .iter()
                .map(|refresh_token| {
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("grant_type", "refresh_token")
                        .append_pair("refresh_token", refresh_token)
                        .finish()
                })
                .collect(),
        );
        let authorization = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("id:s")
        );
        let url = server.token_url();
        // A crypto provider for reqwest's rustls (plain HTTP here, but
        // reqwest wants one to build a client); the library's own client
        // names ring itself and is not affected.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = rt.block_on(async {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("reqwest client")
        });
        let before = grow_server_pool(&server, concurrency);
        let (ok, elapsed, latencies) = rt.block_on(drive(concurrency, move |i| {
            let request = client
                .post(&url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Authorization", &authorization)
                .timeout(Duration::from_secs(30))
                .body(bodies[i].clone());
            async move {
                match request.send().await {
                    Ok(response) => {
                        response.status().is_success()
                            && response.bytes().await.is_ok_and(|b| b.starts_with(b"{"))
                    }
                    Err(_) => false,
                }
            }
        }));
        Round {
            elapsed,
            ok,
            requests: server.token_request_count(),
            connections: server.connection_count() - before,
            latencies,
        }
    }

    pub fn run() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        for concurrency in [64, 256] {
            row(&format!("async/library/{concurrency}"), || {
                library(&rt, concurrency)
            });
            row(&format!("async/bare_post/{concurrency}"), || {
                bare_post(&rt, concurrency)
            });
        }
    }
}

#[cfg(feature = "blocking")]
mod blocking {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;
    use spotify_auth::blocking::AuthorizationCode;

    pub fn library(threads: usize) -> Round {
        let (server, refresh_tokens) = server_and_refresh_tokens();
        let users: Arc<Vec<AuthorizationCode>> = Arc::new(
            refresh_tokens
                .into_iter()
                .map(|refresh_token| {
                    AuthorizationCode::builder()
                        .read_environment(false)
                        .client_id("id")
                        .client_secret("s")
                        .redirect_uri("http://127.0.0.1:8888/callback")
                        .accounts_base_url(server.url())
                        .token_cache(spotify_auth::InMemoryTokenCache::with_token(expired(
                            refresh_token,
                        )))
                        .build()
                        .expect("valid settings")
                })
                .collect(),
        );
        let next = Arc::new(AtomicUsize::new(0));
        let before = grow_server_pool(&server, threads);
        let start = Instant::now();
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (users, next) = (Arc::clone(&users), Arc::clone(&next));
                std::thread::spawn(move || {
                    let (mut ok, mut latencies) = (0, Vec::new());
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= USERS {
                            return (ok, latencies);
                        }
                        let began = Instant::now();
                        ok += usize::from(users[i].get_access_token().is_ok());
                        latencies.push(began.elapsed());
                    }
                })
            })
            .collect();
        let (mut ok, mut latencies) = (0, Vec::with_capacity(USERS));
        for worker in workers {
            let (worker_ok, worker_latencies) = worker.join().expect("worker thread");
            ok += worker_ok;
            latencies.extend(worker_latencies);
        }
        let elapsed = start.elapsed();
        latencies.sort();
        Round {
            elapsed,
            ok,
            requests: server.token_request_count(),
            connections: server.connection_count() - before,
            latencies,
        }
    }

    pub fn run() {
        row("blocking/library/64", || library(64));
    }
}

fn main() {
    #[cfg(feature = "async")]
    asynchronous::run();
    #[cfg(feature = "blocking")]
    blocking::run();
    #[cfg(not(any(feature = "blocking", feature = "async")))]
    eprintln!("service_refresh: enable `blocking` and/or `async` to measure something");
}
