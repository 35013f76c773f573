//! [`RedisTokenCache`]: a token in Redis, shared by processes on several
//! machines, with a distributed lock so that only one of them refreshes it;
//! [`RedisStore`]: one connection pool per server for the caches of many
//! users.
//!
//! The structs' documentation is the guide (the lock and its renewal,
//! fenced writes, requests in flight, choosing the TTL, connections,
//! timeouts, failures, TLS).
//! In short:
//!
//! ```no_run
//! use spotify_auth::{RedisStore, TokenCache};
//!
//! let store = RedisStore::open("redis://:password@redis.internal:6379/0")?;
//! let cache = store.cache("spotify:token:alice");
//! let _guard = cache.lock()?; // wait for the other machines sharing the key
//! if let Some(token) = cache.get()? {
//!     println!("cached token expires in {:?}", token.expires_in());
//! }
//! # Ok::<(), spotify_auth::Error>(())
//! ```
//!
//! Files: `store` (the public store), `pool` (the bounded connection pool),
//! `connection` and `tls` (making one connection; TLS without rustls's
//! process default), `lock` (the `SET NX PX` lock, its owner-only release,
//! the state an instance shares with its guards), `watchdog` (renewing a
//! held lock), `fence` (the fenced write script), `in_flight` (the marker
//! of a request in flight: set with the last renewal, waited for by the
//! next holder), `location` (the URL without its password, for messages).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use super::{CacheLock, EndReason, EndedListener, Entry, TokenCache};
use crate::{Error, Result, observe};

#[cfg(any(feature = "blocking", feature = "async"))]
mod attempts;
mod connection;
mod fence;
mod in_flight;
mod location;
mod lock;
mod pool;
mod store;
mod tls;
mod watch;
mod watchdog;

#[cfg(any(feature = "blocking", feature = "async"))]
pub use attempts::RedisAttemptStore;
pub use store::RedisStore;

use lock::{AcquireError, Fence, Holder, LockGuard, LockSpec};
use pool::{Pool, PoolError, Settings};
use watch::Watch;

/// The largest stored value [`get`](TokenCache::get) accepts (1 MiB); a
/// token is a few hundred bytes.
const MAX_VALUE_SIZE: usize = 1 << 20;

/// What the lock's key appends to the token's key.
const LOCK_SUFFIX: &str = ":lock";

/// What the in-flight marker's key appends to the lock's key.
const IN_FLIGHT_SUFFIX: &str = ":inflight";

/// The longest lock wait honoured (about 30 years): a longer one waits this long.
const MAX_LOCK_WAIT: Duration = Duration::from_secs(1 << 30);

