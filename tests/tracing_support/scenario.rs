//! The lifecycle the capture is made of, written once and compiled for each
//! mode (`maybe`, `mode` and `support` come from the including file): a
//! browser login with stray and forged callbacks, refreshes with rotation,
//! retried faults, two callers after one 401, a failed cache write, a PKCE
//! exchange not retried after a 5xx, an app token, a lost response turned
//! `invalid_grant`, logouts found in the cache, and `logout()`.

use std::sync::Arc;
use std::time::Duration;

use spotify_auth::testing::{CacheOp, FakeSpotify, Fault, FaultyCache};
use spotify_auth::{AuthorizationCodeBuilder, AuthorizeLocalOptions, Error, InMemoryTokenCache};
use spotify_auth::{TokenCache, TokenInfo};

use super::{maybe, mode, support};

pub const CLIENT_ID: &str = "tracing-test-client";
pub const CLIENT_SECRET: &str = "tracing-test-client-secret-9f2c";
pub const PUBLIC_CLIENT: &str = "tracing-test-public-client";
/// What a forged callback (another tab, another site) carries.
pub const FORGED_CODE: &str = "AQforgedCodeFromAnotherTab0451";
pub const FORGED_STATE: &str = "forged-state-from-another-tab-77d1";

/// What the scenario leaves: the server (for its records), the login (the
/// async test goes on with it), its cache, and the secrets the test saw
/// along the way.
pub struct Run {
    pub server: FakeSpotify,
    #[allow(dead_code)] // only the async test goes on with it
    pub auth: mode::AuthorizationCode,
    pub cache: Arc<FaultyCache<InMemoryTokenCache>>,
    pub secrets: Vec<String>,
}

impl Run {
    /// Every secret of the run: those the test was handed, and those the
    /// fake server saw (every authorization header, code, verifier, refresh
    /// token and client secret sent to it; every state it was sent; every
    /// refresh token it issued).
    pub fn all_secrets(&self) -> Vec<String> {
        let mut secrets = self.secrets.clone();
        for request in self.server.requests() {
            for (name, value) in request.form.iter().chain(&request.query) {
                if [
                    "code",
                    "code_verifier",
                    "refresh_token",
                    "client_secret",
                    "state",
                ]
                .contains(&name.as_str())
                {
                    secrets.push(value.clone());
                }
            }
            if let Some(authorization) = request.header("authorization") {
                secrets.push(authorization.to_owned());
            }
        }
        for issued in self.server.issued_refresh_tokens() {
            secrets.push(issued.token().to_owned());
        }
        if let Some(token) = self.cache.inner().get().unwrap() {
            secrets.extend(token_secrets(&token));
        }
        secrets.sort();
        secrets.dedup();
        secrets
    }
}

/// The access and refresh tokens of `token`.
pub fn token_secrets(token: &TokenInfo) -> Vec<String> {
    let mut secrets = vec![token.access_token.secret().to_owned()];
    secrets.extend(token.refresh_token.iter().map(|r| r.secret().to_owned()));
    secrets
}

