//! A bounded pool of connections to one server, shared by every cache of a
//! [`RedisStore`](super::RedisStore) and by their lock guards and renewal
//! threads: connections are opened lazily, at most `max` at a time, reused,
//! and replaced when they break.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::{ConnectionLike, RedisError, RedisResult};

use super::connection::{Conn, Server};
use super::location::{redacted_url, scrub};

/// Why [`Pool::run`] failed.
pub(super) enum PoolError {
    /// Redis failed, or could not be reached.
    Redis(RedisError),
    /// Every connection stayed busy for the whole I/O timeout.
    Busy,
}

impl From<RedisError> for PoolError {
    fn from(e: RedisError) -> Self {
        PoolError::Redis(e)
    }
}

/// The settings a pool is made from.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) server: Server,
    pub(super) connect_timeout: Duration,
    pub(super) io_timeout: Duration,
    pub(super) max_connections: usize,
}

/// The connections to one server.
pub(super) struct Pool {
    settings: Settings,
    /// The server's URL without its password, for messages.
    url: String,
    /// The password, only to scrub it from messages that might echo it.
    password: Option<String>,
    state: Mutex<State>,
    /// Signalled when a connection goes back to the pool or a slot frees up.
    freed: Condvar,
}

struct State {
    idle: Vec<Conn>,
    /// Connections open or being opened, idle ones included: at most
    /// `max_connections`.
    open: usize,
}

impl Pool {
    /// A pool with no connection yet. Timeouts are at least 1 ms (zero is not
    /// a valid socket timeout), the limit at least one connection.
    pub(super) fn new(mut settings: Settings) -> Self {
        settings.connect_timeout = at_least_1ms(settings.connect_timeout);
        settings.io_timeout = at_least_1ms(settings.io_timeout);
        settings.max_connections = settings.max_connections.max(1);
        let info = settings.server.client.get_connection_info();
        Pool {
            url: redacted_url(info),
            password: info.redis.password.clone(),
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
            settings,
        }
    }

    pub(super) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The server's URL without its password.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    /// An error as text, without the password even if it was echoed.
    pub(super) fn describe(&self, e: &PoolError) -> String {
        let Settings {
            connect_timeout,
            io_timeout,
            max_connections,
            ..
        } = &self.settings;
        let text = match e {
            PoolError::Busy => format!(
                "no connection free: all {max_connections} connections to the server stayed \
                 busy for the I/O timeout ({} s); see RedisStore::with_max_connections",
                io_timeout.as_secs_f64()
            ),
            // A socket timeout reads "Resource temporarily unavailable" on Linux.
            PoolError::Redis(e) if e.is_timeout() => format!(
                "timed out (connect timeout {} s, I/O timeout {} s): {e}",
                connect_timeout.as_secs_f64(),
                io_timeout.as_secs_f64()
            ),
            PoolError::Redis(e) => e.to_string(),
        };
        scrub(text, self.password.as_deref())
    }

    /// Runs `op` on an idle connection, or a new one, waiting up to the I/O
    /// timeout for one when all `max_connections` are in use.
    ///
    /// A reused connection that fails with an I/O error (other than a
    /// timeout) was most likely closed by a server restart while idle: every
    /// idle connection is then dropped and `op` runs once more on a new
    /// connection, so `op` must be safe to repeat. A connection goes back to
    /// the pool only when it is still usable.
    pub(super) fn run<T>(
        &self,
        mut op: impl FnMut(&mut Conn) -> RedisResult<T>,
    ) -> Result<T, PoolError> {
        let mut lease = self.checkout()?;
        if let Some(conn) = lease.conn.as_mut() {
            match op(conn) {
                Err(e) if e.is_io_error() && !e.is_timeout() => {
                    lease.conn = None;
                    self.drop_idle();
                }
                result => return Ok(lease.finish(result)?),
            }
        }
        let conn = lease.conn.insert(
            self.settings
                .server
                .connect(self.settings.connect_timeout, self.settings.io_timeout)?,
        );
        let result = op(conn);
        Ok(lease.finish(result)?)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The counts and the list are valid whatever a panicking holder was doing.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot, with an idle connection when there is one.
    fn checkout(&self) -> Result<Lease<'_>, PoolError> {
        let deadline = Instant::now() + self.settings.io_timeout;
        let mut state = self.state();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(Lease {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if state.open < self.settings.max_connections {
                state.open += 1;
                return Ok(Lease {
                    pool: self,
                    conn: None,
                });
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero())
                .ok_or(PoolError::Busy)?;
            state = self
                .freed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Closes every idle connection (a restarted server broke them all).
    fn drop_idle(&self) {
        let mut state = self.state();
        let closed = state.idle.len();
        state.idle.clear();
        state.open -= closed;
        drop(state);
        self.freed.notify_all();
    }
}

/// One slot of the pool, and its connection once there is one; dropping it
/// gives the slot back (and the connection, when still usable).
struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
}

impl Lease<'_> {
    /// Drops the connection unless `result` shows it is still in step with
    /// the server, and passes `result` on.
    fn finish<T>(mut self, result: RedisResult<T>) -> RedisResult<T> {
        let usable = match &result {
            Ok(_) => true,
            // A server's answer (WRONGTYPE, NOSCRIPT, ...) or a reply of the
            // wrong type leaves the connection in step; anything else may not.
            Err(e) => !e.is_io_error() && !e.is_unrecoverable_error(),
        };
        if !usable {
            self.conn = None;
        }
        result
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.state();
        match self.conn.take() {
            Some(conn) if conn.is_open() => state.idle.push(conn),
            _ => state.open -= 1,
        }
        drop(state);
        self.pool.freed.notify_one();
    }
}

/// Zero is not a valid socket timeout; the shortest one is.
fn at_least_1ms(timeout: Duration) -> Duration {
    timeout.max(Duration::from_millis(1))
}
