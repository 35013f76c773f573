//! What one more user costs a service: building a per-user
//! `AuthorizationCode` (default settings, no `http_client`: the process-wide
//! default client is shared; its own `InMemoryTokenCache` seeded with a valid
//! token) and asking it once for a token. That first `get_access_token` takes
//! the cold path: the cache is read under its lock and the token adopted.
//!
//! `cargo bench --bench per_user` (blocking) or
//! `cargo bench --features async --bench per_user` (both modes):
//!
//! - `per_user/{blocking,async}/build_and_first_token`: the whole cost of a
//!   user, the time per user;
//! - `per_user/{blocking,async}/build`: building alone;
//! - `per_user/{blocking,async}/first_token`: the first `get_access_token`
//!   alone, on users built beforehand;
//! - `per_user/async_multi_thread/*`: the same three in a task spawned on a
//!   2-worker multi-thread runtime (on a worker), as a service runs;
//! - `per_user/async_block_on/*`: the same three on that runtime's
//!   `block_on` thread, not in a task: code written in `#[tokio::main]`'s
//!   `main`;
//! - `per_user_parts/{current_thread,multi_thread,multi_thread_block_on}/*`:
//!   two hops alone, with no library work: `spawn` (a task spawned and
//!   awaited: what an instance's first call did before it took the stored
//!   token in place) and `spawn_blocking` (one round trip to tokio's
//!   blocking pool: what a refresh makes for a cache that may block), timed
//!   in a task, or on the `block_on` thread (`multi_thread_block_on`).
//!
//! Users are kept alive as they are made, up to 10,000 at once (then dropped,
//! untimed, and the population starts again), so the figure is taken with
//! thousands of users alive as in a service. The seeded tokens are made
//! beforehand, untimed: a service has them already (from its database).
//! Bytes per user: `cargo bench --bench per_user_memory`. `async` runs on a
//! current-thread tokio runtime, `async_multi_thread` and `async_block_on`
//! on a 2-worker one; in the first two the users are made and asked inside
//! a spawned task (as a service's request handler runs), one task per
//! sample, in the third on the thread that runs `block_on`. Nothing here asserts a timing; the figures are in
//! docs/performance.md.

use std::time::Duration;

use criterion::Criterion;

mod common;

/// The seeded tokens for `n` users, made before the clock starts.
#[allow(dead_code)]
fn tokens(n: u64) -> Vec<spotify_auth::TokenInfo> {
    let token = common::valid_token();
    (0..n).map(|_| token.clone()).collect()
}

/// The sizes of the successive populations that make up `iters` users.
#[allow(dead_code)]
fn populations(iters: u64) -> impl Iterator<Item = usize> {
    let full = common::users::USERS as u64;
    (0..iters.div_ceil(full)).map(move |i| (iters - i * full).min(full) as usize)
}

/// What a bench times per user.
#[allow(dead_code)]
#[derive(Clone, Copy)]
enum Step {
    /// Building the user and asking it once: the whole cost.
    BuildAndFirstToken,
    /// Building alone.
    Build,
    /// The first `get_access_token` alone, on users built untimed.
    FirstToken,
}

#[allow(dead_code)]
impl Step {
    const ALL: [Step; 3] = [Step::BuildAndFirstToken, Step::Build, Step::FirstToken];

    fn name(self) -> &'static str {
        match self {
            Step::BuildAndFirstToken => "build_and_first_token",
            Step::Build => "build",
            Step::FirstToken => "first_token",
        }
    }
}

/// `iters` blocking users, timing `step`; users stay alive up to 10,000.
#[cfg(feature = "blocking")]
fn blocking_users(iters: u64, step: Step) -> Duration {
    use std::hint::black_box;
    use std::time::Instant;

    use common::users::{USERS, blocking_user};

    let mut tokens = tokens(iters).into_iter();
    let mut alive = Vec::with_capacity(USERS);
    let mut elapsed = Duration::ZERO;
    for n in populations(iters) {
        let batch: Vec<_> = tokens.by_ref().take(n).collect();
        let start = Instant::now();
        match step {
            Step::BuildAndFirstToken => {
                for token in batch {
                    let user = blocking_user(token);
                    black_box(user.get_access_token().expect("a valid token"));
                    alive.push(user);
                }
                elapsed += start.elapsed();
            }
            Step::Build => {
                alive.extend(batch.into_iter().map(blocking_user));
                elapsed += start.elapsed();
            }
            Step::FirstToken => {
                alive.extend(batch.into_iter().map(blocking_user));
                let start = Instant::now();
                for user in &alive {
                    black_box(user.get_access_token().expect("a valid token"));
                }
                elapsed += start.elapsed();
            }
        }
        alive.clear();
    }
    elapsed
}

