//! The async transport: one form POST with reqwest 0.13.

use std::time::Duration;

use url::Url;

use crate::retry::RawResponse;
use crate::session::TokenRequest;
use crate::token::MAX_BODY;
use crate::{Error, HttpErrorKind, Result};

/// Sends token requests with a `reqwest::Client`.
#[derive(Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
}

impl Transport {
    /// Uses `client`, or a new one with rustls (ring) and no redirects.
    pub fn new(client: Option<reqwest::Client>) -> Result<Self> {
        let client = match client {
            Some(c) => c,
            None => {
                // One crypto stack for both modes: rustls with ring, as ureq
                // uses. Installed only when no process default exists yet.
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::builder()
                    .user_agent(crate::USER_AGENT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| {
                        Error::config("http_client", format!("cannot build the HTTP client: {e}"))
                    })?
            }
        };
        Ok(Self { client })
    }

    /// POSTs the form; reads at most `MAX_BODY + 1` bytes of the answer.
    pub async fn post_form(
        &self,
        url: &Url,
        request: &TokenRequest,
        timeout: Duration,
    ) -> Result<RawResponse> {
        let mut builder = self
            .client
            .post(url.as_str())
            .timeout(timeout)
            .body(request.body.clone());
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        let mut response = builder.send().await.map_err(map_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_error)? {
            let room = MAX_BODY + 1 - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() > MAX_BODY {
                break;
            }
        }
        Ok(RawResponse {
            status,
            retry_after,
            body,
        })
    }
}

fn map_error(e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        HttpErrorKind::Timeout
    } else if e.is_connect() {
        HttpErrorKind::Connect
    } else {
        HttpErrorKind::Other
    };
    // reqwest's message names the URL, never the body or headers.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::http(kind, message)
}
