//! Observability: what the library reports through `tracing` (feature
//! `tracing`, off by default), and the small helpers its call sites use.
//!
//! Off, none of it exists: there is no `tracing` dependency, every event
//! macro expands to a block that is never run (its arguments are type-checked
//! but never evaluated) and the helper types are empty.
//!
//! On, the library emits spans and events under three targets, so that a
//! filter such as `spotify_auth=debug` or `spotify_auth::cache=trace` picks
//! what to see. **No field ever holds a secret**: no client secret, access or
//! refresh token, authorization code, PKCE verifier, `state`, URL carrying
//! one of them, or Redis lock owner token. Errors are recorded as
//! `std::error::Error` values (their chain: these never carry a secret
//! either).
//!
//! Levels: `DEBUG` for the lifecycle, `TRACE` for detail, `WARN` for what a
//! caller does not see as an `Err` but an operator should know (a token held
//! in memory only because its cache write failed, a logout found in the
//! cache, a refresh token Spotify refused, a Redis lock lost). Nothing is
//! logged at `ERROR`: failures reach the caller as errors.
//!
//! # Spans (target `spotify_auth::flow`, level `DEBUG`)
//!
//! | span | fields |
//! |---|---|
//! | `refresh` | `need`: `valid` (a token was due) or `replace` (`force_refresh`) |
//! | `token_request` | `grant` (`authorization_code`, `refresh_token`, `client_credentials`), `host` (the token endpoint's); recorded at the end: `attempts`, `status` (the last HTTP status, if any), `outcome` (`ok`, `error`) |
//! | `exchange` | (the code exchange, to its end) |
//! | `authorize_local` | (the whole browser login) |
//! | `logout` | |
//!
//! In the async API a refresh, exchange or logout that runs on in a task of
//! its own, and cache I/O on tokio's blocking pool, stay inside the caller's
//! span.
//!
//! # Events
//!
//! Target `spotify_auth::flow`:
//!
//! - token requests: each attempt (`attempt`, and `status` or `error_kind`
//!   with `error`; `TRACE`), each retry (`attempt`, `delay_ms`, `reason`:
//!   `server error (5xx)`, `rate limited (429, Retry-After)`,
//!   `rate limited (429, no usable Retry-After)`, `connect error`, `timeout`,
//!   `transport error`), the outcome (`attempts`, `status`, `error`), and an
//!   exchange not retried because its request may have been sent (codes are
//!   single-use);
//! - single-flight: a caller that waited and took the outcome of another
//!   caller's refresh (`waited_ms`, `ok`), the refresh lock taken
//!   (`waited_ms`, `TRACE`), the cache lock taken (`waited_ms`, `TRACE`) or
//!   failed, a caller that went away while its refresh, exchange or logout
//!   runs on (async), and that work finishing with no caller left (`work`,
//!   `ok`), a forced refresh (`had_token`: whether this instance held the
//!   rejected token);
//! - lifecycle: a token adopted (`from`: `cache` when another instance or
//!   process wrote it, `refresh`, `exchange`, `client_credentials`;
//!   `expires_at` in Unix seconds, `expires_in` in seconds; `rotated` for a
//!   refresh: whether Spotify sent a new refresh token), the cache's token
//!   good enough (`expires_at`; no request), a
//!   refresh starting (`bootstrap`: with the builder's refresh token rather
//!   than the cache's), a cache write that failed (`WARN`: `failures`,
//!   `retry_in_ms`, `error`) and the retried write that succeeded
//!   (`failures`), a token held in memory only dropped because the cache
//!   moved on, a logout found in the cache (`WARN`), `invalid_grant` (`WARN`:
//!   `still_cached`, whether the cache still held the refused token and so
//!   lost it), `logout()` (`cleared`).
//!
//! Target `spotify_auth::callback` (the `authorize_local` server): bound
//! (`address`, `port`: `pinned` or `any free`), each request (`reply`:
//! `not_found`, `method_not_allowed`, `not_a_callback`, or `state_mismatch`
//! with `state`: `missing`, `wrong`, `repeated`; all ignored, the wait goes
//! on), the callback accepted (`outcome`: `code`, `denied`, `missing_code`;
//! `waited_ms`), a timeout or a cancel.
//!
//! Target `spotify_auth::cache`: `FileTokenCache` waiting for its lock file
//! and taking it (`path`, `waited_ms`); `RedisTokenCache` lock taken (`key`,
//! `waited_ms`, `polls`), wait timed out, renewed (`TRACE`), renewal failed,
//! lost (`WARN`), released, and a fenced write refused.

