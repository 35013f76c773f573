//! The Web API middleware against the fake Spotify, written once and
//! compiled for each mode (see `tests/blocking.rs` and
//! `tests/asynchronous.rs`): `mode` is the API under test, `Api` its client
//! with the middleware (`web_api/blocking.rs`, `web_api/asynchronous.rs`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spotify_auth::middleware::WebApiPolicy;
use spotify_auth::testing::{FakeSpotify, Fault};

use super::suite::{CLIENT_ID, CLIENT_SECRET, REDIRECT, builder};
use super::web_api_client::Api;
#[allow(unused_imports)]
use super::{maybe, mode, support};

/// A response, read in full.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// A request the middleware could not complete.
#[derive(Debug)]
pub enum Failed {
    /// The flow failed (a refresh, a login that ended).
    Flow(spotify_auth::Error),
    /// Anything else.
    Http(String),
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// The fake Spotify (accounts and Web API), another loopback server standing
/// for a foreign host, a user's flow, and a client whose middleware
/// authorizes the fake's origin and records the `Retry-After` waits instead
/// of sleeping.
struct World {
    spotify: FakeSpotify,
    foreign: FakeSpotify,
    auth: Arc<mode::AuthorizationCode>,
    waits: Arc<Mutex<Vec<Duration>>>,
    api: Arc<Api>,
}

const SCOPE: &str = "user-read-email playlist-modify-private";

fn fake() -> FakeSpotify {
    FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .redirect_uri(REDIRECT)
        .start()
        .unwrap()
}

fn world_with(policy: impl FnOnce(WebApiPolicy) -> WebApiPolicy) -> World {
    let spotify = fake();
    let refresh = spotify.issue_refresh_token(CLIENT_ID, SCOPE);
    let auth = Arc::new(
        builder(spotify.url())
            .refresh_token(refresh)
            .build()
            .unwrap(),
    );
    let waits = Arc::new(Mutex::new(Vec::new()));
    let recorded = waits.clone();
    let policy = policy(WebApiPolicy::new().api_origin(spotify.web_api_url())).retry_after_hook(
        move |asked| {
            recorded.lock().unwrap().push(asked);
            Duration::ZERO
        },
    );
    let api = Arc::new(Api::new(auth.clone(), &policy));
    World {
        spotify,
        foreign: fake(),
        auth,
        waits,
        api,
    }
}

fn world() -> World {
    world_with(|policy| policy)
}

impl World {
    fn me(&self) -> String {
        format!("{}/me", self.spotify.web_api_url())
    }

    fn playlists(&self) -> String {
        format!("{}/users/fake-user/playlists", self.spotify.web_api_url())
    }

    /// The `Authorization` headers the fake Web API received, in order.
    fn web_api_authorizations(&self, server: &FakeSpotify) -> Vec<Option<String>> {
        server
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/v1"))
            .map(|r| r.header("authorization").map(str::to_owned))
            .collect()
    }

    fn waits(&self) -> Vec<Duration> {
        self.waits.lock().unwrap().clone()
    }
}

/// The user's current access token, revoked early: the Web API answers it
/// with 401 while it still looks valid.
#[maybe]
async fn revoked_token(world: &World) -> String {
    let token = world.auth.get_access_token().await.unwrap();
    assert!(world.spotify.revoke_access_token(&token));
    token
}

flow_test! {
    async fn a_request_gets_the_token() {
        let w = world();
        let reply = w.api.get(&w.me()).await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json()["id"], "fake-user");
        let token = w.auth.get_access_token().await.unwrap();
        assert_eq!(
            w.web_api_authorizations(&w.spotify),
            [Some(format!("Bearer {token}"))]
        );
    }
}

flow_test! {
    async fn a_401_recovers_with_one_refresh_and_one_retry() {
        let w = world();
        let old = revoked_token(&w).await;
        let tokens = w.spotify.token_request_count();
        let reply = w.api.get(&w.me()).await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(w.spotify.token_request_count(), tokens + 1, "one refresh");
        let new = w.auth.get_access_token().await.unwrap();
        assert_ne!(new, old);
        assert_eq!(
            w.web_api_authorizations(&w.spotify),
            [Some(format!("Bearer {old}")), Some(format!("Bearer {new}"))],
            "the 401, then one retry with the new token"
        );
    }
}

