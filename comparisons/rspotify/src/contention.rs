//! N callers at once on an expired token, against the loopback fake accounts
//! server: how many refresh requests does each library send? (spotify-auth:
//! one; rspotify: one per caller that saw the token expired.)
//!
//! `cargo run --release --features blocking --bin contention [CALLERS]` (threads)
//! `cargo run --release --features async --bin contention [CALLERS]` (tasks on
//! a 2-worker multi-thread runtime). CALLERS defaults to 64. Each caller makes
//! one call: spotify-auth's `get_access_token`, rspotify's `auth_headers` (what
//! each of its API calls does first). Run once; the figures are in
//! docs/performance.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rspotify::prelude::*;
use rspotify_comparison::spotify_auth::testing::FakeSpotify;
use rspotify_comparison::{CLIENT_ID, CLIENT_SECRET, MODE, our_token, ours, their_token, theirs};

struct Outcome {
    ok: usize,
    errors: Vec<String>,
    elapsed: Duration,
}

fn start_server() -> (FakeSpotify, String) {
    let server = FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .start()
        .expect("fake server");
    let refresh_token = server.issue_refresh_token(CLIENT_ID, "user-read-email");
    (server, refresh_token)
}

#[cfg(feature = "blocking")]
fn run<T: Send + Sync + 'static>(
    callers: usize,
    client: T,
    call: fn(&T) -> Result<(), String>,
) -> Outcome {
    let client = Arc::new(client);
    let start = Arc::new(std::sync::Barrier::new(callers + 1));
    let threads: Vec<_> = (0..callers)
        .map(|_| {
            let client = Arc::clone(&client);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                call(&client)
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let results: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("caller thread"))
        .collect();
    outcome(results, began.elapsed())
}

#[cfg(feature = "async")]
fn run<T, F>(callers: usize, client: T, call: fn(Arc<T>) -> F) -> Outcome
where
    T: Send + Sync + 'static,
    F: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = Arc::new(client);
    rt.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(callers + 1));
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let client = Arc::clone(&client);
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    call(client).await
                })
            })
            .collect();
        start.wait().await;
        let began = Instant::now();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("caller task"));
        }
        outcome(results, began.elapsed())
    })
}

fn outcome(results: Vec<Result<(), String>>, elapsed: Duration) -> Outcome {
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let errors = results.into_iter().filter_map(Result::err).collect();
    Outcome {
        ok,
        errors,
        elapsed,
    }
}

fn report(library: &str, callers: usize, server: &FakeSpotify, outcome: &Outcome) {
    println!(
        "contention/{MODE}/{callers}/{library}: {} token requests, {}/{callers} calls ok, {:.1} ms for all",
        server.token_request_count(),
        outcome.ok,
        outcome.elapsed.as_secs_f64() * 1e3,
    );
    if let Some(first) = outcome.errors.first() {
        println!("  first error: {first}");
    }
}

fn main() {
    let callers: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("CALLERS: a number"))
        .unwrap_or(64);

    let (server, refresh_token) = start_server();
    let client = ours(our_token(-60, &refresh_token), Some(server.url()));
    #[cfg(feature = "blocking")]
    let outcome = run(callers, client, |c| {
        c.get_access_token().map(drop).map_err(|e| e.to_string())
    });
    #[cfg(feature = "async")]
    let outcome = run(callers, client, |c| async move {
        c.get_access_token()
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    });
    report("spotify-auth", callers, &server, &outcome);

    let (server, refresh_token) = start_server();
    let client = theirs(their_token(-60, &refresh_token), Some(server.url()));
    #[cfg(feature = "blocking")]
    let outcome = run(callers, client, |c| {
        c.auth_headers().map(drop).map_err(|e| e.to_string())
    });
    #[cfg(feature = "async")]
    let outcome = run(callers, client, |c| async move {
        c.auth_headers().await.map(drop).map_err(|e| e.to_string())
    });
    report("rspotify", callers, &server, &outcome);
}
