//! Hostile input, and what tiny_http 0.12 does with it: the workarounds the
//! callback server needs so that no client can stall or abort the wait.
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
//!   the pool keeps moving ([`PoolKicker`], shared with the fake server in
//!   `crate::tiny_http_pool`): every 250 ms it connects to itself and closes
//!   at once (a connection tiny_http serves in microseconds, after which that
//!   thread takes the next queued one), and when the previous such
//!   connection was not served, 16 of them.
//! - Dropping a request whose declared body was not read reads the rest of
//!   the body from the socket, with no timeout, after allocating a buffer of
//!   the declared size (`Content-Length: 10000000000000` aborts the process on
//!   allocation failure). So the waiting thread never drops a request: every
//!   answer is written, and every request dropped, on a [`Responder`] thread,
//!   and a request declaring a body over [`MAX_DRAINED_BODY`] is leaked
//!   instead of dropped (its connection and one tiny_http thread stay until
//!   the process ends; no browser sends such a request to this URL).
//! - Writing an answer blocks when the client does not read (a pipelining
//!   client that never reads fills the socket buffers). Ordinary answers go
//!   through one responder thread ([`Responder::later`]), which only such a
//!   client can stall; the answer that ends the wait gets its own thread
//!   ([`Responder::now`]), which the wait gives [`FINAL_REPLY_GRACE`] to
//!   finish before returning. Requests still queued when the server is
//!   dropped go to the responder too ([`Responder::drain`]).
//! - If `accept` fails (e.g. out of file descriptors), tiny_http's accept
//!   thread stops for good; the wait then returns
//!   [`Error::CallbackServer`] rather than
//!   waiting for a callback that cannot arrive (see `CallbackServer::wait`).
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

use std::io::Write as _;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use tiny_http::{Method, Request};

use super::page::Reply;
pub(super) use crate::tiny_http_pool::PoolKicker;
use crate::{Error, Result};

/// How long [`Responder::now`] lets the page that ends the wait be written
/// before returning anyway (it takes microseconds unless the client is
/// hostile). Returning early would let a CLI exit before the browser has its
/// page.
const FINAL_REPLY_GRACE: Duration = Duration::from_secs(2);

/// Requests declaring a larger body than this are leaked rather than dropped
/// (tiny_http would allocate and read the whole declared body on drop).
const MAX_DRAINED_BODY: usize = 16 * 1024 * 1024;

/// At most this many queued requests are handed to the responder on drop.
const MAX_DRAINED_ON_DROP: usize = 100_000;

/// Writes answers and drops requests away from the waiting thread: ordinary
/// answers on one responder thread, the answer that ends the wait on a
/// thread of its own.
pub(super) struct Responder {
    jobs: mpsc::Sender<Job>,
}

impl Responder {
    /// Starts the responder thread of the server listening on `addr`.
    pub(super) fn start(addr: SocketAddr) -> Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("spotify-auth-callback-responder".into())
            .spawn(move || {
                for job in queue {
                    job.run();
                }
            })
            .map_err(|e| Error::CallbackServer {
                address: addr.to_string(),
                message: format!("could not start the responder thread: {e}"),
            })?;
        Ok(Responder { jobs })
    }

    /// Hands an ordinary answer to the responder thread.
    pub(super) fn later(&self, request: Request, reply: Reply) {
        let Some(job) = Job::new(request, reply).leak_if_hazardous() else {
            return;
        };
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            // The responder is gone (it cannot panic out of its loop, so
            // this does not happen): never drop a request here.
            std::mem::forget(job);
        }
    }

    /// Writes the answer that ends the wait on its own thread, and gives it
    /// [`FINAL_REPLY_GRACE`] to finish.
    pub(super) fn now(&self, request: Request, reply: Reply) {
        let Some(job) = Job::new(request, reply).leak_if_hazardous() else {
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
                if let Some(Job { request, reply }) = job {
                    self.later(request, reply);
                }
            }
        }
    }

    /// Answers the requests still queued in `server` with `reply`, on the
    /// responder thread: dropped with the queue they would be dropped on
    /// this thread or a tiny_http one. For the server's `Drop`.
    pub(super) fn drain(&self, server: &tiny_http::Server, reply: &Reply) {
        // `try_recv` also returns None for the one wake-up that cancel() may
        // have queued, hence two misses before stopping.
        let mut misses = 0;
        for _ in 0..MAX_DRAINED_ON_DROP {
            match server.try_recv() {
                Ok(Some(request)) => self.later(request, reply.clone()),
                _ => {
                    misses += 1;
                    if misses == 2 {
                        break;
                    }
                }
            }
        }
    }
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
