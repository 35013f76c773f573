//! The fake Spotify accounts server (`spotify_auth::testing`), driven over
//! real HTTP with `ureq`.
#![cfg(all(feature = "testing", feature = "blocking"))]

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use spotify_auth::pkce_challenge;
use spotify_auth::testing::{FakeSpotify, Fault};

const ID: &str = "my-id";
const SECRET: &str = "my-secret";
const PUBLIC_ID: &str = "my-pkce-app";
const REDIRECT: &str = "http://127.0.0.1:8888/callback";
const OTHER_REDIRECT: &str = "http://[::1]:9999/other";
const VERIFIER: &str = "a-verifier-of-forty-three-or-more-characters-0123456789";

fn start() -> FakeSpotify {
    FakeSpotify::builder()
        .client(ID, Some(SECRET))
        .client(PUBLIC_ID, None)
        .redirect_uri(REDIRECT)
        .redirect_uri(OTHER_REDIRECT)
        .expires_in(1234)
        .start()
        .expect("start the fake server")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent()
}

/// `GET /authorize` with these query parameters.
fn authorize(server: &FakeSpotify, params: &[(&str, &str)]) -> ureq::http::Response<ureq::Body> {
    let url = url::Url::parse_with_params(&server.authorize_url(), params).unwrap();
    agent().get(url.as_str()).call().expect("authorize request")
}

/// The query parameters of a redirect's `Location`.
fn location(response: &ureq::http::Response<ureq::Body>) -> (String, HashMap<String, String>) {
    let location = response.headers()["location"].to_str().unwrap();
    let url = url::Url::parse(location).unwrap();
    let base = format!("{}://{}{}", url.scheme(), url.authority(), url.path());
    (base, url.query_pairs().into_owned().collect())
}

/// Approves an authorization and returns the code.
fn code_for(server: &FakeSpotify, client_id: &str, challenge: Option<&str>) -> String {
    let mut params = vec![
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("scope", "user-read-email playlist-read-private"),
    ];
    if let Some(challenge) = challenge {
        params.extend([
            ("code_challenge_method", "S256"),
            ("code_challenge", challenge),
        ]);
    }
    let response = authorize(server, &params);
    assert_eq!(response.status(), 302);
    location(&response).1.remove("code").expect("a code")
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// `POST /api/token` with a form body and optional Basic credentials;
/// returns the status and the JSON body.
fn token(server: &FakeSpotify, auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut request = agent().post(server.token_url());
    if let Some((id, secret)) = auth {
        request = request.header("Authorization", basic(id, secret));
    }
    let mut response = request
        .send_form(form.iter().copied())
        .expect("token request");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&body).expect("a JSON body"))
}

