//! [`InMemoryStore`]: the tokens of many users in this process's memory,
//! one shared [`InMemoryTokenCache`] per key, and a logout written through
//! any handle heard at once by the flows of every other handle of its key.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{CacheLock, EndReason, EndedListener, Entry, InMemoryTokenCache, TokenCache};
use crate::Result;

/// The tokens of many users, kept in this process's memory: a cache per
/// key, every handle of a key sharing one token and one refresh lock, for
/// a single-process service and for tests (a [`RedisStore`](crate::RedisStore)
/// is its counterpart across processes and machines).
///
/// ```
/// use spotify_auth::{InMemoryStore, TokenCache};
///
/// let store = InMemoryStore::new(); // clones share the tokens
/// let (a, b) = (store.cache("alice"), store.cache("alice"));
/// assert!(a.get()?.is_none());
/// b.clear()?; // a logout, seen by every handle of "alice"
/// assert!(a.read()?.is_some_and(|entry| entry.ended().is_some()));
/// # Ok::<(), spotify_auth::Error>(())
/// ```
///
/// A logout written through one handle (`logout()` of a flow, or
/// [`clear`](TokenCache::clear)) tells the flows built on the key's other
/// handles at once (see [`TokenCache::watch_ended`]): they hand out their
/// token no more. A key is kept while it holds something or has a handle;
/// a key that never held anything is forgotten with its last handle, so
/// requests for made-up users leave nothing behind. Nothing expires: the
/// store holds one entry per user who logged in, as Redis would.
#[derive(Clone, Default)]
pub struct InMemoryStore {
    keys: Arc<Mutex<HashMap<String, Arc<Shared>>>>,
}

/// What every handle of one key shares.
#[derive(Default)]
struct Shared {
    cache: InMemoryTokenCache,
    /// The flows' listeners, by the id of the handle that registered them.
    listeners: Mutex<Vec<(u64, EndedListener)>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle on the cache of `key`: every handle of one key (of this
    /// store or a clone of it) shares its token and its lock.
    pub fn cache(&self, key: impl AsRef<str>) -> InMemoryStoreCache {
        let key = key.as_ref();
        let shared = locked(&self.keys)
            .entry(key.to_owned())
            .or_default()
            .clone();
        InMemoryStoreCache {
            id: next_id(),
            key: key.to_owned(),
            shared,
            store: self.clone(),
        }
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        locked(&self.keys).len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryStore")
            .field("keys", &self.len())
            .finish()
    }
}

/// One handle on a key of an [`InMemoryStore`]; give it to a flow's
/// `token_cache`. `Debug` shows the key.
pub struct InMemoryStoreCache {
    id: u64,
    key: String,
    shared: Arc<Shared>,
    store: InMemoryStore,
}

impl InMemoryStoreCache {
    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl TokenCache for InMemoryStoreCache {
    fn read(&self) -> Result<Option<Entry>> {
        self.shared.cache.read()
    }

    /// Stores `entry` for every handle of the key; a logout record is
    /// then told to the flows of every handle.
    fn write(&self, entry: &Entry, lock: &CacheLock) -> Result<()> {
        self.shared.cache.write(entry, lock)?;
        if entry
            .ended()
            .is_some_and(|ended| ended.reason() == EndReason::Logout)
        {
            let listeners: Vec<EndedListener> = locked(&self.shared.listeners)
                .iter()
                .map(|(_, l)| l.clone())
                .collect();
            for listener in listeners {
                listener.notify();
            }
        }
        Ok(())
    }

    fn lock(&self) -> Result<CacheLock> {
        self.shared.cache.lock()
    }

    fn try_lock(&self) -> Result<Option<CacheLock>> {
        self.shared.cache.try_lock()
    }

    /// Kept until this handle is dropped.
    fn watch_ended(&self, listener: EndedListener) {
        locked(&self.shared.listeners).push((self.id, listener));
    }

    fn never_blocks(&self) -> bool {
        self.shared.cache.never_blocks()
    }
}

impl Drop for InMemoryStoreCache {
    /// Forgets this handle's listeners, and the key when it never held
    /// anything and this was its last handle.
    fn drop(&mut self) {
        locked(&self.shared.listeners).retain(|(id, _)| *id != self.id);
        let mut keys = locked(&self.store.keys);
        // The map's reference and this handle's: no other handle.
        let unused =
            Arc::strong_count(&self.shared) == 2 && matches!(self.shared.cache.read(), Ok(None));
        if unused {
            keys.remove(&self.key);
        }
    }
}

impl fmt::Debug for InMemoryStoreCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryStoreCache")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A fresh handle id.
fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every state of the map and the lists is valid whatever a panicking
    // holder was doing.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_logout_reaches_the_listeners_of_every_handle_and_only_then() {
        let store = InMemoryStore::new();
        let (a, b, other) = (store.cache("k"), store.cache("k"), store.cache("x"));
        let heard = Arc::new(AtomicUsize::new(0));
        for cache in [&a, &b, &other] {
            let heard = heard.clone();
            cache.watch_ended(EndedListener::new(move || {
                heard.fetch_add(1, Ordering::SeqCst);
            }));
        }
        let token = crate::TokenInfo::from_json(
            br#"{"access_token":"a","token_type":"Bearer","expires_in":3600,"expires_at":9999999999,"refresh_token":"r","scope":null}"#,
        )
        .unwrap();
        a.set(&token).unwrap();
        assert_eq!(heard.load(Ordering::SeqCst), 0, "a token is no logout");
        assert!(b.get().unwrap().is_some(), "one token per key");
        a.clear().unwrap();
        assert_eq!(heard.load(Ordering::SeqCst), 2, "both handles of k, not x");
        drop(b);
        a.clear().unwrap();
        assert_eq!(heard.load(Ordering::SeqCst), 3, "b's listener went with b");
    }

    #[test]
    fn keys_that_never_held_anything_go_with_their_last_handle() {
        let store = InMemoryStore::new();
        let (a, b) = (store.cache("empty"), store.cache("empty"));
        drop(a);
        assert_eq!(store.len(), 1, "b still holds it");
        drop(b);
        assert!(store.is_empty());
        let kept = store.cache("kept");
        kept.clear().unwrap();
        drop(kept);
        assert_eq!(store.len(), 1, "a logout record is kept");
    }
}
