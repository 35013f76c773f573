// The I/O orchestration of both flows (Authorization Code, Client
// Credentials), written once with async/await and compiled twice:
// `blocking.rs` includes this file under `maybe_async::must_be_sync` (every
// `.await` and `async` stripped), and `asynchronous.rs` under
// `maybe_async::must_be_async`. It may only use names both modes provide
// (`maybe`, `Transport`, `HttpClient`, `FlowMutex`, `blocking_io`, `sleep`,
// `wait_for_callback`, `ensure_can_block`) and the shared core. Everything
// that needs no I/O lives in the core (`session`, `retry`, `authorize`,
// `token`, `config`). Never put `.await` inside a macro call here: the sync
// build cannot strip it there.

use std::fmt;
use std::time::Duration;

use super::{
    FlowMutex, HttpClient, Transport, blocking_io, ensure_can_block, maybe, sleep,
    wait_for_callback,
};
use crate::authorize::generate_state;
use crate::callback::{CallbackServer, validate_loopback_redirect};
use crate::config::{AuthorizationCodeBuilder, ClientCredentialsBuilder};
use crate::retry::{self, RetryPolicy, Step};
use crate::session::{self, Plan, RefreshSlot, Session, TokenRequest};
use crate::token::TokenResponse;
use crate::{AuthCode, AuthorizeLocalOptions, Error, Result, Scopes, TokenCache, TokenInfo};

/// The OAuth 2.0 Authorization Code flow for one user, with automatic refresh
/// and caching.
///
/// Build one with [`AuthorizationCode::builder`]. It is `Send + Sync`: share it
/// (in an `Arc`) between threads or tasks; concurrent callers of
/// [`get_access_token`](Self::get_access_token) on an expired token cause a
/// single refresh. `Debug` never shows a secret.
pub struct AuthorizationCode {
    engine: Engine,
}

/// The OAuth 2.0 Client Credentials flow: app-only tokens (no user data),
/// cached and fetched again at expiry, with the same single-flight, retry
/// and error behaviour as [`AuthorizationCode`].
///
/// Build one with [`ClientCredentials::builder`]; the client secret is
/// required. `Debug` never shows a secret.
pub struct ClientCredentials {
    engine: Engine,
}

/// What both flows share: the session (token in memory, configuration), the
/// transport, and the lock that serialises refreshes in this process.
struct Engine {
    session: Session,
    transport: Transport,
    refresh: FlowMutex<RefreshSlot>,
}

impl Engine {
    fn new(config: crate::config::Config, client: Option<HttpClient>) -> Result<Self> {
        Ok(Engine {
            session: Session::new(config),
            transport: Transport::new(client)?,
            refresh: FlowMutex::new(RefreshSlot::default()),
        })
    }
}

impl AuthorizationCodeBuilder<HttpClient> {
    /// Validates the settings and builds the [`AuthorizationCode`].
    ///
    /// Errors: [`Error::Config`](crate::Error::Config) naming the setting at
    /// fault (a missing client id or redirect URI names its environment
    /// variable).
    pub fn build(self) -> Result<AuthorizationCode> {
        let (config, client) = self.into_parts()?;
        Ok(AuthorizationCode {
            engine: Engine::new(config, client)?,
        })
    }
}

impl ClientCredentialsBuilder<HttpClient> {
    /// Validates the settings and builds the [`ClientCredentials`].
    ///
    /// Errors: [`Error::Config`](crate::Error::Config) naming the setting at
    /// fault (a missing client id or secret names its environment variable).
    pub fn build(self) -> Result<ClientCredentials> {
        let (config, client) = self.into_parts()?;
        Ok(ClientCredentials {
            engine: Engine::new(config, client)?,
        })
    }
}

impl ClientCredentials {
    /// A builder; settings not given come from the `SPOTIFY_SDK_*` environment
    /// variables or their defaults.
    pub fn builder() -> ClientCredentialsBuilder<HttpClient> {
        ClientCredentialsBuilder::new()
    }

    /// The token cache in use.
    pub fn token_cache(&self) -> &dyn TokenCache {
        &*self.engine.session.config.cache
    }

    /// Releases the HTTP client and everything else. Dropping does the same.
    pub fn close(self) {
        drop(self);
    }
}

