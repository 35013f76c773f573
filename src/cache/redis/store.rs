//! [`RedisStore`]: one Redis server, one connection pool, and a
//! [`RedisTokenCache`] per key handed out from it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;

use super::RedisTokenCache;
use super::connection::Server;
use super::pool::{Pool, Settings};
use super::watch::Watch;
use crate::{Error, Result};

/// One Redis server and a bounded pool of connections to it, shared by the
/// [`RedisTokenCache`]s it hands out: one per key (per user), for services
/// with many users (feature `redis`).
///
/// ```no_run
/// use std::time::Duration;
/// use spotify_auth::{RedisStore, TokenCache};
///
/// // Once, at start-up: no connection is opened yet.
/// let store = RedisStore::open("rediss://:password@redis.internal:6380/0")?
///     .with_max_connections(4)
///     .with_io_timeout(Duration::from_secs(2));
/// // Per user, whenever needed (give it to that user's flow with
/// // `.token_cache(...)`): no connection, no thread, one allocation.
/// for user in ["alice", "bob"] {
///     let cache = store.cache(format!("spotify:token:{user}"));
///     if let Some(token) = cache.get()? {
///         println!("{user}: expires in {:?}", token.expires_in());
///     }
/// }
/// # Ok::<(), spotify_auth::Error>(())
/// ```
///
/// Settings are chained after the constructor; each returns a store with a
/// pool of its own, so set them before handing out caches. Clones share the
/// pool. [`cache`](Self::cache) is cheap: it opens no connection and costs
/// one allocation (the key); an idle cache costs no thread and no
/// connection. `Debug` shows the URL without its password.
///
/// # Connections
///
/// At most [`max_connections`](Self::with_max_connections) (default 8) are
/// open at once, whatever the number of caches, threads, tasks, lock
/// guards and lock renewals using them. They are opened at the first call
/// that needs one, kept for reuse, and replaced when a server restart broke
/// them. A call that finds them all busy waits for one, up to the I/O
/// timeout, then fails with an [`Error::Cache`] that says so. A call holds a
/// connection only for its round trip (a lock guard holds none while it
/// waits), so a few connections serve many users: only refreshes, about one
/// per user per hour, use Redis at all.
///
/// # TLS without process-wide state
///
/// For `rediss://` this crate makes the connection itself, with a rustls
/// configuration that names its crypto provider: ring (as the rest of the
/// crate) with the system's root certificates (loaded as redis loads them,
/// with `rustls-native-certs`, which honours `SSL_CERT_FILE`), or the
/// configuration given to [`with_tls_config`](Self::with_tls_config) (a
/// private CA, client certificates). Nothing is installed process-wide.
///
/// redis's own TLS code cannot be used that way: for every connection it
/// builds its configuration with `rustls::ClientConfig::builder()`, which
/// reads rustls's process-wide `CryptoProvider` and, when none is
/// installed, installs the one rustls's crate features select (or panics
/// when they select several); it takes neither a provider nor a
/// `ClientConfig` (`redis::Client::build_with_tls` and `TlsCertificates`
/// only supply certificates to that same code). So this crate speaks to
/// redis through its `ConnectionLike` trait over its own TLS stream, with
/// redis's RESP parser. The one exception: a [`redis::Client`] built with
/// `build_with_tls` and given to [`from_client`](Self::from_client) without
/// [`with_tls_config`](Self::with_tls_config) connects through redis's
/// code (its certificates cannot be read back from the client), and so
/// installs ring as the process default if nothing else did.
///
/// Turning certificate checks off (`rediss://...#insecure`) is refused with
/// an error. One Redis server (or a primary behind a proxy): Redis Cluster
/// and Sentinel are not supported.
#[derive(Clone)]
pub struct RedisStore {
    pool: Arc<Pool>,
    lock_ttl: Duration,
    lock_wait: Duration,
    in_flight_ttl: Duration,
    /// The watch for logouts, shared by the caches handed out.
    watch: Arc<Watch>,
}

impl RedisStore {
    /// The default connect and I/O timeouts: 3 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

    /// The default connection limit: 8.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 8;

    /// The default lock TTL: 15 s. The lock is renewed every third of it
    /// while held, so this bounds only how long a holder that died keeps the
    /// others waiting. See [Choosing the lock TTL](RedisTokenCache#choosing-the-lock-ttl).
    pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(15);

    /// The default lock wait: 180 s, above the slowest refresh the flows'
    /// defaults allow (4 attempts × 30 s + 30 s of backoff = 150 s).
    pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(180);

    /// The default in-flight TTL: 30 s, the flows' default request timeout
    /// (one attempt). See [In flight](RedisTokenCache#in-flight).
    pub const DEFAULT_IN_FLIGHT_TTL: Duration = Duration::from_secs(30);

    /// The default stream logouts are announced on: `spotify-auth:ended`.
    pub const DEFAULT_LOGOUT_STREAM: &'static str = "spotify-auth:ended";

    /// The shortest lock TTL: 10 ms.
    pub(super) const MIN_LOCK_TTL: Duration = Duration::from_millis(10);

    /// The shortest in-flight TTL: 1 ms.
    pub(super) const MIN_IN_FLIGHT_TTL: Duration = Duration::from_millis(1);