fn exchange(server: &FakeSpotify, code: &str) -> (u16, Value) {
    token(
        server,
        Some((ID, SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ],
    )
}

fn refresh(server: &FakeSpotify, refresh_token: &str) -> (u16, Value) {
    token(
        server,
        Some((ID, SECRET)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

fn assert_error(reply: &(u16, Value), status: u16, error: &str) {
    assert_eq!(reply.0, status, "{}", reply.1);
    assert_eq!(reply.1["error"], error, "{}", reply.1);
    assert!(reply.1["error_description"].is_string(), "{}", reply.1);
}

#[test]
fn authorize_approves_with_code_and_state() {
    let server = start();
    let response = authorize(
        &server,
        &[
            ("client_id", ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "user-read-email"),
            ("state", "xyz 123"),
        ],
    );
    assert_eq!(response.status(), 302);
    let (base, params) = location(&response);
    assert_eq!(base, REDIRECT);
    assert!(params["code"].len() > 20);
    assert_eq!(params["state"], "xyz 123");
    assert!(!params.contains_key("error"));

    // Without a state none is echoed; the other registered URI works too.
    let response = authorize(
        &server,
        &[
            ("client_id", ID),
            ("response_type", "code"),
            ("redirect_uri", OTHER_REDIRECT),
        ],
    );
    let (base, params) = location(&response);
    assert_eq!(base, OTHER_REDIRECT);
    assert!(params.contains_key("code"));
    assert!(!params.contains_key("state"));
}

#[test]
fn authorize_denied_redirects_with_access_denied() {
    let server = start();
    server.set_deny(true);
    let response = authorize(
        &server,
        &[
            ("client_id", ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("state", "s1"),
        ],
    );
    assert_eq!(response.status(), 302);
    let (base, params) = location(&response);
    assert_eq!(base, REDIRECT);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "s1");
    assert!(!params.contains_key("code"));

    server.set_deny(false);
    assert!(!code_for(&server, ID, None).is_empty());
}

#[test]
fn authorize_refuses_unregistered_client_or_redirect_uri_without_redirecting() {
    let server = start();
    for params in [
        [
            ("client_id", "nobody"),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
        ],
        [
            ("client_id", ID),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:8888/elsewhere"),
        ],
        [
            ("client_id", ID),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:8888/callback/"),
        ],
    ] {
        let mut response = authorize(&server, &params);
        assert_eq!(response.status(), 400);
        assert!(response.headers().get("location").is_none());
        let page = response.body_mut().read_to_string().unwrap();
        assert!(page.contains("INVALID_CLIENT"), "{page}");
    }
}

#[test]
fn authorize_checks_response_type_and_pkce_parameters() {
    let server = start();
    let redirect_error = |params: &[(&str, &str)]| {
        let response = authorize(&server, params);
        assert_eq!(response.status(), 302);
        location(&response).1.remove("error").expect("an error")
    };
    let token = [("redirect_uri", REDIRECT), ("response_type", "token")];
    assert_eq!(
        redirect_error(&[&token[..], &[("client_id", ID)]].concat()),
        "unsupported_response_type"
    );
    let base = [("redirect_uri", REDIRECT), ("response_type", "code")];
    // A public client must send a challenge...
    assert_eq!(
        redirect_error(&[&base[..], &[("client_id", PUBLIC_ID)]].concat()),
        "invalid_request"
    );
    // ...with method S256.
    let plain = [
        ("client_id", PUBLIC_ID),
        ("code_challenge", VERIFIER),
        ("code_challenge_method", "plain"),
    ];
    assert_eq!(
        redirect_error(&[&base[..], &plain[..]].concat()),
        "invalid_request"
    );
    assert!(!code_for(&server, PUBLIC_ID, Some(&pkce_challenge(VERIFIER))).is_empty());
}

#[test]
fn code_exchange_returns_tokens_once() {
    let server = start();
    let code = code_for(&server, ID, None);
    let (status, body) = exchange(&server, &code);
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].as_str().unwrap().len() > 20);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1234);
    assert_eq!(body["scope"], "user-read-email playlist-read-private");
    assert!(body["refresh_token"].as_str().unwrap().len() > 20);

    // Used up.
    assert_error(&exchange(&server, &code), 400, "invalid_grant");
    assert_error(&exchange(&server, "made-up"), 400, "invalid_grant");

    // Each response has its own access token.
    let second = exchange(&server, &code_for(&server, ID, None)).1;
    assert_ne!(body["access_token"], second["access_token"]);
    assert_ne!(body["refresh_token"], second["refresh_token"]);
}

#[test]
fn code_exchange_requires_the_same_redirect_uri() {
    let server = start();
    let code = code_for(&server, ID, None);
    let reply = token(
        &server,
        Some((ID, SECRET)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", OTHER_REDIRECT),
        ],
    );
    assert_error(&reply, 400, "invalid_grant");
}

#[test]
fn confidential_client_must_authenticate() {
    let server = start();
    let code = code_for(&server, ID, None);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    assert_error(
        &token(&server, Some((ID, "wrong")), &form),
        401,
        "invalid_client",
    );
    assert_error(
        &token(&server, Some(("nobody", SECRET)), &form),
        401,
        "invalid_client",
    );
    assert_error(&token(&server, None, &form), 401, "invalid_client");
    let with_id = [&form[..], &[("client_id", ID)]].concat();
    assert_error(&token(&server, None, &with_id), 401, "invalid_client");
    // A public client cannot use Basic (it has no secret).
    assert_error(
        &token(&server, Some((PUBLIC_ID, "")), &form),
        401,
        "invalid_client",
    );
    // The failed attempts did not use up the code.
    assert_eq!(token(&server, Some((ID, SECRET)), &form).0, 200);
}

#[test]
fn pkce_public_client_exchanges_with_its_verifier() {
    let server = start();
    let challenge = pkce_challenge(VERIFIER);
    let exchange_public = |code: &str, verifier: &str| {
        token(
            &server,
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("client_id", PUBLIC_ID),
                ("code_verifier", verifier),
            ],
        )
    };

    let code = code_for(&server, PUBLIC_ID, Some(&challenge));
    let (status, body) = exchange_public(&code, VERIFIER);
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_string());

    let code = code_for(&server, PUBLIC_ID, Some(&challenge));
    let wrong = exchange_public(&code, &VERIFIER.replace('a', "b"));
    assert_error(&wrong, 400, "invalid_grant");
    assert_eq!(wrong.1["error_description"], "code_verifier was incorrect");

    // The public client refreshes with its client_id in the body.
    let refresh_token = body["refresh_token"].as_str().unwrap();
    let (status, refreshed) = token(
        &server,
        None,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", PUBLIC_ID),
        ],
    );
    assert_eq!(status, 200, "{refreshed}");
}

