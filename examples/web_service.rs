//! A web service that logs many users in with Spotify and calls the Web API
//! for each of them, ready to run as several replicas (axum, the async API).
//!
//! ```text
//! cargo run --example web_service --features async            # tokens in files
//! REDIS_URL=redis://127.0.0.1:6379/0 \
//!   cargo run --example web_service --features async,redis    # tokens in Redis
//! ```
//!
//! Then open <http://127.0.0.1:8080/login>: Spotify asks for consent and
//! sends the browser back to `/callback`, which ends at `/me` (your Spotify
//! profile, as JSON); `/logout` ends the login. Without
//! `SPOTIFY_SDK_CLIENT_ID` it runs offline against the fake Spotify of
//! `spotify_auth::testing`, which consents at once for its user `fake-user`.
//! With `SPOTIFY_SDK_CLIENT_ID` and `SPOTIFY_SDK_REDIRECT_URI` (this
//! service's `/callback`, registered for your app; plus
//! `SPOTIFY_SDK_CLIENT_SECRET` for a confidential app) it talks to the real
//! Spotify. `WEB_SERVICE_ADDR` sets the listen address (default
//! `127.0.0.1:8080`), `WEB_SERVICE_DATA_DIR` the folder for tokens and login
//! attempts (default: one in the temp dir), `REDIS_URL` puts both in Redis.
//!
//! **One HTTP client per process.** Every user has an `AuthorizationCode` of
//! their own, built with default settings: all of them share the library's
//! one default HTTP client (one connection pool, one TLS setup), so building
//! one costs microseconds; they are built on first use and kept in a map.
//!
//! **Per-user token caches.** Each user's token lives in a file of its own
//! (`FileTokenCache`) or, with `REDIS_URL`, under a Redis key of its own, all
//! cut from one `RedisStore` (one connection pool for every user). The cache
//! is the truth: any replica, or a restarted one, picks the user's token up
//! from it, and only one of them refreshes it at a time (a file lock, or a
//! Redis lock). A user here is a browser session (an `sid` cookie); a real
//! app would key by its own account id. Files and keys are named by the
//! SHA-256 of the session id, so neither they nor the log reveal a cookie.
//!
//! **The stateless login, across replicas.** `/login` makes an
//! `authorization_attempt()`. Its state and PKCE verifier go into a store
//! every replica shares (a file per attempt, or a Redis key that expires
//! after 10 minutes), never to the browser; the browser gets two
//! `HttpOnly; SameSite=Lax` cookies, the attempt's state and the session id,
//! and a 302 to Spotify. `/callback`, on whichever replica it lands, checks
//! the URL's state against the cookie's (`parse_response_url`: a forged
//! callback is refused before anything is sent), takes the verifier out of
//! the store (once: a replayed callback finds nothing), and calls
//! `exchange_code_with_verifier` on that user's instance.
//!
//! **Web API calls.** `/me` calls the Web API through the library's
//! middleware (`asynchronous::WebApiMiddleware`, see `web_service/web_api.rs`):
//! it puts the user's token on requests to the Web API's origin only, and a
//! 401 (Spotify no longer accepts a token that has not expired yet: revoked,
//! or the clocks disagree) costs one refresh and one retry, with nothing
//! written here. Requests of the user that saw the same 401 share one
//! refresh, and a replica whose token another replica already replaced takes
//! the new one from the cache without a request. A 429's `Retry-After` is
//! waited out (up to 5 s). A user who is not logged in, or whose login ended
//! (`e.requires_authorization()`: logged out, or the refresh token was
//! revoked or expired), gets `401 {"error": "login_required", "login":
//! "/login"}` (an API's answer; a page would redirect to `/login`). Other
//! failures are 4xx/5xx JSON with the library's message, which never holds a
//! secret; the log never shows a token, a code, a verifier or a session id.
//! `/logout` clears the user's cache: the replica that served it forgets the
//! token at once, the others at their next refresh, when they find the
//! cache empty.
//!
//! **Redis sizing.** One `RedisStore` per replica holds a bounded pool
//! (default 8 connections) for every user's cache. A call holds a connection
//! only for one round trip, and only refreshes (about one per active user
//! per hour), logins and logouts touch Redis at all, so the default serves
//! many thousands of users; raise `with_max_connections` when calls fail
//! with a busy pool. Each user costs one key (`spotify:token:{user}`, a few
//! hundred bytes, kept until logout) and, while refreshing, its
//! `{key}:lock`; each login in progress a `spotify:login:{user}.{state}` key for at
//! most 10 minutes.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use spotify_auth::testing::FakeSpotify;
use spotify_auth::{ClientSecret, Scopes, scopes};

#[path = "web_service/attempts.rs"]
pub mod attempts;
#[path = "web_service/users.rs"]
pub mod users;
#[path = "web_service/web_api.rs"]
pub mod web_api;

