//! The one error type of the crate.
//!
//! Every variant is something a caller can act on. No variant ever holds or
//! prints a secret: client secret, access or refresh token, authorization code
//! or PKCE verifier. Errors are cheap to clone so that every caller waiting on
//! one shared refresh can receive the same error.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while authorizing or getting a token.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing or invalid. `setting` names it; `message` says what
    /// to change (and, for settings that have one, which environment variable
    /// provides it).
    #[error("configuration error: {setting}: {message}")]
    Config {
        /// The setting at fault, e.g. `client_id` or `redirect_uri`.
        setting: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The user (or Spotify) refused the authorization: the callback carried
    /// `error=...` (usually `access_denied`).
    #[error("authorization denied: {error}{}", fmt_description(.description))]
    AuthorizationDenied {
        /// The `error` parameter of the callback.
        error: String,
        /// The `error_description` parameter, when present.
        description: Option<String>,
    },

    /// The callback's `state` is missing or differs from the expected one: the
    /// response may be forged (CSRF), and its code is never exchanged.
    #[error("state mismatch: the callback's state does not match the one sent to Spotify")]
    StateMismatch,

    /// The callback carried neither a `code` nor an `error`.
    #[error("the callback URL carries no authorization code")]
    MissingCode,

    /// The token endpoint answered with an error (a 4xx, or a 5xx once the
    /// retries are spent).
    #[error("token endpoint error: HTTP {status}{}{}", fmt_code(.error), fmt_description(.description))]
    TokenEndpoint {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code (`invalid_client`, `invalid_request`, ...).
        error: Option<String>,
        /// The `error_description`.
        description: Option<String>,
        /// The response body as received (Spotify's JSON error object).
        body: ErrorBody,
    },

    /// The refresh token was refused with `invalid_grant`: it was revoked or it
    /// expired (Spotify refresh tokens last six months). The user must
    /// authorize again; the dead refresh token has been removed from the cache.
    #[error("re-authorization required: the refresh token was refused (invalid_grant{}); authorize again", fmt_description_inline(.description))]
    ReauthorizationRequired {
        /// Spotify's `error_description`, e.g. `Refresh token revoked`.
        description: Option<String>,
    },

    /// Spotify answered 429 with a `Retry-After` longer than the remaining
    /// retry budget.
    #[error("rate limited by the token endpoint: retry after {} s", .retry_after.as_secs_f64())]
    RateLimited {
        /// How long Spotify asked to wait.
        retry_after: Duration,
    },

    /// The token endpoint answered 2xx with a body that is not a valid token
    /// response (not JSON, no `access_token`, a bad `expires_in`, too large, ...).
    #[error("invalid token response: {reason}")]
    InvalidTokenResponse {
        /// What is wrong with it (never its content).
        reason: String,
    },

    /// The HTTP request could not be made or completed: connection refused,
    /// DNS, TLS, timeout, a connection dropped mid-response.
    #[error("HTTP transport error ({kind}): {message}")]
    Http {
        /// What kind of failure it was.
        kind: HttpErrorKind,
        /// The transport's description.
        message: String,
    },

    /// No token is cached and no refresh token is available: authorize first
    /// (`authorize_local`, or `get_authorization_url` + `exchange_code`).
    #[error(
        "no token available: authorize first (authorize_local, or get_authorization_url + exchange_code)"
    )]
    NotAuthorized,

    /// No callback arrived before the timeout.
    #[error("timed out after {} s waiting for the authorization callback", .0.as_secs_f64())]
    CallbackTimeout(Duration),

    /// The loopback callback server could not be started or failed.
    #[error("callback server on {address}: {message}")]
    CallbackServer {
        /// The address it tried to use.
        address: String,
        /// What went wrong.
        message: String,
    },

    /// The browser could not be opened.
    #[error("could not open the browser: {0}")]
    Browser(String),

    /// The token cache failed: an I/O error, or a file that does not hold a
    /// valid token.
    #[error("token cache {}: {message}", fmt_path(.path))]
    Cache {
        /// The file concerned, for file-based caches.
        path: Option<PathBuf>,
        /// What went wrong.
        message: String,
        /// The underlying I/O error, when there is one.
        #[source]
        source: Option<Arc<std::io::Error>>,
    },

    /// The blocking API was called from inside an async runtime, where it
    /// would block (or deadlock) the runtime: use `spotify_auth::asynchronous`.
    #[error(
        "{0}: the blocking API cannot run inside an async runtime; use spotify_auth::asynchronous (feature \"async\") instead"
    )]
    InsideAsyncRuntime(&'static str),

    /// A token Spotify issued (by an exchange, or a refresh) is kept in
    /// memory, and this instance goes on using it, but writing it to the
    /// token cache failed. The write is retried on later calls (with backoff)
    /// until it succeeds; `source` is the cache's error.
    #[error(
        "the token was issued and is kept in memory, but storing it in the token cache failed; the write is retried on later calls"
    )]
    TokenNotStored {
        /// The cache's error.
        #[source]
        source: Box<Error>,
    },

    /// A PKCE client exchanged a code that no authorization attempt of this
    /// instance is waiting for: its URL was made by another instance (use the
    /// stateless flow: `authorization_attempt` + `exchange_code_with_verifier`),
    /// or its exchange already succeeded or failed for good.
    #[error(
        "no authorization attempt of this instance is waiting for this code: make the authorization URL with this same AuthorizationCode (get_authorization_url), or use authorization_attempt + exchange_code_with_verifier across instances"
    )]
    UnknownAttempt,

    /// A PKCE client exchanged a code whose authorization attempt is too old
    /// (attempts last 30 minutes after their URL was made): start the login
    /// again.
    #[error("the authorization attempt expired: its URL was made {} s ago (attempts last {} s); start the login again", .age.as_secs(), .lifetime.as_secs())]
    AttemptExpired {
        /// How long ago the attempt's URL was made.
        age: Duration,
        /// How long attempts last.
        lifetime: Duration,
    },
}

