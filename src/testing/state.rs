//! What the fake server knows: its fixed configuration (clients, redirect
//! URIs, token settings) and what changes as it runs (codes, refresh tokens,
//! faults, recorded requests).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::faults::FaultQueue;
use super::record::RecordedRequest;

/// How long an authorization code can be exchanged (Spotify: 10 minutes).
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(600);

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
    pub redirect_uri: String,
    pub scope: String,
    /// The S256 `code_challenge` given at `/authorize`, if any.
    pub challenge: Option<String>,
    pub expires_at: Instant,
}

/// Why a refresh token no longer works.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshStatus {
    Valid,
    Revoked,
    Expired,
    /// Replaced by a newer token (rotation).
    Rotated,
}

/// An issued refresh token.
pub(crate) struct RefreshGrant {
    pub client_id: String,
    pub scope: String,
    pub status: RefreshStatus,
}

/// Everything that changes while the server runs; behind one mutex, held
/// only for short, non-blocking sections.
#[derive(Default)]
pub(crate) struct State {
    pub deny: bool,
    pub codes: HashMap<String, CodeGrant>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub faults: FaultQueue,
    pub requests: Vec<RecordedRequest>,
}

impl State {
    /// Mints and stores a refresh token.
    pub fn issue_refresh_token(&mut self, client_id: &str, scope: &str) -> String {
        let token = random_token("AQ", 131);
        self.refresh_tokens.insert(
            token.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                scope: scope.to_owned(),
                status: RefreshStatus::Valid,
            },
        );
        token
    }

    /// Sets the status of a known refresh token; false when unknown.
    pub fn set_refresh_status(&mut self, token: &str, status: RefreshStatus) -> bool {
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