// Without either API, most of this has no user (the caches use a little).
#![cfg_attr(
    not(any(feature = "blocking", feature = "async")),
    allow(dead_code, unused_macros, unused_imports)
)]

#[cfg(any(feature = "blocking", feature = "async"))]
pub(crate) use requests::TokenRequestLog;

/// An event at `$level` (a [`tracing::Level`] constant's name) for `$area`
/// (`flow`, `callback` or `cache`), with `tracing`'s field syntax.
#[cfg(feature = "tracing")]
macro_rules! event {
    ($level:ident, flow, $($field:tt)+) => {
        ::tracing::event!(target: "spotify_auth::flow", ::tracing::Level::$level, $($field)+)
    };
    ($level:ident, callback, $($field:tt)+) => {
        ::tracing::event!(target: "spotify_auth::callback", ::tracing::Level::$level, $($field)+)
    };
    ($level:ident, cache, $($field:tt)+) => {
        ::tracing::event!(target: "spotify_auth::cache", ::tracing::Level::$level, $($field)+)
    };
}

/// Without the feature: the fields are type-checked, never evaluated.
#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($level:ident, $area:ident, $($field:tt)+) => {
        if false {
            $crate::observe::unevaluated!($($field)+);
        }
    };
}

/// Borrows each value of a `tracing` field list, in code that never runs:
/// the values count as used without being evaluated.
#[cfg(not(feature = "tracing"))]
macro_rules! unevaluated {
    () => {};
    ($message:literal $(, $arg:expr)* $(,)?) => { $(let _ = &$arg;)* };
    ($name:ident = % $value:expr $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::observe::unevaluated!($($rest)*);)?
    };
    ($name:ident = ? $value:expr $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::observe::unevaluated!($($rest)*);)?
    };
    ($name:ident = $value:expr $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::observe::unevaluated!($($rest)*);)?
    };
    (% $value:ident $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::observe::unevaluated!($($rest)*);)?
    };
    (? $value:ident $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::observe::unevaluated!($($rest)*);)?
    };
    ($value:ident $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::observe::unevaluated!($($rest)*);)?
    };
}

/// A `TRACE` event: `observe::trace!(flow, field = value, "message")`.
macro_rules! trace {
    ($($t:tt)+) => { $crate::observe::event!(TRACE, $($t)+) };
}

/// A `DEBUG` event: `observe::debug!(flow, field = value, "message")`.
macro_rules! debug {
    ($($t:tt)+) => { $crate::observe::event!(DEBUG, $($t)+) };
}

/// A `WARN` event: `observe::warn!(flow, field = value, "message")`.
macro_rules! warn_event {
    ($($t:tt)+) => { $crate::observe::event!(WARN, $($t)+) };
}

#[cfg(not(feature = "tracing"))]
pub(crate) use unevaluated;
#[allow(unused_imports)] // each is used by some feature combinations only
pub(crate) use {debug, event, trace, warn_event as warn};

/// An error as a `tracing` value: recorded with its chain of sources.
pub(crate) fn err(e: &crate::Error) -> &(dyn std::error::Error + 'static) {
    e
}

/// Measures a wait for an event's `waited_ms`; empty without the feature.
#[derive(Clone, Copy)]
pub(crate) struct Stopwatch {
    #[cfg(feature = "tracing")]
    started: std::time::Instant,
}

impl Stopwatch {
    /// Starts measuring.
    #[inline(always)]
    pub(crate) fn start() -> Self {
        Stopwatch {
            #[cfg(feature = "tracing")]
            started: std::time::Instant::now(),
        }
    }

    /// Whole milliseconds since [`start`](Self::start) (0 without the feature).
    pub(crate) fn ms(&self) -> u64 {
        #[cfg(feature = "tracing")]
        return u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        #[cfg(not(feature = "tracing"))]
        0
    }
}

/// The caller's side of work that runs to its end whatever happens to the
/// caller (a refresh, an exchange, a logout: see `detached` in the modes):
/// dropped before the work finished, it reports that the caller went away.
/// Empty without the feature.
pub(crate) struct Caller {
    #[cfg(feature = "tracing")]
    watch: std::sync::Arc<detach::Watch>,
}

