//! The async Web API middleware: the decisions of `middleware::Core` as a
//! `reqwest_middleware::Middleware`. Included by `asynchronous.rs`.

use std::fmt;
use std::sync::Arc;

use http::Extensions;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use super::TokenSource;
use crate::middleware::{Answer, Attempts, Core, Step, WebApiPolicy};
use crate::{Error, Result};

/// Authorizes Web API calls made with a
/// [`reqwest_middleware::ClientWithMiddleware`]: the token on requests to
/// the API's origin only, one refresh and one retry on a 401, `Retry-After`
/// honoured on a 429 (see [`crate::middleware`]).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use spotify_auth::asynchronous::{AuthorizationCode, WebApiMiddleware, default_http_client};
///
/// let auth = Arc::new(AuthorizationCode::builder()
///     .client_id("your-client-id")
///     .redirect_uri("http://127.0.0.1:8888/callback")
///     .refresh_token("a-refresh-token-from-an-earlier-login")
///     .build()?);
/// let api = reqwest_middleware::ClientBuilder::new(default_http_client()?)
///     .with(WebApiMiddleware::new(auth.clone()))
///     .build();
/// let me = api.get("https://api.spotify.com/v1/me").send().await?;
/// println!("{}", me.text().await?);
/// # Ok(())
/// # }
/// ```
///
/// A request can be sent again when its body can be cloned
/// ([`reqwest::Request::try_clone`]: any body in memory; not a stream).
/// Errors of the flow (a refresh that failed, a login that ended) come back
/// as `reqwest_middleware::Error::Middleware` holding the library's
/// [`Error`]: `e.downcast_ref::<spotify_auth::Error>()` on its
/// `anyhow::Error`.
#[derive(Clone)]
pub struct WebApiMiddleware {
    source: Arc<dyn TokenSource>,
    core: Arc<Core>,
}

impl WebApiMiddleware {
    /// The middleware for Spotify's Web API with the default
    /// [`WebApiPolicy`], taking tokens from `auth` (an `AuthorizationCode`,
    /// a `ClientCredentials`, an `Arc` of either, or your own
    /// [`TokenSource`]).
    pub fn new(auth: impl TokenSource + 'static) -> Self {
        Self {
            source: Arc::new(auth),
            core: Arc::new(Core::spotify()),
        }
    }

    /// The middleware with a policy of your own (another origin, other
    /// limits for 429s).
    ///
    /// Errors: [`Error::Config`] (setting `api_origin`) for an origin that
    /// is not an absolute `http(s)` URL.
    pub fn with_policy(auth: impl TokenSource + 'static, policy: &WebApiPolicy) -> Result<Self> {
        Ok(Self {
            source: Arc::new(auth),
            core: Arc::new(Core::new(policy)?),
        })
    }

    /// Sends `request` until the core says to return: authorized, and sent
    /// again after a refresh or a wait.
    async fn send(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let mut header = self.source.authorization_header().await.map_err(failed)?;
        let mut attempts = Attempts::default();
        loop {
            // Kept before sending: a stream body cannot be sent twice.
            let replay = request.try_clone();
            request
                .headers_mut()
                .insert(AUTHORIZATION, header_value(&header)?);
            let response = next.clone().run(request, extensions).await?;
            let answer = Answer {
                status: response.status().as_u16(),
                retry_after: response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
                from_api: self.core.authorizes(response.url()),
            };
            let step = self.core.after(&mut attempts, answer, replay.is_some());
            match step {
                Step::Return => return Ok(response),
                Step::Refresh { resend } => {
                    let token = self
                        .source
                        .refresh_rejected(&header)
                        .await
                        .map_err(failed)?;
                    header = format!("Bearer {token}");
                    if !resend {
                        return Ok(response);
                    }
                }
                Step::Wait(asked) => super::sleep(self.core.actual_wait(asked)).await,
            }
            match replay {
                Some(again) => request = again,
                None => return Ok(response),
            }
        }
    }
}

// reqwest-middleware's trait asks for `Send` futures except on wasm32,
// where reqwest's are not.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl Middleware for WebApiMiddleware {
    async fn handle(
        &self,
        request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if !self.core.authorizes(request.url()) || request.headers().contains_key(AUTHORIZATION) {
            return next.run(request, extensions).await;
        }
        self.send(request, extensions, next).await
    }
}

/// The header value, marked sensitive (hidden from `Debug`).
fn header_value(header: &str) -> reqwest_middleware::Result<HeaderValue> {
    let mut value = HeaderValue::from_str(header).map_err(|_| {
        failed(Error::invalid_response(
            "the access token cannot be sent in an HTTP header",
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A flow error as a middleware error.
fn failed(e: Error) -> reqwest_middleware::Error {
    reqwest_middleware::Error::middleware(e)
}

impl fmt::Debug for WebApiMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebApiMiddleware")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}
