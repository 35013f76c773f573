//! [`RedisTokenCache`]: a token in Redis, shared by processes on several
//! machines, with a distributed lock so that only one of them refreshes it.
//!
//! The struct's documentation is the guide (the lock, choosing its TTL,
//! timeouts, failures, TLS). In short:
//!
//! ```no_run
//! use std::time::Duration;
//! use spotify_auth::{RedisTokenCache, TokenCache};
//!
//! let cache = RedisTokenCache::open("redis://:password@redis.internal:6379/0", "spotify:token:alice")?
//!     .with_lock_ttl(Duration::from_secs(60));
//! let _guard = cache.lock()?; // wait for the other machines sharing the key
//! if let Some(token) = cache.get()? {
//!     println!("cached token expires in {:?}", token.expires_in());
//! }
//! # Ok::<(), spotify_auth::Error>(())
//! ```
//!
//! Files: `connections` (lazy, reused connections with timeouts), `lock`
//! (the `SET NX PX` lock and its owner-only release), `location` (the URL
//! without its password, for messages).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{CacheLock, TokenCache};
use crate::{Error, Result, TokenInfo};

mod connections;
mod location;
mod lock;

use connections::Connections;
use lock::AcquireError;

/// The largest stored value [`get`](TokenCache::get) accepts (1 MiB); a
/// token is a few hundred bytes.
const MAX_VALUE_SIZE: usize = 1 << 20;

/// A token stored in Redis under a key you choose, shared by every process
/// that uses the same server and key, with a distributed refresh lock
/// (feature `redis`).
///
/// ```no_run
/// # #[cfg(feature = "blocking")]
/// # fn main() -> spotify_auth::Result<()> {
/// use std::time::Duration;
/// use spotify_auth::{AuthorizationCode, RedisTokenCache};
///
/// // One key per user (or per app for Client Credentials): you choose it.
/// let cache = RedisTokenCache::open("rediss://:password@redis.internal:6380/0", "spotify:token:alice")?
///     .with_lock_ttl(Duration::from_secs(60));
/// let auth = AuthorizationCode::builder()
///     .client_id("your-client-id")
///     .client_secret("your-client-secret")
///     .redirect_uri("https://app.example.com/callback")
///     .timeout(Duration::from_secs(5)) // a refresh then takes at most 4 × 5 s + 30 s of backoff
///     .token_cache(cache)
///     .build()?;
/// // Every instance of the service does this; when the token expires, one of
/// // them refreshes it and the others read the new token from Redis.
/// let token = auth.get_access_token()?;
/// # let _ = token;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "blocking"))]
/// # fn main() {}
/// ```
///
/// Settings are chained after the constructor, before the cache is used.
/// Share one instance between flows of a process with an `Arc`. `Debug` shows
/// the server's URL without its password, and the key.
///
/// # The token
///
/// Stored as JSON (the format of [`FileTokenCache`](crate::FileTokenCache))
/// under the key, with `GET`, `SET` and `DEL`, and no expiry. A value that is
/// not a token is an [`Error::Cache`] naming the key, never showing the value.
///
/// # The refresh lock
///
/// [`lock`](TokenCache::lock) sets the key `{key}:lock` with
/// `SET {key}:lock <owner> NX PX <ttl>`, the owner being a fresh random
/// token, and tries again every 20–50 ms while another caller (process,
/// machine or thread) holds it. Dropping the guard deletes the key with a
/// script that deletes it only if it still holds that owner, so a holder
/// whose lock expired never deletes its successor's. A holder that dies
/// without releasing keeps the others waiting until the key expires: at most
/// the **lock TTL** (default 160 s, above the slowest refresh the flows'
/// defaults allow). A caller gives up after the **lock wait**
/// (default twice the TTL) with an [`Error::Cache`]. The lock is not
/// reentrant.
///
/// # Choosing the lock TTL
///
/// The lock must outlive the slowest refresh: otherwise a second process may
/// take the expired lock and refresh with the same refresh token while the
/// first is still at it, which fails (and clears the cache) when Spotify
/// rotates refresh tokens. A refresh takes at most
/// `(max_retries + 1) × timeout + backoff`, the backoff being at most the
/// retry policy's `max_total_delay`. With the flows' defaults (3 retries,
/// 30 s timeout, 30 s of backoff) that is 150 s, which the default TTL
/// covers; with a 5 s timeout and the default retries, 50 s. Set
/// [`with_lock_ttl`](Self::with_lock_ttl) above your figure: the price of a
/// long TTL is only how long a holder that crashed mid-refresh keeps the
/// others waiting.
///
/// # Connections, timeouts and failures
///
/// Connections are opened at the first call, not by the constructor, and a
/// few are kept for reuse; one that a server restart broke is replaced on the
/// next call. The connect timeout covers the TCP connection and the
/// handshake (TLS, `AUTH`, `SELECT`), the I/O timeout each command; both
/// default to 3 s, so a dead Redis makes a call fail within seconds, never
/// hang. A failure is an [`Error::Cache`] whose message starts with the
/// server's URL without its password (`redis://127.0.0.1:6379/0: cannot read
/// key "spotify:token:alice": Connection refused (os error 111)`), and the
/// first call after Redis is back succeeds. While Redis is down a token still
/// valid in memory is still served: the flows read the cache only around a
/// refresh.
///
/// # TLS, and what is not supported
///
/// `rediss://` URLs use rustls with the ring provider (as the rest of the
/// crate) and the system's root certificates. For a private CA, or client
/// certificates, build a [`redis::Client`] with
/// `redis::Client::build_with_tls` and pass it to
/// [`from_client`](Self::from_client). Turning certificate checks off
/// (`rediss://...#insecure`) is refused with an error. One Redis server (or a
/// primary behind a proxy): Redis Cluster and Sentinel are not supported.
pub struct RedisTokenCache {
    conns: Arc<Connections>,
    key: String,
    lock_key: String,
    lock_ttl: Duration,
    lock_wait: Option<Duration>,
}

