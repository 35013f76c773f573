//! Latency of every call while the token enters its refresh window, beside
//! the same run with a token far from expiry (the machine's scheduling
//! floor), spotify-auth beside rspotify 0.16, with a token endpoint that
//! answers in 100 ms.
//!
//! `cargo run --release --features blocking --bin refresh_ahead [ROUNDS]`
//! (threads) and `--features async` (tasks on a 2-worker multi-thread
//! runtime, each yielding after every call, as a task that goes on to make
//! its Web API request does); `bash comparisons/rspotify/refresh_ahead.sh`
//! runs both modes. ROUNDS defaults to 3.
//!
//! Each run, for each library, each number of callers (2 and 8) and each
//! token (`far`: valid for an hour; `inside`: the token becomes due for
//! refreshing 1-2 s into the run while still valid for another 30 s):
//!
//! - a fresh `FakeSpotify` (loopback, in this process) whose token endpoint
//!   waits 100 ms before answering every request (`Fault::Delay`), tokens it
//!   issues valid for an hour;
//! - one client of the library holding the token (spotify-auth: the default
//!   refresh margin, 30 s, its token valid for 32 s; rspotify: its fixed
//!   10 s margin, `Token::is_expired`, its token valid for 12 s), asked once
//!   before the clock starts;
//! - the callers, released together, call for 3.5 s without pause
//!   (spotify-auth: `get_authorization_header`; rspotify: `auth_headers`,
//!   what each of its API calls does first: both give the `Bearer` header),
//!   and every call is timed.
//!
//! Printed per run: the calls, their latency (p50, p99, p99.9, max, from a
//! log-linear histogram with 1.6 % buckets; the max is exact), how many calls
//! took 50 ms or more (waited for the token endpoint), the token requests the
//! server received, the errors, and whether the client ended with a new token.
//! Nothing is asserted; the figures are in docs/performance.md.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rspotify::prelude::*;
use rspotify_comparison::spotify_auth::testing::{FakeSpotify, Fault};
use rspotify_comparison::{
    CLIENT_ID, CLIENT_SECRET, MODE, access_token, our_token, ours, their_token, theirs,
};

/// How long the callers call.
const RUN: Duration = Duration::from_millis(3500);
/// How long the token endpoint takes to answer.
const ENDPOINT_DELAY: Duration = Duration::from_millis(100);
/// A call this slow waited for the token endpoint.
const WAITED: Duration = Duration::from_millis(50);

/// Log-linear histogram of nanoseconds: exact below 128 ns, then 64 buckets
/// per power of two.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    max: u64,
    total: u64,
    waited: u64,
}

impl Histogram {
    const SUB: u32 = 6;

    fn new() -> Self {
        Self {
            counts: vec![0; 128 + 64 * 64],
            max: 0,
            total: 0,
            waited: 0,
        }
    }

    fn bucket(ns: u64) -> usize {
        if ns < 128 {
            return ns as usize;
        }
        let exp = 63 - ns.leading_zeros(); // >= 7
        let mantissa = (ns >> (exp - Self::SUB)) & 63;
        128 + (exp as usize - 7) * 64 + mantissa as usize
    }

    /// The lowest value of a bucket.
    fn value(bucket: usize) -> u64 {
        if bucket < 128 {
            return bucket as u64;
        }
        let exp = (bucket - 128) / 64 + 7;
        let mantissa = ((bucket - 128) % 64) as u64;
        (64 + mantissa) << (exp - Self::SUB as usize)
    }

    fn record(&mut self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.counts[Self::bucket(ns)] += 1;
        self.max = self.max.max(ns);
        self.total += 1;
        if elapsed >= WAITED {
            self.waited += 1;
        }
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max = self.max.max(other.max);
        self.total += other.total;
        self.waited += other.waited;
    }

    fn quantile(&self, q: f64) -> u64 {
        let rank = ((self.total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::value(bucket).min(self.max);
            }
        }
        self.max
    }
}

fn fmt(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// What one run's callers saw.
struct Seen {
    latency: Histogram,
    errors: usize,
    first_error: Option<String>,
}

/// Threads calling `call` without pause for `RUN`, released together.
#[cfg(feature = "blocking")]
fn callers<T: Send + Sync + 'static>(
    callers: usize,
    client: Arc<T>,
    call: fn(&T) -> Result<(), String>,
) -> Seen {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(std::sync::Barrier::new(callers + 1));
    let threads: Vec<_> = (0..callers)
        .map(|_| {
            let (client, stop, start) = (client.clone(), stop.clone(), start.clone());
            std::thread::spawn(move || {
                let mut latency = Histogram::new();
                let (mut errors, mut first_error) = (0, None);
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    let result = call(&client);
                    latency.record(began.elapsed());
                    if let Err(e) = result {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
                (latency, errors, first_error)
            })
        })
        .collect();
    start.wait();
    std::thread::sleep(RUN);
    stop.store(true, Ordering::Relaxed);
    gather(
        threads
            .into_iter()
            .map(|t| t.join().expect("caller thread")),
    )
}

/// Tasks on a 2-worker runtime calling `call` for `RUN`, each yielding after
/// every call, released together.
#[cfg(feature = "async")]
fn callers<T, F>(
    rt: &tokio::runtime::Runtime,
    callers: usize,
    client: Arc<T>,
    call: fn(Arc<T>) -> F,
) -> Seen
where
    T: Send + Sync + 'static,
    F: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let start = Arc::new(tokio::sync::Barrier::new(callers + 1));
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let (client, stop, start) = (client.clone(), stop.clone(), start.clone());
                tokio::spawn(async move {
                    let mut latency = Histogram::new();
                    let (mut errors, mut first_error) = (0, None);
                    start.wait().await;
                    while !stop.load(Ordering::Relaxed) {
                        let began = Instant::now();
                        let result = call(client.clone()).await;
                        latency.record(began.elapsed());
                        if let Err(e) = result {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                        tokio::task::yield_now().await;
                    }
                    (latency, errors, first_error)
                })
            })
            .collect();
        start.wait().await;
        // The timer off the workers: a thread of its own sleeps.
        let sleeper = std::thread::spawn({
            let stop = stop.clone();
            move || {
                std::thread::sleep(RUN);
                stop.store(true, Ordering::Relaxed);
            }
        });
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("caller task"));
        }
        sleeper.join().expect("timer thread");
        gather(results.into_iter())
    })
}

