//! [`InMemoryAttemptStore`]: the logins in progress of a single-process
//! service (or a test), bounded and expiring.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Instant;

use super::{AttemptStore, DEFAULT_LIFETIME, SavedAttempt, id_to_save, id_to_take};
use crate::{AuthorizationAttempt, Error, PkceVerifier, Result};

/// How many attempts are kept at most by default.
const DEFAULT_CAPACITY: usize = 10_000;

/// Logins in progress in this process's memory: for a service with one
/// replica, and for tests. Every replica of a service must take the
/// attempts the others saved: use a
/// [`RedisAttemptStore`](crate::RedisAttemptStore) there.
///
/// Attempts expire after the lifetime (default 10 minutes) and at most the
/// capacity (default 10,000) are kept: a flood of `/login` requests drops
/// the expired ones, then the oldest, never grows the store further. Its
/// methods return at once ([`never_blocks`](AttemptStore::never_blocks)).
/// See [`AttemptStore`] for how to use it.
pub struct InMemoryAttemptStore {
    entries: Mutex<HashMap<[u8; 32], Kept>>,
    lifetime: Duration,
    capacity: usize,
}

struct Kept {
    pkce_verifier: Option<PkceVerifier>,
    saved: Instant,
}

impl InMemoryAttemptStore {
    /// An empty store: attempts last 10 minutes, at most 10,000 are kept.
    pub fn new() -> Self {
        InMemoryAttemptStore {
            entries: Mutex::new(HashMap::new()),
            lifetime: DEFAULT_LIFETIME,
            capacity: DEFAULT_CAPACITY,
        }
    }

    /// How long an attempt can be taken after it was saved (default 10
    /// minutes).
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// How many attempts are kept at most (default 10,000; at least 1).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How many attempts are held now, expired ones not yet dropped
    /// included.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether no attempt is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<[u8; 32], Kept>> {
        // The map is valid whatever a panicking holder was doing.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save_at(&self, session: &str, attempt: &AuthorizationAttempt, now: Instant) -> Result<()> {
        let id = id_to_save(session, attempt)?;
        let mut entries = self.entries();
        if entries.len() >= self.capacity && !entries.contains_key(&id) {
            entries.retain(|_, kept| now.duration_since(kept.saved) < self.lifetime);
            if entries.len() >= self.capacity {
                let oldest = entries.iter().min_by_key(|(_, kept)| kept.saved);
                if let Some(oldest) = oldest.map(|(id, _)| *id) {
                    entries.remove(&oldest);
                }
            }
        }
        let kept = Kept {
            pkce_verifier: attempt.pkce_verifier.clone(),
            saved: now,
        };
        entries.insert(id, kept);
        Ok(())
    }

    fn take_at(&self, session: &str, state: &str, now: Instant) -> Result<SavedAttempt> {
        let id = id_to_take(session, state)?;
        let kept = self.entries().remove(&id).ok_or(Error::AttemptNotFound)?;
        if now.duration_since(kept.saved) >= self.lifetime {
            return Err(Error::AttemptNotFound);
        }
        Ok(SavedAttempt {
            pkce_verifier: kept.pkce_verifier,
        })
    }
}

impl Default for InMemoryAttemptStore {
    fn default() -> Self {
        Self::new()
    }
}

impl AttemptStore for InMemoryAttemptStore {
    fn save(&self, session: &str, attempt: &AuthorizationAttempt) -> Result<()> {
        self.save_at(session, attempt, Instant::now())
    }

    fn take(&self, session: &str, state: &str) -> Result<SavedAttempt> {
        self.take_at(session, state, Instant::now())
    }

    fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn never_blocks(&self) -> bool {
        true
    }
}

impl fmt::Debug for InMemoryAttemptStore {
    /// Counts and settings; never a state or a verifier.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryAttemptStore")
            .field("len", &self.len())
            .field("lifetime", &self.lifetime)
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(state: &str, verifier: &str) -> AuthorizationAttempt {
        AuthorizationAttempt {
            url: format!("https://accounts.example/authorize?state={state}"),
            state: state.to_owned(),
            pkce_verifier: Some(PkceVerifier::new(verifier)),
        }
    }

    fn not_found(result: Result<SavedAttempt>) -> bool {
        matches!(result, Err(Error::AttemptNotFound))
    }

    #[test]
    fn an_attempt_is_taken_once_and_only_by_its_session() {
        let store = InMemoryAttemptStore::new();
        store.save("alice", &attempt("s1", "v1")).unwrap();
        assert!(not_found(store.take("mallory", "s1")), "another session");
        assert!(not_found(store.take("alice", "forged")), "another state");
        let saved = store.take("alice", "s1").unwrap();
        assert_eq!(saved.pkce_verifier.unwrap().secret(), "v1");
        assert!(not_found(store.take("alice", "s1")), "a replay");
        assert!(store.is_empty());
    }

    #[test]
    fn attempts_expire_after_their_lifetime() {
        let store = InMemoryAttemptStore::new().with_lifetime(Duration::from_secs(60));
        let start = Instant::now();
        store.save_at("s", &attempt("a", "v"), start).unwrap();
        store.save_at("s", &attempt("b", "v"), start).unwrap();
        let late = start + Duration::from_secs(61);
        assert!(not_found(store.take_at("s", "a", late)));
        assert!(
            store
                .take_at("s", "b", start + Duration::from_secs(59))
                .is_ok()
        );
    }

    #[test]
    fn a_flood_drops_the_expired_then_the_oldest() {
        let store = InMemoryAttemptStore::new()
            .with_capacity(3)
            .with_lifetime(Duration::from_secs(60));
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        store.save_at("s", &attempt("old", "v"), at(0)).unwrap();
        store.save_at("s", &attempt("b", "v"), at(10)).unwrap();
        store.save_at("s", &attempt("c", "v"), at(20)).unwrap();
        store.save_at("s", &attempt("d", "v"), at(30)).unwrap();
        assert_eq!(store.len(), 3);
        assert!(not_found(store.take_at("s", "old", at(31))), "the oldest");
        store.save_at("s", &attempt("e", "v"), at(75)).unwrap();
        assert_eq!(store.len(), 3, "b expired and made room: c, d, e");
        assert!(store.take_at("s", "c", at(76)).is_ok(), "c was kept");
        assert!(store.take_at("s", "e", at(76)).is_ok());
    }

    #[test]
    fn debug_shows_no_secret() {
        let store = InMemoryAttemptStore::new();
        store
            .save(
                "session-secret",
                &attempt("state-secret", "verifier-secret"),
            )
            .unwrap();
        let shown = format!(
            "{store:?} {:?}",
            store.take("session-secret", "state-secret")
        );
        assert!(!shown.contains("secret"), "{shown}");
    }
}
