//! The service's own calls to the Spotify Web API, with the library's
//! process-wide `reqwest` client (one connection pool for tokens and API
//! calls alike).

use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};

/// The Web API at one base URL.
pub struct WebApi {
    client: reqwest::Client,
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

impl WebApi {
    /// The Web API at `base` (`https://api.spotify.com/v1`), called with
    /// the client the library's instances share.
    pub fn new(base: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let client = spotify_auth::asynchronous::default_http_client()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// `GET /me` with `authorization` (`Bearer {access token}`).
    pub async fn me(&self, authorization: &str) -> Result<Answer, reqwest::Error> {
        let response = self
            .client
            .get(format!("{}/me", self.base))
            .timeout(Duration::from_secs(10))
            .header(AUTHORIZATION, authorization)
            .send()
            .await?;
        let status = response.status();
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let body = response.bytes().await?;
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }
}
