//! RedisStore's connection pool against a real `redis-server` (see
//! `redis_support`): many users' caches share at most the configured number
//! of connections, counted on the server (`INFO clients`, minus the probe's
//! own connection); callers beyond the limit wait, then fail clearly; idle
//! caches cost no thread, a held lock one.
//!
//! The thread-counting test runs this binary again, alone in its process:
//! the `child` test does a child's work when `CHILD` is set in its
//! environment, and nothing otherwise.
#![cfg(all(feature = "redis", any(feature = "blocking", feature = "async")))]

mod common;
mod redis_support;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis_support::{RedisServer, cache_message, connected_clients, now, token};
use spotify_auth::{Entry, RedisStore, TokenCache};

const CHILD: &str = "SPOTIFY_AUTH_REDIS_POOL_TEST_CHILD";

/// The most connections open at once while `work` ran (those opened
/// before it included): the server's client count, sampled every
/// millisecond from the `probe` connection, minus the probe.
fn peak_connections(probe: &mut redis::Connection, work: impl FnOnce() + Send) -> usize {
    let done = AtomicBool::new(false);
    let peak = AtomicUsize::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(connected_clients(probe) - 1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
            peak.fetch_max(connected_clients(probe) - 1, Ordering::Relaxed);
        });
        work();
        done.store(true, Ordering::Relaxed);
    });
    peak.into_inner()
}

/// `get` then `set` then `get` on the cache of each key in `keys`.
fn use_caches(store: &RedisStore, keys: impl Iterator<Item = usize>) {
    for i in keys {
        let cache = store.cache(format!("spotify:token:user:{i}"));
        assert_eq!(cache.get().unwrap(), None);
        let stored = token(
            &format!("access-{i}"),
            now() + 3600,
            &format!("refresh-{i}"),
        );
        cache.set(&stored).unwrap();
        assert_eq!(cache.get().unwrap(), Some(stored));
    }
}

#[test]
fn ten_thousand_users_share_at_most_the_default_eight_connections() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url()).unwrap();
    assert_eq!(store.max_connections(), RedisStore::DEFAULT_MAX_CONNECTIONS);
    const { assert!(RedisStore::DEFAULT_MAX_CONNECTIONS <= 8) };

    // Nothing is connected before the first call.
    let mut probe = redis.raw();
    assert_eq!(connected_clients(&mut probe), 1, "only the probe");
    // One caller at a time: one connection, reused by every user.
    let one_by_one = peak_connections(&mut probe, || use_caches(&store, 0..1_000));
    assert_eq!(one_by_one, 1);

    // 9,000 more users from 32 threads at once, some taking their lock.
    let peak = peak_connections(&mut probe, || {
        std::thread::scope(|s| {
            for t in 0..32 {
                let store = &store;
                s.spawn(move || {
                    use_caches(store, (1_000 + t..10_000).step_by(32));
                    let cache = store.cache(format!("spotify:token:locked:{t}"));
                    let guard = cache.lock().unwrap();
                    let entry = Entry::Token(token("locked", now() + 3600, "r"));
                    cache.write(&entry, &guard).unwrap();
                    drop(guard);
                });
            }
        });
    });
    assert!(
        (2..=RedisStore::DEFAULT_MAX_CONNECTIONS).contains(&peak),
        "peak {peak} connections for 32 threads"
    );
    let keys: usize = redis::cmd("DBSIZE").query(&mut probe).unwrap();
    assert_eq!(keys, 10_000 + 32, "every user's token, no lock left");
}

#[test]
fn a_limit_of_two_holds_under_sixteen_threads() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url())
        .unwrap()
        .with_max_connections(2)
        .with_lock_ttl(Duration::from_millis(600));
    assert_eq!(store.max_connections(), 2);
    let peak = peak_connections(&mut redis.raw(), || {
        std::thread::scope(|s| {
            for t in 0..16 {
                let store = &store;
                s.spawn(move || {
                    use_caches(store, (t..3_200).step_by(16));
                    // Locks held long enough to be renewed, through the same
                    // two connections.
                    let cache = store.cache(format!("spotify:token:locked:{t}"));
                    let guard = cache.lock().unwrap();
                    std::thread::sleep(Duration::from_millis(700));
                    let entry = Entry::Token(token("locked", now() + 3600, "r"));
                    cache.write(&entry, &guard).unwrap();
                    drop(guard);
                });
            }
        });
    });
    assert_eq!(peak, 2, "16 threads, a limit of 2");
}

#[test]
fn callers_beyond_the_limit_wait_up_to_the_io_timeout_then_get_a_clear_error() {
    // Connections to this listener are accepted by the kernel and then never
    // answered: the one connection allowed stays busy connecting.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let store = RedisStore::open(&format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .with_max_connections(1)
        .with_connect_timeout(Duration::from_secs(3))
        .with_io_timeout(Duration::from_millis(300));
    let first = store.cache("spotify:token:first");
    let second = store.cache("spotify:token:second");
    std::thread::scope(|s| {
        let connecting = s.spawn(|| first.get());
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let message = cache_message(second.get());
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_millis(1500),
            "waited {waited:?}"
        );
        assert!(message.contains("no connection free"), "{message}");
        assert!(message.contains("with_max_connections"), "{message}");
        assert!(
            message.starts_with(&format!("redis://127.0.0.1:{port}/0: ")),
            "{message}"
        );
        assert!(connecting.join().unwrap().is_err());
    });
}

/// The threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// A child's side: `threads|redis`: checks that idle caches cost no thread
/// and a held lock one, prints `OK`.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return; // Not a child: nothing to do.
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let ["threads", url] = parts[..] else {
        panic!("bad child spec {spec}");
    };
    let store = RedisStore::open(url).unwrap();
    let before = threads();
    let caches: Vec<_> = (0..10_000)
        .map(|i| store.cache(format!("spotify:token:idle:{i}")))
        .collect();
    for cache in &caches {
        cache.get().unwrap();
    }
    assert_eq!(threads(), before, "10,000 idle caches, no thread");
    let guards: Vec<_> = caches[..3].iter().map(|c| c.lock().unwrap()).collect();
    assert_eq!(threads(), before + 3, "one renewal thread per held lock");
    drop(guards);
    assert_eq!(
        threads(),
        before,
        "the renewal threads end with their guards"
    );
    println!("\nOK");
}

#[cfg(target_os = "linux")]
#[test]
fn idle_caches_cost_no_thread_and_a_held_lock_one() {
    let redis = RedisServer::start();
    let child = common::spawn_child(CHILD, format!("threads|{}", redis.url()));
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.lines().any(|l| l == "OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