/// The work's side of [`Caller`]: [`finished`](Task::finished) reports the
/// work ending with no caller left to take its result.
pub(crate) struct Task {
    #[cfg(feature = "tracing")]
    watch: std::sync::Arc<detach::Watch>,
}

/// The two sides of `work` ("refresh", "exchange", "logout").
#[inline(always)]
pub(crate) fn detach(work: &'static str) -> (Caller, Task) {
    #[cfg(feature = "tracing")]
    {
        let watch = std::sync::Arc::new(detach::Watch::new(work));
        (
            Caller {
                watch: watch.clone(),
            },
            Task { watch },
        )
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = work;
        (Caller {}, Task {})
    }
}

impl Task {
    /// The work is over (`ok`: it succeeded).
    #[inline(always)]
    pub(crate) fn finished(&self, ok: bool) {
        #[cfg(feature = "tracing")]
        self.watch.finished(ok);
        #[cfg(not(feature = "tracing"))]
        let _ = ok;
    }
}

#[cfg(feature = "tracing")]
impl Drop for Caller {
    fn drop(&mut self) {
        self.watch.caller_left();
    }
}

#[cfg(feature = "tracing")]
mod detach {
    use std::sync::atomic::{AtomicU8, Ordering};

    const RUNNING: u8 = 0;
    const FINISHED: u8 = 1;
    const ABANDONED: u8 = 2;

    /// Who is still there: the caller, the work, or both.
    pub(super) struct Watch {
        work: &'static str,
        state: AtomicU8,
    }

    impl Watch {
        pub(super) fn new(work: &'static str) -> Self {
            Watch {
                work,
                state: AtomicU8::new(RUNNING),
            }
        }

        pub(super) fn caller_left(&self) {
            let left = self.state.compare_exchange(
                RUNNING,
                ABANDONED,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            if left.is_ok() {
                super::debug!(
                    flow,
                    work = self.work,
                    "the caller went away; its work runs on to its end"
                );
            }
        }

        pub(super) fn finished(&self, ok: bool) {
            if self.state.swap(FINISHED, Ordering::AcqRel) == ABANDONED {
                super::debug!(
                    flow,
                    work = self.work,
                    ok,
                    "work finished with no caller left (its outcome is kept for the next caller)"
                );
            }
        }
    }
}

/// `fut` inside the current span, wherever it is polled (a spawned task).
#[cfg(feature = "async")]
pub(crate) fn carry_span<F: std::future::Future>(
    fut: F,
) -> impl std::future::Future<Output = F::Output> {
    #[cfg(feature = "tracing")]
    return tracing::Instrument::in_current_span(fut);
    #[cfg(not(feature = "tracing"))]
    fut
}

/// `f` inside the current span, on whichever thread it runs (tokio's
/// blocking pool).
#[cfg(feature = "async")]
pub(crate) fn carry_span_fn<T>(f: impl FnOnce() -> T) -> impl FnOnce() -> T {
    #[cfg(feature = "tracing")]
    {
        let span = tracing::Span::current();
        move || span.in_scope(f)
    }
    #[cfg(not(feature = "tracing"))]
    f
}

/// The host of an endpoint, for a span field.
#[cfg(all(feature = "tracing", any(feature = "blocking", feature = "async")))]
pub(crate) fn host(url: &url::Url) -> &str {
    url.host_str().unwrap_or("")
}

/// A `refresh` span's `need`.
#[cfg(all(feature = "tracing", any(feature = "blocking", feature = "async")))]
pub(crate) fn need(need: &crate::session::Need) -> &'static str {
    match need {
        crate::session::Need::Valid => "valid",
        crate::session::Need::Replace(_) => "replace",
    }
}

/// A token is adopted (made the one in memory): `from` says where it came
/// from; `used` is the refresh token a refresh sent (to tell a rotation).
#[cfg(any(feature = "blocking", feature = "async"))]
#[inline(always)]
pub(crate) fn adopted(
    from: &'static str,
    token: &crate::TokenInfo,
    used: Option<&crate::RefreshToken>,
) {
    debug!(
        flow,
        from,
        expires_at = token.expires_at,
        expires_in = token.expires_in().as_secs(),
        rotated = used.map(|used| token.refresh_token.as_ref() != Some(used)),
        "adopted a token"
    );
}

