//! How one connection to the server is made: redis's own connection for
//! `redis://` and `redis+unix://`, this crate's TLS connection (see `tls`)
//! for `rediss://`, both behind redis's [`ConnectionLike`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use redis::{Client, ConnectionAddr, ConnectionLike, ErrorKind, RedisError, RedisResult, Value};
use rustls::ClientConfig;

use super::tls::{self, TlsConnection};

/// An open connection of either kind.
pub(super) enum Conn {
    /// redis's connection: plain TCP, a Unix socket, or TLS set up by redis
    /// (a [`Client`] built with `build_with_tls`).
    Redis(redis::Connection),
    /// TLS set up by this crate.
    Tls(Box<TlsConnection>),
}

/// What a pool needs to open connections: the server and its credentials,
/// and the TLS configuration for `rediss://`.
#[derive(Clone)]
pub(super) struct Server {
    pub(super) client: Client,
    /// The caller's TLS configuration; `None` for ring with the system's
    /// root certificates.
    pub(super) tls: Option<Arc<ClientConfig>>,
}

impl Server {
    /// Whether `rediss://` goes through this crate's TLS connection. It does
    /// unless the caller gave a [`Client`] with redis's own TLS settings
    /// (`build_with_tls`) and no configuration of ours: those settings cannot
    /// be read back from the client.
    fn own_tls(&self) -> bool {
        match &self.client.get_connection_info().addr {
            ConnectionAddr::TcpTls { tls_params, .. } => self.tls.is_some() || tls_params.is_none(),
            _ => false,
        }
    }

    /// A new connection, with `connect_timeout` for the TCP connection and
    /// the handshakes (TLS, `AUTH`, `SELECT`) and `io_timeout` for commands.
    pub(super) fn connect(
        &self,
        connect_timeout: Duration,
        io_timeout: Duration,
    ) -> RedisResult<Conn> {
        let info = self.client.get_connection_info();
        if let ConnectionAddr::TcpTls {
            host,
            port,
            insecure,
            ..
        } = &info.addr
            && self.own_tls()
        {
            if *insecure {
                return Err(RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "certificate checks cannot be turned off (#insecure); for a private CA \
                     see RedisStore::with_tls_config",
                )));
            }
            let config = match &self.tls {
                Some(config) => config.clone(),
                None => tls::default_config()?,
            };
            let conn = TlsConnection::connect(host, *port, config, &info.redis, connect_timeout)?;
            conn.set_timeout(io_timeout)?;
            return Ok(Conn::Tls(Box::new(conn)));
        }
        // redis's TLS setup (only for a client built with `build_with_tls`)
        // panics when rustls cannot choose a process-wide CryptoProvider
        // (several providers compiled in, none installed): an error instead.
        let conn = catch_unwind(AssertUnwindSafe(|| {
            self.client.get_connection_with_timeout(connect_timeout)
        }))
        .unwrap_or_else(|_| {
            Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "the TLS setup failed",
                "redis found no process-wide rustls CryptoProvider; use \
                 RedisStore::with_tls_config instead of a client built with build_with_tls"
                    .to_owned(),
            )))
        })?;
        conn.set_read_timeout(Some(io_timeout))?;
        conn.set_write_timeout(Some(io_timeout))?;
        Ok(Conn::Redis(conn))
    }
}

impl Conn {
    fn inner(&mut self) -> &mut dyn ConnectionLike {
        match self {
            Conn::Redis(conn) => conn,
            Conn::Tls(conn) => &mut **conn,
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.inner().req_packed_command(cmd)
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.inner().req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Redis(conn) => conn.get_db(),
            Conn::Tls(conn) => conn.get_db(),
        }
    }

    fn check_connection(&mut self) -> bool {
        self.inner().check_connection()
    }

    fn is_open(&self) -> bool {
        match self {
            Conn::Redis(conn) => conn.is_open(),
            Conn::Tls(conn) => conn.is_open(),
        }
    }
}
