//! The web service example (`examples/web_service.rs`) end to end: two
//! replicas of it, sharing an in-memory store (or a Redis server, each
//! replica with a `RedisStore` of its own), in front of the fake Spotify,
//! driven by a plain HTTP client that handles its cookies itself
//! (`Browser`) and acts as the load balancer (it picks the replica of each
//! request). Each flow runs in memory, and again with a redis-server the
//! test starts (feature `redis`; skipped with a note when `redis-server` is
//! not installed).
#![cfg(feature = "async")]

// `main` and what only it uses are dead code here.
#[allow(dead_code)]
#[path = "../examples/web_service.rs"]
mod web_service;

#[cfg(feature = "redis")]
mod common;
#[cfg(feature = "redis")]
mod redis_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use spotify_auth::asynchronous::AuthorizationCode;
use spotify_auth::testing::FakeSpotify;
use spotify_auth::{InMemoryStore, TokenInfo};
use web_service::{LOGIN_COOKIE, SESSION_COOKIE, Settings, Storage, user_key};

const CLIENT_ID: &str = "web-service-test";

// ---------------------------------------------------------------------------
// Two replicas and the fake Spotify.

/// Two replicas of the service on loopback, sharing their storage, in
/// front of a fake Spotify. The registered redirect URI is replica 0's `/callback`;
/// the test, as the load balancer, sends each request to the replica it
/// chooses.
struct Deployment {
    fake: FakeSpotify,
    replicas: Vec<String>,
    /// The storage as a third replica sees it.
    storage: Storage,
    _runtime: tokio::runtime::Runtime,
}

fn in_memory() -> Deployment {
    let shared = Storage::Memory(InMemoryStore::new(), Default::default());
    deploy(move || shared.clone())
}

/// A deployment whose replicas each open their storage with `storage`.
fn deploy(storage: impl Fn() -> Storage) -> Deployment {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listeners: Vec<_> = (0..2)
        .map(|_| {
            runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .unwrap()
        })
        .collect();
    let replicas: Vec<String> = listeners
        .iter()
        .map(|l| format!("http://{}", l.local_addr().unwrap()))
        .collect();
    let redirect_uri = format!("{}/callback", replicas[0]);
    let fake = FakeSpotify::builder()
        .client(CLIENT_ID, None)
        .redirect_uri(&redirect_uri)
        .start()
        .unwrap();
    for listener in listeners {
        let app = AuthorizationCode::builder()
            .read_environment(false)
            .client_id(CLIENT_ID)
            .redirect_uri(&redirect_uri)
            .scope("user-read-email")
            .accounts_base_url(fake.url());
        let settings = Settings {
            app,
            web_api_url: fake.web_api_url(),
            storage: storage(),
            secure_cookies: false,
        };
        let app = web_service::router(settings).unwrap();
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    }
    Deployment {
        fake,
        replicas,
        storage: storage(),
        _runtime: runtime,
    }
}

