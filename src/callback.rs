//! The loopback callback server used by `authorize_local` in both modes.
//!
//! `authorize_local` sends the user's browser to Spotify, and Spotify sends it
//! back to the redirect URI, `http://127.0.0.1:PORT/PATH?code=...&state=...`.
//! [`CallbackServer`] listens on exactly that address for the duration of one
//! authorization and hands back the code:
//!
//! ```ignore
//! let server = CallbackServer::bind("http://127.0.0.1:8888/callback")?; // before opening the browser
//! open_browser(&authorization_url);
//! let callback = server.wait(&state, Duration::from_secs(300))?;        // code + state, state checked
//! drop(server);                                                        // frees the port
//! ```
//!
//! It is plain blocking code, shared by both modes: the blocking API calls
//! [`CallbackServer::wait`] directly; the async API runs it on the blocking
//! pool and calls [`CallbackServer::cancel`] when its future is dropped.
//!
//! # What it answers
//!
//! - `GET` on the redirect URI's path with a `code`, `error` or `state`
//!   parameter ends the wait: the outcome of [`parse_callback`] is returned
//!   and the browser gets a page saying so (success, denied, state mismatch,
//!   no code).
//! - `GET` on that path with none of those parameters (someone opening the
//!   URL by hand) gets 400 and the wait goes on. Spotify's redirect always
//!   carries `code` or `error`, and `state` when one was sent, so nothing that
//!   comes from Spotify is ignored this way. The flip side: any web page can
//!   make the browser request this URL, so a forged request can end the wait
//!   with an error (never with a code: the state protects the code, not the
//!   wait).
//! - Any other method on that path gets 405, any other path (`/favicon.ico`,
//!   scanners, `/callback/../x`: paths are compared byte for byte, unnormalised)
//!   gets 404, and the wait goes on.
//!
//! Every answer is a small self-contained HTML page sent with
//! `Connection: close`, `Cache-Control: no-store`, `Referrer-Policy: no-referrer`
//! and `X-Content-Type-Options: nosniff` (see `page.rs`).
//!
//! # Hostile input, and what tiny_http 0.12 does with it
//!
//! tiny_http accepts connections on its own thread and reads each one on a
//! pool thread, so a client that connects and never sends holds one of those
//! threads, not the wait. Malformed request lines and headers are answered
//! (400, 505) or dropped by tiny_http itself. Four of its behaviours are
//! worked around here:
//!
//! - Its thread pool can lose a wake-up: when connections arrive in a burst
//!   while its threads are busy, a connection can be queued with no thread
//!   to serve it until some thread finishes its current connection. With
//!   four idle connections (its initial pool size) opened just before the
//!   real request, the real request stalls in a fair share of runs, for as
//!   long as the idle connections stay open. The wait therefore makes sure
//!   the pool keeps moving: every [`KICK_INTERVAL`] it connects to itself and
//!   closes at once (a connection tiny_http serves in microseconds, after
//!   which that thread takes the next queued one), and when the previous
//!   such connection was not served, [`KICKS_WHEN_STALLED`] of them.
//! - Dropping a request whose declared body was not read reads the rest of
//!   the body from the socket, with no timeout, after allocating a buffer of
//!   the declared size (`Content-Length: 10000000000000` aborts the process on
//!   allocation failure). So the waiting thread never drops a request: every
//!   answer is written, and every request dropped, on a responder thread, and
//!   a request declaring a body over [`MAX_DRAINED_BODY`] is leaked instead of
//!   dropped (its connection and one tiny_http thread stay until the process
//!   ends; no browser sends such a request to this URL).
//! - Writing an answer blocks when the client does not read (a pipelining
//!   client that never reads fills the socket buffers). Ordinary answers go
//!   through one responder thread, which only such a client can stall; the
//!   answer that ends the wait gets its own thread, which the wait gives
//!   [`FINAL_REPLY_GRACE`] to finish before returning.
//! - If `accept` fails (e.g. out of file descriptors), tiny_http's accept
//!   thread stops for good; the wait then returns [`Error::CallbackServer`]
//!   rather than waiting for a callback that cannot arrive.
//!
//! Left as they are: a request line saying `HTTP/2.0` (or 3.0) deadlocks
//! that connection's thread inside tiny_http (it writes its 505 while the
//! request being refused still holds the connection's writer), leaking the
//! thread and socket but touching no other connection. Lines are read
//! without a length limit by tiny_http (a 100 KB path is
//! fine; a client streaming gigabytes without a newline costs memory), and
//! connections have no read timeout: an idle connection keeps its thread and
//! socket until the client closes it, even after the server is dropped. The
//! server only listens on loopback and only lives while an authorization is
//! in progress.

mod page;
mod redirect;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use tiny_http::{Method, Request};

