//! Spotify's OAuth 2.0 Authorization Code flow, with a blocking API and an
//! async API generated from one core.
//!
//! Log a user in through the browser once, then get access tokens for months:
//! tokens are cached (in memory, or in a file with mode 0600 written
//! atomically), refreshed before they expire with one request however many
//! callers ask at once, and retried with backoff on network and server errors.
//! Clients without a secret use PKCE.
//!
//! # Blocking
//!
//! ```no_run
//! # #[cfg(feature = "blocking")]
//! # fn main() -> Result<(), spotify_auth::Error> {
//! use spotify_auth::{scopes, AuthorizationCode, FileTokenCache};
//!
//! let auth = AuthorizationCode::builder()
//!     .client_id("your-client-id")              // or $SPOTIFY_SDK_CLIENT_ID
//!     .redirect_uri("http://127.0.0.1:8888/callback")
//!     .scope([scopes::USER_READ_EMAIL, scopes::USER_TOP_READ])
//!     .token_cache(FileTokenCache::default())   // .spotify_sdk_token.json
//!     .build()?;
//!
//! // Send the user here, then take the code from the redirect.
//! let url = auth.get_authorization_url(Some("a-random-state"), None, false)?;
//! println!("open {url}");
//! let code = auth.parse_response_url(
//!     "http://127.0.0.1:8888/callback?code=...&state=a-random-state",
//!     Some("a-random-state"),
//! )?;
//! auth.exchange_code(code)?;
//!
//! // From now on, and in later runs: a valid token, refreshed when needed.
//! let token = auth.get_access_token()?;
//! # let _ = token;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "blocking"))]
//! # fn main() {}
//! ```
//!
//! # Async
//!
//! ```no_run
//! # #[cfg(feature = "async")]
//! # async fn run() -> spotify_auth::Result<()> {
//! use spotify_auth::{AsyncAuthorizationCode, FileTokenCache};
//!
//! let auth = AsyncAuthorizationCode::builder()
//!     .client_id("your-client-id")
//!     .redirect_uri("http://127.0.0.1:8888/callback")
//!     .token_cache(FileTokenCache::default())
//!     .build()?;
//! let token = auth.get_access_token().await?;
//! # let _ = token;
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | gives |
//! |---|---|---|
//! | `blocking` | yes | [`blocking`] (ureq) and the root alias [`AuthorizationCode`]; its Web API middleware, [`blocking::WebApiMiddleware`] (a ureq middleware: no crate more) |
//! | `async` | no | [`asynchronous`] (reqwest, tokio) and the root alias [`AsyncAuthorizationCode`]; its Web API middleware, [`asynchronous::WebApiMiddleware`] (reqwest-middleware 0.5: three small crates more, so it comes with the async API rather than behind a feature of its own) |
//! | `testing` | no | `testing`: a fake Spotify accounts server on loopback |
//! | `redis` | no | [`RedisTokenCache`], [`RedisStore`]: tokens shared by several machines, with a renewed, fenced refresh lock, one connection pool per server and a watch that hears of logouts; `RedisAttemptStore`: logins in progress shared by replicas |
//! | `encryption` | no | [`SealedCache`]: tokens sealed at rest (XChaCha20-Poly1305, RustCrypto) with the app's key, around any cache (Redis, file, your own); key rotation, tokens stored in the clear re-sealed in place |
//! | `keyring` | no | [`KeyringTokenCache`]: the login in the OS credential store (Secret Service on Linux and the BSDs, Keychain on macOS, Credential Manager on Windows), with a lock file for cross-process single flight |
//! | `cli` | no | the `spotify-auth` command-line tool (with `keyring`: it keeps logins in the OS credential store where there is one) |
//! | `tracing` | no | spans and events through [`tracing`](https://docs.rs/tracing) under the targets `spotify_auth::flow`, `spotify_auth::callback` and `spotify_auth::cache`: token requests and their retries, single-flight refreshes, tokens adopted and stored, cache locks, the callback server; never a secret in a field |
//!
//! Both modes also have a Client Credentials flow (`ClientCredentials`,
//! app-only tokens) built from the same source. Both verify TLS with rustls
//! (ring) against the operating system's trust store, and install nothing
//! process-wide.
//!
//! # A login that lasts
//!
//! A token Spotify issued is adopted in memory before it is written to the
//! cache, so a failed write never loses it (it is retried; see
//! `cache_write_error`); in the async API a refresh that may have been sent
//! runs to its end even if its caller is cancelled, and `close()` waits for
//! it; instances sharing a cache refresh once between them (in-memory, file
//! and Redis locks); a logout is a record in the store ([`Entry`]), and a
//! store that lost its data is written back by the instances holding the
//! login; inside the refresh margin a valid token is returned at once while
//! one refresh runs beside the callers; only `invalid_grant` ends a login;
//! `force_refresh()` answers a Web API 401, and each mode's
//! [`middleware`] does it for you (the token on requests to the Web API
//! only, one refresh and one retry on a 401, `Retry-After` on a 429). For services with many users:
//! a [`UserRegistry`] builds one instance per user from one template
//! (bounded; an eviction loses nothing), all sharing one HTTP client;
//! `RedisStore` shares one connection pool; an [`AttemptStore`]
//! (`RedisStore::attempt_store`, [`InMemoryAttemptStore`]) keeps the
//! logins in progress so that `authorization_attempt` and
//! `exchange_code_with_verifier` run on different replicas, each attempt
//! taken once; and a logout on one replica stops every replica's instance
//! of the user within a second (the store's watch, see
//! [`TokenCache::watch_ended`]).
//!
//! # In the browser (wasm32)
//!
//! On `wasm32-unknown-unknown` the async API (`default-features = false,
//! features = ["async"]`) runs in the page over the browser's `fetch`, and
//! `spotify_auth::browser` (wasm32 only) adds what a page needs: the login
//! in progress kept in `sessionStorage` across the redirect, the login in
//! `localStorage`, refreshed once across tabs under a Web Lock, and a
//! logout in one tab seen by the others. What needs an operating system
//! (the blocking API, `authorize_local`, `FileTokenCache`, Redis, the
//! keychain, the fake server, the CLI) is a compile error there. See the
//! README's "Browser (wasm32)".
//!
//! # Other crates' types, and types that grow
//!
//! A few signatures use another crate's types (the modes' HTTP clients,
//! the middleware traits, `redis::Client`, `rustls::ClientConfig`,
//! keyring-core's store): [`deps`] re-exports those crates and states their
//! versions (ureq 3, reqwest 0.13, reqwest-middleware 0.5, http 1,
//! rustls 0.23, redis 0.32, keyring-core 1). Depend on the same versions,
//! or name the types as `spotify_auth::deps::reqwest::Client` and so on.
//!
//! The data types that may gain fields or variants are `#[non_exhaustive]`
//! ([`TokenInfo`], [`RetryPolicy`], [`Error`] and its variants, [`Entry`],
//! ...): build them with their constructors and `with_*` setters
//! ([`TokenInfo::new`], [`RetryPolicy::new`], [`Error::cache`]), and
//! `match` them with a `_` arm and `..` in patterns.
//!
//! Features are additive: with both on, a program can use both APIs side by
//! side. Both are the same source (`flow.rs`), compiled once as blocking code
//! and once as async code; everything without I/O (URLs, parsing, caches, the
//! retry policy) is compiled once and shared.
#![deny(unused_must_use)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// wasm32 (the browser, edge workers): the async API only. What needs an
// operating system is absent there, and asking for it is an error now rather
// than a failure at run time.
#[cfg(all(target_arch = "wasm32", feature = "blocking"))]
compile_error!(
    "spotify-auth: the blocking API (feature `blocking`, on by default) does not exist on wasm32 \
     (no threads, no blocking I/O): use `default-features = false, features = [\"async\"]`"
);
#[cfg(all(target_arch = "wasm32", feature = "cli"))]
compile_error!("spotify-auth: the command-line tool (feature `cli`) does not exist on wasm32");
#[cfg(all(target_arch = "wasm32", feature = "redis"))]
compile_error!(
    "spotify-auth: `RedisTokenCache` (feature `redis`) does not exist on wasm32 (no sockets)"
);
#[cfg(all(target_arch = "wasm32", feature = "keyring"))]
compile_error!(
    "spotify-auth: `KeyringTokenCache` (feature `keyring`) does not exist on wasm32 (no OS credential store): \
     use `spotify_auth::browser::LocalStorageTokenCache`"
);
#[cfg(all(target_arch = "wasm32", feature = "testing"))]
compile_error!(
    "spotify-auth: `FakeSpotify` (feature `testing`) does not exist on wasm32 (it is a server): \
     run it natively and point the page at it (see the README's \"Browser (wasm32)\")"
);

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod asynchronous;
#[cfg(any(feature = "blocking", feature = "async"))]
mod attempt_store;
#[cfg(any(feature = "blocking", feature = "async"))]
mod attempts;
#[cfg(any(feature = "blocking", feature = "async"))]
mod authorize;
#[cfg(all(feature = "blocking", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
#[cfg(all(feature = "async", target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "async", target_arch = "wasm32"))))]
pub mod browser;
pub mod cache;
#[cfg(all(
    any(feature = "blocking", feature = "async"),
    not(target_arch = "wasm32")
))]
mod callback;
mod clock;
#[cfg(any(feature = "blocking", feature = "async"))]
mod config;
pub mod deps;
mod entry;
mod error;
#[cfg(any(feature = "blocking", feature = "async"))]
mod exchanged;
#[cfg(all(fuzzing, any(feature = "blocking", feature = "async")))]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(any(feature = "blocking", feature = "async"))]
mod lineage;
#[cfg(all(
    any(feature = "blocking", feature = "async"),
    not(target_arch = "wasm32")
))]
mod local;
#[cfg(any(feature = "blocking", feature = "async"))]
pub mod middleware;
mod observe;
#[cfg(all(test, feature = "blocking"))]
mod properties;
#[cfg(any(feature = "blocking", feature = "async"))]
mod reconcile;
mod recovery;
#[cfg(any(feature = "blocking", feature = "async"))]
mod registry;
#[cfg(any(feature = "blocking", feature = "async"))]
mod retry;
pub mod scopes;
mod secret;
#[cfg(any(feature = "blocking", feature = "async"))]
mod session;
#[cfg(all(feature = "testing", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(all(
    any(feature = "blocking", feature = "async", feature = "testing"),
    not(target_arch = "wasm32")
))]
mod tiny_http_pool;
mod token;
// Classifying the native clients' failures (rustls's errors among them).
#[cfg(all(
    any(feature = "blocking", feature = "async"),
    not(target_arch = "wasm32")
))]
mod transport;

