//! `rediss://` against a real TLS-only `redis-server` with a CA of its own
//! (see `redis_support`): round trips and flows in both modes, refusals, and
//! no process-wide rustls `CryptoProvider` installed on the way (checked in
//! child processes of this binary, which start with none: the `child` test
//! does a child's work when `CHILD` is set, and nothing otherwise).
#![cfg(all(feature = "redis", any(feature = "blocking", feature = "async")))]

mod common;
mod redis_support;

use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{Flow, Mode};
use redis_support::{
    ID, RedisServer, cache_message, client, exists, fake, get, now, tls_config, token,
};
use spotify_auth::{RedisStore, RedisTokenCache, TokenCache};

const CHILD: &str = "SPOTIFY_AUTH_REDIS_TLS_TEST_CHILD";

#[test]
fn tls_with_a_private_ca_and_a_password() {
    let password = format!("pw-{:016x}", fastrand::u64(..));
    let redis = RedisServer::with_tls(&password);
    let server = fake();
    let shown = redis.shown_url();
    assert!(shown.starts_with("rediss://"));

    // A rustls configuration that trusts the CA, given to the store.
    let cache = Arc::new(redis.cache("spotify:token:tls"));
    assert_eq!(cache.url(), shown);
    assert!(!format!("{cache:?}").contains(&password));
    let mut refresh = server.issue_refresh_token(ID, "user-read-email");
    for mode in Mode::all() {
        cache.set(&token("expired", now() - 1, &refresh)).unwrap();
        let token = Flow::new(mode, &client(server.url()), cache.clone())
            .get_access_token()
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let stored = cache.get().unwrap().unwrap();
        assert_eq!(stored.access_token.secret(), token, "{mode:?}");
        refresh = stored.refresh_token.unwrap().into_secret();
    }
    assert!(!exists(&mut redis.raw(), "spotify:token:tls:lock"));

    // A client built by redis with the CA (redis's own TLS code) still works.
    let through_redis = RedisTokenCache::from_client(redis.client(), "spotify:token:tls");
    assert_eq!(through_redis.get().unwrap(), cache.get().unwrap());

    // The system's roots do not know the CA: refused, an error (no panic)
    // naming the URL without its password.
    let untrusted = RedisTokenCache::open(&redis.url(), "spotify:token:tls").unwrap();
    let message = cache_message(untrusted.get());
    assert!(message.starts_with(&format!("{shown}: ")), "{message}");
    assert!(!message.contains(&password), "{message}");

    // A wrong password: refused, and neither password is shown.
    let wrong = format!("wrong-{password}");
    let url = format!("rediss://:{wrong}@127.0.0.1:{}/0", redis.port);
    let store = RedisStore::open(&url)
        .unwrap()
        .with_tls_config(tls_config(&std::fs::read(redis.ca_path()).unwrap()));
    let error = store.cache("k").get().unwrap_err();
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(&password), "{text}");
        assert!(text.contains(&shown), "{text}");
    }

    // `#insecure` (no certificate checks) is refused: an error too.
    let insecure = format!("{}#insecure", redis.url());
    let message = cache_message(RedisTokenCache::open(&insecure, "k").unwrap().get());
    assert!(
        message.starts_with(&format!("{shown}#insecure: ")),
        "{message}"
    );
    assert!(!message.contains(&password), "{message}");
}

#[test]
fn tls_selects_the_database_and_speaks_resp3_when_asked() {
    let password = format!("pw-{:016x}", fastrand::u64(..));
    let redis = RedisServer::with_tls(&password);
    let config = tls_config(&std::fs::read(redis.ca_path()).unwrap());
    let mut raw = redis.raw();
    for (query, key) in [
        ("", "spotify:token:db3"),
        ("?protocol=resp3", "spotify:token:resp3"),
    ] {
        let url = format!(
            "rediss://default:{password}@127.0.0.1:{}/3{query}",
            redis.port
        );
        let cache = RedisStore::open(&url)
            .unwrap()
            .with_tls_config(config.clone())
            .cache(key);
        let stored = token("access", now() + 3600, "refresh");
        cache.set(&stored).unwrap();
        assert_eq!(cache.get().unwrap(), Some(stored.clone()), "{query}");
        drop(cache.lock().unwrap());
        redis::cmd("SELECT").arg(3).query::<()>(&mut raw).unwrap();
        assert_eq!(
            get(&mut raw, key),
            Some(stored.to_json()),
            "{query}: in db 3"
        );
        redis::cmd("SELECT").arg(0).query::<()>(&mut raw).unwrap();
        assert_eq!(get(&mut raw, key), None, "{query}: not in db 0");
    }
}