use attempts::{Attempt, Attempts};
use users::{SessionId, TokenStore, Users};
use web_api::WebApi;

/// The cookie holding the session id (a user of this app).
pub const SESSION_COOKIE: &str = "sid";
/// The cookie holding the state of the login in progress.
pub const LOGIN_COOKIE: &str = "spotify_login";
/// How long the session cookie lasts: 30 days.
const SESSION_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// What the service needs to know.
pub struct Settings {
    /// The Spotify app: client id, secret, redirect URI, scopes.
    pub client: users::Client,
    /// The accounts service, `https://accounts.spotify.com` (or a fake one).
    pub accounts_base_url: String,
    /// The Web API, `https://api.spotify.com/v1` (or a fake one).
    pub web_api_url: String,
    /// Where tokens and login attempts are kept.
    pub storage: Storage,
}

/// Where tokens and login attempts are kept: every replica must use the same.
#[derive(Clone, Debug)]
pub enum Storage {
    /// A folder (`tokens/` with a file per user, `attempts/` with a file per
    /// login in progress), shared by the replicas of one machine.
    Directory(PathBuf),
    /// A Redis server (`redis://...` or `rediss://...`; feature `redis`).
    Redis(String),
}

impl Storage {
    /// The token store and the login attempt store.
    pub fn open(&self) -> Result<(TokenStore, Attempts), Box<dyn Error + Send + Sync>> {
        match self {
            Storage::Directory(dir) => {
                let attempts = Attempts::in_directory(dir.join("attempts"))?;
                Ok((TokenStore::Files(dir.join("tokens")), attempts))
            }
            #[cfg(feature = "redis")]
            Storage::Redis(url) => {
                let store = spotify_auth::RedisStore::open(url)?;
                Ok((TokenStore::Redis(store), Attempts::in_redis(url)?))
            }
            #[cfg(not(feature = "redis"))]
            Storage::Redis(_) => Err("REDIS_URL is set: build with --features redis".into()),
        }
    }
}

/// The state every handler shares.
#[derive(Clone)]
struct App {
    users: Arc<Users>,
    attempts: Arc<Attempts>,
    web_api: Arc<WebApi>,
    /// Add `Secure` to cookies (when the service is reached over https).
    secure_cookies: bool,
}

/// The service's routes: `/`, `/login`, `/callback`, `/me`, `/logout`.
///
/// Errors: invalid settings (the library's configuration errors), or a
/// storage that cannot be opened.
pub fn router(settings: Settings) -> Result<Router, Box<dyn Error + Send + Sync>> {
    let secure_cookies = settings.client.redirect_uri.starts_with("https://");
    let (tokens, attempts) = settings.storage.open()?;
    let app = App {
        users: Arc::new(Users::new(
            settings.client,
            &settings.accounts_base_url,
            tokens,
        )?),
        attempts: Arc::new(attempts),
        web_api: Arc::new(WebApi::new(&settings.web_api_url)?),
        secure_cookies,
    };
    Ok(Router::new()
        .route("/", get(index))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/me", get(me))
        .route("/logout", get(logout))
        .with_state(app))
}

async fn index() -> &'static str {
    "spotify-auth web service example\n\n\
     GET /login     log in with Spotify\n\
     GET /me        your Spotify profile (JSON)\n\
     GET /logout    log out\n"
}

/// Starts a login: a new attempt, kept in the shared store; cookies bind
/// this browser to it; a 302 to Spotify.
async fn login(State(app): State<App>, headers: HeaderMap) -> Result<Response, Failure> {
    let session = match session_of(&headers) {
        Some(session) => session,
        None => SessionId::new().map_err(Failure::Storage)?,
    };
    let user = session.user_key();
    let attempt = app.users.get(&user)?.authorization_attempt(None, false)?;
    app.attempts
        .put(&user, &attempt.state, &Attempt::new(attempt.pkce_verifier))
        .await
        .map_err(Failure::Storage)?;
    println!("login: user {} sent to Spotify", short(&user));
    let secure = app.secure_cookies;
    let session_cookie = cookie(SESSION_COOKIE, session.as_str(), SESSION_MAX_AGE, secure);
    let login_cookie = cookie(LOGIN_COOKIE, &attempt.state, attempts::LIFETIME, secure);
    Ok((
        StatusCode::FOUND,
        [(LOCATION, attempt.url)],
        AppendHeaders([(SET_COOKIE, session_cookie), (SET_COOKIE, login_cookie)]),
    )
        .into_response())
}

