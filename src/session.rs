//! The state of an authorization, without I/O: the token in memory (the hot
//! path), the single-flight bookkeeping of refreshes, the decisions a refresh
//! makes (with the token a failed write left unsaved), and the token
//! requests' forms. Both modes' `flow.rs` drive this.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::attempts::{AuthorizationAttempt, PendingAttempts};
use crate::authorize::{self, AuthorizationRequest};
use crate::config::{Config, Grant};
use crate::observe;
use crate::token::{TokenResponse, unix_now, unix_now_ms};
use crate::{AccessToken, AuthCode, Error, PkceVerifier, RefreshToken, Result, Scopes, TokenInfo};

/// The lifetime assumed for access tokens until one is issued: Spotify's.
const DEFAULT_LIFETIME: u64 = 3600;

/// The longest wait between two retries of a failed cache write, in ms.
const MAX_WRITE_BACKOFF_MS: u64 = 60_000;

/// How long a claimed write retry keeps other callers from starting another
/// (the retry normally ends, and sets the next time, much sooner).
const WRITE_CLAIM_MS: u64 = 10_000;

/// The token in memory, with the moment it must be refreshed.
///
/// Only what the hot path and the refresh decisions read: the refresh token
/// and the rest live in the cache (the truth), or with an unsaved token.
struct Current {
    /// `Bearer {access_token}`, made once per token; the access token is
    /// its tail.
    header: String,
    /// When the access token expires, in Unix seconds.
    expires_at: u64,
    /// `expires_at - refresh_margin`, in Unix seconds.
    refresh_at: u64,
}

const BEARER: &str = "Bearer ";

impl Current {
    fn access_token(&self) -> &str {
        &self.header[BEARER.len()..]
    }
}

/// What one finished refresh left for the callers that waited on it.
#[derive(Default)]
pub(crate) struct RefreshSlot {
    last_error: Option<Error>,
}

/// What a caller needs from a refresh.
pub(crate) enum Need {
    /// A token valid beyond the refresh margin (`get_access_token`).
    Valid,
    /// A token other than this one, which the Web API rejected
    /// (`force_refresh`); `None` when the caller had none from this instance,
    /// so whatever is cached counts as rejected.
    Replace(Option<AccessToken>),
}

impl Need {
    /// Whether `token`, read from the cache, is what the caller wants to get
    /// rid of.
    fn rejects(&self, token: &TokenInfo) -> bool {
        match self {
            Need::Valid => false,
            Need::Replace(None) => true,
            Need::Replace(Some(rejected)) => *rejected == token.access_token,
        }
    }

    /// Whether `access_token`, adopted by another caller while this one
    /// waited, answers this caller: any token does, but the rejected one.
    fn answered_by(&self, access_token: &str) -> bool {
        match self {
            Need::Valid | Need::Replace(None) => true,
            Need::Replace(Some(rejected)) => rejected.secret() != access_token,
        }
    }
}

/// What the cache held when a token was issued: its write goes ahead only
/// while the cache still holds that (else someone else wrote, or logged out).
#[derive(Clone)]
pub(crate) enum Base {
    /// The cache held this.
    Known(Option<TokenInfo>),
    /// The cache could not be read: the write goes ahead whatever it holds.
    Unknown,
}

impl Base {
    fn matches(&self, cached: &Option<TokenInfo>) -> bool {
        match self {
            Base::Unknown => true,
            Base::Known(base) => base == cached,
        }
    }
}

/// A token Spotify issued that is in memory but not in the cache yet.
struct Unsaved {
    token: TokenInfo,
    base: Base,
    /// Failed writes in a row.
    failures: u32,
    error: Error,
}

/// What the flow does with what the cache holds, read under its lock.
pub(crate) enum Reconciled {
    /// Decide from this: the cache's token (adopted), or none.
    Cached(Option<TokenInfo>),
    /// This instance holds a newer token the cache never got: write it, then
    /// decide from it.
    Write(TokenInfo),
}

