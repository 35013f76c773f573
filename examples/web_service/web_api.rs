//! The service's own calls to the Spotify Web API, with one `reqwest`
//! client for the whole process.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use rustls_platform_verifier::BuilderVerifierExt;

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
    /// The Web API at `base` (`https://api.spotify.com/v1`).
    ///
    /// With reqwest's default features, `reqwest::Client::new()` is all
    /// this takes. This crate builds reqwest without a TLS crypto provider,
    /// so the client gets one here: ring, verifying against the operating
    /// system's trust store, as the library's own client does.
    pub fn new(base: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_platform_verifier()?
            .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(Duration::from_secs(10))
            .build()?;
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