/// A token stored in Redis under a key you choose, shared by every process
/// that uses the same server and key, with a distributed refresh lock
/// (feature `redis`).
///
/// ```no_run
/// # #[cfg(feature = "blocking")]
/// # fn main() -> spotify_auth::Result<()> {
/// use std::time::Duration;
/// use spotify_auth::{AuthorizationCode, RedisStore};
///
/// // One store per Redis server, opened once; one key per user (or per app
/// // for Client Credentials): you choose it.
/// let store = RedisStore::open("rediss://:password@redis.internal:6380/0")?;
/// let auth = AuthorizationCode::builder()
///     .client_id("your-client-id")
///     .client_secret("your-client-secret")
///     .redirect_uri("https://app.example.com/callback")
///     .timeout(Duration::from_secs(5)) // a refresh then takes at most 4 × 5 s + 30 s of backoff
///     .token_cache(store.cache("spotify:token:alice"))
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
/// Make caches with [`RedisStore::cache`], which shares the store's
/// connections, or with [`open`](Self::open) for a cache with connections of
/// its own. Settings are chained after the constructor, before the cache is
/// used. Share one instance between flows of a process with an `Arc`.
/// `Debug` shows the server's URL without its password, and the key.
///
/// # The token
///
/// Stored as JSON (the format of [`FileTokenCache`](crate::FileTokenCache))
/// under the key, and no expiry. A value that is not a token is an
/// [`Error::Cache`] naming the key, never showing the value.
///
/// # The refresh lock
///
/// [`lock`](TokenCache::lock) sets the key `{key}:lock` with
/// `SET {key}:lock <owner> NX PX <ttl>`, the owner being a fresh random
/// token, and tries again every 20–50 ms while another caller holds it.
///
/// While the guard lives, a thread of its own renews the lock every third of
/// the **lock TTL** (default 15 s), with a script that extends it only if it
/// still holds the owner token: the lock lasts as long as the guard, however
/// long the refresh takes and whatever the thread holding the guard is
/// doing. If a renewal finds the lock no longer ours (the process was paused
/// longer than the TTL, or a Redis failover lost the key), the guard is
/// marked lost ([`lock_lost`](Self::lock_lost)) and writes made with it
/// fail (unless its request was in flight: see [In flight](Self#in-flight)).
/// Right before a refresh request is sent, the flows renew the lease once
/// more in a round trip ([`confirm_lock`](TokenCache::confirm_lock)), which
/// also marks the request in flight: a holder whose lease lapsed sends
/// nothing. Dropping the guard stops the renewal thread at once and deletes
/// the key (and the guard's in-flight marker) with a script that deletes it
/// only if it still holds the owner, so a late holder never deletes its
/// successor's lock.
///
/// A holder that dies without releasing (killed, crashed, machine lost)
/// stops renewing: the others wait at most one TTL (or, when it died with a
/// request in flight, its in-flight TTL). A waiter waits as long
/// as a live holder keeps the lock, up to its own **lock wait** (default
/// 180 s, above the slowest refresh the flows' defaults allow, 150 s), then
/// fails with an [`Error::Cache`].
///
/// Each instance is one lock holder, as another machine would be, whether
/// it came from a store or from [`open`](Self::open). The lock is not
/// reentrant: while a guard of this instance is alive, a second `lock()` on
/// the same instance (another flow sharing it through an `Arc`, or the same
/// thread) waits for that guard to be dropped, bounded by the lock wait,
/// and then takes the lock in Redis with an owner of its own; it never
/// shares the first guard's ownership.
///
/// # Fenced writes
///
/// Every [`write`](TokenCache::write) runs as one script that checks the
/// lock before writing, fenced by **the guard it is given**, not by the
/// instance. With a guard of this lock, the write happens only if the lock
/// key still holds that guard's owner token, or its in-flight marker still
/// stands (its lease lapsed while its request was in flight, and nothing
/// was written since: see [In flight](Self#in-flight)); otherwise (the
/// lock lapsed or was taken over) it fails with an [`Error::Cache`] saying
/// the lock was lost, and the key is untouched. Without one
/// ([`CacheLock::none()`]), the write happens only if nobody holds the lock
/// and no request is in flight, and otherwise fails with an
/// [`Error::Cache`] saying another caller holds it. The flows write with
/// the guard of the lock they hold; [`set`](TokenCache::set) and
/// [`clear`](TokenCache::clear) take the lock themselves, so an app's own
/// logout made while a refresh holds the lock (on this instance or another)
/// waits for that refresh (and for a request in flight of a holder whose
/// lease lapsed) and is written after it: the user ends logged out.
///
/// # In flight
///
/// A lease can lapse while the refresh request is in flight (the holder
/// paused longer than the TTL, a failover that lost the lock key). Spotify
/// may then have spent the refresh token the store still holds: a holder
/// that takes the lock meanwhile and sends it would be refused, and record
/// the refusal, ending the login for every caller until the first holder
/// writes its answer over it. So right before a request, in the same script
/// that renews the lease ([`confirm_lock`](TokenCache::confirm_lock)), the
/// holder also sets an **in-flight marker**: the key
/// [`in_flight_key`](Self::in_flight_key) (`{key}:lock:inflight`) holding
/// its owner token, for the **in-flight TTL** (default 30 s;
/// [`with_in_flight_ttl`](Self::with_in_flight_ttl)).
///
/// - A holder whose lease lapsed may still write through its marker: a
///   fenced write passes when the lock holds the writer's owner token *or*
///   the marker does. Every write that passes deletes the marker (whoever's
///   it is: once anything was written, a late answer must not go over it),
///   and so does releasing the guard that set it, whether or not the lock
///   is still ours. A holder that went ahead past its lock wait replaces
///   another's marker with its own when it sends: the late answer is then
///   refused too.
/// - A lapsed holder whose own write of the answer fails (its connection to
///   the server fails, the others' does not) owes the write; the flows then
///   keep the lapsed guard instead of releasing it, and retry the write
///   through the marker while
///   [`can_write_after_lapse`](TokenCache::can_write_after_lapse) says the
///   marker still stands (releasing would end the marker, and the next
///   holder would send the refresh token the answer replaced).
/// - [`lock`](TokenCache::lock) that finds another holder's marker takes the
///   lock (renewed as usual) and then waits, polling every 20–50 ms, until
///   the marker is gone: written through, released, or expired. Past its
///   lock wait it goes ahead and reads the store as it is.
///   [`try_lock`](TokenCache::try_lock) takes nothing while a marker stands
///   (someone is refreshing). A write holding no lock is refused while a
///   marker stands, as while the lock is held.
///
/// So a lapse mid-request costs no error and no request when the holder
/// hears its answer, and stores it, within the in-flight TTL: the next
/// holder waits for it and reads the new token. A holder that never hears
/// back, or cannot store what it heard (it crashed, its answer came later
/// than the in-flight TTL, its own writes failed that long) delays the next
/// refresh by at most the in-flight TTL, and then costs at most one extra
/// request: its refusal is an error for the callers that read it until the
/// late holder, if it lives, writes its answer over it (the login goes on).
///
/// Choose the in-flight TTL to cover the token request: the flows'
/// `timeout` (30 s by default, hence the default), or `(max_retries + 1) ×
/// timeout + backoff` to cover its retries too (a marker is set once per
/// refresh, before the first attempt). Longer delays the next refresh after
/// a crash mid-request by as much. With Redis ACLs, key patterns must allow
/// the marker's key as well as the token's and the lock's (`~{key}*` does):
/// a script that cannot set it fails, and the flows then send nothing.
///
/// # A logout is a record
///
/// [`clear`](TokenCache::clear) (and the flows' `logout()`) store a logout
/// record under the key, never delete it: a missing key means the data was
/// lost (a restart without persistence, an eviction, a failover), and every
/// instance still holding the login writes it back.
///
/// # Logouts heard at once
///
/// A flow built on this cache registers with
/// [`watch_ended`](TokenCache::watch_ended); a logout written through any
/// `RedisTokenCache` of the key on the same server (another replica's
/// `logout()`, or [`clear`](TokenCache::clear)) then reaches it within
/// about a second, and it hands out its token no more: its next call reads
/// the store and fails with [`Error::NotAuthorized`]. The flows' hot path
/// stays free of I/O.
///
/// How: the script that writes the logout record also appends the key to
/// a stream (`XADD spotify-auth:ended MAXLEN ~ 10000 * key {key}`; see
/// [`RedisStore::with_logout_stream`]), and each store runs one thread,
/// started by the first `watch_ended` and ended with the last cache that
/// registered, which reads it with `XREAD BLOCK 1000` on a connection of its
/// own (named `spotify-auth-watch`, outside the pool) and tells the
/// listeners of the keys it reads. A stream rather than pub/sub or keyspace
/// notifications: this crate's TLS connections are request/response only,
/// a stream needs no server configuration, and a reader that reconnects
/// catches up from the last entry it saw. Listeners live as long as their
/// cache: dropping it (with its flow) unregisters them, so a service that
/// builds and drops many per-user flows keeps the watch's memory bounded.
///
/// While the watch is down (Redis unreachable, its connection lost) it
/// reconnects with backoff (100 ms doubling to 5 s) and then delivers the
/// logouts written meanwhile, up to the last 10,000; if it may have missed
/// some (at its first start, or when the stream lost entries it had not
/// read) every listener is told to consult its store once. Until it is
/// back, a logout elsewhere reaches a flow at its next refresh, as it does
/// without a watch. Redis 5 or later (streams); an older server still
/// records the logout, and the flows see it at their next refresh.
///
/// # Choosing the lock TTL
///
/// The TTL need not outlive the slowest refresh: the lock is renewed for as
/// long as it is held. The TTL decides two other things:
///
/// - **Crash recovery.** A holder that died keeps the others waiting for at
///   most one TTL (15 s by default). Shorter is faster.
/// - **Stalls.** A renewal starts every TTL/3 and may take up to
///   `2 × io_timeout + connect_timeout` (waiting for a free connection,
///   connecting, the command): 9 s with the 3 s defaults. The lock lapses
///   only if the renewals stop for a whole TTL, so keep the TTL above 1.5 ×
///   that figure (13.5 s with the defaults, hence 15 s), and longer if your
///   processes may be paused for long (a stopped container, a VM
///   migration). A lock that lapsed anyway is reported at the next renewal
///   ([`lock_lost`](Self::lock_lost)) and refused at the next write (see
///   [Fenced writes](Self#fenced-writes)).
///
/// Set the lock wait ([`with_lock_wait`](Self::with_lock_wait)) above your
/// slowest refresh, `(max_retries + 1) × timeout + backoff`: 150 s with the
/// flows' defaults (3 retries, 30 s timeout, 30 s of backoff), 50 s with a
/// 5 s timeout.
///
/// # Connections, timeouts and failures
///
/// See [`RedisStore`] for the connection pool (at most 8 connections by
/// default, shared by every cache of a store). Connections are opened at the
/// first call, not by the constructor; one that a server restart broke is
/// replaced on the next call. The connect timeout covers the TCP connection
/// and the handshake (TLS, `AUTH`, `SELECT`), the I/O timeout each command;
/// both default to 3 s, so a dead Redis makes a call fail within seconds,
/// never hang. A failure is an [`Error::Cache`] whose message starts with
/// the server's URL without its password (`redis://127.0.0.1:6379/0: cannot
/// read key "spotify:token:alice": Connection refused (os error 111)`), and
/// the first call after Redis is back succeeds. While Redis is down a token
/// still valid in memory is still served: the flows read the cache only
/// around a refresh.
///
/// # TLS, and what is not supported
///
/// `rediss://` URLs use rustls with the ring provider (as the rest of the
/// crate), given to each connection explicitly, and the system's root
/// certificates; nothing is installed process-wide. For a private CA or
/// client certificates, give a `rustls::ClientConfig` to
/// [`RedisStore::with_tls_config`]. Why this crate makes TLS connections
/// itself rather than through redis, and the one case that still goes
/// through redis: see [`RedisStore`]'s TLS section. Turning certificate
/// checks off (`rediss://...#insecure`) is refused with an error. One Redis
/// server (or a primary behind a proxy): Redis Cluster and Sentinel are not
/// supported.
pub struct RedisTokenCache {
    pool: Arc<Pool>,
    /// The in-flight marker's key: the token's key with `:lock:inflight`
    /// appended, so that the token's key is its first `key_len` bytes and
    /// the lock's key its first `lock_len` (one allocation for the three).
    keys: String,
    key_len: usize,
    lock_len: usize,
    lock_ttl: Duration,
    lock_wait: Duration,
    in_flight_ttl: Duration,
    /// This instance's lock state, made at its first `lock()`.
    holder: OnceLock<Arc<Holder>>,
    /// The store's watch for logouts written elsewhere.
    watch: Arc<Watch>,
    /// This instance's id among the watch's listeners.
    id: u64,
    /// Whether it registered a listener (to unregister when dropped).
    watching: AtomicBool,
}

