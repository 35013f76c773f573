//! A fake Spotify accounts server on loopback, for offline tests and examples
//! (feature `testing`), and a token cache that fails on demand.
//!
//! [`FakeSpotify`] is a real HTTP server on `127.0.0.1` that answers like
//! `accounts.spotify.com` (and, for `/v1/me`, like `api.spotify.com`): point
//! a client's authorization and token endpoints at it and the whole
//! Authorization Code flow runs without network.
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
//! assert!(server.refresh_token_is_live(&refresh_token));
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
//!   single-use and expire after 10 minutes. Each code belongs to the user
//!   signed in when it was issued ([`FakeSpotify::sign_in_as`], default
//!   `"fake-user"`).
//! - `POST /api/token` takes a form body (anything else: `invalid_request`)
//!   and serves the `authorization_code`, `refresh_token` and
//!   `client_credentials` grants. Confidential clients authenticate with HTTP
//!   Basic (a wrong or missing secret is `401 invalid_client`); public clients
//!   send `client_id` in the body. A code is checked against its client,
//!   redirect URI and PKCE challenge; refresh tokens can be revoked, expired
//!   and rotated (with rotation on they are single-use). Errors have
//!   Spotify's shape, `{"error": "...", "error_description": "..."}`; every
//!   access token is new and expires after the configured `expires_in`
//!   (wall-clock time). Tokens carry the code's user across refreshes.
//! - `GET /v1/me` (the Web API, at [`FakeSpotify::web_api_url`]) with
//!   `Authorization: Bearer <access token>` answers `200` with the user
//!   object of the token's user (`id`, `display_name`, `type: "user"`,
//!   `uri: "spotify:user:<id>"`, `href`, ...; `email` with the
//!   `user-read-email` scope, `country` and `product` with
//!   `user-read-private`), and `401` in the Web API's error shape
//!   `{"error": {"status": 401, "message": "..."}}` for an expired token
//!   ("The access token expired"), a revoked or unknown one ("Invalid access
//!   token"), an app token ("Unauthorized."), or a missing or non-Bearer
//!   `Authorization` header. Access tokens can be revoked early
//!   ([`FakeSpotify::revoke_access_token`]) or all expired at once
//!   ([`FakeSpotify::expire_access_tokens`]), to test a client's answer to a
//!   401. `POST /v1/users/{id}/playlists` (a request with a body) answers
//!   `201` with a new playlist named by the JSON body's `name`, for the
//!   token's own user with a `playlist-modify-*` scope (nothing is kept).
//!   Other `/v1` paths are `404` in the same shape. The Web API takes faults
//!   of its own ([`FakeSpotify::inject_web_api`]: 429s with `Retry-After`,
//!   5xx, redirects).
//! - Any other path is `404`.
//! - Browsers are answered as Spotify answers them for public (PKCE)
//!   clients: a request with an `Origin` gets
//!   `Access-Control-Allow-Origin: *` (and `Retry-After`,
//!   `WWW-Authenticate` and `Location` exposed), and a CORS preflight
//!   (`OPTIONS` with `Access-Control-Request-Method`) gets `204` allowing
//!   the method and the headers it asks for; preflights are not recorded.
//!   A page on another origin can so exchange codes, refresh and call
//!   `/v1/me` (the browser tests of `spotify_auth::browser` do).
//!
//! Token requests can be made to fail with [`FakeSpotify::inject`] (server
//! errors, rate limiting, dropped connections, truncated or malformed bodies,
//! delays before processing, and, after processing, lost or delayed
//! responses: see [`Fault`]). Every request is kept for inspection
//! ([`FakeSpotify::requests`]), and every refresh token issued, with what
//! became of it and whether its response was delivered
//! ([`FakeSpotify::issued_refresh_tokens`]). The server never prints
//! anything.
//!
//! [`FaultyCache`] wraps any [`TokenCache`](crate::TokenCache) and fails its
//! `get`, `set`, `clear` or `lock` on demand, counting every call.
//!
//! # A lost response, from the client's side
//!
//! ```
//! use spotify_auth::testing::{Delivery, FakeSpotify, Fault, RefreshTokenStatus};
//!
//! let server = FakeSpotify::builder()
//!     .client("my-client-id", Some("my-client-secret"))
//!     .rotate_refresh_tokens(true)
//!     .start()?;
//! let old = server.issue_refresh_token("my-client-id", "");
//! server.inject(Fault::LoseResponse, 1);
//! // ... a client refreshes with `old` and sees a transport error ...
//! # let agent = ureq::Agent::new_with_defaults();
//! # let sent = agent
//! #     .post(server.token_url())
//! #     .header("Authorization", "Basic bXktY2xpZW50LWlkOm15LWNsaWVudC1zZWNyZXQ=")
//! #     .send_form([("grant_type", "refresh_token"), ("refresh_token", old.as_str())]);
//! # assert!(sent.is_err());
//! // ... yet Spotify spent `old` and issued a new token nobody received.
//! assert!(!server.refresh_token_is_live(&old));
//! let issued = server.issued_refresh_tokens();
//! assert_eq!(issued[0].status(), RefreshTokenStatus::Rotated);
//! assert_eq!(issued[0].refresh_requests(), 1);
//! assert_eq!(issued[1].delivery(), Delivery::Lost);
//! assert!(issued[1].is_live());
//! # Ok::<(), std::io::Error>(())
//! ```

mod authorize;
mod builder;
mod faults;
mod faulty_cache;
mod grants;
mod http;
mod issued;
mod record;
mod relay;
mod server;
mod state;
mod web_api;

pub use builder::FakeSpotifyBuilder;
pub use faults::Fault;
pub use faulty_cache::{CacheOp, FaultyCache};
pub use issued::{Delivery, IssuedRefreshToken, RefreshTokenStatus};
pub use record::RecordedRequest;
pub use server::FakeSpotify;