#[test]
fn confidential_client_with_a_challenge_must_send_the_verifier() {
    let server = start();
    let challenge = pkce_challenge(VERIFIER);
    let code = code_for(&server, ID, Some(&challenge));
    assert_error(&exchange(&server, &code), 400, "invalid_request");

    let code = code_for(&server, ID, Some(&challenge));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    assert_eq!(token(&server, Some((ID, SECRET)), &form).0, 200);
}

#[test]
fn refresh_without_rotation_keeps_the_refresh_token() {
    let server = start();
    let refresh_token = server.issue_refresh_token(ID, "user-read-email");
    for _ in 0..2 {
        let (status, body) = refresh(&server, &refresh_token);
        assert_eq!(status, 200, "{body}");
        assert!(body["access_token"].is_string());
        assert_eq!(body["scope"], "user-read-email");
        assert_eq!(body["expires_in"], 1234);
        assert!(body.get("refresh_token").is_none(), "{body}");
    }
    // Another client cannot use it.
    let other = FakeSpotify::builder()
        .client(ID, Some(SECRET))
        .client("other", Some("other-secret"))
        .start()
        .unwrap();
    let theirs = other.issue_refresh_token("other", "");
    assert_error(&refresh(&other, &theirs), 400, "invalid_grant");
    assert_error(&refresh(&server, "unknown"), 400, "invalid_grant");
}

#[test]
fn refresh_with_rotation_replaces_the_refresh_token() {
    let server = FakeSpotify::builder()
        .client(ID, Some(SECRET))
        .rotate_refresh_tokens(true)
        .start()
        .unwrap();
    let first = server.issue_refresh_token(ID, "streaming");
    let (status, body) = refresh(&server, &first);
    assert_eq!(status, 200, "{body}");
    let second = body["refresh_token"].as_str().expect("a new refresh token");
    assert_ne!(second, first);
    assert_eq!(body["scope"], "streaming");

    assert_error(&refresh(&server, &first), 400, "invalid_grant");
    let (status, body) = refresh(&server, second);
    assert_eq!(status, 200, "{body}");
    assert!(body["refresh_token"].is_string());
}

#[test]
fn revoked_or_expired_refresh_tokens_are_invalid_grant() {
    let server = start();
    let revoked = server.issue_refresh_token(ID, "");
    let expired = server.issue_refresh_token(ID, "");
    assert!(server.revoke_refresh_token(&revoked));
    assert!(server.expire_refresh_token(&expired));
    assert!(!server.revoke_refresh_token("unknown"));

    let reply = refresh(&server, &revoked);
    assert_error(&reply, 400, "invalid_grant");
    assert_eq!(reply.1["error_description"], "Refresh token revoked");
    assert_error(&refresh(&server, &expired), 400, "invalid_grant");
}

#[test]
fn client_credentials_returns_an_app_token() {
    let server = start();
    let form = [("grant_type", "client_credentials")];
    let (status, body) = token(&server, Some((ID, SECRET)), &form);
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none());
    assert_error(&token(&server, None, &form), 401, "invalid_client");
    let public = [&form[..], &[("client_id", PUBLIC_ID)]].concat();
    assert_error(&token(&server, None, &public), 401, "invalid_client");
}

