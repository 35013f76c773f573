//! The Web API middleware's decisions, without I/O, shared by both adapters
//! (`ureq.rs`, `reqwest.rs`): which requests may carry the token, and what
//! follows each response (return it, refresh and send again, wait and send
//! again). The adapters only move requests and responses.

use std::fmt;
use std::time::Duration;

use url::{Origin, Url};

use super::WebApiPolicy;
use crate::config::BackoffHook;
use crate::{Error, Result};

/// A validated [`WebApiPolicy`].
pub(crate) struct Core {
    origin: Origin,
    max_retry_after: Duration,
    max_rate_limit_retries: u32,
    retry_after_hook: Option<BackoffHook>,
}

/// What one request has been through so far.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    /// The token was refreshed after a 401 (once per request at most).
    refreshed: bool,
    /// Retries made after a 429.
    rate_limited: u32,
}

/// What a response says, as far as the decisions go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Answer<'a> {
    /// The status code.
    pub status: u16,
    /// The `Retry-After` header.
    pub retry_after: Option<&'a str>,
    /// Whether the response came from the API's origin (redirects followed).
    pub from_api: bool,
}

/// What follows a response.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Hand the response to the caller.
    Return,
    /// The Web API refused the token sent: replace it (naming the refused
    /// one), then send the request again with the new one when `resend`,
    /// else hand the 401 to the caller (whose own retry will carry the new
    /// token).
    Refresh {
        /// Whether the request can be sent again.
        resend: bool,
    },
    /// Rate limited: wait this long (what `Retry-After` asked for, before
    /// the hook), then send the request again.
    Wait(Duration),
}

impl Core {
    /// Checks the policy. Errors: [`Error::Config`] (setting `api_origin`).
    pub fn new(policy: &WebApiPolicy) -> Result<Self> {
        let origin = api_origin(&policy.api_origin)?;
        Ok(Self {
            origin,
            max_retry_after: policy.max_retry_after,
            max_rate_limit_retries: policy.max_rate_limit_retries,
            retry_after_hook: policy.retry_after_hook.clone(),
        })
    }

    /// The default policy: Spotify's origin.
    pub fn spotify() -> Self {
        Self::new(&WebApiPolicy::new()).expect("Spotify's API origin is a valid URL")
    }

    /// Whether a request to `url` gets the token: only when it goes to the
    /// API's origin (same scheme, host and port; default ports count as
    /// given).
    pub fn authorizes(&self, url: &Url) -> bool {
        url.origin() == self.origin
    }

    /// What follows a response to an authorized request: its `status` and
    /// `Retry-After`, whether it came from the API's origin (`from_api`:
    /// not after a redirect elsewhere, whose 401 says nothing of our token),
    /// and whether the request can be sent again (`replayable`: its body
    /// could be kept).
    pub fn after(&self, attempts: &mut Attempts, answer: Answer<'_>, replayable: bool) -> Step {
        let Answer {
            status,
            retry_after,
            from_api,
        } = answer;
        if !from_api {
            return Step::Return;
        }
        match status {
            401 if !attempts.refreshed => {
                attempts.refreshed = true;
                Step::Refresh { resend: replayable }
            }
            429 if replayable && attempts.rate_limited < self.max_rate_limit_retries => {
                match retry_after.and_then(parse_retry_after) {
                    Some(wait) if wait <= self.max_retry_after => {
                        attempts.rate_limited += 1;
                        Step::Wait(wait)
                    }
                    // Longer than allowed, or no usable Retry-After.
                    _ => Step::Return,
                }
            }
            _ => Step::Return,
        }
    }

    /// The time actually waited for a `Retry-After` of `asked`.
    pub fn actual_wait(&self, asked: Duration) -> Duration {
        match &self.retry_after_hook {
            Some(hook) => hook(asked),
            None => asked,
        }
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("origin", &self.origin.ascii_serialization())
            .field("max_retry_after", &self.max_retry_after)
            .field("max_rate_limit_retries", &self.max_rate_limit_retries)
            .field("retry_after_hook", &self.retry_after_hook.is_some())
            .finish()
    }
}

