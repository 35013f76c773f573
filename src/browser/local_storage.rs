//! [`LocalStorageTokenCache`]: the login in `localStorage`, shared by every
//! tab of the origin, refreshed once between them under a Web Lock.

use std::cell::RefCell;
use std::fmt;

use send_wrapper::SendWrapper;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::{js_failure, storage, web_lock};
use crate::cache::{EndedListener, LockFuture};
use crate::{CacheLock, Entry, Error, Result, TokenCache};

/// The `localStorage` key [`LocalStorageTokenCache::new`] uses.
pub const DEFAULT_KEY: &str = "spotify-auth:token";

/// A storage-event listener registered on the page, removed with the cache.
type StorageListener = Closure<dyn FnMut(web_sys::StorageEvent)>;

/// The login in the browser's `localStorage` under one key: shared by every
/// tab and window of the origin, and kept across reloads.
///
/// Built for the async API on wasm32 (the browser), it keeps the token
/// lifecycle of every other store:
///
/// - **One refresh for all tabs.** Refreshes are serialised by an exclusive
///   Web Lock (`navigator.locks`) named after the key: two tabs whose token
///   expired make one refresh request, and the second reads the token the
///   first stored. The browser releases a closed tab's lock.
/// - **A logout is a record.** [`AuthorizationCode::logout`] in one tab
///   writes a record naming the refresh token it ended; the other tabs hear
///   of it at once (the `storage` event) and hand out no token after it,
///   and the refresh token is never sent again. A key removed by hand (or
///   `localStorage.clear()`) is *unknown*, not a logout: a tab still
///   holding the login writes it back.
/// - **Nothing secret in errors**: a value that cannot be parsed is
///   reported without its content; `Debug` shows the key only.
///
/// ```no_run
/// # async fn run() -> spotify_auth::Result<()> {
/// use std::sync::Arc;
/// use spotify_auth::asynchronous::AuthorizationCode;
/// use spotify_auth::browser::LocalStorageTokenCache;
///
/// let auth = AuthorizationCode::builder()
///     .client_id("your-client-id")
///     .redirect_uri("https://example.com/callback")
///     .token_cache(LocalStorageTokenCache::new()?)
///     .build()?;
/// let token = auth.get_access_token().await?; // a refresh, once across tabs, when due
/// # Ok(()) }
/// ```
///
/// Its lock is a Web Lock, which is granted asynchronously: the flows of
/// the async API take it themselves. The synchronous
/// [`lock`](TokenCache::lock) (and so [`set`](TokenCache::set) and
/// [`clear`](TokenCache::clear)) cannot wait for it on the page's only
/// thread and fail with [`Error::Cache`]: log out with
/// [`AuthorizationCode::logout`].
///
/// `localStorage` holds the refresh token in the clear, readable by any
/// script of the origin: an application that cannot rule out script
/// injection should keep the login in memory only (the default cache) and
/// log in again per visit. In a worker there is no `localStorage`: building
/// one fails there.
///
/// [`AuthorizationCode::logout`]: crate::asynchronous::AuthorizationCode::logout
pub struct LocalStorageTokenCache {
    key: String,
    lock_name: String,
    /// The `storage` listeners of [`watch_ended`](TokenCache::watch_ended),
    /// removed from the page when the cache is dropped.
    listeners: SendWrapper<RefCell<Vec<StorageListener>>>,
}

impl LocalStorageTokenCache {
    /// The cache under the key `"spotify-auth:token"`
    /// ([`DEFAULT_KEY`]).
    ///
    /// Errors: [`Error::Cache`] when this page has no `localStorage` (a
    /// worker; storage disabled by the user) or no Web Locks API (not a
    /// secure context: serve the page over https, or http on 127.0.0.1).
    pub fn new() -> Result<Self> {
        Self::with_key(DEFAULT_KEY)
    }

    /// The cache under `key`: one key per login (say, per app user of a
    /// page that keeps several). The Web Lock is named `"{key}:lock"`.
    ///
    /// Errors: as [`new`](Self::new).
    pub fn with_key(key: impl Into<String>) -> Result<Self> {
        storage::local()?;
        web_lock::available()?;
        let key = key.into();
        Ok(Self {
            lock_name: format!("{key}:lock"),
            key,
            listeners: SendWrapper::new(RefCell::new(Vec::new())),
        })
    }

    /// The `localStorage` key the login is kept under.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl TokenCache for LocalStorageTokenCache {
    /// The entry under the key; `None` when there is none.
    ///
    /// Errors: [`Error::Cache`] when `localStorage` cannot be read, or holds
    /// something other than an entry under the key (its content is not
    /// repeated).
    fn read(&self) -> Result<Option<Entry>> {
        let Some(json) = storage::local()?
            .get_item(&self.key)
            .map_err(|e| js_failure("localStorage.getItem", &e))?
        else {
            return Ok(None);
        };
        Entry::from_json(json.as_bytes())
            .map(Some)
            .map_err(|message| Error::cache(format!("localStorage[{:?}]: {message}", self.key)))
    }

    /// Stores `entry` under the key (one `setItem`: whole or not at all).
    ///
    /// Errors: [`Error::Cache`] when `localStorage` refuses it (its quota).
    fn write(&self, entry: &Entry, _lock: &CacheLock) -> Result<()> {
        storage::local()?
            .set_item(&self.key, &entry.to_json())
            .map_err(|e| js_failure("localStorage.setItem", &e))
    }

    /// Always an [`Error::Cache`]: the lock is a Web Lock, granted
    /// asynchronously ([`lock_async`](TokenCache::lock_async)), which a
    /// synchronous call cannot wait for in a browser. The flows of the
    /// async API take it themselves; log out with their `logout()`.
    fn lock(&self) -> Result<CacheLock> {
        Err(Error::cache(
            "LocalStorageTokenCache's lock is a Web Lock, taken by the async API's \
                      flows: log out with AuthorizationCode::logout(), not TokenCache::clear()",
        ))
    }

    /// Takes the exclusive Web Lock `"{key}:lock"`, shared by every tab
    /// and worker of the origin.
    fn lock_async(&self, wait: bool) -> Option<LockFuture> {
        Some(web_lock::take(self.lock_name.clone(), wait))
    }

    /// Listens for `storage` events (another tab writing the key): a
    /// logout record written there calls `listener`.
    fn watch_ended(&self, listener: EndedListener) {
        let key = self.key.clone();
        let on_storage = Closure::<dyn FnMut(web_sys::StorageEvent)>::new(
            move |event: web_sys::StorageEvent| {
                if event.key().as_deref() != Some(key.as_str()) {
                    return;
                }
                let ended = event
                    .new_value()
                    .and_then(|json| Entry::from_json(json.as_bytes()).ok())
                    .is_some_and(|entry| matches!(entry, Entry::Ended(_)));
                if ended {
                    listener.notify();
                }
            },
        );
        let Ok(target) = js_sys::global().dyn_into::<web_sys::EventTarget>() else {
            return;
        };
        if target
            .add_event_listener_with_callback("storage", on_storage.as_ref().unchecked_ref())
            .is_ok()
        {
            self.listeners.borrow_mut().push(on_storage);
        }
    }
}

impl Drop for LocalStorageTokenCache {
    fn drop(&mut self) {
        let Ok(target) = js_sys::global().dyn_into::<web_sys::EventTarget>() else {
            return;
        };
        for listener in self.listeners.borrow_mut().drain(..) {
            let _ = target
                .remove_event_listener_with_callback("storage", listener.as_ref().unchecked_ref());
        }
    }
}

impl fmt::Debug for LocalStorageTokenCache {
    /// The key only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalStorageTokenCache")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