impl RedisTokenCache {
    /// The default connect and I/O timeouts: 3 s.
    pub const DEFAULT_TIMEOUT: Duration = RedisStore::DEFAULT_TIMEOUT;

    /// The default lock TTL: 15 s (the lock is renewed while held; see
    /// [Choosing the lock TTL](Self#choosing-the-lock-ttl)).
    pub const DEFAULT_LOCK_TTL: Duration = RedisStore::DEFAULT_LOCK_TTL;

    /// The default lock wait: 180 s, above the slowest refresh with the
    /// flows' default timeout and retries (150 s).
    pub const DEFAULT_LOCK_WAIT: Duration = RedisStore::DEFAULT_LOCK_WAIT;

    /// The default in-flight TTL: 30 s, the flows' default request timeout
    /// (see [In flight](Self#in-flight)).
    pub const DEFAULT_IN_FLIGHT_TTL: Duration = RedisStore::DEFAULT_IN_FLIGHT_TTL;

    /// A cache for `key` on the server at `url`, with connections of its own
    /// (a [`RedisStore`] of its own): `redis://[[user]:password@]host[:port][/db]`,
    /// `rediss://...` for TLS, or `redis+unix:///path/to/socket[?db=N]`.
    /// For many keys on one server, use one [`RedisStore`] instead.
    ///
    /// Nothing is connected until the first call. Errors: [`Error::Config`]
    /// (setting `redis_url`) for a URL that is not a Redis URL; the message
    /// never contains the URL.
    pub fn open(url: &str, key: impl AsRef<str>) -> Result<Self> {
        Ok(RedisStore::open(url)?.cache(key))
    }