#[maybe]
impl ClientCredentials {
    /// Returns a valid app access token, fetching a new one (one request,
    /// however many callers) when it expires within the refresh margin.
    pub async fn get_access_token(&self) -> Result<String> {
        self.engine.get_access_token().await
    }

    /// The value of the `Authorization` header for the Web API,
    /// `Bearer {access token}`, under the same rules as `get_access_token`.
    /// With a valid token it is kept pre-formatted: one allocation, the
    /// returned string.
    pub async fn get_authorization_header(&self) -> Result<String> {
        self.engine.get_authorization_header().await
    }
}

impl AuthorizationCode {
    /// A builder; settings not given come from the `SPOTIFY_SDK_*` environment
    /// variables or their defaults.
    pub fn builder() -> AuthorizationCodeBuilder<HttpClient> {
        AuthorizationCodeBuilder::new()
    }

    /// The URL to send the user to for consent.
    ///
    /// `state` is echoed back in the callback (use one: it protects against
    /// CSRF); `scope` overrides the configured scopes; `show_dialog` forces the
    /// consent dialog even for a user who approved before. For PKCE clients a
    /// fresh verifier is made and remembered for this state.
    pub fn get_authorization_url(
        &self,
        state: Option<&str>,
        scope: Option<&Scopes>,
        show_dialog: bool,
    ) -> Result<String> {
        self.engine.session.authorization_url(
            state,
            scope,
            show_dialog,
            &self.engine.session.config.redirect_uri,
        )
    }

    /// Takes the authorization code from a callback: the full redirected URL or
    /// just its query string.
    ///
    /// Errors: [`AuthorizationDenied`](crate::Error::AuthorizationDenied) when
    /// the callback carries `error`, [`StateMismatch`](crate::Error::StateMismatch)
    /// when `expected_state` is given and differs (compared in constant time),
    /// [`MissingCode`](crate::Error::MissingCode) when there is no code.
    pub fn parse_response_url(&self, url: &str, expected_state: Option<&str>) -> Result<AuthCode> {
        self.engine.session.parse_response_url(url, expected_state)
    }

    /// The token cache in use.
    pub fn token_cache(&self) -> &dyn TokenCache {
        &*self.engine.session.config.cache
    }

    /// Releases the HTTP client and everything else. Dropping does the same.
    pub fn close(self) {
        drop(self);
    }
}

#[maybe]
impl AuthorizationCode {
    /// Exchanges an authorization code for tokens, stores them in the cache
    /// and returns them.
    ///
    /// Confidential clients authenticate with HTTP Basic; PKCE clients send
    /// their `client_id` and the verifier of the attempt the code belongs to.
    /// A response without a refresh token is an error.
    pub async fn exchange_code(&self, code: impl Into<AuthCode>) -> Result<TokenInfo> {
        let code = code.into();
        let verifier = self.engine.session.verifier_for_code(&code)?;
        let request = self.engine.session.exchange_request(
            &code,
            verifier.as_ref(),
            &self.engine.session.config.redirect_uri,
        );
        self.engine.exchange(request).await
    }