/// `iters` async users, timing `step`; users stay alive up to 10,000.
#[cfg(feature = "async")]
async fn async_users(iters: u64, step: Step) -> Duration {
    use std::hint::black_box;
    use std::time::Instant;

    use common::users::{USERS, async_user};

    let mut tokens = tokens(iters).into_iter();
    let mut alive = Vec::with_capacity(USERS);
    let mut elapsed = Duration::ZERO;
    for n in populations(iters) {
        let batch: Vec<_> = tokens.by_ref().take(n).collect();
        let start = Instant::now();
        match step {
            Step::BuildAndFirstToken => {
                for token in batch {
                    let user = async_user(token);
                    black_box(user.get_access_token().await.expect("a valid token"));
                    alive.push(user);
                }
                elapsed += start.elapsed();
            }
            Step::Build => {
                alive.extend(batch.into_iter().map(async_user));
                elapsed += start.elapsed();
            }
            Step::FirstToken => {
                alive.extend(batch.into_iter().map(async_user));
                let start = Instant::now();
                for user in &alive {
                    black_box(user.get_access_token().await.expect("a valid token"));
                }
                elapsed += start.elapsed();
            }
        }
        alive.clear();
    }
    elapsed
}

#[cfg(feature = "blocking")]
fn blocking(c: &mut Criterion) {
    // The default client exists before the first sample, as in a service.
    let first = common::users::blocking_user(common::valid_token());
    assert_eq!(first.get_access_token().expect("a valid token").len(), 250);

    let mut group = c.benchmark_group("per_user");
    for step in Step::ALL {
        group.bench_function(format!("blocking/{}", step.name()), |b| {
            b.iter_custom(|iters| blocking_users(iters, step))
        });
    }
    group.finish();
}

#[cfg(feature = "async")]
fn asynchronous(c: &mut Criterion) {
    let current_thread = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // A service's runtime: two workers (this machine has two cores).
    let multi_thread = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    // `spawned`: the users are made and asked in a spawned task (on a
    // worker of the multi-thread runtime); else on the thread that runs
    // `block_on` (code in `#[tokio::main]`'s `main`).
    for (name, rt, spawned) in [
        ("async", &current_thread, true),
        ("async_multi_thread", &multi_thread, true),
        ("async_block_on", &multi_thread, false),
    ] {
        // The default client exists before the first sample, as in a service.
        rt.block_on(async {
            let first = common::users::async_user(common::valid_token());
            let token = first.get_access_token().await.expect("a valid token");
            assert_eq!(token.len(), 250);
        });
        let mut group = c.benchmark_group("per_user");
        for step in Step::ALL {
            group.bench_function(format!("{name}/{}", step.name()), |b| {
                // In a task, as a service's request handler runs, or on
                // the `block_on` thread.
                b.to_async(rt).iter_custom(|iters| async move {
                    if spawned {
                        tokio::spawn(async_users(iters, step))
                            .await
                            .expect("bench task")
                    } else {
                        async_users(iters, step).await
                    }
                })
            });
        }
        group.finish();
    }
    parts(c, &current_thread, "current_thread", true);
    parts(c, &multi_thread, "multi_thread", true);
    parts(c, &multi_thread, "multi_thread_block_on", false);
}

/// Two hops async code can make, without the library's work, timed in a
/// task (`spawned`) or on the `block_on` thread: `spawn` (a task spawned and
/// awaited: what an instance's first call did before it took the stored
/// token in place; from the `block_on` thread of a multi-thread runtime the
/// task runs on a worker and wakes the caller across threads) and
/// `spawn_blocking` (one round trip to tokio's blocking pool, what a refresh
/// makes for a cache that may block).
#[cfg(feature = "async")]
fn parts(c: &mut Criterion, rt: &tokio::runtime::Runtime, context: &str, spawned: bool) {
    use std::hint::black_box;
    use std::time::Instant;

    async fn spawn(iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            tokio::spawn(async { black_box(1) }).await.expect("task");
        }
        start.elapsed()
    }
    async fn spawn_blocking(iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            tokio::task::spawn_blocking(|| black_box(1))
                .await
                .expect("blocking task");
        }
        start.elapsed()
    }

    let mut group = c.benchmark_group("per_user_parts");
    group.bench_function(format!("{context}/spawn"), |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            if spawned {
                tokio::spawn(spawn(iters)).await.expect("bench task")
            } else {
                spawn(iters).await
            }
        })
    });
    group.bench_function(format!("{context}/spawn_blocking"), |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            if spawned {
                tokio::spawn(spawn_blocking(iters))
                    .await
                    .expect("bench task")
            } else {
                spawn_blocking(iters).await
            }
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    #[cfg(feature = "blocking")]
    blocking(&mut c);
    #[cfg(feature = "async")]
    asynchronous(&mut c);
    #[cfg(not(any(feature = "blocking", feature = "async")))]
    {
        let _ = &mut c;
        eprintln!("per_user: enable `blocking` and/or `async` to measure something");
    }
    c.final_summary();
}
