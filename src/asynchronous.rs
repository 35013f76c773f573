//! The async API (feature `async`): reqwest for HTTP, tokio for waiting.
//!
//! ```no_run
//! use spotify_auth::asynchronous::AuthorizationCode;
//!
//! # async fn run() -> spotify_auth::Result<()> {
//! let auth = AuthorizationCode::builder()
//!     .client_id("your-client-id")
//!     .redirect_uri("http://127.0.0.1:8888/callback")
//!     .refresh_token("a-refresh-token-from-an-earlier-login")
//!     .build()?;
//! let token = auth.get_access_token().await?;
//! # let _ = token;
//! # Ok(())
//! # }
//! ```
//!
//! Everything here is the same code as [`crate::blocking`], compiled as
//! `async`. No call blocks a runtime thread: cache I/O runs on tokio's
//! blocking pool, and callers waiting for a refresh wait on an async mutex.
//!
//! On wasm32 (the browser, edge workers) it is the same code again over
//! the browser's `fetch`, with tasks on the JavaScript event loop and no
//! tokio runtime; the loopback login (`authorize_local`) is absent there:
//! see `spotify_auth::browser` (wasm32 only) and the README's "Browser (wasm32)".

use maybe_async::must_be_async as maybe;

// The mode glue on wasm32: the same names as below, over the browser.
#[cfg(target_arch = "wasm32")]
mod wasm;
#[cfg(target_arch = "wasm32")]
use wasm::{beside, blocking_io, detached, lock_store, sleep};

#[path = "transport/reqwest.rs"]
mod transport;
use transport::Transport;
#[cfg(not(target_arch = "wasm32"))]
#[path = "transport/per_runtime.rs"]
mod per_runtime;

/// The HTTP client this mode uses.
pub type HttpClient = reqwest::Client;

/// The client every async instance built without `http_client(...)` uses
/// on the current tokio runtime: no redirects, the library's `User-Agent`,
/// rustls with ring verifying against the operating system's trust store.
/// There is one per runtime, made on first use there and dropped when that
/// runtime shuts down, because a `reqwest::Client`'s connections run on the
/// runtime that opened them: shared with a runtime that ends, they would
/// cut this runtime's requests mid-way (a refresh Spotify processed, its
/// answer lost). Called outside any runtime, it returns one process-wide
/// client. Use it for your own Web API calls on the same runtime to share
/// its connection pool and TLS set-up; set timeouts per request. On wasm32
/// it is the browser's `fetch` (its TLS, its redirects, its `User-Agent`),
/// and this never fails.
///
/// Errors: [`Error::Config`](crate::Error::Config) (setting `http_client`)
/// when the operating system's CA certificates cannot be loaded.
pub fn default_http_client() -> crate::Result<HttpClient> {
    transport::default_client()
}

/// The lock refreshes are serialised with: tokio's mutex, which waits without
/// blocking a thread; its guard is owned, so that a refresh running in a task
/// of its own ([`detached`]) holds it to the end. It needs no runtime: the
/// same on wasm32 (where the pages sharing a store are serialised by the
/// store's own lock, a Web Lock).
struct FlowMutex<T>(std::sync::Arc<tokio::sync::Mutex<T>>);

impl<T> FlowMutex<T> {
    fn new(value: T) -> Self {
        Self(std::sync::Arc::new(tokio::sync::Mutex::new(value)))
    }

    async fn lock(&self) -> tokio::sync::OwnedMutexGuard<T> {
        self.0.clone().lock_owned().await
    }

    /// The lock if no one holds it now.
    fn try_lock(&self) -> Option<tokio::sync::OwnedMutexGuard<T>> {
        self.0.clone().try_lock_owned().ok()
    }
}

/// Runs a refresh, exchange or logout to its end in a task of its own, and
/// waits for its result: a caller whose future is dropped (a timeout, a
/// closed request) stops waiting, but a request that may have been sent is
/// never abandoned, and the token it brings is adopted and stored.
#[cfg(not(target_arch = "wasm32"))]
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = crate::Result<T>> + Send + 'static,
) -> crate::Result<T> {
    joined(tokio::spawn(crate::observe::carry_span(work)).await)
}

/// Work that must not hold up its callers (a refresh ahead, a retry of an
/// owed write): a task of its own, not awaited.
#[cfg(not(target_arch = "wasm32"))]
fn beside<F>(work: impl FnOnce() -> F) -> bool
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(crate::observe::carry_span(work()));
    true
}

/// Runs cache I/O on tokio's blocking pool.
#[cfg(not(target_arch = "wasm32"))]
async fn blocking_io<T: Send + 'static>(
    f: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> crate::Result<T> {
    joined(tokio::task::spawn_blocking(crate::observe::carry_span_fn(f)).await)
}

/// The result of a task: its own, its panic resumed here, or an error when
/// the runtime is shutting down and cancelled it.
#[cfg(not(target_arch = "wasm32"))]
fn joined<T>(
    joined: std::result::Result<crate::Result<T>, tokio::task::JoinError>,
) -> crate::Result<T> {
    match joined {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(crate::Error::Cache {
            path: None,
            message: "the runtime is shutting down".into(),
            source: None,
        }),
    }
}

#[cfg(not(target_arch = "wasm32"))]
use tokio::time::sleep;

/// Takes the store's lock (waiting for another holder when `wait`) and
/// reads the store under it, on tokio's blocking pool; a lock the store
/// grants asynchronously ([`TokenCache::lock_async`](crate::TokenCache::lock_async))
/// is awaited, and only the read goes to the pool.
#[cfg(not(target_arch = "wasm32"))]
async fn lock_store(
    cache: std::sync::Arc<dyn crate::TokenCache>,
    wait: bool,
) -> crate::Result<Option<(crate::CacheLock, crate::Result<Option<crate::Entry>>)>> {
    if let Some(taking) = cache.lock_async(wait) {
        let Some(guard) = taking.await? else {
            return Ok(None);
        };
        let stored = blocking_io(move || Ok(cache.read().and_then(crate::entry::unsealed))).await?;
        return Ok(Some((guard, stored)));
    }
    blocking_io(move || crate::cache::lock_and_read(&*cache, wait)).await
}

/// Waits for the browser's callback on tokio's blocking pool; dropping the
/// future cancels the wait, which stops the server and frees the port.
#[cfg(not(target_arch = "wasm32"))]
async fn wait_for_callback(
    server: crate::callback::CallbackServer,
    state: String,
    scope: crate::Scopes,
    timeout: std::time::Duration,
) -> crate::Result<crate::authorize::Callback> {
    struct CancelOnDrop(std::sync::Arc<crate::callback::CallbackServer>);
    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            self.0.cancel();
        }
    }
    let server = std::sync::Arc::new(server);
    let _cancel = CancelOnDrop(server.clone());
    blocking_io(move || server.wait(&state, &scope, timeout)).await
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
#[path = "middleware/reqwest.rs"]
mod web_api;
pub use crate::middleware::WebApiPolicy;
pub use web_api::WebApiMiddleware;
