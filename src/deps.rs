//! The crates whose types are part of this crate's public API, re-exported,
//! so that a program uses exactly the versions this crate was built with.
//!
//! A few signatures take or return another crate's types: the HTTP client
//! each mode is built on, the middleware traits its `WebApiMiddleware`
//! implements, a Redis client, a rustls configuration, a keyring-core
//! credential store. A type from another *version* of one of these crates
//! (another `reqwest`, say, in your `Cargo.toml`) is a different type, and
//! does not fit. Either depend on the version below (`cargo tree -i reqwest`
//! shows which one your build has), or name the types through this module:
//!
//! ```
//! # #[cfg(feature = "async")]
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use spotify_auth::AsyncAuthorizationCode;
//! use spotify_auth::deps::{reqwest, rustls};
//!
//! // An async client trusting a private CA (a proxy that inspects TLS).
//! let mut roots = rustls::RootCertStore::empty();
//! # let your_ca_certificates: Vec<rustls::pki_types::CertificateDer<'static>> = Vec::new();
//! roots.add_parsable_certificates(your_ca_certificates);
//! let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
//!         rustls::crypto::ring::default_provider(),
//!     ))
//!     .with_safe_default_protocol_versions()?
//!     .with_root_certificates(roots)
//!     .with_no_client_auth();
//! let client = reqwest::Client::builder()
//!     .tls_backend_preconfigured(tls)
//!     .build()?;
//! let auth = AsyncAuthorizationCode::builder()
//!     .client_id("your-client-id")
//!     .redirect_uri("http://127.0.0.1:8888/callback")
//!     .http_client(client)
//!     .build()?;
//! # let _ = auth;
//! # Ok(())
//! # }
//! ```
//!
//! | crate | version | feature | where it shows |
//! |---|---|---|---|
//! | [`ureq`] | 3 (3.1 or later) | `blocking` | [`blocking::HttpClient`](crate::blocking::HttpClient) is `ureq::Agent` (the builder's `http_client`, `default_http_client`); [`blocking::WebApiMiddleware`](crate::blocking::WebApiMiddleware) is a `ureq::middleware::Middleware` |
//! | [`reqwest`] | 0.13 | `async` | [`asynchronous::HttpClient`](crate::asynchronous::HttpClient) is `reqwest::Client` |
//! | [`reqwest_middleware`] | 0.5 (0.5.2 or later) | `async` | [`asynchronous::WebApiMiddleware`](crate::asynchronous::WebApiMiddleware) is a `reqwest_middleware::Middleware` |
//! | [`http`] | 1 | `async` | `http::Extensions`, in `reqwest_middleware::Middleware::handle` (blocking: ureq re-exports it as `ureq::http`) |
//! | [`rustls`] | 0.23 | `async` or `redis` | `RedisStore::with_tls_config` takes an `Arc<rustls::ClientConfig>`; an async client of your own needs one (reqwest is built without a crypto provider of its own): `reqwest::ClientBuilder::tls_backend_preconfigured`, as above |
//! | [`redis`] | 0.32 | `redis` | `RedisStore::from_client` and `RedisTokenCache::from_client` take a `redis::Client` |
//! | [`keyring_core`] | 1 (1.1 or later) | `keyring` | `KeyringTokenCache::in_store` takes, and `KeyringTokenCache::platform_store` returns, an `Arc<keyring_core::CredentialStore>` |
//!
//! Not re-exported, because their major version is stable and any 1.x
//! fits: `serde` 1 ([`TokenInfo`](crate::TokenInfo) implements its
//! `Serialize` and `Deserialize`) and `tokio` 1 (the async API runs on a
//! tokio runtime, and spawns onto it; no tokio type is in a signature).
//!
//! A new major version of one of the crates above (reqwest 0.14, say) is a
//! breaking change of this crate, named in the README's changelog.
//!
//! A module of its own rather than re-exports at the crate's root: the root
//! stays this crate's own names, and each version above is stated once,
//! here.

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
#[doc(no_inline)]
pub use http;
#[cfg(feature = "keyring")]
#[cfg_attr(docsrs, doc(cfg(feature = "keyring")))]
#[doc(no_inline)]
pub use keyring_core;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[doc(no_inline)]
pub use redis;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
#[doc(no_inline)]
pub use reqwest;
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
#[doc(no_inline)]
pub use reqwest_middleware;
// (Not on wasm32, where the browser does TLS.)
#[cfg(all(any(feature = "async", feature = "redis"), not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "async", feature = "redis"))))]
#[doc(no_inline)]
pub use rustls;
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
#[doc(no_inline)]
pub use ureq;

#[cfg(test)]
mod tests {
    /// The versions the table above states are the ones `Cargo.toml` asks
    /// for: `(dependency, requirement prefix)`.
    const STATED: &[(&str, &str)] = &[
        ("ureq", "3.1"),
        ("reqwest", "0.13"),
        ("reqwest-middleware", "0.5"),
        ("http", "1"),
        ("rustls", "0.23"),
        ("redis", "0.32"),
        ("keyring-core", "1.1"),
        ("serde", "1"),
        ("tokio", "1."),
    ];

    #[test]
    fn the_stated_versions_are_the_manifests() {
        let manifest = include_str!("../Cargo.toml");
        let dependencies = manifest
            .split("\n[dependencies]\n")
            .nth(1)
            .and_then(|rest| rest.split("\n[dev-dependencies]").next())
            .expect("a [dependencies] table");
        for (name, stated) in STATED {
            let line = dependencies
                .lines()
                .find(|l| l.starts_with(&format!("{name} = ")))
                .unwrap_or_else(|| panic!("{name} is not a dependency"));
            let requirement = line
                .split('"')
                .nth(1)
                .unwrap_or_else(|| panic!("{name}: no version in {line:?}"));
            assert!(
                requirement.starts_with(stated),
                "{name}: Cargo.toml asks for {requirement:?}, src/deps.rs states {stated:?}"
            );
        }
    }
}
