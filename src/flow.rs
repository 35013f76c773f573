// The I/O orchestration of both flows (Authorization Code, Client
// Credentials), written once with async/await and compiled twice:
// `blocking.rs` includes this file under `maybe_async::must_be_sync` (every
// `.await` and `async` stripped), and `asynchronous.rs` under
// `maybe_async::must_be_async`. It may only use names both modes provide
// (`maybe`, `Transport`, `HttpClient`, `FlowMutex`, `detached`,
// `background`, `blocking_io`, `sleep`, `wait_for_callback`) and the shared
// core. Everything that needs no I/O lives in the core (`session`,
// `retry`, `authorize`, `attempts`, `token`, `config`). Never put `.await`
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
    FlowMutex, HttpClient, Transport, background, blocking_io, detached, maybe, sleep,
    wait_for_callback,
};
use crate::callback::{CallbackServer, validate_loopback_redirect};
use crate::config::{AuthorizationCodeBuilder, ClientCredentialsBuilder};
use crate::observe;
use crate::retry::{self, Resend, RetryPolicy, Step};
use crate::session::{self, Base, Need, Plan, Reconciled, RefreshSlot, Session, TokenRequest};
use crate::token::TokenResponse;
use crate::{
    AuthCode, AuthorizationAttempt, AuthorizeLocalOptions, Error, PkceVerifier, RefreshToken,
    Result, Scopes, TokenCache, TokenInfo,
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
}

/// The OAuth 2.0 Client Credentials flow: app-only tokens (no user data),
/// cached and fetched again at expiry, with the same single-flight, retry
/// and error behaviour as [`AuthorizationCode`].
///
/// Build one with [`ClientCredentials::builder`]; the client secret is
/// required. `Debug` never shows a secret.
pub struct ClientCredentials {
    engine: Arc<Engine>,
}

/// What both flows share: the session (token in memory, configuration), the
/// transport, and the lock that serialises refreshes in this process.
struct Engine {
    session: Session,
    transport: Transport,
    refresh: FlowMutex<RefreshSlot>,
}