impl RedisTokenCache {
    /// The default connect and I/O timeouts: 3 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

    /// The default lock TTL: 160 s, above the slowest refresh with the flows'
    /// default timeout and retries (150 s).
    pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(160);

    /// A cache for `key` on the server at `url`: `redis://[[user]:password@]host[:port][/db]`,
    /// `rediss://...` for TLS, or `redis+unix:///path/to/socket[?db=N]`.
    ///
    /// Nothing is connected until the first call. Errors: [`Error::Config`]
    /// (setting `redis_url`) for a URL that is not a Redis URL; the message
    /// never contains the URL.
    pub fn open(url: &str, key: impl Into<String>) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|e| {
            // redis's parse errors describe the problem, never the URL itself.
            Error::config("redis_url", format!("not a valid Redis URL: {e}"))
        })?;
        Ok(Self::from_client(client, key))
    }

    /// A cache for `key` on the server `client` connects to, for settings a
    /// URL cannot carry (TLS client certificates, custom root certificates).
    ///
    /// Nothing is connected until the first call.
    pub fn from_client(client: redis::Client, key: impl Into<String>) -> Self {
        let key = key.into();
        RedisTokenCache {
            conns: Arc::new(Connections::new(
                client,
                Self::DEFAULT_TIMEOUT,
                Self::DEFAULT_TIMEOUT,
            )),
            lock_key: format!("{key}:lock"),
            key,
            lock_ttl: Self::DEFAULT_LOCK_TTL,
            lock_wait: None,
        }
    }

    /// How long connecting may take, handshake included (default 3 s; at
    /// least 1 ms).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.conns = Arc::new(self.conns.with_timeouts(timeout, self.conns.io_timeout()));
        self
    }

    /// How long sending a command or waiting for its reply may take (default
    /// 3 s; at least 1 ms).
    pub fn with_io_timeout(mut self, timeout: Duration) -> Self {
        self.conns = Arc::new(
            self.conns
                .with_timeouts(self.conns.connect_timeout(), timeout),
        );
        self
    }

    /// How long the refresh lock lives when its holder does not release it
    /// (default 160 s; at least 1 ms). It must exceed your slowest refresh: see
    /// [Choosing the lock TTL](Self#choosing-the-lock-ttl).
    pub fn with_lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// How long [`lock`](TokenCache::lock) waits for a held lock before it
    /// fails with an [`Error::Cache`] (default twice the lock TTL).
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = Some(wait);
        self
    }

    /// The key the token is stored under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key of the refresh lock: the token's key with `:lock` appended.
    pub fn lock_key(&self) -> &str {
        &self.lock_key
    }

    /// The server's URL without its password, as shown in errors.
    pub fn url(&self) -> &str {
        self.conns.url()
    }

    /// The lock TTL in use.
    pub fn lock_ttl(&self) -> Duration {
        self.lock_ttl
    }

    /// The lock wait in use.
    pub fn lock_wait(&self) -> Duration {
        self.lock_wait.unwrap_or(self.lock_ttl.saturating_mul(2))
    }

    /// An [`Error::Cache`] whose message starts with the server's URL.
    fn error(&self, message: impl fmt::Display) -> Error {
        Error::Cache {
            path: None,
            message: format!("{}: {message}", self.conns.url()),
            source: None,
        }
    }

    /// An [`Error::Cache`] for a failed Redis call: what was being done, and
    /// Redis's description without the password.
    fn redis_error(&self, doing: impl fmt::Display, e: &redis::RedisError) -> Error {
        self.error(format_args!("{doing}: {}", self.conns.describe(e)))
    }
}

