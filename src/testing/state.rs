//! What the fake server knows: its fixed configuration (clients, redirect
//! URIs, token settings) and what changes as it runs (the signed-in user,
//! codes, refresh and access tokens, faults, recorded requests).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::faults::FaultQueue;
use super::issued::{Delivery, RefreshTokenStatus};
use super::record::RecordedRequest;

/// How long an authorization code can be exchanged (Spotify: 10 minutes).
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// The user `/authorize` signs in until [`FakeSpotify::sign_in_as`] says
/// otherwise.
///
/// [`FakeSpotify::sign_in_as`]: super::FakeSpotify::sign_in_as
pub(crate) const DEFAULT_USER: &str = "fake-user";

/// Set when the server starts; never changes.
pub(crate) struct Config {
    /// Client id -> secret; `None` for a public (PKCE-only) client.
    pub clients: HashMap<String, Option<String>>,
    /// Exact redirect URIs accepted for every client.
    pub redirect_uris: Vec<String>,
    /// `expires_in` of every access token.
    pub expires_in: u64,
    /// Refresh tokens are single-use and each refresh returns a new one.
    pub rotate_refresh_tokens: bool,
}

impl Config {
    /// Whether `id` is registered, and its secret.
    pub fn client(&self, id: &str) -> Option<Option<&str>> {
        self.clients.get(id).map(Option::as_deref)
    }
}

/// An issued, not yet exchanged authorization code.
pub(crate) struct CodeGrant {
    pub client_id: String,
    /// Who was signed in when the code was issued.
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    /// The S256 `code_challenge` given at `/authorize`, if any.
    pub challenge: Option<String>,
    pub expires_at: Instant,
}

/// An issued refresh token and its history.
pub(crate) struct RefreshGrant {
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub status: RefreshTokenStatus,
    /// Issue order, from 0.
    pub serial: u64,
    pub issued_at: Instant,
    /// Refresh requests with this token that reached the grant (granted or
    /// refused with `invalid_grant`).
    pub processed: usize,
    /// How the response that carried it was answered.
    pub delivery: Delivery,
}

/// An issued access token.
pub(crate) struct AccessGrant {
    /// The user it acts for; `None` for an app token (client credentials).
    pub user_id: Option<String>,
    /// The scope granted, space-delimited.
    pub scope: String,
    pub issued_at: Instant,
    /// `None`: never (an `expires_in` too large for the clock).
    pub expires_at: Option<Instant>,
    pub revoked: bool,
}

/// Whether the Web API accepts an access token now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum AccessStatus {
    Live,
    Expired,
    Revoked,
}

impl AccessGrant {
    pub fn status(&self, now: Instant) -> AccessStatus {
        if self.revoked {
            AccessStatus::Revoked
        } else if self.expires_at.is_some_and(|at| now >= at) {
            AccessStatus::Expired
        } else {
            AccessStatus::Live
        }
    }
}

/// Everything that changes while the server runs; behind one mutex, held
/// only for short, non-blocking sections.
pub(crate) struct State {
    pub deny: bool,
    /// The user `/authorize` binds to the codes it issues.
    pub signed_in: String,
    pub codes: HashMap<String, CodeGrant>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub access_tokens: HashMap<String, AccessGrant>,
    pub faults: FaultQueue,
    /// Faults waiting for the next Web API requests.
    pub web_api_faults: FaultQueue,
    pub requests: Vec<RecordedRequest>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            deny: false,
            signed_in: DEFAULT_USER.to_owned(),
            codes: HashMap::new(),
            refresh_tokens: HashMap::new(),
            access_tokens: HashMap::new(),
            faults: FaultQueue::default(),
            web_api_faults: FaultQueue::default(),
            requests: Vec::new(),
        }
    }
}

impl State {
    /// Mints and stores a live refresh token.
    pub fn issue_refresh_token(
        &mut self,
        client_id: &str,
        user_id: &str,
        scope: &str,
        delivery: Delivery,
    ) -> String {
        let token = random_token("AQ", 131);
        let serial = self.refresh_tokens.len() as u64;
        self.refresh_tokens.insert(
            token.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                user_id: user_id.to_owned(),
                scope: scope.to_owned(),
                status: RefreshTokenStatus::Live,
                serial,
                issued_at: Instant::now(),
                processed: 0,
                delivery,
            },
        );
        token
    }

    /// Mints and stores an access token that expires in `expires_in` seconds.
    pub fn issue_access_token(
        &mut self,
        user_id: Option<&str>,
        scope: &str,
        expires_in: u64,
    ) -> String {
        let token = random_token("BQ", 200);
        let now = Instant::now();
        self.access_tokens.insert(
            token.clone(),
            AccessGrant {
                user_id: user_id.map(str::to_owned),
                scope: scope.to_owned(),
                issued_at: now,
                expires_at: now.checked_add(Duration::from_secs(expires_in)),
                revoked: false,
            },
        );
        token
    }

    /// Sets the status of a known refresh token; false when unknown.
    pub fn set_refresh_status(&mut self, token: &str, status: RefreshTokenStatus) -> bool {
        match self.refresh_tokens.get_mut(token) {
            Some(grant) => {
                grant.status = status;
                true
            }
            None => false,
        }
    }
}

/// A random token of `len` alphanumeric characters after `prefix` (Spotify's
/// codes and refresh tokens start with `AQ`, access tokens with `BQ`). Fake
/// credentials, so a fast non-cryptographic generator is enough; at this
/// length two tokens never collide in practice.
pub(crate) fn random_token(prefix: &str, len: usize) -> String {
    let mut token = String::with_capacity(prefix.len() + len);
    token.push_str(prefix);
    token.extend(std::iter::repeat_with(fastrand::alphanumeric).take(len));
    token
}