    /// Logs the user in through the browser, for local scripts and CLIs.
    ///
    /// Checks that the redirect URI is `http` on a loopback IP literal
    /// (`http://127.0.0.1:PORT/...` or `http://[::1]:PORT/...`, as Spotify
    /// wants; `localhost` is refused), starts a temporary server there (on a
    /// free port when the URI has none: Spotify accepts any port for a
    /// loopback URI registered without one, and that exact URI, port
    /// included, is used in the authorization request and the exchange),
    /// opens the browser and/or hands the URL to the options' handler, waits
    /// for the callback carrying this attempt's state (default 300 s; other
    /// requests, forged ones included, cannot end the wait), exchanges the
    /// code (with PKCE for public clients), caches the token and returns it.
    ///
    /// Errors: [`Error::Config`] before anything starts (redirect URI, an
    /// empty state, neither browser nor handler), [`Error::CallbackServer`]
    /// when the port is taken, [`Error::CallbackTimeout`],
    /// [`Error::AuthorizationDenied`], and the errors of the exchange. The
    /// blocking version returns [`Error::InsideAsyncRuntime`] when called
    /// from a tokio runtime (detected when the `async` feature is on); the
    /// async version never blocks the runtime, and dropping its future stops
    /// the server.
    pub async fn authorize_local(&self, options: AuthorizeLocalOptions) -> Result<TokenInfo> {
        ensure_can_block("authorize_local")?;
        let configured = self.engine.session.config.redirect_uri.clone();
        validate_loopback_redirect(&configured)?;
        if !options.open_browser && options.url_handler.is_none() {
            return Err(Error::config(
                "authorize_local",
                "nothing would show the authorization URL: enable open_browser or give an on_url handler",
            ));
        }
        let state = match options.state {
            Some(s) if s.is_empty() => {
                return Err(Error::config(
                    "state",
                    "must not be empty: it is what tells the real callback from a forged one; \
                     leave it unset for a random one",
                ));
            }
            Some(s) => s,
            None => generate_state()?,
        };
        // May wait a moment for a port just released: off the runtime.
        let server = blocking_io(move || CallbackServer::bind(&configured)).await?;
        // The exact URI in use, port included: the authorization request and
        // the exchange must carry the same one.
        let redirect_uri = server.redirect_uri().to_owned();
        let scope = options
            .scope
            .unwrap_or_else(|| self.engine.session.config.scope.clone());
        let url = self.engine.session.authorization_url(
            Some(&state),
            Some(&scope),
            options.show_dialog,
            &redirect_uri,
        )?;
        if let Some(handler) = &options.url_handler {
            handler(&url);
        }
        if let Some(paste) = &options.paste {
            crate::local::relay_pasted_urls(paste, server.local_addr(), server.path().to_owned());
        }
        if options.open_browser {
            let target = url.clone();
            let opened = blocking_io(move || {
                webbrowser::open(&target).map_err(|e| Error::Browser(e.to_string()))
            })
            .await;
            // With a handler the user still has the URL; without one, fail.
            if let (Err(e), None) = (opened, &options.url_handler) {
                let _ = self.engine.session.verifier_for_state(&state);
                return Err(e);
            }
        }
        let waited = wait_for_callback(server, state.clone(), scope, options.timeout).await;
        // Taken whatever the outcome: an attempt is used once.
        let verifier = self.engine.session.verifier_for_state(&state);
        let callback = waited?;
        let request =
            self.engine
                .session
                .exchange_request(&callback.code, verifier?.as_ref(), &redirect_uri);
        self.engine.exchange(request).await
    }

    /// Returns a valid access token, refreshing it when it expires within the
    /// refresh margin.
    ///
    /// With a valid token in memory this does no I/O and no locking beyond an
    /// uncontended read lock. Otherwise, under one refresh at a time (across
    /// threads or tasks, and across processes for caches with a lock such as
    /// [`FileTokenCache`](crate::FileTokenCache)), it re-reads the cache, and
    /// refreshes with the cached refresh token or the bootstrap one.
    ///
    /// Errors: [`NotAuthorized`](crate::Error::NotAuthorized) when there is no
    /// token and nothing to refresh with;
    /// [`ReauthorizationRequired`](crate::Error::ReauthorizationRequired) when
    /// Spotify refused the refresh token (revoked or expired; it is then
    /// removed from the cache); transport and endpoint errors after retries.
    pub async fn get_access_token(&self) -> Result<String> {
        self.engine.get_access_token().await
    }

    /// The value of the `Authorization` header for the Web API,
    /// `Bearer {access token}`, under the same rules as `get_access_token`.
    /// With a valid token it is kept pre-formatted: one allocation, the
    /// returned string.
    pub async fn get_authorization_header(&self) -> Result<String> {
        self.engine.get_authorization_header().await
    }
}

#[maybe]
impl Engine {
    /// The hot path, then the single-flight refresh.
    async fn get_access_token(&self) -> Result<String> {
        if let Some(token) = self.session.fresh_access_token() {
            return Ok(token);
        }
        let seen = self.session.epoch();
        let mut slot = self.refresh.lock().await;
        if let Some(outcome) = self.session.settled_while_waiting(seen, &slot) {
            return outcome;
        }
        let result = self.refresh_locked().await;
        self.session.finish(&mut slot, result.as_ref().err());
        self.session.outcome(result)
    }