    /// A cache for `key` on the server `client` connects to, with
    /// connections of its own, for settings a URL cannot carry. For TLS
    /// settings prefer [`RedisStore::with_tls_config`].
    ///
    /// Nothing is connected until the first call.
    pub fn from_client(client: redis::Client, key: impl AsRef<str>) -> Self {
        RedisStore::from_client(client).cache(key)
    }

    fn new(
        (pool, watch): (Arc<Pool>, Arc<Watch>),
        key: &str,
        lock_ttl: Duration,
        lock_wait: Duration,
        in_flight_ttl: Duration,
    ) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let mut keys =
            String::with_capacity(key.len() + LOCK_SUFFIX.len() + IN_FLIGHT_SUFFIX.len());
        keys.push_str(key);
        keys.push_str(LOCK_SUFFIX);
        let lock_len = keys.len();
        keys.push_str(IN_FLIGHT_SUFFIX);
        RedisTokenCache {
            pool,
            keys,
            key_len: key.len(),
            lock_len,
            lock_ttl,
            lock_wait,
            in_flight_ttl,
            holder: OnceLock::new(),
            watch,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            watching: AtomicBool::new(false),
        }
    }

    /// How long connecting may take, handshake included (default 3 s; at
    /// least 1 ms). This gives the cache connections of its own: for a
    /// cache from a [`RedisStore`], set it on the store instead.
    pub fn with_connect_timeout(self, timeout: Duration) -> Self {
        self.reconfigured(|s| s.connect_timeout = timeout)
    }

    /// How long sending a command or waiting for its reply may take (default
    /// 3 s; at least 1 ms). This gives the cache connections of its own:
    /// for a cache from a [`RedisStore`], set it on the store instead.
    pub fn with_io_timeout(self, timeout: Duration) -> Self {
        self.reconfigured(|s| s.io_timeout = timeout)
    }

    /// How long the refresh lock lives after its last renewal: how long a
    /// holder that died keeps the others waiting (default 15 s; at least
    /// 10 ms). The lock is renewed every third of it while held. See
    /// [Choosing the lock TTL](Self#choosing-the-lock-ttl).
    pub fn with_lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(RedisStore::MIN_LOCK_TTL);
        self
    }

    /// How long the in-flight marker set right before a refresh request
    /// lives (default 30 s, the flows' default request timeout; at least
    /// 1 ms): how long a holder whose lease lapsed mid-request may still
    /// write what it hears, and at most how long a holder that died
    /// mid-request delays the next refresh. Cover the token request: the
    /// flows' `timeout`, or `(max_retries + 1) × timeout + backoff` to
    /// cover its retries too. See [In flight](Self#in-flight).
    pub fn with_in_flight_ttl(mut self, ttl: Duration) -> Self {
        self.in_flight_ttl = ttl.max(RedisStore::MIN_IN_FLIGHT_TTL);
        self
    }

    /// How long [`lock`](TokenCache::lock) waits for a lock held by someone
    /// else (another process, or another guard of this instance) before it
    /// fails with an [`Error::Cache`] (default 180 s). Set it above your
    /// slowest refresh.
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The key the token is stored under.
    pub fn key(&self) -> &str {
        &self.keys[..self.key_len]
    }

    /// The key of the refresh lock: the token's key with `:lock` appended.
    pub fn lock_key(&self) -> &str {
        &self.keys[..self.lock_len]
    }

    /// The key of the in-flight marker: the lock's key with `:inflight`
    /// appended (`{key}:lock:inflight`). It holds the owner token of a
    /// holder whose refresh request may be in flight; see
    /// [In flight](Self#in-flight).
    pub fn in_flight_key(&self) -> &str {
        &self.keys
    }

    /// The server's URL without its password, as shown in errors.
    pub fn url(&self) -> &str {
        self.pool.url()
    }

    /// The lock TTL in use.
    pub fn lock_ttl(&self) -> Duration {
        self.lock_ttl
    }

    /// The lock wait in use.
    pub fn lock_wait(&self) -> Duration {
        self.lock_wait
    }

    /// The in-flight TTL in use.
    pub fn in_flight_ttl(&self) -> Duration {
        self.in_flight_ttl
    }

    /// Whether a guard of this instance is alive for a lock that a renewal
    /// found no longer ours (it lapsed, and may have been taken by another
    /// instance). Its writes then fail; the next `lock()` after the guard is
    /// dropped starts afresh.
    pub fn lock_lost(&self) -> bool {
        self.holder.get().is_some_and(|h| h.is_lost())
    }

    /// This cache with `change` made to its connection settings, and
    /// connections (and a watch) of its own.
    fn reconfigured(mut self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.pool.settings().clone();
        change(&mut settings);
        self.pool = Arc::new(Pool::new(settings));
        self.watch = Watch::new(self.pool.clone(), self.watch.stream().to_owned());
        self
    }

    /// This cache's own guard in `lock`, when it holds one.
    fn own_guard<'g>(&self, lock: &'g CacheLock) -> Option<&'g LockGuard> {
        // The fence scripts check the owner token in Redis itself.
        lock.guard::<LockGuard>()
            .filter(|g| g.key == self.lock_key())
    }

    /// How a write made with `lock` is fenced: by the guard's owner when it
    /// is a guard of this cache's lock, else as a writer holding no lock.
    /// The fence belongs to the guard, not to the instance: another caller
    /// of the same instance writing without the guard (an app's own logout
    /// while a refresh holds the lock) is not taken for the holder.
    fn fence(&self, lock: &CacheLock) -> Fence {
        match self.own_guard(lock) {
            Some(guard) => guard.holder.fence_for(&guard.owner),
            None => Fence::Unlocked,
        }
    }

    /// A write of the token's key under `fence`: `op` runs the fenced
    /// script and says whether it wrote.
    fn fenced_write(
        &self,
        doing: &str,
        fence: Fence,
        op: impl Fn(&mut dyn redis::ConnectionLike, &Fence) -> redis::RedisResult<bool>,
    ) -> Result<()> {
        // A lost lock's holder may still write through its in-flight
        // marker: Redis decides.
        let written = self.pool.run(|conn| op(conn, &fence)).map_err(|e| {
            self.redis_error(format_args!("cannot {doing} key {:?}", self.key()), &e)
        })?;
        if written {
            return Ok(());
        }
        observe::debug!(
            cache,
            key = self.key(),
            lost = !matches!(fence, Fence::Unlocked),
            "a fenced write was refused: the lock is not ours"
        );
        let why = match fence {
            Fence::Unlocked => {
                "is held by another instance (a refresh is under way); try again \
                 when it is released, or take the lock first"
            }
            Fence::Owner(_) | Fence::Lost(_) => {
                "held by this instance was lost (it expired, \
                 or was taken over by another instance)"
            }
        };
        Err(self.error(format_args!(
            "cannot {doing} key {:?}: the lock {:?} {why}; the key was left as it was",
            self.key(),
            self.lock_key()
        )))
    }

    /// Takes the lock, polling until `deadline` (one attempt when it has
    /// passed). `wait`: take it and wait (until `deadline`) while another
    /// holder's request is in flight; else take nothing then.
    fn acquire(
        &self,
        deadline: Instant,
        wait: bool,
    ) -> std::result::Result<CacheLock, AcquireError> {
        let owner = lock::new_owner().map_err(AcquireError::Random)?;
        let holder = self.holder.get_or_init(Arc::default);
        let spec = LockSpec {
            pool: &self.pool,
            holder,
            key: self.lock_key(),
            in_flight_key: self.in_flight_key(),
            ttl: self.lock_ttl,
            wait,
        };
        lock::acquire(spec, owner, deadline).map(CacheLock::leased)
    }

    /// The error for a failed [`acquire`](Self::acquire) after `wait`.
    fn acquire_error(&self, e: AcquireError, wait: Duration) -> Error {
        match e {
            AcquireError::Redis(e) => self.redis_error(
                format_args!("cannot take the lock {:?}", self.lock_key()),
                &e,
            ),
            AcquireError::TimedOut => self.error(format_args!(
                "the lock {:?} is still held by another caller after waiting {} s \
                 (see RedisTokenCache::with_lock_wait)",
                self.lock_key(),
                wait.as_secs_f64(),
            )),
            AcquireError::Spawn(e) => self.error(format_args!(
                "cannot start the thread that renews the lock {:?}: {e}",
                self.lock_key()
            )),
            AcquireError::Random(e) => Error::random(e),
        }
    }

    /// An [`Error::Cache`] whose message starts with the server's URL.
    fn error(&self, message: impl fmt::Display) -> Error {
        Error::Cache {
            path: None,
            message: format!("{}: {message}", self.pool.url()),
            source: None,
        }
    }

    /// An [`Error::Cache`] for a failed Redis call: what was being done, and
    /// Redis's description without the password.
    fn redis_error(&self, doing: impl fmt::Display, e: &PoolError) -> Error {
        self.error(format_args!("{doing}: {}", self.pool.describe(e)))
    }
}

