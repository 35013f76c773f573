//! RedisTokenCache's refresh lock against real `redis-server` processes (see
//! `redis_support`), with the fake accounts server, in both modes: renewal
//! keeps a lock through a refresh slower than its TTL, a waiter waits for a
//! live holder up to its own lock wait, a dead holder frees the lock after
//! one TTL, writes are fenced by the lock, and one instance is one holder.
//!
//! The killed-holder test runs this binary again: the `child` test does a
//! child's work when `CHILD` is set in its environment, and nothing otherwise.
#![cfg(all(feature = "redis", any(feature = "blocking", feature = "async")))]

mod common;
mod redis_support;

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Flow, Mode};
use redis_support::{
    ID, RedisServer, cache_message, client, exists, fake, get, now, put, token, wait_until,
};
use spotify_auth::testing::Fault;
use spotify_auth::{CacheLock, Entry, LoginEnded, RedisTokenCache, TokenCache};

const CHILD: &str = "SPOTIFY_AUTH_REDIS_LOCK_TEST_CHILD";

/// A child's side: `hold|redis|key|ttl_ms`: take the lock, print `LOCKED`,
/// and sleep until killed.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return; // Not a child: nothing to do.
    };
    let parts: Vec<&str> = spec.split('|').collect();
    match parts[..] {
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

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn renewal_keeps_the_lock_through_a_refresh_slower_than_its_ttl() {
    const TTL: Duration = Duration::from_millis(300);
    let redis = RedisServer::start();
    let server = fake();
    let mut raw = redis.raw();
    let mut refresh = server.issue_refresh_token(ID, "user-read-email");
    for mode in Mode::all() {
        let key = format!("spotify:token:slow:{}", mode.name());
        let lock_key = format!("{key}:lock");
        // Two instances, as two machines would have.
        let first = Arc::new(redis.cache(&key).with_lock_ttl(TTL));
        let second = Arc::new(redis.cache(&key).with_lock_ttl(TTL));
        first.set(&token("expired", now() - 1, &refresh)).unwrap();
        let before = server.token_request_count();
        // The refresh takes five TTLs.
        server.inject(Fault::Delay(TTL * 5), 1);
        let accounts = client(server.url());

        let (first_token, second_token) = std::thread::scope(|s| {
            let holder = s.spawn(|| Flow::new(mode, &accounts, first.clone()).get_access_token());
            wait_until("the first instance's request", || {
                server.token_request_count() > before
            });
            assert!(exists(&mut raw, &lock_key), "{mode:?}: locked");
            let second_token = Flow::new(mode, &accounts, second.clone()).get_access_token();
            (holder.join().unwrap(), second_token)
        });
        let first_token = first_token.unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let second_token = second_token.unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(
            server.token_request_count() - before,
            1,
            "{mode:?}: the waiter read the new token instead of refreshing"
        );
        assert_eq!(first_token, second_token, "{mode:?}");
        let stored = first.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), first_token, "{mode:?}");
        assert!(!exists(&mut raw, &lock_key), "{mode:?}: released");
        refresh = stored.refresh_token.unwrap().into_secret();
    }
}

#[test]
fn a_waiter_waits_for_a_live_holder_and_gives_up_only_at_its_lock_wait() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let key = "spotify:token:waited";
    let holder = redis.cache(key).with_lock_ttl(ms(200));
    let waiter = redis
        .cache(key)
        .with_lock_ttl(ms(200))
        .with_lock_wait(ms(1500));
    let guard = holder.lock().unwrap();
    let owner = get(&mut raw, "spotify:token:waited:lock");

    let started = Instant::now();
    let message = cache_message(waiter.lock());
    let waited = started.elapsed();
    assert!(message.contains("still held"), "{message}");
    assert!(
        waited >= ms(1500) && waited < ms(2500),
        "gave up after {waited:?}: the lock wait is 1.5 s, the TTL 200 ms"
    );
    assert_eq!(
        get(&mut raw, "spotify:token:waited:lock"),
        owner,
        "the holder kept its lock through seven TTLs"
    );

    drop(guard);
    let started = Instant::now();
    drop(waiter.lock().unwrap());
    assert!(started.elapsed() < ms(500), "free once released");
}

