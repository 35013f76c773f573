//! A store that lost its data, while it recovers: what the store holds
//! between the moment an instance finds it empty and the moment Spotify
//! issues a token again.
//!
//! When a store loses its data (a Redis restart without persistence, an
//! evicted key, a token file removed by hand), every instance holding a
//! login in memory may write it back, but some of those copies may be stale
//! (an idle instance kept a refresh token its sharers rotated away since),
//! and nobody can tell which. So a login written back is *provisional*
//! ([`Recovery`]): an instance holding another login keeps its own rather
//! than adopt a copy that may be stale; a copy Spotify refuses is named (so
//! that no sharer sends it again) and ends no other login; the first token
//! Spotify issues after the loss is a plain login again, which every
//! instance adopts. Each copy is sent at most once, and the live one wins.

use std::fmt;

use crate::entry::Fingerprint;
use crate::{RefreshToken, TokenInfo};

/// How many refused copies a recovery names at most (the newest are kept).
const MAX_NAMED: usize = 16;

/// What a store holds while it recovers from a data loss: the login an
/// instance wrote back from memory (perhaps a stale copy), if any, and the
/// refresh tokens of the copies Spotify refused since the loss, by
/// fingerprint. See [`Entry::Recovering`](crate::Entry::Recovering).
///
/// `Debug` shows whether it holds a token and how many copies it names,
/// never a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Recovery {
    token: Option<TokenInfo>,
    refused: Vec<Fingerprint>,
    since_ms: u64,
}

impl Recovery {
    /// A login written back, now, to a store that had lost its data.
    pub fn written_back(token: TokenInfo) -> Self {
        Self {
            token: Some(token),
            refused: Vec::new(),
            since_ms: crate::entry::now_ms(),
        }
    }

    /// The login written back, unless the last one written back was
    /// refused.
    pub fn token(&self) -> Option<&TokenInfo> {
        self.token.as_ref()
    }

    /// When the store was found to have lost its data, in milliseconds
    /// since the Unix epoch.
    pub fn since_ms(&self) -> u64 {
        self.since_ms
    }

    /// Whether Spotify refused `refresh_token` since the loss: it must
    /// never be sent again.
    pub fn refused(&self, refresh_token: &RefreshToken) -> bool {
        self.names(Fingerprint::of(refresh_token))
    }

    /// How many refused copies it names.
    pub fn len(&self) -> usize {
        self.refused.len()
    }

    /// Whether it names no refused copy.
    pub fn is_empty(&self) -> bool {
        self.refused.is_empty()
    }

    pub(crate) fn names(&self, fp: Fingerprint) -> bool {
        self.refused.contains(&fp)
    }

    pub(crate) fn from_parts(
        token: Option<TokenInfo>,
        refused: Vec<Fingerprint>,
        since_ms: u64,
    ) -> Self {
        let mut recovery = Self {
            token,
            refused: Vec::new(),
            since_ms,
        };
        recovery.name(refused);
        recovery
    }

    pub(crate) fn refused_fingerprints(&self) -> &[Fingerprint] {
        &self.refused
    }

    /// The same recovery with `token` written back instead.
    #[cfg(any(feature = "blocking", feature = "async", test))]
    pub(crate) fn with_token(&self, token: TokenInfo) -> Self {
        Self {
            token: Some(token),
            refused: self.refused.clone(),
            since_ms: self.since_ms,
        }
    }

    /// The same recovery after Spotify refused `refused`: named, and no
    /// longer the login written back if it was that one.
    #[cfg(any(feature = "blocking", feature = "async", test))]
    pub(crate) fn after_refusal(&self, refused: &RefreshToken) -> Self {
        let token = self
            .token
            .clone()
            .filter(|t| t.refresh_token.as_ref() != Some(refused));
        let mut next = Self {
            token,
            refused: self.refused.clone(),
            since_ms: self.since_ms,
        };
        next.name([Fingerprint::of(refused)]);
        next
    }

    /// Adds fingerprints (once each), keeping the newest [`MAX_NAMED`].
    pub(crate) fn name(&mut self, more: impl IntoIterator<Item = Fingerprint>) {
        for fp in more {
            if !self.refused.contains(&fp) {
                self.refused.push(fp);
            }
        }
        let excess = self.refused.len().saturating_sub(MAX_NAMED);
        self.refused.drain(..excess);
    }
}

impl fmt::Debug for Recovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recovery")
            .field("token", &self.token.is_some())
            .field("refused", &self.refused.len())
            .field("since_ms", &self.since_ms)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AccessToken;

    fn token(refresh: &str) -> TokenInfo {
        TokenInfo {
            access_token: AccessToken::new("access-secret"),
            expires_at: 1_700_000_000,
            refresh_token: Some(RefreshToken::new(refresh)),
            scope: None,
            authorized_at: None,
        }
    }

    #[test]
    fn a_refused_copy_is_named_and_dropped_and_nothing_secret_shows() {
        let s = RefreshToken::new("refresh-secret-s");
        let r = Recovery::written_back(token("refresh-secret-s"));
        assert!(r.token().is_some() && r.is_empty());
        let after = r.after_refusal(&s);
        assert!(after.token().is_none());
        assert!(after.refused(&s));
        assert_eq!(after.since_ms(), r.since_ms());
        let v = after.with_token(token("refresh-secret-v"));
        assert!(v.refused(&s) && v.token().is_some());
        let other = v.after_refusal(&RefreshToken::new("x"));
        assert!(other.token().is_some(), "another copy's refusal keeps v");
        assert_eq!(other.len(), 2);
        let debug = format!("{other:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }

    #[test]
    fn names_are_kept_once_and_bounded() {
        let mut r = Recovery::written_back(token("a")).after_refusal(&RefreshToken::new("a"));
        for i in 0..40 {
            r.name([Fingerprint::of(&RefreshToken::new(format!("t{}", i % 20)))]);
        }
        assert_eq!(r.len(), MAX_NAMED);
        assert!(r.refused(&RefreshToken::new("t19")));
        assert!(!r.refused(&RefreshToken::new("a")), "the oldest went");
    }
}