fn gather(results: impl Iterator<Item = (Histogram, usize, Option<String>)>) -> Seen {
    let mut seen = Seen {
        latency: Histogram::new(),
        errors: 0,
        first_error: None,
    };
    for (latency, errors, first_error) in results {
        seen.latency.merge(&latency);
        seen.errors += errors;
        if seen.first_error.is_none() {
            seen.first_error = first_error;
        }
    }
    seen
}

fn server() -> (FakeSpotify, String) {
    let server = FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .start()
        .expect("fake server");
    server.inject(Fault::Delay(ENDPOINT_DELAY), 1000);
    let refresh_token = server.issue_refresh_token(CLIENT_ID, "user-read-email");
    (server, refresh_token)
}

fn report(
    library: &str,
    token: &str,
    n: usize,
    round: usize,
    server: &FakeSpotify,
    seen: &Seen,
    renewed: bool,
) {
    let h = &seen.latency;
    println!(
        "refresh_ahead/{MODE}/{token}/{n}/{library}/round{round}: {} calls, p50 {}, p99 {}, \
         p99.9 {}, max {}, {} calls >= 50 ms, {} token requests, {} errors, renewed: {}",
        h.total,
        fmt(h.quantile(0.50)),
        fmt(h.quantile(0.99)),
        fmt(h.quantile(0.999)),
        fmt(h.max),
        h.waited,
        server.token_request_count(),
        seen.errors,
        if renewed { "yes" } else { "no" },
    );
    if let Some(e) = &seen.first_error {
        println!("  first error: {e}");
    }
}

/// One run of spotify-auth: a token valid for `valid_for` seconds.
fn run_ours(
    valid_for: i64,
    n: usize,
    #[cfg(feature = "async")] rt: &tokio::runtime::Runtime,
) -> (FakeSpotify, Seen, bool) {
    let (server, refresh_token) = server();
    let client = Arc::new(ours(
        our_token(valid_for, &refresh_token),
        Some(server.url()),
    ));
    #[cfg(feature = "blocking")]
    let (seen, now) = {
        client.get_authorization_header().expect("a valid token");
        let seen = callers(n, client.clone(), |c| {
            c.get_authorization_header()
                .map(drop)
                .map_err(|e| e.to_string())
        });
        (seen, client.get_access_token().expect("a token"))
    };
    #[cfg(feature = "async")]
    let (seen, now) = {
        rt.block_on(client.get_authorization_header())
            .expect("a valid token");
        let seen = callers(rt, n, client.clone(), |c| async move {
            c.get_authorization_header()
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        });
        (
            seen,
            rt.block_on(client.get_access_token()).expect("a token"),
        )
    };
    (server, seen, now != access_token())
}

/// One run of rspotify: a token valid for `valid_for` seconds.
fn run_theirs(
    valid_for: i64,
    n: usize,
    #[cfg(feature = "async")] rt: &tokio::runtime::Runtime,
) -> (FakeSpotify, Seen, bool) {
    let (server, refresh_token) = server();
    let client = Arc::new(theirs(
        their_token(valid_for, &refresh_token),
        Some(server.url()),
    ));
    #[cfg(feature = "blocking")]
    let (seen, now) = {
        client.auth_headers().expect("a valid token");
        let seen = callers(n, client.clone(), |c| {
            c.auth_headers().map(drop).map_err(|e| e.to_string())
        });
        let token = client.get_token();
        let now = token
            .lock()
            .expect("token lock")
            .as_ref()
            .map(|t| t.access_token.clone());
        (seen, now)
    };
    #[cfg(feature = "async")]
    let (seen, now) = {
        rt.block_on(client.auth_headers()).expect("a valid token");
        let seen = callers(rt, n, client.clone(), |c| async move {
            c.auth_headers().await.map(drop).map_err(|e| e.to_string())
        });
        let now = rt.block_on(async {
            let token = client.get_token();
            let guard = token.lock().await.expect("token lock");
            guard.as_ref().map(|t| t.access_token.clone())
        });
        (seen, now)
    };
    (server, seen, now.is_some_and(|t| t != access_token()))
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("ROUNDS: a number"))
        .unwrap_or(3);
    #[cfg(feature = "async")]
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    for round in 1..=rounds {
        for n in [2, 8] {
            // `far`: an hour left. `inside`: due 1-2 s into the run, still
            // valid for the margin after (ours 30 s, rspotify's 10 s).
            for (token, ours_for, theirs_for) in [("far", 3600, 3600), ("inside", 32, 12)] {
                #[cfg(feature = "blocking")]
                let ((s1, seen1, r1), (s2, seen2, r2)) =
                    (run_ours(ours_for, n), run_theirs(theirs_for, n));
                #[cfg(feature = "async")]
                let ((s1, seen1, r1), (s2, seen2, r2)) =
                    (run_ours(ours_for, n, &rt), run_theirs(theirs_for, n, &rt));
                report("spotify-auth", token, n, round, &s1, &seen1, r1);
                report("rspotify", token, n, round, &s2, &seen2, r2);
            }
        }
    }
}
