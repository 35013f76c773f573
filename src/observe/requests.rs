//! What one token request reports: each attempt, each retry and its reason,
//! the outcome (also recorded on its `token_request` span).

use std::time::Duration;

#[cfg(feature = "tracing")]
use super::err;
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
                Ok(r) => trace!(
                    flow,
                    attempt = self.attempts,
                    status = r.status,
                    "token endpoint answered"
                ),
                Err(e) => trace!(
                    flow,
                    attempt = self.attempts,
                    error_kind = kind(e),
                    error = err(e),
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
        debug!(
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
                Ok(_) => debug!(
                    flow,
                    attempts = self.attempts,
                    status = self.status,
                    "token request succeeded"
                ),
                Err(e) if resend == Resend::OnlyUnsent && maybe_sent(e) => debug!(
                    flow,
                    attempts = self.attempts,
                    error = err(e),
                    "token request failed; not retried: the authorization code may have reached Spotify, and codes are single-use"
                ),
                Err(e) => debug!(
                    flow,
                    attempts = self.attempts,
                    status = self.status,
                    error = err(e),
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
        Err(Error::Http {
            kind: HttpErrorKind::Tls,
            ..
        }) => "tls failure",
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
        Error::Http {
            kind: HttpErrorKind::Tls,
            ..
        } => "tls",
        _ => "other",
    }
}

/// Whether a failure would have been retried, had the request been one
/// that may be sent again.
#[cfg(feature = "tracing")]
fn maybe_sent(e: &Error) -> bool {
    match e {
        Error::Http { kind, .. } => {
            crate::retry::retries_transport(*kind, Resend::Allowed)
                && *kind != HttpErrorKind::Connect
        }
        Error::TokenEndpoint { status, .. } => *status >= 500,
        _ => false,
    }
}
