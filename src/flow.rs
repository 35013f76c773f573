// The I/O orchestration of both flows (Authorization Code, Client
// Credentials), written once with async/await and compiled twice:
// `blocking.rs` includes this file under `maybe_async::must_be_sync` (every
// `.await` and `async` stripped), and `asynchronous.rs` under
// `maybe_async::must_be_async`. It may only use names both modes provide
// (`maybe`, `Transport`, `HttpClient`, `FlowMutex`, `detached`,
// `beside`, `blocking_io`, `lock_store`, `sleep`, `wait_for_callback`) and
// the shared core. On wasm32 (async only) the glue is the browser's
// (`asynchronous/wasm.rs`), and what needs a callback server is absent.
// Everything that needs no I/O lives in the core (`session`, `retry`,
// `authorize`, `attempts`, `token`, `config`). Never put `.await`
// inside a macro call here: the sync build cannot strip it there.
//
// `detached(async move { ... }).await` runs a refresh, an exchange or a
// logout to its end whatever happens to the caller: the async build spawns it
// as a task (so a cancelled caller cannot abandon a request that may have
// been sent), the sync build turns the block into a plain block and runs it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{
    FlowMutex, HttpClient, Transport, beside, blocking_io, detached, lock_store, maybe, sleep,
};
// The loopback login (`authorize_local`): not on wasm32.
#[cfg(not(target_arch = "wasm32"))]
use super::wait_for_callback;
#[cfg(not(target_arch = "wasm32"))]
use crate::AuthorizeLocalOptions;
#[cfg(not(target_arch = "wasm32"))]
use crate::callback::{CallbackServer, validate_loopback_redirect};
use crate::config::{AuthorizationCodeBuilder, ClientCredentialsBuilder};
use crate::entry::{Entry, Fingerprint, LoginEnded};
use crate::exchanged::Exchanged;
use crate::lineage::Lineage;
use crate::observe;
use crate::retry::{self, Resend, RetryPolicy, Step};
use crate::session::{self, Base, Need, Plan, Reconciled, RefreshSlot, Session, TokenRequest};
use crate::token::TokenResponse;
use crate::{
    AuthCode, AuthorizationAttempt, Error, PkceVerifier, RefreshToken, Result, Scopes, TokenCache,
    TokenInfo,
};
#[cfg(feature = "tracing")]
use tracing::{field::Empty, instrument};

/// The OAuth 2.0 Authorization Code flow for one user, with automatic refresh
/// and caching.
///
/// Build one with [`AuthorizationCode::builder`]. It is `Send + Sync`: share it
/// (in an `Arc`) between threads or tasks; concurrent callers of
/// [`get_access_token`](Self::get_access_token) on an expired token cause a
/// single refresh. `Debug` never shows a secret.
pub struct AuthorizationCode {
    engine: Arc<Engine>,
    closed: bool,
}

/// The OAuth 2.0 Client Credentials flow: app-only tokens (no user data),
/// cached and fetched again at expiry, with the same single-flight, retry
/// and error behaviour as [`AuthorizationCode`].
///
/// Build one with [`ClientCredentials::builder`]; the client secret is
/// required. `Debug` never shows a secret.
pub struct ClientCredentials {
    engine: Arc<Engine>,
    closed: bool,
}

/// What both flows share: the session (token in memory, configuration), the
/// transport, the lock that serialises refreshes in this process, and the
/// one that serialises exchanges (with their recent results).
struct Engine {
    session: Session,
    transport: Transport,
    refresh: FlowMutex<RefreshSlot>,
    exchanges: FlowMutex<Exchanged>,
    /// The store's lock, kept while a write is owed to the store (see
    /// [`Engine::release`]); taken and put back under `refresh`.
    kept: std::sync::Mutex<Kept>,
    /// Whether the task retrying the owed write while the lock is kept runs.
    retrying: std::sync::atomic::AtomicBool,
    /// Set by `close()`: nothing new is kept or retried.
    closing: std::sync::atomic::AtomicBool,
}

/// The store's lock kept while a write is owed: the guard when no call is
/// using it, and since when it has been kept.
#[derive(Default)]
struct Kept {
    guard: Option<Guard>,
    since: Option<crate::clock::Instant>,
}

