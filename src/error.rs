//! The one error type of the crate.
//!
//! Every variant is something a caller can act on. No variant ever holds or
//! prints a secret: client secret, access or refresh token, authorization code
//! or PKCE verifier. Errors are cheap to clone so that every caller waiting on
//! one shared refresh can receive the same error.
//!
//! Errors compose: an error caused by another one (the HTTP client's, an I/O
//! error, the OS random source's) keeps it as its
//! [`source`](std::error::Error::source) and does not repeat its text, so a
//! report that walks the chain (`anyhow`'s `{:#}`, `eyre`, `tracing`'s error
//! fields) prints each cause once:
//!
//! ```text
//! HTTP transport error (connect): io: Connection refused (os error 111)
//! ```
//!
//! `Display` alone (`{}`) prints only the outermost message: print the
//! chain when showing an error to a person.

use std::fmt;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while authorizing or getting a token.
///
/// Variants and fields may be added in later versions: the enum and each of
/// its variants with named fields are `#[non_exhaustive]`, so a `match`
/// needs a `_` arm and a pattern names the fields it reads followed by `..`
/// (`Error::TokenEndpoint { status, .. }`). The two tuple variants,
/// [`Error::CallbackTimeout`] and [`Error::Browser`], stay as they are.
/// The variants an implementation of [`TokenCache`](crate::TokenCache),
/// [`AttemptStore`](crate::AttemptStore) or a `TokenSource` returns have
/// constructors: [`Error::cache`], [`Error::cache_with_source`],
/// [`Error::cache_io`], [`Error::config`],
/// [`Error::reauthorization_required`]; the unit variants
/// ([`Error::NotAuthorized`], [`Error::AttemptNotFound`], ...) are written
/// as they are.
///
/// ```
/// use spotify_auth::Error;
///
/// fn advice(error: &Error) -> &'static str {
///     match error {
///         e if e.requires_authorization() => "log in again",
///         Error::RateLimited { .. } | Error::Http { .. } => "try again later",
///         Error::Cache { path: Some(_), .. } => "check the token file",
///         _ => "see the message",
///     }
/// }
/// assert_eq!(advice(&Error::cache("the database is down")), "see the message");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing or invalid. `setting` names it; `message` says what
    /// to change (and, for settings that have one, which environment variable
    /// provides it).
    #[error("configuration error: {setting}: {message}")]
    #[non_exhaustive]
    Config {
        /// The setting at fault, e.g. `client_id` or `redirect_uri`.
        setting: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The operating system's random number generator failed while making a
    /// `state`, a PKCE verifier or a lock owner token. Nothing was sent; the
    /// call can be retried, but this usually means the system is broken or
    /// sandboxed away from its entropy source.
    #[error("the operating system's random number generator failed")]
    #[non_exhaustive]
    Random {
        /// The `getrandom` error.
        #[source]
        source: ErrorSource,
    },

    /// The user (or Spotify) refused the authorization: the callback carried
    /// `error=...` (usually `access_denied`).
    #[error("authorization denied: {error}{}", fmt_description(.description))]
    #[non_exhaustive]
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
    #[non_exhaustive]
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
    /// authorize again; the refusal is recorded in the store in place of the
    /// dead refresh token, which no sharer sends again.
    #[error("re-authorization required: the refresh token was refused (invalid_grant{}); authorize again", fmt_description_inline(.description))]
    #[non_exhaustive]
    ReauthorizationRequired {
        /// Spotify's `error_description`, e.g. `Refresh token revoked`.
        description: Option<String>,
    },

    /// The stored login was granted fewer scopes than the app asks for now
    /// (the app added one since the user authorized): it is not used, and
    /// nothing is sent (a refresh cannot add scopes). The user must authorize
    /// again, with the new scopes.
    #[error(
        "re-authorization required: the stored login lacks scopes the app asks for ({missing}); authorize again"
    )]
    #[non_exhaustive]
    MissingScopes {
        /// The scopes asked for and not granted.
        missing: crate::Scopes,
    },

    /// Spotify answered 429 with a `Retry-After` longer than the remaining
    /// retry budget.
    #[error("rate limited by the token endpoint: retry after {} s", .retry_after.as_secs_f64())]
    #[non_exhaustive]
    RateLimited {
        /// How long Spotify asked to wait.
        retry_after: Duration,
    },

    /// The token endpoint answered 2xx with a body that is not a valid token
    /// response (not JSON, no `access_token`, a bad `expires_in`, too large, ...).
    #[error("invalid token response: {reason}")]
    #[non_exhaustive]
    InvalidTokenResponse {
        /// What is wrong with it (never its content).
        reason: String,
    },

    /// The HTTP request could not be made or completed: connection refused,
    /// DNS, TLS, timeout, a connection dropped mid-response; `kind` says
    /// which, the same in both modes.
    ///
    /// Its [`source`](std::error::Error::source) is the HTTP client's own
    /// error (`ureq::Error` in [`blocking`](crate::blocking),
    /// `reqwest::Error` in [`asynchronous`](crate::asynchronous)), whose
    /// chain says what happened (a refused connection, an unknown
    /// certificate issuer, ...).
    #[error("HTTP transport error ({kind})")]
    #[non_exhaustive]
    Http {
        /// What kind of failure it was.
        kind: HttpErrorKind,
        /// The HTTP client's error.
        #[source]
        source: ErrorSource,
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
    #[non_exhaustive]
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
    #[non_exhaustive]
    Cache {
        /// The file concerned, for file-based caches.
        path: Option<PathBuf>,
        /// What went wrong.
        message: String,
        /// The underlying error (a `std::io::Error` for files), when there
        /// is one; `message` does not repeat it.
        #[source]
        source: Option<ErrorSource>,
    },

    /// The token store lost its data (a Redis restart without persistence,
    /// an evicted key, a file removed), and every copy of the login written
    /// back since was refused by Spotify (stale copies, kept by instances
    /// that had not seen the latest refresh). An instance holding the live
    /// login writes it back when it next consults the store: try again
    /// shortly. Once one access-token lifetime (and at least a minute) has
    /// passed with none, the error is [`Error::ReauthorizationRequired`]
    /// instead. Nothing here
    /// requires a new authorization.
    #[error(
        "the token store lost its data, and the copies of the login written back since were refused by Spotify (stale copies); an instance holding the live login writes it back when it next consults the store: try again shortly"
    )]
    #[non_exhaustive]
    StoreRecovering {
        /// When the loss was found, in milliseconds since the Unix epoch.
        since_ms: u64,
    },

    /// A token Spotify issued (by an exchange, or a refresh) is kept in
    /// memory, and this instance goes on using it, but writing it to the
    /// token cache failed. The write is retried on later calls (with backoff)
    /// until it succeeds; `source` is the cache's error.
    #[error(
        "the token was issued and is kept in memory, but storing it in the token cache failed; the write is retried on later calls"
    )]
    #[non_exhaustive]
    TokenNotStored {
        /// The cache's error.
        #[source]
        source: Box<Error>,
    },

    /// `close()` waited its whole timeout (the builder's `close_timeout`) and
    /// work was still running after its callers: a refresh or an exchange
    /// whose request may have been sent, or a write to the token store. A
    /// program that exits now may lose what that work would have stored.
    #[error(
        "closing: {pending} piece(s) of work (a refresh, an exchange or a store write) still running after waiting {} s",
        .waited.as_secs_f64()
    )]
    #[non_exhaustive]
    CloseTimeout {
        /// How long `close()` waited.
        waited: Duration,
        /// How much work was still running.
        pending: usize,
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
    #[non_exhaustive]
    AttemptExpired {
        /// How long ago the attempt's URL was made.
        age: Duration,
        /// How long attempts last.
        lifetime: Duration,
    },

    /// A callback's state matches no authorization attempt kept in an
    /// attempt store (`AttemptStore::take`) for this session: the callback
    /// was forged, replayed (its attempt was already taken, by this replica
    /// or another), made for another session, or came after the attempt's
    /// lifetime. Nothing was sent to Spotify; start the login again.
    #[error(
        "no login attempt is waiting for this callback: it was forged, already used, made for another session, or expired; start the login again"
    )]
    AttemptNotFound,
}

