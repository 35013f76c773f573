//! What reaches the loopback callback server: query strings, request
//! targets and whole HTTP/1.x requests, built from a valid callback
//! (`?code=...&state=...`) and its near misses: the state missing,
//! repeated, altered, encoded differently; other paths, methods, headers
//! and bodies. Codes and states are secrets
//! ([`MARKER`](super::MARKER)s); `error` and `error_description` never are
//! (a denial's page and error show them by design).

use super::{Gen, mutate, secret};

/// A callback parameter's name, or a near miss of one.
fn key(g: &mut Gen) -> String {
    g.pick(&[
        "code",
        "code",
        "state",
        "state",
        "state",
        "error",
        "error_description",
        "State",
        "stat%65",
        "state%20",
        "code[]",
        "",
        "x",
        "state=",
        "%73tate",
    ])
    .to_owned()
}

/// `s` with every byte outside `[A-Za-z0-9_.~-]` percent-encoded (which
/// decodes back to `s`).
pub fn percent_encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// `s` made safe for a request line: bytes outside printable ASCII, and
/// spaces, percent-encoded.
pub fn request_line_safe(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_graphic() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A parameter's value for `key`.
fn value(g: &mut Gen, key: &str, state: &str) -> String {
    if key.contains("error") {
        return g
            .pick(&["access_denied", "", "server_error", "x%20y", "%3Cscript%3E"])
            .into();
    }
    match g.range(0, 9) {
        0 => mutate(g, state),
        1 => percent_encode_all(state),
        2 => format!("{state}%00"),
        3 => String::new(),
        4 => secret(g),
        5 => g.text(10).replace(['&', '#'], ""),
        _ => {
            if key.starts_with("code") {
                secret(g)
            } else {
                state.to_owned()
            }
        }
    }
}

/// A query string: zero to five parameters, from a valid callback's and
/// near misses of them.
pub fn query(g: &mut Gen, state: &str) -> String {
    let mut pairs = Vec::new();
    for _ in 0..g.range(0, 5) {
        let key = key(g);
        let value = value(g, &key, state);
        pairs.push(match g.range(0, 9) {
            0 => key,
            _ => format!("{key}={value}"),
        });
    }
    pairs.join(g.pick(&["&", "&", "&", "&&"]))
}

/// A request target: the callback's path or a near miss of it, a query,
/// sometimes a fragment.
pub fn target(g: &mut Gen, path: &str, state: &str) -> String {
    let path = match g.range(0, 9) {
        0 => format!("{path}/"),
        1 => path.to_uppercase(),
        2 => format!("{path}/../{}", path.trim_start_matches('/')),
        3 => percent_encode_all(path).replacen("%2F", "/", 1),
        4 => "/favicon.ico".into(),
        5 => format!("/{path}"),
        6 => format!("http://127.0.0.1{path}"),
        _ => path.to_owned(),
    };
    let query = query(g, state);
    let mut target = match g.range(0, 7) {
        0 => path,
        1 => format!("{path}?"),
        _ => format!("{path}?{query}"),
    };
    if g.chance(1, 8) {
        target.push('#');
        target.push_str(&self::query(g, state));
    }
    target
}

/// Whether `target` carries exactly one `state` equal to `state`, in its
/// query (before any `#`), decoded as a form. Only such a request may end
/// the wait; any other must not.
pub fn carries_state(target: &str, state: &str) -> bool {
    let without_fragment = target.split('#').next().unwrap_or("");
    let query = without_fragment.split_once('?').map_or("", |(_, q)| q);
    let states: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .collect();
    states.len() == 1 && states[0] == state
}

/// One HTTP/1.x request to the callback server.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, another method, or a made-up one.
    pub method: String,
    /// The request target, safe for a request line.
    pub target: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Header lines, without line ends.
    pub headers: Vec<String>,
    /// The body (its length is declared).
    pub body: Vec<u8>,
}

impl Request {
    /// The request's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} {}\r\n", self.method, self.target, self.version);
        for header in &self.headers {
            out.push_str(header);
            out.push_str("\r\n");
        }
        if !self.body.is_empty() {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Whether this request is the one that may end the wait: a GET on
    /// exactly `path` carrying exactly the right `state`.
    pub fn may_end_the_wait(&self, path: &str, state: &str) -> bool {
        let request_path = self.target.split(['?', '#']).next().unwrap_or("");
        self.method == "GET" && request_path == path && carries_state(&self.target, state)
    }
}

/// A well-formed HTTP/1.x request: a method, a [`target`] (made safe for
/// the request line), headers a browser or a script might send, and
/// sometimes a body.
pub fn request(g: &mut Gen, path: &str, state: &str) -> Request {
    let method = g
        .pick(&[
            "GET", "GET", "GET", "GET", "HEAD", "POST", "PUT", "OPTIONS", "BREW", "get",
        ])
        .to_owned();
    let target = request_line_safe(&target(g, path, state));
    let version = g.pick(&["HTTP/1.1", "HTTP/1.1", "HTTP/1.0"]).to_owned();
    let mut headers = Vec::new();
    for _ in 0..g.range(0, 4) {
        let header = match g.range(0, 7) {
            0 => "Host: 127.0.0.1".to_owned(),
            1 => "Connection: keep-alive".into(),
            2 => "Accept: text/html".into(),
            3 => format!("Cookie: c={}", secret(g)),
            4 => "Referer: http://evil.example/".into(),
            5 => format!("X-{}: {}", g.word(8), g.word(20)),
            6 => "Expect: 100-continue".into(),
            _ => format!("User-Agent: {}", g.word(30)),
        };
        headers.push(header);
    }
    let body = if g.chance(1, 6) {
        g.bytes(64)
    } else {
        Vec::new()
    };
    Request {
        method,
        target,
        version,
        headers,
        body,
    }
}
