//! Bookkeeping for chaos tests: every refresh token the server issued, what
//! became of it, and whether the client could have received it.

use std::fmt;
use std::time::{Duration, Instant};

use super::server::FakeSpotify;
use super::state::RefreshGrant;

/// Whether the server honours a refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefreshTokenStatus {
    /// Refreshing with it succeeds.
    Live,
    /// Used once with rotation on and replaced by a newer token: refused with
    /// `invalid_grant` ("Invalid refresh token"). Rotated tokens are
    /// single-use; nothing brings one back.
    Rotated,
    /// Revoked by [`FakeSpotify::revoke_refresh_token`]: refused with
    /// `invalid_grant` ("Refresh token revoked").
    Revoked,
    /// Expired by [`FakeSpotify::expire_refresh_token`]: refused with
    /// `invalid_grant` ("Refresh token expired").
    Expired,
}

/// How the server answered the request that issued a refresh token: could
/// the client have learnt it?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delivery {
    /// Minted by [`FakeSpotify::issue_refresh_token`]: handed to the test,
    /// no response involved.
    Minted,
    /// Answered normally (after any [`Fault::Delay`](super::Fault::Delay)).
    Delivered,
    /// Answered by nothing ([`Fault::LoseResponse`](super::Fault::LoseResponse)):
    /// the client never received it.
    Lost,
    /// Answered this late ([`Fault::DelayResponse`](super::Fault::DelayResponse)):
    /// a client with a shorter timeout never received it.
    Delayed(Duration),
}

/// A refresh token the server issued, with what became of it; from
/// [`FakeSpotify::issued_refresh_tokens`].
///
/// A snapshot: it does not change when the server's state does. `Debug`
/// shows only the first characters of the token; [`token`](Self::token)
/// returns it whole.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedRefreshToken {
    token: String,
    client_id: String,
    user_id: String,
    scope: String,
    status: RefreshTokenStatus,
    refresh_requests: usize,
    delivery: Delivery,
    issued_at: Instant,
}

impl IssuedRefreshToken {
    fn new(token: &str, grant: &RefreshGrant) -> Self {
        Self {
            token: token.to_owned(),
            client_id: grant.client_id.clone(),
            user_id: grant.user_id.clone(),
            scope: grant.scope.clone(),
            status: grant.status,
            refresh_requests: grant.processed,
            delivery: grant.delivery,
            issued_at: grant.issued_at,
        }
    }

    /// The refresh token itself (a secret in the library's eyes).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The client it was issued to.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The user it acts for (see [`FakeSpotify::sign_in_as`]).
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The scope granted, space-delimited.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Whether the server honours it now.
    pub fn status(&self) -> RefreshTokenStatus {
        self.status
    }

    /// Whether the server would refresh with it now.
    pub fn is_live(&self) -> bool {
        self.status == RefreshTokenStatus::Live
    }

    /// How many refresh requests carrying it the server processed: granted,
    /// or refused with `invalid_grant` (rotated, revoked, expired, another
    /// client's). Requests answered by a fault that does not process them
    /// (a 5xx, a dropped connection, ...) or refused before the grant (a bad
    /// client secret) do not count; [`Fault::Delay`](super::Fault::Delay),
    /// [`Fault::DelayResponse`](super::Fault::DelayResponse) and
    /// [`Fault::LoseResponse`](super::Fault::LoseResponse) do.
    pub fn refresh_requests(&self) -> usize {
        self.refresh_requests
    }

    /// How the response that issued it was answered.
    pub fn delivery(&self) -> Delivery {
        self.delivery
    }

    /// When it was issued.
    pub fn issued_at(&self) -> Instant {
        self.issued_at
    }
}

impl fmt::Debug for IssuedRefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Enough to tell tokens apart in a failing test, not to use one.
        let shown = self.token.get(..6).unwrap_or("");
        f.debug_struct("IssuedRefreshToken")
            .field("token", &format_args!("{shown}…"))
            .field("client_id", &self.client_id)
            .field("user_id", &self.user_id)
            .field("scope", &self.scope)
            .field("status", &self.status)
            .field("refresh_requests", &self.refresh_requests)
            .field("delivery", &self.delivery)
            .field("issued_at", &self.issued_at)
            .finish()
    }
}

impl FakeSpotify {
    /// Whether refreshing with `refresh_token` would succeed right now (for
    /// its own client): it was issued here and is neither rotated, revoked
    /// nor expired.
    pub fn refresh_token_is_live(&self, refresh_token: &str) -> bool {
        self.state()
            .refresh_tokens
            .get(refresh_token)
            .is_some_and(|grant| grant.status == RefreshTokenStatus::Live)
    }

    /// Every refresh token this server issued (code exchanges, rotations,
    /// [`issue_refresh_token`](Self::issue_refresh_token)), oldest first.
    pub fn issued_refresh_tokens(&self) -> Vec<IssuedRefreshToken> {
        let state = self.state();
        let mut issued: Vec<(u64, IssuedRefreshToken)> = state
            .refresh_tokens
            .iter()
            .map(|(token, grant)| (grant.serial, IssuedRefreshToken::new(token, grant)))
            .collect();
        issued.sort_unstable_by_key(|(serial, _)| *serial);
        issued.into_iter().map(|(_, token)| token).collect()
    }
}
