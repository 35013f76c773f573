//! `SealedCache` over `RedisTokenCache` (features `encryption` and `redis`),
//! against a real `redis-server` of each test's own: what `GET` shows, a
//! value moved to another user's key, tampering, tokens in the clear
//! re-sealed under the Redis lock, guards passing through to the fenced
//! writes, and both flows refreshing through it.
#![cfg(all(
    feature = "encryption",
    feature = "redis",
    any(feature = "blocking", feature = "async")
))]

mod common;
mod redis_support;

use std::sync::Arc;

use common::{Flow, Mode};
use redis_support::{ID, RedisServer, cache_message, client, exists, fake, get, now, put, token};
use spotify_auth::{
    CacheLock, Entry, RedisTokenCache, SealedCache, SealingKey, SealingKeys, TokenCache,
};

fn keys() -> SealingKeys {
    SealingKeys::new(SealingKey::new([0xa5; 32]))
}

fn sealed(redis: &RedisServer, key: &str) -> SealedCache<RedisTokenCache> {
    SealedCache::redis(redis.cache(key), keys())
}

/// A cache error's message, checked to hold none of `secrets` nor the
/// sealed value.
fn sealed_error<T: std::fmt::Debug>(result: spotify_auth::Result<T>, secrets: &[&str]) -> String {
    let message = cache_message(result);
    for secret in secrets {
        assert!(!message.contains(secret), "{message}");
    }
    assert!(!message.contains("spotify-auth-sealed:"), "{message}");
    message
}

#[test]
fn redis_holds_no_token_in_the_clear() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let key = "spotify:token:alice";
    let cache = sealed(&redis, key);
    assert_eq!(cache.place(), key, "bound to its key");
    let t = token("redis-access-SECRET", now() + 3600, "redis-refresh-SECRET");
    cache.set(&t).unwrap();
    let stored = get(&mut raw, key).unwrap();
    assert!(!stored.contains("SECRET"), "{stored}");
    assert!(stored.contains("spotify-auth-sealed:"), "{stored}");
    assert_eq!(cache.get().unwrap(), Some(t));
    assert!(!exists(&mut raw, &format!("{key}:lock")), "set released it");

    cache.clear().unwrap();
    let record = get(&mut raw, key).unwrap();
    assert!(
        record.contains("\"login_ended\":\"logout\""),
        "a record as it is: {record}"
    );
    assert!(!record.contains("SECRET"), "{record}");
    assert!(cache.read().unwrap().unwrap().ended().is_some());
}

#[test]
fn a_value_moved_to_another_users_key_does_not_open() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let alice = sealed(&redis, "spotify:token:alice");
    alice
        .set(&token(
            "alice-access-SECRET",
            now() + 3600,
            "alice-refresh-SECRET",
        ))
        .unwrap();
    let value = get(&mut raw, "spotify:token:alice").unwrap();
    put(&mut raw, "spotify:token:mallory", &value, None);
    let mallory = sealed(&redis, "spotify:token:mallory");
    let message = sealed_error(mallory.get(), &["SECRET"]);
    assert!(message.contains("another place"), "{message}");
    // Nor can it be re-sealed where it does not belong: a lock leaves it.
    drop(mallory.lock().unwrap());
    assert_eq!(get(&mut raw, "spotify:token:mallory").unwrap(), value);

    // A wrong key is an error too, never "nothing stored".
    let wrong = SealedCache::redis(redis.cache("spotify:token:alice"), SealingKey::new([1; 32]));
    sealed_error(wrong.read(), &["SECRET"]);
}

#[test]
fn every_flipped_byte_of_the_value_is_an_error_or_changes_nothing() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let key = "spotify:token:flip";
    let cache = sealed(&redis, key);
    let t = token("flip-access-SECRET", now() + 3600, "flip-refresh-SECRET");
    cache.set(&t).unwrap();
    let original = get(&mut raw, key).unwrap().into_bytes();
    let mut errors = 0;
    for i in 0..original.len() {
        let mut flipped = original.clone();
        flipped[i] ^= 0x01;
        redis::cmd("SET")
            .arg(key)
            .arg(&flipped)
            .query::<()>(&mut raw)
            .unwrap();
        match cache.read() {
            Ok(Some(Entry::Token(read))) if read == t => {}
            other => {
                sealed_error(other, &["SECRET"]);
                errors += 1;
            }
        }
    }
    assert!(
        errors > original.len() - 20,
        "{errors} of {}",
        original.len()
    );
}

#[test]
fn a_token_in_the_clear_is_resealed_under_the_redis_lock_with_its_guard() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let key = "spotify:token:legacy";
    let t = token(
        "legacy-access-SECRET",
        now() + 3600,
        "legacy-refresh-SECRET",
    );
    redis.cache(key).set(&t).unwrap();
    assert!(get(&mut raw, key).unwrap().contains("SECRET"));

    let cache = sealed(&redis, key);
    assert_eq!(cache.get().unwrap(), Some(t.clone()));
    let guard = cache.lock().unwrap();
    assert!(guard.has_lease(), "the Redis guard itself");
    assert!(exists(&mut raw, &format!("{key}:lock")));
    assert!(!get(&mut raw, key).unwrap().contains("SECRET"), "re-sealed");
    // The guard is the Redis cache's own: it confirms, and fences writes.
    assert!(cache.confirm_lock(&guard).unwrap());
    let refused = cache.write(&Entry::Token(t.clone()), &CacheLock::none());
    assert!(
        sealed_error(refused, &["SECRET"]).contains("held by another instance"),
        "a write without the guard is fenced out"
    );
    cache.write(&Entry::Token(t.clone()), &guard).unwrap();
    drop(guard);
    assert_eq!(cache.get().unwrap(), Some(t));
}

#[test]
fn flows_of_both_modes_refresh_through_sealed_redis_once() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let server = fake();
    let key = "spotify:token:shared";
    let cache = Arc::new(sealed(&redis, key));
    let first = server.issue_refresh_token(ID, "user-read-email");
    cache
        .set(&token("expired-access", now() - 1, &first))
        .unwrap();

    // One instance per mode, each with a cache of its own on the same key.
    let flows: Vec<_> = Mode::all()
        .into_iter()
        .map(|mode| {
            (
                mode,
                Flow::new(mode, &client(server.url()), sealed(&redis, key)),
            )
        })
        .collect();
    let mut access = None;
    for (mode, flow) in &flows {
        let got = flow.get_access_token().unwrap();
        assert_eq!(access.get_or_insert_with(|| got.clone()), &got, "{mode:?}");
    }
    assert_eq!(server.token_request_count(), 1, "one refresh between them");
    let access = access.unwrap();
    let stored = cache.get().unwrap().unwrap();
    assert_eq!(stored.access_token.secret(), access);
    let rotated = stored.refresh_token.unwrap().into_secret();
    let value = get(&mut raw, key).unwrap();
    for secret in [&access, &rotated, &first] {
        assert!(!value.contains(secret.as_str()), "{value}");
    }
    for (_, flow) in flows {
        flow.close().unwrap();
    }
}