impl Engine {
    fn new(config: crate::config::Config, client: Option<HttpClient>) -> Result<Arc<Self>> {
        Ok(Arc::new(Engine {
            session: Session::new(config),
            transport: Transport::new(client)?,
            refresh: FlowMutex::new(RefreshSlot::default()),
        }))
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

    /// The cache's error while the latest app token is in memory only
    /// because writing it failed (see
    /// [`AuthorizationCode::cache_write_error`]); `None` once it is stored.
    pub fn cache_write_error(&self) -> Option<Error> {
        self.engine.session.unsaved_error()
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
        let verifier = self.engine.session.verifier_for_code(&code)?;
        let request = self.engine.session.exchange_request(
            &code,
            verifier.as_ref(),
            &self.engine.session.config.redirect_uri,
        );
        self.engine.exchange(request, Some(code)).await
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
        let verifier = self.engine.session.given_verifier(pkce_verifier)?;
        let request = self.engine.session.exchange_request(
            &code,
            verifier,
            &self.engine.session.config.redirect_uri,
        );
        self.engine.exchange(request, None).await
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
        let request = self.engine.session.exchange_request(
            &callback.code,
            attempt.pkce_verifier.as_ref(),
            &redirect_uri,
        );
        self.engine.exchange(request, None).await
    }

    /// Returns a valid access token, refreshing it when it expires within the
    /// refresh margin.
    ///
    /// With a valid token in memory this does no I/O and takes no lock (two
    /// atomic loads, one allocation for the returned string).
    /// Otherwise, under one refresh at a time (across threads or tasks, and
    /// across processes and machines for caches with a lock such as
    /// [`FileTokenCache`](crate::FileTokenCache)), it re-reads the cache (the
    /// cache is the truth), and refreshes with the cached refresh token or
    /// the bootstrap one. In the async API a refresh whose request may have
    /// been sent runs to its end even if every caller went away: its token is
    /// adopted and stored all the same.
    ///
    /// A refresh that fails for a passing reason (network, 5xx, 429) while
    /// the token in memory has not expired yet returns that token. A token
    /// whose cache write failed is returned all the same (see
    /// [`cache_write_error`](Self::cache_write_error)).
    ///
    /// Errors: [`NotAuthorized`](crate::Error::NotAuthorized) when there is no
    /// token and nothing to refresh with, or when the cache was emptied where
    /// this instance had a token (a logout by another process sharing it:
    /// nothing is sent and nothing written back);
    /// [`ReauthorizationRequired`](crate::Error::ReauthorizationRequired) when
    /// Spotify refused the refresh token (revoked or expired; it is then
    /// removed from the cache, if the cache still holds it); transport and
    /// endpoint errors after retries.
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

    /// Logs the user out: forgets the token in memory (and the bootstrap
    /// refresh token), and clears the cache under its lock. Other instances
    /// sharing the cache (threads, processes, machines) take an emptied cache
    /// as a logout too: their next refresh fails with
    /// [`NotAuthorized`](crate::Error::NotAuthorized), sends nothing and
    /// writes nothing back. Spotify is not told: the refresh token stays
    /// valid on its side until it expires or the user removes the app's
    /// access in their account.
    ///
    /// Errors: the cache's, when it cannot be cleared (the token in memory
    /// is forgotten all the same; call again to clear the cache).
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
    /// The hot path, then the single-flight refresh.
    async fn get_access_token(self: &Arc<Self>) -> Result<String> {
        if let Some(token) = self.session.fresh_access_token() {
            return Ok(token);
        }
        if self.session.claim_due_write() {
            // The token is good; only its cache write is due for a retry.
            // It runs beside this call (async: in a task of its own), so
            // that a cache that is down does not hold up the callers.
            observe::debug!(flow, "retrying a failed cache write beside this call");
            let engine = Arc::clone(self);
            background(async move { engine.refresh(Need::Valid).await });
            if let Some(token) = self.session.fresh_access_token() {
                return Ok(token);
            }
        }
        self.refresh(Need::Valid).await
    }

    /// `Bearer {token}`: pre-formatted on the hot path, else after
    /// [`get_access_token`](Self::get_access_token).
    async fn get_authorization_header(self: &Arc<Self>) -> Result<String> {
        if let Some(header) = self.session.fresh_authorization_header() {
            return Ok(header);
        }
        let token = self.get_access_token().await?;
        Ok(format!("Bearer {token}"))
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
    #[cfg_attr(
        feature = "tracing",
        instrument(target = "spotify_auth::flow", level = "debug", skip_all,
            fields(need = observe::need(&need)))
    )]
    async fn refresh(self: &Arc<Self>, need: Need) -> Result<String> {
        let seen = self.session.epoch();
        let waiting = observe::Stopwatch::start();
        let slot = self.refresh.lock().await;
        if let Some(outcome) = self.session.settled_while_waiting(seen, &slot, &need) {
            observe::took_outcome(&waiting, &outcome);
            return outcome;
        }
        observe::trace!(flow, waited_ms = waiting.ms(), "took the refresh lock");
        let (_caller, task) = observe::detach("refresh");
        let engine = Arc::clone(self);
        detached(async move {
            let mut slot = slot;
            let result = engine.refresh_locked(&need).await;
            engine.session.finish(&mut slot, result.as_ref().err());
            task.finished(result.is_ok());
            engine.session.outcome(result, &need)
        })
        .await
    }

    /// The refresh, under the in-process refresh lock and the cache's lock.
    async fn refresh_locked(&self, need: &Need) -> Result<String> {
        let (guard, cached) = self.lock_and_read().await?;
        let result = self.refresh_with(cached, need).await;
        self.release(guard).await;
        Ok(result?.access_token.secret().to_owned())
    }

    /// Runs `f` on the cache: on this task for a cache that never blocks,
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

