//! Where a service keeps its logins in progress between `/login` and
//! `/callback`: [`AttemptStore`], its in-memory implementation
//! ([`InMemoryAttemptStore`], in `attempt_store/memory.rs`) and what both
//! share (the id an attempt is kept under, the checks on the state). The
//! Redis one is `cache/redis/attempts.rs`.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::{AuthorizationAttempt, Error, PkceVerifier, Result};

mod memory;

pub use memory::InMemoryAttemptStore;

/// How long an attempt can be taken after it was saved, unless the store is
/// told otherwise: 10 minutes.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// The longest state accepted (the library makes 43 characters).
const MAX_STATE_LEN: usize = 512;

/// A store of authorization attempts for the stateless web flow: `/login`
/// saves the attempt, `/callback` takes it, once, on whichever replica it
/// lands.
///
/// ```no_run
/// # #[cfg(feature = "blocking")]
/// # fn main() -> spotify_auth::Result<()> {
/// use spotify_auth::{AttemptStore, AuthorizationCode, InMemoryAttemptStore};
///
/// # let auth = AuthorizationCode::builder().build()?;
/// let attempts = InMemoryAttemptStore::new(); // or RedisStore::attempt_store(), across replicas
/// # let (session, callback_url) = ("the-browser-session", String::new());
/// // /login: a new attempt, kept for this browser's session; redirect to attempt.url.
/// let attempt = auth.authorization_attempt(None, false)?;
/// attempts.save(session, &attempt)?;
/// # let state = attempt.state.clone();
/// // /callback, on any replica: the state from the callback (checked against
/// // the one this browser's login started with), then the attempt, once.
/// let code = auth.parse_response_url(&callback_url, Some(&state))?;
/// let saved = attempts.take(session, &state)?; // Error::AttemptNotFound if forged, replayed or expired
/// auth.exchange_code_with_verifier(code, saved.pkce_verifier.as_ref())?;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "blocking"))]
/// # fn main() {}
/// ```
///
/// An attempt is kept under its state and the **session** it was saved
/// for: a value naming the browser that started the login (its session id,
/// or a hash of it), so that a callback brought by another browser finds
/// nothing (login CSRF), and whose taking leaves the real login untouched.
/// It is kept under a SHA-256 of both: neither the state nor the session
/// is stored or appears in a key; the PKCE verifier is stored (a secret:
/// `Debug` and errors never show it).
///
/// [`take`](Self::take) hands an attempt out once: of two replicas taking
/// it at once, one gets it and the other [`Error::AttemptNotFound`], as
/// does a replayed callback, a forged one and one after the attempt's
/// lifetime (default 10 minutes). The attempt is gone once taken, whatever
/// the exchange does next: after a failed exchange the user starts again.
///
/// Both methods may block (a Redis round trip): from async code, call them
/// through `tokio::task::spawn_blocking` unless
/// [`never_blocks`](Self::never_blocks) says they return at once.
pub trait AttemptStore: Send + Sync {
    /// Keeps `attempt` (its PKCE verifier) for `session` until it is taken
    /// or its lifetime ends.
    ///
    /// Errors: [`Error::Config`] (setting `state`) for an attempt with an
    /// empty state or one over 512 bytes; the store's failures
    /// ([`Error::Cache`] for Redis).
    fn save(&self, session: &str, attempt: &AuthorizationAttempt) -> Result<()>;

    /// Takes the attempt `session` saved with `state` out of the store.
    ///
    /// Errors: [`Error::AttemptNotFound`] when there is none (never saved,
    /// saved for another session, taken already, or expired); the store's
    /// failures.
    fn take(&self, session: &str, state: &str) -> Result<SavedAttempt>;

    /// How long a saved attempt can be taken.
    fn lifetime(&self) -> Duration;

    /// Whether [`save`](Self::save) and [`take`](Self::take) return at
    /// once, without I/O (a store in this process's memory). Default
    /// `false`.
    fn never_blocks(&self) -> bool {
        false
    }
}

/// What [`AttemptStore::take`] hands back: what the exchange needs.
/// `Debug` redacts the verifier.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SavedAttempt {
    /// The attempt's PKCE verifier, for `exchange_code_with_verifier`;
    /// `None` for a confidential client without PKCE.
    pub pkce_verifier: Option<PkceVerifier>,
}

impl SavedAttempt {
    /// What [`take`](AttemptStore::take) hands back for an attempt saved
    /// with this verifier (an [`AttemptStore`] of your own returns it).
    pub fn new(pkce_verifier: Option<PkceVerifier>) -> Self {
        SavedAttempt { pkce_verifier }
    }
}

/// A shared or boxed store is a store.
macro_rules! forward_store {
    ($($wrapper:ident),*) => {$(
        impl<S: AttemptStore + ?Sized> AttemptStore for $wrapper<S> {
            fn save(&self, session: &str, attempt: &AuthorizationAttempt) -> Result<()> {
                (**self).save(session, attempt)
            }
            fn take(&self, session: &str, state: &str) -> Result<SavedAttempt> {
                (**self).take(session, state)
            }
            fn lifetime(&self) -> Duration {
                (**self).lifetime()
            }
            fn never_blocks(&self) -> bool {
                (**self).never_blocks()
            }
        }
    )*};
}
forward_store!(Arc, Box);

/// The id an attempt is kept under: SHA-256 over the session and the state
/// (length-prefixed, so that no two pairs give the same input).
pub(crate) fn attempt_id(session: &str, state: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"spotify-auth attempt v1\0");
    hash.update((session.len() as u64).to_be_bytes());
    hash.update(session.as_bytes());
    hash.update(state.as_bytes());
    hash.finalize().into()
}

/// The id of the attempt to save, after checking its state.
pub(crate) fn id_to_save(session: &str, attempt: &AuthorizationAttempt) -> Result<[u8; 32]> {
    let state = &attempt.state;
    if state.is_empty() || state.len() > MAX_STATE_LEN {
        return Err(Error::config(
            "state",
            format!("an attempt's state must be 1 to {MAX_STATE_LEN} bytes"),
        ));
    }
    Ok(attempt_id(session, state))
}

/// The id of the attempt to take; a state no attempt can have is not found.
pub(crate) fn id_to_take(session: &str, state: &str) -> Result<[u8; 32]> {
    if state.is_empty() || state.len() > MAX_STATE_LEN {
        return Err(Error::AttemptNotFound);
    }
    Ok(attempt_id(session, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_binds_both_session_and_state() {
        assert_ne!(attempt_id("ab", "c"), attempt_id("a", "bc"));
        assert_ne!(attempt_id("s", "x"), attempt_id("t", "x"));
        assert_eq!(attempt_id("s", "x"), attempt_id("s", "x"));
    }

    #[test]
    fn states_no_attempt_can_have_are_refused() {
        assert!(matches!(id_to_take("s", ""), Err(Error::AttemptNotFound)));
        let long = "x".repeat(MAX_STATE_LEN + 1);
        assert!(matches!(
            id_to_take("s", &long),
            Err(Error::AttemptNotFound)
        ));
        let attempt = AuthorizationAttempt {
            url: String::new(),
            state: String::new(),
            pkce_verifier: None,
        };
        assert!(matches!(
            id_to_save("s", &attempt),
            Err(Error::Config {
                setting: "state",
                ..
            })
        ));
    }
}