impl Deployment {
    /// `path_and_query` on replica `replica`.
    fn url(&self, replica: usize, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.replicas[replica])
    }

    /// The token stored for `browser`'s session (read as a third replica
    /// would).
    fn stored_token(&self, browser: &Browser) -> Option<TokenInfo> {
        let session = browser.cookie(SESSION_COOKIE).expect("a session cookie");
        self.storage.cache(&user_key(session)).get().unwrap()
    }

    /// The access token stored for `browser`'s session.
    fn access_token(&self, browser: &Browser) -> String {
        let token = self.stored_token(browser).expect("a stored token");
        token.access_token.secret().to_owned()
    }

    /// Whether the attempt store still held `browser`'s attempt with
    /// `state` (taking it out).
    fn take_attempt(&self, browser: &Browser, state: &str) -> bool {
        let session = browser.cookie(SESSION_COOKIE).unwrap();
        let taken = self.storage.attempts().take(&user_key(session), state);
        match taken {
            Ok(_) => true,
            Err(spotify_auth::Error::AttemptNotFound) => false,
            Err(e) => panic!("{e}"),
        }
    }

    fn token_requests(&self) -> usize {
        self.fake.token_request_count()
    }

    fn web_api_requests(&self) -> usize {
        self.fake.web_api_request_count()
    }

    /// `/login` on replica `start` as Spotify user `user`, and Spotify's
    /// consent: the callback URL Spotify redirects the browser to.
    fn start_login(&self, browser: &mut Browser, user: &str, start: usize) -> String {
        self.fake.sign_in_as(user);
        let login = browser.get(&self.url(start, "/login"));
        assert_eq!(login.status, 302, "{}", login.body);
        let authorize = login.location();
        assert!(
            authorize.starts_with(&format!("{}/authorize?", self.fake.url())),
            "{authorize}"
        );
        let consent = browser.get(&authorize);
        assert_eq!(consent.status, 302, "{}", consent.body);
        consent.location()
    }

    /// `callback` (Spotify's redirect) sent to replica `replica`: the
    /// reply.
    fn callback(&self, browser: &mut Browser, callback: &str, replica: usize) -> Reply {
        browser.get(&self.url(replica, path_and_query(callback)))
    }

    /// A whole login: started on replica `start`, ended on replica `end`.
    fn log_in(&self, browser: &mut Browser, user: &str, start: usize, end: usize) {
        let callback = self.start_login(browser, user, start);
        let done = self.callback(browser, &callback, end);
        assert_eq!(done.status, 303, "{}", done.body);
        assert_eq!(done.location(), "/me");
    }

    /// `/me` on replica `replica`.
    fn me(&self, browser: &mut Browser, replica: usize) -> (u16, Value) {
        let reply = browser.get(&self.url(replica, "/me"));
        let json = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        (reply.status, json)
    }

    /// `/me` on replica `replica` must show Spotify user `user`.
    fn assert_me(&self, browser: &mut Browser, replica: usize, user: &str) {
        let (status, json) = self.me(browser, replica);
        assert_eq!((status, json["id"].as_str()), (200, Some(user)), "{json}");
    }

    /// `/me` on replica `replica` must answer that a login is required.
    fn assert_login_required(&self, browser: &mut Browser, replica: usize) {
        let (status, json) = self.me(browser, replica);
        assert_eq!(status, 401, "{json}");
        assert_eq!(json["error"], "login_required");
        assert_eq!(json["login"], "/login");
    }
}

fn path_and_query(url: &str) -> &str {
    let after_scheme = &url[url.find("://").unwrap() + 3..];
    &after_scheme[after_scheme.find('/').unwrap()..]
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

// ---------------------------------------------------------------------------
// A browser: a cookie jar it keeps itself, no redirects followed.

#[derive(Clone)]
struct Browser {
    agent: ureq::Agent,
    cookies: BTreeMap<String, String>,
}

struct Reply {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

impl Reply {
    fn location(&self) -> String {
        self.location.clone().expect("a Location header")
    }
}

impl Browser {
    fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            cookies: BTreeMap::new(),
        }
    }

    /// GET `url` with every cookie of the jar (one site: the replicas sit
    /// behind one address in a real deployment, and the fake Spotify sets
    /// none); the cookies set by the reply go into the jar.
    fn get(&mut self, url: &str) -> Reply {
        let mut request = self.agent.get(url);
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header("Cookie", header.join("; "));
        }
        let mut response = request.call().unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        let location = header("location").into_iter().next();
        let set_cookies = header("set-cookie");
        for set_cookie in &set_cookies {
            let pair = set_cookie.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if set_cookie.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Reply {
            status: response.status().as_u16(),
            location,
            set_cookies,
            body: response.body_mut().read_to_string().unwrap(),
        }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_owned(), value.to_owned());
    }
}

// ---------------------------------------------------------------------------
// The flows, each on a deployment of its own.