    /// A store for the server at `url`: `redis://[[user]:password@]host[:port][/db]`,
    /// `rediss://...` for TLS, or `redis+unix:///path/to/socket[?db=N]`.
    ///
    /// Nothing is connected until the first call. Errors: [`Error::Config`]
    /// (setting `redis_url`) for a URL that is not a Redis URL; the message
    /// never contains the URL.
    pub fn open(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|e| {
            // redis's parse errors describe the problem, never the URL itself.
            Error::config("redis_url", format!("not a valid Redis URL: {e}"))
        })?;
        Ok(Self::from_client(client))
    }

    /// A store for the server `client` connects to, for settings a URL cannot
    /// carry. For TLS settings prefer [`with_tls_config`](Self::with_tls_config):
    /// see [TLS](Self#tls-without-process-wide-state).
    ///
    /// Nothing is connected until the first call.
    pub fn from_client(client: redis::Client) -> Self {
        let pool = Arc::new(Pool::new(Settings {
            server: Server { client, tls: None },
            connect_timeout: Self::DEFAULT_TIMEOUT,
            io_timeout: Self::DEFAULT_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }));
        RedisStore {
            watch: Watch::new(pool.clone(), Self::DEFAULT_LOGOUT_STREAM.to_owned()),
            pool,
            lock_ttl: Self::DEFAULT_LOCK_TTL,
            lock_wait: Self::DEFAULT_LOCK_WAIT,
            in_flight_ttl: Self::DEFAULT_IN_FLIGHT_TTL,
        }
    }

    /// A cache for `key` on this store's server, sharing its connections,
    /// with its lock TTL, lock wait and in-flight TTL. Opens nothing; the one
    /// allocation is the key (with `:lock:inflight` appended, for the keys of
    /// the lock and of the in-flight marker).
    pub fn cache(&self, key: impl AsRef<str>) -> RedisTokenCache {
        RedisTokenCache::new(
            (self.pool.clone(), self.watch.clone()),
            key.as_ref(),
            self.lock_ttl,
            self.lock_wait,
            self.in_flight_ttl,
        )
    }

    /// The login attempts of the stateless web flow, kept in this store's
    /// server and sharing its connections: see [`RedisAttemptStore`](crate::RedisAttemptStore).
    #[cfg(any(feature = "blocking", feature = "async"))]
    pub fn attempt_store(&self) -> crate::RedisAttemptStore {
        crate::RedisAttemptStore::new(self.pool.clone())
    }

    /// The stream a logout written through this store's caches is announced
    /// on, and which their watch reads (default `spotify-auth:ended`): every
    /// replica must use the same. See
    /// [Logouts heard at once](RedisTokenCache#logouts-heard-at-once).
    pub fn with_logout_stream(mut self, stream: impl Into<String>) -> Self {
        self.watch = Watch::new(self.pool.clone(), stream.into());
        self
    }

    /// How many connections may be open at once (default 8; at least 1).
    pub fn with_max_connections(self, max: usize) -> Self {
        self.reconfigured(|s| s.max_connections = max)
    }

    /// How long connecting may take, handshakes included (default 3 s; at
    /// least 1 ms).
    pub fn with_connect_timeout(self, timeout: Duration) -> Self {
        self.reconfigured(|s| s.connect_timeout = timeout)
    }

    /// How long sending a command or waiting for its reply may take, and how
    /// long a call waits for a free connection (default 3 s; at least 1 ms).
    pub fn with_io_timeout(self, timeout: Duration) -> Self {
        self.reconfigured(|s| s.io_timeout = timeout)
    }

    /// The TLS configuration for a `rediss://` server, instead of ring with
    /// the system's root certificates: for a private CA or client
    /// certificates. Build it with `ClientConfig::builder_with_provider` to
    /// keep clear of rustls's process-wide default. Unused for other URLs.
    pub fn with_tls_config(self, config: Arc<ClientConfig>) -> Self {
        self.reconfigured(|s| s.server.tls = Some(config))
    }

    /// The lock TTL of the caches handed out from now on (default 15 s; at
    /// least 10 ms). See [`RedisTokenCache::with_lock_ttl`].
    pub fn with_lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(Self::MIN_LOCK_TTL);
        self
    }

    /// The lock wait of the caches handed out from now on (default 180 s).
    /// See [`RedisTokenCache::with_lock_wait`].
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The in-flight TTL of the caches handed out from now on (default 30 s;
    /// at least 1 ms). See [`RedisTokenCache::with_in_flight_ttl`].
    pub fn with_in_flight_ttl(mut self, ttl: Duration) -> Self {
        self.in_flight_ttl = ttl.max(Self::MIN_IN_FLIGHT_TTL);
        self
    }

    /// The server's URL without its password, as shown in errors.
    pub fn url(&self) -> &str {
        self.pool.url()
    }

    /// The connection limit in use.
    pub fn max_connections(&self) -> usize {
        self.pool.settings().max_connections
    }

    /// The lock TTL given to new caches.
    pub fn lock_ttl(&self) -> Duration {
        self.lock_ttl
    }

    /// The lock wait given to new caches.
    pub fn lock_wait(&self) -> Duration {
        self.lock_wait
    }

    /// The in-flight TTL given to new caches.
    pub fn in_flight_ttl(&self) -> Duration {
        self.in_flight_ttl
    }

    /// This store with `change` made to its settings, and a new pool (and
    /// a new watch on it).
    fn reconfigured(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.pool.settings().clone();
        change(&mut settings);
        self.pool = Arc::new(Pool::new(settings));
        self.watch = Watch::new(self.pool.clone(), self.watch.stream().to_owned());
        self
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.pool.url())
            .field("max_connections", &self.max_connections())
            .finish_non_exhaustive()
    }
}