use crate::authorize::{Callback, parse_callback};
use crate::{Error, Result};

use page::Reply;

/// How long the wait polls the request queue before checking the deadline
/// and the cancel flag again (cancel also wakes it at once).
const POLL_SLICE: Duration = Duration::from_millis(100);

/// How often the wait checks that tiny_http's thread pool is not stalled
/// (see the module docs).
const KICK_INTERVAL: Duration = Duration::from_millis(250);

/// Self-connections made at once when the previous one was not served.
const KICKS_WHEN_STALLED: usize = 16;

/// Bounds the self-connection, should the listen backlog be full.
const KICK_CONNECT_TIMEOUT: Duration = Duration::from_millis(100);

/// How long [`CallbackServer::wait`] lets the page that ends the wait be
/// written before returning anyway (it takes microseconds unless the client
/// is hostile). Returning early would let a CLI exit before the browser has
/// its page.
const FINAL_REPLY_GRACE: Duration = Duration::from_secs(2);

/// Requests declaring a larger body than this are leaked rather than dropped
/// (tiny_http would allocate and read the whole declared body on drop).
const MAX_DRAINED_BODY: usize = 16 * 1024 * 1024;

/// How long [`CallbackServer::bind`] retries a port in use (see [`listen`]).
const REBIND_PATIENCE: Duration = Duration::from_millis(250);

/// At most this many queued requests are handed to the responder on drop.
const MAX_DRAINED_ON_DROP: usize = 100_000;

/// A temporary HTTP server on the redirect URI's loopback address that waits
/// for Spotify's redirect. `Send + Sync`: one thread may [`wait`](Self::wait)
/// while another [`cancel`](Self::cancel)s. Dropping it closes the listening
/// socket: tiny_http releases the port a moment later (within one retry of
/// 50 ms in tests), on its accept thread, which [`bind`](Self::bind)
/// tolerates. Connections still open do not keep the port (on Linux and
/// macOS, where std sets `SO_REUSEADDR`).
pub(crate) struct CallbackServer {
    server: tiny_http::Server,
    addr: SocketAddr,
    /// The redirect URI's path, as serialised by `url` (percent-encoded).
    path: String,
    cancelled: AtomicBool,
    /// Ordinary answers, written and dropped on the responder thread.
    responder: mpsc::Sender<Job>,
}

impl CallbackServer {
    /// Validates the redirect URI (see [`validate_loopback_redirect`]), then
    /// listens on exactly its loopback address and port (`localhost` listens
    /// on 127.0.0.1).
    ///
    /// A port already in use (still, after [`REBIND_PATIENCE`]) is an
    /// [`Error::CallbackServer`] saying so.
    pub(crate) fn bind(redirect_uri: &str) -> Result<Self> {
        let (url, addr) = redirect::loopback_target(redirect_uri)?;
        let listener = listen(addr)?;
        let addr = listener.local_addr().unwrap_or(addr);
        let server = tiny_http::Server::from_listener(listener, None).map_err(|e| {
            Error::CallbackServer {
                address: addr.to_string(),
                message: format!("could not start the server: {e}"),
            }
        })?;
        let (responder, jobs) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("spotify-auth-callback-responder".into())
            .spawn(move || {
                for job in jobs {
                    job.run();
                }
            })
            .map_err(|e| Error::CallbackServer {
                address: addr.to_string(),
                message: format!("could not start the responder thread: {e}"),
            })?;
        Ok(CallbackServer {
            server,
            addr,
            path: url.path().to_owned(),
            cancelled: AtomicBool::new(false),
            responder,
        })
    }