/// Two users log in; each `/me` shows that user's own Spotify profile, from
/// a token cache of their own. The login keeps its secrets server-side.
fn two_users(d: &Deployment) {
    let (mut alice, mut bob) = (Browser::new(), Browser::new());

    d.fake.sign_in_as("alice");
    let login = alice.get(&d.url(0, "/login"));
    assert_eq!(login.status, 302);
    let authorize = login.location();
    assert_eq!(query_param(&authorize, "code_challenge_method"), "S256");
    assert!(!authorize.contains("verifier"), "{authorize}");
    let state = query_param(&authorize, "state");
    // Two cookies, neither readable by scripts nor sent on cross-site
    // subrequests: the session, and the login's state (nothing secret).
    assert_eq!(login.set_cookies.len(), 2, "{:?}", login.set_cookies);
    for cookie in &login.set_cookies {
        assert!(cookie.contains("; HttpOnly"), "{cookie}");
        assert!(cookie.contains("; SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("; Path=/"), "{cookie}");
    }
    assert_eq!(alice.cookie(LOGIN_COOKIE), Some(state.as_str()));
    assert_eq!(alice.cookie(SESSION_COOKIE).unwrap().len(), 43);
    let callback = alice.get(&authorize).location();
    let done = d.callback(&mut alice, &callback, 0);
    assert_eq!((done.status, done.location()), (303, "/me".to_owned()));
    assert_eq!(
        alice.cookie(LOGIN_COOKIE),
        None,
        "the login cookie is cleared"
    );
    assert!(
        !d.take_attempt(&alice, &state),
        "the callback took the attempt"
    );

    d.log_in(&mut bob, "bob", 0, 0);
    assert_eq!(d.token_requests(), 2, "one exchange each");

    d.assert_me(&mut alice, 0, "alice");
    d.assert_me(&mut bob, 0, "bob");
    assert_eq!(d.web_api_requests(), 2);
    assert_eq!(d.token_requests(), 2, "no refresh");
    // A cache each.
    let (a, b) = (d.access_token(&alice), d.access_token(&bob));
    assert_ne!(a, b);
    assert!(d.fake.access_token_is_live(&a) && d.fake.access_token_is_live(&b));
}

/// A token Spotify rejects before its expiry (401) is replaced by one forced
/// refresh, and the call retried once; other users are untouched.
fn unauthorized_means_one_refresh(d: &Deployment) {
    let (mut alice, mut bob) = (Browser::new(), Browser::new());
    d.log_in(&mut alice, "alice", 0, 0);
    d.log_in(&mut bob, "bob", 0, 0);
    d.assert_me(&mut alice, 0, "alice");
    d.assert_me(&mut bob, 0, "bob");

    let rejected = d.access_token(&alice);
    assert!(d.fake.revoke_access_token(&rejected));
    let (tokens, calls) = (d.token_requests(), d.web_api_requests());
    d.assert_me(&mut alice, 0, "alice");
    assert_eq!(d.token_requests(), tokens + 1, "one refresh");
    assert_eq!(d.web_api_requests(), calls + 2, "the 401, then the retry");
    let fresh = d.access_token(&alice);
    assert_ne!(fresh, rejected, "the new token is stored");
    assert!(d.fake.access_token_is_live(&fresh));

    d.assert_me(&mut alice, 0, "alice");
    d.assert_me(&mut bob, 0, "bob");
    assert_eq!(d.token_requests(), tokens + 1, "nothing more to refresh");
    assert_eq!(d.web_api_requests(), calls + 4);
}

/// A login started on one replica ends on the other; both serve the user
/// from the shared cache; a token one replica replaced reaches the other
/// without a second refresh; a logout on one stops the other within a
/// second, though its token is still valid.
fn across_replicas(d: &Deployment) {
    let (mut alice, mut bob) = (Browser::new(), Browser::new());
    d.log_in(&mut alice, "alice", 0, 1);
    d.log_in(&mut bob, "bob", 1, 0);
    assert_eq!(d.token_requests(), 2);
    for replica in [0, 1] {
        d.assert_me(&mut alice, replica, "alice");
        d.assert_me(&mut bob, replica, "bob");
    }
    assert_eq!(
        d.token_requests(),
        2,
        "replica 0 read alice's token from the cache"
    );

    // Both replicas hold alice's token in memory when Spotify revokes it.
    assert!(d.fake.revoke_access_token(&d.access_token(&alice)));
    d.assert_me(&mut alice, 0, "alice");
    assert_eq!(d.token_requests(), 3, "replica 0 refreshed");
    d.assert_me(&mut alice, 1, "alice");
    assert_eq!(
        d.token_requests(),
        3,
        "replica 1's forced refresh found replica 0's new token in the cache"
    );

    // Replica 1 holds alice's token, valid for an hour, in memory.
    d.assert_me(&mut alice, 1, "alice");
    // Logout on replica 0: a logout record, heard by replica 1's instance.
    let stale = alice.clone();
    let out = alice.get(&d.url(0, "/logout"));
    assert_eq!(out.status, 200, "{}", out.body);
    let logged_out = Instant::now();
    assert!(d.stored_token(&stale).is_none());
    d.assert_login_required(&mut stale.clone(), 0);
    loop {
        let (status, json) = d.me(&mut stale.clone(), 1);
        if status == 401 {
            assert_eq!(json["error"], "login_required");
            break;
        }
        assert_eq!(json["id"], "alice", "{json}");
        assert!(
            logged_out.elapsed() < Duration::from_secs(10),
            "replica 1 never heard"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!(
        "replica 1 answered login_required {:.1} ms after replica 0's /logout returned",
        logged_out.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(
        d.token_requests(),
        3,
        "nothing sent for the logged-out user"
    );
    // Bob's login goes on.
    d.fake.expire_access_tokens();
    d.assert_me(&mut bob, 1, "bob");
    assert_eq!(d.token_requests(), 4, "bob's expired token was refreshed");
}

/// Callbacks that are not this browser's login are refused before anything
/// is sent to Spotify, and leave the real login able to finish; a replayed
/// callback finds nothing.
fn forged_callbacks(d: &Deployment) {
    let mut victim = Browser::new();
    let callback = d.start_login(&mut victim, "victim", 0);
    let state = query_param(&callback, "state");
    let refused = |reply: Reply, error: &str| {
        assert_eq!(reply.status, 400, "{}", reply.body);
        let json: Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(json["error"], error, "{json}");
    };

    // No cookies at all.
    refused(
        d.callback(&mut Browser::new(), &callback, 1),
        "no_login_in_progress",
    );
    // Another browser with a login of its own: its state is not this one.
    let mut attacker = Browser::new();
    d.start_login(&mut attacker, "attacker", 0);
    refused(d.callback(&mut attacker, &callback, 1), "state_mismatch");
    // This browser, a URL with another state.
    let other_state = callback.replace(&state, &"A".repeat(43));
    refused(
        d.callback(&mut victim.clone(), &other_state, 1),
        "state_mismatch",
    );
    // The victim's state in another session: not its login.
    let mut borrowed = attacker.clone();
    borrowed.set_cookie(LOGIN_COOKIE, &state);
    refused(d.callback(&mut borrowed, &callback, 1), "unknown_login");
    // Malformed cookies are refused before they are used as names.
    let mut malformed = victim.clone();
    malformed.set_cookie(LOGIN_COOKIE, "../../../etc/passwd");
    refused(
        d.callback(&mut malformed, &callback, 1),
        "no_login_in_progress",
    );
    malformed.set_cookie(LOGIN_COOKIE, &state);
    malformed.set_cookie(SESSION_COOKIE, "../tokens/x");
    refused(
        d.callback(&mut malformed, &callback, 1),
        "no_login_in_progress",
    );
    assert_eq!(d.token_requests(), 0, "nothing was sent to Spotify");

    // The real callback still works, once.
    let done = d.callback(&mut victim, &callback, 1);
    assert_eq!(done.status, 303, "{}", done.body);
    d.assert_me(&mut victim, 0, "victim");
    assert_eq!(d.token_requests(), 1);
    refused(
        d.callback(&mut victim.clone(), &callback, 0),
        "no_login_in_progress",
    );
    let mut replay = victim.clone();
    replay.set_cookie(LOGIN_COOKIE, &state);
    refused(d.callback(&mut replay, &callback, 0), "unknown_login");
    assert_eq!(d.token_requests(), 1, "a replayed code is never sent");
}

/// Without a login, `/me` answers 401 `login_required`; `/logout` ends a
/// login (its cache emptied, its cookies expired) and a new one can start.
fn logout(d: &Deployment) {
    d.assert_login_required(&mut Browser::new(), 0);
    let mut garbage = Browser::new();
    garbage.set_cookie(SESSION_COOKIE, "not-a-session");
    d.assert_login_required(&mut garbage, 0);
    let mut unknown = Browser::new();
    unknown.set_cookie(SESSION_COOKIE, &"U".repeat(43));
    d.assert_login_required(&mut unknown, 1);
    assert_eq!(Browser::new().get(&d.url(1, "/logout")).status, 200);
    assert_eq!((d.token_requests(), d.web_api_requests()), (0, 0));

    let mut alice = Browser::new();
    d.log_in(&mut alice, "alice", 0, 0);
    d.assert_me(&mut alice, 0, "alice");
    let stale = alice.clone();
    let out = alice.get(&d.url(0, "/logout"));
    assert_eq!(out.status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&out.body).unwrap()["logged_out"],
        true
    );
    assert_eq!(
        alice.cookie(SESSION_COOKIE),
        None,
        "the session cookie is expired"
    );
    assert!(d.stored_token(&stale).is_none(), "the cache is empty");
    d.assert_login_required(&mut stale.clone(), 0);
    d.assert_login_required(&mut alice, 0);
    assert_eq!(d.token_requests(), 1, "only the exchange");

    d.log_in(&mut alice, "alice", 1, 1);
    d.assert_me(&mut alice, 0, "alice");
}

// ---------------------------------------------------------------------------
// In memory.

#[test]
fn two_users_each_see_their_own_profile() {
    two_users(&in_memory());
}

#[test]
fn a_401_is_answered_by_one_forced_refresh_and_one_retry() {
    unauthorized_means_one_refresh(&in_memory());
}

#[test]
fn a_login_started_on_one_replica_ends_on_the_other_and_a_logout_reaches_both() {
    across_replicas(&in_memory());
}

#[test]
fn forged_callbacks_are_refused_without_a_token_request() {
    forged_callbacks(&in_memory());
}

#[test]
fn logout_ends_the_login() {
    logout(&in_memory());
}

#[test]
fn made_up_sessions_get_a_401_and_cost_spotify_nothing() {
    let d = in_memory();
    for (i, path) in ["/me", "/logout", "/me"].into_iter().enumerate() {
        let mut stranger = Browser::new();
        let session = format!("{i}").repeat(43);
        stranger.set_cookie(SESSION_COOKIE, &session);
        let reply = stranger.get(&d.url(0, path));
        assert!(matches!(reply.status, 200 | 401), "{}", reply.body);
        assert!(
            d.storage
                .cache(&user_key(&session))
                .get()
                .unwrap()
                .is_none()
        );
    }
    assert_eq!((d.token_requests(), d.web_api_requests()), (0, 0));
}

// ---------------------------------------------------------------------------
// With Redis.

#[cfg(feature = "redis")]
#[test]
fn the_same_flows_with_redis() {
    if std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "skipped: redis-server is not installed (apt-get install redis-server; .ci/run installs it)"
        );
        return;
    }
    let redis = redis_support::RedisServer::start();
    let url = redis.url();
    for flow in [
        two_users,
        unauthorized_means_one_refresh,
        across_replicas,
        forged_callbacks,
        logout,
    ] {
        flow(&deploy(|| {
            Storage::Redis(spotify_auth::RedisStore::open(&url).unwrap())
        }));
    }
    let mut connection = redis.raw();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("spotify:login:*")
        .query(&mut connection)
        .unwrap();
    // Every login attempt was taken but the attacker's in forged_callbacks,
    // never finished: it expires.
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query(&mut connection)
        .unwrap();
    assert!((1..=600).contains(&ttl), "{ttl}");

    // Tokens sealed at rest (feature `encryption`): the same flow, and
    // Redis holds no token in the clear.
    #[cfg(feature = "encryption")]
    {
        use spotify_auth::{SealingKey, SealingKeys};
        redis::cmd("FLUSHALL").query::<()>(&mut connection).unwrap();
        let keys = SealingKeys::new(SealingKey::new([7; 32]));
        across_replicas(&deploy(|| {
            let store = spotify_auth::RedisStore::open(&url).unwrap();
            Storage::Sealed(Box::new(Storage::Redis(store)), keys.clone())
        }));
        let stored: Vec<String> = redis::cmd("KEYS")
            .arg("spotify:token:*")
            .query(&mut connection)
            .unwrap();
        assert_eq!(stored.len(), 2, "alice's logout, bob's token: {stored:?}");
        for key in stored {
            let value: String = redis::cmd("GET").arg(&key).query(&mut connection).unwrap();
            assert!(!value.contains("access_token"), "{key}: {value}");
        }
    }
}