#[test]
fn the_renewal_stops_at_once_when_the_guard_is_dropped() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let key = "spotify:token:stopped";
    let lock_key = "spotify:token:stopped:lock";

    // Renewed while held.
    let cache = redis.cache(key).with_lock_ttl(ms(200));
    let guard = cache.lock().unwrap();
    let owner = get(&mut raw, lock_key).unwrap();
    std::thread::sleep(ms(1000));
    assert_eq!(get(&mut raw, lock_key).as_deref(), Some(&*owner), "renewed");

    // After the drop nothing renews it: planted again with the same owner,
    // it expires.
    drop(guard);
    assert!(!exists(&mut raw, lock_key), "released");
    put(&mut raw, lock_key, &owner, Some(200));
    std::thread::sleep(ms(600));
    assert!(!exists(&mut raw, lock_key), "no renewal after the drop");

    // A long TTL (a renewal every 10 s): dropping does not wait for it.
    let cache = redis.cache(key).with_lock_ttl(Duration::from_secs(30));
    let guard = cache.lock().unwrap();
    std::thread::sleep(ms(100));
    let started = Instant::now();
    drop(guard);
    assert!(started.elapsed() < ms(1000), "took {:?}", started.elapsed());
    assert!(!exists(&mut raw, lock_key));
}

#[test]
fn a_holder_killed_mid_refresh_holds_the_others_up_only_until_its_ttl() {
    const TTL_MS: u64 = 300;
    let redis = RedisServer::start();
    let server = fake();
    let key = "spotify:token:orphaned";
    let lock_key = "spotify:token:orphaned:lock";
    let cache = Arc::new(redis.cache(key));
    let mut raw = redis.raw();
    let mut refresh = server.issue_refresh_token(ID, "user-read-email");

    for mode in Mode::all() {
        cache.set(&token("expired", now() - 1, &refresh)).unwrap();
        let mut holder = common::spawn_child(CHILD, format!("hold|{}|{key}|{TTL_MS}", redis.url()));
        let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
        let locked = lines.any(|line| line.is_ok_and(|l| l == "LOCKED"));
        assert!(locked, "{mode:?}: the holder did not take the lock");
        // Alive, it keeps the lock past its TTL.
        std::thread::sleep(ms(3 * TTL_MS));
        assert!(exists(&mut raw, lock_key), "{mode:?}: a live holder's lock");
        holder.kill().unwrap(); // SIGKILL: no release
        holder.wait().unwrap();
        let killed = Instant::now();
        let ttl: i64 = redis::cmd("PTTL").arg(lock_key).query(&mut raw).unwrap();
        assert!(ttl > 0, "{mode:?}: the dead holder's lock is still there");

        let before = server.token_request_count();
        let result = Flow::new(mode, &client(server.url()), cache.clone()).get_access_token();
        let waited = killed.elapsed();
        let token = result.unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert!(
            waited < ms(TTL_MS + 700),
            "{mode:?}: waited {waited:?}, the lock TTL is {TTL_MS} ms"
        );
        assert_eq!(server.token_request_count() - before, 1, "{mode:?}");
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), token);
        refresh = stored.refresh_token.unwrap().into_secret();
    }
}

#[test]
fn a_holder_whose_lock_was_taken_cannot_write_and_the_token_is_untouched() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let key = "spotify:token:fenced";
    let lock_key = "spotify:token:fenced:lock";
    // A long TTL: the script, not the renewal, catches the theft.
    let cache = redis.cache(key).with_lock_ttl(Duration::from_secs(30));
    let first = token("first", now() + 3600, "refresh-1");
    cache.set(&first).unwrap();
    let stored = get(&mut raw, key);

    let guard = cache.lock().unwrap();
    let second = token("second", now() + 3600, "refresh-2");
    cache.write(&Entry::Token(second), &guard).unwrap();
    let stored_by_holder = get(&mut raw, key);
    assert_ne!(stored_by_holder, stored, "the holder writes");

    // The lock expired (deleted behind the holder's back), or was taken.
    let third = token("third", now() + 3600, "refresh-3");
    let logout = Entry::Ended(LoginEnded::logout([]));
    for theft in ["expired", "taken"] {
        match theft {
            "expired" => redis::cmd("DEL")
                .arg(lock_key)
                .query::<()>(&mut raw)
                .unwrap(),
            _ => put(&mut raw, lock_key, "another-instance", None),
        }
        for message in [
            cache_message(cache.write(&Entry::Token(third.clone()), &guard)),
            cache_message(cache.write(&logout, &guard)),
        ] {
            assert!(message.contains("was lost"), "{theft}: {message}");
            assert!(message.contains(lock_key), "{theft}: {message}");
            assert!(
                message.starts_with(&redis.shown_url()),
                "{theft}: {message}"
            );
        }
        assert_eq!(get(&mut raw, key), stored_by_holder, "{theft}: untouched");
    }
    drop(guard);
    assert_eq!(
        get(&mut raw, lock_key).as_deref(),
        Some("another-instance"),
        "the late release leaves the other instance's lock"
    );

    // Holding nothing, it may not write while another instance holds it...
    for message in [
        cache_message(cache.write(&Entry::Token(third.clone()), &CacheLock::none())),
        cache_message(cache.write(&logout, &CacheLock::none())),
    ] {
        assert!(message.contains("held by another"), "{message}");
    }
    // ...and `set` and `clear`, which take the lock, wait for it (here
    // until a short lock wait runs out).
    let impatient = redis.cache(key).with_lock_wait(ms(200));
    for message in [
        cache_message(impatient.set(&third)),
        cache_message(impatient.clear()),
    ] {
        assert!(message.contains("still held"), "{message}");
    }
    assert_eq!(get(&mut raw, key), stored_by_holder, "untouched");
    // ...and may once nobody does.
    redis::cmd("DEL")
        .arg(lock_key)
        .query::<()>(&mut raw)
        .unwrap();
    cache.set(&third).unwrap();
    assert_eq!(cache.get().unwrap(), Some(third.clone()));
    cache.clear().unwrap();
    assert_eq!(cache.get().unwrap(), None);
    let record = cache.read().unwrap().and_then(|e| e.ended().cloned());
    assert!(
        record.is_some_and(|r| r.ends(third.refresh_token.as_ref().unwrap())),
        "a logout record naming the login, not a deleted key"
    );
    assert!(exists(&mut raw, key));
}

