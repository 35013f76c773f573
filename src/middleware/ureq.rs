//! The blocking Web API middleware: the decisions of `middleware::Core` as a
//! `ureq::middleware::Middleware`. Included by `blocking.rs`.
//!
//! ureq 3 lets a middleware pass a request down its chain once
//! (`MiddlewareNext::handle` takes `self`), so the first attempt goes down
//! the chain and a retry is sent with a *replay agent*.

use std::fmt;
use std::io::{Cursor, Read};
use std::sync::Arc;

use ureq::config::RedirectAuthHeaders;
use ureq::http::header::{AUTHORIZATION, CONTENT_LENGTH, RETRY_AFTER, TRANSFER_ENCODING};
use ureq::http::{self, HeaderMap, HeaderValue, Method, Uri, Version};
use ureq::middleware::{Middleware, MiddlewareNext};
use ureq::{Agent, AsSendBody, Body, RequestExt, ResponseExt, SendBody};
use url::Url;

use super::TokenSource;
use crate::middleware::{Answer, Attempts, Core, Step, WebApiPolicy};
use crate::{Error, Result};

/// The largest body kept to send again, by default: 1 MiB (Spotify's
/// largest, a playlist cover image, is 256 KB).
const DEFAULT_REPLAY_BODY_LIMIT: usize = 1024 * 1024;

/// Authorizes Web API calls made with a `ureq::Agent`: the token on requests
/// to the API's origin only, one refresh and one retry on a 401,
/// `Retry-After` honoured on a 429 (see [`crate::middleware`]).
///
/// ```no_run
/// use std::sync::Arc;
/// use spotify_auth::blocking::{AuthorizationCode, WebApiMiddleware};
///
/// let auth = Arc::new(AuthorizationCode::builder()
///     .client_id("your-client-id")
///     .redirect_uri("http://127.0.0.1:8888/callback")
///     .refresh_token("a-refresh-token-from-an-earlier-login")
///     .build()?);
/// let api: ureq::Agent = ureq::Agent::config_builder()
///     .middleware(WebApiMiddleware::new(auth.clone()))
///     .build()
///     .into();
/// let me = api.get("https://api.spotify.com/v1/me").call()?.body_mut().read_to_string()?;
/// # let _ = me;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// What differs from the async middleware, because of ureq 3:
///
/// - **Every status is a response** for the requests it authorizes
///   (`http_status_as_error(false)` on them, whatever the agent says): it
///   needs the headers of 401s and 429s. Check `response.status()`.
/// - **Retries go through the replay agent**, not down the rest of the
///   agent's middleware chain: ureq lets a middleware pass a request on only
///   once. It is the library's shared client
///   ([`default_http_client`](super::default_http_client)) unless
///   [`replay_agent`](Self::replay_agent) names another: give the same
///   settings (proxy, roots) as the agent this middleware is in.
/// - **Bodies are kept in memory to send again**, up to
///   [`replay_body_limit`](Self::replay_body_limit) (default 1 MiB); a
///   larger body is streamed and not sent again (its 401 comes back).
///
/// Errors of the flow (a refresh that failed, a login that ended) come back
/// as `ureq::Error::Other` holding the library's [`Error`]:
/// `downcast_ref::<spotify_auth::Error>()` on it.
#[derive(Clone)]
pub struct WebApiMiddleware {
    source: Arc<dyn TokenSource>,
    core: Arc<Core>,
    replay: Option<Agent>,
    replay_body_limit: usize,
}

impl WebApiMiddleware {
    /// The middleware for Spotify's Web API with the default
    /// [`WebApiPolicy`], taking tokens from `auth` (an `AuthorizationCode`,
    /// a `ClientCredentials`, an `Arc` of either, or your own
    /// [`TokenSource`]).
    pub fn new(auth: impl TokenSource + 'static) -> Self {
        Self::with_core(auth, Core::spotify())
    }

    /// The middleware with a policy of your own (another origin, other
    /// limits for 429s).
    ///
    /// Errors: [`Error::Config`] (setting `api_origin`) for an origin that
    /// is not an absolute `http(s)` URL.
    pub fn with_policy(auth: impl TokenSource + 'static, policy: &WebApiPolicy) -> Result<Self> {
        Ok(Self::with_core(auth, Core::new(policy)?))
    }

    fn with_core(auth: impl TokenSource + 'static, core: Core) -> Self {
        Self {
            source: Arc::new(auth),
            core: Arc::new(core),
            replay: None,
            replay_body_limit: DEFAULT_REPLAY_BODY_LIMIT,
        }
    }

    /// The agent retries are sent with (default: the library's shared
    /// client). Its redirects and status handling are set per request as
    /// for the first attempt.
    #[must_use]
    pub fn replay_agent(mut self, agent: Agent) -> Self {
        self.replay = Some(agent);
        self
    }

    /// The largest request body kept in memory to send again (default
    /// 1 MiB). A larger one is streamed, and its request not sent again.
    #[must_use]
    pub fn replay_body_limit(mut self, bytes: usize) -> Self {
        self.replay_body_limit = bytes;
        self
    }

