//! What a program outside the crate builds itself, built the way the
//! README's changelog says (the data types are `#[non_exhaustive]`): tokens
//! to seed a cache, a retry policy, a token cache and an attempt store of
//! its own with the errors they return, and the foreign types named
//! through `spotify_auth::deps`.

use std::sync::Mutex;

use spotify_auth::{CacheLock, Entry, Error, InMemoryTokenCache, Result, TokenCache, TokenInfo};

/// A cache of one's own (a database, say), failing when told to.
#[derive(Default)]
struct TableCache {
    row: Mutex<Option<String>>,
    down: Mutex<bool>,
}

impl TokenCache for TableCache {
    fn read(&self) -> Result<Option<Entry>> {
        if *self.down.lock().unwrap() {
            let cause = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer");
            return Err(Error::cache_with_source("cannot read the row", cause));
        }
        match &*self.row.lock().unwrap() {
            Some(json) => Entry::from_json(json.as_bytes())
                .map(Some)
                .map_err(Error::cache),
            None => Ok(None),
        }
    }

    fn write(&self, entry: &Entry, _lock: &CacheLock) -> Result<()> {
        if *self.down.lock().unwrap() {
            return Err(Error::cache("the table is read-only"));
        }
        *self.row.lock().unwrap() = Some(entry.to_json());
        Ok(())
    }
}

#[test]
fn a_token_is_built_with_its_constructor() {
    let token = TokenInfo::new("BQD-access", 4_000_000_000)
        .with_refresh_token("AQD-refresh")
        .with_scope("user-read-email")
        .with_authorized_at(1_700_000_000);
    assert!(!token.is_expired());
    assert_eq!(token.login_expires_at(), Some(1_700_000_000 + 180 * 86_400));

    // The fields stay public.
    let mut copy = token.clone();
    copy.scope = None;
    assert_ne!(copy, token);

    let cache = InMemoryTokenCache::new();
    cache.set(&token).unwrap();
    assert_eq!(cache.get().unwrap(), Some(token));
}

#[test]
fn a_cache_of_ones_own_reports_its_failures_as_cache_errors() {
    use std::error::Error as _;

    let cache = TableCache::default();
    let token = TokenInfo::new("a", 4_000_000_000).with_refresh_token("r");
    cache.set(&token).unwrap();
    assert_eq!(cache.get().unwrap(), Some(token));

    *cache.down.lock().unwrap() = true;
    let e = cache.get().unwrap_err();
    assert!(
        matches!(&e, Error::Cache { path: None, message, .. } if message == "cannot read the row"),
        "{e:?}"
    );
    assert!(e.source().unwrap().is::<std::io::Error>());
    assert!(matches!(cache.clear(), Err(Error::Cache { .. })));
}

#[cfg(any(feature = "blocking", feature = "async"))]
#[test]
fn a_retry_policy_is_built_with_its_setters() {
    use spotify_auth::RetryPolicy;

    let policy = RetryPolicy::new().with_max_retries(0);
    assert_eq!(policy.max_retries, 0);
    assert_eq!(
        policy.max_total_delay,
        RetryPolicy::default().max_total_delay
    );
}

#[cfg(any(feature = "blocking", feature = "async"))]
mod attempts {
    use super::*;
    use spotify_auth::{AttemptStore, AuthorizationAttempt, PkceVerifier, SavedAttempt};
    use std::collections::HashMap;
    use std::time::Duration;

    /// An attempt store of one's own.
    #[derive(Default)]
    struct MapStore(Mutex<HashMap<(String, String), Option<PkceVerifier>>>);

    impl AttemptStore for MapStore {
        fn save(&self, session: &str, attempt: &AuthorizationAttempt) -> Result<()> {
            if attempt.state.is_empty() {
                return Err(Error::config("state", "an attempt needs a state"));
            }
            self.0.lock().unwrap().insert(
                (session.to_owned(), attempt.state.clone()),
                attempt.pkce_verifier.clone(),
            );
            Ok(())
        }

        fn take(&self, session: &str, state: &str) -> Result<SavedAttempt> {
            self.0
                .lock()
                .unwrap()
                .remove(&(session.to_owned(), state.to_owned()))
                .map(SavedAttempt::new)
                .ok_or(Error::AttemptNotFound)
        }

        fn lifetime(&self) -> Duration {
            Duration::from_secs(600)
        }
    }

    #[test]
    fn an_attempt_store_of_ones_own_can_be_written() {
        let store = MapStore::default();
        let verifier = PkceVerifier::new("v".repeat(43));
        let attempt = AuthorizationAttempt::new(
            "https://accounts.spotify.com/authorize?state=s1",
            "s1",
            Some(verifier.clone()),
        );
        store.save("session", &attempt).unwrap();
        let saved = store.take("session", "s1").unwrap();
        assert_eq!(saved.pkce_verifier, Some(verifier));
        assert!(matches!(
            store.take("session", "s1"),
            Err(Error::AttemptNotFound)
        ));
        let no_state = AuthorizationAttempt::new("https://example.invalid", "", None);
        assert!(matches!(
            store.save("session", &no_state),
            Err(Error::Config {
                setting: "state",
                ..
            })
        ));
    }
}

/// The re-exports are the very types the API takes.
#[allow(dead_code)]
mod foreign_types {
    #[cfg(feature = "blocking")]
    fn blocking_client(
        agent: spotify_auth::deps::ureq::Agent,
    ) -> spotify_auth::blocking::HttpClient {
        agent
    }

    #[cfg(feature = "blocking")]
    fn blocking_middleware(
        mw: spotify_auth::blocking::WebApiMiddleware,
    ) -> impl spotify_auth::deps::ureq::middleware::Middleware {
        mw
    }

    #[cfg(feature = "async")]
    fn async_client(
        client: spotify_auth::deps::reqwest::Client,
    ) -> spotify_auth::asynchronous::HttpClient {
        client
    }

    #[cfg(feature = "async")]
    fn async_middleware(
        mw: spotify_auth::asynchronous::WebApiMiddleware,
    ) -> impl spotify_auth::deps::reqwest_middleware::Middleware {
        mw
    }

    #[cfg(feature = "redis")]
    fn redis_store(
        client: spotify_auth::deps::redis::Client,
        tls: std::sync::Arc<spotify_auth::deps::rustls::ClientConfig>,
    ) -> spotify_auth::RedisStore {
        spotify_auth::RedisStore::from_client(client).with_tls_config(tls)
    }

    #[cfg(feature = "keyring")]
    fn keyring_cache(
        store: std::sync::Arc<spotify_auth::deps::keyring_core::CredentialStore>,
    ) -> spotify_auth::KeyringTokenCache {
        spotify_auth::KeyringTokenCache::in_store(store, "service", "user")
    }
}