#[test]
fn a_renewal_that_finds_the_lock_gone_marks_the_guard_lost() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let key = "spotify:token:lost";
    let lock_key = "spotify:token:lost:lock";
    let cache = redis.cache(key).with_lock_ttl(ms(300));
    let stored = token("stored", now() + 3600, "r");
    cache.set(&stored).unwrap();
    for theft in ["expired", "taken"] {
        let guard = cache.lock().unwrap();
        std::thread::sleep(ms(400));
        assert!(!cache.lock_lost(), "{theft}: renewed, not lost");
        match theft {
            "expired" => redis::cmd("DEL")
                .arg(lock_key)
                .query::<()>(&mut raw)
                .unwrap(),
            _ => put(&mut raw, lock_key, "another-instance", Some(60_000)),
        }
        wait_until("the renewal to notice", || cache.lock_lost());
        assert!(
            !cache.confirm_lock(&guard).unwrap(),
            "{theft}: no longer held"
        );
        let late = Entry::Token(token("late", now() + 3600, "r"));
        let message = cache_message(cache.write(&late, &guard));
        assert!(message.contains("was lost"), "{theft}: {message}");
        assert_eq!(cache.get().unwrap(), Some(stored.clone()), "{theft}");
        drop(guard);
        assert!(!cache.lock_lost(), "{theft}: over with the guard");
        redis::cmd("DEL")
            .arg(lock_key)
            .query::<()>(&mut raw)
            .unwrap();
    }
}

#[test]
fn a_refresh_whose_lock_was_taken_mid_flight_does_not_write_but_keeps_the_token() {
    let redis = RedisServer::start();
    let server = fake();
    let mut raw = redis.raw();
    for mode in Mode::all() {
        let key = format!("spotify:token:stolen:{}", mode.name());
        let lock_key = format!("{key}:lock");
        let cache = Arc::new(redis.cache(&key).with_lock_ttl(Duration::from_secs(30)));
        let refresh = server.issue_refresh_token(ID, "user-read-email");
        cache.set(&token("expired", now() - 1, &refresh)).unwrap();
        let stored = get(&mut raw, &key);
        let before = server.token_request_count();
        server.inject(Fault::Delay(ms(800)), 1);
        let accounts = client(server.url());

        let (result, write_error) = std::thread::scope(|s| {
            let flow = s.spawn(|| {
                let flow = Flow::new(mode, &accounts, cache.clone());
                let result = flow.get_access_token();
                (result, flow.cache_write_error())
            });
            wait_until("the refresh request", || {
                server.token_request_count() > before
            });
            // Another machine takes the lock while the refresh is in flight,
            // once the holder's in-flight marker is gone (expired: here
            // deleted); while it stands, the holder would write through it
            // (tests/redis_in_flight.rs).
            put(&mut raw, &lock_key, "another-instance", None);
            redis::cmd("DEL")
                .arg(cache.in_flight_key())
                .query::<()>(&mut raw)
                .unwrap();
            flow.join().unwrap()
        });
        // The token Spotify issued is adopted (never dropped), and the
        // fenced write is refused: the failure is there to see.
        assert!(result.is_ok(), "{mode:?}: {result:?}");
        let message = cache_message::<()>(Err(write_error.expect("the write failed")));
        assert!(message.contains("was lost"), "{mode:?}: {message}");
        assert_eq!(get(&mut raw, &key), stored, "{mode:?}: token untouched");
        assert_eq!(
            get(&mut raw, &lock_key).as_deref(),
            Some("another-instance"),
            "{mode:?}: the other instance's lock survives"
        );
        assert_eq!(server.token_request_count() - before, 1, "{mode:?}");
    }
}

