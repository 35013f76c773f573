//! A fake Spotify accounts server on loopback, for offline tests and examples
//! (feature `testing`).
//!
//! [`FakeSpotify`] is a real HTTP server on `127.0.0.1` that answers like
//! `accounts.spotify.com`: point a client's authorization and token endpoints
//! at it and the whole Authorization Code flow runs without network.
//!
//! ```
//! use spotify_auth::testing::{FakeSpotify, Fault};
//!
//! let server = FakeSpotify::builder()
//!     .client("my-client-id", Some("my-client-secret")) // confidential client
//!     .client("my-pkce-app", None)                      // public client (PKCE)
//!     .redirect_uri("http://127.0.0.1:8888/callback")
//!     .rotate_refresh_tokens(true)
//!     .start()?;
//! println!("authorize at {}, tokens at {}", server.authorize_url(), server.token_url());
//!
//! // Start from a stored refresh token, and make the first refresh fail with a 503.
//! let refresh_token = server.issue_refresh_token("my-client-id", "user-read-email");
//! server.inject(Fault::Status(503), 1);
//! # let _ = refresh_token;
//! assert_eq!(server.token_request_count(), 0);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # What it does
//!
//! - `GET /authorize` checks `client_id` and `redirect_uri` (registered
//!   exactly, or, as on Spotify, a loopback IP literal registered without a
//!   port with any port added) and answers an error page with status 400 when either is wrong,
//!   without redirecting. Otherwise it answers `302 Found` to the redirect URI
//!   at once: with `code` (and `state` when given), or with `error` when
//!   `response_type` is not `code`, when `code_challenge_method` is not
//!   `S256`, when a public client sends no `code_challenge`, or
//!   (`access_denied`) when [`FakeSpotify::set_deny`] is on. Codes are random,
//!   single-use and expire after 10 minutes.
//! - `POST /api/token` takes a form body (anything else: `invalid_request`)
//!   and serves the `authorization_code`, `refresh_token` and
//!   `client_credentials` grants. Confidential clients authenticate with HTTP
//!   Basic (a wrong or missing secret is `401 invalid_client`); public clients
//!   send `client_id` in the body. A code is checked against its client,
//!   redirect URI and PKCE challenge; refresh tokens can be revoked, expired
//!   and rotated. Errors have Spotify's shape,
//!   `{"error": "...", "error_description": "..."}`; every access token is new.
//! - Any other path is `404`.
//!
//! Token requests can be made to fail with [`FakeSpotify::inject`] (server
//! errors, rate limiting, dropped connections, truncated or malformed bodies,
//! delays), and every request is kept for inspection
//! ([`FakeSpotify::requests`]). The server never prints anything.

mod authorize;
mod builder;
mod faults;
mod grants;
mod http;
mod record;
mod relay;
mod server;
mod state;

pub use builder::FakeSpotifyBuilder;
pub use faults::Fault;
pub use record::RecordedRequest;
pub use server::FakeSpotify;
