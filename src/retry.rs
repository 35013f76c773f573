//! The retry policy, as pure functions: which outcomes of a token request are
//! retried, and how long to wait before each retry.

use std::time::Duration;

use crate::token::TokenResponse;
use crate::{Error, ErrorBody, HttpErrorKind, Result};

/// How token requests are retried.
///
/// Connection errors, timeouts, dropped connections and 5xx responses are
/// retried up to `max_retries` times, waiting `initial_delay`, doubling each time up to
/// `max_delay`, each delay multiplied by a random factor in `[0.5, 1.0]`.
/// A 429 is retried after its `Retry-After` when that fits the budget. Other
/// 4xx are never retried, nor is a TLS failure (a refused certificate
/// does not heal in seconds), nor an authorization-code exchange whose
/// request may have been sent (codes are single-use): that is retried only
/// when it could not connect, or got a 429. [`HttpErrorKind`] says which
/// transport failures are which, the same in both modes.
///
/// The planned delays of one call add up to at most `max_total_delay`, so a
/// call takes at most `(max_retries + 1) × timeout + max_total_delay`. A
/// [`backoff_hook`](crate::AuthorizationCodeBuilder::backoff_hook) decides
/// the delay actually waited: one that returns longer delays than planned
/// lengthens the call by as much (the budget counts the planned ones).
///
/// Settings may be added in later versions (`#[non_exhaustive]`): start
/// from [`new`](Self::new) (the defaults) and change what you need with the
/// `with_*` setters, or assign the public fields.
///
/// ```
/// use std::time::Duration;
/// use spotify_auth::RetryPolicy;
///
/// let policy = RetryPolicy::new()
///     .with_max_retries(5)
///     .with_initial_delay(Duration::from_millis(200))
///     .with_max_total_delay(Duration::from_secs(10));
/// assert_eq!(policy.max_delay, RetryPolicy::default().max_delay);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// The delay before the first retry, before jitter (default 0.5 s).
    pub initial_delay: Duration,
    /// The largest delay between two attempts, before jitter (default 8 s).
    pub max_delay: Duration,
    /// The most one call may sleep in all, `Retry-After` included
    /// (default 30 s).
    pub max_total_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_total_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The defaults: 3 retries, 0.5 s doubling up to 8 s, 30 s in all.
    pub fn new() -> Self {
        Self::default()
    }

    /// With this many retries after the first attempt
    /// ([`max_retries`](Self::max_retries)).
    #[must_use]
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// With this delay before the first retry
    /// ([`initial_delay`](Self::initial_delay)).
    #[must_use]
    pub fn with_initial_delay(mut self, initial_delay: Duration) -> Self {
        self.initial_delay = initial_delay;
        self
    }

    /// With this largest delay between two attempts
    /// ([`max_delay`](Self::max_delay)).
    #[must_use]
    pub fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// With this total sleeping budget for one call
    /// ([`max_total_delay`](Self::max_total_delay)).
    #[must_use]
    pub fn with_max_total_delay(mut self, max_total_delay: Duration) -> Self {
        self.max_total_delay = max_total_delay;
        self
    }

    /// The exponential delay before retry number `retry` (1 for the first
    /// retry), before jitter: `initial_delay × 2^(retry-1)`, at most `max_delay`.
    pub fn base_delay(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }

    /// [`base_delay`](Self::base_delay) times `jitter`, which is clamped to
    /// `[0.5, 1.0]`.
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        self.base_delay(retry).mul_f64(jitter.clamp(0.5, 1.0))
    }

    /// A random jitter factor in `[0.5, 1.0]` (not for secrets: fastrand).
    pub fn random_jitter() -> f64 {
        0.5 + fastrand::f64() * 0.5
    }
}