#[test]
fn malformed_token_requests_are_refused() {
    let server = start();
    let auth = Some((ID, SECRET));
    assert_error(
        &token(&server, auth, &[("grant_type", "password")]),
        400,
        "unsupported_grant_type",
    );
    assert_error(&token(&server, auth, &[]), 400, "invalid_request");
    assert_error(
        &token(&server, auth, &[("grant_type", "authorization_code")]),
        400,
        "invalid_request",
    );
    assert_error(
        &token(&server, auth, &[("grant_type", "refresh_token")]),
        400,
        "invalid_request",
    );

    let mut response = agent()
        .post(server.token_url())
        .header("Authorization", basic(ID, SECRET))
        .content_type("application/json")
        .send(r#"{"grant_type":"client_credentials"}"#)
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_request");

    // Outside the accounts endpoints and the Web API (tests/fake_web_api.rs).
    let response = agent()
        .get(format!("{}/api/me", server.url()))
        .call()
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[test]
fn fault_status_twice_then_success() {
    let server = start();
    let refresh_token = server.issue_refresh_token(ID, "");
    server.inject(Fault::Status(500), 2);
    assert_error(&refresh(&server, &refresh_token), 500, "server_error");
    assert_error(&refresh(&server, &refresh_token), 500, "server_error");
    assert_eq!(refresh(&server, &refresh_token).0, 200);

    server.inject(Fault::Status(503), 1);
    assert_error(
        &refresh(&server, &refresh_token),
        503,
        "temporarily_unavailable",
    );
    assert_eq!(refresh(&server, &refresh_token).0, 200);
    assert_eq!(server.token_request_count(), 5);

    // A faulted exchange leaves the code usable.
    let code = code_for(&server, ID, None);
    server.inject(Fault::Status(502), 1);
    assert_eq!(exchange(&server, &code).0, 502);
    assert_eq!(exchange(&server, &code).0, 200);
}

#[test]
fn fault_rate_limited_sends_retry_after() {
    let server = start();
    server.inject(Fault::rate_limited(7), 1);
    let response = agent()
        .post(server.token_url())
        .header("Authorization", basic(ID, SECRET))
        .send_form([("grant_type", "client_credentials")])
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(
        token(
            &server,
            Some((ID, SECRET)),
            &[("grant_type", "client_credentials")]
        )
        .0,
        200
    );
}

#[test]
fn fault_drop_connection_is_a_transport_error() {
    let server = start();
    let agent = agent();
    let send = |agent: &ureq::Agent| {
        agent
            .post(server.token_url())
            .header("Authorization", basic(ID, SECRET))
            .send_form([("grant_type", "client_credentials")])
    };
    // Warm the agent's pool first, so the dropped connection is a reused one.
    assert_eq!(send(&agent).unwrap().status(), 200);
    server.inject(Fault::DropConnection, 2);
    let started = Instant::now();
    let error = send(&agent).expect_err("no response");
    assert!(started.elapsed() < Duration::from_secs(2), "{error}");
    assert!(
        matches!(error, ureq::Error::Io(_) | ureq::Error::Protocol(_)),
        "{error:?}"
    );
    // A fresh connection is dropped the same way.
    send(&ureq::Agent::new_with_defaults()).expect_err("no response");
    // Then the server answers again, on the same agent.
    assert_eq!(send(&agent).unwrap().status(), 200);
    assert_eq!(server.token_request_count(), 4);
}

#[test]
fn fault_truncated_body_fails_while_reading() {
    let server = start();
    server.inject(Fault::TruncatedBody, 1);
    let mut response = agent()
        .post(server.token_url())
        .header("Authorization", basic(ID, SECRET))
        .send_form([("grant_type", "client_credentials")])
        .expect("the headers arrive");
    assert_eq!(response.status(), 200);
    response
        .body_mut()
        .read_to_string()
        .expect_err("the body is cut short");
}

#[test]
fn fault_delay_does_not_stall_other_requests() {
    let server = start();
    let delay = Duration::from_millis(400);
    server.inject(Fault::Delay(delay), 1);
    std::thread::scope(|scope| {
        let delayed = scope.spawn(|| {
            let started = Instant::now();
            let reply = token(
                &server,
                Some((ID, SECRET)),
                &[("grant_type", "client_credentials")],
            );
            (reply.0, started.elapsed())
        });
        // Give the delayed request time to arrive, then another one overtakes it.
        while server.token_request_count() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let started = Instant::now();
        let quick = token(
            &server,
            Some((ID, SECRET)),
            &[("grant_type", "client_credentials")],
        );
        assert_eq!(quick.0, 200);
        assert!(started.elapsed() < delay, "{:?}", started.elapsed());
        let (status, elapsed) = delayed.join().unwrap();
        assert_eq!(status, 200);
        assert!(elapsed >= delay, "{elapsed:?}");
    });
}

#[test]
fn fault_raw_bodies() {
    let server = start();
    server.inject(Fault::body(200, "text/html", "<html>not json</html>"), 1);
    server.inject(
        Fault::body(200, "application/json", r#"{"token_type":"Bearer"}"#),
        1,
    );
    let huge = "x".repeat(3 * 1024 * 1024);
    server.inject(Fault::body(502, "", huge.clone()), 1);

    let send = || {
        let mut response = agent()
            .post(server.token_url())
            .header("Authorization", basic(ID, SECRET))
            .send_form([("grant_type", "client_credentials")])
            .unwrap();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .unwrap();
        (response.status().as_u16(), content_type, body)
    };
    assert_eq!(
        send(),
        (
            200,
            Some("text/html".into()),
            b"<html>not json</html>".to_vec()
        )
    );
    assert_eq!(
        send(),
        (
            200,
            Some("application/json".into()),
            br#"{"token_type":"Bearer"}"#.to_vec()
        )
    );
    let (status, _, body) = send();
    assert_eq!((status, body.len()), (502, huge.len()));
    assert_eq!(send().0, 200);
}

#[test]
fn requests_are_recorded_and_counted() {
    let server = start();
    let code = code_for(&server, ID, None);
    server.inject(Fault::Status(500), 1);
    exchange(&server, &code);
    exchange(&server, &code);
    agent()
        .get(format!("{}/nowhere?x=1", server.url()))
        .call()
        .unwrap();

    assert_eq!(server.authorize_request_count(), 1);
    assert_eq!(server.token_request_count(), 2);
    let requests = server.requests();
    assert_eq!(requests.len(), 4);

    let authorize = &requests[0];
    assert_eq!(
        (authorize.method.as_str(), authorize.path.as_str()),
        ("GET", "/authorize")
    );
    assert_eq!(authorize.query_param("client_id"), Some(ID));
    assert_eq!(
        authorize.query_param("scope"),
        Some("user-read-email playlist-read-private")
    );
    assert!(authorize.form.is_empty());

    let faulted = &requests[1];
    assert_eq!(
        (faulted.method.as_str(), faulted.path.as_str()),
        ("POST", "/api/token")
    );
    assert_eq!(faulted.fault, Some(Fault::Status(500)));
    assert_eq!(faulted.form_param("grant_type"), Some("authorization_code"));
    assert_eq!(faulted.form_param("code"), Some(code.as_str()));
    assert_eq!(faulted.form_param("redirect_uri"), Some(REDIRECT));
    assert_eq!(
        faulted.basic_auth(),
        Some((ID.to_owned(), SECRET.to_owned()))
    );
    assert!(
        faulted
            .header("Content-Type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    assert!(
        faulted
            .headers
            .iter()
            .all(|(name, _)| *name == name.to_ascii_lowercase())
    );
    assert_eq!(requests[2].fault, None);
    assert!(requests[1].received_at <= requests[2].received_at);
    assert_eq!(requests[3].path, "/nowhere");
    assert_eq!(requests[3].query_param("x"), Some("1"));

    // Debug output keeps secrets out.
    let debug = format!("{requests:?}");
    assert!(!debug.contains(&code), "{debug}");
    assert!(
        !debug.contains(&STANDARD.encode(format!("{ID}:{SECRET}"))),
        "{debug}"
    );
    assert!(debug.contains("[redacted]"));
}

#[test]
fn drop_frees_the_port_and_does_not_hang() {
    let server = start();
    let addr = server.addr();
    assert_eq!(server.url(), format!("http://{addr}"));
    // Leave a pooled keep-alive connection open and a delayed request pending.
    let agent = agent();
    assert!(send_to(&agent, addr).is_ok());
    server.inject(Fault::Delay(Duration::from_secs(30)), 1);
    let pending = std::thread::spawn(move || send_to(&ureq::Agent::new_with_defaults(), addr));
    while server.token_request_count() < 2 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    // The pending client is cut off, not left waiting 30 s.
    assert!(pending.join().unwrap().is_err());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(port_is_free(addr));
    assert!(send_to(&agent, addr).is_err());
}

fn port_is_free(addr: std::net::SocketAddr) -> bool {
    TcpListener::bind(addr).is_ok()
}

/// A client-credentials request; `Ok` only for a 200.
fn send_to(agent: &ureq::Agent, addr: std::net::SocketAddr) -> Result<(), ureq::Error> {
    let response = agent
        .post(format!("http://{addr}/api/token"))
        .header("Authorization", basic(ID, SECRET))
        .send_form([("grant_type", "client_credentials")])?;
    match response.status().as_u16() {
        200 => Ok(()),
        status => Err(ureq::Error::StatusCode(status)),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn usable_from_inside_a_tokio_runtime() {
    let server = std::sync::Arc::new(start());
    server.inject(Fault::Status(500), 1);
    let refresh_token = server.issue_refresh_token(ID, "");
    let status = tokio::task::spawn_blocking({
        let server = std::sync::Arc::clone(&server);
        move || {
            let first = refresh(&server, &refresh_token).0;
            let second = refresh(&server, &refresh_token).0;
            (first, second)
        }
    })
    .await
    .unwrap();
    assert_eq!(status, (500, 200));
    assert_eq!(server.token_request_count(), 2);
    drop(server);
}