/// The cache's token, read under its lock, is adopted: reported when it is
/// not the one in memory already (`same_as_memory`, only called with the
/// feature: another instance or process wrote it).
#[cfg(any(feature = "blocking", feature = "async"))]
#[inline(always)]
pub(crate) fn from_cache(token: &crate::TokenInfo, same_as_memory: impl FnOnce() -> bool) {
    #[cfg(feature = "tracing")]
    if same_as_memory() {
        trace!(flow, "the cache holds the token in memory");
    } else {
        adopted("cache", token, None);
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (token, same_as_memory);
}

/// A forced refresh starts (`force_refresh`: the Web API rejected a token).
#[cfg(any(feature = "blocking", feature = "async"))]
#[inline(always)]
pub(crate) fn forced_refresh(need: &crate::session::Need) {
    debug!(
        flow,
        had_token = matches!(need, crate::session::Need::Replace(Some(_))),
        "forced refresh: the caller's token was rejected"
    );
}

/// A caller that waited for the refresh lock takes the outcome of the
/// refresh another caller made meanwhile.
#[cfg(any(feature = "blocking", feature = "async"))]
#[inline(always)]
pub(crate) fn took_outcome(waiting: &Stopwatch, outcome: &crate::Result<String>) {
    debug!(
        flow,
        waited_ms = waiting.ms(),
        ok = outcome.is_ok(),
        "took the outcome of the refresh another caller made meanwhile"
    );
}

/// Spotify refused a refresh token (`invalid_grant`); `still_cached`: the
/// cache still held it, and is emptied.
#[cfg(any(feature = "blocking", feature = "async"))]
#[inline(always)]
pub(crate) fn refused(still_cached: bool) {
    warn_event!(
        flow,
        still_cached,
        "Spotify refused the refresh token (invalid_grant): the user must authorize again"
    );
}

/// `logout()` is over: the token in memory is forgotten; `cleared`: the
/// cache's outcome.
#[cfg(any(feature = "blocking", feature = "async"))]
#[inline(always)]
pub(crate) fn logged_out(cleared: &crate::Result<()>) {
    match cleared {
        Ok(()) => debug!(flow, cleared = true, "logged out"),
        Err(e) => debug!(
            flow,
            cleared = false,
            error = err(e),
            "logged out here; the cache could not be cleared"
        ),
    }
}

/// Takes `cache`'s lock, reporting how long that took, or its failure.
#[cfg(any(feature = "blocking", feature = "async"))]
pub(crate) fn lock_cache(cache: &dyn crate::TokenCache) -> crate::Result<crate::CacheLock> {
    let waiting = Stopwatch::start();
    let locked = cache.lock();
    match &locked {
        Ok(_) => trace!(flow, waited_ms = waiting.ms(), "took the cache's lock"),
        Err(e) => debug!(flow, error = err(e), "could not take the cache's lock"),
    }
    locked
}

#[cfg(any(feature = "blocking", feature = "async"))]
mod requests {
    use std::time::Duration;

    use crate::Result;
    use crate::retry::{RawResponse, Resend};
    use crate::token::TokenResponse;
    #[cfg(feature = "tracing")]
    use crate::{Error, HttpErrorKind};

    /// What one token request reports: each attempt, each retry and its
    /// reason, the outcome (also recorded on the `token_request` span).
    /// Empty without the feature.
    #[derive(Default)]
    pub(crate) struct TokenRequestLog {
        #[cfg(feature = "tracing")]
        attempts: u32,
        #[cfg(feature = "tracing")]
        status: Option<u16>,
        #[cfg(feature = "tracing")]
        reason: &'static str,
    }

    impl TokenRequestLog {
        /// After each attempt: what it got.
        #[inline(always)]
        pub(crate) fn answered(&mut self, attempt: &Result<RawResponse>) {
            #[cfg(feature = "tracing")]
            {
                self.attempts += 1;
                self.status = attempt.as_ref().ok().map(|r| r.status);
                self.reason = reason(attempt);
                match attempt {
                    Ok(r) => super::trace!(
                        flow,
                        attempt = self.attempts,
                        status = r.status,
                        "token endpoint answered"
                    ),
                    Err(e) => super::trace!(
                        flow,
                        attempt = self.attempts,
                        error_kind = kind(e),
                        error = super::err(e),
                        "token request failed"
                    ),
                }
            }
            #[cfg(not(feature = "tracing"))]
            let _ = attempt;
        }

        /// Before sleeping `delay` for a retry.
        #[inline(always)]
        pub(crate) fn retrying(&self, delay: Duration) {
            #[cfg(feature = "tracing")]
            super::debug!(
                flow,
                attempt = self.attempts,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                reason = self.reason,
                "retrying the token request"
            );
            #[cfg(not(feature = "tracing"))]
            let _ = delay;
        }

        /// The request is over with `result`.
        #[inline(always)]
        pub(crate) fn done(&self, result: &Result<TokenResponse>, resend: Resend) {
            #[cfg(feature = "tracing")]
            {
                let span = tracing::Span::current();
                span.record("attempts", self.attempts);
                if let Some(status) = self.status {
                    span.record("status", status);
                }
                span.record("outcome", if result.is_ok() { "ok" } else { "error" });
                match result {
                    Ok(_) => super::debug!(
                        flow,
                        attempts = self.attempts,
                        status = self.status,
                        "token request succeeded"
                    ),
                    Err(e) if resend == Resend::OnlyUnsent && maybe_sent(e) => super::debug!(
                        flow,
                        attempts = self.attempts,
                        error = super::err(e),
                        "token request failed; not retried: the authorization code may have reached Spotify, and codes are single-use"
                    ),
                    Err(e) => super::debug!(
                        flow,
                        attempts = self.attempts,
                        status = self.status,
                        error = super::err(e),
                        "token request failed"
                    ),
                }
            }
            #[cfg(not(feature = "tracing"))]
            let _ = (result, resend);
        }
    }

    /// Why an attempt's outcome is retried (when it is).
    #[cfg(feature = "tracing")]
    fn reason(attempt: &Result<RawResponse>) -> &'static str {
        match attempt {
            Ok(r) if r.status == 429 => {
                match r.retry_after.as_deref().map(|v| v.trim().parse::<u64>()) {
                    Some(Ok(_)) => "rate limited (429, Retry-After)",
                    _ => "rate limited (429, no usable Retry-After)",
                }
            }
            Ok(r) if r.status >= 500 => "server error (5xx)",
            Ok(_) => "",
            Err(Error::Http {
                kind: HttpErrorKind::Connect,
                ..
            }) => "connect error",
            Err(Error::Http {
                kind: HttpErrorKind::Timeout,
                ..
            }) => "timeout",
            Err(_) => "transport error",
        }
    }

    /// A transport error's kind.
    #[cfg(feature = "tracing")]
    fn kind(e: &Error) -> &'static str {
        match e {
            Error::Http {
                kind: HttpErrorKind::Connect,
                ..
            } => "connect",
            Error::Http {
                kind: HttpErrorKind::Timeout,
                ..
            } => "timeout",
            _ => "other",
        }
    }

    /// Whether a failure would have been retried, had the request been one
    /// that may be sent again.
    #[cfg(feature = "tracing")]
    fn maybe_sent(e: &Error) -> bool {
        match e {
            Error::Http { kind, .. } => *kind != HttpErrorKind::Connect,
            Error::TokenEndpoint { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    fn counted(calls: &Cell<u32>) -> u32 {
        calls.set(calls.get() + 1);
        7
    }

    /// Off, an event's arguments are never evaluated (on, with no
    /// subscriber wanting them, neither: `tracing` checks first).
    #[test]
    fn event_arguments_are_not_evaluated_unless_wanted() {
        let calls = Cell::new(0);
        trace!(flow, value = counted(&calls), "message");
        debug!(cache, value = %counted(&calls), other = ?counted(&calls), "message {}", counted(&calls));
        warn_event!(callback, "message");
        assert_eq!(calls.get(), 0);
    }

    /// Off, the helpers hold nothing.
    #[cfg(not(feature = "tracing"))]
    #[test]
    fn helpers_are_empty_without_the_feature() {
        use super::{Caller, Stopwatch, Task};
        use std::mem::size_of;
        assert_eq!(size_of::<Stopwatch>(), 0);
        assert_eq!(size_of::<Caller>(), 0);
        assert_eq!(size_of::<Task>(), 0);
        #[cfg(any(feature = "blocking", feature = "async"))]
        assert_eq!(size_of::<super::TokenRequestLog>(), 0);
    }
}