/// What a token endpoint answered, as the transports report it. `Debug`
/// shows the body's length only: it may hold tokens.
pub(crate) struct RawResponse {
    pub status: u16,
    /// The `Retry-After` header, when present.
    pub retry_after: Option<String>,
    /// At most `MAX_BODY + 1` bytes of the body.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawResponse")
            .field("status", &self.status)
            .field("retry_after", &self.retry_after)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// What to do after one attempt.
#[derive(Debug)]
pub(crate) enum Step {
    /// Stop with this result.
    Done(Result<TokenResponse>),
    /// Wait this long, then try again.
    Retry(Duration),
}

/// Whether a request may be sent again after it may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// A refresh or an app token: sending it again is harmless, so every
    /// passing failure is retried.
    Allowed,
    /// An authorization code exchange: the code is single-use, so once the
    /// request may have been sent (a timeout, a dropped connection, a 5xx)
    /// a retry could only earn `invalid_grant` and hide the real error. Only
    /// failures to connect (nothing sent) and 429 (refused unprocessed) are
    /// retried.
    OnlyUnsent,
}

/// Decides what follows one attempt. `retry` is the number of retries made so
/// far, `slept` the time already slept in this call, `jitter` the factor for
/// this delay.
pub(crate) fn decide(
    policy: &RetryPolicy,
    attempt: Result<RawResponse>,
    retry: u32,
    slept: Duration,
    jitter: f64,
    resend: Resend,
) -> Step {
    let retries_left = retry < policy.max_retries;
    let backoff = || {
        let d = policy.delay(retry + 1, jitter);
        (retries_left && slept.saturating_add(d) <= policy.max_total_delay).then_some(d)
    };
    let response = match attempt {
        Ok(r) => r,
        Err(e @ Error::Http { kind, .. }) if retries_transport(kind, resend) => {
            return match backoff() {
                Some(d) => Step::Retry(d),
                None => Step::Done(Err(e)),
            };
        }
        Err(e) => return Step::Done(Err(e)),
    };
    match response.status {
        200..=299 => Step::Done(TokenResponse::parse(&response.body)),
        429 => {
            let retry_after = response.retry_after.as_deref().and_then(parse_retry_after);
            match retry_after {
                Some(wait) => {
                    if retries_left && slept.saturating_add(wait) <= policy.max_total_delay {
                        Step::Retry(wait)
                    } else {
                        Step::Done(Err(Error::RateLimited { retry_after: wait }))
                    }
                }
                // No usable Retry-After: back off as for a 5xx.
                None => match backoff() {
                    Some(d) => Step::Retry(d),
                    None => Step::Done(Err(endpoint_error(&response))),
                },
            }
        }
        500..=599 if resend == Resend::Allowed => match backoff() {
            Some(d) => Step::Retry(d),
            None => Step::Done(Err(endpoint_error(&response))),
        },
        _ => Step::Done(Err(endpoint_error(&response))),
    }
}

/// Whether a transport failure of `kind` is retried: what the kind says of
/// the request (see [`HttpErrorKind`]) decides, the same in both modes. A
/// failure to connect sent nothing, so it is retried even for a single-use
/// code; a timeout or a dropped connection may have reached Spotify, so it
/// is retried only for a request that may be sent again; a TLS failure
/// (a certificate refused) will not heal within the call, so it never is.
pub(crate) fn retries_transport(kind: HttpErrorKind, resend: Resend) -> bool {
    match kind {
        HttpErrorKind::Connect => true,
        HttpErrorKind::Timeout | HttpErrorKind::Other => resend == Resend::Allowed,
        HttpErrorKind::Tls => false,
    }
}

/// `Retry-After` in seconds (Spotify's form). HTTP dates are not used by
/// Spotify and are treated as absent.
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The error for a non-2xx response, with Spotify's `error` and
/// `error_description` when the body is the usual JSON object.
pub(crate) fn endpoint_error(response: &RawResponse) -> Error {
    let json: Option<serde_json::Value> = serde_json::from_slice(&response.body).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let body_len = response.body.len().min(crate::token::MAX_BODY);
    Error::TokenEndpoint {
        status: response.status,
        error: field("error"),
        description: field("error_description"),
        body: ErrorBody(String::from_utf8_lossy(&response.body[..body_len]).into_owned()),
    }
}

