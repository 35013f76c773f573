//! Issue 17, item 1: login attempts in Redis (`RedisStore::attempt_store`),
//! against a real `redis-server`: saved with the attempt's lifetime as TTL,
//! taken once by one replica, keyed by a hash (no state, session or
//! verifier in a key name), never shown in `Debug` or an error.
#![cfg(all(feature = "redis", any(feature = "blocking", feature = "async")))]

mod common;
mod redis_support;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use redis_support::{RedisServer, wait_until};
use spotify_auth::{AttemptStore, AuthorizationAttempt, Error, PkceVerifier};

/// An attempt as `authorization_attempt` makes one (through a flow, since
/// the type cannot be built outside the crate).
fn attempt() -> AuthorizationAttempt {
    #[cfg(feature = "blocking")]
    let auth = spotify_auth::blocking::AuthorizationCode::builder();
    #[cfg(not(feature = "blocking"))]
    let auth = spotify_auth::asynchronous::AuthorizationCode::builder();
    let auth = auth
        .read_environment(false)
        .client_id("attempts-client")
        .redirect_uri("http://127.0.0.1:8888/callback")
        .build()
        .unwrap();
    let attempt = auth.authorization_attempt(None, false).unwrap();
    assert!(attempt.pkce_verifier.is_some(), "a public client: PKCE");
    attempt
}

fn keys(raw: &mut redis::Connection) -> Vec<String> {
    redis::cmd("KEYS").arg("*").query(raw).unwrap()
}

#[test]
fn an_attempt_is_taken_once_by_its_session_and_expires() {
    let redis = RedisServer::start();
    let mut raw = redis.raw();
    let attempts = redis.store().attempt_store();
    let login = attempt();
    let verifier = login
        .pkce_verifier
        .clone()
        .map(PkceVerifier::into_secret)
        .unwrap();
    attempts.save("session-a", &login).unwrap();

    let stored = keys(&mut raw);
    assert_eq!(stored.len(), 1);
    let key = &stored[0];
    assert!(key.starts_with("spotify:login:"), "{key}");
    assert!(
        !key.contains(&login.state) && !key.contains("session-a"),
        "{key}"
    );
    let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut raw).unwrap();
    assert!(
        (1..=600_000).contains(&ttl),
        "expires with the attempt: {ttl}"
    );

    let not_found = |r: spotify_auth::Result<_>| matches!(r, Err(Error::AttemptNotFound));
    assert!(
        not_found(attempts.take("session-b", &login.state)),
        "another session"
    );
    assert!(not_found(attempts.take("session-a", "forged-state")));
    assert!(not_found(attempts.take("session-a", "")));
    let taken = attempts.take("session-a", &login.state).unwrap();
    assert_eq!(taken.pkce_verifier.unwrap().secret(), verifier);
    assert!(
        not_found(attempts.take("session-a", &login.state)),
        "a replay"
    );
    assert!(keys(&mut raw).is_empty());

    // A short lifetime: gone by itself.
    let short = redis
        .store()
        .attempt_store()
        .with_lifetime(Duration::from_millis(30));
    short.save("session-a", &login).unwrap();
    wait_until("the attempt expires", || keys(&mut raw).is_empty());
    assert!(not_found(short.take("session-a", &login.state)));
}

#[test]
fn of_replicas_taking_one_attempt_at_once_one_gets_it() {
    let redis = RedisServer::start();
    let replicas: Vec<_> = (0..4)
        .map(|_| Arc::new(redis.store().attempt_store()))
        .collect();
    for round in 0..20 {
        let login = attempt();
        replicas[round % 4].save("s", &login).unwrap();
        let barrier = Arc::new(Barrier::new(replicas.len()));
        let takers: Vec<_> = replicas
            .iter()
            .map(|replica| {
                let (replica, barrier, state) =
                    (replica.clone(), barrier.clone(), login.state.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    replica.take("s", &state)
                })
            })
            .collect();
        let results: Vec<_> = takers.into_iter().map(|t| t.join().unwrap()).collect();
        let got = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(got, 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .all(|r| r.is_ok() || matches!(r, Err(Error::AttemptNotFound)))
        );
    }
}

#[test]
fn no_secret_in_debug_or_errors() {
    let redis = RedisServer::with_password("redis-pass-secret");
    let attempts = redis.store().attempt_store().with_prefix("app:login:");
    let login = attempt();
    attempts.save("session-secret", &login).unwrap();
    let taken = attempts.take("session-secret", &login.state).unwrap();
    let verifier = taken.pkce_verifier.as_ref().unwrap().secret().to_owned();
    let shown = format!("{attempts:?} {taken:?} {login:?}");
    for secret in [
        &verifier,
        &login.state,
        "session-secret",
        "redis-pass-secret",
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("app:login:"), "{shown}");
    // A server that went away: an error naming the server, nothing else.
    let url = redis.url();
    drop(redis);
    let e = attempts.save("session-secret", &login).unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(matches!(e, Error::Cache { .. }), "{e:?}");
    for secret in [
        &verifier,
        &login.state,
        "session-secret",
        "redis-pass-secret",
    ] {
        assert!(!text.contains(secret), "{text}");
    }
    let _ = url;
}