/// Whether the server has received more than `count` token requests.
pub fn token_requests_above(server: &FakeSpotify, count: usize) -> bool {
    server.token_request_count() > count
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A confidential client of `server`, never sleeping between retries.
pub fn builder(server: &FakeSpotify, redirect: &str) -> AuthorizationCodeBuilder<mode::HttpClient> {
    mode::AuthorizationCode::builder()
        .read_environment(false)
        .client_id(CLIENT_ID)
        .client_secret(CLIENT_SECRET)
        .redirect_uri(redirect)
        .accounts_base_url(server.url())
        .backoff_hook(|_| Duration::ZERO)
}

/// An HTTP client that shows redirects instead of following them, like a
/// browser's network log.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// One GET: the status and the `Location` header.
pub fn get(url: &str) -> (u16, Option<String>) {
    let response = agent().get(url).call().unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (response.status().as_u16(), location)
}

/// The fake's redirect for an authorization URL: the callback URL with the
/// code and state.
pub fn follow_authorize(url: &str) -> String {
    let (status, location) = get(url);
    assert_eq!(status, 302, "the fake server redirects at once");
    location.unwrap()
}

/// A browser on its own thread. With `strays`, before the real redirect
/// the callback server gets what a real browser and the web throw at it: a
/// favicon (404), the bare callback URL (not a callback), and forged
/// callbacks with a wrong and with no state (ignored).
fn browser(redirect: String, strays: bool) -> impl Fn(&str) + Send + Sync + 'static {
    move |url: &str| {
        let (url, redirect) = (url.to_owned(), redirect.clone());
        std::thread::spawn(move || {
            if strays {
                let base = redirect.trim_end_matches("/callback");
                assert_eq!(get(&format!("{base}/favicon.ico")).0, 404);
                assert_eq!(get(&redirect).0, 400);
                let wrong = format!("{redirect}?code={FORGED_CODE}&state={FORGED_STATE}");
                assert_eq!(get(&wrong).0, 400);
                assert_eq!(get(&format!("{redirect}?code={FORGED_CODE}")).0, 400);
            }
            let callback = follow_authorize(&url);
            assert_eq!(get(&callback).0, 200);
        });
    }
}

fn login(redirect: &str, strays: bool) -> AuthorizeLocalOptions {
    AuthorizeLocalOptions::new()
        .open_browser(false)
        .timeout(Duration::from_secs(20))
        .on_url(browser(redirect.to_owned(), strays))
}

