//! What the caches report: a `FileTokenCache` waiting for its lock file, and
//! a `RedisTokenCache`'s lock taken, waited for, renewed, lost, released and
//! refused; never a Redis password or lock owner token.

use std::time::{Duration, Instant};

use spotify_auth::{FileTokenCache, TokenCache};

use super::capture::{self, Turn};

/// Waits up to 10 s for `marker` to be captured.
fn wait_for(turn: &Turn, marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !turn.text().contains(marker) {
        assert!(
            Instant::now() < deadline,
            "never captured {marker:?}:\n{}",
            turn.text()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_file_lock_wait_is_reported() {
    let turn = capture::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = FileTokenCache::new(dir.path().join("token.json"));
    let held = cache.lock().unwrap();
    let waiter = {
        let cache = cache.clone();
        std::thread::spawn(move || cache.lock().map(drop))
    };
    wait_for(
        &turn,
        "EVENT DEBUG spotify_auth::cache [] message=waiting for the lock file (held by another process or thread) path=",
    );
    drop(held);
    waiter.join().unwrap().unwrap();
    let text = turn.text();
    let lock_path = cache.lock_path().display().to_string();
    assert!(
        text.contains(&format!(
            "message=took the lock file path={lock_path} waited_ms="
        )),
        "{text}"
    );
}

#[cfg(all(feature = "redis", any(feature = "blocking", feature = "async")))]
#[test]
fn redis_lock_events_show_no_password_or_owner() {
    use super::redis_support::{RedisServer, get};

    const PASSWORD: &str = "tracing-redis-password-5e1b";
    let turn = capture::start();
    let server = RedisServer::with_password(PASSWORD);
    let cache = server
        .cache("tracing:token")
        .with_lock_ttl(Duration::from_millis(150));
    let mut owners = Vec::new();

    // Taken, renewed while held; another instance waits, then gives up.
    let guard = cache.lock().unwrap();
    owners.push(get(&mut server.raw(), "tracing:token:lock").unwrap());
    wait_for(
        &turn,
        "message=renewed the Redis lock key=\"tracing:token:lock\"",
    );
    let other = server
        .cache("tracing:token")
        .with_lock_wait(Duration::from_millis(100));
    assert!(other.lock().is_err());
    // A write without the lock, while it is held, is refused.
    let logout = spotify_auth::Entry::Ended(spotify_auth::LoginEnded::logout([]));
    assert!(
        other
            .write(&logout, &spotify_auth::CacheLock::none())
            .is_err()
    );
    drop(guard);

    // Lost (the key vanished, as in a failover), then released.
    let guard = cache.lock().unwrap();
    owners.push(get(&mut server.raw(), "tracing:token:lock").unwrap());
    redis::cmd("DEL")
        .arg("tracing:token:lock")
        .query::<()>(&mut server.raw())
        .unwrap();
    wait_for(
        &turn,
        "EVENT WARN spotify_auth::cache [] message=lost the Redis lock",
    );
    drop(guard);

    let text = turn.text();
    for marker in [
        "message=took the Redis lock key=\"tracing:token:lock\" waited_ms=",
        "message=waiting for the Redis lock (held by another instance) key=\"tracing:token:lock\"",
        "message=gave up waiting for the Redis lock key=\"tracing:token:lock\" waited_ms=",
        "message=a fenced write was refused: the lock is not ours key=\"tracing:token\" lost=false",
        "message=released the Redis lock key=\"tracing:token:lock\"",
        "message=released the Redis lock: it was no longer ours key=\"tracing:token:lock\"",
    ] {
        assert!(text.contains(marker), "missing {marker:?}:\n{text}");
    }
    assert_eq!(owners.len(), 2);
    for secret in owners.iter().map(String::as_str).chain([PASSWORD]) {
        assert!(secret.len() >= 16);
        assert!(
            !text.contains(secret),
            "{secret:?} is in the capture:\n{text}"
        );
    }
}