impl Engine {
    fn new(config: crate::config::Config, client: Option<HttpClient>) -> Result<Arc<Self>> {
        let engine = Arc::new(Engine {
            session: Session::new(config),
            transport: Transport::new(client)?,
            refresh: FlowMutex::new(RefreshSlot::default()),
            exchanges: FlowMutex::new(Exchanged::default()),
            kept: std::sync::Mutex::new(Kept::default()),
            retrying: std::sync::atomic::AtomicBool::new(false),
            closing: std::sync::atomic::AtomicBool::new(false),
        });
        // A logout recorded by a sharer, heard of at once where the store
        // can tell (Redis): nothing is handed out before the store is read.
        let weak = Arc::downgrade(&engine);
        engine
            .session
            .config
            .cache
            .watch_ended(crate::EndedListener::new(move || {
                if let Some(engine) = weak.upgrade() {
                    engine.session.recheck();
                }
            }));
        Ok(engine)
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Dropped without `close()`: says so when work was still running, or a
    /// write still owed (what they would store may be lost with the
    /// process).
    fn dropped(&self, closed: bool) {
        let pending = self.session.busy.count();
        let owed = self.session.owes_write();
        if !closed && (pending > 0 || owed) {
            observe::warn!(
                flow,
                pending,
                owed,
                "dropped without close() while work was running or a write was owed: call close() before the program ends, or the token it would store may be lost"
            );
        }
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
            closed: false,
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
            closed: false,
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

    /// The cache's error while the latest app token is in memory only
    /// because writing it failed (see
    /// [`AuthorizationCode::cache_write_error`]); `None` once it is stored.
    pub fn cache_write_error(&self) -> Option<Error> {
        self.engine.session.unsaved_error()
    }
}

#[maybe]
impl ClientCredentials {
    /// Waits for the work still running after its callers (a fetch whose
    /// request may have been sent; at most the builder's `close_timeout`),
    /// makes a write still owed to the token cache, then releases the HTTP
    /// client and everything else. See [`AuthorizationCode::close`].
    pub async fn close(mut self) -> Result<()> {
        let closed = self.engine.close().await;
        self.closed = true;
        closed
    }

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

    /// Fetches a new app token now, for a caller whose token the Web API
    /// rejected (401); see [`AuthorizationCode::force_refresh`].
    pub async fn force_refresh(&self) -> Result<String> {
        self.engine.force_refresh().await
    }

    /// Fetches a new app token unless the one in memory is already another
    /// than `rejected`; see [`AuthorizationCode::force_refresh_rejected`].
    pub async fn force_refresh_rejected(&self, rejected: &str) -> Result<String> {
        self.engine.force_refresh_rejected(rejected).await
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

    /// A new authorization attempt for the application to keep, for web
    /// services whose callback may land on another instance or replica (or
    /// after a restart): the URL to send the user to, with a fresh random
    /// state and, for PKCE clients, a fresh verifier. Nothing is remembered
    /// by this instance. Keep the state and verifier with the user's session
    /// (server-side, or in a signed and encrypted cookie), and on the
    /// callback, on any instance built with the same settings, check the
    /// state with [`parse_response_url`](Self::parse_response_url) and
    /// exchange the code with
    /// [`exchange_code_with_verifier`](Self::exchange_code_with_verifier).
    ///
    /// `scope` overrides the configured scopes; `show_dialog` forces the
    /// consent dialog.
    pub fn authorization_attempt(
        &self,
        scope: Option<&Scopes>,
        show_dialog: bool,
    ) -> Result<AuthorizationAttempt> {
        let session = &self.engine.session;
        session.authorization_attempt(None, scope, show_dialog, &session.config.redirect_uri)
    }

    /// The cache's error while a token Spotify issued is held in memory only
    /// because writing it to the token cache failed; `None` once it is
    /// stored (or when nothing failed).
    ///
    /// A failed write never loses the token: it is adopted before it is
    /// written, this instance goes on using it, and the write is retried on
    /// later calls (the next call at once, then with backoff up to a minute)
    /// until it succeeds. [`exchange_code`](Self::exchange_code) and
    /// [`authorize_local`](Self::authorize_local) report the failed write as
    /// [`Error::TokenNotStored`]; a refresh reports nothing (the caller gets
    /// the new token), so poll this to know whether other processes sharing
    /// the cache can see the token yet.
    pub fn cache_write_error(&self) -> Option<Error> {
        self.engine.session.unsaved_error()
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
}

#[maybe]
impl AuthorizationCode {
    /// Finishes what runs on after its callers, then releases the HTTP
    /// client and everything else: call it before the program ends.
    ///
    /// It waits (at most the builder's `close_timeout`, default 30 s) for
    /// work that outlives its callers: a refresh or an exchange whose
    /// request may have been sent (in the async API they run in tasks of
    /// their own, so that a cancelled caller loses nothing), a refresh
    /// running ahead beside the callers; then it makes a write still owed to
    /// the token cache (up to three attempts, within the same timeout), or,
    /// with nothing owed and the store's lock free, checks once that the
    /// store still holds its login and writes it back if the store lost it
    /// (a restart, an eviction). A program that returns from `main` without
    /// it may drop that work (the async runtime goes with `main`), and with
    /// it a token Spotify rotated. Dropping without `close()` while such
    /// work is pending is reported (a `tracing` warning, feature `tracing`).
    ///
    /// Errors: [`Error::CloseTimeout`] when work was still running after
    /// the timeout; [`Error::TokenNotStored`] when a write to the cache
    /// still fails (the token is lost with the process).
    pub async fn close(mut self) -> Result<()> {
        let closed = self.engine.close().await;
        self.closed = true;
        closed
    }

    /// Exchanges an authorization code for tokens, stores them in the cache
    /// and returns them.
    ///
    /// Confidential clients authenticate with HTTP Basic; PKCE clients send
    /// their `client_id` and the verifier of the attempt the code belongs to
    /// (made by [`get_authorization_url`](Self::get_authorization_url) on this
    /// same instance). A response without a refresh token is an error.
    ///
    /// Codes are single-use: once the request may have been sent, it is not
    /// retried (a retry could only earn `invalid_grant` and hide the real
    /// error); a failure to connect is. A PKCE attempt stays until its
    /// exchange succeeds or fails for good, so after a passing failure
    /// (network, 5xx) the same code can be exchanged again.
    ///
    /// Errors: [`Error::UnknownAttempt`] / [`Error::AttemptExpired`] for a
    /// PKCE code this instance is not waiting for (attempts last 30 minutes);
    /// [`Error::TokenNotStored`] when the token was issued but writing it to
    /// the cache failed: it is kept in memory, this instance goes on working,
    /// and the write is retried on later calls (see
    /// [`cache_write_error`](Self::cache_write_error)); the token endpoint's
    /// and transport errors.
    pub async fn exchange_code(&self, code: impl Into<AuthCode>) -> Result<TokenInfo> {
        let code = code.into();
        let session = &self.engine.session;
        let request = || {
            let verifier = session.verifier_for_code(&code)?;
            Ok(session.exchange_request(&code, verifier.as_ref(), &session.config.redirect_uri))
        };
        self.engine
            .exchange(request, &code, Some(code.clone()))
            .await
    }

    /// Exchanges a code with the verifier of its
    /// [`AuthorizationAttempt`] (the stateless flow), on any instance or
    /// replica; see [`authorization_attempt`](Self::authorization_attempt).
    /// Otherwise as [`exchange_code`](Self::exchange_code).
    ///
    /// Errors: [`Error::Config`] (setting `pkce_verifier`) when this client
    /// uses PKCE and no verifier is given; then as `exchange_code`.
    pub async fn exchange_code_with_verifier(
        &self,
        code: impl Into<AuthCode>,
        pkce_verifier: Option<&PkceVerifier>,
    ) -> Result<TokenInfo> {
        let code = code.into();
        let session = &self.engine.session;
        let verifier = session.given_verifier(pkce_verifier)?;
        let request =
            || Ok(session.exchange_request(&code, verifier, &session.config.redirect_uri));
        self.engine.exchange(request, &code, None).await
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
    /// [`Error::AuthorizationDenied`], and the errors of the exchange.
    ///
    /// The async version never blocks the runtime, and dropping its future
    /// stops the server. The blocking version blocks its thread until the
    /// callback comes: call it from `main`, a thread of your own, or tokio's
    /// `spawn_blocking`, not from an async task (tokio offers no reliable way
    /// to tell a runtime worker from a `spawn_blocking` thread, so it is not
    /// refused there: it would hold that worker for the whole login).
    #[cfg(not(target_arch = "wasm32"))]
    #[cfg_attr(
        feature = "tracing",
        instrument(target = "spotify_auth::flow", level = "debug", skip_all)
    )]
    pub async fn authorize_local(&self, options: AuthorizeLocalOptions) -> Result<TokenInfo> {
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
            other => other,
        };
        // May wait a moment for a port just released: off the runtime.
        let server = blocking_io(move || CallbackServer::bind(&configured)).await?;
        // The exact URI in use, port included: the authorization request and
        // the exchange must carry the same one.
        let redirect_uri = server.redirect_uri().to_owned();
        let scope = options
            .scope
            .clone()
            .unwrap_or_else(|| self.engine.session.config.scope.clone());
        // This login's own state and verifier, never shared with other attempts.
        let attempt = self.engine.session.authorization_attempt(
            state,
            Some(&scope),
            options.show_dialog,
            &redirect_uri,
        )?;
        if let Some(handler) = &options.url_handler {
            handler(&attempt.url);
        }
        if let Some(paste) = &options.paste {
            crate::local::relay_pasted_urls(paste, server.local_addr(), server.path().to_owned());
        }
        if options.open_browser {
            let target = attempt.url.clone();
            let opened = blocking_io(move || {
                webbrowser::open(&target).map_err(|e| Error::Browser(e.to_string()))
            })
            .await;
            // With a handler the user still has the URL; without one, fail.
            if let (Err(e), None) = (opened, &options.url_handler) {
                return Err(e);
            }
        }
        let callback =
            wait_for_callback(server, attempt.state.clone(), scope, options.timeout).await?;
        let session = &self.engine.session;
        let request = || {
            Ok(session.exchange_request(
                &callback.code,
                attempt.pkce_verifier.as_ref(),
                &redirect_uri,
            ))
        };
        self.engine.exchange(request, &callback.code, None).await
    }

    /// Logs in only when needed, in one call: the usable access token (as
    /// [`get_access_token`](Self::get_access_token)), or, when the user must
    /// authorize (no login stored, a logout recorded, the refresh token
    /// refused, or scopes the app asks for that the login lacks: any error
    /// whose [`requires_authorization`](crate::Error::requires_authorization)
    /// is true), the browser login of
    /// [`authorize_local`](Self::authorize_local) with `options`, then its
    /// access token. Every other error (the network, Spotify, the store) is
    /// returned as it is, without opening a browser.
    ///
    /// ```no_run
    /// # #[cfg(feature = "blocking")]
    /// # fn main() -> spotify_auth::Result<()> {
    /// use spotify_auth::{AuthorizationCode, AuthorizeLocalOptions, FileTokenCache};
    ///
    /// let auth = AuthorizationCode::builder()
    ///     .client_id("your-client-id")
    ///     .redirect_uri("http://127.0.0.1:8888/callback")
    ///     .token_cache(FileTokenCache::in_config_dir("my-app")?)
    ///     .build()?;
    /// let token = auth.get_access_token_or_authorize(AuthorizeLocalOptions::new())?;
    /// # let _ = token;
    /// # Ok(())
    /// # }
    /// # #[cfg(not(feature = "blocking"))]
    /// # fn main() {}
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn get_access_token_or_authorize(
        &self,
        options: AuthorizeLocalOptions,
    ) -> Result<String> {
        match self.engine.get_access_token().await {
            Err(e) if e.requires_authorization() => {
                observe::debug!(flow, "no usable login: authorizing through the browser");
                let token = self.authorize_local(options).await?;
                Ok(token.access_token.into_secret())
            }
            other => other,
        }
    }

    /// Returns a valid access token, refreshing it when it expires within the
    /// refresh margin.
    ///
    /// With a token valid beyond the margin in memory this does no I/O and
    /// takes no lock (a clock read and an `arc-swap` load, one allocation for
    /// the returned string). Inside the margin the still-valid token is
    /// returned at once and one refresh runs beside the callers (a task in
    /// the async API, a thread in the blocking one), never waiting for a
    /// lock held elsewhere. Once the token has expired, callers wait for one
    /// refresh at a time (across threads or tasks, and across processes and
    /// machines for caches with a lock such as
    /// [`FileTokenCache`](crate::FileTokenCache)), which re-reads the store
    /// (the store is the truth), writes the login back if the store lost it,
    /// and refreshes with the stored refresh token or the bootstrap one. In
    /// the async API a refresh whose request may have been sent runs to its
    /// end even if every caller went away: its token is adopted and stored
    /// all the same (see [`close`](Self::close)).
    ///
    /// A refresh that fails for a passing reason (network, 5xx, 429, a store
    /// that is down) while the token in memory has not expired yet returns
    /// that token. A token whose store write failed is returned all the same
    /// (see [`cache_write_error`](Self::cache_write_error)).
    ///
    /// Errors: [`NotAuthorized`](crate::Error::NotAuthorized) when there is no
    /// token and nothing to refresh with, or when the store records a logout
    /// (by this or another instance sharing it: nothing is sent and nothing
    /// written back);
    /// [`ReauthorizationRequired`](crate::Error::ReauthorizationRequired) when
    /// Spotify refused the refresh token (revoked or expired; the refusal is
    /// recorded in the store, if it still held that token), or the store
    /// records such a refusal; transport and endpoint errors after retries.
    pub async fn get_access_token(&self) -> Result<String> {
        self.engine.get_access_token().await
    }

    /// Refreshes now, even though the token looks valid: the answer to a Web
    /// API `401` (a token revoked early, clock skew). Returns the new access
    /// token.
    ///
    /// Concurrent calls after the same rejection make one request; a call
    /// that arrives after a newer token than the one this instance held was
    /// adopted (by another caller here, or another process sharing the cache)
    /// returns that token without a request. A passing failure is returned
    /// as an error (never the rejected token). Errors as
    /// [`get_access_token`](Self::get_access_token).
    pub async fn force_refresh(&self) -> Result<String> {
        self.engine.force_refresh().await
    }

    /// Refreshes because the Web API rejected `rejected` (the access token,
    /// or the `Bearer …` header value, the caller sent), unless a newer token
    /// is already here: then that one is returned without a request. The
    /// precise form of [`force_refresh`](Self::force_refresh) for services
    /// where many requests run at once: a 401 that arrives after another
    /// request's refresh already replaced the token costs nothing. Otherwise
    /// as `force_refresh`.
    pub async fn force_refresh_rejected(&self, rejected: &str) -> Result<String> {
        self.engine.force_refresh_rejected(rejected).await
    }

    /// Logs the user out: forgets the login in memory (and the bootstrap
    /// refresh token), and writes a logout record to the store under its
    /// lock, naming every refresh token this instance and the store know
    /// of (a store that cannot be read, such as a corrupt file, is written
    /// over). Other instances sharing the store (threads, processes,
    /// machines) end their login when they find it: their next refresh
    /// fails with [`NotAuthorized`](crate::Error::NotAuthorized), sends
    /// nothing and writes nothing back, and no one ever sends a named
    /// refresh token again (a bootstrap one included). Spotify is not told:
    /// the refresh token stays valid on its side until it expires or the
    /// user removes the app's access in their account.
    ///
    /// Errors: the store's, when the record cannot be written: the login in
    /// memory is forgotten all the same, and the record is owed (written
    /// beside the callers as soon as the store takes it, and by
    /// [`close`](Self::close)).
    pub async fn logout(&self) -> Result<()> {
        self.engine.logout().await
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
    /// The hot path; off it, a token that is still valid is returned at once
    /// (the refresh it is due for runs beside the callers); callers wait
    /// only for a token that has expired.
    async fn get_access_token(self: &Arc<Self>) -> Result<String> {
        if let Some(token) = self.session.fresh_access_token() {
            return Ok(token);
        }
        self.slow_token(false).await
    }

    /// `Bearer {token}`: pre-formatted on the hot path, else as
    /// [`get_access_token`](Self::get_access_token).
    async fn get_authorization_header(self: &Arc<Self>) -> Result<String> {
        if let Some(header) = self.session.fresh_authorization_header() {
            return Ok(header);
        }
        self.slow_token(true).await
    }

    /// Off the hot path: the valid token at once (starting the refresh due
    /// beside the callers), or a wait for the refresh of an expired one.
    /// An instance's first call takes the stored token without detaching
    /// anything, and serves it the same way when it is still valid.
    async fn slow_token(self: &Arc<Self>, header: bool) -> Result<String> {
        if let Some(served) = self.serve(header) {
            return Ok(served);
        }
        // Read before anything waits: a refresh another caller finishes
        // meanwhile answers this one too.
        let seen = self.session.epoch();
        if !self.session.has_token() {
            // Detached: a caller that goes away while the store's lock is
            // awaited (held elsewhere) leaves the wait running all the same
            // (off the runtime); what is read once the lock comes is then
            // adopted, not thrown away with the caller.
            let engine = Arc::clone(self);
            let _ = detached(async move {
                engine.settle_first().await;
                Ok::<(), Error>(())
            })
            .await;
            if let Some(served) = self.serve(header) {
                return Ok(served);
            }
        }
        let token = self.refresh_since(Need::Valid, seen).await?;
        Ok(if header {
            format!("Bearer {token}")
        } else {
            token
        })
    }

    /// The token in memory while it has not expired, starting the refresh
    /// ahead when it is due.
    fn serve(self: &Arc<Self>, header: bool) -> Option<String> {
        let (served, start) = self.session.serve_while_valid(header)?;
        if start {
            self.start_beside();
        }
        Some(served)
    }

    /// An instance with no token yet: squares memory with the store under
    /// both locks (adopting its token), sending nothing and detaching
    /// nothing. What fails here is met again by the refresh that follows.
    async fn settle_first(self: &Arc<Self>) {
        let _slot = self.refresh.lock().await;
        if self.session.has_token() {
            return;
        }
        if let Ok(Some((guard, stored))) = self.lock_and_read(true).await {
            let _ = self.refresh_with(&guard, stored, &Need::Settle).await;
            self.release(guard).await;
        }
    }

    /// At `close()`, with nothing owed: squares the login held here with the
    /// store once, so that a store that lost its data gets it back (this
    /// instance may hold the only copy, and is going away). Only when the
    /// store's lock is free: someone holding it is at work on the store and
    /// consults it anyway, and `close()` does not wait for them.
    async fn settle_before_closing(self: &Arc<Self>) {
        let _slot = self.refresh.lock().await;
        if !self.session.has_token() || self.session.owes_write() {
            return;
        }
        if let Ok(Some((guard, stored))) = self.lock_and_read(false).await {
            let _ = self.refresh_with(&guard, stored, &Need::Settle).await;
            self.release(guard).await;
        }
    }

    /// Starts the refresh ahead beside the callers: a task of its own
    /// (async) or a thread (blocking).
    fn start_beside(self: &Arc<Self>) {
        observe::debug!(flow, "refreshing ahead, beside the callers");
        let engine = Arc::clone(self);
        let working = self.session.busy.start();
        let started = beside(move || async move {
            let _working = working;
            engine.refresh_beside().await;
        });
        if !started {
            self.session.beside_done(Err(()));
        }
    }

    /// The refresh ahead: under the same single flight as any refresh, but
    /// it never waits for a lock someone else holds (they are refreshing:
    /// their token will do).
    async fn refresh_beside(self: &Arc<Self>) {
        let Some(mut slot) = self.refresh.try_lock() else {
            self.session.beside_done(Ok(false));
            return;
        };
        let outcome = match self.lock_and_read(false).await {
            Ok(None) => Ok(false),
            Ok(Some((guard, stored))) => {
                let result = self.refresh_with(&guard, stored, &Need::Valid).await;
                self.release(guard).await;
                self.session.finish(&mut slot, result.as_ref().err());
                result.map(|_| true).map_err(|_| ())
            }
            Err(_) => Err(()),
        };
        drop(slot);
        self.session.beside_done(outcome);
    }

    /// A refresh replacing the token in memory now.
    async fn force_refresh(self: &Arc<Self>) -> Result<String> {
        let need = self.session.replacing_current();
        observe::forced_refresh(&need);
        self.refresh(need).await
    }

    /// A refresh replacing `rejected`, unless a newer token is here already.
    async fn force_refresh_rejected(self: &Arc<Self>, rejected: &str) -> Result<String> {
        let rejected = rejected.strip_prefix("Bearer ").unwrap_or(rejected);
        if let Some(token) = self.session.fresh_access_token()
            && token != rejected
        {
            observe::debug!(flow, "the rejected token was replaced already: no request");
            return Ok(token);
        }
        let need = Need::Replace(Some(crate::AccessToken::new(rejected)));
        observe::forced_refresh(&need);
        self.refresh(need).await
    }

    /// One refresh at a time: a caller that waited while another refreshed
    /// takes its outcome; otherwise it refreshes, to the end even if it is
    /// cancelled (async).
    async fn refresh(self: &Arc<Self>, need: Need) -> Result<String> {
        self.refresh_since(need, self.session.epoch()).await
    }

    /// [`refresh`](Self::refresh), taking the outcome of any refresh
    /// finished since the epoch `seen`.
    #[cfg_attr(
        feature = "tracing",
        instrument(name = "refresh", target = "spotify_auth::flow", level = "debug", skip_all,
            fields(need = observe::need(&need)))
    )]
    async fn refresh_since(self: &Arc<Self>, need: Need, seen: u64) -> Result<String> {
        let waiting = observe::Stopwatch::start();
        let slot = self.refresh.lock().await;
        if let Some(outcome) = self.session.settled_while_waiting(seen, &slot, &need) {
            observe::took_outcome(&waiting, &outcome);
            return outcome;
        }
        observe::trace!(flow, waited_ms = waiting.ms(), "took the refresh lock");
        let (_caller, task) = observe::detach("refresh");
        let engine = Arc::clone(self);
        let working = self.session.busy.start();
        detached(async move {
            let _working = working;
            let mut slot = slot;
            let result = engine.refresh_locked(&need).await;
            engine.session.finish(&mut slot, result.as_ref().err());
            task.finished(result.is_ok());
            engine.session.outcome(result, &need)
        })
        .await
    }

    /// The refresh, under the in-process refresh lock and the store's lock.
    async fn refresh_locked(self: &Arc<Self>, need: &Need) -> Result<String> {
        let (guard, stored) = self
            .lock_and_read(true)
            .await?
            .expect("a lock that is waited for is taken");
        let result = self.refresh_with(&guard, stored, need).await;
        self.release(guard).await;
        Ok(result?.access_token.secret().to_owned())
    }

    /// Runs `f` on the store: on this task for a store that never blocks,
    /// else where the mode runs blocking I/O (tokio's blocking pool).
    async fn with_cache<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn TokenCache) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let cache = self.session.config.cache.clone();
        if cache.never_blocks() {
            return f(&*cache);
        }
        blocking_io(move || f(&*cache)).await
    }

    /// Takes the store's lock and reads the store (the truth, re-read under
    /// the lock). `wait`: wait for another holder (off the runtime); else
    /// `None` when someone else holds it.
    async fn lock_and_read(self: &Arc<Self>, wait: bool) -> Result<Option<(Guard, Option<Entry>)>> {
        match self.lock_then_read(wait).await? {
            None => Ok(None),
            Some((guard, Ok(stored))) => Ok(Some((guard, stored))),
            Some((guard, Err(e))) => {
                self.release(guard).await;
                Err(e)
            }
        }
    }

    /// Takes the store's lock (the one kept while a write is owed, if it is
    /// still held), then reads the store; a failed read keeps the lock
    /// with its error. One trip off the runtime for both.
    async fn lock_then_read(&self, wait: bool) -> Result<Option<(Guard, Result<Option<Entry>>)>> {
        let kept = self.kept().guard.take();
        if let Some(guard) = kept {
            match self.kept_still_usable(&guard).await {
                Ok(true) => {
                    let stored = self
                        .with_cache(|cache| Ok(cache.read().and_then(crate::entry::unsealed)))
                        .await?;
                    return Ok(Some((guard, stored)));
                }
                // The store cannot say (it is down): the lock stays kept,
                // as the write is still owed (for at most `MAX_KEEP`).
                Err(e) => {
                    self.kept().guard = Some(guard);
                    return Err(e);
                }
                // Lapsed (or kept too long): sharers read the store as it is.
                Ok(false) => {
                    self.kept().since = None;
                    self.drop_guard(guard).await;
                }
            }
        }
        let cache = self.session.config.cache.clone();
        if cache.never_blocks() {
            if let Some(guard) = cache.try_lock()? {
                let stored = cache.read().and_then(crate::entry::unsealed);
                return Ok(Some((Arc::new(guard), stored)));
            }
            if !wait {
                return Ok(None);
            }
        }
        // Where the mode takes a lock that may wait (off the runtime; a
        // browser's Web Lock awaited).
        let taken = lock_store(cache, wait).await?;
        Ok(taken.map(|(guard, stored)| (Arc::new(guard), stored)))
    }

    /// Whether the lock kept while a write is owed can still be written
    /// with: still ours (a lock with a lease is confirmed), or lapsed while
    /// the answer of its request is owed and still able to write it (see
    /// [`TokenCache::can_write_after_lapse`]: released, its in-flight marker
    /// would go, and the next holder, who waits for it, would send the
    /// token that answer replaced). An error, kept for at most `MAX_KEEP`:
    /// the store cannot say (it is down).
    async fn kept_still_usable(&self, guard: &Guard) -> Result<bool> {
        if !guard.has_lease() {
            return Ok(true);
        }
        let within = || self.kept().since.is_some_and(|s| s.elapsed() < MAX_KEEP);
        let held = Arc::clone(guard);
        match self
            .with_cache(move |cache| cache.confirm_lock(&held))
            .await
        {
            Ok(true) => Ok(true),
            Ok(false) if self.session.owes_write() && within() => {
                let held = Arc::clone(guard);
                self.with_cache(move |cache| cache.can_write_after_lapse(&held))
                    .await
            }
            Err(e) if within() => Err(e),
            Ok(false) | Err(_) => Ok(false),
        }
    }

    /// Releases the store's lock, unless a write is still owed to the store:
    /// then the lock is kept (for at most [`MAX_KEEP`]) and the write
    /// retried beside the callers, so that no sharer reads the stale store
    /// and spends a refresh token this instance already spent (the token
    /// that replaced it is in this instance's memory only).
    async fn release(self: &Arc<Self>, guard: Guard) {
        use std::sync::atomic::Ordering;
        if self.session.owes_write() && !self.closing.load(Ordering::Acquire) {
            let mut kept = self.kept();
            let since = *kept.since.get_or_insert_with(crate::clock::Instant::now);
            if since.elapsed() < MAX_KEEP {
                kept.guard = Some(guard);
                return;
            }
            drop(kept);
            observe::warn!(
                flow,
                "released the store's lock kept while a write was owed (kept too long): sharers read the store as it is"
            );
        }
        self.kept().since = None;
        self.drop_guard(guard).await;
    }

    /// Drops the lock guard, which may be I/O (a Redis round trip): where
    /// the mode runs blocking I/O.
    async fn drop_guard(&self, guard: Guard) {
        let _ = self
            .with_cache(move |_| {
                drop(guard);
                Ok(())
            })
            .await;
    }

    /// Retries the owed write on its schedule (the store's lock kept
    /// meanwhile, for a while); ends once it is written or moot (the store
    /// moved on), or the flow is closing.
    fn start_owed_retries(self: &Arc<Self>) {
        let engine = Arc::clone(self);
        let started = beside(move || async move {
            engine.retry_owed().await;
        });
        if !started {
            self.retrying
                .store(false, std::sync::atomic::Ordering::Release);
        }
    }

    async fn retry_owed(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        loop {
            if self.closing.load(Ordering::Acquire) {
                self.retrying.store(false, Ordering::Release);
                return;
            }
            let Some(due_in) = self.session.owed_retry_in() else {
                self.retrying.store(false, Ordering::Release);
                // A write owed since the check above has its retrier again.
                if self.session.owes_write() && !self.retrying.swap(true, Ordering::AcqRel) {
                    continue;
                }
                // Nothing owed: a lock still kept (by a call that settled
                // the write without releasing it) goes.
                if !self.session.owes_write() {
                    let kept = {
                        let mut kept = self.kept();
                        kept.since = None;
                        kept.guard.take()
                    };
                    if let Some(guard) = kept {
                        self.drop_guard(guard).await;
                    }
                }
                return;
            };
            // In slices, so that `close()` is not kept waiting.
            let mut left = due_in;
            while !left.is_zero() && !self.closing.load(Ordering::Acquire) {
                let slice = left.min(CLOSE_POLL * 10);
                sleep(slice).await;
                left = left.saturating_sub(slice);
            }
            if !self.closing.load(Ordering::Acquire) {
                let due_at = self.session.owed_retry_at();
                if let Err(e) = self.refresh(Need::Settle).await
                    && self.session.owed_retry_at() == due_at
                {
                    // Failed before the write was even tried (the store's
                    // lock or read failed): back off all the same.
                    self.session.owed_attempt_failed(e);
                }
            }
        }
    }

    /// Right before a request is sent under `guard`: a lock with a lease
    /// must still be held (renewed once more); else nothing is sent.
    async fn confirm(&self, guard: &Guard) -> Result<()> {
        if !guard.has_lease() {
            return Ok(());
        }
        let held = Arc::clone(guard);
        let confirmed = self
            .with_cache(move |cache| cache.confirm_lock(&held))
            .await?;
        if confirmed {
            return Ok(());
        }
        Err(Error::Cache {
            path: None,
            message: "the token store's lock lapsed before the refresh was sent (another \
                      instance may hold it now); nothing was sent, and the next call tries again"
                .into(),
            source: None,
        })
    }

    /// Decides from the re-read store, and refreshes when still needed. A
    /// token Spotify issued is adopted before it is written; a failed write
    /// is owed and retried, never a lost token.
    async fn refresh_with(
        self: &Arc<Self>,
        guard: &Guard,
        stored: Option<Entry>,
        need: &Need,
    ) -> Result<TokenInfo> {
        let mut in_store = stored;
        // The token decided from is a copy written back after a data loss
        // (found at that time): its refusal ends no other login.
        let mut provisional = match &in_store {
            Some(Entry::Recovering(r)) => Some(r.since_ms()),
            _ => None,
        };
        let (decided, bootstrap, after) = match self.session.reconcile(in_store.as_ref()) {
            Reconciled::Decide {
                token,
                bootstrap,
                after,
            } => (token, bootstrap, after),
            Reconciled::Write {
                entry,
                from,
                pending,
            } => {
                observe::debug!(
                    flow,
                    pending,
                    "writing what this instance holds to the store"
                );
                if let Entry::Recovering(r) = &entry {
                    provisional = Some(r.since_ms());
                }
                if self.store(guard, &entry, &in_store, from).await.is_ok() {
                    in_store = Some(entry.clone());
                }
                match entry {
                    Entry::Token(token) => (Some(token), false, None),
                    Entry::Recovering(r) => (r.token().cloned(), false, None),
                    Entry::Ended(record) => {
                        return Err(session::ended_error(Some(record.reason())));
                    }
                    Entry::Sealed(_) => unreachable!("an instance never holds a sealed entry"),
                }
            }
            Reconciled::Ended(reason) => return Err(session::ended_error(Some(reason))),
            Reconciled::Failed(e) => return Err(e),
        };
        if matches!(need, Need::Settle) {
            if let Some(token) = &decided {
                observe::debug!(
                    flow,
                    expires_at = token.expires_at,
                    "the stored token will do"
                );
            }
            return decided.ok_or(Error::NotAuthorized);
        }
        match self.session.plan(decided, need, bootstrap, after)? {
            // Already in memory: adopted from the store by `reconcile`, or
            // ours, written back.
            Plan::Use(token) => {
                observe::debug!(
                    flow,
                    expires_at = token.expires_at,
                    "the stored token will do"
                );
                Ok(token)
            }
            Plan::Refresh {
                refresh_token,
                previous,
                bootstrap,
            } => {
                observe::debug!(flow, bootstrap, "refreshing");
                self.confirm(guard).await?;
                let request = self.session.refresh_request(&refresh_token);
                match self.token_request(&request, Resend::Allowed).await {
                    Ok(response) => {
                        let (token, from) =
                            self.session
                                .refreshed(&response, &refresh_token, previous.as_ref());
                        // A failed write is owed and retried later.
                        let _ = self
                            .store(guard, &Entry::Token(token.clone()), &in_store, from)
                            .await;
                        match response.problem() {
                            Some(problem) => Err(problem),
                            // Kept (it is Spotify's), but not handed out.
                            None => self.session.scope_check(&token).map(|()| token),
                        }
                    }
                    Err(e) if session::is_invalid_grant(&e) => {
                        let ancestors = self.session.lineage();
                        self.session.refused(&refresh_token, bootstrap);
                        // The caller learns what Spotify said whatever the
                        // store does; a record that keeps failing leaves
                        // the dead token for the next refresh to refuse.
                        // The refused token's login (a bootstrap token's
                        // is unknown): a later login goes over the record.
                        let login_at = previous
                            .as_ref()
                            .filter(|_| !bootstrap)
                            .and_then(|t| t.authorized_at);
                        let lost = self
                            .record_refusal(
                                guard,
                                refresh_token,
                                &in_store,
                                provisional,
                                login_at,
                                ancestors,
                            )
                            .await;
                        // A copy written back after a data loss (perhaps
                        // stale), or a store that lost its data meanwhile:
                        // its refusal ends no other login.
                        match provisional.or(lost) {
                            Some(since_ms) => Err(self.session.recovering_error(since_ms)),
                            None => Err(session::reauthorization_required(e)),
                        }
                    }
                    Err(e) => Err(e),
                }
            }
            Plan::Refused {
                refresh_token,
                login_at,
            } => {
                // Refused before, and still in the store: record it again,
                // and send nothing.
                let ancestors = self.session.lineage();
                let lost = self
                    .record_refusal(
                        guard,
                        refresh_token,
                        &in_store,
                        provisional,
                        login_at,
                        ancestors,
                    )
                    .await;
                self.session.forget();
                // A copy written back after a data loss (again, by another
                // instance): its refusal ends no other login.
                match provisional.or(lost) {
                    Some(since_ms) => Err(self.session.recovering_error(since_ms)),
                    None => Err(Error::ReauthorizationRequired { description: None }),
                }
            }
            Plan::Fetch => {
                self.confirm(guard).await?;
                let request = self.session.client_credentials_request();
                let response = self.token_request(&request, Resend::Allowed).await?;
                let token = self.session.fetched(&response);
                let _ = self
                    .store(
                        guard,
                        &Entry::Token(token.clone()),
                        &in_store,
                        Lineage::none(),
                    )
                    .await;
                match response.problem() {
                    Some(problem) => Err(problem),
                    None => Ok(token),
                }
            }
        }
    }

    /// After Spotify refused `refused`: records the refusal in the store if
    /// it still holds that token (or holds nothing): a sharer may have
    /// stored a newer token meanwhile, which stays (see
    /// `reconcile::refusal_over`). Under the store's lock. A record that
    /// cannot be made (the store is down) is owed like a token write (the
    /// lock kept, the write retried beside the callers): a sharer that read
    /// the store now would send the refused token again.
    ///
    /// `login_at`: when the refused token's login was authorized, if
    /// known; the record keeps it, so that a later login held elsewhere
    /// is not ended by it.
    ///
    /// A store found empty although the refused token was decided from
    /// something (it lost its data meanwhile) is recovering from that loss
    /// (another instance may hold a live login to write back): the refusal
    /// is recorded as such, and its time returned, for the caller's error.
    async fn record_refusal(
        self: &Arc<Self>,
        guard: &Guard,
        refused: RefreshToken,
        in_store: &Option<Entry>,
        provisional: Option<u64>,
        login_at: Option<u64>,
        ancestors: Lineage,
    ) -> Option<u64> {
        use std::sync::atomic::{AtomicU64, Ordering};
        let held = Arc::clone(guard);
        let token = refused.clone();
        let lineage = ancestors.clone();
        let decided_over_something = in_store.is_some();
        let lost_at = Arc::new(AtomicU64::new(0));
        let found = Arc::clone(&lost_at);
        let recorded = self
            .with_retries(move |cache| {
                let stored = cache.read()?;
                let provisional = provisional.or_else(|| {
                    (decided_over_something && stored.is_none()).then(|| {
                        let now = crate::entry::now_ms();
                        found.store(now, Ordering::Relaxed);
                        now
                    })
                });
                let write = crate::reconcile::refusal_over(
                    stored.as_ref(),
                    &token,
                    provisional,
                    &lineage,
                    login_at,
                );
                observe::refused(write.is_some());
                match write {
                    Some(write) => cache.write(&write, &held),
                    None => Ok(()),
                }
            })
            .await;
        if let Err(e) = recorded
            && let Some(record) = crate::reconcile::refusal_over(
                in_store.as_ref(),
                &refused,
                provisional,
                &ancestors,
                login_at,
            )
        {
            self.owe(&record, Base::Known(in_store.clone()), Lineage::none(), e);
        }
        match lost_at.load(Ordering::Relaxed) {
            0 => None,
            at => Some(at),
        }
    }

    /// Writes an entry this instance holds (under `guard`; the store held
    /// `base`); a failure is owed, to retry later.
    async fn store(
        self: &Arc<Self>,
        guard: &Guard,
        entry: &Entry,
        base: &Option<Entry>,
        from: Lineage,
    ) -> Result<()> {
        match self.write(guard, entry).await {
            Ok(()) => {
                self.session.stored();
                Ok(())
            }
            Err(e) => {
                self.owe(entry, Base::Known(base.clone()), from, e.clone());
                Err(e)
            }
        }
    }

    /// Owes `entry` to the store, and makes sure the write is retried (on
    /// its schedule, beside the callers) until it is made or moot.
    fn owe(self: &Arc<Self>, entry: &Entry, base: Base, from: Lineage, e: Error) {
        self.session.store_failed(entry, base, from, e);
        if !self
            .retrying
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            self.start_owed_retries();
        }
    }

    /// Writes `entry` to the store as the holder of `guard`.
    async fn write(&self, guard: &Guard, entry: &Entry) -> Result<()> {
        let entry = entry.clone();
        let held = Arc::clone(guard);
        self.with_retries(move |cache| cache.write(&entry, &held))
            .await
    }

    /// A store write under the lock, tried again twice after a short pause
    /// when it fails: a blip of the store (a Redis timeout, a busy disk) must
    /// not leave a token unsaved, because a sharer that then takes the lock
    /// reads the old token and spends its refresh token. A write that keeps
    /// failing is the caller's to record.
    async fn with_retries(
        &self,
        write: impl Fn(&dyn TokenCache) -> Result<()> + Clone + Send + 'static,
    ) -> Result<()> {
        let mut pauses = WRITE_RETRY_PAUSES.iter();
        loop {
            let attempt = write.clone();
            match self.with_cache(move |cache| attempt(cache)).await {
                Ok(()) => return Ok(()),
                Err(e) => match pauses.next() {
                    Some(pause) => sleep(self.session.config.actual_delay(*pause)).await,
                    None => return Err(e),
                },
            }
        }
    }

    /// Exchanges a code once: a code exchanged moments ago (or being
    /// exchanged now) answers with that exchange's result, without a
    /// request. The exchange runs to its end even if the caller is
    /// cancelled (async); `attempt` is the code of an in-instance PKCE
    /// attempt to settle.
    #[cfg_attr(
        feature = "tracing",
        instrument(target = "spotify_auth::flow", level = "debug", skip_all)
    )]
    async fn exchange(
        self: &Arc<Self>,
        request: impl FnOnce() -> Result<TokenRequest>,
        code: &AuthCode,
        attempt: Option<AuthCode>,
    ) -> Result<TokenInfo> {
        let code = Fingerprint::of_code(code);
        let mut recent = self.exchanges.lock().await;
        if let Some(result) = recent.result(code) {
            observe::debug!(
                flow,
                "this code was exchanged moments ago: its result, no request"
            );
            return result;
        }
        // Made only for a code not exchanged yet (a PKCE attempt is settled
        // by its exchange).
        let request = request()?;
        let (_caller, task) = observe::detach("exchange");
        let engine = Arc::clone(self);
        let working = self.session.busy.start();
        detached(async move {
            let _working = working;
            let result = engine.exchange_to_end(&request).await;
            if let Some(code) = &attempt {
                engine.session.settle_attempt(code, &result);
            }
            recent.remember(code, &result);
            drop(recent);
            task.finished(result.is_ok());
            result
        })
        .await
    }

    /// The exchange: the request (never resent once it may have been sent),
    /// the token adopted, then stored under both locks over whatever the
    /// store holds (a new login).
    async fn exchange_to_end(self: &Arc<Self>, request: &TokenRequest) -> Result<TokenInfo> {
        let response = self.token_request(request, Resend::OnlyUnsent).await?;
        let token = self.session.exchanged(&response)?;
        let mut slot = self.refresh.lock().await;
        // Again, over whatever a refresh that was in flight adopted.
        self.session.adopt(&token, Lineage::none());
        let entry = Entry::Token(token.clone());
        // Owed or stored before the lock is released: the release keeps the
        // lock while a write is owed.
        let written = match self.lock_and_read(true).await {
            Err(e) => {
                self.owe(&entry, Base::Unknown, Lineage::none(), e.clone());
                Err(e)
            }
            Ok(None) => unreachable!("a lock that is waited for is taken"),
            Ok(Some((guard, stored))) => {
                let written = self.store(&guard, &entry, &stored, Lineage::none()).await;
                self.release(guard).await;
                written
            }
        };
        let result = match written {
            Ok(()) => match response.problem() {
                Some(problem) => Err(problem),
                None => Ok(token),
            },
            Err(e) => Err(Error::TokenNotStored {
                source: Box::new(e),
            }),
        };
        self.session.finish(&mut slot, None);
        result
    }

    /// Forgets the login here and records the logout in the store, under
    /// both locks: the record names every refresh token this instance and
    /// the store know of, so that no sharer sends one again.
    #[cfg_attr(
        feature = "tracing",
        instrument(target = "spotify_auth::flow", level = "debug", skip_all)
    )]
    async fn logout(self: &Arc<Self>) -> Result<()> {
        let (_caller, task) = observe::detach("logout");
        let engine = Arc::clone(self);
        let working = self.session.busy.start();
        detached(async move {
            let _working = working;
            let mut slot = engine.refresh.lock().await;
            let known = engine.session.known_refresh_tokens();
            engine.session.logged_out();
            // A store that cannot be read (a corrupt file) is written over
            // all the same: the logout is what the user asked for.
            let recorded = match engine.lock_then_read(true).await {
                Ok(Some((guard, stored))) => {
                    let stored = stored.unwrap_or(None);
                    let record = Entry::Ended(LoginEnded::logout_over(stored.as_ref(), &known));
                    let stored_result = engine
                        .store(&guard, &record, &stored, Lineage::none())
                        .await;
                    engine.release(guard).await;
                    stored_result
                }
                Ok(None) => unreachable!("a lock that is waited for is taken"),
                Err(e) => {
                    let record = Entry::Ended(LoginEnded::logout_over(None, &known));
                    engine.owe(&record, Base::Unknown, Lineage::none(), e.clone());
                    Err(e)
                }
            };
            engine
                .session
                .finish(&mut slot, Some(&Error::NotAuthorized));
            observe::logged_out(&recorded);
            task.finished(recorded.is_ok());
            recorded
        })
        .await
    }

    /// Waits (at most the close timeout) for the work running on after its
    /// callers, then makes the write still owed to the store, if any.
    async fn close(self: &Arc<Self>) -> Result<()> {
        self.closing
            .store(true, std::sync::atomic::Ordering::Release);
        let limit = self.session.config.close_timeout;
        let started = crate::clock::Instant::now();
        loop {
            let pending = self.session.busy.count();
            if pending == 0 {
                break;
            }
            if started.elapsed() >= limit {
                observe::warn!(
                    flow,
                    pending,
                    "closed with work still running (a refresh, an exchange or a store write): what it would store may be lost"
                );
                return Err(Error::CloseTimeout {
                    waited: limit,
                    pending,
                });
            }
            sleep(CLOSE_POLL).await;
        }
        // Nothing owed: the login held here, squared with the store once.
        if !self.session.owes_write() {
            self.settle_before_closing().await;
        }
        // The owed write, tried again when an attempt fails and time is
        // left: the lock kept while the write was owed may have lapsed
        // meanwhile (its in-flight marker gone between its check and the
        // write), and the next attempt takes it anew.
        for _ in 0..CLOSE_WRITE_ATTEMPTS {
            if !self.session.owes_write() || started.elapsed() >= limit {
                break;
            }
            let _ = self.refresh(Need::Settle).await;
        }
        let kept = self.kept().guard.take();
        if let Some(guard) = kept {
            self.drop_guard(guard).await;
        }
        match self.session.unsaved_error() {
            Some(e) => Err(Error::TokenNotStored {
                source: Box::new(e),
            }),
            None => Ok(()),
        }
    }

    /// One token request with the retry policy.
    #[cfg_attr(
        feature = "tracing",
        instrument(target = "spotify_auth::flow", level = "debug", skip_all,
            fields(grant = request.grant, host = observe::host(&self.session.config.token_url),
                attempts = Empty, status = Empty, outcome = Empty))
    )]
    async fn token_request(&self, request: &TokenRequest, resend: Resend) -> Result<TokenResponse> {
        let config = &self.session.config;
        let policy: &RetryPolicy = &config.retry;
        let mut retries = 0;
        let mut slept = Duration::ZERO;
        let mut log = observe::TokenRequestLog::default();
        loop {
            let attempt = self
                .transport
                .post_form(&config.token_url, request, config.timeout)
                .await;
            log.answered(&attempt);
            match retry::decide(
                policy,
                attempt,
                retries,
                slept,
                RetryPolicy::random_jitter(),
                resend,
            ) {
                Step::Done(result) => {
                    log.done(&result, resend);
                    return result;
                }
                Step::Retry(delay) => {
                    let wait = config.actual_delay(delay);
                    log.retrying(wait);
                    sleep(wait).await;
                    slept += delay;
                    retries += 1;
                }
            }
        }
    }
}

/// The store's lock as the flow holds it: shared with the store calls made
/// under it (each runs where the mode runs blocking I/O), released when the
/// last clone is dropped.
type Guard = Arc<crate::CacheLock>;

/// The pauses before the second and third attempts of a store write.
const WRITE_RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(20), Duration::from_millis(100)];

/// How often `close()` looks whether the work it waits for is done.
const CLOSE_POLL: Duration = Duration::from_millis(5);

/// How many times `close()` tries an owed write (within its timeout).
const CLOSE_WRITE_ATTEMPTS: usize = 3;

/// How long the store's lock is kept at most while a write is owed to the
/// store (retried beside the callers meanwhile); then sharers may take it
/// and read the store as it is (a successor of a token they spend and see
/// refused writes itself over the refusal: the login goes on).
const MAX_KEEP: Duration = Duration::from_secs(60);

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.session.config)
            .field("has_token", &self.session.has_token())
            .finish_non_exhaustive()
    }
}

impl Drop for AuthorizationCode {
    fn drop(&mut self) {
        self.engine.dropped(self.closed);
    }
}

impl Drop for ClientCredentials {
    fn drop(&mut self) {
        self.engine.dropped(self.closed);
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
