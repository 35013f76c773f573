//! [`SessionStorageAttemptStore`]: the login in progress of this tab, kept
//! in `sessionStorage` across the redirect to Spotify and back.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{js_failure, storage};
use crate::attempt_store::{DEFAULT_LIFETIME, id_to_save, id_to_take};
use crate::clock::{SystemTime, UNIX_EPOCH};
use crate::{AttemptStore, AuthorizationAttempt, Error, PkceVerifier, Result, SavedAttempt};

/// The prefix of the `sessionStorage` keys attempts are kept under.
const KEY_PREFIX: &str = "spotify-auth:attempt:";

/// What is kept per attempt: its verifier, and until when it can be taken.
#[derive(Serialize, Deserialize)]
struct Kept {
    verifier: Option<PkceVerifier>,
    /// Unix time in milliseconds.
    until_ms: u64,
}

/// The attempt (state and PKCE verifier) of a login this tab started, kept
/// in `sessionStorage` while the page is away at Spotify: taken once, when
/// the page comes back with the callback.
///
/// `sessionStorage` belongs to this tab (and this origin): a callback
/// opened in another tab, forged, or replayed finds no attempt
/// ([`Error::AttemptNotFound`]), and an attempt is gone once taken. The
/// `session` argument of [`AttemptStore`]'s methods can be `""`
/// ([`TAB`](Self::TAB)): the tab already is the session. Attempts are
/// kept under a SHA-256 of the session and the state (never the state
/// itself) and last 10 minutes.
///
/// The verifier is kept in the clear in `sessionStorage` for those
/// minutes, as every browser PKCE client keeps it; it is worth nothing
/// without the code Spotify sends to the registered redirect URI.
/// [`finish_login`](super::finish_login) takes it and exchanges the code.
pub struct SessionStorageAttemptStore {
    lifetime: Duration,
}

impl SessionStorageAttemptStore {
    /// The session to pass to [`save`](AttemptStore::save) and
    /// [`take`](AttemptStore::take): `""`, as `sessionStorage` is this tab's
    /// already.
    pub const TAB: &'static str = "";

    /// A store over this tab's `sessionStorage`; attempts last 10 minutes.
    ///
    /// Errors: [`Error::Cache`] when this page has no `sessionStorage` (a
    /// worker; storage disabled).
    pub fn new() -> Result<Self> {
        storage::session()?;
        Ok(Self {
            lifetime: DEFAULT_LIFETIME,
        })
    }

    /// How long an attempt can be taken after it was saved.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }
}

/// Milliseconds since the Unix epoch, by the browser's clock.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn key(id: &[u8; 32]) -> String {
    let mut key = String::with_capacity(KEY_PREFIX.len() + 64);
    key.push_str(KEY_PREFIX);
    for byte in id {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// Removes this store's attempts whose time is over.
fn drop_expired(storage: &web_sys::Storage, now: u64) {
    let count = storage.length().unwrap_or(0);
    let keys: Vec<String> = (0..count)
        .filter_map(|i| storage.key(i).ok().flatten())
        .filter(|k| k.starts_with(KEY_PREFIX))
        .collect();
    for k in keys {
        let expired = storage
            .get_item(&k)
            .ok()
            .flatten()
            .and_then(|json| serde_json::from_str::<Kept>(&json).ok())
            .is_none_or(|kept| kept.until_ms <= now);
        if expired {
            let _ = storage.remove_item(&k);
        }
    }
}

impl AttemptStore for SessionStorageAttemptStore {
    /// Keeps the attempt's verifier under a hash of `session` and its state
    /// (and drops the attempts whose time is over).
    ///
    /// Errors: [`Error::Config`] (setting `state`) for an attempt with an
    /// empty state or one over 512 bytes; [`Error::Cache`] when
    /// `sessionStorage` refuses it.
    fn save(&self, session: &str, attempt: &AuthorizationAttempt) -> Result<()> {
        let id = id_to_save(session, attempt)?;
        let storage = storage::session()?;
        let now = now_ms();
        drop_expired(&storage, now);
        let kept = Kept {
            verifier: attempt.pkce_verifier.clone(),
            until_ms: now.saturating_add(self.lifetime.as_millis() as u64),
        };
        let json = serde_json::to_string(&kept).expect("an attempt always serialises");
        storage
            .set_item(&key(&id), &json)
            .map_err(|e| js_failure("sessionStorage.setItem", &e))
    }

    /// Takes the attempt out of `sessionStorage`: a second take finds
    /// nothing.
    ///
    /// Errors: [`Error::AttemptNotFound`] when there is none (never saved
    /// in this tab, taken already, or expired); [`Error::Cache`] when
    /// `sessionStorage` cannot be read.
    fn take(&self, session: &str, state: &str) -> Result<SavedAttempt> {
        let id = id_to_take(session, state)?;
        let storage = storage::session()?;
        let key = key(&id);
        let json = storage
            .get_item(&key)
            .map_err(|e| js_failure("sessionStorage.getItem", &e))?
            .ok_or(Error::AttemptNotFound)?;
        storage
            .remove_item(&key)
            .map_err(|e| js_failure("sessionStorage.removeItem", &e))?;
        let kept: Kept = serde_json::from_str(&json).map_err(|_| Error::AttemptNotFound)?;
        if kept.until_ms <= now_ms() {
            return Err(Error::AttemptNotFound);
        }
        Ok(SavedAttempt {
            pkce_verifier: kept.verifier,
        })
    }

    fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Always: `sessionStorage` answers at once.
    fn never_blocks(&self) -> bool {
        true
    }
}

impl fmt::Debug for SessionStorageAttemptStore {
    /// The lifetime only: never a state or a verifier.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionStorageAttemptStore")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}
