//! Faults the token endpoint and the Web API can be told to produce, and
//! the queues they wait in.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use super::http::Reply;

/// A failure to give the next token requests instead of (or around) the
/// normal answer; see [`FakeSpotify::inject`](super::FakeSpotify::inject),
/// and [`FakeSpotify::inject_web_api`](super::FakeSpotify::inject_web_api)
/// for the Web API (where `Status` and `RateLimited` answer in the Web API's
/// error shape, `{"error": {"status": ..., "message": ...}}`).
///
/// Most faults replace the answer and the request is **not processed**: an
/// authorization code or refresh token in it stays usable, nothing is issued.
/// Three faults do process it, and differ in when:
///
/// | fault | grant processed | answer |
/// |---|---|---|
/// | [`Delay(d)`](Fault::Delay) | after `d` | the normal one, after `d` |
/// | [`DelayResponse(d)`](Fault::DelayResponse) | at once | the normal one, after `d` |
/// | [`LoseResponse`](Fault::LoseResponse) | at once | none: the connection is closed |
///
/// "Processed" means what the server would do anyway: a code is used up, a
/// rotated refresh token becomes unusable, and the new tokens are live (see
/// [`FakeSpotify::issued_refresh_tokens`](super::FakeSpotify::issued_refresh_tokens)).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// This status with a Spotify-shaped JSON error body
    /// (`{"error": ..., "error_description": ...}`); `error` is
    /// `server_error` for 5xx, `temporarily_unavailable` for 503 and
    /// `invalid_request` / `invalid_client` / `access_denied` for 400 / 401 / 403.
    Status(u16),
    /// `429 Too Many Requests` with a `Retry-After: <retry_after_secs>` header.
    /// See [`Fault::rate_limited`].
    #[non_exhaustive]
    RateLimited {
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// Close the connection without sending any response: the client sees a
    /// connection error (end of stream before a response).
    DropConnection,
    /// Send `200 OK` headers that announce a JSON body longer than what
    /// follows, send the start of it, then close the connection: the client
    /// gets the status, then an error while reading the body.
    TruncatedBody,
    /// Wait this long, *then* process the request and answer normally: a
    /// client that gives up before then leaves the grant unused (the code or
    /// refresh token is only looked at after the wait). Other requests are
    /// served meanwhile. Compare [`Fault::DelayResponse`].
    Delay(Duration),
    /// Process the request at once (the grant happens, new tokens are live),
    /// then write the normal answer only after this long. A client whose
    /// timeout is shorter never hears it, though the grant happened: with
    /// rotation on, its refresh token is already spent. Other requests are
    /// served meanwhile; dropping the server cuts the wait short. Compare
    /// [`Fault::Delay`], which waits before processing.
    DelayResponse(Duration),
    /// Process the request completely (a code is used up, a rotated refresh
    /// token is spent, the new tokens are issued and live), then close the
    /// connection without any response. The client sees a transport error
    /// and never learns the new tokens: the response Spotify sent but the
    /// network lost.
    LoseResponse,
    /// `307 Temporary Redirect` to this URL (the request is not processed):
    /// for checking where a client's redirects take its credentials.
    Redirect(String),
    /// This exact response, for malformed-response tests (non-JSON, missing
    /// fields, huge bodies). See [`Fault::body`].
    #[non_exhaustive]
    Body {
        /// The HTTP status.
        status: u16,
        /// The `Content-Type` header; empty for none.
        content_type: String,
        /// The raw body.
        body: Vec<u8>,
    },
}

impl Fault {
    /// A [`Fault::Body`] from anything that converts to a string or bytes.
    ///
    /// ```
    /// use spotify_auth::testing::Fault;
    /// let fault = Fault::body(200, "application/json", r#"{"token_type":"Bearer"}"#);
    /// assert!(matches!(fault, Fault::Body { status: 200, .. }));
    /// ```
    pub fn body(status: u16, content_type: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Fault::Body {
            status,
            content_type: content_type.into(),
            body: body.into(),
        }
    }