/// Whether rustls has a process-wide default provider in this process.
fn has_default_provider() -> bool {
    rustls::crypto::CryptoProvider::get_default().is_some()
}

/// Set, get, lock and clear through `cache`.
fn round_trip(cache: &RedisTokenCache) {
    let stored = token("access", now() + 3600, "refresh");
    cache.set(&stored).unwrap();
    assert_eq!(cache.get().unwrap(), Some(stored));
    let guard = cache.lock().unwrap();
    let logout = spotify_auth::Entry::Ended(spotify_auth::LoginEnded::logout([]));
    cache.write(&logout, &guard).unwrap();
    drop(guard);
    assert_eq!(cache.get().unwrap(), None);
    cache.clear().unwrap();
}

/// A child's side, selected by the first field of `CHILD`, each printing
/// `DEFAULT:none` or `DEFAULT:installed` after TLS round trips:
///
/// - `own|redis|ca_file`: through a store given a configuration for the CA,
///   and through [`RedisTokenCache::open`] with the system's roots (the
///   parent points `SSL_CERT_FILE` at the CA);
/// - `redis|redis|ca_file`: through a client redis built with the CA
///   (`build_with_tls`), which goes through redis's own TLS code.
#[test]
fn child() {
    let Ok(spec) = std::env::var(CHILD) else {
        return; // Not a child: nothing to do.
    };
    assert!(!has_default_provider(), "a child starts with none");
    let parts: Vec<&str> = spec.split('|').collect();
    match parts[..] {
        ["own", url, ca_file] => {
            let ca = std::fs::read(ca_file).unwrap();
            let store = RedisStore::open(url)
                .unwrap()
                .with_tls_config(tls_config(&ca));
            round_trip(&store.cache("spotify:token:own-config"));
            round_trip(&RedisTokenCache::open(url, "spotify:token:system-roots").unwrap());
        }
        ["redis", url, ca_file] => {
            let client = redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(std::fs::read(ca_file).unwrap()),
                },
            )
            .unwrap();
            round_trip(&RedisTokenCache::from_client(
                client,
                "spotify:token:redis-tls",
            ));
        }
        _ => panic!("bad child spec {spec}"),
    }
    let state = if has_default_provider() {
        "installed"
    } else {
        "none"
    };
    println!("\nDEFAULT:{state}");
}

/// Runs the child `spec` with `SSL_CERT_FILE` set to `ca_file`; what it
/// printed after `DEFAULT:`.
fn default_provider_after(spec: String, ca_file: &std::path::Path) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, spec)
        .env("SSL_CERT_FILE", ca_file)
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("DEFAULT:"))
        .unwrap_or_else(|| panic!("no result in {stdout}"))
        .to_owned()
}

#[test]
fn tls_round_trips_install_no_process_wide_crypto_provider() {
    let redis = RedisServer::with_tls(&format!("pw-{:016x}", fastrand::u64(..)));
    let ca = redis.ca_path();
    assert_eq!(
        default_provider_after(format!("own|{}|{}", redis.url(), ca.display()), &ca),
        "none",
        "this crate's TLS connections name their provider"
    );
    // The exception the docs state: redis's own TLS code installs one.
    assert_eq!(
        default_provider_after(format!("redis|{}|{}", redis.url(), ca.display()), &ca),
        "installed",
        "redis's ClientConfig::builder() installs the process default"
    );
}
