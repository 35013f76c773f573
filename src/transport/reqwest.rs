//! The async transport: one form POST with reqwest 0.13 (on wasm32, its
//! backend over the browser's `fetch`).

#[cfg(not(target_arch = "wasm32"))]
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

#[cfg(not(target_arch = "wasm32"))]
use rustls_platform_verifier::BuilderVerifierExt;
use url::Url;

use crate::retry::RawResponse;
use crate::session::TokenRequest;
use crate::token::MAX_BODY;
#[cfg(not(target_arch = "wasm32"))]
use crate::transport::classify;
use crate::{Error, HttpErrorKind, Result};

/// Sends token requests with a `reqwest::Client`: the one given, or else
/// the [`default_client`] of the runtime each request runs on.
#[derive(Debug)]
pub(crate) struct Transport {
    given: Option<reqwest::Client>,
}

impl Transport {
    /// Uses `client`, or the [`default_client`] of each request's runtime.
    ///
    /// Errors: [`Error::Config`] for `http_client` when the default client
    /// cannot be built (no usable OS trust store): one is built now, so
    /// that a missing trust store is reported by `build()`.
    pub fn new(client: Option<reqwest::Client>) -> Result<Self> {
        if client.is_none() {
            default_client()?;
        }
        #[cfg(target_arch = "wasm32")]
        super::wasm::seed_jitter();
        Ok(Self { given: client })
    }

    /// The client for a request made now.
    fn client(&self) -> Result<reqwest::Client> {
        match &self.given {
            Some(client) => Ok(client.clone()),
            None => default_client(),
        }
    }

    /// POSTs the form; reads at most `MAX_BODY + 1` bytes of the answer.
    /// On wasm32 the browser's `fetch`, whose future (not `Send`) is kept
    /// on this thread, where it was made.
    #[cfg(target_arch = "wasm32")]
    pub async fn post_form(
        &self,
        url: &Url,
        request: &TokenRequest,
        timeout: Duration,
    ) -> Result<RawResponse> {
        super::wasm::local(self.fetch_form(url, request, timeout)).await
    }

    #[cfg(target_arch = "wasm32")]
    async fn fetch_form(
        &self,
        url: &Url,
        request: &TokenRequest,
        timeout: Duration,
    ) -> Result<RawResponse> {
        let (status, retry_after, response) = self.send(url, request, timeout).await?;
        // Without reqwest's `stream` feature the browser's body comes whole;
        // one larger than the limit is refused all the same.
        let mut body = response.bytes().await.map_err(map_error)?.to_vec();
        body.truncate(MAX_BODY + 1);
        Ok(RawResponse {
            status,
            retry_after,
            body,
        })
    }

    /// POSTs the form; reads at most `MAX_BODY + 1` bytes of the answer.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn post_form(
        &self,
        url: &Url,
        request: &TokenRequest,
        timeout: Duration,
    ) -> Result<RawResponse> {
        let (status, retry_after, mut response) = self.send(url, request, timeout).await?;
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

    /// Sends the form: the answer's status, its `Retry-After` header (as
    /// text), and the response, whose body is still to be read.
    async fn send(
        &self,
        url: &Url,
        request: &TokenRequest,
        timeout: Duration,
    ) -> Result<(u16, Option<String>, reqwest::Response)> {
        let mut builder = self
            .client()?
            .post(url.as_str())
            .timeout(timeout)
            .body(request.body.clone());
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        let response = builder.send().await.map_err(map_error)?;
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((response.status().as_u16(), retry_after, response))
    }
}

/// The client of every async instance built without `http_client(...)`:
/// the current tokio runtime's (one per runtime, see
/// [`PerRuntime`](super::per_runtime::PerRuntime) for why), or outside any
/// runtime (and on wasm32, where there is none) one for the process. Built
/// on first use, then cloned (a `reqwest::Client` is a handle on one
/// connection pool).
///
/// A failure is returned, not kept: the next call tries again (two callers
/// racing may both build one; the first stored wins).
pub(super) fn default_client() -> Result<reqwest::Client> {
    #[cfg(not(target_arch = "wasm32"))]
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        static PER_RUNTIME: super::per_runtime::PerRuntime<reqwest::Client> =
            super::per_runtime::PerRuntime::new();
        return PER_RUNTIME
            .get_or_try_make(&runtime, build_default_client)
            .map_err(unbuildable);
    }
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let client = build_default_client().map_err(unbuildable)?;
    Ok(CLIENT.get_or_init(|| client).clone())
}

fn unbuildable(e: Box<dyn std::error::Error>) -> Error {
    Error::config(
        "http_client",
        format!(
            "cannot build the default HTTP client ({e}); make the operating system's \
             CA certificates available, or pass a client of your own"
        ),
    )
}

/// On wasm32: the browser's `fetch`, which has its own TLS, redirects and
/// `User-Agent` (a header a page cannot set).
#[cfg(target_arch = "wasm32")]
fn build_default_client() -> std::result::Result<reqwest::Client, Box<dyn std::error::Error>> {
    Ok(reqwest::Client::new())
}

/// No redirects, the library's `User-Agent`, and a rustls config of our own:
/// ring given explicitly (nothing is installed process-wide, and a provider
/// a program installed is not picked up), verifying against the operating
/// system's trust store (`rustls-platform-verifier`, as ureq does for the
/// blocking mode). Timeouts are set per request.
#[cfg(not(target_arch = "wasm32"))]
fn build_default_client() -> std::result::Result<reqwest::Client, Box<dyn std::error::Error>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
    let client = reqwest::Client::builder()
        .user_agent(crate::USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .tls_backend_preconfigured(tls)
        .build()?;
    Ok(client)
}

/// An [`Error::Http`] whose source is reqwest's error. In a browser a failed
/// `fetch` says nothing about how far it got (refused, reset, or refused by
/// CORS after the server answered): it is [`HttpErrorKind::Other`], which is
/// sent again only when that is harmless.
#[cfg(target_arch = "wasm32")]
fn map_error(e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        HttpErrorKind::Timeout
    } else {
        HttpErrorKind::Other
    };
    Error::http(kind, e)
}

/// An [`Error::Http`] whose source is reqwest's error, classified by kind as
/// the blocking transport classifies ureq's (see [`HttpErrorKind`]): a TLS
/// failure, which reqwest reports as a connect error with rustls's error
/// among its causes, is [`HttpErrorKind::Tls`], not `Connect`.
#[cfg(not(target_arch = "wasm32"))]
fn map_error(e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        HttpErrorKind::Timeout
    } else if classify::is_tls_failure(&e) {
        HttpErrorKind::Tls
    } else if e.is_connect() {
        HttpErrorKind::Connect
    } else {
        HttpErrorKind::Other
    };
    // reqwest's message names the URL, never the body or headers.
    Error::http(kind, e)
}
