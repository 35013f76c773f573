//! The fake server's Web API (`GET /v1/me`) and its users: which access
//! tokens it accepts, Spotify's 401s for the others, and the signed-in user
//! carried from `/authorize` through the exchange and every refresh.

mod fake_support;

use std::time::Duration;

use fake_support::*;
use spotify_auth::testing::{FakeSpotify, Fault};

/// An access token for the signed-in user, through the code flow.
fn access_token(server: &FakeSpotify, scope: &str) -> String {
    let code = code_for(server, scope);
    field(&exchange(server, &code), "access_token")
}

#[test]
fn me_returns_the_user_of_a_live_token() {
    let server = start(false, 3600);
    assert_eq!(server.web_api_url(), format!("{}/v1", server.url()));
    assert_eq!(server.signed_in_user(), "fake-user");
    let token = access_token(&server, "user-read-email user-read-private");
    assert!(server.access_token_is_live(&token));

    let reply = me(&server, &token);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.challenge, None);
    let user = &reply.body;
    assert_eq!(user["id"], "fake-user");
    assert_eq!(user["type"], "user");
    assert_eq!(user["uri"], "spotify:user:fake-user");
    assert_eq!(user["display_name"], "fake-user");
    assert_eq!(
        user["href"],
        format!("{}/users/fake-user", server.web_api_url())
    );
    assert_eq!(
        user["external_urls"]["spotify"],
        "https://open.spotify.com/user/fake-user"
    );
    assert_eq!(user["followers"]["total"], 0);
    assert!(user["images"].is_array());
    assert_eq!(user["email"], "fake-user@example.com");
    assert!(user["country"].is_string() && user["product"].is_string());
    assert!(user["explicit_content"].is_object());
    assert_eq!(server.web_api_request_count(), 1);
}

#[test]
fn me_shows_private_fields_only_with_their_scopes() {
    let server = start(false, 3600);
    let reply = me(&server, &access_token(&server, ""));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["id"], "fake-user");
    for private in ["email", "country", "product", "explicit_content"] {
        assert!(reply.body.get(private).is_none(), "{}", reply.body);
    }
    let reply = me(&server, &access_token(&server, "user-read-email"));
    assert_eq!(reply.body["email"], "fake-user@example.com");
    assert!(reply.body.get("country").is_none(), "{}", reply.body);
}

#[test]
fn me_refuses_missing_unknown_and_non_bearer_credentials() {
    let server = start(false, 3600);
    let token = access_token(&server, "");

    let missing = web_api(&server, "GET", "/me", None);
    assert_api_error(&missing, 401, "No token provided");
    let challenge = missing.challenge.expect("a WWW-Authenticate challenge");
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("invalid_token"), "{challenge}");

    let unknown = me(&server, "BQnot-a-token-this-server-issued");
    assert_api_error(&unknown, 401, "Invalid access token");
    assert!(!server.access_token_is_live("BQnot-a-token-this-server-issued"));

    let empty = web_api(&server, "GET", "/me", Some("Bearer "));
    assert_eq!(empty.status, 401, "{}", empty.body);

    for other in [basic(ID, SECRET), token.clone(), format!("Token {token}")] {
        let reply = web_api(&server, "GET", "/me", Some(&other));
        assert_api_error(&reply, 401, "Only valid bearer authentication supported");
    }
    // The scheme is case-insensitive.
    let lower = web_api(&server, "GET", "/me", Some(&format!("bearer {token}")));
    assert_eq!(lower.status, 200, "{}", lower.body);
    // A refresh token is not an access token.
    let refresh_token = server.issue_refresh_token(ID, "");
    assert_api_error(&me(&server, &refresh_token), 401, "Invalid access token");
}

#[test]
fn revoked_access_tokens_are_refused_early() {
    let server = start(false, 3600);
    let revoked = access_token(&server, "");
    let kept = access_token(&server, "");
    assert!(server.revoke_access_token(&revoked));
    assert!(!server.revoke_access_token("unknown"));
    assert!(!server.access_token_is_live(&revoked));
    assert!(server.access_token_is_live(&kept));

    assert_api_error(&me(&server, &revoked), 401, "Invalid access token");
    assert_eq!(me(&server, &kept).status, 200);
}

#[test]
fn expire_access_tokens_expires_those_issued_so_far() {
    let server = start(false, 3600);
    let code = code_for(&server, "");
    let reply = exchange(&server, &code);
    let (old, refresh_token) = (
        field(&reply, "access_token"),
        field(&reply, "refresh_token"),
    );
    server.expire_access_tokens();
    assert!(!server.access_token_is_live(&old));
    let expired = me(&server, &old);
    assert_api_error(&expired, 401, "The access token expired");
    assert!(
        expired
            .challenge
            .unwrap()
            .contains("The access token expired")
    );

    // The answer to the 401: refresh, and the new token works.
    let new = field(&refresh(&server, &refresh_token), "access_token");
    assert_ne!(new, old);
    assert_eq!(me(&server, &new).status, 200);
    // A revoked token that also expired reads as invalid.
    assert!(server.revoke_access_token(&old));
    assert_api_error(&me(&server, &old), 401, "Invalid access token");
}

