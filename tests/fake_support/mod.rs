//! Requests to a `FakeSpotify` over real HTTP with `ureq`, shared by the
//! fake server's test files (`tests/fake_*.rs`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use spotify_auth::testing::FakeSpotify;

pub const ID: &str = "my-id";
pub const SECRET: &str = "my-secret";
pub const REDIRECT: &str = "http://127.0.0.1:8888/callback";

/// A server with the confidential client `ID` and `REDIRECT` registered.
pub fn start(rotate: bool, expires_in: u64) -> FakeSpotify {
    FakeSpotify::builder()
        .client(ID, Some(SECRET))
        .redirect_uri(REDIRECT)
        .rotate_refresh_tokens(rotate)
        .expires_in(expires_in)
        .start()
        .expect("start the fake server")
}

/// An agent that returns every status as a response and gives up after
/// `timeout`.
pub fn agent_with_timeout(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .build()
        .new_agent()
}

pub fn agent() -> ureq::Agent {
    agent_with_timeout(Duration::from_secs(5))
}

pub fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// Approves an authorization for `ID` with `scope` and returns the code.
pub fn code_for(server: &FakeSpotify, scope: &str) -> String {
    let url = url::Url::parse_with_params(
        &server.authorize_url(),
        [
            ("client_id", ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
        ],
    )
    .unwrap();
    let response = agent().get(url.as_str()).call().expect("authorize request");
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    let params: HashMap<String, String> = url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    params["code"].clone()
}

/// `POST /api/token` as `ID`; the status and JSON body, or the transport
/// error.
pub fn try_token(
    agent: &ureq::Agent,
    server: &FakeSpotify,
    form: &[(&str, &str)],
) -> Result<(u16, Value), ureq::Error> {
    let mut response = agent
        .post(server.token_url())
        .header("Authorization", basic(ID, SECRET))
        .send_form(form.iter().copied())?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string()?;
    Ok((status, serde_json::from_str(&body).expect("a JSON body")))
}

pub fn try_refresh(
    agent: &ureq::Agent,
    server: &FakeSpotify,
    refresh_token: &str,
) -> Result<(u16, Value), ureq::Error> {
    try_token(
        agent,
        server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

pub fn refresh(server: &FakeSpotify, refresh_token: &str) -> (u16, Value) {
    try_refresh(&agent(), server, refresh_token).expect("a response")
}

pub fn try_exchange(
    agent: &ureq::Agent,
    server: &FakeSpotify,
    code: &str,
) -> Result<(u16, Value), ureq::Error> {
    try_token(
        agent,
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
    )
}

pub fn exchange(server: &FakeSpotify, code: &str) -> (u16, Value) {
    try_exchange(&agent(), server, code).expect("a response")
}

/// The string field `name` of a successful token response.
pub fn field(reply: &(u16, Value), name: &str) -> String {
    assert_eq!(reply.0, 200, "{}", reply.1);
    reply.1[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {}", reply.1))
        .to_owned()
}

/// A Web API response: status, `WWW-Authenticate` header, JSON body.
pub struct ApiReply {
    pub status: u16,
    pub challenge: Option<String>,
    pub body: Value,
}

/// `method {web_api_url}{path}` with this `Authorization` header value.
pub fn web_api(
    server: &FakeSpotify,
    method: &str,
    path: &str,
    authorization: Option<&str>,
) -> ApiReply {
    let url = format!("{}{path}", server.web_api_url());
    let request = ureq::http::Request::builder().method(method).uri(url);
    let request = match authorization {
        Some(value) => request.header("Authorization", value),
        None => request,
    };
    let mut response = agent()
        .run(request.body(()).unwrap())
        .expect("a Web API response");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.body_mut().read_to_string().unwrap();
    ApiReply {
        status: response.status().as_u16(),
        challenge,
        body: serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}")),
    }
}

/// `GET /v1/me` with `Bearer {access_token}`.
pub fn me(server: &FakeSpotify, access_token: &str) -> ApiReply {
    web_api(
        server,
        "GET",
        "/me",
        Some(&format!("Bearer {access_token}")),
    )
}

/// Asserts a Web API error: status and message in Spotify's shape.
pub fn assert_api_error(reply: &ApiReply, status: u16, message: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["error"]["status"], status, "{}", reply.body);
    assert_eq!(reply.body["error"]["message"], message, "{}", reply.body);
}