#[maybe]
pub async fn run() -> Run {
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    let server = FakeSpotify::builder()
        .client(CLIENT_ID, Some(CLIENT_SECRET))
        .client(PUBLIC_CLIENT, None)
        .redirect_uri(&redirect)
        .rotate_refresh_tokens(true)
        .start()
        .unwrap();
    let cache = Arc::new(FaultyCache::new(InMemoryTokenCache::new()));
    let auth = builder(&server, &redirect)
        .token_cache(cache.clone())
        .build()
        .unwrap();
    let mut secrets = vec![
        CLIENT_SECRET.to_owned(),
        FORGED_CODE.to_owned(),
        FORGED_STATE.to_owned(),
    ];

    // A browser login, past a favicon request and forged callbacks.
    let login_result = auth.authorize_local(login(&redirect, true)).await;
    let token = login_result.expect("the login succeeds");
    secrets.extend(token_secrets(&token));

    // A forced refresh (the answer to a 401): the refresh token rotates.
    let forced = auth.force_refresh().await;
    secrets.push(forced.expect("refreshed"));

    // A 503, a 429 with Retry-After, a dropped connection: retried, then the
    // fourth attempt succeeds.
    server.inject(Fault::Status(503), 1);
    server.inject(Fault::rate_limited(0), 1);
    server.inject(Fault::DropConnection, 1);
    let retried = auth.force_refresh().await;
    secrets.push(retried.expect("refreshed after three retries"));

    // Two callers after the same 401: the second arrives while the first's
    // request is at the server (held there 300 ms), waits, and takes its
    // outcome.
    let before = server.token_request_count();
    server.inject(Fault::Delay(Duration::from_millis(300)), 1);
    let (first, second) = support::two_forced_refreshes(&auth, &server).await;
    let (first, second) = (first.expect("refreshed"), second.expect("refreshed"));
    assert_eq!(first, second, "both callers got the one new token");
    assert_eq!(server.token_request_count(), before + 1, "one request");
    secrets.push(first);

    // A failed cache write: the token is kept in memory, and once the store
    // works again the write is retried beside the callers.
    cache.fail_always(CacheOp::WriteToken);
    let unsaved = auth.force_refresh().await;
    let unsaved = unsaved.expect("the token is served although its write failed");
    assert!(auth.cache_write_error().is_some());
    cache.heal(CacheOp::WriteToken);
    let stored = auth.get_access_token().await;
    assert_eq!(stored.unwrap(), unsaved);
    support::until_stored(&auth).await;
    secrets.push(unsaved);

    // Another instance sharing the cache adopts its token.
    let other = builder(&server, &redirect)
        .token_cache(cache.clone())
        .build()
        .unwrap();
    let shared = other.get_access_token().await;
    secrets.push(shared.expect("adopted from the cache"));

    // The stateless PKCE flow: a 503 on the exchange is not retried (the
    // code may have been used); the same code then goes through.
    let public = builder(&server, &redirect)
        .client_id(PUBLIC_CLIENT)
        .client_secret("")
        .build()
        .unwrap();
    let attempt = public.authorization_attempt(None, false).unwrap();
    let verifier = attempt.pkce_verifier.clone().expect("a PKCE attempt");
    secrets.push(attempt.state.clone());
    secrets.push(verifier.secret().to_owned());
    let callback = follow_authorize(&attempt.url);
    let code = public
        .parse_response_url(&callback, Some(&attempt.state))
        .unwrap();
    secrets.push(code.secret().to_owned());
    server.inject(Fault::Status(503), 1);
    let refused = public
        .exchange_code_with_verifier(code.clone(), Some(&verifier))
        .await;
    assert!(
        matches!(refused, Err(Error::TokenEndpoint { status: 503, .. })),
        "not retried: {refused:?}"
    );
    let exchanged = public
        .exchange_code_with_verifier(code, Some(&verifier))
        .await;
    secrets.extend(token_secrets(&exchanged.expect("exchanged")));

    // An app token (Client Credentials).
    let app = mode::ClientCredentials::builder()
        .read_environment(false)
        .client_id(CLIENT_ID)
        .client_secret(CLIENT_SECRET)
        .accounts_base_url(server.url())
        .build()
        .unwrap();
    let app_token = app.get_access_token().await;
    secrets.push(app_token.expect("an app token"));

    // A response lost after Spotify rotated the refresh token: the retry
    // sends the spent token and gets invalid_grant; the login ends, and the
    // store records the refusal in its place.
    server.inject(Fault::LoseResponse, 1);
    let lost = auth.force_refresh().await;
    assert!(
        matches!(lost, Err(Error::ReauthorizationRequired { .. })),
        "{lost:?}"
    );
    assert!(cache.inner().get().unwrap().is_none());

    // The other instance finds the refusal recorded: nothing sent.
    let gone = other.force_refresh().await;
    assert!(
        matches!(gone, Err(Error::ReauthorizationRequired { .. })),
        "{gone:?}"
    );

    // A second login, which the other instance adopts; then logout(), which
    // the other instance finds in the cache.
    let relogin = auth.authorize_local(login(&redirect, false)).await;
    secrets.extend(token_secrets(&relogin.expect("logged in again")));
    let adopted = other.get_access_token().await;
    secrets.push(adopted.expect("adopted the new login"));
    let logout = auth.logout().await;
    assert!(logout.is_ok(), "{logout:?}");
    let after_logout = other.force_refresh().await;
    assert!(
        matches!(after_logout, Err(Error::NotAuthorized)),
        "{after_logout:?}"
    );

    Run {
        server,
        auth,
        cache,
        secrets,
    }
}