    /// A [`Fault::RateLimited`] asking to wait `retry_after_secs` seconds.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Fault::RateLimited { retry_after_secs }
    }

    /// What the server does with the request this fault was given to; a
    /// Web API request (`web_api`) gets its errors in the Web API's shape.
    pub(crate) fn plan(&self, web_api: bool) -> Plan {
        Plan::Replace(match self {
            Fault::Delay(delay) => return Plan::WaitThenAnswer(*delay),
            Fault::DelayResponse(delay) => return Plan::AnswerLate(*delay),
            Fault::LoseResponse => return Plan::AnswerLost,
            Fault::Status(status) if web_api => {
                Reply::api_error(*status, &format!("Injected fault: HTTP {status}"))
            }
            Fault::Status(status) => {
                let error = match status {
                    400 => "invalid_request",
                    401 => "invalid_client",
                    403 => "access_denied",
                    503 => "temporarily_unavailable",
                    _ => "server_error",
                };
                Reply::oauth_error(*status, error, &format!("Injected fault: HTTP {status}"))
            }
            Fault::RateLimited { retry_after_secs } => {
                let mut reply = if web_api {
                    Reply::api_error(429, "API rate limit exceeded")
                } else {
                    Reply::oauth_error(429, "too_many_requests", "API rate limit exceeded")
                };
                if let Reply::Response { headers, .. } = &mut reply {
                    headers.push(("Retry-After", retry_after_secs.to_string()));
                }
                reply
            }
            Fault::Redirect(location) => Reply::redirect_with(307, location.clone()),
            Fault::DropConnection => Reply::HangUp { raw: Vec::new() },
            Fault::TruncatedBody => Reply::HangUp {
                raw: b"HTTP/1.1 200 OK\r\n\
                       Content-Type: application/json\r\n\
                       Content-Length: 4096\r\n\
                       \r\n\
                       {\"access_token\":\"BQ"
                    .to_vec(),
            },
            Fault::Body {
                status,
                content_type,
                body,
            } => Reply::Response {
                status: *status,
                headers: if content_type.is_empty() {
                    Vec::new()
                } else {
                    vec![("Content-Type", content_type.clone())]
                },
                body: body.clone(),
            },
        })
    }
}

/// How a faulted request is handled; from [`Fault::plan`].
pub(crate) enum Plan {
    /// Answer with this instead; the request is not processed.
    Replace(Reply),
    /// Wait, then process and answer normally.
    WaitThenAnswer(Duration),
    /// Process at once, then answer normally after the wait.
    AnswerLate(Duration),
    /// Process at once, then close the connection without answering.
    AnswerLost,
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Status(status) => f.debug_tuple("Status").field(status).finish(),
            Fault::RateLimited { retry_after_secs } => f
                .debug_struct("RateLimited")
                .field("retry_after_secs", retry_after_secs)
                .finish(),
            Fault::DropConnection => f.write_str("DropConnection"),
            Fault::TruncatedBody => f.write_str("TruncatedBody"),
            Fault::Delay(delay) => f.debug_tuple("Delay").field(delay).finish(),
            Fault::DelayResponse(delay) => f.debug_tuple("DelayResponse").field(delay).finish(),
            Fault::LoseResponse => f.write_str("LoseResponse"),
            Fault::Redirect(location) => f.debug_tuple("Redirect").field(location).finish(),
            // The body may be huge: show its size only.
            Fault::Body {
                status,
                content_type,
                body,
            } => f
                .debug_struct("Body")
                .field("status", status)
                .field("content_type", content_type)
                .field("body", &format_args!("<{} bytes>", body.len()))
                .finish(),
        }
    }
}

/// Faults waiting for the next token requests, in order.
#[derive(Default)]
pub(crate) struct FaultQueue {
    pending: VecDeque<(Fault, usize)>,
}

impl FaultQueue {
    pub fn push(&mut self, fault: Fault, times: usize) {
        if times > 0 {
            self.pending.push_back((fault, times));
        }
    }

    /// The fault for the request being handled now, if any.
    pub fn next(&mut self) -> Option<Fault> {
        let (fault, remaining) = self.pending.front_mut()?;
        let fault = fault.clone();
        *remaining -= 1;
        if *remaining == 0 {
            self.pending.pop_front();
        }
        Some(fault)
    }

    pub fn clear(&mut self) {
        self.pending.clear();
    }
}
