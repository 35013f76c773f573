//! Issue 17, item 3: a logout on one replica stops every replica's instance
//! of that user within a second, in both modes, against a real
//! `redis-server`: two `RedisStore`s (two replicas) on one server, the
//! logout announced on a stream by the script that writes it, read by each
//! store's watch. Delays are measured and printed (`--nocapture`), and
//! polled with a generous bound rather than asserted.
#![cfg(all(feature = "redis", any(feature = "blocking", feature = "async")))]

mod common;
mod redis_support;

use std::time::{Duration, Instant};

use common::{Flow, Mode};
use redis_support::{ID, RedisServer, client, fake, now, put, token, wait_until};
use spotify_auth::{Entry, Error, LoginEnded, RedisStore, RefreshToken, TokenCache};

/// The ids of the server's watch connections (`spotify-auth-watch`).
fn watch_connections(raw: &mut redis::Connection) -> Vec<String> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(raw).unwrap();
    list.lines()
        .filter(|line| line.contains("name=spotify-auth-watch"))
        .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(str::to_owned)
        .collect()
}

/// Waits until `n` watches are reading the stream (their connection's
/// last command is `XREAD`): positioned, and past their first start.
fn watches_reading(raw: &mut redis::Connection, n: usize) {
    wait_until("the watches read the stream", || {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut *raw).unwrap();
        let reading = list
            .lines()
            .filter(|line| line.contains("name=spotify-auth-watch") && line.contains("cmd=xread"))
            .count();
        reading == n
    });
}

/// Polls `flow` until it refuses to hand out its token: how long that took.
fn until_logged_out(flow: &Flow, what: &str) -> Duration {
    let start = Instant::now();
    wait_until(what, || {
        matches!(flow.get_access_token(), Err(Error::NotAuthorized))
    });
    start.elapsed()
}

/// Two replicas (a store each) holding `key`'s valid token in memory, with
/// their watches running: `(a, b)`.
fn two_replicas(
    redis: &RedisServer,
    mode: Mode,
    accounts: &common::Client,
    key: &str,
    refresh: &str,
) -> (Flow, Flow, RedisStore, RedisStore) {
    let (store_a, store_b) = (redis.store(), redis.store());
    store_a
        .cache(key)
        .set(&token("valid", now() + 3600, refresh))
        .unwrap();
    let a = Flow::new(mode, accounts, store_a.cache(key));
    let b = Flow::new(mode, accounts, store_b.cache(key));
    assert_eq!(a.get_access_token().unwrap(), "valid");
    assert_eq!(b.get_access_token().unwrap(), "valid");
    (a, b, store_a, store_b)
}

#[test]
fn a_logout_on_one_replica_stops_the_other_within_a_second() {
    let redis = RedisServer::start();
    let server = fake();
    let accounts = client(server.url());
    let mut raw = redis.raw();
    for (logouts, mode) in Mode::all().into_iter().enumerate() {
        let key = format!("spotify:token:watch:{}", mode.name());
        let refresh = server.issue_refresh_token(ID, "user-read-email");
        let (a, b, _sa, _sb) = two_replicas(&redis, mode, &accounts, &key, &refresh);
        watches_reading(&mut raw, 2);
        // Replica B's token is valid for an hour: only the watch can stop it.
        assert_eq!(b.get_access_token().unwrap(), "valid");
        let announced = |raw: &mut redis::Connection| -> usize {
            let stream = RedisStore::DEFAULT_LOGOUT_STREAM;
            redis::cmd("XLEN").arg(stream).query(raw).unwrap()
        };
        let before = announced(&mut raw);
        assert_eq!(before, logouts, "a token written is not announced");
        a.logout().unwrap();
        assert_eq!(
            announced(&mut raw),
            before + 1,
            "the logout, and only it, announced"
        );
        let delay = until_logged_out(&b, "B stops handing out the token");
        eprintln!(
            "{mode:?}: replica B refused the token {:.1} ms after replica A's logout returned",
            delay.as_secs_f64() * 1000.0
        );
        assert!(matches!(a.get_access_token(), Err(Error::NotAuthorized)));
        assert_eq!(server.token_request_count(), 0, "{mode:?}: nothing sent");
        // The flows (and their caches) gone, the watches end.
        drop((a, b));
        wait_until("the watches end with their last listener", || {
            watch_connections(&mut raw).is_empty()
        });
    }
}

#[test]
fn a_watch_that_reconnects_catches_up_on_the_logouts_it_missed() {
    let redis = RedisServer::start();
    let server = fake();
    let accounts = client(server.url());
    let mut raw = redis.raw();
    for mode in Mode::all() {
        let key = format!("spotify:token:reconnect:{}", mode.name());
        let refresh = server.issue_refresh_token(ID, "user-read-email");
        let (a, b, _sa, _sb) = two_replicas(&redis, mode, &accounts, &key, &refresh);
        watches_reading(&mut raw, 2);
        // Both watch connections cut; the logout is written while they
        // reconnect.
        for id in watch_connections(&mut raw) {
            redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(&id)
                .query::<()>(&mut raw)
                .unwrap();
        }
        a.logout().unwrap();
        let delay = until_logged_out(&b, "B hears of the logout after reconnecting");
        eprintln!(
            "{mode:?}: after a lost connection, B refused the token {:.1} ms after the logout",
            delay.as_secs_f64() * 1000.0
        );
        assert_eq!(server.token_request_count(), 0);
    }
}

#[test]
fn a_watch_that_may_have_missed_logouts_has_every_flow_consult_its_store() {
    let redis = RedisServer::start();
    let server = fake();
    let accounts = client(server.url());
    let mut raw = redis.raw();
    for mode in Mode::all() {
        let key = format!("spotify:token:lost-stream:{}", mode.name());
        let refresh = server.issue_refresh_token(ID, "user-read-email");
        let (_a, b, store_a, store_b) = two_replicas(&redis, mode, &accounts, &key, &refresh);
        // Another user's logout, which B's watch reads (so it has read the
        // stream past an entry).
        let other = format!("{key}:other");
        let other_refresh = server.issue_refresh_token(ID, "user-read-email");
        store_a
            .cache(&other)
            .set(&token("other", now() + 3600, &other_refresh))
            .unwrap();
        let c = Flow::new(mode, &accounts, store_b.cache(&other));
        assert_eq!(c.get_access_token().unwrap(), "other");
        watches_reading(&mut raw, 2);
        store_a.cache(&other).clear().unwrap();
        until_logged_out(&c, "B's watch reads the other user's logout");
        // The stream is lost (as a restart without persistence loses it)
        // and the user's logout record lands without an announcement (as
        // one written by an older version would); then B's watch loses its
        // connection. Back, it cannot know what it missed: every flow of
        // the store consults its store once.
        redis::cmd("DEL")
            .arg(RedisStore::DEFAULT_LOGOUT_STREAM)
            .query::<()>(&mut raw)
            .unwrap();
        let record = Entry::Ended(LoginEnded::logout([&RefreshToken::new(refresh.clone())]));
        put(&mut raw, &key, &record.to_json(), None);
        assert_eq!(b.get_access_token().unwrap(), "valid", "not told yet");
        for id in watch_connections(&mut raw) {
            redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(&id)
                .query::<()>(&mut raw)
                .unwrap();
        }
        until_logged_out(&b, "B consults the store after the watch lost track");
        assert_eq!(server.token_request_count(), 0);
    }
}
