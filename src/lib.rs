//! spotify-auth (work in progress).
#![deny(unused_must_use)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authorize;
pub mod cache;
#[cfg(any(feature = "blocking", feature = "async"))]
mod callback;
mod error;
pub mod scopes;
mod secret;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod token;

pub use authorize::pkce_challenge;
pub use cache::{CacheLock, FileTokenCache, InMemoryTokenCache, TokenCache};
pub use error::{Error, ErrorBody, HttpErrorKind, Result};
pub use scopes::Scopes;
pub use secret::{AccessToken, AuthCode, ClientSecret, PkceVerifier, RefreshToken};
pub use token::TokenInfo;