#[test]
fn access_tokens_expire_after_expires_in_by_the_clock() {
    let server = start(false, 1);
    let token = access_token(&server, "");
    assert_eq!(me(&server, &token).status, 200);
    std::thread::sleep(Duration::from_millis(1100));
    assert!(!server.access_token_is_live(&token));
    assert_api_error(&me(&server, &token), 401, "The access token expired");

    let instant = start(false, 0);
    let token = access_token(&instant, "");
    assert_api_error(&me(&instant, &token), 401, "The access token expired");

    // A lifetime too long for the clock never expires (and never panics).
    let forever = start(false, u64::MAX);
    let token = access_token(&forever, "");
    assert_eq!(me(&forever, &token).status, 200);
}

#[test]
fn the_signed_in_user_follows_the_code_through_exchange_and_refresh() {
    let server = start(true, 3600);
    server.sign_in_as("alice");
    let alice_code = code_for(&server, "");
    server.sign_in_as("bob");
    assert_eq!(server.signed_in_user(), "bob");
    let bob_code = code_for(&server, "");
    let bob_minted = server.issue_refresh_token(ID, "");

    // Exchanged after bob signed in, alice's code still gives alice's tokens.
    let reply = exchange(&server, &alice_code);
    let (access, mut refresh_token) = (
        field(&reply, "access_token"),
        field(&reply, "refresh_token"),
    );
    assert_eq!(me(&server, &access).body["id"], "alice");
    for _ in 0..3 {
        let reply = refresh(&server, &refresh_token);
        refresh_token = field(&reply, "refresh_token");
        let access = field(&reply, "access_token");
        assert_eq!(me(&server, &access).body["id"], "alice");
    }
    let bob = field(&exchange(&server, &bob_code), "access_token");
    assert_eq!(me(&server, &bob).body["uri"], "spotify:user:bob");
    let bob_refreshed = field(&refresh(&server, &bob_minted), "access_token");
    assert_eq!(me(&server, &bob_refreshed).body["id"], "bob");

    // The refresh tokens' users: bob's minted one, alice's exchange and
    // three rotations, bob's exchange, the rotation of bob's minted one.
    let users: Vec<String> = server
        .issued_refresh_tokens()
        .iter()
        .map(|t| t.user_id().to_owned())
        .collect();
    assert_eq!(
        users,
        ["bob", "alice", "alice", "alice", "alice", "bob", "bob"]
    );
}

#[test]
fn app_tokens_have_no_user() {
    let server = start(false, 3600);
    let app = field(
        &try_token(&agent(), &server, &[("grant_type", "client_credentials")]).unwrap(),
        "access_token",
    );
    assert!(server.access_token_is_live(&app));
    assert_api_error(&me(&server, &app), 401, "Unauthorized.");
}

#[test]
fn other_web_api_paths_and_methods_answer_in_the_web_api_shape() {
    let server = start(false, 3600);
    let token = access_token(&server, "");
    let bearer = format!("Bearer {token}");
    for path in [
        "",
        "/",
        "/tracks/4uLU6hMCjMI75M1A2tKUQC",
        "/me/player",
        "/users/fake-user",
    ] {
        let reply = web_api(&server, "GET", path, Some(&bearer));
        assert_api_error(&reply, 404, "Service not found");
    }
    let post = web_api(&server, "POST", "/me", Some(&bearer));
    assert_api_error(&post, 405, "Method not allowed");
    // Outside /v1 the plain 404 stays.
    let mut response = agent()
        .get(format!("{}/v1x/me", server.url()))
        .call()
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.body_mut().read_to_string().unwrap(), "Not Found");
    assert_eq!(server.web_api_request_count(), 6);
    assert_eq!(server.token_request_count(), 1);
}

#[test]
fn token_endpoint_faults_leave_the_web_api_alone() {
    let server = start(false, 3600);
    let token = access_token(&server, "");
    server.inject(Fault::Status(500), 1);
    assert_eq!(me(&server, &token).status, 200);
    // The fault is still waiting for the next token request.
    let reply = try_token(&agent(), &server, &[("grant_type", "client_credentials")]).unwrap();
    assert_eq!(reply.0, 500);
    let recorded = server.requests();
    assert!(
        recorded
            .iter()
            .any(|r| r.path == "/v1/me" && r.fault.is_none())
    );
    // Recorded Web API requests keep the bearer token out of Debug.
    let debug = format!("{recorded:?}");
    assert!(!debug.contains(&token), "{debug}");
}

