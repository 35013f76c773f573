//! `rediss://` connections made with a rustls configuration that names its
//! crypto provider (ring) explicitly, so that nothing is read from or
//! installed as rustls's process-wide default.
//!
//! redis 0.32 cannot be given such a configuration: for every TLS connection
//! it builds its own with `rustls::ClientConfig::builder()`, which takes the
//! process-wide `CryptoProvider` and, when there is none, installs the one
//! rustls's crate features select. So for `rediss://` this module opens the
//! TCP connection, runs the TLS handshake and the Redis handshake (`HELLO` /
//! `AUTH`, `SELECT`) itself, and speaks to redis through its
//! [`ConnectionLike`] trait with redis's own RESP [`Parser`]: every command,
//! script and reply type of redis works unchanged.

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use redis::{
    ConnectionLike, ErrorKind, Parser, ProtocolVersion, RedisConnectionInfo, RedisError,
    RedisResult, Value,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The configuration used when the caller gave none: rustls with ring and
/// the system's root certificates, loaded as redis loads them
/// (`rustls-native-certs`, which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`).
///
/// Built at the first TLS connection of the process and kept: reading the
/// system's certificates takes milliseconds. A failure is not kept, so the
/// next connection tries again.
pub(super) fn default_config() -> RedisResult<Arc<ClientConfig>> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if let Some(config) = CONFIG.get() {
        return Ok(config.clone());
    }
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let detail = match found.errors.first() {
            Some(e) => format!("{e}"),
            None => "none found".to_owned(),
        };
        return Err(RedisError::from((
            ErrorKind::InvalidClientConfig,
            "cannot load the system's root certificates",
            format!("{detail} (see RedisStore::with_tls_config)"),
        )));
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(CONFIG.get_or_init(|| Arc::new(config)).clone())
}

/// One TLS connection to a Redis server.
pub(super) struct TlsConnection {
    stream: StreamOwned<ClientConnection, TcpStream>,
    parser: Parser,
    db: i64,
    /// False once a read or write failed: the connection may be out of step
    /// with the server and is not reused.
    open: bool,
}

impl TlsConnection {
    /// Connects to `host:port`, completes the TLS handshake with `config` and
    /// the Redis handshake described by `info`, all within `timeout`.
    pub(super) fn connect(
        host: &str,
        port: u16,
        config: Arc<ClientConfig>,
        info: &RedisConnectionInfo,
        timeout: Duration,
    ) -> RedisResult<Self> {
        let deadline = Instant::now() + timeout;
        let name = ServerName::try_from(host.to_owned()).map_err(|_| {
            RedisError::from((
                ErrorKind::InvalidClientConfig,
                "the host is not a valid TLS server name",
            ))
        })?;
        let tcp = connect_tcp(host, port, deadline)?;
        tcp.set_nodelay(true)?;
        let tls = ClientConnection::new(config, name)?;
        let mut conn = TlsConnection {
            stream: StreamOwned::new(tls, tcp),
            parser: Parser::new(),
            db: info.db,
            open: true,
        };
        conn.set_timeout(remaining(deadline)?)?;
        while conn.stream.conn.is_handshaking() {
            conn.stream.conn.complete_io(&mut conn.stream.sock)?;
        }
        conn.set_timeout(remaining(deadline)?)?;
        conn.handshake(info)?;
        Ok(conn)
    }

    /// The read and write timeout of the socket.
    pub(super) fn set_timeout(&self, timeout: Duration) -> RedisResult<()> {
        self.stream.sock.set_read_timeout(Some(timeout))?;
        self.stream.sock.set_write_timeout(Some(timeout))?;
        Ok(())
    }

    /// What redis does after connecting: `HELLO 3` (with the credentials)
    /// for RESP3, else `AUTH` when there is a password; then `SELECT` for a
    /// database other than 0.
    fn handshake(&mut self, info: &RedisConnectionInfo) -> RedisResult<()> {
        if info.protocol != ProtocolVersion::RESP2 {
            let mut hello = redis::cmd("HELLO");
            hello.arg(3);
            if let Some(password) = &info.password {
                let user = info.username.as_deref().unwrap_or("default");
                hello.arg("AUTH").arg(user).arg(password);
            }
            hello.query::<Value>(self).map_err(refused)?;
        } else if let Some(password) = &info.password {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = &info.username {
                auth.arg(user);
            }
            auth.arg(password).query::<()>(self).map_err(refused)?;
        }
        if info.db != 0 {
            redis::cmd("SELECT").arg(info.db).query::<()>(self)?;
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) -> RedisResult<()> {
        let sent = self
            .stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush());
        if sent.is_err() {
            self.open = false;
        }
        Ok(sent?)
    }

    /// The next reply, skipping RESP3 push messages.
    fn receive(&mut self) -> RedisResult<Value> {
        loop {
            match self.parser.parse_value(&mut self.stream) {
                Ok(Value::Push { .. }) => continue,
                Ok(value) => return Ok(value),
                Err(e) => {
                    self.open = false;
                    return Err(e);
                }
            }
        }
    }
}

impl ConnectionLike for TlsConnection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.send(cmd)?;
        self.receive()
    }

    /// Sends a pipeline and returns the replies from `offset` on; a server
    /// error among the skipped replies (inside `MULTI`) is the result, as
    /// redis's own connection does.
    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.send(cmd)?;
        let mut replies = Vec::with_capacity(count);
        let mut first_error = None;
        for index in 0..offset + count {
            match self.receive()? {
                Value::ServerError(e) if index < offset => {
                    first_error.get_or_insert(e);
                }
                value if index >= offset => replies.push(value),
                _ => {}
            }
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(replies),
        }
    }

    fn get_db(&self) -> i64 {
        self.db
    }

    fn check_connection(&mut self) -> bool {
        redis::cmd("PING").query::<String>(self).is_ok()
    }

    fn is_open(&self) -> bool {
        self.open
    }
}

/// The first address of `host` that accepts a TCP connection before
/// `deadline`.
fn connect_tcp(host: &str, port: u16, deadline: Instant) -> RedisResult<TcpStream> {
    let mut last_error = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last_error = Some(e),
        }
    }
    Err(match last_error {
        Some(e) => e.into(),
        None => RedisError::from((
            ErrorKind::InvalidClientConfig,
            "could not resolve to any addresses",
        )),
    })
}

/// The time left before `deadline`, or a timeout error when there is none.
fn remaining(deadline: Instant) -> RedisResult<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(io::Error::new(io::ErrorKind::TimedOut, "connection timed out").into()),
    }
}

/// A refused `AUTH` or `HELLO` as redis reports it, without the server's
/// text (which a misconfigured proxy might fill with what it was sent).
fn refused(e: RedisError) -> RedisError {
    if e.is_io_error() {
        return e;
    }
    RedisError::from((
        ErrorKind::AuthenticationFailed,
        "Password authentication failed",
    ))
}
