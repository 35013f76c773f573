//! The loopback callback server used by `authorize_local` in both modes.
//!
//! `authorize_local` sends the user's browser to Spotify, and Spotify sends it
//! back to the redirect URI, `http://127.0.0.1:PORT/PATH?code=...&state=...`.
//! [`CallbackServer`] listens on exactly that address for the duration of one
//! authorization and hands back the code:
//!
//! ```ignore
//! let server = CallbackServer::bind("http://127.0.0.1:8888/callback")?; // before opening the browser
//! let redirect_uri = server.redirect_uri();                            // in the URL and the exchange
//! open_browser(&authorization_url);
//! let callback = server.wait(&state, &scope, Duration::from_secs(300))?; // code, state checked
//! drop(server);                                                        // frees the port
//! ```
//!
//! It is plain blocking code, shared by both modes: the blocking API calls
//! [`CallbackServer::bind`] and [`CallbackServer::wait`] directly; the async
//! API runs both on the blocking pool and calls [`CallbackServer::cancel`]
//! when its future is dropped.
//!
//! # Which redirect URIs
//!
//! `http` on a loopback IP literal, `127.0.0.1` or `[::1]`, as Spotify
//! requires (`localhost` is refused with an error naming the URI to register
//! instead; see [`validate_loopback_redirect`]). With a port, the server
//! listens on it (a port in use is an [`Error::CallbackServer`] saying so).
//! Without one (`http://127.0.0.1/callback`: Spotify then accepts any port),
//! it listens on a free port, and [`CallbackServer::redirect_uri`] is the URI
//! with that port added, which the authorization request and the code
//! exchange must both use.
//!
//! # What it answers
//!
//! Only a callback carrying the state of this attempt can end the wait. Any
//! web page the user visits can make the browser request the callback URL,
//! so a request without that state, whatever else it carries, changes
//! nothing: it cannot end the login, with an error or otherwise.
//!
//! - `GET` on the redirect URI's path with exactly one `state`, equal to the
//!   expected one (compared in constant time), ends the wait with the outcome
//!   of [`parse_callback`]: the code (a "Login approved" page listing the
//!   scopes asked for), [`Error::AuthorizationDenied`] for an `error` (a page
//!   saying how to try again), or [`Error::MissingCode`].
//! - `GET` on that path with a `code`, `error` or `state` but not the right
//!   state (missing, different, repeated: an older attempt's tab, or a
//!   forgery) gets 400 and a page saying the response was ignored, and the
//!   wait goes on.
//! - `GET` on that path with none of those parameters (someone opening the
//!   URL by hand) gets 400 and the wait goes on.
//! - Any other method on that path gets 405, any other path (`/favicon.ico`,
//!   scanners, `/callback/../x`: paths are compared byte for byte, unnormalised)
//!   gets 404, and the wait goes on.
//! - Requests still queued when the server is dropped get 410 and a page
//!   saying the login is no longer waiting.
//!
//! Every answer is a small self-contained HTML page sent with
//! `Connection: close`, `Cache-Control: no-store`, `Referrer-Policy: no-referrer`,
//! `X-Content-Type-Options: nosniff` and a CSP that allows only its own
//! stylesheet (see `page.rs`). The code and the state never appear on a page.
//!
//! tiny_http 0.12 needs a few workarounds so that hostile or broken clients
//! can neither stall nor abort the wait; they live, with their reasons, in
//! `tiny_http_workarounds.rs`.

mod page;
mod redirect;
mod tiny_http_workarounds;

#[cfg(test)]
mod chromium_tests;
#[cfg(all(test, feature = "blocking"))]
mod properties;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tiny_http::Method;

use crate::authorize::constant_time_eq;
use crate::authorize::{Callback, parse_callback};
use crate::{Error, Result, Scopes, observe};

use page::Reply;
use tiny_http_workarounds::{PoolKicker, Responder};

/// How long the wait polls the request queue before checking the deadline
/// and the cancel flag again (cancel also wakes it at once).
const POLL_SLICE: Duration = Duration::from_millis(100);

/// How long [`CallbackServer::bind`] retries a port in use (see [`listen`]).
const REBIND_PATIENCE: Duration = Duration::from_millis(250);

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
    /// The exact redirect URI in use (with the bound port when the
    /// configured one has none).
    redirect_uri: String,
    cancelled: AtomicBool,
    /// Writes the answers and drops the requests, off the waiting thread.
    responder: Responder,
}