    /// The address listened on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the redirect URI's path is hit with a callback (a `GET`
    /// carrying `code`, `error` or `state`), `timeout` passes
    /// ([`Error::CallbackTimeout`]), or [`cancel`](Self::cancel) is called
    /// ([`Error::CallbackServer`], "cancelled").
    ///
    /// The callback is checked by [`parse_callback`] against
    /// `expected_state`; its errors ([`Error::AuthorizationDenied`],
    /// [`Error::StateMismatch`], [`Error::MissingCode`]) end the wait and are
    /// returned as they are. A code is returned only with a matching state.
    ///
    /// Meant for one waiter at a time; it can be called again after it
    /// returns (the server keeps listening until dropped).
    pub(crate) fn wait(&self, expected_state: &str, timeout: Duration) -> Result<Callback> {
        // None: so far away that it never comes.
        let deadline = Instant::now().checked_add(timeout);
        let mut kicker = PoolKicker::new(self.addr);
        loop {
            kicker.tick();
            if self.cancelled.load(Ordering::SeqCst) {
                return Err(self.error(
                    "cancelled: the authorization was abandoned before the callback arrived",
                ));
            }
            let slice = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Error::CallbackTimeout(timeout));
                    }
                    left.min(POLL_SLICE)
                }
                None => POLL_SLICE,
            };
            let request = match self.server.recv_timeout(slice) {
                Ok(Some(request)) => request,
                // Timed out, or woken by cancel().
                Ok(None) => continue,
                Err(e) => {
                    return Err(
                        self.error(&format!("the server stopped accepting connections: {e}"))
                    );
                }
            };
            let (reply, outcome) =
                classify(request.method(), request.url(), &self.path, expected_state);
            let job = Job::new(request, reply);
            match outcome {
                None => self.respond_later(job),
                Some(outcome) => {
                    self.respond_now(job);
                    return outcome;
                }
            }
        }
    }

    /// Makes a concurrent (or the next) [`wait`](Self::wait) return promptly
    /// with [`Error::CallbackServer`] ("cancelled"). Idempotent; the server
    /// stays bound until dropped.
    #[cfg_attr(not(feature = "async"), allow(dead_code))] // the async wait cancels on drop
    pub(crate) fn cancel(&self) {
        if !self.cancelled.swap(true, Ordering::SeqCst) {
            // Wakes a waiter blocked in recv_timeout; a waiter between two
            // polls sees the flag at its next check.
            self.server.unblock();
        }
    }

    fn error(&self, message: &str) -> Error {
        Error::CallbackServer {
            address: self.addr.to_string(),
            message: message.to_owned(),
        }
    }

    /// Hands an ordinary answer to the responder thread.
    fn respond_later(&self, job: Job) {
        if let Some(job) = job.leak_if_hazardous()
            && let Err(mpsc::SendError(job)) = self.responder.send(job)
        {
            // The responder is gone (it cannot panic out of its loop, so
            // this does not happen): never drop a request here.
            std::mem::forget(job);
        }
    }

    /// Writes the answer that ends the wait on its own thread, and gives it
    /// [`FINAL_REPLY_GRACE`] to finish.
    fn respond_now(&self, job: Job) {
        let Some(job) = job.leak_if_hazardous() else {
            return;
        };
        let slot = Arc::new(Mutex::new(Some(job)));
        let (done_tx, done_rx) = mpsc::sync_channel::<()>(1);
        let thread_slot = Arc::clone(&slot);
        let spawned = thread::Builder::new()
            .name("spotify-auth-callback-reply".into())
            .spawn(move || {
                let job = thread_slot.lock().map(|mut s| s.take()).unwrap_or(None);
                if let Some(job) = job {
                    job.run();
                }
                let _ = done_tx.send(());
            });
        match spawned {
            Ok(_) => {
                let _ = done_rx.recv_timeout(FINAL_REPLY_GRACE);
            }
            Err(_) => {
                // No thread: the responder writes it (no waiting for it).
                let job = slot.lock().map(|mut s| s.take()).unwrap_or(None);
                if let Some(job) = job {
                    self.respond_later(job);
                }
            }
        }
    }
}