    /// `Bearer {token}`: pre-formatted on the hot path, else after
    /// [`get_access_token`](Self::get_access_token).
    async fn get_authorization_header(&self) -> Result<String> {
        if let Some(header) = self.session.fresh_authorization_header() {
            return Ok(header);
        }
        let token = self.get_access_token().await?;
        Ok(format!("Bearer {token}"))
    }

    /// The refresh, under the in-process refresh lock and the cache's lock.
    async fn refresh_locked(&self) -> Result<String> {
        let cache = self.session.config.cache.clone();
        let (guard, cached) = blocking_io(move || {
            let guard = cache.lock()?;
            let cached = cache.get()?;
            Ok((guard, cached))
        })
        .await?;
        let result = self.refresh_with(cached).await;
        // Releasing a cache lock may be I/O (a Redis round trip).
        blocking_io(move || {
            drop(guard);
            Ok(())
        })
        .await?;
        let token = result?;
        self.session.adopt(&token);
        Ok(token.access_token.secret().to_owned())
    }

    /// Decides from the re-read cache, and refreshes when still needed.
    async fn refresh_with(&self, cached: Option<TokenInfo>) -> Result<TokenInfo> {
        if let Some(stored) = &cached {
            // The cache is the truth (another process may have written it).
            self.session.adopt(stored);
        }
        match self.session.plan(cached)? {
            Plan::Use(token) => Ok(token),
            Plan::Refresh {
                refresh_token,
                previous,
                bootstrap,
            } => {
                let request = self.session.refresh_request(&refresh_token);
                match self.token_request(&request).await {
                    Ok(response) => {
                        let token = response.into_refreshed(&refresh_token, previous.as_ref());
                        self.store(&token).await?;
                        Ok(token)
                    }
                    Err(e) if session::is_invalid_grant(&e) => {
                        self.session.drop_refresh_token(bootstrap);
                        if !bootstrap || previous.is_some() {
                            let cache = self.session.config.cache.clone();
                            blocking_io(move || cache.clear()).await?;
                        }
                        Err(session::reauthorization_required(e))
                    }
                    Err(e) => Err(e),
                }
            }
            Plan::Fetch => {
                let request = self.session.client_credentials_request();
                let token = self.token_request(&request).await?.into_token();
                self.store(&token).await?;
                Ok(token)
            }
        }
    }

    /// Exchanges a code under both locks, then stores and adopts the token.
    async fn exchange(&self, request: TokenRequest) -> Result<TokenInfo> {
        let response = self.token_request(&request).await?;
        let token = self.session.exchanged_token(response)?;
        let mut slot = self.refresh.lock().await;
        let cache = self.session.config.cache.clone();
        let stored = token.clone();
        blocking_io(move || {
            let guard = cache.lock()?;
            let stored = cache.set(&stored);
            drop(guard);
            stored
        })
        .await?;
        self.session.adopt(&token);
        self.session.finish(&mut slot, None);
        Ok(token)
    }

    /// Stores a refreshed token (the cache lock is held by the caller).
    async fn store(&self, token: &TokenInfo) -> Result<()> {
        let cache = self.session.config.cache.clone();
        let token = token.clone();
        blocking_io(move || cache.set(&token)).await
    }

    /// One token request with the retry policy.
    async fn token_request(&self, request: &TokenRequest) -> Result<TokenResponse> {
        let config = &self.session.config;
        let policy: &RetryPolicy = &config.retry;
        let mut retries = 0;
        let mut slept = Duration::ZERO;
        loop {
            let attempt = self
                .transport
                .post_form(&config.token_url, request, config.timeout)
                .await;
            match retry::decide(
                policy,
                attempt,
                retries,
                slept,
                RetryPolicy::random_jitter(),
            ) {
                Step::Done(result) => return result,
                Step::Retry(delay) => {
                    sleep(config.actual_delay(delay)).await;
                    slept += delay;
                    retries += 1;
                }
            }
        }
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.session.config)
            .field("has_token", &self.session.current_token().is_some())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizationCode")
            .field("engine", &self.engine)
            .finish()
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("engine", &self.engine)
            .finish()
    }
}