flow_test! {
    async fn concurrent_requests_that_see_the_same_401_cause_one_refresh() {
        const REQUESTS: usize = 16;
        let w = world();
        revoked_token(&w).await;
        let tokens = w.spotify.token_request_count();
        // A slow refresh: the other requests' 401s arrive while it runs.
        w.spotify.inject(Fault::Delay(Duration::from_millis(300)), 1);
        let (api, url) = (w.api.clone(), w.me());
        let replies = support::concurrently(REQUESTS, move || {
            let (api, url) = (api.clone(), url.clone());
            async move { api.get(&url).await.map(|reply| reply.status) }
        })
        .await;
        for reply in replies {
            assert_eq!(reply.unwrap(), 200);
        }
        assert_eq!(w.spotify.token_request_count(), tokens + 1, "one refresh for all");
        let sent = w.spotify.web_api_request_count();
        assert!(
            (REQUESTS + 1..=2 * REQUESTS).contains(&sent),
            "each request at most twice, and some saw the 401: {sent}"
        );
    }
}

flow_test! {
    async fn a_429_waits_its_retry_after_then_sends_again() {
        let w = world();
        w.spotify.inject_web_api(Fault::rate_limited(7), 1);
        let reply = w.api.get(&w.me()).await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(w.waits(), [Duration::from_secs(7)], "waited what was asked");
        assert_eq!(w.spotify.web_api_request_count(), 2);
    }
}

flow_test! {
    async fn a_429_is_retried_a_bounded_number_of_times() {
        let w = world_with(|policy| policy.max_rate_limit_retries(2));
        w.spotify.inject_web_api(Fault::rate_limited(1), 10);
        let reply = w.api.get(&w.me()).await.unwrap();
        assert_eq!(reply.status, 429, "{}", reply.body);
        assert_eq!(w.waits(), [Duration::from_secs(1); 2]);
        assert_eq!(w.spotify.web_api_request_count(), 3, "the first, then two retries");
    }
}

flow_test! {
    async fn a_retry_after_over_the_cap_returns_the_429() {
        let w = world_with(|policy| policy.max_retry_after(Duration::from_secs(60)));
        w.spotify.inject_web_api(Fault::rate_limited(3600), 1);
        let reply = w.api.get(&w.me()).await.unwrap();
        assert_eq!(reply.status, 429);
        assert_eq!(reply.json()["error"]["status"], 429, "Spotify's answer, as it was");
        assert!(w.waits().is_empty(), "no wait");
        assert_eq!(w.spotify.web_api_request_count(), 1);
    }
}

flow_test! {
    async fn server_errors_are_returned_untouched() {
        let w = world();
        for status in [500, 502, 503] {
            w.spotify.inject_web_api(Fault::Status(status), 1);
            let reply = w.api.get(&w.me()).await.unwrap();
            assert_eq!(reply.status, status);
            assert_eq!(reply.json()["error"]["status"], status);
        }
        assert_eq!(w.spotify.web_api_request_count(), 3, "never sent again");
        assert_eq!(w.spotify.token_request_count(), 1, "the first token only");
    }
}

flow_test! {
    async fn a_foreign_host_never_sees_the_token() {
        let w = world();
        let reply = w.api.get(&format!("{}/me", w.foreign.web_api_url())).await.unwrap();
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(w.web_api_authorizations(&w.foreign), [None]);
        assert_eq!(w.spotify.token_request_count(), 0, "no token even fetched");
    }
}

flow_test! {
    async fn a_redirect_to_a_foreign_host_does_not_carry_the_token() {
        let w = world();
        let elsewhere = format!("{}/me", w.foreign.web_api_url());
        w.spotify.inject_web_api(Fault::Redirect(elsewhere), 1);
        let reply = w.api.get(&w.me()).await.unwrap();
        // The foreign host's own 401, returned as it is: it says nothing
        // of the token.
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(reply.json()["error"]["message"], "No token provided");
        assert_eq!(w.web_api_authorizations(&w.foreign), [None]);
        assert_eq!(w.spotify.web_api_request_count(), 1);
        assert_eq!(w.spotify.token_request_count(), 1, "no refresh");
    }
}