/// What kind of HTTP transport failure an [`Error::Http`] is.
///
/// Both modes classify their client's errors the same way (ureq's in
/// [`blocking`](crate::blocking), reqwest's in
/// [`asynchronous`](crate::asynchronous)), so the same failure is the same
/// kind in both, and the kind alone decides whether a token request is
/// tried again within the call (see [`RetryPolicy`](crate::RetryPolicy)):
///
/// | kind | may the request have reached Spotify? | retried |
/// |---|---|---|
/// | [`Connect`](Self::Connect) | no | yes, every request |
/// | [`Timeout`](Self::Timeout) | yes | yes, except an authorization-code exchange |
/// | [`Other`](Self::Other) | yes | yes, except an authorization-code exchange |
/// | [`Tls`](Self::Tls) | no | never: it does not heal in seconds |
///
/// Every kind is a passing failure for the login: it is kept as it was (and
/// a token still valid is still handed out), and the next call tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpErrorKind {
    /// No connection could be made: the host name did not resolve, the
    /// connection was refused, or the address could not be reached. Nothing
    /// was sent.
    Connect,
    /// The request did not complete within the builder's `timeout`
    /// (connecting, sending or reading the answer).
    Timeout,
    /// TLS could not be set up with the server: its certificate was refused
    /// (an issuer the trust store does not hold, expired, made out to
    /// another name), the two sides share no protocol version or cipher,
    /// or the server ended the handshake with an alert; also a trust store
    /// that could not be loaded. Nothing was sent. The error's
    /// [`source`](std::error::Error::source) chain holds rustls's error,
    /// which says which.
    Tls,
    /// Anything else: the connection dropped or was reset mid-request, or
    /// the answer was not HTTP.
    Other,
}

