//! A login survives its Redis store (issue 15), against real `redis-server`
//! processes, in both modes: data lost by a restart or `FLUSHALL` is
//! written back by the instances holding the login (row 1), and a lease
//! that lapses mid-refresh costs no error while the holder's in-flight
//! marker stands, and never the login (row 2; what a lapse costs once the
//! marker is gone: tests/redis_in_flight.rs).
#![cfg(all(feature = "redis", any(feature = "blocking", feature = "async")))]

mod common;
mod redis_support;

use std::sync::Arc;
use std::time::Duration;

use common::{Flow, Mode};
use redis_support::{ID, RedisServer, client, fake, get, now, token, wait_until};
use spotify_auth::testing::Fault;
use spotify_auth::{EndReason, Entry, TokenCache};

/// The refresh tokens the token endpoint was sent, in order.
fn sent(server: &spotify_auth::testing::FakeSpotify) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter_map(|r| r.form_param("refresh_token").map(str::to_owned))
        .collect()
}

/// Row 1: Redis restarts without persistence (here `FLUSHALL`, and a
/// `DEL` of the key as an eviction) while instances hold a live login:
/// their next refresh writes it back; nobody must log in again.
#[test]
fn a_flushed_or_evicted_key_is_written_back_and_the_login_goes_on() {
    let redis = RedisServer::start();
    let server = fake();
    let mut raw = redis.raw();
    let accounts = client(server.url());
    for mode in Mode::all() {
        for loss in ["FLUSHALL", "DEL"] {
            let key = format!("spotify:token:lost:{}:{loss}", mode.name());
            let cache = Arc::new(redis.cache(&key));
            let refresh = server.issue_refresh_token(ID, "user-read-email");
            cache.set(&token("expired", now() - 1, &refresh)).unwrap();
            let a = Flow::new(mode, &accounts, cache.clone());
            let b = Flow::new(mode, &accounts, cache.clone());
            a.get_access_token().unwrap();
            b.get_access_token().unwrap();
            match loss {
                "FLUSHALL" => redis::cmd("FLUSHALL").query::<()>(&mut raw).unwrap(),
                _ => redis::cmd("DEL").arg(&key).query::<()>(&mut raw).unwrap(),
            }
            assert!(get(&mut raw, &key).is_none(), "{mode:?} {loss}: gone");
            // A's next refresh (a 401 from the Web API, say) finds nothing:
            // it writes the login back, then refreshes with it.
            let refreshed = a.force_refresh();
            let token = refreshed.unwrap_or_else(|e| panic!("{mode:?} {loss}: {e}"));
            let stored = cache.get().unwrap().expect("written back");
            assert_eq!(stored.access_token.secret(), token, "{mode:?} {loss}");
            // B, which held the same login, goes on with A's refresh.
            let from_b = b.force_refresh();
            assert!(from_b.is_ok(), "{mode:?} {loss}: {from_b:?}");
        }
    }
}

/// Row 2: A's lease lapses while its refresh is in flight (the lock key
/// deleted, as a failover or a pause past the TTL would). B takes the lock
/// and, finding A's in-flight marker, waits for it instead of sending the
/// refresh token A's request rotated; A writes its answer through the
/// marker; B reads it. No error, one request; the login goes on. (Before
/// the marker, B sent the same token, was refused and recorded the refusal,
/// which A then wrote over: one extra request and B's error.)
#[test]
fn a_lease_that_lapses_mid_refresh_never_loses_the_login() {
    let redis = RedisServer::start();
    let server = fake();
    let mut raw = redis.raw();
    let accounts = client(server.url());
    for mode in Mode::all() {
        let key = format!("spotify:token:lapse:{}", mode.name());
        let lock_key = format!("{key}:lock");
        let refresh = server.issue_refresh_token(ID, "user-read-email");
        let setup = redis.cache(&key);
        setup.set(&token("expired", now() - 1, &refresh)).unwrap();
        let before = server.token_request_count();
        // Spotify processes A's request at once; its answer comes late.
        server.inject(Fault::DelayResponse(Duration::from_millis(800)), 1);
        let (from_a, from_b, b) = std::thread::scope(|s| {
            let a = s.spawn(|| {
                let a = Flow::new(mode, &accounts, redis.cache(&key));
                let got = a.get_access_token();
                (got, a)
            });
            wait_until("A's request processed", || {
                server.token_request_count() > before
            });
            // The lease lapses.
            redis::cmd("DEL")
                .arg(&lock_key)
                .query::<()>(&mut raw)
                .unwrap();
            let b = Flow::new(mode, &accounts, redis.cache(&key));
            let from_b = b.get_access_token();
            let (from_a, a) = a.join().unwrap();
            a.close().unwrap();
            (from_a, from_b, b)
        });
        let from_a = from_a.unwrap_or_else(|e| panic!("{mode:?}: A keeps its token: {e}"));
        // B waited for A's request in flight, and read its answer.
        assert_eq!(from_b.ok().as_ref(), Some(&from_a), "{mode:?}: B");
        // A's successor was written through its marker.
        let stored = redis.cache(&key).read().unwrap();
        match &stored {
            Some(Entry::Token(t)) => assert_eq!(t.access_token.secret(), from_a, "{mode:?}"),
            other => panic!("{mode:?}: the store holds {other:?}"),
        }
        let again = b.get_access_token();
        assert_eq!(again.unwrap(), from_a, "{mode:?}: B's login goes on");
        let uses = sent(&server).iter().filter(|r| **r == refresh).count();
        assert_eq!(uses, 1, "{mode:?}: no extra request");
        assert!(
            !matches!(stored, Some(Entry::Ended(ref r)) if r.reason() == EndReason::Refused),
            "{mode:?}"
        );
    }
}