impl TokenCache for RedisTokenCache {
    /// The token stored under the key; `None` when the key does not exist.
    ///
    /// A value that is not a token (or over 1 MiB, or not a string) is an
    /// [`Error::Cache`] naming the key, never showing the value; it is left
    /// as it is until the next [`set`](TokenCache::set) or
    /// [`clear`](TokenCache::clear).
    fn get(&self) -> Result<Option<TokenInfo>> {
        let value: Option<Vec<u8>> = self
            .conns
            .run(|conn| redis::cmd("GET").arg(&self.key).query(conn))
            .map_err(|e| self.redis_error(format_args!("cannot read key {:?}", self.key), &e))?;
        let Some(value) = value else {
            return Ok(None);
        };
        if value.len() > MAX_VALUE_SIZE {
            return Err(self.error(format_args!(
                "key {:?}: value too large ({} bytes; a token is at most {MAX_VALUE_SIZE} bytes)",
                self.key,
                value.len()
            )));
        }
        TokenInfo::from_json(&value)
            .map(Some)
            .map_err(|m| self.error(format_args!("key {:?}: {m}", self.key)))
    }

    /// Stores the token under the key (one `SET`: all or nothing), with no
    /// expiry: the refresh token outlives the access token.
    fn set(&self, token: &TokenInfo) -> Result<()> {
        let json = token.to_json();
        self.conns
            .run(|conn| {
                redis::cmd("SET")
                    .arg(&self.key)
                    .arg(&json)
                    .query::<()>(conn)
            })
            .map_err(|e| self.redis_error(format_args!("cannot write key {:?}", self.key), &e))
    }

    /// Deletes the key (a missing key is fine).
    fn clear(&self) -> Result<()> {
        self.conns
            .run(|conn| redis::cmd("DEL").arg(&self.key).query::<()>(conn))
            .map_err(|e| self.redis_error(format_args!("cannot delete key {:?}", self.key), &e))
    }

    /// Takes the refresh lock [`lock_key`](RedisTokenCache::lock_key),
    /// waiting while another process (or thread) holds it, for at most the
    /// lock wait; dropping the returned guard releases it.
    ///
    /// Errors ([`Error::Cache`]): Redis unreachable or failing (at once, not
    /// after the wait), or the lock still held when the wait is over.
    fn lock(&self) -> Result<CacheLock> {
        let owner = lock::new_owner().map_err(Error::random)?;
        let wait = self.lock_wait();
        match lock::acquire(&self.conns, &self.lock_key, owner, self.lock_ttl, wait) {
            Ok(guard) => Ok(CacheLock::new(guard)),
            Err(AcquireError::Redis(e)) => {
                Err(self.redis_error(format_args!("cannot take the lock {:?}", self.lock_key), &e))
            }
            Err(AcquireError::TimedOut) => Err(self.error(format_args!(
                "the lock {:?} is still held by another caller after waiting {} s \
                 (lock TTL {} s; see RedisTokenCache::with_lock_wait)",
                self.lock_key,
                wait.as_secs_f64(),
                self.lock_ttl.as_secs_f64()
            ))),
        }
    }
}

impl fmt::Debug for RedisTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenCache")
            .field("url", &self.conns.url())
            .field("key", &self.key)
            .finish()
    }
}