impl fmt::Debug for CallbackServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackServer")
            .field("address", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for CallbackServer {
    fn drop(&mut self) {
        // Requests still queued would be dropped with the queue, on this
        // thread or a tiny_http one; hand them to the responder instead (they
        // get a 404). `try_recv` also returns None for the one wake-up that
        // cancel() may have queued, hence two misses before stopping.
        let mut misses = 0;
        for _ in 0..MAX_DRAINED_ON_DROP {
            match self.server.try_recv() {
                Ok(Some(request)) => self.respond_later(Job::new(request, Reply::NotFound)),
                _ => {
                    misses += 1;
                    if misses == 2 {
                        break;
                    }
                }
            }
        }
        // Then `server` drops: tiny_http sets its close flag and connects to
        // itself to wake its accept thread, which then closes the listener.
    }
}

/// Checks that `redirect_uri` can be served by the callback server before
/// anything starts (also done by [`CallbackServer::bind`]): scheme `http`,
/// host `127.0.0.1`, `[::1]` or `localhost`, an explicit non-zero port, no
/// user info and no fragment. Returns the parsed URL.
///
/// Every failure is an [`Error::Config`] for the setting `redirect_uri` that
/// says what to change, and that Spotify only accepts loopback redirect URIs
/// as IP literals, e.g. `http://127.0.0.1:8888/callback`.
pub(crate) fn validate_loopback_redirect(redirect_uri: &str) -> Result<url::Url> {
    redirect::loopback_target(redirect_uri).map(|(url, _)| url)
}

/// Keeps tiny_http 0.12's thread pool from stalling on a lost wake-up: its
/// `TaskPool::spawn` queues a connection instead of starting a thread when it
/// counts an idle thread, and that count is only lowered once the woken
/// thread runs, so of two connections accepted back to back the second can
/// sit in the queue until some thread finishes its connection (never, if
/// they are all held by idle clients). A connection that is closed as soon as
/// it is opened is served in microseconds, and the thread that served it then
/// takes the next queued connection.
struct PoolKicker {
    addr: SocketAddr,
    /// The last self-connection, to see whether tiny_http has served it.
    last: Option<TcpStream>,
    next_at: Instant,
}

impl PoolKicker {
    fn new(addr: SocketAddr) -> Self {
        PoolKicker {
            addr,
            last: None,
            next_at: Instant::now() + KICK_INTERVAL,
        }
    }

    /// Every [`KICK_INTERVAL`]: one self-connection, or
    /// [`KICKS_WHEN_STALLED`] when the previous one is still unserved.
    fn tick(&mut self) {
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

/// What to answer to a request, and whether it ends the wait (with what).
fn classify(
    method: &Method,
    target: &str,
    path: &str,
    expected_state: &str,
) -> (Reply, Option<Result<Callback>>) {
    let without_fragment = target.split('#').next().unwrap_or("");
    let (request_path, query) = without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""));
    if request_path != path {
        return (Reply::NotFound, None);
    }
    if *method != Method::Get {
        return (Reply::MethodNotAllowed, None);
    }
    // The MissingCode decision: a request on the path that carries none of the
    // callback's parameters is not a callback (a user opening the URL by hand,
    // a browser re-requesting it): answer 400 and keep waiting. One that carries
    // any of them is Spotify's answer, or a forgery: its outcome, error or not,
    // ends the wait.
    let is_callback = url::form_urlencoded::parse(query.as_bytes())
        .any(|(key, _)| matches!(&*key, "code" | "error" | "state"));
    if !is_callback {
        return (Reply::NotACallback, None);
    }
    let outcome = parse_callback(target, Some(expected_state));
    let reply = match &outcome {
        Ok(_) => Reply::Authorized,
        Err(Error::AuthorizationDenied { error, description }) => Reply::Denied {
            error: error.clone(),
            description: description.clone(),
        },
        Err(Error::StateMismatch) => Reply::StateMismatch,
        Err(_) => Reply::MissingCode,
    };
    (reply, Some(outcome))
}

/// A request and the answer it gets.
struct Job {
    request: Request,
    reply: Reply,
}

impl Job {
    fn new(request: Request, reply: Reply) -> Self {
        Job { request, reply }
    }

    /// Leaks the request (returning None) when dropping it would make
    /// tiny_http allocate and read an unreasonably large declared body.
    fn leak_if_hazardous(self) -> Option<Self> {
        if self
            .request
            .body_length()
            .is_some_and(|n| n > MAX_DRAINED_BODY)
        {
            std::mem::forget(self);
            None
        } else {
            Some(self)
        }
    }

    /// Writes the answer and drops the request. May block on a client that
    /// does not read, or (on drop) on one that declared a body and does not
    /// send it. Never panics (errors, client gone, are ignored).
    fn run(self) {
        let _ = catch_unwind(AssertUnwindSafe(move || {
            let Job { request, reply } = self;
            let bytes = reply.to_http(*request.method() != Method::Head);
            let mut writer = request.into_writer();
            let _ = writer.write_all(&bytes);
            let _ = writer.flush();
        }));
    }
}

/// Binds `addr`. A port in use is retried for [`REBIND_PATIENCE`], because a
/// dropped server's port is released a moment later by tiny_http's accept
/// thread, and `authorize_local` may well be called again at once.
fn listen(addr: SocketAddr) -> Result<TcpListener> {
    let give_up = Instant::now() + REBIND_PATIENCE;
    loop {
        match TcpListener::bind(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && Instant::now() < give_up => {
                thread::sleep(Duration::from_millis(25));
            }
            Err(e) => return Err(bind_error(addr, &e)),
        }
    }
}

fn bind_error(addr: SocketAddr, e: &std::io::Error) -> Error {
    use std::io::ErrorKind;
    let port = addr.port();
    let message = match e.kind() {
        ErrorKind::AddrInUse => format!(
            "port {port} is already in use (another program, or another authorization still \
             waiting, is listening on it): stop it, or choose another port in the redirect URI \
             and register that URI in the Spotify app's settings"
        ),
        ErrorKind::PermissionDenied => format!(
            "permission denied to listen on port {port}: choose a port above 1023 in the \
             redirect URI and register that URI in the Spotify app's settings"
        ),
        ErrorKind::AddrNotAvailable => format!(
            "{} is not available on this machine ({e}); use a redirect URI on 127.0.0.1",
            addr.ip()
        ),
        _ => format!("could not listen: {e}"),
    };
    Error::CallbackServer {
        address: addr.to_string(),
        message,
    }
}
