//! spotify-auth (work in progress).
#![deny(unused_must_use)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod asynchronous;
mod authorize;
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
pub mod cache;
#[cfg(any(feature = "blocking", feature = "async"))]
mod callback;
mod config;
mod error;
mod retry;
pub mod scopes;
mod secret;
mod session;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod token;

pub use authorize::pkce_challenge;
pub use cache::{CacheLock, FileTokenCache, InMemoryTokenCache, TokenCache};
pub use config::{
    AuthorizationCodeBuilder, BackoffHook, ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_REDIRECT_URI,
    SPOTIFY_AUTHORIZE_URL, SPOTIFY_TOKEN_URL,
};
pub use error::{Error, ErrorBody, HttpErrorKind, Result};
pub use retry::RetryPolicy;
pub use scopes::Scopes;
pub use secret::{AccessToken, AuthCode, ClientSecret, PkceVerifier, RefreshToken};
pub use token::TokenInfo;

/// The async `AuthorizationCode`.
#[cfg(feature = "async")]
pub use asynchronous::AuthorizationCode as AsyncAuthorizationCode;
/// The blocking `AuthorizationCode` (the name the original documentation uses).
#[cfg(feature = "blocking")]
pub use blocking::AuthorizationCode;

/// The `User-Agent` of the library's own HTTP clients.
#[cfg(any(feature = "blocking", feature = "async"))]
const USER_AGENT: &str = concat!("spotify-auth/", env!("CARGO_PKG_VERSION"));