/// What the capture must show after [`run`], in either mode: one marker per
/// kind of span, event and field the run exercises.
pub const EXPECTED: &[&str] = &[
    // spans, with fields recorded at creation and later
    "NEW_SPAN DEBUG spotify_auth::flow authorize_local",
    "NEW_SPAN DEBUG spotify_auth::flow refresh need=\"replace\"",
    "NEW_SPAN DEBUG spotify_auth::flow refresh need=\"valid\"",
    "NEW_SPAN DEBUG spotify_auth::flow exchange",
    "NEW_SPAN DEBUG spotify_auth::flow logout",
    "NEW_SPAN DEBUG spotify_auth::flow token_request grant=\"authorization_code\" host=\"127.0.0.1\"",
    "NEW_SPAN DEBUG spotify_auth::flow token_request grant=\"refresh_token\" host=\"127.0.0.1\"",
    "NEW_SPAN DEBUG spotify_auth::flow token_request grant=\"client_credentials\" host=\"127.0.0.1\"",
    "RECORD token_request attempts=4",
    "RECORD token_request status=200",
    "RECORD token_request status=503",
    "RECORD token_request outcome=\"ok\"",
    "RECORD token_request outcome=\"error\"",
    // the callback server, inside the login's span
    "[authorize_local] message=callback server bound address=127.0.0.1:",
    "port=\"pinned\"",
    "reply=\"not_found\"",
    "reply=\"not_a_callback\"",
    "reply=\"state_mismatch\" state=\"wrong\"",
    "reply=\"state_mismatch\" state=\"missing\"",
    "EVENT DEBUG spotify_auth::callback [authorize_local] message=callback accepted outcome=\"code\" waited_ms=",
    // token requests: attempts, retries and their reasons, outcomes
    "[authorize_local:exchange:token_request] message=token endpoint answered attempt=1 status=200",
    "[refresh:token_request] message=token endpoint answered attempt=1 status=503",
    "message=token request failed attempt=3 error_kind=\"other\" error=\"HTTP transport error (other)\"",
    "message=retrying the token request attempt=1 delay_ms=0 reason=\"server error (5xx)\"",
    "message=retrying the token request attempt=2 delay_ms=0 reason=\"rate limited (429, Retry-After)\"",
    "message=retrying the token request attempt=3 delay_ms=0 reason=\"transport error\"",
    "message=token request succeeded attempts=4 status=200",
    "[exchange:token_request] message=token request failed; not retried: the authorization code may have reached Spotify",
    "message=token request failed attempts=2 status=400 error=\"token endpoint error: HTTP 400 invalid_grant",
    // single-flight
    "message=forced refresh: the caller's token was rejected had_token=true",
    "[refresh] message=took the outcome of the refresh another caller made meanwhile waited_ms=",
    "[refresh] message=took the refresh lock waited_ms=",
    // lifecycle
    "[authorize_local:exchange] message=adopted a token from=\"exchange\" expires_at=",
    "message=adopted a token from=\"refresh\" expires_at=",
    "expires_in=3600 rotated=true",
    "message=adopted a token from=\"cache\" expires_at=",
    "message=adopted a token from=\"client_credentials\" expires_at=",
    "message=the stored token will do expires_at=",
    "EVENT WARN spotify_auth::flow [refresh] message=held in memory only: writing to the token store failed; the write is retried beside the callers failures=1 retry_in_ms=0 error=",
    "message=stored the write held in memory only until now failures=",
    "EVENT WARN spotify_auth::flow [refresh] message=Spotify refused the refresh token (invalid_grant): the user must authorize again still_cached=true",
    "EVENT WARN spotify_auth::flow [refresh] message=the store records that the login ended (a logout, or a refusal by Spotify): it ends here too; nothing is sent reason=\"refused\"",
    "message=the store records that the login ended (a logout, or a refusal by Spotify): it ends here too; nothing is sent reason=\"logout\"",
    "EVENT DEBUG spotify_auth::flow [logout] message=logged out recorded=true",
];

/// Checks `capture` holds every marker of `expected`, and none of
/// `secrets`, whole or in part (the first or last 12 characters of a long
/// one).
pub fn check(capture: &str, secrets: &[String], expected: &[&str]) {
    assert!(
        capture.lines().count() > 50,
        "the capture is nearly empty:\n{capture}"
    );
    let missing: Vec<&&str> = expected.iter().filter(|m| !capture.contains(**m)).collect();
    assert!(
        missing.is_empty(),
        "missing from the capture: {missing:#?}\n--- capture ---\n{capture}"
    );
    assert!(
        secrets.len() > 20,
        "too few secrets collected: {}",
        secrets.len()
    );
    for secret in secrets {
        assert!(
            secret.len() >= 8,
            "not a secret worth searching for: {secret:?}"
        );
        let mut parts = vec![secret.as_str()];
        if secret.len() >= 24 {
            parts.push(&secret[..12]);
            parts.push(&secret[secret.len() - 12..]);
        }
        for part in parts {
            if let Some(line) = capture.lines().find(|line| line.contains(part)) {
                panic!("a secret ({part:?}, of {secret:?}) is in the capture:\n{line}");
            }
        }
    }
}
