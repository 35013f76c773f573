//! What the two modes' transports share: how a failure of their HTTP
//! client is classified ([`classify`]), so that the same failure is the same
//! [`HttpErrorKind`](crate::HttpErrorKind) in both modes, and so gets the
//! same retry decision.
//!
//! Each mode's transport is in this folder too (`ureq.rs`, `reqwest.rs`),
//! compiled by its mode module (`blocking.rs`, `asynchronous.rs`).

pub(crate) mod classify;
