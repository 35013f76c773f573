//! The builder shared by both modes, and the validated configuration.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::retry::RetryPolicy;
use crate::{ClientSecret, Error, InMemoryTokenCache, RefreshToken, Result, Scopes, TokenCache};

/// Spotify's authorization endpoint.
pub const SPOTIFY_AUTHORIZE_URL: &str = "https://accounts.spotify.com/authorize";
/// Spotify's token endpoint.
pub const SPOTIFY_TOKEN_URL: &str = "https://accounts.spotify.com/api/token";
/// How long Spotify's access tokens last (`expires_in`: 3600 s); a refresh
/// margin must be shorter.
const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// How long `close()` waits for work running on after its callers.
const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The environment variable read for the client id.
pub const ENV_CLIENT_ID: &str = "SPOTIFY_SDK_CLIENT_ID";
/// The environment variable read for the client secret.
pub const ENV_CLIENT_SECRET: &str = "SPOTIFY_SDK_CLIENT_SECRET";
/// The environment variable read for the redirect URI.
pub const ENV_REDIRECT_URI: &str = "SPOTIFY_SDK_REDIRECT_URI";

/// A hook called before each retry with the planned delay; it returns the
/// delay actually waited. See [`AuthorizationCodeBuilder::backoff_hook`].
pub type BackoffHook = Arc<dyn Fn(Duration) -> Duration + Send + Sync>;

/// The grant an [`AuthorizationCodeBuilder`] builds for: a user's login.
#[derive(Debug, Clone)]
pub enum AuthorizationCodeGrant {}

/// The grant a [`ClientCredentialsBuilder`] builds for: app-only tokens.
#[derive(Debug, Clone)]
pub enum ClientCredentialsGrant {}

/// Builds an `AuthorizationCode` of either mode.
///
/// `H` is the mode's HTTP client: `ureq::Agent` for
/// [`blocking`](crate::blocking), `reqwest::Client` for
/// [`asynchronous`](crate::asynchronous). Get one with
/// `AuthorizationCode::builder()`; settings not given are read from the
/// `SPOTIFY_SDK_*` environment variables or take their defaults.
pub type AuthorizationCodeBuilder<H> = ClientBuilder<H, AuthorizationCodeGrant>;

/// Builds a `ClientCredentials` (app-only tokens) of either mode: the same
/// settings as [`AuthorizationCodeBuilder`] without the user-facing ones
/// (redirect URI, scope, refresh token, PKCE); the client secret is
/// required.
///
/// App-only tokens carry no scope, so there is nothing to ask for:
///
/// ```compile_fail
/// let builder = spotify_auth::ClientCredentialsBuilder::<()>::new().scope("user-read-email");
/// ```
pub type ClientCredentialsBuilder<H> = ClientBuilder<H, ClientCredentialsGrant>;

/// The builder of both flows, for HTTP client `H` and grant `G`; see
/// [`AuthorizationCodeBuilder`] and [`ClientCredentialsBuilder`].
///
/// A clone is a template: every instance built from a clone of one builder
/// shares its settings (and its HTTP client and token cache, when given).
#[must_use]
#[derive(Clone)]
pub struct ClientBuilder<H, G> {
    client_id: Option<String>,
    client_secret: Option<ClientSecret>,
    redirect_uri: Option<String>,
    scope: Scopes,
    refresh_token: Option<RefreshToken>,
    token_cache: Option<Arc<dyn TokenCache>>,
    timeout: Duration,
    retry: RetryPolicy,
    refresh_margin: Duration,
    authorize_url: String,
    token_url: String,
    pkce: bool,
    read_env: bool,
    backoff_hook: Option<BackoffHook>,
    close_timeout: Duration,
    pub(crate) http_client: Option<H>,
    grant: std::marker::PhantomData<G>,
}

impl<H, G> Default for ClientBuilder<H, G> {
    fn default() -> Self {
        Self {
            client_id: None,
            client_secret: None,
            redirect_uri: None,
            scope: Scopes::new(),
            refresh_token: None,
            token_cache: None,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            refresh_margin: Duration::from_secs(30),
            authorize_url: SPOTIFY_AUTHORIZE_URL.to_owned(),
            token_url: SPOTIFY_TOKEN_URL.to_owned(),
            pkce: false,
            read_env: true,
            backoff_hook: None,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            http_client: None,
            grant: std::marker::PhantomData,
        }
    }
}