impl fmt::Display for HttpErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpErrorKind::Connect => "connect",
            HttpErrorKind::Timeout => "timeout",
            HttpErrorKind::Tls => "tls",
            HttpErrorKind::Other => "other",
        })
    }
}

/// The cause of an [`Error`]: another error, shared so that [`Error`] stays
/// cheap to clone.
///
/// [`Error`]'s [`source`](std::error::Error::source) returns the error held
/// here itself, so it can be downcast to its concrete type:
///
/// ```
/// # fn check(error: &spotify_auth::Error) {
/// use std::error::Error as _;
/// if let Some(io) = error.source().and_then(|s| s.downcast_ref::<std::io::Error>()) {
///     eprintln!("I/O error: {:?}", io.kind());
/// }
/// # }
/// ```
///
/// It dereferences to that error. It does not implement
/// [`std::error::Error`] itself, on purpose: it is a handle, not a link of
/// the chain.
#[derive(Clone)]
pub struct ErrorSource(Arc<dyn std::error::Error + Send + Sync + 'static>);

impl ErrorSource {
    /// Wraps `error`.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ErrorSource(Arc::new(error))
    }
}

impl From<Box<dyn std::error::Error + Send + Sync + 'static>> for ErrorSource {
    fn from(error: Box<dyn std::error::Error + Send + Sync + 'static>) -> Self {
        ErrorSource(Arc::from(error))
    }
}