/// Ends a login, on any replica: the state checked against the cookie's,
/// the verifier taken from the shared store, the code exchanged.
async fn callback(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Failure> {
    let (Some(session), Some(state)) = (session_of(&headers), login_state_of(&headers)) else {
        return Err(Failure::BadCallback(
            "no_login_in_progress",
            "this browser has no login in progress here (no login cookie): start at /login",
        ));
    };
    let user = session.user_key();
    let auth = app.users.get(&user)?;
    // CSRF: the state Spotify sends back must be the one this browser's
    // login started with. A forged callback stops here, before the attempt
    // is used and before anything is sent to Spotify.
    let code = auth.parse_response_url(&uri.to_string(), Some(state))?;
    // Taken once: a replayed callback finds nothing, and neither does
    // another session with this state.
    let attempt = app.attempts.take(&user, state).await;
    let Some(attempt) = attempt.map_err(Failure::Storage)? else {
        return Err(Failure::BadCallback(
            "unknown_login",
            "this login expired, was already used, or belongs to another session: start again at /login",
        ));
    };
    match auth
        .exchange_code_with_verifier(code, attempt.pkce_verifier.as_ref())
        .await
    {
        Ok(_) => println!("callback: user {} logged in", short(&user)),
        // The token is in this replica's memory and the write is retried on
        // later calls; other replicas see it once it is stored.
        Err(e @ spotify_auth::Error::TokenNotStored { .. }) => {
            println!("callback: user {} logged in, but: {e}", short(&user));
        }
        Err(e) => return Err(e.into()),
    }
    let expired = cookie(LOGIN_COOKIE, "", Duration::ZERO, app.secure_cookies);
    Ok((
        StatusCode::SEE_OTHER,
        [(LOCATION, "/me".to_owned()), (SET_COOKIE, expired)],
    )
        .into_response())
}

/// The user's Spotify profile: the Web API's `/v1/me` with the user's
/// token (the middleware answers a 401 with one refresh and one retry).
async fn me(State(app): State<App>, headers: HeaderMap) -> Result<Response, Failure> {
    let session = session_of(&headers).ok_or(Failure::LoginRequired)?;
    let user = session.user_key();
    let auth = app.users.logged_in(&user).await?;
    let auth = auth.ok_or(Failure::LoginRequired)?;
    let answer = app.web_api.me(auth).await?;
    let mut response = (answer.status, answer.body).into_response();
    if let Some(content_type) = answer.content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    Ok(response)
}

/// Logs the user out: their cache is cleared (for every replica), their
/// instance dropped, their cookies expired.
async fn logout(State(app): State<App>, headers: HeaderMap) -> Result<Response, Failure> {
    if let Some(session) = session_of(&headers) {
        let user = session.user_key();
        if let Some(auth) = app.users.logged_in(&user).await? {
            auth.logout().await?;
            app.users.forget(&user);
            println!("logout: user {}", short(&user));
        }
    }
    let expired = [SESSION_COOKIE, LOGIN_COOKIE].map(|name| {
        (
            SET_COOKIE,
            cookie(name, "", Duration::ZERO, app.secure_cookies),
        )
    });
    Ok((AppendHeaders(expired), Json(json!({ "logged_out": true }))).into_response())
}

/// What a handler can fail with; each becomes a JSON answer.
#[derive(Debug)]
enum Failure {
    /// Not logged in, or the login ended: log in again.
    LoginRequired,
    /// A callback that cannot be this browser's login.
    BadCallback(&'static str, &'static str),
    /// The library's other errors (never with a secret in their message).
    Spotify(spotify_auth::Error),
    /// The Web API could not be reached.
    WebApi(reqwest_middleware::Error),
    /// The login attempt store failed.
    Storage(io::Error),
}

impl From<spotify_auth::Error> for Failure {
    fn from(e: spotify_auth::Error) -> Self {
        if e.requires_authorization() {
            Failure::LoginRequired
        } else {
            Failure::Spotify(e)
        }
    }
}

impl From<web_api::CallError> for Failure {
    fn from(e: web_api::CallError) -> Self {
        match e {
            web_api::CallError::Token(e) => e.into(),
            web_api::CallError::Http(e) => Failure::WebApi(e),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        use spotify_auth::Error as E;
        let (status, error, message) = match self {
            Failure::LoginRequired => {
                let body = json!({ "error": "login_required", "login": "/login" });
                return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
            }
            Failure::BadCallback(error, message) => {
                (StatusCode::BAD_REQUEST, error, message.to_owned())
            }
            Failure::Spotify(e @ E::StateMismatch) => {
                (StatusCode::BAD_REQUEST, "state_mismatch", e.to_string())
            }
            Failure::Spotify(e @ E::MissingCode) => {
                (StatusCode::BAD_REQUEST, "missing_code", e.to_string())
            }
            Failure::Spotify(e @ E::AuthorizationDenied { .. }) => {
                (StatusCode::FORBIDDEN, "authorization_denied", e.to_string())
            }
            Failure::Spotify(e @ E::Cache { .. }) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "token_storage",
                e.to_string(),
            ),
            Failure::Spotify(e) => (StatusCode::BAD_GATEWAY, "spotify_accounts", e.to_string()),
            Failure::WebApi(e) => (StatusCode::BAD_GATEWAY, "spotify_web_api", e.to_string()),
            Failure::Storage(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "login_storage",
                e.to_string(),
            ),
        };
        println!("{status}: {error}: {message}");
        (status, Json(json!({ "error": error, "message": message }))).into_response()
    }
}

/// The value of the cookie `name`, if the request has one.
fn cookie_of<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// The session of the request, when its cookie holds a well-formed one.
fn session_of(headers: &HeaderMap) -> Option<SessionId> {
    cookie_of(headers, SESSION_COOKIE).and_then(SessionId::parse)
}

/// The state of the login in progress, when its cookie holds a
/// well-formed one.
fn login_state_of(headers: &HeaderMap) -> Option<&str> {
    cookie_of(headers, LOGIN_COOKIE).filter(|state| attempts::is_valid_state(state))
}

/// A `Set-Cookie` value: HttpOnly (no script reads it) and SameSite=Lax
/// (sent on the top-level redirect back from Spotify, not on cross-site
/// subrequests); a `max_age` of zero deletes it.
fn cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    let max_age = max_age.as_secs();
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

/// The first characters of a user key, for log lines.
fn short(user: &str) -> &str {
    &user[..user.len().min(8)]
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    let address = std::env::var("WEB_SERVICE_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    let local = listener.local_addr()?;
    let storage = match std::env::var("REDIS_URL") {
        Ok(url) => Storage::Redis(url),
        Err(_) => Storage::Directory(match std::env::var_os("WEB_SERVICE_DATA_DIR") {
            Some(dir) => dir.into(),
            None => std::env::temp_dir().join("spotify-auth-web-service"),
        }),
    };
    let scope = Scopes::from([scopes::USER_READ_EMAIL, scopes::USER_READ_PRIVATE]);
    // Kept alive while the service runs (offline only).
    let mut _fake = None;
    let settings = if std::env::var_os(spotify_auth::ENV_CLIENT_ID).is_some() {
        real_spotify(scope, storage)?
    } else {
        let (fake, settings) = fake_spotify(local, scope, storage)?;
        println!(
            "No {} set: offline, against a fake Spotify at {}",
            spotify_auth::ENV_CLIENT_ID,
            fake.url()
        );
        _fake = Some(fake);
        settings
    };
    println!("Storage: {:?}", redacted(&settings.storage));
    let app = router(settings)?;
    println!("Open http://{local}/login, then /me and /logout.");
    axum::serve(listener, app).await?;
    Ok(())
}

/// The real Spotify, configured from the environment.
fn real_spotify(scope: Scopes, storage: Storage) -> Result<Settings, Box<dyn Error + Send + Sync>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let redirect_uri = env(spotify_auth::ENV_REDIRECT_URI).ok_or_else(|| {
        format!(
            "set {} to this service's /callback (e.g. http://127.0.0.1:8080/callback), \
             registered for your app",
            spotify_auth::ENV_REDIRECT_URI
        )
    })?;
    Ok(Settings {
        client: users::Client {
            id: env(spotify_auth::ENV_CLIENT_ID).unwrap_or_default(),
            secret: env(spotify_auth::ENV_CLIENT_SECRET).map(ClientSecret::new),
            redirect_uri,
            scope,
        },
        accounts_base_url: "https://accounts.spotify.com".into(),
        web_api_url: "https://api.spotify.com/v1".into(),
        storage,
    })
}

/// A fake Spotify on loopback, with a public client (PKCE) whose redirect
/// URI is this service's `/callback`.
fn fake_spotify(
    local: SocketAddr,
    scope: Scopes,
    storage: Storage,
) -> Result<(FakeSpotify, Settings), Box<dyn Error + Send + Sync>> {
    let client_id = "web-service-example";
    let redirect_uri = format!("http://{local}/callback");
    let fake = FakeSpotify::builder()
        .client(client_id, None)
        .redirect_uri(&redirect_uri)
        .start()?;
    let settings = Settings {
        client: users::Client {
            id: client_id.into(),
            secret: None,
            redirect_uri,
            scope,
        },
        accounts_base_url: fake.url().to_owned(),
        web_api_url: fake.web_api_url(),
        storage,
    };
    Ok((fake, settings))
}

/// The storage as it can be printed: a Redis URL without its password.
fn redacted(storage: &Storage) -> Storage {
    match storage {
        Storage::Redis(url) => match url::Url::parse(url) {
            Ok(mut url) => {
                let _ = url.set_password(None);
                Storage::Redis(url.into())
            }
            Err(_) => Storage::Redis("(not a URL)".into()),
        },
        other => other.clone(),
    }
}