impl TokenCache for RedisTokenCache {
    /// What is stored under the key; `None` when the key does not exist
    /// (never written, or lost: a restart without persistence, an eviction,
    /// a failover to a replica without it).
    ///
    /// A value that is neither a token nor a record (or over 1 MiB, or not
    /// a string) is an [`Error::Cache`] naming the key, never showing the
    /// value; it is left as it is until the next write.
    fn read(&self) -> Result<Option<Entry>> {
        let key = self.key();
        let value: Option<Vec<u8>> = self
            .pool
            .run(|conn| redis::cmd("GET").arg(key).query(conn))
            .map_err(|e| self.redis_error(format_args!("cannot read key {key:?}"), &e))?;
        let Some(value) = value else {
            return Ok(None);
        };
        if value.len() > MAX_VALUE_SIZE {
            return Err(self.error(format_args!(
                "key {key:?}: value too large ({} bytes; a token is at most {MAX_VALUE_SIZE} bytes)",
                value.len()
            )));
        }
        Entry::from_json(&value)
            .map(Some)
            .map_err(|m| self.error(format_args!("key {key:?}: {m}")))
    }

    /// Stores `entry` under the key (all or nothing), with no expiry (the
    /// refresh token outlives the access token), fenced by `lock`: see
    /// [Fenced writes](RedisTokenCache#fenced-writes).
    ///
    /// A logout record is also announced to the other machines' watches
    /// (see [`watch_ended`](TokenCache::watch_ended)), in the same script.
    fn write(&self, entry: &Entry, lock: &CacheLock) -> Result<()> {
        let json = entry.to_json();
        let announce = fence::Announce {
            stream: self.watch.stream(),
            length: watch::STREAM_LENGTH,
            logout: entry
                .ended()
                .is_some_and(|ended| ended.reason() == EndReason::Logout),
        };
        let keys = fence::FenceKeys {
            lock: self.lock_key(),
            in_flight: self.in_flight_key(),
        };
        self.fenced_write("write", self.fence(lock), |conn, fence| {
            fence::set(conn, self.key(), &keys, fence, &json, &announce)
        })
    }

