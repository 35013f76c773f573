//! Feature `tracing`: never a secret in a span or an event.
//!
//! One global subscriber (`tracing_support/capture.rs`) writes every span
//! and event of this process, at every level and with every field, into a
//! string; each test runs the same lifecycle (`tracing_support/scenario.rs`)
//! in one mode, then checks that the capture shows what the lifecycle did,
//! and holds none of the secrets it involved: the client secret, every
//! access and refresh token, authorization code, PKCE verifier and state.
//! The caches' events (lock waits; Redis locks taken, renewed, lost) are
//! checked too, without a Redis password or lock owner token.
#![cfg(feature = "tracing")]

#[path = "tracing_support/capture.rs"]
mod capture;

#[path = "tracing_support/cache.rs"]
mod cache;

#[cfg(all(feature = "redis", any(feature = "blocking", feature = "async")))]
mod common;
#[cfg(all(feature = "redis", any(feature = "blocking", feature = "async")))]
mod redis_support;

#[cfg(feature = "blocking")]
#[path = "tracing_support/blocking.rs"]
mod blocking;

#[cfg(feature = "async")]
#[path = "tracing_support/asynchronous.rs"]
mod asynchronous;
