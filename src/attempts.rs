//! Authorization attempts: [`AuthorizationAttempt`], what the stateless
//! flow hands the application to keep; and the attempts in flight of the
//! two-step flow within one instance (`get_authorization_url`, `parse_response_url`, `exchange_code`):
//! each PKCE verifier, tied to its state (and, once the callback is parsed,
//! to its code) so that two attempts never mix.
//!
//! A verifier stays until its exchange succeeds or fails for good, so a
//! transient failure can be retried with the same code. Attempts expire by
//! age ([`ATTEMPT_LIFETIME`] after their URL was made), not by how many others
//! were started since; only past [`MAX_ATTEMPTS`] in flight at once (a memory
//! guard against a flood of login requests) is the oldest dropped.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Instant;

use crate::authorize::constant_time_eq;
use crate::{AuthCode, Error, PkceVerifier, Result};

/// One login's authorization request, for the application to keep until the
/// callback (the stateless web flow, across instances and replicas).
///
/// Made by `AuthorizationCode::authorization_attempt`: send the user to
/// [`url`](Self::url), keep [`state`](Self::state) and
/// [`pkce_verifier`](Self::pkce_verifier) server-side (a session store, or a
/// signed and encrypted cookie: the verifier is a secret), and on the
/// callback, on any instance, check the state with
/// `parse_response_url(callback, Some(&state))` and exchange the code with
/// `exchange_code_with_verifier(code, verifier)`. `Debug` redacts the
/// state and the verifier.
#[derive(Clone)]
#[non_exhaustive]
pub struct AuthorizationAttempt {
    /// The URL to send the user's browser to.
    pub url: String,
    /// The `state` sent in the URL: the callback must carry it back (a
    /// random 256-bit value unless the application chose it).
    pub state: String,
    /// The PKCE verifier whose challenge is in the URL; `None` for a
    /// confidential client without PKCE. A secret: never send it to the
    /// browser in clear.
    pub pkce_verifier: Option<PkceVerifier>,
}

impl AuthorizationAttempt {
    /// An attempt with this URL, state and PKCE verifier: for an
    /// [`AttemptStore`](crate::AttemptStore) of your own (its tests, or an
    /// attempt kept in another form). The flows make theirs with
    /// `authorization_attempt`.
    pub fn new(
        url: impl Into<String>,
        state: impl Into<String>,
        pkce_verifier: Option<PkceVerifier>,
    ) -> Self {
        AuthorizationAttempt {
            url: url.into(),
            state: state.into(),
            pkce_verifier,
        }
    }
}

impl std::fmt::Debug for AuthorizationAttempt {
    /// The state and the verifier are redacted (and the URL, which carries
    /// the state).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationAttempt")
            .field("url", &"[redacted: carries the state]")
            .field("state", &"[redacted]")
            .field("pkce_verifier", &self.pkce_verifier)
            .finish()
    }
}

/// How long an attempt can be exchanged after its URL was made.
pub(crate) const ATTEMPT_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// At most this many attempts are kept at once.
pub(crate) const MAX_ATTEMPTS: usize = 4096;

/// The attempts of one `AuthorizationCode`.
#[derive(Default)]
pub(crate) struct PendingAttempts {
    entries: Mutex<Vec<Attempt>>,
}

struct Attempt {
    state: Option<String>,
    code: Option<AuthCode>,
    verifier: PkceVerifier,
    made: Instant,
}

fn same(a: &str, b: &str) -> bool {
    constant_time_eq(a.as_bytes(), b.as_bytes())
}

impl PendingAttempts {
    /// Remembers the verifier of a new attempt with this state (replacing an
    /// attempt with the same state).
    pub fn insert(&self, state: Option<&str>, verifier: PkceVerifier) {
        self.insert_at(state, verifier, Instant::now());
    }

    fn insert_at(&self, state: Option<&str>, verifier: PkceVerifier, now: Instant) {
        let mut entries = self.lock();
        // Expired attempts are kept a while longer, only to tell "expired"
        // from "unknown".
        entries.retain(|a| {
            a.state.as_deref() != state && now.duration_since(a.made) < 2 * ATTEMPT_LIFETIME
        });
        if entries.len() >= MAX_ATTEMPTS {
            entries.remove(0);
        }
        entries.push(Attempt {
            state: state.map(str::to_owned),
            code: None,
            verifier,
            made: now,
        });
    }

    /// Ties the code a callback brought to the attempt with its state.
    pub fn bind_code(&self, state: Option<&str>, code: &AuthCode) {
        let mut entries = self.lock();
        if let Some(i) = position_by_state(&entries, state) {
            entries[i].code = Some(code.clone());
        }
    }

    /// The verifier of the attempt this code was bound to or, for a code
    /// never bound, of the attempt made without a state (or else the only
    /// one whose callback was not parsed yet). It stays until
    /// [`settle`](Self::settle).
    pub fn verifier_for_code(&self, code: &AuthCode) -> Result<PkceVerifier> {
        self.verifier_for_code_at(code, Instant::now())
    }

