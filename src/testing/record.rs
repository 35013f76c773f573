//! What the fake server remembers about each request it received.

use std::fmt;
use std::time::Instant;

use super::faults::Fault;
use super::http::{self, Incoming};

/// Parameter names whose values are secrets: `Debug` shows `[redacted]`.
const SECRET_PARAMS: &[&str] = &[
    "client_secret",
    "code",
    "code_verifier",
    "refresh_token",
    "access_token",
];

/// One request as the fake server received it, in arrival order in
/// [`FakeSpotify::requests`](super::FakeSpotify::requests).
///
/// The fields hold everything, secrets included, so that tests can check
/// them; the `Debug` output redacts the `Authorization` header and secret
/// parameters (`client_secret`, `code`, `code_verifier`, `refresh_token`,
/// `access_token`).
#[derive(Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method, upper case (`GET`, `POST`).
    pub method: String,
    /// The path without the query string (`/api/token`).
    pub path: String,
    /// The query parameters, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The form parameters of an `application/x-www-form-urlencoded` body,
    /// decoded, in order; empty for any other body.
    pub form: Vec<(String, String)>,
    /// The raw body (lossily decoded as UTF-8).
    pub body: String,
    /// When the request arrived (before any injected delay).
    pub received_at: Instant,
    /// The fault injected into this request, if any.
    pub fault: Option<Fault>,
}

impl RecordedRequest {
    pub(crate) fn new(incoming: &Incoming, fault: Option<Fault>) -> Self {
        Self {
            method: incoming.method.clone(),
            path: incoming.path.clone(),
            query: incoming.query.clone(),
            headers: incoming.headers.clone(),
            form: incoming.form(),
            body: String::from_utf8_lossy(&incoming.body).into_owned(),
            received_at: incoming.received_at,
            fault,
        }
    }

    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header(&self.headers, name)
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        http::param(&self.query, name)
    }

    /// The first value of a form (body) parameter.
    pub fn form_param(&self, name: &str) -> Option<&str> {
        http::param(&self.form, name)
    }

    /// The `(client_id, client_secret)` of an `Authorization: Basic` header.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        self.header("authorization").and_then(http::decode_basic)
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let value = if name == "authorization" || name == "cookie" {
                    "[redacted]"
                } else {
                    value.as_str()
                };
                (name.as_str(), value)
            })
            .collect();
        let body = if self.form.is_empty() {
            format_args!("<{} bytes>", self.body.len()).to_string()
        } else {
            "<form>".to_owned()
        };
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &redacted(&self.query))
            .field("headers", &headers)
            .field("form", &redacted(&self.form))
            .field("body", &body)
            .field("received_at", &self.received_at)
            .field("fault", &self.fault)
            .finish()
    }
}

fn redacted(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(name, value)| {
            let value = if SECRET_PARAMS.contains(&name.as_str()) {
                "[redacted]"
            } else {
                value.as_str()
            };
            (name.as_str(), value)
        })
        .collect()
}