    /// Takes the refresh lock [`lock_key`](RedisTokenCache::lock_key),
    /// waiting while another process, machine or guard of this instance
    /// holds it, for at most the lock wait; the lock is renewed until the
    /// returned guard is dropped, which releases it.
    ///
    /// Errors ([`Error::Cache`]): Redis unreachable or failing (at once, not
    /// after the wait), the lock still held when the wait is over, or no
    /// thread to renew it.
    fn lock(&self) -> Result<CacheLock> {
        let wait = self.lock_wait.min(MAX_LOCK_WAIT);
        self.acquire(Instant::now() + wait, true)
            .map_err(|e| self.acquire_error(e, wait))
    }

    /// One attempt at the lock, without waiting: `None` when another
    /// process, machine or guard of this instance holds it, or when the
    /// request of a holder whose lease lapsed may still be in flight (its
    /// marker stands: someone is refreshing).
    fn try_lock(&self) -> Result<Option<CacheLock>> {
        match self.acquire(std::time::Instant::now(), false) {
            Ok(guard) => Ok(Some(guard)),
            Err(AcquireError::TimedOut) => Ok(None),
            Err(e) => Err(self.acquire_error(e, Duration::ZERO)),
        }
    }

    /// Renews the lease of `lock` (back to a full TTL) if it is still ours,
    /// and sets the in-flight marker (see [In flight](RedisTokenCache#in-flight))
    /// to its owner for the in-flight TTL, in one round trip (one script):
    /// `false` when it lapsed (and may be held by another instance now),
    /// which also marks the guard lost, and sets nothing. An error (Redis
    /// down, the script refused) sets nothing either: send nothing.
    fn confirm_lock(&self, lock: &CacheLock) -> Result<bool> {
        let Some(guard) = self.own_guard(lock) else {
            return Ok(false);
        };
        if matches!(guard.holder.fence_for(&guard.owner), Fence::Lost(_)) {
            return Ok(false);
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        let renewed = self
            .pool
            .run(|conn| {
                in_flight::CONFIRM
                    .key(self.lock_key())
                    .key(self.in_flight_key())
                    .arg(&guard.owner)
                    .arg(ms(self.lock_ttl))
                    .arg(ms(self.in_flight_ttl))
                    .invoke::<i64>(conn)
            })
            .map_err(|e| {
                self.redis_error(
                    format_args!("cannot check the lock {:?}", self.lock_key()),
                    &e,
                )
            })?;
        if renewed != 1 {
            observe::warn!(
                cache,
                key = self.key(),
                "the Redis lock lapsed before a refresh was sent: nothing is sent"
            );
            guard.holder.mark_lost(&guard.owner);
        }
        Ok(renewed == 1)
    }

    /// Whether the lapsed `lock` may still write through its in-flight
    /// marker (see [In flight](RedisTokenCache#in-flight)): the marker (or
    /// the lock itself) still holds its owner token. One round trip.
    fn can_write_after_lapse(&self, lock: &CacheLock) -> Result<bool> {
        let Some(guard) = self.own_guard(lock) else {
            return Ok(false);
        };
        let held: Vec<Option<String>> = self
            .pool
            .run(|conn| {
                redis::cmd("MGET")
                    .arg(self.lock_key())
                    .arg(self.in_flight_key())
                    .query(conn)
            })
            .map_err(|e| {
                self.redis_error(
                    format_args!(
                        "cannot read the in-flight marker {:?}",
                        self.in_flight_key()
                    ),
                    &e,
                )
            })?;
        Ok(held.iter().flatten().any(|owner| *owner == guard.owner))
    }

    /// Tells `listener` whenever a logout record of this key is written by
    /// any machine (any [`RedisTokenCache`] of the key on the same server),
    /// within about a second: see
    /// [Logouts heard at once](RedisTokenCache#logouts-heard-at-once).
    /// Kept until this cache is dropped.
    fn watch_ended(&self, listener: EndedListener) {
        self.watching.store(true, Ordering::Relaxed);
        self.watch.register(self.key(), self.id, listener);
    }
}

impl Drop for RedisTokenCache {
    /// Unregisters this cache's listeners from the store's watch (whose
    /// thread ends with the last of them).
    fn drop(&mut self) {
        if self.watching.load(Ordering::Relaxed) {
            self.watch.unregister(self.key(), self.id);
        }
    }
}

impl fmt::Debug for RedisTokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenCache")
            .field("url", &self.pool.url())
            .field("key", &self.key())
            .finish()
    }
}
