//! Reading a `tiny_http` request into plain data, and the replies the fake
//! server can give: an HTTP response, or hanging up the connection.

use std::io::{Read, Write};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::relay::Connections;

/// Bodies larger than this are cut (the fake server is for small form posts).
const MAX_BODY: u64 = 1024 * 1024;

/// One request, read in full: what the endpoints and the recorder work on.
pub(crate) struct Incoming {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: Instant,
}

impl Incoming {
    /// Reads the request line, headers and body (up to [`MAX_BODY`]).
    pub fn read(request: &mut tiny_http::Request) -> Self {
        let received_at = Instant::now();
        let (path, query) = match request.url().split_once('?') {
            Some((path, query)) => (path.to_owned(), parse_pairs(query.as_bytes())),
            None => (request.url().to_owned(), Vec::new()),
        };
        let headers = request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        // A body that cannot be read in full is handled as what arrived.
        let _ = request.as_reader().take(MAX_BODY).read_to_end(&mut body);
        Self {
            method: request.method().as_str().to_ascii_uppercase(),
            path,
            query,
            headers,
            body,
            received_at,
        }
    }

    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether this is a browser's CORS preflight: `OPTIONS` with an
    /// `Origin` and the method it asks about.
    pub fn is_preflight(&self) -> bool {
        self.method == "OPTIONS"
            && self.header("origin").is_some()
            && self.header("access-control-request-method").is_some()
    }

    /// Whether the body is declared `application/x-www-form-urlencoded`.
    pub fn is_form(&self) -> bool {
        self.header("content-type").is_some_and(|value| {
            let media_type = value.split(';').next().unwrap_or("").trim();
            media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    }

    /// The form parameters of the body, when it is a form; else none.
    pub fn form(&self) -> Vec<(String, String)> {
        if self.is_form() {
            parse_pairs(&self.body)
        } else {
            Vec::new()
        }
    }
}

/// `application/x-www-form-urlencoded` pairs (also the query string syntax).
pub(crate) fn parse_pairs(input: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(input).into_owned().collect()
}

/// The first value of `name` in a list of pairs.
pub(crate) fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The first header value with this (case-insensitive) name.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Decodes an `Authorization: Basic base64(id:secret)` value.
pub(crate) fn decode_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// What the server does with a request.
pub(crate) enum Reply {
    /// A complete HTTP response.
    Response {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Write these raw bytes (possibly nothing), then close the connection.
    HangUp { raw: Vec<u8> },
}

impl Reply {
    /// A JSON response with the no-store headers of a token endpoint.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Reply::Response {
            status,
            headers: vec![
                ("Content-Type", "application/json".to_owned()),
                ("Cache-Control", "no-store".to_owned()),
                ("Pragma", "no-cache".to_owned()),
            ],
            body: value.to_string().into_bytes(),
        }
    }

    /// An error in Spotify's token-endpoint shape.
    pub fn oauth_error(status: u16, error: &str, description: &str) -> Self {
        Self::json(
            status,
            &serde_json::json!({ "error": error, "error_description": description }),
        )
    }

    /// An error in the Web API's shape, `{"error": {"status": ..., "message": ...}}`;
    /// a 401 also carries a Bearer `WWW-Authenticate` challenge (RFC 6750).
    pub fn api_error(status: u16, message: &str) -> Self {
        let mut reply = Self::json(
            status,
            &serde_json::json!({ "error": { "status": status, "message": message } }),
        );
        if let (401, Reply::Response { headers, .. }) = (status, &mut reply) {
            headers.push((
                "WWW-Authenticate",
                format!(
                    "Bearer realm=\"spotify\", error=\"invalid_token\", error_description=\"{message}\""
                ),
            ));
        }
        reply
    }

    /// A small HTML page (fixed text only: nothing from the request is reflected).
    pub fn html(status: u16, message: &str) -> Self {
        Reply::Response {
            status,
            headers: vec![("Content-Type", "text/html; charset=utf-8".to_owned())],
            body: format!(
                "<!DOCTYPE html><html><head><title>Error</title></head>\
                 <body><h1>{message}</h1></body></html>"
            )
            .into_bytes(),
        }
    }

    /// `302 Found` to `location`.
    pub fn redirect(location: String) -> Self {
        Self::redirect_with(302, location)
    }

    /// A redirect with this status to `location`.
    pub fn redirect_with(status: u16, location: String) -> Self {
        Reply::Response {
            status,
            headers: vec![
                ("Location", location),
                ("Content-Type", "text/html; charset=utf-8".to_owned()),
            ],
            body: b"<!DOCTYPE html><html><body>Redirecting</body></html>".to_vec(),
        }
    }

    /// The answer to a CORS preflight: any origin, the methods the
    /// endpoints serve, and the request headers asked for (a Web API
    /// call's `Authorization`, say), for 10 minutes.
    pub fn preflight(incoming: &Incoming) -> Self {
        let asked = incoming
            .header("access-control-request-headers")
            .unwrap_or("")
            .to_owned();
        Reply::Response {
            status: 204,
            headers: vec![
                ("Access-Control-Allow-Origin", "*".to_owned()),
                (
                    "Access-Control-Allow-Methods",
                    "GET, POST, PUT, DELETE".to_owned(),
                ),
                ("Access-Control-Allow-Headers", asked),
                ("Access-Control-Max-Age", "600".to_owned()),
            ],
            body: Vec::new(),
        }
    }

    /// This reply, readable by a page of any origin (as Spotify's token
    /// endpoint and Web API are, for public clients): `*`, and the headers
    /// a client reads beyond the CORS-safelisted ones exposed.
    pub fn with_cors(mut self) -> Self {
        if let Reply::Response { headers, .. } = &mut self {
            headers.push(("Access-Control-Allow-Origin", "*".to_owned()));
            headers.push((
                "Access-Control-Expose-Headers",
                "Retry-After, WWW-Authenticate, Location".to_owned(),
            ));
        }
        self
    }

    /// `404 Not Found`.
    pub fn not_found() -> Self {
        Reply::Response {
            status: 404,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".to_owned())],
            body: b"Not Found".to_vec(),
        }
    }

    /// Sends the reply. Write errors (the client went away) are ignored.
    pub fn send(self, request: tiny_http::Request, connections: &Connections) {
        match self {
            Reply::Response {
                status,
                headers,
                body,
            } => {
                let mut response = tiny_http::Response::from_data(body).with_status_code(status);
                for (name, value) in headers {
                    if let Ok(header) = tiny_http::Header::from_bytes(name, value) {
                        response.add_header(header);
                    }
                }
                let _ = request.respond(response);
            }
            Reply::HangUp { raw } => {
                let peer = request.remote_addr().copied();
                // `into_writer` takes the response writer out of the request, so
                // dropping it sends nothing (dropping a `Request` sends a 500).
                let mut writer = request.into_writer();
                if !raw.is_empty() {
                    let _ = writer.write_all(&raw);
                    let _ = writer.flush();
                }
                drop(writer);
                if let Some(peer) = peer {
                    connections.hang_up(peer);
                }
            }
        }
    }
}
