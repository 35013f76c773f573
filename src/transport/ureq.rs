//! The blocking transport: one form POST with ureq 3.

use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
use url::Url;

use crate::retry::RawResponse;
use crate::session::TokenRequest;
use crate::token::MAX_BODY;
use crate::transport::classify;
use crate::{Error, HttpErrorKind, Result};

/// Sends token requests with a `ureq::Agent`.
#[derive(Debug)]
pub(crate) struct Transport {
    agent: ureq::Agent,
}

impl Transport {
    /// Uses `agent`, or the process's [`default_agent`]. Never fails: the
    /// `Result` matches the async transport's.
    pub fn new(agent: Option<ureq::Agent>) -> Result<Self> {
        let agent = agent.unwrap_or_else(default_agent);
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

/// The agent shared by every blocking instance built without
/// `http_client(...)`: made on first use, then cloned (a `ureq::Agent` is a
/// handle on one connection pool).
///
/// No redirects, the library's `User-Agent`, and rustls with ring given
/// explicitly (nothing is installed process-wide, and a provider a program
/// installed is not picked up) verifying against the operating system's trust
/// store (`rustls-platform-verifier`), as the async client does. The trust
/// store is loaded at the first HTTPS request; failing to load it is an
/// [`Error::Http`] of that request. Timeouts are set per request.
pub(super) fn default_agent() -> ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT
        .get_or_init(|| {
            let tls = TlsConfig::builder()
                .provider(TlsProvider::Rustls)
                .root_certs(RootCerts::PlatformVerifier)
                .unversioned_rustls_crypto_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .build();
            ureq::Agent::config_builder()
                .user_agent(crate::USER_AGENT)
                // Shared by every instance of the process: keep enough idle
                // connections for many threads refreshing at once (ureq's
                // defaults, 3 per host, make most of them reconnect).
                .max_idle_connections(256)
                .max_idle_connections_per_host(256)
                .max_redirects(0)
                .http_status_as_error(false)
                .tls_config(tls)
                .build()
                .new_agent()
        })
        .clone()
}

/// An [`Error::Http`] whose source is ureq's error, classified by kind as
/// the async transport classifies reqwest's (see [`HttpErrorKind`]): a TLS
/// failure, wherever ureq reports it (its own `Tls` and `Rustls` errors, or
/// an I/O error carrying rustls's), is [`HttpErrorKind::Tls`].
fn map_error(e: ureq::Error) -> Error {
    let kind = match &e {
        ureq::Error::Timeout(_) => HttpErrorKind::Timeout,
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => HttpErrorKind::Connect,
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => HttpErrorKind::Tls,
        ureq::Error::Io(io) => classify::io_kind(io),
        other if classify::is_tls_failure(other) => HttpErrorKind::Tls,
        _ => HttpErrorKind::Other,
    };
    Error::http(kind, e)
}
