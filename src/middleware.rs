//! Web API calls without hand-written token handling: a middleware for each
//! mode's HTTP client that puts the user's (or app's) token on requests to
//! the Web API, answers a 401 with one refresh and one retry, and waits out
//! a 429's `Retry-After`.
//!
//! - Blocking: [`blocking::WebApiMiddleware`](crate::blocking::WebApiMiddleware),
//!   a `ureq::middleware::Middleware`.
//! - Async: [`asynchronous::WebApiMiddleware`](crate::asynchronous::WebApiMiddleware),
//!   a `reqwest_middleware::Middleware`.
//!
//! Both take the decisions below from one core, and wrap any of their
//! mode's flows (`AuthorizationCode`, `ClientCredentials`, or your own
//! `TokenSource`).
//!
//! # What they do
//!
//! - **Only the API's origin gets the token.** A request carries
//!   `Authorization: Bearer …` only when its scheme, host and port are the
//!   API's ([`SPOTIFY_API_ORIGIN`], or [`WebApiPolicy::api_origin`] for a
//!   test server or a proxy); any other request passes through untouched. A
//!   request that already has an `Authorization` header is left as it is
//!   (and gets no retries).
//! - **A redirect never takes the token elsewhere.** Async: reqwest drops
//!   `Authorization` on a redirect to another origin (scheme, host or port),
//!   whatever the client's redirect policy. Blocking: ureq drops it on every
//!   redirect (the middleware sets `redirect_auth_headers(Never)` on the
//!   requests it authorizes, whatever the agent says).
//! - **401: one refresh, one retry.** The token sent is replaced
//!   (`force_refresh_rejected`: many requests that saw the same 401 cause one
//!   refresh between them), then the request is sent once more with the new
//!   one. A request whose body cannot be sent again gets its 401 back, the
//!   token replaced for the caller's own retry. A failed refresh is an error
//!   carrying the library's [`Error`](crate::Error) (a login that ended is
//!   [`requires_authorization`](crate::Error::requires_authorization)).
//! - **429: `Retry-After` honoured.** The request waits the seconds asked
//!   for and is sent again, at most [`WebApiPolicy::max_rate_limit_retries`]
//!   times; a `Retry-After` longer than [`WebApiPolicy::max_retry_after`]
//!   (or none) returns the 429 as it is.
//! - **A response from another origin** (after a redirect) is returned as
//!   it is: its 401 says nothing of the token.
//! - **Everything else is returned untouched**: 5xx included (whether a
//!   failed write may be sent again is the caller's call).
//!
//! Waits are real sleeps (`std::thread::sleep`, `tokio::time::sleep`);
//! [`WebApiPolicy::retry_after_hook`] decides their length, e.g. zero in
//! tests.

mod decide;
mod policy;

pub(crate) use decide::{Answer, Attempts, Core, Step};
pub use policy::{SPOTIFY_API_ORIGIN, WebApiPolicy};