/// What to do once the cache has been read under its lock.
pub(crate) enum Plan {
    /// This token is good: adopt it, no request.
    Use(TokenInfo),
    /// Refresh with this token; `previous` is what the response amends.
    Refresh {
        refresh_token: RefreshToken,
        previous: Option<TokenInfo>,
        bootstrap: bool,
    },
    /// Client Credentials: get a new app token.
    Fetch,
    /// The cache still holds this refresh token, which Spotify refused
    /// before (removing it failed): do not send it again; remove it.
    Refused(RefreshToken),
}

/// A token request: its form body and, for confidential clients, its
/// `Authorization` header. Never `Debug`: both hold secrets.
pub(crate) struct TokenRequest {
    /// Its `grant_type`, for the `token_request` span.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub grant: &'static str,
    pub body: String,
    pub authorization: Option<String>,
}

impl TokenRequest {
    /// The headers every token request carries.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ]
        .into_iter()
        .chain(self.authorization.as_deref().map(|a| ("Authorization", a)))
    }
}

/// The I/O-free state of one `AuthorizationCode`.
pub(crate) struct Session {
    pub config: Config,
    /// Read lock-free on the hot path: a load writes nothing other callers
    /// read, so readers on several cores do not slow each other down.
    current: ArcSwapOption<Current>,
    bootstrap: Mutex<Option<RefreshToken>>,
    pending: PendingAttempts,
    /// Counts finished refreshes; read before waiting on the refresh lock to
    /// tell whether another caller refreshed meanwhile.
    epoch: AtomicU64,
    /// The token a failed cache write left in memory only.
    /// Boxed: almost always empty, and an instance per user should be small.
    unsaved: Mutex<Option<Box<Unsaved>>>,
    /// The refresh token Spotify refused last: never sent again by this
    /// instance, even if removing it from the cache failed.
    last_refused: Mutex<Option<RefreshToken>>,
    /// When (Unix milliseconds) a call next retries that write; 0 when
    /// nothing is unsaved. Read on the hot path.
    write_retry_at: AtomicU64,
    /// The lifetime, in seconds, of the latest access token issued to this
    /// instance: the refresh margin is clamped to half of it.
    lifetime: AtomicU64,
}

impl Session {
    pub fn new(mut config: Config) -> Self {
        let bootstrap = config.bootstrap_refresh_token.take();
        Self {
            config,
            current: ArcSwapOption::const_empty(),
            bootstrap: Mutex::new(bootstrap),
            pending: PendingAttempts::default(),
            epoch: AtomicU64::new(0),
            unsaved: Mutex::new(None),
            last_refused: Mutex::new(None),
            write_retry_at: AtomicU64::new(0),
            lifetime: AtomicU64::new(DEFAULT_LIFETIME),
        }
    }

    /// The hot path: the access token in memory when it is valid for longer
    /// than the refresh margin (and no failed cache write is due for a
    /// retry). No I/O, no lock, one allocation (the returned string).
    #[inline]
    pub fn fresh_access_token(&self) -> Option<String> {
        self.fresh(|c| c.access_token().to_owned())
    }

    /// The hot path for the header: `Bearer {token}` under the same rules as
    /// [`fresh_access_token`](Self::fresh_access_token); one allocation.
    #[inline]
    pub fn fresh_authorization_header(&self) -> Option<String> {
        self.fresh(|c| c.header.clone())
    }

    #[inline]
    fn fresh(&self, read: impl FnOnce(&Current) -> String) -> Option<String> {
        let now_ms = unix_now_ms();
        let retry_at = self.write_retry_at.load(Ordering::Relaxed);
        match &*self.current.load() {
            Some(c) if now_ms / 1000 < c.refresh_at && (retry_at == 0 || now_ms < retry_at) => {
                Some(read(c))
            }
            _ => None,
        }
    }

