//! [`RedisAttemptStore`]: the logins in progress of every replica, in Redis:
//! one key per attempt, expiring with it, taken by one script that reads
//! and deletes it.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use redis::Script;

use super::pool::{Pool, PoolError};
use crate::attempt_store::{AttemptStore, DEFAULT_LIFETIME, SavedAttempt, id_to_save, id_to_take};
use crate::{AuthorizationAttempt, Error, PkceVerifier, Result};

/// The largest stored attempt read back (64 KiB; one is under 200 bytes).
const MAX_VALUE_SIZE: usize = 64 << 10;

/// Returns the key's value and deletes it, in one step: of two callers,
/// one gets the value and the other nothing (`GETDEL` needs Redis 6.2).
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"local v = redis.call("get", KEYS[1]) if v then redis.call("del", KEYS[1]) end return v"#,
    )
});

/// What is stored for an attempt.
#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    pkce_verifier: Option<PkceVerifier>,
}

/// Authorization attempts kept in Redis, shared by every replica of a
/// service (feature `redis`): made by
/// [`RedisStore::attempt_store`](super::RedisStore::attempt_store), sharing
/// the store's connections. See [`AttemptStore`] for how to use one.
///
/// ```no_run
/// use std::time::Duration;
/// use spotify_auth::RedisStore;
///
/// let store = RedisStore::open("rediss://:password@redis.internal:6380/0")?;
/// let attempts = store
///     .attempt_store()                     // keys spotify:login:{hash}
///     .with_lifetime(Duration::from_secs(5 * 60));
/// # let _ = attempts;
/// # Ok::<(), spotify_auth::Error>(())
/// ```
///
/// Each attempt is one key, `{prefix}{id}`, the id being the base64url
/// SHA-256 of the session and the state (neither is stored, and a key
/// reveals neither), holding the PKCE verifier as JSON, set with
/// `SET ... PX` to expire after the lifetime (default 10 minutes). Taking
/// it reads and deletes it in one script: one replica gets it, whatever
/// the others do at the same time. A failure is an [`Error::Cache`] whose
/// message starts with the server's URL without its password, and never
/// shows a key's value.
pub struct RedisAttemptStore {
    pool: Arc<Pool>,
    prefix: String,
    lifetime: Duration,
}

impl RedisAttemptStore {
    /// The default key prefix: `spotify:login:`.
    pub const DEFAULT_PREFIX: &'static str = "spotify:login:";

    pub(super) fn new(pool: Arc<Pool>) -> Self {
        RedisAttemptStore {
            pool,
            prefix: Self::DEFAULT_PREFIX.to_owned(),
            lifetime: DEFAULT_LIFETIME,
        }
    }

    /// The prefix of the attempts' keys (default `spotify:login:`).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long an attempt can be taken after it was saved (default 10
    /// minutes; at least 1 ms): the keys' expiry.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime.max(Duration::from_millis(1));
        self
    }

    /// The prefix in use.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The server's URL without its password, as shown in errors.
    pub fn url(&self) -> &str {
        self.pool.url()
    }

    fn key(&self, id: &[u8; 32]) -> String {
        let mut key = self.prefix.clone();
        URL_SAFE_NO_PAD.encode_string(id, &mut key);
        key
    }

    fn error(&self, doing: &str, e: Option<&PoolError>) -> Error {
        let cause = e.map(|e| format!(": {}", self.pool.describe(e)));
        Error::Cache {
            path: None,
            message: format!("{}: {doing}{}", self.pool.url(), cause.unwrap_or_default()),
            source: None,
        }
    }
}

impl AttemptStore for RedisAttemptStore {
    fn save(&self, session: &str, attempt: &AuthorizationAttempt) -> Result<()> {
        let key = self.key(&id_to_save(session, attempt)?);
        let value = serde_json::to_vec(&Stored {
            pkce_verifier: attempt.pkce_verifier.clone(),
        })
        .map_err(|_| self.error("cannot encode a login attempt", None))?;
        let ttl_ms = u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX);
        self.pool
            .run(|conn| {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(&value)
                    .arg("PX")
                    .arg(ttl_ms)
                    .query::<()>(conn)
            })
            .map_err(|e| self.error("cannot save a login attempt", Some(&e)))
    }

    fn take(&self, session: &str, state: &str) -> Result<SavedAttempt> {
        let key = self.key(&id_to_take(session, state)?);
        let value: Option<Vec<u8>> = self
            .pool
            .run(|conn| TAKE.key(&key).invoke(conn))
            .map_err(|e| self.error("cannot take a login attempt", Some(&e)))?;
        let value = value.ok_or(Error::AttemptNotFound)?;
        if value.len() > MAX_VALUE_SIZE {
            return Err(self.error("a login attempt's value is too large", None));
        }
        let stored: Stored = serde_json::from_slice(&value)
            .map_err(|_| self.error("a login attempt's value is not one", None))?;
        Ok(SavedAttempt {
            pkce_verifier: stored.pkce_verifier,
        })
    }

    fn lifetime(&self) -> Duration {
        self.lifetime
    }
}

impl fmt::Debug for RedisAttemptStore {
    /// The URL without its password, the prefix and the lifetime.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAttemptStore")
            .field("url", &self.pool.url())
            .field("prefix", &self.prefix)
            .field("lifetime", &self.lifetime)
            .finish()
    }
}