flow_test! {
    async fn a_replayable_body_is_sent_again_intact() {
        let w = world();
        let old = revoked_token(&w).await;
        let body = r#"{"name":"Road trip","public":false}"#;
        let reply = w.api.post_json(&w.playlists(), body).await.unwrap();
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(reply.json()["name"], "Road trip");
        assert_eq!(reply.json()["public"], false);
        let sent: Vec<_> = w.spotify.requests().into_iter().filter(|r| r.path.starts_with("/v1")).collect();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].header("authorization"), Some(format!("Bearer {old}").as_str()));
        assert_ne!(sent[1].header("authorization"), sent[0].header("authorization"));
        for request in &sent {
            assert_eq!(request.body, body);
            assert_eq!(request.header("content-type"), Some("application/json"));
        }
    }
}

flow_test! {
    async fn a_body_that_cannot_be_sent_again_returns_the_401() {
        let w = world();
        let old = revoked_token(&w).await;
        let tokens = w.spotify.token_request_count();
        let body = r#"{"name":"Streamed"}"#;
        let reply = w.api.post_streamed(&w.playlists(), body).await.unwrap();
        assert_eq!(reply.status, 401, "{}", reply.body);
        assert_eq!(w.spotify.web_api_request_count(), 1, "not sent again");
        // The token was replaced all the same: the caller's own retry works.
        assert_eq!(w.spotify.token_request_count(), tokens + 1);
        let new = w.auth.get_access_token().await.unwrap();
        assert_ne!(new, old);
        let reply = w.api.post_streamed(&w.playlists(), body).await.unwrap();
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(reply.json()["name"], "Streamed");
    }
}

flow_test! {
    async fn a_login_that_ended_is_the_flows_error() {
        let w = world();
        revoked_token(&w).await;
        for issued in w.spotify.issued_refresh_tokens() {
            w.spotify.revoke_refresh_token(issued.token());
        }
        match w.api.get(&w.me()).await {
            Err(Failed::Flow(e)) => assert!(e.requires_authorization(), "{e:?}"),
            Err(Failed::Http(e)) => panic!("not the flow's error: {e}"),
            Ok(reply) => panic!("answered {}: {}", reply.status, reply.body),
        }
        assert_eq!(w.spotify.web_api_request_count(), 1, "not sent again");
    }
}

flow_test! {
    async fn a_request_with_its_own_authorization_is_left_alone() {
        let w = world();
        let reply = w.api.get_as(&w.me(), "Bearer somebody-else").await.unwrap();
        assert_eq!(reply.status, 401);
        assert_eq!(
            w.web_api_authorizations(&w.spotify),
            [Some("Bearer somebody-else".to_owned())]
        );
        assert_eq!(w.spotify.token_request_count(), 0, "no refresh, no token");
    }
}

flow_test! {
    async fn an_app_token_the_web_api_refuses_is_refreshed_once() {
        let spotify = fake();
        let app = mode::ClientCredentials::builder()
            .read_environment(false)
            .client_id(CLIENT_ID)
            .client_secret(CLIENT_SECRET)
            .accounts_base_url(spotify.url())
            .build()
            .unwrap();
        let policy = WebApiPolicy::new().api_origin(spotify.url());
        let api = Api::new(app, &policy);
        // `/v1/me` has no user behind an app token: 401 every time.
        let reply = api.get(&format!("{}/me", spotify.web_api_url())).await.unwrap();
        assert_eq!(reply.status, 401);
        assert_eq!(spotify.web_api_request_count(), 2, "one retry, then the 401");
        assert_eq!(spotify.token_request_count(), 2, "the first token, one refresh");
    }
}

flow_test! {
    async fn the_middleware_shows_no_secret() {
        let w = world();
        let token = w.auth.get_access_token().await.unwrap();
        let middleware = mode::WebApiMiddleware::new(w.auth.clone());
        let policy = WebApiPolicy::new().retry_after_hook(|asked| asked);
        let shown = format!("{middleware:?} {policy:?}");
        assert!(shown.contains("https://api.spotify.com"), "{shown}");
        assert!(!shown.contains(&token), "{shown}");
        assert!(!shown.contains(CLIENT_SECRET), "{shown}");
    }
}