impl Deref for ErrorSource {
    type Target = dyn std::error::Error + Send + Sync + 'static;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl fmt::Debug for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
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
    /// ([`Error::ReauthorizationRequired`], [`Error::NotAuthorized`] or
    /// [`Error::MissingScopes`]).
    pub fn requires_authorization(&self) -> bool {
        matches!(
            self,
            Error::ReauthorizationRequired { .. }
                | Error::NotAuthorized
                | Error::MissingScopes { .. }
        )
    }

    /// An [`Error::Config`]: `setting` is wrong, `message` says how to fix
    /// it (an [`AttemptStore`](crate::AttemptStore) refuses an attempt's
    /// state with setting `state`).
    pub fn config(setting: &'static str, message: impl Into<String>) -> Self {
        Error::Config {
            setting,
            message: message.into(),
        }
    }

    /// An [`Error::ReauthorizationRequired`]: the login ended, the user
    /// must authorize again; `description` is Spotify's
    /// `error_description`, when there is one. For a `TokenSource` of your
    /// own whose login ended, and for tests of how a program handles it
    /// (the flows return it when Spotify refuses the refresh token).
    ///
    /// ```
    /// let error = spotify_auth::Error::reauthorization_required(None);
    /// assert!(error.requires_authorization());
    /// ```
    pub fn reauthorization_required(description: Option<String>) -> Self {
        Error::ReauthorizationRequired { description }
    }