#[test]
fn a_second_lock_on_the_same_instance_waits_for_the_first_guard() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let key = "spotify:token:shared-instance";
    let lock_key = "spotify:token:shared-instance:lock";

    // Not reentrant: a second lock() waits, here until its lock wait.
    let impatient = redis.cache(key).with_lock_wait(ms(300));
    let first = impatient.lock().unwrap();
    let started = Instant::now();
    let message = cache_message(impatient.lock());
    assert!(message.contains("still held"), "{message}");
    assert!(started.elapsed() >= ms(300));
    drop(first);

    // It gets the lock once the first guard is dropped, with an owner of its
    // own, and the instance's writes follow the new owner.
    let cache = Arc::new(redis.cache(key).with_lock_wait(Duration::from_secs(10)));
    let first = cache.lock().unwrap();
    let first_owner = get(&mut raw, lock_key).unwrap();
    assert!(cache.confirm_lock(&first).unwrap(), "held");
    cache
        .write(
            &Entry::Token(token("under-first", now() + 3600, "r")),
            &first,
        )
        .unwrap();
    let started = Instant::now();
    let (second, released_at) = std::thread::scope(|s| {
        let releaser = s.spawn(move || {
            std::thread::sleep(ms(300));
            drop(first);
            Instant::now()
        });
        let second = cache.lock().unwrap();
        (second, releaser.join().unwrap())
    });
    assert!(started.elapsed() >= ms(300), "waited for the first guard");
    assert!(Instant::now() >= released_at);
    let second_owner = get(&mut raw, lock_key).unwrap();
    assert_ne!(second_owner, first_owner);
    cache
        .write(
            &Entry::Token(token("under-second", now() + 3600, "r")),
            &second,
        )
        .unwrap();
    assert_eq!(
        cache.get().unwrap().unwrap().access_token.secret(),
        "under-second"
    );
    drop(second);
    assert!(!exists(&mut raw, lock_key));
}

/// Row 3 of the lifecycle's fault table: the app's own `clear()` (a logout)
/// on the very instance whose refresh holds the Redis lock. The fence is the
/// refresh's guard, not the instance: the logout waits for the refresh and
/// is written after it, so the user ends logged out (before, the logout
/// passed the instance's fence and the refresh wrote the token back).
#[test]
fn an_apps_own_logout_during_a_refresh_on_the_same_instance_wins() {
    let redis = RedisServer::start();
    let server = fake();
    let mut raw = redis.raw();
    for mode in Mode::all() {
        let key = format!("spotify:token:own-logout:{}", mode.name());
        let cache = Arc::new(redis.cache(&key).with_lock_ttl(Duration::from_secs(30)));
        let refresh = server.issue_refresh_token(ID, "user-read-email");
        cache.set(&token("expired", now() - 1, &refresh)).unwrap();
        let before = server.token_request_count();
        server.inject(Fault::Delay(ms(400)), 1);
        let accounts = client(server.url());
        let (refreshed, cleared) = std::thread::scope(|s| {
            let flow = s.spawn(|| Flow::new(mode, &accounts, cache.clone()).get_access_token());
            wait_until("the refresh request", || {
                server.token_request_count() > before
            });
            // The app logs out through the same cache instance meanwhile.
            let cleared = cache.clear();
            (flow.join().unwrap(), cleared)
        });
        assert!(refreshed.is_ok(), "{mode:?}: {refreshed:?}");
        assert!(cleared.is_ok(), "{mode:?}: {cleared:?}");
        assert_eq!(
            cache.get().unwrap(),
            None,
            "{mode:?}: logged out in the end"
        );
        let stored = get(&mut raw, &key).unwrap();
        assert!(stored.contains("login_ended"), "{mode:?}: {stored}");
        // The logged-out login (the refreshed one) is named: never sent.
        let record = cache
            .read()
            .unwrap()
            .and_then(|e| e.ended().cloned())
            .unwrap();
        assert_eq!(record.len(), 1, "{mode:?}");
        let again = Flow::new(mode, &accounts, cache.clone()).get_access_token();
        assert!(again.is_err(), "{mode:?}: {again:?}");
        assert_eq!(
            server.token_request_count() - before,
            1,
            "{mode:?}: one request"
        );
    }
}
