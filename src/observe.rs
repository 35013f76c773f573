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
//!   good enough (`expires_at`; no request), a refresh starting
//!   (`bootstrap`: with the builder's refresh token rather than the
//!   cache's), a cache write that failed (`WARN`: `failures`, `retry_in_ms`,
//!   `error`) and the retried write that succeeded (`failures`), a token
//!   held in memory only dropped because the cache moved on, a logout found
//!   in the cache (`WARN`), `invalid_grant` (`WARN`: `still_cached`, whether
//!   the cache still held the refused token and so lost it), `logout()`
//!   (`cleared`, and `error` when the cache could not be cleared).
//!
//! Files: `detach` (a caller that goes away from work that runs on),
//! `lifecycle` (the flows' events, one function each), `requests` (a token
//! request's attempts, retries and outcome).
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
//! `waited_ms`, `polls`), waited for, wait given up, renewed (`TRACE`),
//! renewal failed (`error`, without the password), lost (`WARN`), released,
//! and a fenced write refused (`lost`); `SealedCache` (feature `encryption`)
//! re-sealing a stored token with the current key (`place`), or failing to
//! (`WARN`: `place`, `error`).

// Without either API, most of this has no user (the caches use a little).
#![cfg_attr(
    not(any(feature = "blocking", feature = "async")),
    allow(dead_code, unused_macros, unused_imports)
)]

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

// After the macros: the submodules use them.
mod detach;
#[cfg(any(feature = "blocking", feature = "async"))]
mod lifecycle;
#[cfg(any(feature = "blocking", feature = "async"))]
mod requests;

pub(crate) use detach::detach;
#[cfg(any(feature = "blocking", feature = "async"))]
pub(crate) use lifecycle::*;
#[cfg(any(feature = "blocking", feature = "async"))]
pub(crate) use requests::TokenRequestLog;

/// An error as a `tracing` value: recorded with its chain of sources.
pub(crate) fn err(e: &crate::Error) -> &(dyn std::error::Error + 'static) {
    e
}

/// Measures a wait for an event's `waited_ms`; empty without the feature.
#[derive(Clone, Copy)]
pub(crate) struct Stopwatch {
    #[cfg(feature = "tracing")]
    started: crate::clock::Instant,
}

impl Stopwatch {
    /// Starts measuring.
    #[inline(always)]
    pub(crate) fn start() -> Self {
        Stopwatch {
            #[cfg(feature = "tracing")]
            started: crate::clock::Instant::now(),
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
#[cfg(all(feature = "async", not(target_arch = "wasm32")))]
pub(crate) fn carry_span_fn<T>(f: impl FnOnce() -> T) -> impl FnOnce() -> T {
    #[cfg(feature = "tracing")]
    {
        let span = tracing::Span::current();
        move || span.in_scope(f)
    }
    #[cfg(not(feature = "tracing"))]
    f
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
        use super::Stopwatch;
        use super::detach::{Caller, Task};
        use std::mem::size_of;
        assert_eq!(size_of::<Stopwatch>(), 0);
        assert_eq!(size_of::<Caller>(), 0);
        assert_eq!(size_of::<Task>(), 0);
        #[cfg(any(feature = "blocking", feature = "async"))]
        assert_eq!(size_of::<super::TokenRequestLog>(), 0);
    }
}