impl<H, G> ClientBuilder<H, G> {
    /// A builder with every setting at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The application's client id (default: `$SPOTIFY_SDK_CLIENT_ID`).
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The client secret (default: `$SPOTIFY_SDK_CLIENT_SECRET`). Without one
    /// the client is public and uses PKCE.
    pub fn client_secret(mut self, client_secret: impl Into<ClientSecret>) -> Self {
        self.client_secret = Some(client_secret.into());
        self
    }

    /// Where tokens are kept (default: an [`InMemoryTokenCache`]). Pass an
    /// `Arc` to keep a handle on it.
    pub fn token_cache(mut self, cache: impl TokenCache + 'static) -> Self {
        self.token_cache = Some(Arc::new(cache));
        self
    }

    /// The time limit of each token request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries after a failed token request (default 3).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.retry.max_retries = max_retries;
        self
    }

    /// The whole retry policy (delays and budget).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Refresh this long before the access token expires (default 30 s; the
    /// original library's `skew_seconds`). It must be shorter than an access
    /// token's lifetime (Spotify's: one hour): `build()` refuses a longer one,
    /// with which every call would refresh.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The HTTP client to use. Its connection pool, proxy and TLS settings
    /// are used; the library sets the timeout of each request itself.
    ///
    /// By default every instance of a mode shares one client, made by the
    /// library on first use and kept for the life of the process (async:
    /// one per tokio runtime, dropped with it): building an instance per
    /// user costs no new connection pool or TLS setup. It
    /// follows no redirects, sends the library's `User-Agent`, and verifies
    /// TLS against the operating system's trust store (rustls with ring,
    /// given explicitly: nothing is installed process-wide). Pass your own
    /// to use a proxy, extra or pinned root certificates, a client
    /// certificate, another crypto provider, or connection pool limits, or to
    /// share one pool with the rest of your program's HTTP calls.
    ///
    /// Async: a `reqwest::Client`'s connections run on the tokio runtime that
    /// opened them. A program that drives instances from several runtimes,
    /// some of which stop while others go on, should give each runtime a
    /// client of its own (as the default does): a runtime that stops cuts
    /// the requests other runtimes have on its connections, and a refresh
    /// cut after Spotify processed it loses the rotated refresh token, and
    /// with it the login.
    pub fn http_client(mut self, client: H) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The token endpoint (default Spotify's).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// Both endpoints from one base URL: `{base}/authorize` and
    /// `{base}/api/token` (for a test server such as
    /// `spotify_auth::testing::FakeSpotify`).
    pub fn accounts_base_url(mut self, base: &str) -> Self {
        let base = base.trim_end_matches('/');
        self.authorize_url = format!("{base}/authorize");
        self.token_url = format!("{base}/api/token");
        self
    }

    /// Whether settings not given are read from the `SPOTIFY_SDK_*`
    /// environment variables (default true).
    pub fn read_environment(mut self, enabled: bool) -> Self {
        self.read_env = enabled;
        self
    }

    /// Called before each retry with the planned delay; returns the delay to
    /// wait instead. For logging, or for tests that must not sleep
    /// (`|_| Duration::ZERO`). The retry budget
    /// ([`RetryPolicy::max_total_delay`](crate::RetryPolicy)) counts the
    /// planned delays: a hook that returns longer ones lengthens each call by
    /// the difference.
    pub fn backoff_hook(
        mut self,
        hook: impl Fn(Duration) -> Duration + Send + Sync + 'static,
    ) -> Self {
        self.backoff_hook = Some(Arc::new(hook));
        self
    }

    /// How long `close()` waits for work still running after its callers (a
    /// refresh or an exchange whose request may have been sent, a refresh
    /// ahead, a write owed to the store) before it gives up with
    /// [`Error::CloseTimeout`](crate::Error::CloseTimeout) (default 30 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// This builder as a template for many instances (the per-user
    /// registry): the environment variables are read now, once, for the
    /// settings not given, and never again by the instances built from it;
    /// a token cache or a bootstrap refresh token of its own is refused
    /// (each instance gets its user's cache).
    #[cfg(any(feature = "blocking", feature = "async"))]
    pub(crate) fn into_template(mut self) -> Result<Self> {
        if self.token_cache.is_some() {
            return Err(Error::config(
                "token_cache",
                "a template gives none: each user's instance gets the cache the registry makes for that user",
            ));
        }
        if self.refresh_token.is_some() {
            return Err(Error::config(
                "refresh_token",
                "a template gives none: a refresh token belongs to one user's login",
            ));
        }
        if self.read_env {
            let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
            let given = |v: &Option<String>| v.as_ref().is_some_and(|s| !s.trim().is_empty());
            if !given(&self.client_id) {
                self.client_id = env(ENV_CLIENT_ID);
            }
            if !given(&self.redirect_uri) {
                self.redirect_uri = env(ENV_REDIRECT_URI);
            }
            if self
                .client_secret
                .as_ref()
                .is_none_or(|s| s.secret().is_empty())
            {
                self.client_secret = env(ENV_CLIENT_SECRET).map(ClientSecret::new);
            }
            self.read_env = false;
        }
        Ok(self)
    }

    /// Validates the settings into a configuration and the optional client.
    fn into_parts_for(self, grant: Grant) -> Result<(Config, Option<H>)> {
        let env = |name: &str| -> Option<String> {
            if !self.read_env {
                return None;
            }
            std::env::var(name).ok().filter(|v| !v.trim().is_empty())
        };
        let client_id = self
            .client_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| env(ENV_CLIENT_ID))
            .ok_or_else(|| {
                Error::config(
                    "client_id",
                    format!("missing: pass it to the builder or set {ENV_CLIENT_ID}"),
                )
            })?;
        let redirect_uri = match grant {
            Grant::ClientCredentials => String::new(),
            Grant::AuthorizationCode => {
                let uri = self
                    .redirect_uri
                    .clone()
                    .filter(|s| !s.trim().is_empty())
                    .or_else(|| env(ENV_REDIRECT_URI))
                    .ok_or_else(|| {
                        Error::config(
                            "redirect_uri",
                            format!(
                                "missing: pass it to the builder or set {ENV_REDIRECT_URI} \
                                 (e.g. http://127.0.0.1:8888/callback)"
                            ),
                        )
                    })?;
                check_redirect_uri(&uri)?;
                uri
            }
        };
        let client_secret = self
            .client_secret
            .clone()
            .filter(|s| !s.secret().is_empty())
            .or_else(|| env(ENV_CLIENT_SECRET).map(ClientSecret::new));
        if grant == Grant::ClientCredentials && client_secret.is_none() {
            return Err(Error::config(
                "client_secret",
                format!(
                    "missing: the Client Credentials flow needs the app's secret; \
                     pass it to the builder or set {ENV_CLIENT_SECRET}"
                ),
            ));
        }
        if self.timeout.is_zero() {
            return Err(Error::config("timeout", "must be greater than zero"));
        }
        if self.refresh_margin >= ACCESS_TOKEN_LIFETIME {
            return Err(Error::config(
                "refresh_margin",
                format!(
                    "{} s is not shorter than an access token's lifetime ({} s): every call \
                     would refresh the token; use a margin of a few seconds or minutes \
                     (default 30 s)",
                    self.refresh_margin.as_secs_f64(),
                    ACCESS_TOKEN_LIFETIME.as_secs()
                ),
            ));
        }
        let config = Config {
            grant,
            pkce: grant == Grant::AuthorizationCode && (self.pkce || client_secret.is_none()),
            client_id,
            client_secret,
            redirect_uri,
            scope: self.scope,
            authorize_url: endpoint("authorize_url", &self.authorize_url)?,
            token_url: endpoint("token_url", &self.token_url)?,
            timeout: self.timeout,
            retry: self.retry,
            refresh_margin: self.refresh_margin,
            backoff_hook: self.backoff_hook,
            close_timeout: self.close_timeout,
            bootstrap_refresh_token: self.refresh_token,
            cache: self
                .token_cache
                .unwrap_or_else(|| Arc::new(InMemoryTokenCache::new())),
        };
        Ok((config, self.http_client))
    }
}

