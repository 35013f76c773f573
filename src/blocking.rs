//! The blocking API (feature `blocking`, on by default): ureq for HTTP, plain
//! threads for waiting.
//!
//! ```no_run
//! use spotify_auth::blocking::AuthorizationCode;
//!
//! let auth = AuthorizationCode::builder()
//!     .client_id("your-client-id")
//!     .redirect_uri("http://127.0.0.1:8888/callback")
//!     .refresh_token("a-refresh-token-from-an-earlier-login")
//!     .build()?;
//! let token = auth.get_access_token()?;
//! # let _ = token;
//! # Ok::<(), spotify_auth::Error>(())
//! ```
//!
//! Everything here is the same code as [`crate::asynchronous`], compiled
//! without `async`.

use maybe_async::must_be_sync as maybe;

#[path = "transport/ureq.rs"]
mod transport;
use transport::Transport;

/// The HTTP client this mode uses.
pub type HttpClient = ureq::Agent;

/// The process-wide client every blocking instance built without
/// `http_client(...)` uses (one per process, made on first use): no
/// redirects, the library's `User-Agent`, rustls with ring verifying against
/// the operating system's trust store, HTTP error statuses returned as
/// responses (not errors). Use it for your own Web API calls to share its
/// connections and TLS set-up; set timeouts per request.
pub fn default_http_client() -> crate::Result<HttpClient> {
    Ok(transport::default_agent())
}

/// The lock refreshes are serialised with: a plain mutex (waiting callers
/// block their thread, as blocking callers expect).
struct FlowMutex<T>(std::sync::Mutex<T>);

impl<T> FlowMutex<T> {
    fn new(value: T) -> Self {
        Self(std::sync::Mutex::new(value))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        // A panic in a user's cache while refreshing leaves nothing half-done
        // in the slot, so a poisoned lock is safe to keep using.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock if no one holds it now.
    fn try_lock(&self) -> Option<std::sync::MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// Runs a refresh, exchange or logout to its end: here, on the caller's
/// thread (a blocking call cannot be cancelled half-way).
fn detached<T>(work: T) -> T {
    work
}

/// Work that must not hold up its callers (a refresh ahead, a retry of an
/// owed write): a thread of its own. False when none could be started.
fn beside(work: impl FnOnce() + Send + 'static) -> bool {
    std::thread::Builder::new()
        .name("spotify-auth-refresh".to_owned())
        .spawn(work)
        .is_ok()
}

/// Runs cache I/O: here, directly.
fn blocking_io<T>(f: impl FnOnce() -> crate::Result<T>) -> crate::Result<T> {
    f()
}

use std::thread::sleep;

/// Takes the store's lock (waiting for another holder when `wait`) and
/// reads the store under it: here, directly.
fn lock_store(
    cache: std::sync::Arc<dyn crate::TokenCache>,
    wait: bool,
) -> crate::Result<Option<(crate::CacheLock, crate::Result<Option<crate::Entry>>)>> {
    crate::cache::lock_and_read(&*cache, wait)
}

/// Waits for the browser's callback on this thread.
fn wait_for_callback(
    server: crate::callback::CallbackServer,
    state: String,
    scope: crate::Scopes,
    timeout: std::time::Duration,
) -> crate::Result<crate::authorize::Callback> {
    server.wait(&state, &scope, timeout)
}

// The same file as the other mode's, by design (see flow.rs).
#[allow(clippy::duplicate_mod)]
#[path = "flow.rs"]
mod flow;
pub use flow::*;

pub use crate::config::{AuthorizationCodeBuilder, ClientCredentialsBuilder};

/// This mode's registry of per-user instances (see [`crate::UserRegistry`]).
pub type UserRegistry = crate::UserRegistry<AuthorizationCode>;

// The Web API middleware: the token source written once (like flow.rs),
// this mode's HTTP client adapter, and the shared policy.
#[allow(clippy::duplicate_mod)]
#[path = "middleware/token_source.rs"]
mod token_source;
pub use token_source::TokenSource;
#[path = "middleware/ureq.rs"]
mod web_api;
pub use crate::middleware::WebApiPolicy;
pub use web_api::WebApiMiddleware;