    /// Sends an authorized request until the core says to return.
    fn send(
        &self,
        request: http::Request<SendBody>,
        next: MiddlewareNext,
    ) -> std::result::Result<http::Response<Body>, ureq::Error> {
        let mut header = self.source.authorization_header().map_err(failed)?;
        let (mut parts, body) = request.into_parts();
        let replay = Replay::of(&parts);
        let (mut kept, rest) = read_up_to(body.into_reader(), self.replay_body_limit)?;
        let replayable = rest.is_none();
        set_length(&mut parts.headers, kept.len(), replayable);
        parts.headers.insert(AUTHORIZATION, header_value(&header)?);
        let mut response = match rest {
            None if kept.is_empty() => down_the_chain(next, parts, SendBody::none())?,
            None => {
                let mut whole = Cursor::new(kept.as_slice());
                down_the_chain(next, parts, SendBody::from_reader(&mut whole))?
            }
            // Too large to keep: what was read, then the rest, sent once.
            Some(rest) => {
                let mut streamed = Cursor::new(std::mem::take(&mut kept)).chain(rest);
                down_the_chain(next, parts, SendBody::from_reader(&mut streamed))?
            }
        };
        let mut attempts = Attempts::default();
        loop {
            let answer = Answer {
                status: response.status().as_u16(),
                retry_after: response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()),
                from_api: self.answered_by_api(&response),
            };
            let step = self.core.after(&mut attempts, answer, replayable);
            match step {
                Step::Return => return Ok(response),
                Step::Refresh { resend } => {
                    let token = self.source.refresh_rejected(&header).map_err(failed)?;
                    header = format!("Bearer {token}");
                    if !resend {
                        return Ok(response);
                    }
                }
                Step::Wait(asked) => std::thread::sleep(self.core.actual_wait(asked)),
            }
            response = self.resend(&replay, &header, &kept)?;
        }
    }

    /// Whether `response` came from the API's origin (redirects followed).
    fn answered_by_api(&self, response: &http::Response<Body>) -> bool {
        self.authorizes(response.get_uri())
    }

    /// Whether a request to `uri` gets the token.
    fn authorizes(&self, uri: &Uri) -> bool {
        Url::parse(&uri.to_string()).is_ok_and(|url| self.core.authorizes(&url))
    }

    /// Sends the request again, with the replay agent.
    fn resend(
        &self,
        replay: &Replay,
        header: &str,
        body: &[u8],
    ) -> std::result::Result<http::Response<Body>, ureq::Error> {
        let agent = match &self.replay {
            Some(agent) => agent.clone(),
            None => super::default_http_client().map_err(failed)?,
        };
        let mut request = http::Request::new(());
        *request.method_mut() = replay.method.clone();
        *request.uri_mut() = replay.uri.clone();
        *request.version_mut() = replay.version;
        *request.headers_mut() = replay.headers.clone();
        request
            .headers_mut()
            .insert(AUTHORIZATION, header_value(header)?);
        if body.is_empty() {
            run_with(&agent, request)
        } else {
            run_with(&agent, request.map(|()| body))
        }
    }
}

impl Middleware for WebApiMiddleware {
    fn handle(
        &self,
        request: http::Request<SendBody>,
        next: MiddlewareNext,
    ) -> std::result::Result<http::Response<Body>, ureq::Error> {
        let authorized =
            Url::parse(&request.uri().to_string()).is_ok_and(|url| self.core.authorizes(&url));
        if !authorized || request.headers().contains_key(AUTHORIZATION) {
            return next.handle(request);
        }
        self.send(request, next)
    }
}

/// What a retry is rebuilt from (the body is kept apart).
struct Replay {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl Replay {
    fn of(parts: &http::request::Parts) -> Self {
        Self {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
        }
    }
}

/// The first attempt, down the rest of the agent's chain. Like a retry,
/// it returns every status as a response (the middleware reads 401s and
/// 429s) and carries no `Authorization` across any redirect.
fn down_the_chain(
    next: MiddlewareNext,
    parts: http::request::Parts,
    body: SendBody<'_>,
) -> std::result::Result<http::Response<Body>, ureq::Error> {
    let request = http::Request::from_parts(parts, body);
    let Some(config) = request.middleware_config() else {
        // Only outside an agent's chain, which a middleware never is.
        return Err(failed(Error::config("middleware", "not run by an agent")));
    };
    let request = config
        .http_status_as_error(false)
        .redirect_auth_headers(RedirectAuthHeaders::Never)
        .build();
    next.handle(request)
}

/// A retry, with `agent`, set as the first attempt.
fn run_with(
    agent: &Agent,
    request: http::Request<impl AsSendBody>,
) -> std::result::Result<http::Response<Body>, ureq::Error> {
    let request = agent
        .configure_request(request)
        .http_status_as_error(false)
        .redirect_auth_headers(RedirectAuthHeaders::Never)
        .build();
    agent.run(request)
}

/// Reads at most `limit` bytes of `body`; the rest, when there is more,
/// stays to be streamed.
fn read_up_to<R: Read>(
    mut body: R,
    limit: usize,
) -> std::result::Result<(Vec<u8>, Option<R>), ureq::Error> {
    let mut kept = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    (&mut body).take(cap).read_to_end(&mut kept)?;
    if kept.len() > limit {
        Ok((kept, Some(body)))
    } else {
        Ok((kept, None))
    }
}

/// A `Content-Length` for a body kept whole, unless the caller set one or
/// chose chunked encoding.
fn set_length(headers: &mut HeaderMap, len: usize, whole: bool) {
    let chosen = headers.contains_key(CONTENT_LENGTH) || headers.contains_key(TRANSFER_ENCODING);
    if whole && len > 0 && !chosen {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
}

/// The header value, marked sensitive (hidden from `Debug`).
fn header_value(header: &str) -> std::result::Result<HeaderValue, ureq::Error> {
    let mut value = HeaderValue::from_str(header).map_err(|_| {
        failed(Error::invalid_response(
            "the access token cannot be sent in an HTTP header",
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A flow error as a ureq error.
fn failed(e: Error) -> ureq::Error {
    ureq::Error::Other(Box::new(e))
}

impl fmt::Debug for WebApiMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebApiMiddleware")
            .field("core", &self.core)
            .field("replay_agent", &self.replay.is_some())
            .field("replay_body_limit", &self.replay_body_limit)
            .finish_non_exhaustive()
    }
}
