//! RedisTokenCache against real `redis-server` processes that the tests start
//! themselves (one per test, on a free loopback port, no persistence), and the
//! fake accounts server, in both modes: storage, errors, outages, passwords.
//! The lock is in `redis_lock.rs`, the connection pool in `redis_pool.rs`,
//! TLS in `redis_tls.rs`.
//!
//! `redis-server` must be on PATH (`apt-get install redis-server`; `.ci/run`
//! installs it). The cross-process tests run this test binary again: the
//! `child` test below does a child's work when `CHILD` is set in its
//! environment, and nothing otherwise.
#![cfg(all(feature = "redis", any(feature = "blocking", feature = "async")))]

mod common;
mod redis_support;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Flow, Mode};
use redis_support::{ID, RedisServer, cache_message, client, exists, fake, now, token};
use spotify_auth::{Error, RedisTokenCache, TokenCache};

const CHILD: &str = "SPOTIFY_AUTH_REDIS_TEST_CHILD";

// ---------------------------------------------------------------------------
// The child processes.

/// A child's side, selected by the first field of `CHILD`:
///
/// - `refresh|mode|accounts|redis|key|go`: wait for the file `go`, get a
///   token through the cache, print `TOKEN:...` or `ERROR:...`.
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

    // A holder whose lock lapsed (here: deleted behind its back) does not
    // delete its successor's lock.
    let lapsed = redis.cache(key);
    let expired = lapsed.lock().unwrap();
    redis::cmd("DEL")
        .arg("spotify:token:locked:lock")
        .query::<()>(&mut raw)
        .unwrap();
    let successor = holder.lock().unwrap();
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
        let pttl: i64 = redis::cmd("PTTL")
            .arg(format!("{key}:lock"))
            .query(&mut raw)
            .unwrap();
        assert!(
            !exists(&mut raw, &format!("{key}:lock")),
            "round {round}: every child released the lock before exiting (pttl {pttl})"
        );
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), token);
        let rotated = stored.refresh_token.unwrap().into_secret();
        assert_ne!(rotated, refresh, "round {round}: the refresh token rotated");
        refresh = rotated;
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
fn urls_that_are_not_redis_urls_are_configuration_errors() {
    for url in ["http://example.com", "redis://", "not a url"] {
        match RedisTokenCache::open(url, "k") {
            Err(Error::Config { setting, .. }) => assert_eq!(setting, "redis_url"),
            other => panic!("{url}: {other:?}"),
        }
    }
}