impl CallbackServer {
    /// Validates the redirect URI (see [`validate_loopback_redirect`]), then
    /// listens on exactly its loopback address and port, or on a free port
    /// of that address when it has no port.
    ///
    /// A port already in use (still, after [`REBIND_PATIENCE`]: may block
    /// that long) is an [`Error::CallbackServer`] saying so.
    pub(crate) fn bind(redirect_uri: &str) -> Result<Self> {
        let target = redirect::loopback_target(redirect_uri)?;
        let listener = listen(target.addr)?;
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            // The port asked for is the port listened on.
            Err(_) if target.fixed_port => target.addr,
            Err(e) => {
                return Err(Error::CallbackServer {
                    address: target.addr.to_string(),
                    message: format!("could not tell which port was bound: {e}"),
                });
            }
        };
        let redirect_uri = if target.fixed_port {
            redirect_uri.to_owned()
        } else {
            redirect::with_port(redirect_uri, addr.port())
        };
        observe::debug!(callback, address = %addr, port = if target.fixed_port { "pinned" } else { "any free" }, "callback server bound");
        let server = tiny_http::Server::from_listener(listener, None).map_err(|e| {
            Error::CallbackServer {
                address: addr.to_string(),
                message: format!("could not start the server: {e}"),
            }
        })?;
        Ok(CallbackServer {
            responder: Responder::start(addr)?,
            server,
            addr,
            path: target.url.path().to_owned(),
            redirect_uri,
            cancelled: AtomicBool::new(false),
        })
    }

    /// The address listened on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The exact redirect URI this server answers: the one given to
    /// [`bind`](Self::bind), with the port bound added when it had none. The
    /// authorization request and the code exchange must both use it.
    pub(crate) fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The redirect URI's path (percent-encoded), where callbacks arrive.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Serves until the redirect URI's path is hit with a callback carrying
    /// `expected_state`, `timeout` passes ([`Error::CallbackTimeout`]), or
    /// [`cancel`](Self::cancel) is called ([`Error::CallbackServer`],
    /// "cancelled").
    ///
    /// The callback with the right state is checked by [`parse_callback`];
    /// its errors ([`Error::AuthorizationDenied`], [`Error::MissingCode`])
    /// end the wait and are returned as they are. Callbacks with a missing
    /// or wrong state are answered 400 and do not end it (see the module
    /// docs). `scope`, the scopes the authorization asked for, is shown on
    /// the success page.
    ///
    /// Meant for one waiter at a time; it can be called again after it
    /// returns (the server keeps listening until dropped).
    pub(crate) fn wait(
        &self,
        expected_state: &str,
        scope: &Scopes,
        timeout: Duration,
    ) -> Result<Callback> {
        let waiting = observe::Stopwatch::start();
        // None: so far away that it never comes.
        let deadline = Instant::now().checked_add(timeout);
        let mut kicker = PoolKicker::new(self.addr);
        loop {
            kicker.tick();
            if self.cancelled.load(Ordering::SeqCst) {
                observe::debug!(
                    callback,
                    waited_ms = waiting.ms(),
                    "callback wait cancelled"
                );
                return Err(self.error(
                    "cancelled: the authorization was abandoned before the callback arrived",
                ));
            }
            let slice = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        observe::debug!(
                            callback,
                            waited_ms = waiting.ms(),
                            "no callback before the timeout"
                        );
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
            let (reply, outcome) = classify(
                request.method(),
                request.url(),
                &self.path,
                expected_state,
                scope,
            );
            match outcome {
                None => self.responder.later(request, reply),
                Some(outcome) => {
                    observe::debug!(
                        callback,
                        outcome = observe_outcome(&outcome),
                        waited_ms = waiting.ms(),
                        "callback accepted"
                    );
                    self.responder.now(request, reply);
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
        // Requests still queued get a page saying the login has ended.
        self.responder.drain(&self.server, &Reply::Ended);
        // Then `server` drops: tiny_http sets its close flag and connects to
        // itself to wake its accept thread, which then closes the listener.
    }
}

/// Checks that `redirect_uri` can be served by the callback server before
/// anything starts (also done by [`CallbackServer::bind`]): scheme `http`,
/// host `127.0.0.1` or `[::1]` written so, a non-zero port or none at all
/// (any free port), no user info and no fragment. Returns the parsed URL.
///
/// Every failure is an [`Error::Config`] for the setting `redirect_uri` that
/// says what to change, and that Spotify only accepts loopback redirect URIs
/// as IP literals, e.g. `http://127.0.0.1:8888/callback`; `localhost` gets
/// the URI to register instead.
pub(crate) fn validate_loopback_redirect(redirect_uri: &str) -> Result<url::Url> {
    redirect::loopback_target(redirect_uri).map(|target| target.url)
}

/// Entry points for the fuzz targets (see `crate::fuzzing`).
#[cfg(fuzzing)]
pub(crate) mod fuzzing {
    use super::*;

    /// What the server answers to `method` on `target` while waiting on
    /// `path` for `state`: the status, whether the wait ends, and the whole
    /// answer as text.
    pub fn classify_callback(
        method: &str,
        target: &str,
        path: &str,
        state: &str,
    ) -> (u16, bool, String) {
        let method: Method = method.parse().unwrap_or(Method::Get);
        let (reply, outcome) = classify(&method, target, path, state, &Scopes::from("a b"));
        let page = String::from_utf8_lossy(&reply.to_http(true)).into_owned();
        (reply.status(), outcome.is_some(), page)
    }

    /// Checks a redirect URI: the address to listen on, or the error's
    /// text; with no port, the URI with `port` added must pass too.
    pub fn redirect_uri(uri: &str, port: u16) -> std::result::Result<SocketAddr, String> {
        let target = redirect::loopback_target(uri).map_err(|e| format!("{e} {e:?}"))?;
        if !target.fixed_port && port != 0 {
            let with = redirect::with_port(uri, port);
            let again = redirect::loopback_target(&with)
                .unwrap_or_else(|e| panic!("{uri:?} with port {port}: {e}"));
            assert_eq!(again.addr.port(), port, "{with:?}");
        }
        Ok(target.addr)
    }
}

/// What to answer to a request, and whether it ends the wait (with what).
fn classify(
    method: &Method,
    target: &str,
    path: &str,
    expected_state: &str,
    scope: &Scopes,
) -> (Reply, Option<Result<Callback>>) {
    let without_fragment = target.split('#').next().unwrap_or("");
    let (request_path, query) = without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""));
    if request_path != path {
        observe::debug!(
            callback,
            reply = "not_found",
            "ignored a request: not the callback's path"
        );
        return (Reply::NotFound, None);
    }
    if *method != Method::Get {
        observe::debug!(
            callback,
            reply = "method_not_allowed",
            "ignored a request: not a GET"
        );
        return (Reply::MethodNotAllowed, None);
    }
    let mut is_callback = false;
    let mut states = 0;
    let mut state_matches = false;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "state" => {
                states += 1;
                state_matches = constant_time_eq(value.as_bytes(), expected_state.as_bytes());
                is_callback = true;
            }
            "code" | "error" => is_callback = true,
            _ => {}
        }
    }
    // Someone opening the URL by hand, a browser re-requesting it.
    if !is_callback {
        observe::debug!(
            callback,
            reply = "not_a_callback",
            "ignored a request: no code, error or state"
        );
        return (Reply::NotACallback, None);
    }
    // An older attempt's tab, or a forgery: whatever it says, it does not
    // concern this attempt, which goes on waiting.
    if states != 1 || !state_matches {
        observe::debug!(
            callback,
            reply = "state_mismatch",
            state = state_fault(states),
            "ignored a callback: not this attempt's state"
        );
        return (Reply::StateMismatch, None);
    }
    let outcome = parse_callback(target, Some(expected_state));
    let reply = match &outcome {
        Ok(_) => Reply::Authorized {
            scopes: scope.iter().map(str::to_owned).collect(),
        },
        Err(Error::AuthorizationDenied { error, description }) => Reply::Denied {
            error: error.clone(),
            description: description.clone(),
        },
        Err(_) => Reply::MissingCode,
    };
    (reply, Some(outcome))
}

/// What is wrong with a callback's `state` parameter(s), for an event.
fn state_fault(states: usize) -> &'static str {
    match states {
        0 => "missing",
        1 => "wrong",
        _ => "repeated",
    }
}

/// What ended the wait, for an event.
fn observe_outcome(outcome: &Result<Callback>) -> &'static str {
    match outcome {
        Ok(_) => "code",
        Err(Error::AuthorizationDenied { .. }) => "denied",
        Err(_) => "missing_code",
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
             and register that URI in the Spotify app's settings (registered without a port, \
             e.g. http://127.0.0.1/callback, any free port is used)"
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