impl<H> AuthorizationCodeBuilder<H> {
    /// The redirect URI registered for the app (default:
    /// `$SPOTIFY_SDK_REDIRECT_URI`). Spotify accepts loopback ones only as IP
    /// literals: `http://127.0.0.1:8888/callback`.
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// A refresh token from an earlier authorization, used when the cache holds
    /// none: access tokens can then be had without the browser.
    pub fn refresh_token(mut self, refresh_token: impl Into<RefreshToken>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// The scopes to request: a space- or comma-delimited string, or any list
    /// of strings (see [`Scopes`]).
    ///
    /// ```
    /// let builder = spotify_auth::AuthorizationCodeBuilder::<()>::new()
    ///     .scope("user-read-email,user-top-read");
    /// # let _ = builder;
    /// ```
    pub fn scope(mut self, scope: impl Into<Scopes>) -> Self {
        self.scope = scope.into();
        self
    }

    /// The authorization endpoint (default Spotify's).
    pub fn authorize_url(mut self, url: impl Into<String>) -> Self {
        self.authorize_url = url.into();
        self
    }

    /// Use PKCE even with a client secret (public clients always use it).
    pub fn pkce(mut self, enabled: bool) -> Self {
        self.pkce = enabled;
        self
    }

    /// Validates the settings for the Authorization Code flow.
    pub(crate) fn into_parts(self) -> Result<(Config, Option<H>)> {
        self.into_parts_for(Grant::AuthorizationCode)
    }
}

impl<H> ClientCredentialsBuilder<H> {
    /// Validates the settings for the Client Credentials flow.
    pub(crate) fn into_parts(self) -> Result<(Config, Option<H>)> {
        self.into_parts_for(Grant::ClientCredentials)
    }
}

impl<H, G> fmt::Debug for ClientBuilder<H, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.scope)
            .field("refresh_token", &self.refresh_token)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("refresh_margin", &self.refresh_margin)
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("pkce", &self.pkce)
            .finish_non_exhaustive()
    }
}

