//! The state of an authorization, without I/O: the token in memory (the hot
//! path), the single-flight bookkeeping of refreshes, the decisions a refresh
//! makes, and the token requests' forms. Both modes' `flow.rs` drive this.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::authorize::{self, AuthorizationRequest, PendingAttempts};
use crate::config::{Config, Grant};
use crate::token::{TokenResponse, unix_now};
use crate::{AuthCode, Error, PkceVerifier, RefreshToken, Result, Scopes, TokenInfo};

/// The token in memory, with the moment it must be refreshed.
struct Current {
    token: TokenInfo,
    /// `Bearer {access_token}`, made once per token.
    header: String,
    /// `expires_at - refresh_margin`, in Unix seconds.
    refresh_at: u64,
}

/// What one finished refresh left for the callers that waited on it.
#[derive(Default)]
pub(crate) struct RefreshSlot {
    last_error: Option<Error>,
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
}

/// A token request: its form body and, for confidential clients, its
/// `Authorization` header. Never `Debug`: both hold secrets.
pub(crate) struct TokenRequest {
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
        }
    }

    /// The hot path: the access token in memory when it is valid for longer
    /// than the refresh margin. No I/O, no lock a writer holds across I/O, one
    /// allocation (the returned string).
    #[inline]
    pub fn fresh_access_token(&self) -> Option<String> {
        match &*self.current.load() {
            Some(c) if unix_now() < c.refresh_at => Some(c.token.access_token.secret().to_owned()),
            _ => None,
        }
    }

    /// The hot path for the header: `Bearer {token}` when the token in memory
    /// is valid for longer than the refresh margin; one allocation.
    #[inline]
    pub fn fresh_authorization_header(&self) -> Option<String> {
        match &*self.current.load() {
            Some(c) if unix_now() < c.refresh_at => Some(c.header.clone()),
            _ => None,
        }
    }

    /// The access token in memory while it has not expired, even within the
    /// refresh margin: what a refresh that failed for a passing reason
    /// falls back to.
    fn unexpired_access_token(&self) -> Option<String> {
        match &*self.current.load() {
            Some(c) if !c.token.is_expired() => Some(c.token.access_token.secret().to_owned()),
            _ => None,
        }
    }

    /// The outcome of a refresh for its callers: a refresh that failed for a
    /// passing reason (network, 5xx, 429) while the token in memory is still
    /// valid, if only within the refresh margin, yields that token; the next
    /// call tries to refresh again.
    pub fn outcome(&self, result: Result<String>) -> Result<String> {
        match result {
            Err(e) if crate::retry::is_transient(&e) => self.unexpired_access_token().ok_or(e),
            other => other,
        }
    }

    /// The token in memory, whatever its age.
    pub fn current_token(&self) -> Option<TokenInfo> {
        self.current.load().as_ref().map(|c| c.token.clone())
    }

    /// Makes `token` the one in memory.
    pub fn adopt(&self, token: &TokenInfo) {
        let refresh_at = token
            .expires_at
            .saturating_sub(self.config.refresh_margin.as_secs());
        self.current.store(Some(Arc::new(Current {
            header: format!("Bearer {}", token.access_token.secret()),
            token: token.clone(),
            refresh_at,
        })));
    }

    /// Forgets the token in memory.
    pub fn forget(&self) {
        self.current.store(None);
    }

    /// Read before waiting for the refresh lock.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// After the refresh lock is taken: when another caller finished a refresh
    /// while this one waited, its outcome (the fresh token, or its error).
    pub fn settled_while_waiting(&self, seen: u64, slot: &RefreshSlot) -> Option<Result<String>> {
        if self.epoch() == seen {
            return None;
        }
        if let Some(token) = self.fresh_access_token() {
            return Some(Ok(token));
        }
        slot.last_error.clone().map(|e| self.outcome(Err(e)))
    }

    /// Records the outcome of a refresh, under the refresh lock.
    pub fn finish(&self, slot: &mut RefreshSlot, error: Option<&Error>) {
        slot.last_error = error.cloned();
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Decides, from what the cache holds, whether a refresh is needed.
    pub fn plan(&self, cached: Option<TokenInfo>) -> Result<Plan> {
        let margin = self.config.refresh_margin;
        if let Some(token) = &cached
            && token.is_valid_for(margin)
        {
            return Ok(Plan::Use(token.clone()));
        }
        if self.config.grant == Grant::ClientCredentials {
            return Ok(Plan::Fetch);
        }
        // The freshest refresh token: the cache's (another process may have
        // rotated it), else the one in memory, else the bootstrap one.
        let from_memory = || self.current_token().and_then(|t| t.refresh_token);
        let stored = cached
            .as_ref()
            .and_then(|t| t.refresh_token.clone())
            .or_else(from_memory);
        if let Some(refresh_token) = stored {
            let previous = cached.or_else(|| self.current_token());
            return Ok(Plan::Refresh {
                refresh_token,
                previous,
                bootstrap: false,
            });
        }
        let bootstrap = self
            .bootstrap
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(refresh_token) = bootstrap {
            return Ok(Plan::Refresh {
                refresh_token,
                previous: cached,
                bootstrap: true,
            });
        }
        match cached {
            // Within the margin but not expired, and nothing to refresh with.
            Some(token) if !token.is_expired() => Ok(Plan::Use(token)),
            _ => Err(Error::NotAuthorized),
        }
    }

    /// After Spotify refused a refresh token: forget it everywhere in memory.
    pub fn drop_refresh_token(&self, bootstrap: bool) {
        if bootstrap {
            *self.bootstrap.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
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
            let challenge = authorize::pkce_challenge(verifier.secret());
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

    /// Parses a callback and ties its code to its attempt's PKCE verifier.
    pub fn parse_response_url(&self, url: &str, expected_state: Option<&str>) -> Result<AuthCode> {
        let callback = authorize::parse_callback(url, expected_state)?;
        if self.config.pkce {
            self.pending
                .bind_code(callback.state.as_deref(), &callback.code);
        }
        Ok(callback.code)
    }

    /// The verifier for a code, when the client uses PKCE.
    pub fn verifier_for_code(&self, code: &AuthCode) -> Result<Option<PkceVerifier>> {
        self.verifier(self.pending.take_by_code(code))
    }

    /// The verifier of the attempt with this state, when the client uses PKCE.
    pub fn verifier_for_state(&self, state: &str) -> Result<Option<PkceVerifier>> {
        self.verifier(self.pending.take_by_state(Some(state)))
    }

    fn verifier(&self, found: Option<PkceVerifier>) -> Result<Option<PkceVerifier>> {
        match (self.config.pkce, found) {
            (false, _) => Ok(None),
            (true, Some(v)) => Ok(Some(v)),
            (true, None) => Err(Error::config(
                "pkce",
                "no PKCE verifier for this code: get the authorization URL from this same \
                 AuthorizationCode (get_authorization_url or authorize_local) before exchanging",
            )),
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
        self.token_request(params)
    }

    /// The form refreshing with `refresh_token`.
    pub fn refresh_request(&self, refresh_token: &RefreshToken) -> TokenRequest {
        self.token_request(vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.secret()),
        ])
    }

    /// The form asking for an app token (Client Credentials).
    pub fn client_credentials_request(&self) -> TokenRequest {
        self.token_request(vec![("grant_type", "client_credentials")])
    }

    /// Confidential clients authenticate with HTTP Basic; public clients name
    /// themselves with `client_id` in the body.
    fn token_request<'a>(&'a self, mut params: Vec<(&'a str, &'a str)>) -> TokenRequest {
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
            body,
            authorization,
        }
    }

    /// The token an authorization-code response makes: it must carry a
    /// refresh token.
    pub fn exchanged_token(&self, response: TokenResponse) -> Result<TokenInfo> {
        if response.refresh_token.is_none() {
            return Err(Error::invalid_response(
                "the authorization code response carries no refresh_token",
            ));
        }
        Ok(response.into_authorized())
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