#[cfg(any(feature = "blocking", feature = "async"))]
pub use attempt_store::{AttemptStore, InMemoryAttemptStore, SavedAttempt};
#[cfg(any(feature = "blocking", feature = "async"))]
pub use attempts::AuthorizationAttempt;
#[cfg(not(target_arch = "wasm32"))]
pub use cache::FileTokenCache;
#[cfg(all(feature = "keyring", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "keyring")))]
pub use cache::KeyringTokenCache;
#[cfg(all(
    feature = "redis",
    any(feature = "blocking", feature = "async"),
    not(target_arch = "wasm32")
))]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use cache::RedisAttemptStore;
pub use cache::{
    CacheLock, EndedListener, InMemoryStore, InMemoryStoreCache, InMemoryTokenCache, LockFuture,
    TokenCache,
};
#[cfg(feature = "encryption")]
#[cfg_attr(docsrs, doc(cfg(feature = "encryption")))]
pub use cache::{KeyId, SealedCache, SealingKey, SealingKeys};
#[cfg(all(feature = "redis", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use cache::{RedisStore, RedisTokenCache};
#[cfg(any(feature = "blocking", feature = "async"))]
pub use config::{
    AuthorizationCodeBuilder, AuthorizationCodeGrant, BackoffHook, ClientBuilder,
    ClientCredentialsBuilder, ClientCredentialsGrant, ENV_CLIENT_ID, ENV_CLIENT_SECRET,
    ENV_REDIRECT_URI, SPOTIFY_AUTHORIZE_URL, SPOTIFY_TOKEN_URL,
};
pub use entry::{EndReason, Entry, LoginEnded, SealedEntry};
pub use error::{Error, ErrorBody, ErrorSource, HttpErrorKind, Result};
#[cfg(all(
    any(feature = "blocking", feature = "async"),
    not(target_arch = "wasm32")
))]
pub use local::{AuthorizeLocalOptions, UrlHandler};
pub use recovery::Recovery;
#[cfg(any(feature = "blocking", feature = "async"))]
pub use registry::{PerUserFlow, UserRegistry};
#[cfg(any(feature = "blocking", feature = "async"))]
pub use retry::RetryPolicy;
pub use scopes::Scopes;
pub use secret::{AccessToken, AuthCode, ClientSecret, PkceVerifier, RefreshToken, pkce_challenge};
pub use token::{LOGIN_LIFETIME, TokenInfo};

/// The async `AuthorizationCode`.
#[cfg(feature = "async")]
pub use asynchronous::AuthorizationCode as AsyncAuthorizationCode;
/// The async `ClientCredentials`.
#[cfg(feature = "async")]
pub use asynchronous::ClientCredentials as AsyncClientCredentials;
/// The blocking `AuthorizationCode` (the name the original documentation uses).
#[cfg(all(feature = "blocking", not(target_arch = "wasm32")))]
pub use blocking::AuthorizationCode;
/// The blocking `ClientCredentials`.
#[cfg(all(feature = "blocking", not(target_arch = "wasm32")))]
pub use blocking::ClientCredentials;

/// The README's code blocks, compiled (and run where they need no Spotify)
/// as doctests in the build that has every feature they use.
#[cfg(all(
    doctest,
    feature = "blocking",
    feature = "async",
    feature = "redis",
    feature = "encryption",
    feature = "keyring"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The `User-Agent` of the library's own HTTP clients (in a browser,
/// `fetch` sends the browser's own).
#[cfg(all(
    any(feature = "blocking", feature = "async"),
    not(target_arch = "wasm32")
))]
const USER_AGENT: &str = concat!("spotify-auth/", env!("CARGO_PKG_VERSION"));