    /// An [`Error::Cache`] with a message and nothing more: what a
    /// [`TokenCache`](crate::TokenCache) of your own reports when its store
    /// fails without an error to keep as the cause. Never put a secret in
    /// the message.
    ///
    /// ```
    /// let error = spotify_auth::Error::cache("the token table is missing");
    /// assert_eq!(error.to_string(), "token cache (custom): the token table is missing");
    /// ```
    pub fn cache(message: impl Into<String>) -> Self {
        Error::Cache {
            path: None,
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::Cache`] caused by `source` (the store's own error, kept
    /// as the [`source`](std::error::Error::source) and not repeated in the
    /// message): what a [`TokenCache`](crate::TokenCache) of your own
    /// reports when its store fails.
    ///
    /// ```
    /// use std::error::Error as _;
    /// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer");
    /// let error = spotify_auth::Error::cache_with_source("cannot read the token", io);
    /// assert_eq!(error.to_string(), "token cache (custom): cannot read the token");
    /// assert!(error.source().unwrap().is::<std::io::Error>());
    /// ```
    pub fn cache_with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Cache {
            path: None,
            message: message.into(),
            source: Some(ErrorSource::new(source)),
        }
    }

    /// The OS random source failed.
    #[cfg(any(feature = "blocking", feature = "async", feature = "redis"))]
    pub(crate) fn random(source: getrandom::Error) -> Self {
        Error::Random {
            source: ErrorSource::new(source),
        }
    }

    /// An [`Error::Cache`] for a file-based cache's I/O failure on `path`:
    /// `what` was being done (the message), `source` why.
    pub fn cache_io(
        path: impl Into<PathBuf>,
        what: impl Into<String>,
        source: std::io::Error,
    ) -> Self {
        Error::Cache {
            path: Some(path.into()),
            message: what.into(),
            source: Some(ErrorSource::new(source)),
        }
    }
}

/// Constructors used only by the modes' transports and token handling.
#[cfg(any(feature = "blocking", feature = "async"))]
impl Error {
    /// A transport failure caused by `source` (the HTTP client's error).
    pub(crate) fn http(
        kind: HttpErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Error::Http {
            kind,
            source: ErrorSource::from(source.into()),
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

#[cfg(all(test, any(feature = "blocking", feature = "async")))]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// The messages of `error` and of each of its causes, outermost first.
    fn chain(error: &Error) -> Vec<String> {
        let mut out = vec![error.to_string()];
        let mut cause = error.source();
        while let Some(c) = cause {
            out.push(c.to_string());
            cause = c.source();
        }
        out
    }

    /// `{:#}` as anyhow prints it, checking that no message repeats one of
    /// its causes.
    fn report(error: &Error) -> String {
        let chain = chain(error);
        for (i, outer) in chain.iter().enumerate() {
            for inner in &chain[i + 1..] {
                assert!(
                    !outer.contains(inner.as_str()),
                    "{outer:?} repeats its cause {inner:?}"
                );
            }
        }
        chain.join(": ")
    }

    fn io(kind: std::io::ErrorKind, text: &str) -> std::io::Error {
        std::io::Error::new(kind, text.to_owned())
    }

    /// One of each variant, with a source wherever the variant takes one.
    fn every_variant() -> Vec<Error> {
        vec![
            Error::config("client_id", "missing"),
            Error::random(getrandom::Error::UNSUPPORTED),
            Error::AuthorizationDenied {
                error: "access_denied".into(),
                description: Some("the user said no".into()),
            },
            Error::StateMismatch,
            Error::MissingCode,
            Error::TokenEndpoint {
                status: 400,
                error: Some("invalid_client".into()),
                description: Some("Invalid client".into()),
                body: ErrorBody(r#"{"error":"invalid_client"}"#.into()),
            },
            Error::ReauthorizationRequired {
                description: Some("Refresh token revoked".into()),
            },
            Error::RateLimited {
                retry_after: Duration::from_secs(7),
            },
            Error::invalid_response("not JSON"),
            Error::http(
                HttpErrorKind::Connect,
                io(std::io::ErrorKind::ConnectionRefused, "refused by peer"),
            ),
            Error::NotAuthorized,
            Error::CallbackTimeout(Duration::from_secs(3)),
            Error::CallbackServer {
                address: "127.0.0.1:8888".into(),
                message: "address in use".into(),
            },
            Error::Browser("no browser".into()),
            Error::AttemptNotFound,
            Error::cache_io(
                std::path::Path::new("/tmp/token.json"),
                "cannot read the file",
                io(
                    std::io::ErrorKind::PermissionDenied,
                    "permission denied by test",
                ),
            ),
        ]
    }

    #[test]
    fn no_error_repeats_its_cause() {
        for error in every_variant() {
            let text = report(&error);
            assert!(!text.is_empty());
            // Cloning keeps the chain.
            assert_eq!(report(&error.clone()), text);
        }
    }

    #[test]
    fn causes_are_kept_as_sources_not_flattened() {
        let e = Error::cache_io(
            std::path::Path::new("/tmp/token.json"),
            "cannot read the file",
            io(
                std::io::ErrorKind::PermissionDenied,
                "permission denied by test",
            ),
        );
        assert_eq!(
            report(&e),
            "token cache /tmp/token.json: cannot read the file: permission denied by test"
        );
        let e = Error::http(
            HttpErrorKind::Connect,
            io(std::io::ErrorKind::ConnectionRefused, "refused by peer"),
        );
        assert_eq!(
            report(&e),
            "HTTP transport error (connect): refused by peer"
        );
    }

    #[test]
    fn sources_downcast_to_the_original_error() {
        let e = Error::http(
            HttpErrorKind::Connect,
            io(std::io::ErrorKind::ConnectionRefused, "refused by peer"),
        );
        let source = e.source().expect("a source");
        let io_error = source
            .downcast_ref::<std::io::Error>()
            .expect("the io::Error");
        assert_eq!(io_error.kind(), std::io::ErrorKind::ConnectionRefused);

        let e = Error::cache_io(
            std::path::Path::new("x"),
            "cannot open",
            io(std::io::ErrorKind::NotFound, "gone"),
        );
        assert!(e.source().unwrap().is::<std::io::Error>());

        let e = Error::random(getrandom::Error::UNSUPPORTED);
        assert!(matches!(e, Error::Random { .. }), "{e:?}");
        let random = e.source().unwrap().downcast_ref::<getrandom::Error>();
        assert_eq!(random, Some(&getrandom::Error::UNSUPPORTED));
    }
}