#[cfg(feature = "blocking")]
#[test]
fn the_library_flow_gets_tokens_for_the_signed_in_user() {
    let server = start(false, 10);
    server.sign_in_as("carol");
    let auth = spotify_auth::blocking::AuthorizationCode::builder()
        .read_environment(false)
        .client_id(ID)
        .client_secret(SECRET)
        .redirect_uri(REDIRECT)
        .scope("user-read-email")
        .accounts_base_url(server.url())
        .backoff_hook(|_| Duration::ZERO)
        .build()
        .unwrap();
    let url = auth.get_authorization_url(Some("st"), None, false).unwrap();
    let response = agent().get(&url).call().unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let code = auth.parse_response_url(&location, Some("st")).unwrap();
    let token = auth.exchange_code(code).unwrap();
    let me_reply = me(&server, token.access_token.secret());
    assert_eq!(me_reply.body["id"], "carol");
    assert_eq!(me_reply.body["email"], "carol@example.com");

    let mut seen = vec![token.access_token.secret().to_owned()];
    for _ in 0..2 {
        let access = auth.force_refresh().unwrap();
        assert!(!seen.contains(&access), "a refreshed token");
        assert_eq!(me(&server, &access).body["id"], "carol");
        seen.push(access);
    }
    assert_eq!(server.token_request_count(), 3);
}

/// `POST {web_api_url}{path}` with a bearer token and a JSON body.
fn post_json(server: &FakeSpotify, path: &str, token: &str, body: &str) -> ApiReply {
    let mut response = agent()
        .post(format!("{}{path}", server.web_api_url()))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/json")
        .send(body)
        .expect("a Web API response");
    let body = response.body_mut().read_to_string().unwrap();
    ApiReply {
        status: response.status().as_u16(),
        challenge: None,
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    }
}

#[test]
fn create_playlist_takes_a_json_body_for_the_tokens_own_user() {
    let server = start(false, 3600);
    let token = access_token(&server, "playlist-modify-private");
    let path = "/users/fake-user/playlists";
    let reply = post_json(&server, path, &token, r#"{"name":"Mix","public":false}"#);
    assert_eq!(reply.status, 201, "{}", reply.body);
    let playlist = &reply.body;
    assert_eq!(playlist["name"], "Mix");
    assert_eq!(playlist["public"], false);
    assert_eq!(playlist["owner"]["id"], "fake-user");
    assert_eq!(playlist["type"], "playlist");
    let id = playlist["id"].as_str().unwrap();
    assert_eq!(playlist["uri"], format!("spotify:playlist:{id}"));
    assert_eq!(
        server.requests()[2].body,
        r#"{"name":"Mix","public":false}"#
    );

    let other = post_json(
        &server,
        "/users/someone/playlists",
        &token,
        r#"{"name":"x"}"#,
    );
    assert_api_error(&other, 403, "You cannot create a playlist for another user");
    assert_api_error(
        &post_json(&server, path, &token, "not json"),
        400,
        "Error parsing JSON.",
    );
    assert_api_error(
        &post_json(&server, path, &token, r#"{"public":true}"#),
        400,
        "Missing required field: name",
    );
    let unscoped = access_token(&server, "user-read-email");
    assert_api_error(
        &post_json(&server, path, &unscoped, r#"{"name":"x"}"#),
        403,
        "Insufficient client scope",
    );
    let get = web_api(&server, "GET", path, Some(&format!("Bearer {token}")));
    assert_api_error(&get, 405, "Method not allowed");
}

#[test]
fn web_api_faults_have_their_own_queue_and_the_web_apis_shape() {
    let server = start(false, 3600);
    let token = access_token(&server, "");
    server.inject_web_api(Fault::rate_limited(4), 1);
    server.inject_web_api(Fault::Status(503), 1);
    server.inject_web_api(Fault::Redirect("http://127.0.0.1:9/elsewhere".into()), 1);

    let mut limited = agent()
        .get(format!("{}/me", server.web_api_url()))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "4");
    let body: serde_json::Value =
        serde_json::from_str(&limited.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(body["error"]["status"], 429);
    assert_api_error(&me(&server, &token), 503, "Injected fault: HTTP 503");
    let moved = agent()
        .get(format!("{}/me", server.web_api_url()))
        .call()
        .unwrap();
    assert_eq!(moved.status(), 307);
    assert_eq!(moved.headers()["location"], "http://127.0.0.1:9/elsewhere");
    assert_eq!(me(&server, &token).status, 200, "the queue is empty");
    // The token endpoint's queue is another: it took none of these.
    assert_eq!(server.token_request_count(), 1);
    let faults: Vec<_> = server
        .requests()
        .into_iter()
        .filter_map(|r| r.fault)
        .collect();
    assert_eq!(faults.len(), 3);

    server.inject_web_api(Fault::Status(500), 5);
    server.clear_faults();
    assert_eq!(me(&server, &token).status, 200, "cleared");
}