    /// Takes the cache's lock and reads the cache (the truth, re-read under
    /// the lock): at once when the cache never blocks and its lock is free,
    /// else waiting off the runtime.
    async fn lock_and_read(&self) -> Result<(crate::CacheLock, Option<TokenInfo>)> {
        let cache = self.session.config.cache.clone();
        if cache.never_blocks()
            && let Some(guard) = cache.try_lock()?
        {
            return Ok((guard, cache.get()?));
        }
        blocking_io(move || {
            let guard = observe::lock_cache(&*cache)?;
            let cached = cache.get()?;
            Ok((guard, cached))
        })
        .await
    }

    /// Takes the cache's lock: at once when the cache never blocks and its
    /// lock is free, else waiting off the runtime.
    async fn lock_cache(&self) -> Result<crate::CacheLock> {
        let cache = self.session.config.cache.clone();
        if cache.never_blocks()
            && let Some(guard) = cache.try_lock()?
        {
            return Ok(guard);
        }
        blocking_io(move || observe::lock_cache(&*cache)).await
    }

    /// Releases the cache's lock, which may be I/O (a Redis round trip).
    async fn release(&self, guard: crate::CacheLock) {
        let _ = self
            .with_cache(move |_| {
                drop(guard);
                Ok(())
            })
            .await;
    }

    /// Decides from the re-read cache, and refreshes when still needed. A
    /// token Spotify issued is adopted before it is written; a failed write
    /// is kept to retry, never a lost token.
    async fn refresh_with(&self, cached: Option<TokenInfo>, need: &Need) -> Result<TokenInfo> {
        let mut in_cache = cached.clone();
        let decided = match self.session.reconcile(cached)? {
            Reconciled::Cached(token) => token,
            Reconciled::Write(token) => {
                if self.store(&token, &in_cache).await.is_ok() {
                    in_cache = Some(token.clone());
                }
                Some(token)
            }
        };
        match self.session.plan(decided, need)? {
            // Already in memory: adopted from the cache by `reconcile`, or
            // the unsaved token that was there.
            Plan::Use(token) => {
                observe::debug!(
                    flow,
                    expires_at = token.expires_at,
                    "the cached token will do"
                );
                Ok(token)
            }
            Plan::Refresh {
                refresh_token,
                previous,
                bootstrap,
            } => {
                observe::debug!(flow, bootstrap, "refreshing");
                let request = self.session.refresh_request(&refresh_token);
                match self.token_request(&request, Resend::Allowed).await {
                    Ok(response) => {
                        let token =
                            self.session
                                .refreshed(response, &refresh_token, previous.as_ref());
                        // A failed write is recorded and retried later.
                        let _ = self.store(&token, &in_cache).await;
                        Ok(token)
                    }
                    Err(e) if session::is_invalid_grant(&e) => {
                        self.session.refused(&refresh_token, bootstrap);
                        // The caller learns what Spotify said whatever the
                        // cache does; a removal that keeps failing leaves
                        // the dead token for the next refresh to refuse.
                        let _ = self
                            .with_retries(move |cache| remove_if_refused(cache, &refresh_token))
                            .await;
                        Err(session::reauthorization_required(e))
                    }
                    Err(e) => Err(e),
                }
            }
            Plan::Refused(refresh_token) => {
                // Refused before, and still in the cache: try the removal
                // again, and send nothing.
                let _ = self
                    .with_retries(move |cache| remove_if_refused(cache, &refresh_token))
                    .await;
                self.session.forget();
                Err(Error::ReauthorizationRequired { description: None })
            }
            Plan::Fetch => {
                let request = self.session.client_credentials_request();
                let response = self.token_request(&request, Resend::Allowed).await?;
                let token = self.session.fetched(response);
                let _ = self.store(&token, &in_cache).await;
                Ok(token)
            }
        }
    }

    /// Writes an adopted token (the cache lock is held by the caller, and the
    /// cache held `base`); a failure is recorded to retry later.
    async fn store(&self, token: &TokenInfo, base: &Option<TokenInfo>) -> Result<()> {
        match self.write(token).await {
            Ok(()) => {
                self.session.stored();
                Ok(())
            }
            Err(e) => {
                self.session
                    .store_failed(token, Base::Known(base.clone()), e.clone());
                Err(e)
            }
        }
    }

