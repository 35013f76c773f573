//! Fake Spotify for pages: the native side of the browser tests and of the
//! example page (`examples/browser/`).
//!
//! ```text
//! cargo run --example browser_fake                       # the browser tests' harness
//! cargo run --example browser_fake -- --serve examples/browser [--port 8000] [--spotify CLIENT_ID]
//! ```
//!
//! It prints its URL (`http://127.0.0.1:PORT`) on the first line of stdout,
//! then answers, to pages of any origin (CORS):
//!
//! - `POST /fakes[?expires_in=SECONDS]`: starts a new [`FakeSpotify`]
//!   (public client `browser-client`, redirect URIs `http://127.0.0.1/callback`
//!   on any port, refresh tokens rotated) and answers
//!   `{"id", "url", "web_api_url", "client_id"}`; a test gets a server of
//!   its own, and its counts start at zero;
//! - `GET /fakes/ID`: what that server saw, `{"token_requests", "refreshes",
//!   "exchanges", "refresh_tokens": [{"status", "refresh_requests"}]}`;
//! - `POST /fakes/ID/expire-access-tokens`: its Web API refuses every
//!   access token issued so far (401).
//!
//! With `--serve DIR` it also serves the files of `DIR` (the example page)
//! and `/config.json`, which tells the page where to log in: a fake started
//! at once (client `example-client`, the page's own URL as redirect URI),
//! or, with `--spotify CLIENT_ID`, Spotify itself (register
//! `http://127.0.0.1:PORT/` as a redirect URI of that app). Runs until
//! killed; it serves loopback only.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use serde_json::{Value, json};
use spotify_auth::testing::FakeSpotify;

/// The public client of the fakes made for tests.
const TEST_CLIENT: &str = "browser-client";
/// The public client of the example page's fake.
const EXAMPLE_CLIENT: &str = "example-client";

struct Options {
    port: u16,
    serve: Option<PathBuf>,
    spotify_client: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        port: 0,
        serve: None,
        spotify_client: None,
    };
    let mut port = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--port" => port = Some(value()?.parse().map_err(|_| "--port: a number")?),
            "--serve" => options.serve = Some(PathBuf::from(value()?)),
            "--spotify" => options.spotify_client = Some(value()?),
            _ => {
                return Err(format!(
                    "unknown argument {arg:?} (see the file's doc comment)"
                ));
            }
        }
    }
    // The example page's redirect URI names a port: a fixed one by default.
    options.port = port.unwrap_or(if options.serve.is_some() { 8000 } else { 0 });
    Ok(options)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let server = tiny_http::Server::http(("127.0.0.1", options.port)).map_err(|e| e.to_string())?;
    let addr = server.server_addr().to_ip().ok_or("not an IP address")?;
    let base = format!("http://{addr}");
    let fakes = Fakes::default();

    // The example page's settings, /config.json.
    let config = match (&options.serve, &options.spotify_client) {
        (None, _) => None,
        (Some(_), Some(client_id)) => Some(json!({
            "client_id": client_id,
            "redirect_uri": format!("{base}/"),
            "authorize_url": "https://accounts.spotify.com/authorize",
            "token_url": "https://accounts.spotify.com/api/token",
            "api_url": "https://api.spotify.com/v1",
        })),
        (Some(_), None) => {
            let fake = FakeSpotify::builder()
                .client(EXAMPLE_CLIENT, None)
                .redirect_uri(format!("{base}/"))
                .rotate_refresh_tokens(true)
                .start()?;
            let config = json!({
                "client_id": EXAMPLE_CLIENT,
                "redirect_uri": format!("{base}/"),
                "authorize_url": fake.authorize_url(),
                "token_url": fake.token_url(),
                "api_url": fake.web_api_url(),
            });
            fakes.keep(fake);
            Some(config)
        }
    };

    println!("{base}");
    if let Some(dir) = &options.serve {
        eprintln!(
            "serving {} at {base}/ (logging in with {})",
            dir.display(),
            {
                if options.spotify_client.is_some() {
                    "Spotify"
                } else {
                    "a fake Spotify"
                }
            }
        );
    }
    for request in server.incoming_requests() {
        let reply = answer(&request, &fakes, options.serve.as_deref(), config.as_ref());
        let _ = request.respond(reply);
    }
    Ok(())
}

/// The fakes started so far, by id.
#[derive(Default)]
struct Fakes(Mutex<HashMap<usize, FakeSpotify>>);