/// Which flow a configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    /// A user's login, refreshed with refresh tokens.
    AuthorizationCode,
    /// App-only tokens, fetched again with the client's credentials.
    ClientCredentials,
}

/// A validated configuration.
pub(crate) struct Config {
    pub grant: Grant,
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
    pub redirect_uri: String,
    pub scope: Scopes,
    pub pkce: bool,
    pub authorize_url: Arc<Url>,
    pub token_url: Arc<Url>,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub refresh_margin: Duration,
    pub backoff_hook: Option<BackoffHook>,
    pub close_timeout: Duration,
    pub bootstrap_refresh_token: Option<RefreshToken>,
    pub cache: Arc<dyn TokenCache>,
}

impl Config {
    /// The delay actually waited for a planned one.
    pub fn actual_delay(&self, planned: Duration) -> Duration {
        match &self.backoff_hook {
            Some(hook) => hook(planned),
            None => planned,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("grant", &self.grant)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.scope)
            .field("pkce", &self.pkce)
            .field("authorize_url", &self.authorize_url.as_str())
            .field("token_url", &self.token_url.as_str())
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("refresh_margin", &self.refresh_margin)
            .field("bootstrap_refresh_token", &self.bootstrap_refresh_token)
            .finish_non_exhaustive()
    }
}

/// An endpoint URL: absolute http(s). Spotify's own (the defaults) are
/// parsed once per process and shared, so that a service building an
/// instance per user does not parse them every time.
fn endpoint(setting: &'static str, url: &str) -> Result<Arc<Url>> {
    static SPOTIFY: std::sync::LazyLock<[Arc<Url>; 2]> = std::sync::LazyLock::new(|| {
        [SPOTIFY_AUTHORIZE_URL, SPOTIFY_TOKEN_URL]
            .map(|u| Arc::new(Url::parse(u).expect("Spotify's endpoints are valid URLs")))
    });
    if let Some(known) = SPOTIFY.iter().find(|known| known.as_str() == url) {
        return Ok(Arc::clone(known));
    }
    Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(Arc::new)
        .ok_or_else(|| Error::config(setting, "not an absolute http(s) URL"))
}

/// Checks that the redirect URI is an absolute URL. The last one checked is
/// remembered: a service builds its instances with one redirect URI.
fn check_redirect_uri(uri: &str) -> Result<()> {
    static LAST_VALID: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let mut last = LAST_VALID.lock().unwrap_or_else(|p| p.into_inner());
    if last.as_deref() == Some(uri) {
        return Ok(());
    }
    Url::parse(uri)
        .map_err(|e| Error::config("redirect_uri", format!("not an absolute URL ({e})")))?;
    *last = Some(uri.to_owned());
    Ok(())
}