    fn verifier_for_code_at(&self, code: &AuthCode, now: Instant) -> Result<PkceVerifier> {
        let entries = self.lock();
        let attempt = position_by_code(&entries, code)
            .map(|i| &entries[i])
            .ok_or(Error::UnknownAttempt)?;
        let age = now.duration_since(attempt.made);
        if age >= ATTEMPT_LIFETIME {
            return Err(Error::AttemptExpired {
                age,
                lifetime: ATTEMPT_LIFETIME,
            });
        }
        Ok(attempt.verifier.clone())
    }

    /// Forgets the attempt this code belongs to: its exchange succeeded, or
    /// failed for good.
    pub fn settle(&self, code: &AuthCode) {
        let mut entries = self.lock();
        if let Some(i) = position_by_code(&entries, code) {
            entries.remove(i);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Attempt>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn position_by_code(entries: &[Attempt], code: &AuthCode) -> Option<usize> {
    let bound = entries.iter().position(|a| {
        a.code
            .as_ref()
            .is_some_and(|c| same(c.secret(), code.secret()))
    });
    // A code never bound: the attempt made without a state, or else the only
    // attempt whose callback has not been parsed yet.
    let unbound = || {
        let mut open = entries.iter().enumerate().filter(|(_, a)| a.code.is_none());
        let without_state = open.clone().find(|(_, a)| a.state.is_none());
        without_state
            .or_else(|| match (open.next(), open.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            })
            .map(|(i, _)| i)
    };
    bound.or_else(unbound)
}

fn position_by_state(entries: &[Attempt], state: Option<&str>) -> Option<usize> {
    match state {
        Some(s) => entries
            .iter()
            .position(|a| a.state.as_deref().is_some_and(|k| same(k, s))),
        None => entries
            .iter()
            .position(|a| a.state.is_none())
            .or_else(|| (entries.len() == 1).then_some(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(s: &str) -> AuthCode {
        AuthCode::new(s)
    }

    #[test]
    fn attempts_do_not_mix_and_stay_until_settled() {
        let p = PendingAttempts::default();
        p.insert(Some("s1"), PkceVerifier::new("v1"));
        p.insert(Some("s2"), PkceVerifier::new("v2"));
        p.bind_code(Some("s2"), &code("c2"));
        p.bind_code(Some("s1"), &code("c1"));
        assert_eq!(p.verifier_for_code(&code("c2")).unwrap().secret(), "v2");
        assert_eq!(
            p.verifier_for_code(&code("c2")).unwrap().secret(),
            "v2",
            "kept for a retry"
        );
        p.settle(&code("c2"));
        assert!(matches!(
            p.verifier_for_code(&code("c2")),
            Err(Error::UnknownAttempt)
        ));
        assert!(
            matches!(
                p.verifier_for_code(&code("unbound")),
                Err(Error::UnknownAttempt)
            ),
            "the only attempt left belongs to another code"
        );
        assert_eq!(p.verifier_for_code(&code("c1")).unwrap().secret(), "v1");
        p.insert(Some("s3"), PkceVerifier::new("v3"));
        assert_eq!(
            p.verifier_for_code(&code("unbound")).unwrap().secret(),
            "v3",
            "a code never bound: the only attempt whose callback was not parsed"
        );
        p.insert(None, PkceVerifier::new("v-none"));
        assert_eq!(
            p.verifier_for_code(&code("unbound")).unwrap().secret(),
            "v-none",
            "a code never bound: the attempt made without a state first"
        );
    }

    #[test]
    fn many_attempts_do_not_evict_one_in_flight() {
        let p = PendingAttempts::default();
        p.insert(Some("first"), PkceVerifier::new("v-first"));
        for i in 0..1000 {
            p.insert(Some(&i.to_string()), PkceVerifier::new(i.to_string()));
        }
        p.bind_code(Some("first"), &code("c"));
        assert_eq!(p.verifier_for_code(&code("c")).unwrap().secret(), "v-first");
    }

    #[test]
    fn attempts_expire_by_age_with_an_error_that_says_so() {
        let p = PendingAttempts::default();
        let start = Instant::now();
        p.insert_at(Some("s"), PkceVerifier::new("v"), start);
        p.bind_code(Some("s"), &code("c"));
        let late = start + ATTEMPT_LIFETIME + Duration::from_secs(5);
        match p.verifier_for_code_at(&code("c"), late) {
            Err(e @ Error::AttemptExpired { age, .. }) => {
                assert!(age >= ATTEMPT_LIFETIME);
                assert!(e.to_string().contains("expired"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        // Much later, a new attempt prunes it: then it is unknown.
        p.insert_at(
            Some("new"),
            PkceVerifier::new("v2"),
            start + 3 * ATTEMPT_LIFETIME,
        );
        p.bind_code(Some("new"), &code("c-new"));
        assert!(matches!(
            p.verifier_for_code_at(&code("c"), start + 3 * ATTEMPT_LIFETIME),
            Err(Error::UnknownAttempt)
        ));
    }

    #[test]
    fn a_flood_keeps_at_most_max_attempts() {
        let p = PendingAttempts::default();
        for i in 0..MAX_ATTEMPTS + 10 {
            p.insert(Some(&i.to_string()), PkceVerifier::new("v"));
        }
        assert_eq!(p.lock().len(), MAX_ATTEMPTS);
        assert!(
            position_by_state(&p.lock(), Some("0")).is_none(),
            "the oldest dropped"
        );
    }
}
