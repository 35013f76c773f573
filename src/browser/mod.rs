//! Logging users in from the browser (wasm32, feature `async`): a public
//! client with PKCE, the login kept in `localStorage` and refreshed once
//! across tabs.
//!
//! The flow is the async API's ([`crate::asynchronous`]), the same code as
//! on a server; this module adds what only a browser has:
//!
//! - [`SessionStorageAttemptStore`]: the login in progress of this tab
//!   (state and PKCE verifier), kept across the redirect to Spotify and
//!   taken once when the page comes back;
//! - [`LocalStorageTokenCache`]: the login, shared by the origin's tabs,
//!   refreshed under a Web Lock (`navigator.locks`) so that two tabs make
//!   one refresh request, and a logout in one tab seen by the others;
//! - [`finish_login`]: the callback's attempt taken, its code checked and
//!   exchanged.
//!
//! ```no_run
//! # async fn run() -> spotify_auth::Result<()> {
//! use spotify_auth::AttemptStore;
//! use spotify_auth::asynchronous::AuthorizationCode;
//! use spotify_auth::browser::{self, LocalStorageTokenCache, SessionStorageAttemptStore};
//!
//! let auth = AuthorizationCode::builder()
//!     .client_id("your-client-id") // no secret: a public client, PKCE
//!     .redirect_uri("https://example.com/") // this page, registered with Spotify
//!     .scope("user-read-email")
//!     .token_cache(LocalStorageTokenCache::new()?)
//!     .build()?;
//! let attempts = SessionStorageAttemptStore::new()?;
//! let here = web_sys::window().unwrap().location().href().unwrap();
//!
//! if browser::is_callback(&here) {
//!     // Back from Spotify: the code exchanged once, the login stored.
//!     browser::finish_login(&auth, &attempts, SessionStorageAttemptStore::TAB, &here).await?;
//! } else if auth.get_access_token().await.is_err() {
//!     // No login yet: to Spotify, with the attempt kept for our return.
//!     let attempt = auth.authorization_attempt(None, false)?;
//!     attempts.save(SessionStorageAttemptStore::TAB, &attempt)?;
//!     web_sys::window().unwrap().location().assign(&attempt.url).unwrap();
//! }
//! let token = auth.get_access_token().await?; // Bearer token for the Web API
//! # Ok(()) }
//! ```
//!
//! (`web_sys` with its `Window` and `Location` features, in your crate.)
//!
//! # What differs from a server
//!
//! - HTTP is the browser's `fetch` (reqwest's wasm backend): the browser's
//!   TLS and trust store, and CORS. Spotify's token endpoint answers CORS
//!   for public clients; a confidential client (a secret) does not belong
//!   in a page.
//! - Tasks run on the page's event loop (`wasm-bindgen-futures`) and sleeps
//!   are JS timers; a refresh that may have been sent still runs to its end
//!   while the page lives.
//! - Absent, as a compile error if asked for: the blocking API (feature
//!   `blocking`, a default one: build with `default-features = false,
//!   features = ["async"]`), `authorize_local` and the callback server,
//!   `FileTokenCache`, `RedisTokenCache` (feature `redis`),
//!   `KeyringTokenCache` (feature `keyring`), `FakeSpotify` (feature
//!   `testing`: run it natively and point the page at it), and the CLI.
//!
//! The README's "Browser (wasm32)" section has a whole example page.

use wasm_bindgen::{JsCast, JsValue};

use crate::asynchronous::AuthorizationCode;
use crate::{AttemptStore, Error, Result, TokenInfo};

mod local_storage;
mod session_storage;
mod web_lock;

pub use local_storage::{DEFAULT_KEY, LocalStorageTokenCache};
pub use session_storage::SessionStorageAttemptStore;

/// Whether `url` (the page's own, `location.href`) is a callback from
/// Spotify: it carries a `state`, and a `code` or an `error`.
pub fn is_callback(url: &str) -> bool {
    let query = crate::authorize::callback_query(url.trim());
    let mut state = false;
    let mut answer = false;
    for (k, _) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "state" => state = true,
            "code" | "error" => answer = true,
            _ => {}
        }
    }
    state && answer
}

/// Finishes the login a callback URL brings back: takes the attempt saved
/// for its state from `attempts` (once), checks the callback against it
/// ([`AuthorizationCode::parse_response_url`]) and exchanges the code with
/// the attempt's verifier
/// ([`AuthorizationCode::exchange_code_with_verifier`]), which stores the
/// login in `auth`'s cache.
///
/// Errors: [`Error::AttemptNotFound`] when the URL has no state, or one
/// this tab saved no attempt for (or took already: a reload of the
/// callback page); [`Error::AuthorizationDenied`] when the user said no;
/// then as [`exchange_code_with_verifier`](AuthorizationCode::exchange_code_with_verifier).
/// The attempt is gone either way: after a failure the user starts again.
pub async fn finish_login(
    auth: &AuthorizationCode,
    attempts: &dyn AttemptStore,
    session: &str,
    callback_url: &str,
) -> Result<TokenInfo> {
    let state = crate::authorize::callback_state(callback_url).ok_or(Error::AttemptNotFound)?;
    let saved = attempts.take(session, &state)?;
    let code = auth.parse_response_url(callback_url, Some(&state))?;
    auth.exchange_code_with_verifier(code, saved.pkce_verifier.as_ref())
        .await
}

/// `localStorage` and `sessionStorage` of this page.
mod storage {
    use super::*;

    fn get(name: &str) -> Result<web_sys::Storage> {
        // Reading the property throws when the user disabled storage.
        let value = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str(name))
            .map_err(|e| js_failure(name, &e))?;
        value.dyn_into::<web_sys::Storage>().map_err(|_| {
            unavailable(&format!(
                "{name} is not available here (a worker has none; a page's may be disabled)"
            ))
        })
    }

    pub(super) fn local() -> Result<web_sys::Storage> {
        get("localStorage")
    }

    pub(super) fn session() -> Result<web_sys::Storage> {
        get("sessionStorage")
    }
}

/// A browser API this module needs is missing.
fn unavailable(message: &str) -> Error {
    Error::cache(message)
}

/// A JavaScript exception thrown by `what`, as an [`Error::Cache`]: its
/// name and message (a `DOMException`'s say what failed, never what was
/// stored).
fn js_failure(what: &str, thrown: &JsValue) -> Error {
    let described = thrown
        .dyn_ref::<js_sys::Error>()
        .map(|e| format!("{}: {}", String::from(e.name()), String::from(e.message())))
        .or_else(|| thrown.as_string())
        .unwrap_or_else(|| "an exception".to_owned());
    Error::cache(format!("{what} failed ({described})"))
}
