//! The blocking transport: one form POST with ureq 3.

use std::io::Read;
use std::time::Duration;

use url::Url;

use crate::retry::RawResponse;
use crate::session::TokenRequest;
use crate::token::MAX_BODY;
use crate::{Error, HttpErrorKind, Result};

/// Sends token requests with a `ureq::Agent`.
#[derive(Debug)]
pub(crate) struct Transport {
    agent: ureq::Agent,
}

impl Transport {
    /// Uses `agent`, or a new one with rustls and no redirects.
    pub fn new(agent: Option<ureq::Agent>) -> Result<Self> {
        let agent = agent.unwrap_or_else(|| {
            ureq::Agent::config_builder()
                .user_agent(crate::USER_AGENT)
                .build()
                .new_agent()
        });
        Ok(Self { agent })
    }

    /// POSTs the form; reads at most `MAX_BODY + 1` bytes of the answer.
    pub fn post_form(
        &self,
        url: &Url,
        request: &TokenRequest,
        timeout: Duration,
    ) -> Result<RawResponse> {
        let mut builder = self.agent.post(url.as_str());
        for (name, value) in request.headers() {
            builder = builder.header(name, value);
        }
        let response = builder
            .config()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .build()
            .send(request.body.as_bytes())
            .map_err(map_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        response
            .into_body()
            .into_with_config()
            .limit(MAX_BODY as u64 + 1)
            .reader()
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| map_error(ureq::Error::Io(e)))?;
        Ok(RawResponse {
            status,
            retry_after,
            body,
        })
    }
}

fn map_error(e: ureq::Error) -> Error {
    let kind = match &e {
        ureq::Error::Timeout(_) => HttpErrorKind::Timeout,
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => HttpErrorKind::Connect,
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => HttpErrorKind::Timeout,
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable => {
                HttpErrorKind::Connect
            }
            _ => HttpErrorKind::Other,
        },
        _ => HttpErrorKind::Other,
    };
    Error::http(kind, e.to_string())
}