impl Fakes {
    fn keep(&self, fake: FakeSpotify) -> usize {
        let mut fakes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let id = fakes.len();
        fakes.insert(id, fake);
        id
    }

    fn with<T>(&self, id: &str, f: impl FnOnce(&FakeSpotify) -> T) -> Option<T> {
        let fakes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        fakes.get(&id.parse().ok()?).map(f)
    }
}

type Reply = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn answer(
    request: &tiny_http::Request,
    fakes: &Fakes,
    serve: Option<&Path>,
    config: Option<&Value>,
) -> Reply {
    let method = request.method().as_str().to_ascii_uppercase();
    let (path, query) = request.url().split_once('?').unwrap_or((request.url(), ""));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let reply = match (method.as_str(), parts.as_slice()) {
        ("OPTIONS", _) => tiny_http::Response::from_data(Vec::new())
            .with_status_code(204)
            .with_header(header("Access-Control-Allow-Methods", "GET, POST"))
            .with_header(header("Access-Control-Max-Age", "600")),
        ("POST", ["fakes"]) => new_fake(fakes, query),
        ("GET", ["fakes", id]) => fakes
            .with(id, |fake| json_reply(&seen(fake)))
            .unwrap_or_else(not_found),
        ("POST", ["fakes", id, "expire-access-tokens"]) => fakes
            .with(id, |fake| {
                fake.expire_access_tokens();
                json_reply(&json!({}))
            })
            .unwrap_or_else(not_found),
        ("GET", ["config.json"]) => config.map(json_reply).unwrap_or_else(not_found),
        ("GET", _) => serve.map_or_else(not_found, |dir| static_file(dir, path)),
        _ => not_found(),
    };
    reply.with_header(header("Access-Control-Allow-Origin", "*"))
}

fn new_fake(fakes: &Fakes, query: &str) -> Reply {
    let expires_in = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "expires_in")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(3600);
    let started = FakeSpotify::builder()
        .client(TEST_CLIENT, None)
        .redirect_uri("http://127.0.0.1/callback")
        .rotate_refresh_tokens(true)
        .expires_in(expires_in)
        .start();
    match started {
        Ok(fake) => {
            let described = json!({
                "url": fake.url(),
                "web_api_url": fake.web_api_url(),
                "client_id": TEST_CLIENT,
            });
            let id = fakes.keep(fake);
            let mut described = described;
            described["id"] = json!(id.to_string());
            json_reply(&described)
        }
        Err(e) => json_reply(&json!({ "error": e.to_string() })).with_status_code(500),
    }
}

/// What a fake saw: its token requests by grant, and its refresh tokens.
fn seen(fake: &FakeSpotify) -> Value {
    let token_requests: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/token")
        .collect();
    let grants = |grant: &str| {
        token_requests
            .iter()
            .filter(|r| r.form.iter().any(|(k, v)| k == "grant_type" && v == grant))
            .count()
    };
    let refresh_tokens: Vec<Value> = fake
        .issued_refresh_tokens()
        .iter()
        .map(|t| {
            json!({
                "status": format!("{:?}", t.status()),
                "refresh_requests": t.refresh_requests(),
            })
        })
        .collect();
    json!({
        "token_requests": token_requests.len(),
        "refreshes": grants("refresh_token"),
        "exchanges": grants("authorization_code"),
        "refresh_tokens": refresh_tokens,
    })
}

/// A file under `dir` (`/` is `index.html`); nothing outside it.
fn static_file(dir: &Path, path: &str) -> Reply {
    let relative = Path::new(path.trim_start_matches('/'));
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return not_found();
    }
    let mut file = dir.join(relative);
    if path.ends_with('/') || path.is_empty() {
        file.push("index.html");
    }
    let Ok(body) = std::fs::read(&file) else {
        return not_found();
    };
    let content_type = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    tiny_http::Response::from_data(body)
        .with_header(header("Content-Type", content_type))
        .with_header(header("Cache-Control", "no-store"))
}

fn json_reply(value: &Value) -> Reply {
    tiny_http::Response::from_data(value.to_string().into_bytes())
        .with_header(header("Content-Type", "application/json"))
}

fn not_found() -> Reply {
    tiny_http::Response::from_data(b"Not Found".to_vec()).with_status_code(404)
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name, value).expect("a valid header")
}