/// The origin of an absolute `http(s)` URL with a host.
fn api_origin(url: &str) -> Result<Origin> {
    let invalid = |why: &str| {
        Error::config(
            "api_origin",
            format!("{why}: give an absolute http(s) URL such as https://api.spotify.com"),
        )
    };
    let parsed = Url::parse(url).map_err(|_| invalid("not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(invalid("not an http(s) URL with a host"));
    }
    Ok(parsed.origin())
}

/// `Retry-After` in seconds, Spotify's form. An HTTP date (which Spotify
/// does not send) counts as absent.
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core(policy: WebApiPolicy) -> Core {
        Core::new(&policy).unwrap()
    }

    fn api(status: u16, retry_after: Option<&str>) -> Answer<'_> {
        Answer {
            status,
            retry_after,
            from_api: true,
        }
    }

    #[test]
    fn a_response_from_elsewhere_is_returned() {
        let core = core(WebApiPolicy::new());
        for (status, retry_after) in [(401, None), (429, Some("1"))] {
            let elsewhere = Answer {
                status,
                retry_after,
                from_api: false,
            };
            assert_eq!(
                core.after(&mut Attempts::default(), elsewhere, true),
                Step::Return
            );
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn only_the_api_origin_gets_the_token() {
        let spotify = core(WebApiPolicy::new());
        assert!(spotify.authorizes(&url("https://api.spotify.com/v1/me")));
        assert!(spotify.authorizes(&url("https://api.spotify.com:443/v1/me")));
        assert!(spotify.authorizes(&url("https://API.spotify.com/v1/me?x=1")));
        for other in [
            "http://api.spotify.com/v1/me",
            "https://api.spotify.com:8443/v1/me",
            "https://accounts.spotify.com/api/token",
            "https://api.spotify.com.evil.example/v1/me",
            "https://evil.example/https://api.spotify.com/v1/me",
            "https://user@evil.example/v1/me",
            "file:///v1/me",
        ] {
            assert!(!spotify.authorizes(&url(other)), "{other}");
        }
        let local = core(WebApiPolicy::new().api_origin("http://127.0.0.1:8080/v1"));
        assert!(local.authorizes(&url("http://127.0.0.1:8080/v1/me")));
        assert!(!local.authorizes(&url("http://127.0.0.1:8081/v1/me")));
        assert!(!local.authorizes(&url("http://localhost:8080/v1/me")));
    }

    #[test]
    fn a_bad_origin_is_a_config_error() {
        for bad in [
            "",
            "api.spotify.com",
            "ftp://api.spotify.com",
            "data:text/plain,x",
        ] {
            let made = Core::new(&WebApiPolicy::new().api_origin(bad));
            assert!(
                matches!(
                    &made,
                    Err(Error::Config {
                        setting: "api_origin",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_401_refreshes_once() {
        let core = core(WebApiPolicy::new());
        let mut attempts = Attempts::default();
        assert_eq!(
            core.after(&mut attempts, api(401, None), true),
            Step::Refresh { resend: true }
        );
        assert_eq!(
            core.after(&mut attempts, api(401, None), true),
            Step::Return
        );

        let mut attempts = Attempts::default();
        assert_eq!(
            core.after(&mut attempts, api(401, None), false),
            Step::Refresh { resend: false },
            "refreshed, but the body is gone"
        );
    }

    #[test]
    fn a_429_waits_within_the_cap_and_the_budget() {
        let core = core(
            WebApiPolicy::new()
                .max_retry_after(Duration::from_secs(5))
                .max_rate_limit_retries(2),
        );
        let mut attempts = Attempts::default();
        assert_eq!(
            core.after(&mut attempts, api(429, Some("5")), true),
            Step::Wait(Duration::from_secs(5))
        );
        assert_eq!(
            core.after(&mut attempts, api(429, Some(" 0 ")), true),
            Step::Wait(Duration::ZERO)
        );
        assert_eq!(
            core.after(&mut attempts, api(429, Some("1")), true),
            Step::Return,
            "no retries left"
        );
        let mut attempts = Attempts::default();
        for over in [
            Some("6"),
            Some("soon"),
            Some("Wed, 21 Oct 2015 07:28:00 GMT"),
            None,
        ] {
            assert_eq!(
                core.after(&mut attempts, api(429, over), true),
                Step::Return
            );
        }
        assert_eq!(
            core.after(&mut attempts, api(429, Some("1")), false),
            Step::Return
        );
        let none = self::core(WebApiPolicy::new().max_rate_limit_retries(0));
        assert_eq!(
            none.after(&mut Attempts::default(), api(429, Some("1")), true),
            Step::Return
        );
    }

    #[test]
    fn everything_else_is_returned() {
        let core = core(WebApiPolicy::new());
        for status in [200, 201, 204, 301, 302, 400, 403, 404, 500, 502, 503, 504] {
            assert_eq!(
                core.after(&mut Attempts::default(), api(status, Some("1")), true),
                Step::Return,
                "{status}"
            );
        }
    }

    #[test]
    fn the_hook_decides_the_wait() {
        let plain = core(WebApiPolicy::new());
        assert_eq!(
            plain.actual_wait(Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        let hooked = core(WebApiPolicy::new().retry_after_hook(|_| Duration::ZERO));
        assert_eq!(hooked.actual_wait(Duration::from_secs(3)), Duration::ZERO);
    }
}