    /// When the token in memory is valid beyond the margin but a failed
    /// write of it is due for a retry: claims that retry for the caller
    /// (true), so that other callers go on taking the hot path meanwhile;
    /// false when there is nothing to retry now, or another caller claimed it.
    pub fn claim_due_write(&self) -> bool {
        let now_ms = unix_now_ms();
        let due = self.write_retry_at.load(Ordering::Relaxed);
        let valid = matches!(&*self.current.load(), Some(c) if now_ms / 1000 < c.refresh_at);
        valid
            && due != 0
            && now_ms >= due
            && self
                .write_retry_at
                .compare_exchange(
                    due,
                    now_ms.saturating_add(WRITE_CLAIM_MS),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// The access token in memory while it has not expired, even within the
    /// refresh margin: what a refresh that failed for a passing reason
    /// falls back to.
    fn unexpired_access_token(&self) -> Option<String> {
        match &*self.current.load() {
            Some(c) if unix_now() < c.expires_at => Some(c.access_token().to_owned()),
            _ => None,
        }
    }

    /// The outcome of a refresh for its callers: a refresh that failed for a
    /// passing reason (network, 5xx, 429) while the token in memory is still
    /// valid, if only within the refresh margin, yields that token; the next
    /// call tries to refresh again. Not for a forced refresh: its caller
    /// knows that token was rejected.
    pub fn outcome(&self, result: Result<String>, need: &Need) -> Result<String> {
        match (result, need) {
            (Err(e), Need::Valid) if crate::retry::is_transient(&e) => {
                self.unexpired_access_token().ok_or(e)
            }
            (other, _) => other,
        }
    }

    /// What a forced refresh must replace: the token in memory now.
    pub fn replacing_current(&self) -> Need {
        Need::Replace(
            self.current
                .load()
                .as_ref()
                .map(|c| AccessToken::new(c.access_token())),
        )
    }

    /// Whether a token is in memory, whatever its age.
    pub fn has_token(&self) -> bool {
        self.current.load().is_some()
    }

    /// The refresh margin in use: the configured one, at most half the
    /// lifetime of the latest access token issued (a server issuing tokens
    /// shorter than the margin would otherwise cause a refresh on every call).
    pub fn margin(&self) -> Duration {
        let half_life = Duration::from_secs(self.lifetime.load(Ordering::Relaxed) / 2);
        self.config.refresh_margin.min(half_life)
    }

    /// Makes `token` the one in memory.
    pub fn adopt(&self, token: &TokenInfo) {
        let refresh_at = token.expires_at.saturating_sub(self.margin().as_secs());
        let secret = token.access_token.secret();
        let mut header = String::with_capacity(BEARER.len() + secret.len());
        header.push_str(BEARER);
        header.push_str(secret);
        self.current.store(Some(Arc::new(Current {
            header,
            expires_at: token.expires_at,
            refresh_at,
        })));
    }

    /// Forgets the token in memory.
    pub fn forget(&self) {
        self.current.store(None);
    }

    /// A token response arrived: its lifetime clamps the margin from now on.
    fn issued(&self, response: &TokenResponse) {
        self.lifetime
            .store(response.expires_in.max(1), Ordering::Relaxed);
    }

    /// The token a refresh response makes, adopted before anything else.
    pub fn refreshed(
        &self,
        response: TokenResponse,
        used: &RefreshToken,
        previous: Option<&TokenInfo>,
    ) -> TokenInfo {
        self.issued(&response);
        let token = response.into_refreshed(used, previous);
        self.adopt(&token);
        observe::adopted("refresh", &token, Some(used));
        token
    }

    /// The app token a Client Credentials response makes, adopted.
    pub fn fetched(&self, response: TokenResponse) -> TokenInfo {
        self.issued(&response);
        let token = response.into_token();
        self.adopt(&token);
        observe::adopted("client_credentials", &token, None);
        token
    }

    /// Logged out (here, or by another sharer of the cache): nothing in
    /// memory, no bootstrap token, no unsaved token.
    pub fn logged_out(&self) {
        self.forget();
        *lock(&self.bootstrap) = None;
        self.drop_unsaved();
    }

    /// Squares what the cache holds (read under its lock) with what this
    /// instance holds:
    /// - a token of ours whose write failed, while the cache still holds
    ///   what it held then: write it now ([`Reconciled::Write`]);
    /// - a cache emptied where this instance had a token: a logout by a
    ///   sharer, which ends the login here too ([`Error::NotAuthorized`]);
    ///   nothing is sent or written back;
    /// - otherwise the cache is the truth: its token is adopted.
    pub fn reconcile(&self, cached: Option<TokenInfo>) -> Result<Reconciled> {
        {
            let mut unsaved = lock(&self.unsaved);
            if let Some(u) = unsaved.as_ref() {
                if u.base.matches(&cached) {
                    return Ok(Reconciled::Write(u.token.clone()));
                }
                // The cache moved on (a newer token, or a logout).
                observe::debug!(
                    flow,
                    "dropped the token held in memory only: the cache moved on since it was issued"
                );
                *unsaved = None;
                self.write_retry_at.store(0, Ordering::Relaxed);
            }
        }
        match cached {
            None if self.config.grant == Grant::AuthorizationCode
                && self.current.load().is_some() =>
            {
                observe::warn!(
                    flow,
                    "the cache was emptied where this instance had a token: logged out by a sharer; nothing is sent"
                );
                self.logged_out();
                Err(Error::NotAuthorized)
            }
            Some(token) => {
                observe::from_cache(&token, || {
                    self.current.load().as_ref().is_some_and(|c| {
                        c.access_token() == token.access_token.secret()
                            && c.expires_at == token.expires_at
                    })
                });
                self.adopt(&token);
                Ok(Reconciled::Cached(Some(token)))
            }
            None => Ok(Reconciled::Cached(None)),
        }
    }

    /// `token` is in the cache now: nothing is left unsaved.
    pub fn stored(&self) {
        let was = lock(&self.unsaved).take();
        self.write_retry_at.store(0, Ordering::Relaxed);
        if let Some(was) = was {
            observe::debug!(
                flow,
                failures = was.failures,
                "stored the token held in memory only until now"
            );
        }
    }

    /// Writing `token` failed: keep it to write later, while the cache holds
    /// `base`. The next call retries at once; further failures back off
    /// (1 s, 2 s, 4 s, ... up to a minute).
    pub fn store_failed(&self, token: &TokenInfo, base: Base, error: Error) {
        let mut unsaved = lock(&self.unsaved);
        let failures = match unsaved.as_ref() {
            Some(u) if u.token == *token => u.failures.saturating_add(1),
            _ => 1,
        };
        let backoff_ms = match failures {
            1 => 0,
            n => (1000u64 << (n - 2).min(6)).min(MAX_WRITE_BACKOFF_MS),
        };
        let base = match unsaved.take() {
            // Retrying the same token: the base it was issued against stays.
            Some(u) if u.token == *token => u.base,
            _ => base,
        };
        observe::warn!(
            flow,
            failures,
            retry_in_ms = backoff_ms,
            error = observe::err(&error),
            "the token is held in memory only: writing it to the cache failed; the write is retried on a later call"
        );
        *unsaved = Some(Box::new(Unsaved {
            token: token.clone(),
            base,
            failures,
            error,
        }));
        self.write_retry_at.store(
            unix_now_ms().saturating_add(backoff_ms).max(1),
            Ordering::Relaxed,
        );
    }

    /// The last failure of the write of a token held in memory only.
    pub fn unsaved_error(&self) -> Option<Error> {
        lock(&self.unsaved).as_ref().map(|u| u.error.clone())
    }

    fn drop_unsaved(&self) {
        *lock(&self.unsaved) = None;
        self.write_retry_at.store(0, Ordering::Relaxed);
    }

    /// Read before waiting for the refresh lock.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// After the refresh lock is taken: when another caller finished a refresh
    /// while this one waited, its outcome (the fresh token, or its error).
    pub fn settled_while_waiting(
        &self,
        seen: u64,
        slot: &RefreshSlot,
        need: &Need,
    ) -> Option<Result<String>> {
        if self.epoch() == seen {
            return None;
        }
        let replaced = self
            .current
            .load()
            .as_ref()
            .is_some_and(|c| need.answered_by(c.access_token()));
        if replaced && let Some(token) = self.fresh_access_token() {
            return Some(Ok(token));
        }
        slot.last_error.clone().map(|e| self.outcome(Err(e), need))
    }

    /// Records the outcome of a refresh, under the refresh lock.
    pub fn finish(&self, slot: &mut RefreshSlot, error: Option<&Error>) {
        slot.last_error = error.cloned();
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Decides, from the token the cache holds (after [`reconcile`](Self::reconcile)),
    /// whether a refresh is needed. The refresh token is the cache's, else
    /// the bootstrap one; the one in memory is never used behind the cache's
    /// back (after a logout it would resurrect the login).
    pub fn plan(&self, cached: Option<TokenInfo>, need: &Need) -> Result<Plan> {
        if let Some(token) = &cached
            && token.is_valid_for(self.margin())
            && !need.rejects(token)
        {
            return Ok(Plan::Use(token.clone()));
        }
        if self.config.grant == Grant::ClientCredentials {
            return Ok(Plan::Fetch);
        }
        if let Some(refresh_token) = cached.as_ref().and_then(|t| t.refresh_token.clone()) {
            if lock(&self.last_refused).as_ref() == Some(&refresh_token) {
                return Ok(Plan::Refused(refresh_token));
            }
            return Ok(Plan::Refresh {
                refresh_token,
                previous: cached,
                bootstrap: false,
            });
        }
        let bootstrap = lock(&self.bootstrap).clone();
        if let Some(refresh_token) = bootstrap {
            return Ok(Plan::Refresh {
                refresh_token,
                previous: cached,
                bootstrap: true,
            });
        }
        match cached {
            // Within the margin but not expired, and nothing to refresh with.
            Some(token) if !token.is_expired() && !need.rejects(&token) => Ok(Plan::Use(token)),
            _ => Err(Error::NotAuthorized),
        }
    }

    /// After Spotify refused `refused`: forget it everywhere in memory.
    pub fn refused(&self, refused: &RefreshToken, bootstrap: bool) {
        if bootstrap {
            *lock(&self.bootstrap) = None;
        }
        *lock(&self.last_refused) = Some(refused.clone());
        let mut unsaved = lock(&self.unsaved);
        if unsaved
            .as_ref()
            .is_some_and(|u| u.token.refresh_token.as_ref() == Some(refused))
        {
            *unsaved = None;
            self.write_retry_at.store(0, Ordering::Relaxed);
        }
        drop(unsaved);
        self.forget();
    }

    /// The authorization URL, sending Spotify back to `redirect_uri` (the
    /// configured one, or the one a callback server is bound to); for PKCE
    /// clients, a new verifier is made and remembered for this state.
    pub fn authorization_url(
        &self,
        state: Option<&str>,
        scope: Option<&Scopes>,
        show_dialog: bool,
        redirect_uri: &str,
    ) -> Result<String> {
        let challenge = if self.config.pkce {
            let verifier = authorize::generate_verifier()?;
            let challenge = crate::pkce_challenge(verifier.secret());
            self.pending.insert(state, verifier);
            Some(challenge)
        } else {
            None
        };
        Ok(AuthorizationRequest {
            endpoint: &self.config.authorize_url,
            client_id: &self.config.client_id,
            redirect_uri,
            scope: scope.unwrap_or(&self.config.scope),
            state,
            show_dialog,
            code_challenge: challenge.as_deref(),
        }
        .url())
    }

    /// A new authorization attempt for the application to keep (the
    /// stateless flow): a fresh random state and, for PKCE clients, a fresh
    /// verifier; nothing is remembered here.
    pub fn authorization_attempt(
        &self,
        state: Option<String>,
        scope: Option<&Scopes>,
        show_dialog: bool,
        redirect_uri: &str,
    ) -> Result<AuthorizationAttempt> {
        let state = match state {
            Some(s) => s,
            None => authorize::generate_state()?,
        };
        let verifier = if self.config.pkce {
            Some(authorize::generate_verifier()?)
        } else {
            None
        };
        let challenge = verifier.as_ref().map(|v| crate::pkce_challenge(v.secret()));
        let url = AuthorizationRequest {
            endpoint: &self.config.authorize_url,
            client_id: &self.config.client_id,
            redirect_uri,
            scope: scope.unwrap_or(&self.config.scope),
            state: Some(&state),
            show_dialog,
            code_challenge: challenge.as_deref(),
        }
        .url();
        Ok(AuthorizationAttempt {
            url,
            state,
            pkce_verifier: verifier,
        })
    }

    /// Parses a callback and ties its code to its attempt's PKCE verifier.
    pub fn parse_response_url(&self, url: &str, expected_state: Option<&str>) -> Result<AuthCode> {
        let callback = authorize::parse_callback(url, expected_state)?;
        if self.config.pkce {
            self.pending
                .bind_code(callback.state.as_deref(), &callback.code);
        }
        Ok(callback.code)
    }

    /// The verifier for a code, when the client uses PKCE: it stays with its
    /// attempt until [`settle_attempt`](Self::settle_attempt).
    pub fn verifier_for_code(&self, code: &AuthCode) -> Result<Option<PkceVerifier>> {
        if !self.config.pkce {
            return Ok(None);
        }
        self.pending.verifier_for_code(code).map(Some)
    }

    /// After an exchange of `code`: its attempt is over unless the failure
    /// was a passing one (then the same code can be tried again).
    pub fn settle_attempt(&self, code: &AuthCode, result: &Result<TokenInfo>) {
        let passing = matches!(result, Err(e) if crate::retry::is_transient(e));
        if self.config.pkce && !passing {
            self.pending.settle(code);
        }
    }

    /// The verifier given to the stateless exchange: required for PKCE
    /// clients.
    pub fn given_verifier<'v>(
        &self,
        verifier: Option<&'v PkceVerifier>,
    ) -> Result<Option<&'v PkceVerifier>> {
        match verifier {
            None if self.config.pkce => Err(Error::config(
                "pkce_verifier",
                "this client uses PKCE: pass the verifier of the authorization attempt \
                 (AuthorizationAttempt::pkce_verifier) to the exchange",
            )),
            v => Ok(v),
        }
    }

    /// The form exchanging `code`, with `redirect_uri` exactly as sent in
    /// the authorization request the code answers.
    pub fn exchange_request(
        &self,
        code: &AuthCode,
        verifier: Option<&PkceVerifier>,
        redirect_uri: &str,
    ) -> TokenRequest {
        let mut params = vec![
            ("grant_type", "authorization_code"),
            ("code", code.secret()),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(v) = verifier {
            params.push(("code_verifier", v.secret()));
        }
        self.token_request("authorization_code", params)
    }

    /// The form refreshing with `refresh_token`.
    pub fn refresh_request(&self, refresh_token: &RefreshToken) -> TokenRequest {
        self.token_request(
            "refresh_token",
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.secret()),
            ],
        )
    }

