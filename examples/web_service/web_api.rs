//! The service's own calls to the Spotify Web API, through the library's
//! middleware (`asynchronous::WebApiMiddleware`): the user's token goes on
//! requests to the Web API's origin only; a 401 (a token Spotify stopped
//! accepting before its expiry) is answered with one refresh and one retry;
//! a 429's `Retry-After` is waited out (up to 5 s here). All calls share the
//! library's process-wide `reqwest` client (one connection pool for tokens
//! and API calls alike).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use spotify_auth::asynchronous::{AuthorizationCode, WebApiMiddleware};
use spotify_auth::middleware::WebApiPolicy;

/// The Web API at one base URL.
pub struct WebApi {
    client: reqwest::Client,
    policy: WebApiPolicy,
    base: String,
}

/// A Web API answer, passed on as it is.
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its `Content-Type`.
    pub content_type: Option<HeaderValue>,
    /// Its body.
    pub body: Bytes,
}

/// Why a call failed.
#[derive(Debug)]
pub enum CallError {
    /// The user's token could not be had or refreshed (the library's error:
    /// a login that ended, the accounts service down, ...).
    Token(spotify_auth::Error),
    /// The Web API could not be reached.
    Http(reqwest_middleware::Error),
}

impl WebApi {
    /// The Web API at `base` (`https://api.spotify.com/v1`); only its
    /// origin gets users' tokens.
    pub fn new(base: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self {
            client: spotify_auth::asynchronous::default_http_client()?,
            policy: WebApiPolicy::new()
                .api_origin(base)
                .max_retry_after(Duration::from_secs(5)),
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// `GET /me` as `user`.
    pub async fn me(&self, user: Arc<AuthorizationCode>) -> Result<Answer, CallError> {
        // A client per call: the shared client, and a middleware holding
        // this user's instance (a URL parse and a few small allocations).
        let middleware =
            WebApiMiddleware::with_policy(user, &self.policy).map_err(CallError::Token)?;
        let client = reqwest_middleware::ClientBuilder::new(self.client.clone())
            .with(middleware)
            .build();
        let response = client
            .get(format!("{}/me", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(CallError::from)?;
        let status = response.status();
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let body = response
            .bytes()
            .await
            .map_err(|e| CallError::Http(e.into()))?;
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }
}

impl From<reqwest_middleware::Error> for CallError {
    /// The library's error when the middleware failed for one, else the
    /// transport's.
    fn from(e: reqwest_middleware::Error) -> Self {
        match e {
            reqwest_middleware::Error::Middleware(e) => match e.downcast::<spotify_auth::Error>() {
                Ok(e) => CallError::Token(e),
                Err(e) => CallError::Http(reqwest_middleware::Error::Middleware(e)),
            },
            e => CallError::Http(e),
        }
    }
}
