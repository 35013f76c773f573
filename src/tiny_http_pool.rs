//! tiny_http 0.12's thread pool can lose a wake-up; [`PoolKicker`] keeps it
//! moving. Used by the callback server and by the fake Spotify server
//! (`testing`), both tiny_http servers that must serve bursts of connections.

use std::io::Read as _;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How often the server checks that tiny_http's thread pool is not stalled.
const KICK_INTERVAL: Duration = Duration::from_millis(250);

/// Self-connections made at once when the previous one was not served.
const KICKS_WHEN_STALLED: usize = 16;

/// Bounds the self-connection, should the listen backlog be full.
const KICK_CONNECT_TIMEOUT: Duration = Duration::from_millis(100);

/// Keeps tiny_http 0.12's thread pool from stalling on a lost wake-up: its
/// `TaskPool::spawn` queues a connection instead of starting a thread when it
/// counts an idle thread, and that count is only lowered once the woken
/// thread runs, so of two connections accepted back to back the second can
/// sit in the queue until some thread finishes its connection (never, if
/// they are all held by idle clients). A connection that is closed as soon as
/// it is opened is served in microseconds, and the thread that served it then
/// takes the next queued connection.
pub(crate) struct PoolKicker {
    addr: SocketAddr,
    /// The last self-connection, to see whether tiny_http has served it.
    last: Option<TcpStream>,
    next_at: Instant,
}

impl PoolKicker {
    /// A kicker for the server listening on `addr`; its first kick comes
    /// after one [`KICK_INTERVAL`].
    pub(crate) fn new(addr: SocketAddr) -> Self {
        PoolKicker {
            addr,
            last: None,
            next_at: Instant::now() + KICK_INTERVAL,
        }
    }

    /// Every [`KICK_INTERVAL`]: one self-connection, or
    /// [`KICKS_WHEN_STALLED`] when the previous one is still unserved.
    pub(crate) fn tick(&mut self) {
        let now = Instant::now();
        if now < self.next_at {
            return;
        }
        self.next_at = now + KICK_INTERVAL;
        let stalled = self.last.take().is_some_and(|last| !was_served(&last));
        let kicks = if stalled { KICKS_WHEN_STALLED } else { 1 };
        for _ in 0..kicks {
            match kick(self.addr) {
                Some(stream) => self.last = Some(stream),
                None => break,
            }
        }
    }
}

/// Connects to the server and closes the sending half at once: tiny_http
/// reads end-of-file, drops the connection, and closes its side.
fn kick(addr: SocketAddr) -> Option<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, KICK_CONNECT_TIMEOUT).ok()?;
    stream.shutdown(Shutdown::Write).ok()?;
    stream.set_nonblocking(true).ok()?;
    Some(stream)
}

/// Whether tiny_http has served (closed) a [`kick`] connection.
fn was_served(mut stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    !matches!(stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}