    /// The form asking for an app token (Client Credentials).
    pub fn client_credentials_request(&self) -> TokenRequest {
        self.token_request(
            "client_credentials",
            vec![("grant_type", "client_credentials")],
        )
    }

    /// Confidential clients authenticate with HTTP Basic; public clients name
    /// themselves with `client_id` in the body.
    fn token_request<'a>(
        &'a self,
        grant: &'static str,
        mut params: Vec<(&'a str, &'a str)>,
    ) -> TokenRequest {
        let authorization = match &self.config.client_secret {
            Some(secret) => Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", self.config.client_id, secret.secret()))
            )),
            None => {
                params.push(("client_id", self.config.client_id.as_str()));
                None
            }
        };
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        TokenRequest {
            grant,
            body,
            authorization,
        }
    }

    /// The token an authorization-code response makes (it must carry a
    /// refresh token), adopted before anything else.
    pub fn exchanged(&self, response: TokenResponse) -> Result<TokenInfo> {
        if response.refresh_token.is_none() {
            return Err(Error::invalid_response(
                "the authorization code response carries no refresh_token",
            ));
        }
        self.issued(&response);
        let token = response.into_authorized();
        self.adopt(&token);
        observe::adopted("exchange", &token, None);
        Ok(token)
    }
}

/// Whether a failed refresh means the refresh token is dead.
pub(crate) fn is_invalid_grant(e: &Error) -> bool {
    matches!(e, Error::TokenEndpoint { error: Some(code), .. } if code == "invalid_grant")
}

/// The error a dead refresh token becomes.
pub(crate) fn reauthorization_required(e: Error) -> Error {
    match e {
        Error::TokenEndpoint { description, .. } => Error::ReauthorizationRequired { description },
        other => other,
    }
}

/// A mutex that a panic elsewhere cannot poison for good: every value kept
/// behind these is whole at every step.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
