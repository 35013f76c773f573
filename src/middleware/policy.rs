//! [`WebApiPolicy`]: what the Web API middleware of either mode may do (the
//! origin it authorizes, how long and how often it waits on a 429).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::config::BackoffHook;

/// The Web API's origin: only requests to it carry the token.
pub const SPOTIFY_API_ORIGIN: &str = "https://api.spotify.com";

/// The settings of a Web API middleware
/// ([`blocking::WebApiMiddleware`](crate::blocking::WebApiMiddleware),
/// [`asynchronous::WebApiMiddleware`](crate::asynchronous::WebApiMiddleware)).
///
/// ```
/// use std::time::Duration;
/// use spotify_auth::middleware::WebApiPolicy;
///
/// let policy = WebApiPolicy::new()
///     .api_origin("http://127.0.0.1:8080")      // a test server or a proxy
///     .max_retry_after(Duration::from_secs(10)) // wait at most 10 s on a 429
///     .max_rate_limit_retries(1);
/// # let _ = policy;
/// ```
#[derive(Clone)]
#[must_use]
pub struct WebApiPolicy {
    pub(crate) api_origin: String,
    pub(crate) max_retry_after: Duration,
    pub(crate) max_rate_limit_retries: u32,
    pub(crate) retry_after_hook: Option<BackoffHook>,
}

impl Default for WebApiPolicy {
    fn default() -> Self {
        Self {
            api_origin: SPOTIFY_API_ORIGIN.to_owned(),
            max_retry_after: Duration::from_secs(30),
            max_rate_limit_retries: 2,
            retry_after_hook: None,
        }
    }
}

impl WebApiPolicy {
    /// The defaults: Spotify's origin, `Retry-After` honoured up to 30 s,
    /// at most 2 retries after a 429 per request.
    pub fn new() -> Self {
        Self::default()
    }

    /// The origin whose requests get the token (default
    /// [`SPOTIFY_API_ORIGIN`]): any absolute `http(s)` URL, of which only
    /// the scheme, host and port count (`http://127.0.0.1:8080/v1` is the
    /// origin `http://127.0.0.1:8080`). Checked when the middleware is made;
    /// a bad one is [`Error::Config`](crate::Error::Config) (setting
    /// `api_origin`).
    pub fn api_origin(mut self, url: impl Into<String>) -> Self {
        self.api_origin = url.into();
        self
    }

    /// The longest `Retry-After` waited on a 429 (default 30 s). A 429
    /// asking for longer is returned as it is.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// How many times one request is sent again after a 429 (default 2;
    /// 0: a 429 is always returned as it is).
    pub fn max_rate_limit_retries(mut self, retries: u32) -> Self {
        self.max_rate_limit_retries = retries;
        self
    }

    /// Called before each wait on a 429 with the `Retry-After` asked for;
    /// returns the time to wait instead. For logging, or for tests that must
    /// not sleep (`|_| Duration::ZERO`). The cap
    /// ([`max_retry_after`](Self::max_retry_after)) applies to what was
    /// asked for.
    pub fn retry_after_hook(
        mut self,
        hook: impl Fn(Duration) -> Duration + Send + Sync + 'static,
    ) -> Self {
        self.retry_after_hook = Some(Arc::new(hook));
        self
    }
}

impl fmt::Debug for WebApiPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebApiPolicy")
            .field("api_origin", &self.api_origin)
            .field("max_retry_after", &self.max_retry_after)
            .field("max_rate_limit_retries", &self.max_rate_limit_retries)
            .field("retry_after_hook", &self.retry_after_hook.is_some())
            .finish()
    }
}
