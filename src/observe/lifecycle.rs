//! The lifecycle events of the flows (`flow.rs`, `session.rs`), one
//! function each so that their call sites stay one line; and the values of
//! the flows' span fields.

use super::{Stopwatch, err};
use crate::session::Need;
use crate::{CacheLock, RefreshToken, Result, TokenCache, TokenInfo};

/// The host of an endpoint, for a span field.
#[cfg(feature = "tracing")]
pub(crate) fn host(url: &url::Url) -> &str {
    url.host_str().unwrap_or("")
}

/// A `refresh` span's `need`.
#[cfg(feature = "tracing")]
pub(crate) fn need(need: &Need) -> &'static str {
    match need {
        Need::Valid => "valid",
        Need::Replace(_) => "replace",
        Need::Settle => "settle",
    }
}

/// An [`EndReason`](crate::EndReason) as an event field.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) fn end_reason(reason: crate::EndReason) -> &'static str {
    match reason {
        crate::EndReason::Logout => "logout",
        crate::EndReason::Refused => "refused",
    }
}

/// A token is adopted (made the one in memory): `from` says where it came
/// from; `used` is the refresh token a refresh sent (to tell a rotation).
#[inline(always)]
pub(crate) fn adopted(from: &'static str, token: &TokenInfo, used: Option<&RefreshToken>) {
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
#[inline(always)]
pub(crate) fn from_cache(token: &TokenInfo, same_as_memory: impl FnOnce() -> bool) {
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
#[inline(always)]
pub(crate) fn forced_refresh(need: &Need) {
    debug!(
        flow,
        had_token = matches!(need, Need::Replace(Some(_))),
        "forced refresh: the caller's token was rejected"
    );
}

/// A caller that waited for the refresh lock takes the outcome of the
/// refresh another caller made meanwhile.
#[inline(always)]
pub(crate) fn took_outcome(waiting: &Stopwatch, outcome: &Result<String>) {
    debug!(
        flow,
        waited_ms = waiting.ms(),
        ok = outcome.is_ok(),
        "took the outcome of the refresh another caller made meanwhile"
    );
}

/// Spotify refused a refresh token (`invalid_grant`); `still_cached`: the
/// store still held it (or nothing), and records the refusal.
#[inline(always)]
pub(crate) fn refused(still_cached: bool) {
    warn_event!(
        flow,
        still_cached,
        "Spotify refused the refresh token (invalid_grant): the user must authorize again"
    );
}

/// `logout()` is over: the login in memory is forgotten; `recorded`: the
/// outcome of writing the logout record to the store.
#[inline(always)]
pub(crate) fn logged_out(recorded: &Result<()>) {
    match recorded {
        Ok(()) => debug!(flow, recorded = true, "logged out"),
        Err(e) => debug!(
            flow,
            recorded = false,
            error = err(e),
            "logged out here; the logout record could not be written yet (it is retried)"
        ),
    }
}

/// Takes `cache`'s lock, reporting how long that took, or its failure.
pub(crate) fn lock_cache(cache: &dyn TokenCache) -> Result<CacheLock> {
    let waiting = Stopwatch::start();
    let locked = cache.lock();
    match &locked {
        Ok(_) => trace!(flow, waited_ms = waiting.ms(), "took the cache's lock"),
        Err(e) => debug!(flow, error = err(e), "could not take the cache's lock"),
    }
    locked
}
