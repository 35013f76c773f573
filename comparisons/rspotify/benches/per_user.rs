//! What one more user costs a service, spotify-auth beside rspotify 0.16, in
//! one invocation (one mode per build: `cargo bench --features blocking
//! --bench per_user` or `--features async`).
//!
//! - `per_user/{mode}/spotify-auth`: an `AuthorizationCode` built with the
//!   default settings (no `http_client`: the process-wide default client is
//!   shared) and its own `InMemoryTokenCache` holding a valid token, then
//!   asked once for the token (`get_access_token`, the cold path);
//! - `per_user/{mode}/rspotify`: an `AuthCodeSpotify::from_token_with_config`
//!   holding the same token (credentials, redirect URI, automatic refreshing
//!   on), then asked once for it (`auto_reauth`, then lock and clone the
//!   access token). Each rspotify instance builds its own HTTP client (its
//!   only way).
//!
//! Users are kept alive as they are made, up to 10,000 at once (then dropped,
//! untimed, and the population starts again); the seeded tokens are made
//! beforehand, untimed. Async runs in three places: `current_thread` (a
//! current-thread runtime's `block_on`), `block_on` (the thread running a
//! 2-worker runtime's `block_on`, as code in `#[tokio::main]`'s `main`
//! runs) and `worker` (a task spawned on that runtime, as a request handler
//! runs). Blocking runs on the bench's thread. Bytes
//! per user: `cargo run --release --features MODE --bin per_user_memory`.
//! Nothing is asserted; the figures are in docs/performance.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use rspotify::prelude::*;
use rspotify_comparison::{MODE, USERS, our_token, ours, their_token, their_user};

/// The sizes of the successive populations that make up `iters` users.
fn populations(iters: u64) -> impl Iterator<Item = usize> {
    let full = USERS as u64;
    (0..iters.div_ceil(full)).map(move |i| (iters - i * full).min(full) as usize)
}

#[cfg(feature = "blocking")]
fn bench(c: &mut Criterion) {
    // The default client exists before the first sample, as in a service.
    ours(our_token(3600, "AQ-refresh"), None)
        .get_access_token()
        .expect("a valid token");
    let mut group = c.benchmark_group(format!("per_user/{MODE}"));
    group.bench_function("thread/spotify-auth", |b| {
        b.iter_custom(|iters| {
            let token = our_token(3600, "AQ-refresh");
            let mut alive = Vec::with_capacity(USERS);
            let mut elapsed = Duration::ZERO;
            for n in populations(iters) {
                let batch: Vec<_> = (0..n).map(|_| token.clone()).collect();
                let start = Instant::now();
                for token in batch {
                    let user = ours(token, None);
                    black_box(user.get_access_token().expect("a valid token"));
                    alive.push(user);
                }
                elapsed += start.elapsed();
                alive.clear();
            }
            elapsed
        })
    });
    group.bench_function("thread/rspotify", |b| {
        b.iter_custom(|iters| {
            let token = their_token(3600, "AQ-refresh");
            let mut alive = Vec::with_capacity(USERS);
            let mut elapsed = Duration::ZERO;
            for n in populations(iters) {
                let batch: Vec<_> = (0..n).map(|_| token.clone()).collect();
                let start = Instant::now();
                for token in batch {
                    let user = their_user(token);
                    user.auto_reauth().expect("no refresh needed");
                    let token = user.get_token();
                    let guard = token.lock().expect("token lock");
                    black_box(guard.as_ref().map(|t| t.access_token.clone()));
                    drop(guard);
                    alive.push(user);
                }
                elapsed += start.elapsed();
                alive.clear();
            }
            elapsed
        })
    });
    group.finish();
}

/// `iters` of our users made and asked once, timed; users stay alive up to
/// 10,000.
#[cfg(feature = "async")]
async fn our_users(iters: u64) -> Duration {
    let token = our_token(3600, "AQ-refresh");
    let mut alive = Vec::with_capacity(USERS);
    let mut elapsed = Duration::ZERO;
    for n in populations(iters) {
        let batch: Vec<_> = (0..n).map(|_| token.clone()).collect();
        let start = Instant::now();
        for token in batch {
            let user = ours(token, None);
            black_box(user.get_access_token().await.expect("a valid token"));
            alive.push(user);
        }
        elapsed += start.elapsed();
        alive.clear();
    }
    elapsed
}

/// The same with rspotify's users.
#[cfg(feature = "async")]
async fn their_users(iters: u64) -> Duration {
    let token = their_token(3600, "AQ-refresh");
    let mut alive = Vec::with_capacity(USERS);
    let mut elapsed = Duration::ZERO;
    for n in populations(iters) {
        let batch: Vec<_> = (0..n).map(|_| token.clone()).collect();
        let start = Instant::now();
        for token in batch {
            let user = their_user(token);
            user.auto_reauth().await.expect("no refresh needed");
            let token = user.get_token();
            let guard = token.lock().await.expect("token lock");
            black_box(guard.as_ref().map(|t| t.access_token.clone()));
            drop(guard);
            alive.push(user);
        }
        elapsed += start.elapsed();
        alive.clear();
    }
    elapsed
}

/// Three places async code runs: `current_thread` (a current-thread
/// runtime's `block_on`, as before), `block_on` (the thread that runs a
/// 2-worker runtime's `block_on`: code written in `#[tokio::main]`'s
/// `main`), `worker` (a task spawned on that runtime: a request handler).
#[cfg(feature = "async")]
fn bench(c: &mut Criterion) {
    let current_thread = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let multi_thread = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for rt in [&current_thread, &multi_thread] {
        // The default client exists before the first sample, as in a service.
        rt.block_on(async {
            ours(our_token(3600, "AQ-refresh"), None)
                .get_access_token()
                .await
                .expect("a valid token");
        });
    }
    let mut group = c.benchmark_group(format!("per_user/{MODE}"));
    for (context, rt, spawned) in [
        ("current_thread", &current_thread, false),
        ("block_on", &multi_thread, false),
        ("worker", &multi_thread, true),
    ] {
        group.bench_function(format!("{context}/spotify-auth"), |b| {
            b.to_async(rt).iter_custom(|iters| async move {
                if spawned {
                    tokio::spawn(our_users(iters)).await.expect("bench task")
                } else {
                    our_users(iters).await
                }
            })
        });
        group.bench_function(format!("{context}/rspotify"), |b| {
            b.to_async(rt).iter_custom(|iters| async move {
                if spawned {
                    tokio::spawn(their_users(iters)).await.expect("bench task")
                } else {
                    their_users(iters).await
                }
            })
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
