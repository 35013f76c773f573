//! The async mode's glue on wasm32 (the browser, edge workers): the names
//! `flow.rs` needs, over the JavaScript event loop instead of tokio's
//! runtime, which does not exist there.
//!
//! - tasks: `wasm_bindgen_futures::spawn_local` (one thread: the page's or
//!   the worker's);
//! - sleeps and timeouts: the JS timers (`gloo-timers`);
//! - cache I/O runs inline: a browser has no blocking I/O to move off the
//!   thread (`localStorage` answers at once), and a lock the store grants
//!   asynchronously (the Web Locks of [`crate::browser`]) is awaited;
//! - the refresh mutex: `FlowMutex` in `asynchronous.rs`, tokio's, which
//!   needs no runtime.
//!
//! The browser's futures (`fetch`, timers, Web Locks) are not `Send`. Each
//! is wrapped where it is made ([`local`]), so that the flow's futures keep
//! the `Send` bounds they have on native targets (frameworks such as
//! Leptos ask for `Send` futures in the browser too): the wrapper is sound
//! because such a future can only be polled on the thread that made it,
//! and it panics (never undefined behaviour) if it ever were elsewhere.

use std::future::Future;
use std::sync::{Arc, Once};
use std::time::Duration;

use send_wrapper::SendWrapper;

use crate::{CacheLock, Entry, Error, Result, TokenCache};

/// A future made on this thread (a JS promise, a timer), `Send` for the
/// flow's bounds; polled or dropped on another thread it panics.
pub(crate) fn local<F: Future>(future: F) -> SendWrapper<F> {
    SendWrapper::new(future)
}

/// Runs a refresh, exchange or logout to its end in a task of its own on
/// the event loop, and waits for its result: a caller whose future is
/// dropped stops waiting, but a request that may have been sent is never
/// abandoned (while the page lives), and the token it brings is adopted and
/// stored. The task starts at once; only the receiving end is awaited.
pub(super) fn detached<T: Send + 'static>(
    work: impl Future<Output = Result<T>> + 'static,
) -> impl Future<Output = Result<T>> + Send {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    wasm_bindgen_futures::spawn_local(crate::observe::carry_span(async move {
        let _ = sender.send(work.await);
    }));
    async move {
        // A task that ends without an answer panicked (wasm32 aborts on a
        // panic, so this is not expected to be seen).
        receiver.await.unwrap_or_else(|_| {
            Err(Error::cache(
                "the task running the request ended without an answer",
            ))
        })
    }
}

/// Work that must not hold up its callers (a refresh ahead, a retry of an
/// owed write): a task of its own on the event loop, not awaited.
pub(super) fn beside<F>(work: impl FnOnce() -> F) -> bool
where
    F: Future<Output = ()> + 'static,
{
    wasm_bindgen_futures::spawn_local(crate::observe::carry_span(work()));
    true
}

/// Runs cache I/O: here, inline (nothing in a browser blocks).
pub(super) async fn blocking_io<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    f()
}

/// The longest `setTimeout` browsers honour (a longer one fires at once).
const MAX_TIMEOUT_MS: u128 = i32::MAX as u128;

/// Sleeps on the event loop (a JS timer).
pub(super) fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
    let ms = duration.as_millis().min(MAX_TIMEOUT_MS) as u32;
    local(gloo_timers::future::TimeoutFuture::new(ms))
}

/// How often a lock taken by a call (not a Web Lock) is tried again while
/// another holder has it.
const LOCK_RETRY: Duration = Duration::from_millis(10);

/// Takes the store's lock (waiting for another holder when `wait`) and
/// reads the store under it. A lock the store grants asynchronously
/// ([`TokenCache::lock_async`]: a Web Lock) is awaited; one taken by a call
/// cannot be waited for on the page's only thread, so it is tried again
/// after a pause until it is free.
pub(super) async fn lock_store(
    cache: Arc<dyn TokenCache>,
    wait: bool,
) -> Result<Option<(CacheLock, Result<Option<Entry>>)>> {
    if let Some(taking) = cache.lock_async(wait) {
        let Some(guard) = taking.await? else {
            return Ok(None);
        };
        let stored = cache.read().and_then(crate::entry::unsealed);
        return Ok(Some((guard, stored)));
    }
    loop {
        let taken = crate::cache::lock_and_read(&*cache, false)?;
        if taken.is_some() || !wait {
            return Ok(taken);
        }
        sleep(LOCK_RETRY).await;
    }
}

/// Seeds the retry jitter's generator (`fastrand`, which on wasm32 starts
/// from a fixed seed) from the browser's CSPRNG, once: pages retrying at
/// once then spread out. Jitter only, never a secret.
pub(super) fn seed_jitter() {
    static SEEDED: Once = Once::new();
    SEEDED.call_once(|| {
        let mut seed = [0u8; 8];
        if getrandom::fill(&mut seed).is_ok() {
            fastrand::seed(u64::from_le_bytes(seed));
        }
    });
}
