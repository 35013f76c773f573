//! A few reusable connections to one server, opened lazily with timeouts and
//! replaced when they break.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use redis::{
    Client, Connection, ConnectionAddr, ConnectionLike, ErrorKind, RedisError, RedisResult,
};

use super::location::{redacted_url, scrub};

/// Idle connections kept for reuse; more are opened when callers overlap and
/// closed when they are done.
const MAX_IDLE: usize = 4;

/// The connections of one [`RedisTokenCache`](super::RedisTokenCache),
/// shared with its lock guards (which release the lock through them).
pub(super) struct Connections {
    client: Client,
    /// The server's URL without its password, for messages.
    url: String,
    /// The password, only to scrub it from messages that might echo it.
    password: Option<String>,
    connect_timeout: Duration,
    io_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
}

impl Connections {
    pub(super) fn new(client: Client, connect_timeout: Duration, io_timeout: Duration) -> Self {
        let info = client.get_connection_info();
        Connections {
            url: redacted_url(info),
            password: info.redis.password.clone(),
            client,
            connect_timeout: at_least_1ms(connect_timeout),
            io_timeout: at_least_1ms(io_timeout),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The same server and timeouts as `self`, with `connect_timeout` and
    /// `io_timeout` replaced, and no connections yet.
    pub(super) fn with_timeouts(&self, connect_timeout: Duration, io_timeout: Duration) -> Self {
        Connections::new(self.client.clone(), connect_timeout, io_timeout)
    }

    /// The server's URL without its password.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    pub(super) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    pub(super) fn io_timeout(&self) -> Duration {
        self.io_timeout
    }

    /// A Redis error as text, without the password even if it was echoed.
    pub(super) fn describe(&self, e: &RedisError) -> String {
        let text = if e.is_timeout() {
            // A socket timeout reads "Resource temporarily unavailable" on Linux.
            format!(
                "timed out (connect timeout {} s, I/O timeout {} s): {e}",
                self.connect_timeout.as_secs_f64(),
                self.io_timeout.as_secs_f64()
            )
        } else {
            e.to_string()
        };
        scrub(text, self.password.as_deref())
    }

    /// Runs `op` on an idle connection, or a new one.
    ///
    /// A reused connection that fails with an I/O error (other than a
    /// timeout) was most likely closed by a server restart while idle: every
    /// idle connection is then dropped and `op` runs once more on a new
    /// connection, so `op` must be safe to repeat. A connection goes back to
    /// the idle list only when it is still usable.
    pub(super) fn run<T>(
        &self,
        mut op: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        if let Some(mut conn) = self.take_idle() {
            match op(&mut conn) {
                Err(e) if e.is_io_error() && !e.is_timeout() => self.idle().clear(),
                result => {
                    self.recycle(conn, &result);
                    return result;
                }
            }
        }
        let mut conn = self.connect()?;
        let result = op(&mut conn);
        self.recycle(conn, &result);
        result
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // The list is valid whatever a panicking holder was doing.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_idle(&self) -> Option<Connection> {
        self.idle().pop()
    }

    fn recycle<T>(&self, conn: Connection, result: &RedisResult<T>) {
        let usable = match result {
            Ok(_) => true,
            // A server's answer (WRONGTYPE, NOSCRIPT, ...) or a reply of the
            // wrong type leaves the connection in step; anything else may not.
            Err(e) => !e.is_io_error() && !e.is_unrecoverable_error(),
        };
        if usable && conn.is_open() {
            let mut idle = self.idle();
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }

    /// A new connection, with the connect timeout for the TCP connection and
    /// the handshake (TLS, AUTH, SELECT) and the I/O timeout for commands.
    fn connect(&self) -> RedisResult<Connection> {
        if matches!(
            self.client.get_connection_info().addr,
            ConnectionAddr::TcpTls { .. }
        ) {
            install_crypto_provider();
        }
        // redis builds its rustls configuration with the process-wide
        // CryptoProvider and panics when there is none to choose: report that
        // as an error rather than unwinding through the caller.
        let conn = catch_unwind(AssertUnwindSafe(|| {
            self.client
                .get_connection_with_timeout(self.connect_timeout)
        }))
        .unwrap_or_else(|_| {
            Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "the TLS setup failed",
                "no rustls CryptoProvider could be chosen: install one with \
                 rustls::crypto::ring::default_provider().install_default()"
                    .to_owned(),
            )))
        })?;
        conn.set_read_timeout(Some(self.io_timeout))?;
        conn.set_write_timeout(Some(self.io_timeout))?;
        Ok(conn)
    }
}

/// Makes rustls with ring the process default, as the async transport does,
/// unless a default is already installed. Without the `async` feature the
/// build's rustls is ureq's (feature `blocking`), whose only provider, ring,
/// rustls picks by itself; a build with neither mode has no provider at all,
/// which `connect` reports as an error.
fn install_crypto_provider() {
    #[cfg(feature = "async")]
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Zero is not a valid socket timeout; the shortest one is.
fn at_least_1ms(timeout: Duration) -> Duration {
    timeout.max(Duration::from_millis(1))
}