/// What kind of HTTP transport failure an [`Error::Http`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpErrorKind {
    /// The connection could not be made (refused, unreachable, DNS).
    Connect,
    /// The request timed out.
    Timeout,
    /// Anything else: TLS, a dropped connection, a protocol error.
    Other,
}

impl fmt::Display for HttpErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpErrorKind::Connect => "connect",
            HttpErrorKind::Timeout => "timeout",
            HttpErrorKind::Other => "other",
        })
    }
}

/// The body of an error response from the token endpoint.
///
/// Kept for callers who want Spotify's own words; its `Debug` shows only its
/// length, so that logging an [`Error`] with `{:?}` can never leak whatever a
/// misbehaving server echoed back.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ErrorBody(pub(crate) String);

impl ErrorBody {
    /// The body as received.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorBody({} bytes)", self.0.len())
    }
}

impl Error {
    /// Whether the user must go through the browser authorization again
    /// ([`Error::ReauthorizationRequired`] or [`Error::NotAuthorized`]).
    pub fn requires_authorization(&self) -> bool {
        matches!(
            self,
            Error::ReauthorizationRequired { .. } | Error::NotAuthorized
        )
    }

    #[cfg(any(feature = "blocking", feature = "async", feature = "redis"))]
    pub(crate) fn config(setting: &'static str, message: impl Into<String>) -> Self {
        Error::Config {
            setting,
            message: message.into(),
        }
    }

    pub(crate) fn cache_io(path: &std::path::Path, what: &str, source: std::io::Error) -> Self {
        Error::Cache {
            path: Some(path.to_path_buf()),
            message: format!("{what}: {source}"),
            source: Some(Arc::new(source)),
        }
    }
}

/// Constructors used only by the modes' transports and token handling.
#[cfg(any(feature = "blocking", feature = "async"))]
impl Error {
    pub(crate) fn http(kind: HttpErrorKind, message: impl Into<String>) -> Self {
        Error::Http {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid_response(reason: impl Into<String>) -> Self {
        Error::InvalidTokenResponse {
            reason: reason.into(),
        }
    }
}

fn fmt_description(description: &Option<String>) -> String {
    match description {
        Some(d) => format!(" ({d})"),
        None => String::new(),
    }
}

fn fmt_description_inline(description: &Option<String>) -> String {
    match description {
        Some(d) => format!(": {d}"),
        None => String::new(),
    }
}

fn fmt_code(code: &Option<String>) -> String {
    match code {
        Some(c) => format!(" {c}"),
        None => String::new(),
    }
}

fn fmt_path(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!("{}", p.display()),
        None => "(custom)".to_string(),
    }
}