    /// Writes `token` to the cache (whose lock the caller holds).
    async fn write(&self, token: &TokenInfo) -> Result<()> {
        let token = token.clone();
        self.with_retries(move |cache| cache.set(&token)).await
    }

    /// A cache write under the lock, tried again twice after a short pause
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

    /// Exchanges a code, to the end even if the caller is cancelled (async);
    /// `attempt` is the code of an in-instance PKCE attempt to settle.
    #[cfg_attr(
        feature = "tracing",
        instrument(target = "spotify_auth::flow", level = "debug", skip_all)
    )]
    async fn exchange(
        self: &Arc<Self>,
        request: TokenRequest,
        attempt: Option<AuthCode>,
    ) -> Result<TokenInfo> {
        let (_caller, task) = observe::detach("exchange");
        let engine = Arc::clone(self);
        detached(async move {
            let result = engine.exchange_to_end(&request).await;
            if let Some(code) = &attempt {
                engine.session.settle_attempt(code, &result);
            }
            task.finished(result.is_ok());
            result
        })
        .await
    }

    /// The exchange: the request (never resent once it may have been sent),
    /// the token adopted, then stored under both locks.
    async fn exchange_to_end(&self, request: &TokenRequest) -> Result<TokenInfo> {
        let response = self.token_request(request, Resend::OnlyUnsent).await?;
        let token = self.session.exchanged(response)?;
        let mut slot = self.refresh.lock().await;
        // Again, over whatever a refresh that was in flight adopted.
        self.session.adopt(&token);
        let (base, written) = match self.lock_cache().await {
            Err(e) => (Base::Unknown, Err(e)),
            Ok(guard) => {
                let base = self
                    .with_cache(|cache| Ok(cache.get().map_or(Base::Unknown, Base::Known)))
                    .await
                    .unwrap_or(Base::Unknown);
                let written = self.write(&token).await;
                self.release(guard).await;
                (base, written)
            }
        };
        let result = match written {
            Ok(()) => {
                self.session.stored();
                Ok(token)
            }
            Err(e) => {
                self.session.store_failed(&token, base, e.clone());
                Err(Error::TokenNotStored {
                    source: Box::new(e),
                })
            }
        };
        self.session.finish(&mut slot, None);
        result
    }

    /// Forgets the token here and clears the cache, under both locks.
    #[cfg_attr(
        feature = "tracing",
        instrument(target = "spotify_auth::flow", level = "debug", skip_all)
    )]
    async fn logout(self: &Arc<Self>) -> Result<()> {
        let (_caller, task) = observe::detach("logout");
        let engine = Arc::clone(self);
        detached(async move {
            let mut slot = engine.refresh.lock().await;
            engine.session.logged_out();
            let cleared = match engine.lock_cache().await {
                Ok(guard) => {
                    let cleared = engine.with_cache(|cache| cache.clear()).await;
                    engine.release(guard).await;
                    cleared
                }
                Err(e) => Err(e),
            };
            engine
                .session
                .finish(&mut slot, Some(&Error::NotAuthorized));
            observe::logged_out(&cleared);
            task.finished(cleared.is_ok());
            cleared
        })
        .await
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

/// The pauses before the second and third attempts of a cache write.
const WRITE_RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(20), Duration::from_millis(100)];

/// After Spotify refused `refused`: removes the stored token only if it is
/// still the refused one (a sharer may have stored a newer token meanwhile).
/// Runs under the cache's lock.
fn remove_if_refused(cache: &dyn TokenCache, refused: &RefreshToken) -> Result<()> {
    let still_cached = cache.get()?.and_then(|t| t.refresh_token).as_ref() == Some(refused);
    observe::refused(still_cached);
    if still_cached { cache.clear() } else { Ok(()) }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.session.config)
            .field("has_token", &self.session.has_token())
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
