//! `get_access_token` with a valid token in memory: the call an application
//! makes before every Web API request.
//!
//! Measures whichever modes are enabled (`cargo bench --bench hot_path` for
//! blocking only, `cargo bench --features async --bench hot_path` for both):
//!
//! - `hot_path/{blocking,async}/{memory,file}`: one caller, with an
//!   `InMemoryTokenCache` and with a `FileTokenCache` in a temporary
//!   directory (the token is kept in memory either way, so both should match);
//! - `contended/{blocking,async}/{1,2,8}`: 1, 2 and 8 threads (blocking) or
//!   tasks on a 2-worker multi-thread runtime (async) calling at once, as wall
//!   time for all calls divided by the number of calls;
//! - `hot_path_parts/*`: the pieces of one call measured alone (a wall clock
//!   read, one `arc-swap` load, a 250-byte `String` copy): the hot path is
//!   those three and nothing else.
//!
//! Nothing here asserts a timing; the figures are in docs/performance.md.

use std::time::Duration;

use criterion::Criterion;

mod common;
use common::spotify_length_token;

#[allow(dead_code)]
const CALLERS: [usize; 3] = [1, 2, 8];

#[cfg(feature = "blocking")]
mod blocking {
    use std::sync::{Arc, Barrier};
    use std::time::Instant;

    use criterion::Criterion;
    use spotify_auth::blocking::AuthorizationCode;
    use spotify_auth::{InMemoryTokenCache, TokenCache};

    fn auth(cache: impl TokenCache + 'static) -> AuthorizationCode {
        let auth = AuthorizationCode::builder()
            .read_environment(false)
            .client_id("id")
            .client_secret("s")
            .redirect_uri("http://127.0.0.1:8888/callback")
            .token_cache(cache)
            .build()
            .expect("valid settings");
        // The first call reads the cache; every later one is the hot path.
        let token = auth.get_access_token().expect("a valid token");
        assert_eq!(token.len(), 250);
        auth
    }

    pub fn single(c: &mut Criterion) {
        let (_dir, caches) = super::common::caches();
        let mut group = c.benchmark_group("hot_path");
        for (name, cache) in caches {
            let auth = auth(cache);
            group.bench_function(format!("blocking/{name}"), |b| {
                b.iter(|| auth.get_access_token())
            });
            group.bench_function(format!("blocking/{name}/header"), |b| {
                b.iter(|| auth.get_authorization_header())
            });
        }
        group.finish();
    }

    pub fn contended(c: &mut Criterion) {
        let auth = Arc::new(auth(InMemoryTokenCache::with_token(
            super::common::valid_token(),
        )));
        let mut group = c.benchmark_group("contended");
        for callers in super::CALLERS {
            group.bench_function(format!("blocking/{callers}"), |b| {
                b.iter_custom(|iters| {
                    let start = Arc::new(Barrier::new(callers + 1));
                    let threads: Vec<_> = (0..callers)
                        .map(|_| {
                            let auth = Arc::clone(&auth);
                            let start = Arc::clone(&start);
                            std::thread::spawn(move || {
                                start.wait();
                                for _ in 0..iters {
                                    std::hint::black_box(auth.get_access_token().ok());
                                }
                            })
                        })
                        .collect();
                    // Time from the common start to the last caller's end.
                    start.wait();
                    let began = Instant::now();
                    for thread in threads {
                        thread.join().expect("caller thread");
                    }
                    let elapsed = began.elapsed();
                    // Per call: all callers made `iters` calls each.
                    elapsed / callers as u32
                })
            });
        }
        group.finish();
    }
}

#[cfg(feature = "async")]
mod asynchronous {
    use std::sync::Arc;
    use std::time::Instant;

    use criterion::Criterion;
    use spotify_auth::asynchronous::AuthorizationCode;
    use spotify_auth::{InMemoryTokenCache, TokenCache};

    fn auth(rt: &tokio::runtime::Runtime, cache: impl TokenCache + 'static) -> AuthorizationCode {
        let auth = AuthorizationCode::builder()
            .read_environment(false)
            .client_id("id")
            .client_secret("s")
            .redirect_uri("http://127.0.0.1:8888/callback")
            .token_cache(cache)
            .build()
            .expect("valid settings");
        let token = rt.block_on(auth.get_access_token()).expect("a valid token");
        assert_eq!(token.len(), 250);
        auth
    }

    pub fn single(c: &mut Criterion) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let (_dir, caches) = super::common::caches();
        let mut group = c.benchmark_group("hot_path");
        for (name, cache) in caches {
            let auth = auth(&rt, cache);
            group.bench_function(format!("async/{name}"), |b| {
                // One block_on per sample; the calls loop inside it.
                b.to_async(&rt).iter(|| auth.get_access_token())
            });
            group.bench_function(format!("async/{name}/header"), |b| {
                b.to_async(&rt).iter(|| auth.get_authorization_header())
            });
        }
        group.finish();
    }

    pub fn contended(c: &mut Criterion) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let auth = Arc::new(auth(
            &rt,
            InMemoryTokenCache::with_token(super::common::valid_token()),
        ));
        let mut group = c.benchmark_group("contended");
        for callers in super::CALLERS {
            group.bench_function(format!("async/{callers}"), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let began = Instant::now();
                        let tasks: Vec<_> = (0..callers)
                            .map(|_| {
                                let auth = Arc::clone(&auth);
                                tokio::spawn(async move {
                                    for _ in 0..iters {
                                        std::hint::black_box(auth.get_access_token().await.ok());
                                    }
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.expect("caller task");
                        }
                        began.elapsed() / callers as u32
                    })
                })
            });
        }
        group.finish();
    }
}

/// What one hot-path call is made of, measured alone for comparison: the
/// wall clock read (`SystemTime::now()` to Unix seconds, as the library
/// reads it), one `arc-swap` load of the token in memory, and the copy of a
/// 250-byte token into a new `String` (the one allocation).
fn parts(c: &mut Criterion) {
    let token = spotify_length_token();
    let current = arc_swap::ArcSwapOption::from_pointee(token.clone());
    let mut group = c.benchmark_group("hot_path_parts");
    group.bench_function("system_time_now", |b| {
        b.iter(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
        })
    });
    group.bench_function("arc_swap_load", |b| {
        b.iter(|| std::hint::black_box(current.load().as_ref().map(|t| t.len())))
    });
    group.bench_function("copy_250_byte_string", |b| {
        b.iter(|| std::hint::black_box(token.as_str()).to_owned())
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    parts(&mut c);
    #[cfg(feature = "blocking")]
    {
        blocking::single(&mut c);
        blocking::contended(&mut c);
    }
    #[cfg(feature = "async")]
    {
        asynchronous::single(&mut c);
        asynchronous::contended(&mut c);
    }
    #[cfg(not(any(feature = "blocking", feature = "async")))]
    {
        let _ = &mut c;
        eprintln!("hot_path: enable `blocking` and/or `async` to measure something");
    }
    c.final_summary();
}
