//! The refresh tokens a login in memory descends from, as this instance saw
//! them: the one its token replaced, the one before, and so on (a bounded
//! few, newest first, by fingerprint).
//!
//! A refusal record in the store names the refresh token Spotify refused.
//! When that token is one this login descends from, the login held here is
//! newer than the refused token (Spotify rotated it away, or a stale holder
//! spent it after a data loss or a lapse): it is written over the record and
//! the login goes on. A token this instance never saw in its lineage is not
//! taken for an ancestor: the record ends the login held here, as before.
//! Logout records are never overridden this way.

use crate::entry::{Fingerprint, LoginEnded};
use std::sync::Arc;

/// How many ancestors are kept: enough for a holder several refreshes
/// behind (an idle instance, forced refreshes), 16 bytes each.
pub(crate) const DEPTH: usize = 8;

/// The ancestors of the login in memory, newest (the refresh token the
/// current token replaced) first. Cheap to clone; empty for a login this
/// instance started (an exchange) or adopted with nothing before it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lineage(Option<Arc<[Fingerprint]>>);

impl Lineage {
    /// No known ancestors.
    pub(crate) const fn none() -> Self {
        Self(None)
    }

    /// The lineage of a token that replaced `parent`, a token whose own
    /// lineage was `older`; `parent` already in it (a refresh without
    /// rotation, an adoption of the same token) keeps `older` as it is.
    pub(crate) fn after(parent: Fingerprint, older: &Lineage) -> Self {
        let older = older.0.as_deref().unwrap_or_default();
        if older.first() == Some(&parent) {
            return Self(Some(Arc::from(older)));
        }
        let kept = older.iter().filter(|f| **f != parent).take(DEPTH - 1);
        Self(Some(std::iter::once(parent).chain(kept.copied()).collect()))
    }

    /// The refresh token the current token replaced, when known.
    #[cfg(test)]
    pub(crate) fn parent(&self) -> Option<Fingerprint> {
        self.0.as_deref().and_then(|f| f.first().copied())
    }

    /// Whether `record` names a refresh token this login descends from.
    pub(crate) fn named_by(&self, record: &LoginEnded) -> bool {
        self.0
            .as_deref()
            .is_some_and(|fps| fps.iter().any(|f| record.names(*f)))
    }

    /// Whether the refresh token `fp` is one this login descends from.
    pub(crate) fn contains(&self, fp: Fingerprint) -> bool {
        self.0.as_deref().is_some_and(|fps| fps.contains(&fp))
    }

    /// How many ancestors are known.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.as_deref().map_or(0, <[Fingerprint]>::len)
    }
}

#[cfg(test)]
impl From<Option<Fingerprint>> for Lineage {
    fn from(parent: Option<Fingerprint>) -> Self {
        match parent {
            Some(p) => Self::after(p, &Self::none()),
            None => Self::none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RefreshToken;

    fn fp(s: &str) -> Fingerprint {
        Fingerprint::of(&RefreshToken::new(s))
    }

    #[test]
    fn a_lineage_keeps_the_newest_few_in_order_without_repeats() {
        let mut l = Lineage::none();
        assert_eq!(l.parent(), None);
        for i in 0..20 {
            l = Lineage::after(fp(&format!("r{i}")), &l);
        }
        assert_eq!(l.len(), DEPTH);
        assert_eq!(l.parent(), Some(fp("r19")));
        let again = Lineage::after(fp("r19"), &l);
        assert_eq!(again, l, "the same parent again changes nothing");
        let back = Lineage::after(fp("r15"), &l);
        assert_eq!(back.parent(), Some(fp("r15")));
        assert_eq!(
            back.len(),
            DEPTH,
            "a parent seen before is moved, not repeated"
        );
    }

    #[test]
    fn a_refusal_of_an_ancestor_is_recognised_and_nothing_else() {
        let l = Lineage::after(fp("u"), &Lineage::after(fp("s"), &Lineage::none()));
        assert!(l.named_by(&LoginEnded::refusal(&RefreshToken::new("s"))));
        assert!(l.named_by(&LoginEnded::refusal(&RefreshToken::new("u"))));
        assert!(!l.named_by(&LoginEnded::refusal(&RefreshToken::new("x"))));
        assert!(!Lineage::none().named_by(&LoginEnded::refusal(&RefreshToken::new("s"))));
    }
}