/// Whether an error is the kind a retry later could cure: the network, a
/// server error, or rate limiting (not a refused client or grant).
pub(crate) fn is_transient(e: &Error) -> bool {
    match e {
        Error::Http { .. } | Error::RateLimited { .. } => true,
        Error::TokenEndpoint { status, .. } => *status >= 500,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> Result<RawResponse> {
        Ok(RawResponse {
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn the_setters_change_one_setting_each() {
        assert_eq!(RetryPolicy::new(), RetryPolicy::default());
        let p = RetryPolicy::new()
            .with_max_retries(9)
            .with_initial_delay(Duration::from_millis(1))
            .with_max_delay(Duration::from_millis(2))
            .with_max_total_delay(Duration::from_millis(3));
        assert_eq!(
            p,
            RetryPolicy {
                max_retries: 9,
                initial_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(2),
                max_total_delay: Duration::from_millis(3),
            }
        );
    }

    #[test]
    fn a_raw_response_debug_never_shows_its_body() {
        let r = resp(
            200,
            r#"{"access_token":"secret-access","refresh_token":"secret-refresh"}"#,
        )
        .unwrap();
        let shown = format!("{r:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("body_len"), "{shown}");
    }

    #[test]
    fn delays_double_and_cap() {
        let p = RetryPolicy::default();
        let ms = |r| p.base_delay(r).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(4), ms(5), ms(6), ms(40)],
            [500, 1000, 2000, 4000, 8000, 8000, 8000]
        );
        assert_eq!(p.delay(1, 0.5), Duration::from_millis(250));
        assert_eq!(p.delay(1, 1.0), Duration::from_millis(500));
        assert_eq!(
            p.delay(1, 7.0),
            Duration::from_millis(500),
            "jitter clamped"
        );
        for _ in 0..1000 {
            let j = RetryPolicy::random_jitter();
            assert!((0.5..=1.0).contains(&j));
        }
    }

    #[test]
    fn an_exchange_is_retried_only_when_nothing_was_sent() {
        let p = RetryPolicy::default();
        let only = Resend::OnlyUnsent;
        let conn = Err(Error::http(HttpErrorKind::Connect, "refused"));
        assert!(matches!(
            decide(&p, conn, 0, Duration::ZERO, 1.0, only),
            Step::Retry(_)
        ));
        for kind in [HttpErrorKind::Timeout, HttpErrorKind::Other] {
            let sent = Err(Error::http(kind, "lost"));
            assert!(matches!(
                decide(&p, sent, 0, Duration::ZERO, 1.0, only),
                Step::Done(Err(Error::Http { .. }))
            ));
        }
        assert!(matches!(
            decide(&p, resp(502, ""), 0, Duration::ZERO, 1.0, only),
            Step::Done(Err(Error::TokenEndpoint { status: 502, .. }))
        ));
        let limited = Ok(RawResponse {
            status: 429,
            retry_after: Some("1".into()),
            body: Vec::new(),
        });
        assert!(matches!(
            decide(&p, limited, 0, Duration::ZERO, 1.0, only),
            Step::Retry(_)
        ));
    }

    #[test]
    fn what_is_retried() {
        let p = RetryPolicy::default();
        assert!(
            matches!(decide(&p, resp(500, ""), 0, Duration::ZERO, 1.0, Resend::Allowed), Step::Retry(d) if d == Duration::from_millis(500))
        );
        assert!(
            matches!(decide(&p, resp(503, ""), 2, Duration::ZERO, 1.0, Resend::Allowed), Step::Retry(d) if d == Duration::from_secs(2))
        );
        assert!(matches!(
            decide(&p, resp(503, ""), 3, Duration::ZERO, 1.0, Resend::Allowed),
            Step::Done(Err(Error::TokenEndpoint { status: 503, .. }))
        ));
        let conn = Err(Error::http(HttpErrorKind::Connect, "refused"));
        assert!(matches!(
            decide(&p, conn, 0, Duration::ZERO, 1.0, Resend::Allowed),
            Step::Retry(_)
        ));
        let conn = Err(Error::http(HttpErrorKind::Connect, "refused"));
        assert!(matches!(
            decide(&p, conn, 3, Duration::ZERO, 1.0, Resend::Allowed),
            Step::Done(Err(Error::Http { .. }))
        ));
        for status in [400, 401, 403, 404, 302] {
            let body = r#"{"error":"invalid_grant","error_description":"Invalid refresh token"}"#;
            match decide(
                &p,
                resp(status, body),
                0,
                Duration::ZERO,
                1.0,
                Resend::Allowed,
            ) {
                Step::Done(Err(Error::TokenEndpoint {
                    status: s,
                    error,
                    description,
                    body: b,
                })) => {
                    assert_eq!(s, status);
                    assert_eq!(error.as_deref(), Some("invalid_grant"));
                    assert_eq!(description.as_deref(), Some("Invalid refresh token"));
                    assert_eq!(b.as_str(), body);
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        assert!(matches!(
            decide(
                &p,
                resp(200, "nope"),
                0,
                Duration::ZERO,
                1.0,
                Resend::Allowed
            ),
            Step::Done(Err(Error::InvalidTokenResponse { .. }))
        ));
    }

    #[test]
    fn a_tls_failure_is_never_retried_and_the_kind_alone_decides() {
        let p = RetryPolicy::default();
        for resend in [Resend::Allowed, Resend::OnlyUnsent] {
            let tls = Err(Error::http(HttpErrorKind::Tls, "certificate refused"));
            assert!(matches!(
                decide(&p, tls, 0, Duration::ZERO, 1.0, resend),
                Step::Done(Err(Error::Http {
                    kind: HttpErrorKind::Tls,
                    ..
                }))
            ));
            for kind in [
                HttpErrorKind::Connect,
                HttpErrorKind::Timeout,
                HttpErrorKind::Tls,
                HttpErrorKind::Other,
            ] {
                let step = decide(
                    &p,
                    Err(Error::http(kind, "x")),
                    0,
                    Duration::ZERO,
                    1.0,
                    resend,
                );
                assert_eq!(
                    matches!(step, Step::Retry(_)),
                    retries_transport(kind, resend),
                    "{kind} {resend:?}"
                );
            }
        }
    }

    #[test]
    fn retry_after() {
        let p = RetryPolicy::default();
        let r429 = |after: &str| {
            Ok(RawResponse {
                status: 429,
                retry_after: Some(after.into()),
                body: vec![],
            })
        };
        assert!(
            matches!(decide(&p, r429("1"), 0, Duration::ZERO, 1.0, Resend::Allowed), Step::Retry(d) if d == Duration::from_secs(1))
        );
        assert!(
            matches!(decide(&p, r429("3600"), 0, Duration::ZERO, 1.0, Resend::Allowed), Step::Done(Err(Error::RateLimited { retry_after })) if retry_after == Duration::from_secs(3600))
        );
        assert!(
            matches!(
                decide(
                    &p,
                    r429("10"),
                    0,
                    Duration::from_secs(25),
                    1.0,
                    Resend::Allowed
                ),
                Step::Done(Err(Error::RateLimited { .. }))
            ),
            "beyond the remaining budget"
        );
        assert!(
            matches!(
                decide(&p, r429("1"), 3, Duration::ZERO, 1.0, Resend::Allowed),
                Step::Done(Err(Error::RateLimited { .. }))
            ),
            "no retries left"
        );
        assert!(
            matches!(decide(&p, r429("soon"), 0, Duration::ZERO, 1.0, Resend::Allowed), Step::Retry(d) if d == Duration::from_millis(500))
        );
    }

    #[test]
    fn total_sleep_is_bounded() {
        let p = RetryPolicy {
            max_retries: 20,
            ..RetryPolicy::default()
        };
        let mut slept = Duration::ZERO;
        let mut retry = 0;
        while let Step::Retry(d) = decide(&p, resp(500, ""), retry, slept, 1.0, Resend::Allowed) {
            slept += d;
            retry += 1;
        }
        assert!(slept <= p.max_total_delay);
        assert!(retry < 20);
    }
}
