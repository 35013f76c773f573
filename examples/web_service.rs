//! A web service that logs many users in with Spotify and calls the Web API
//! for each of them, ready to run as several replicas (axum, the async API).
//!
//! ```text
//! cargo run --example web_service --features async            # one replica, in memory
//! REDIS_URL=redis://127.0.0.1:6379/0 \
//!   cargo run --example web_service --features async,redis    # replicas sharing Redis
//! ```
//!
//! Open <http://127.0.0.1:8080/login>, then `/me` and `/logout`. Without
//! `SPOTIFY_SDK_CLIENT_ID` it runs against the fake Spotify of
//! `spotify_auth::testing`; with it and `SPOTIFY_SDK_REDIRECT_URI` (this
//! service's `/callback`), against Spotify. `WEB_SERVICE_ADDR`: the address;
//! `WEB_SERVICE_SEALING_KEY` (feature `encryption`): tokens sealed at rest.
//!
//! - **Users**: `asynchronous::UserRegistry` builds one `AuthorizationCode`
//!   per user from one template and keeps at most 10,000; tokens live in the
//!   store (`InMemoryStore`, or `RedisStore` under `spotify:token:{user}`),
//!   so an evicted user loses nothing. A user is a browser session (an `sid`
//!   cookie); keys and logs use the SHA-256 of its id.
//! - **Logins across replicas**: `/login` saves an `authorization_attempt()`
//!   in the `AttemptStore` for the session, its state in an `HttpOnly;
//!   SameSite=Lax` cookie; `/callback`, on any replica, checks the URL's
//!   state against the cookie's (a forged callback stops there), takes the
//!   attempt once (a replay finds nothing) and exchanges the code.
//! - **Web API calls** go through `asynchronous::WebApiMiddleware` (one
//!   refresh and retry on a 401). A login that ended is a 401 `login_required`.
//! - **Logout everywhere**: `/logout` records the logout in the store; every
//!   replica's instance of the user hears of it within a second.
//!
//! Errors are JSON with the library's message; no secret is ever logged.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};
use spotify_auth::asynchronous::{AuthorizationCode, AuthorizationCodeBuilder, HttpClient};
use spotify_auth::asynchronous::{UserRegistry, WebApiMiddleware};
use spotify_auth::middleware::WebApiPolicy;
use spotify_auth::{AttemptStore, InMemoryAttemptStore, InMemoryStore, TokenCache, scopes};

/// The cookie holding the session id (a user of this app).
pub const SESSION_COOKIE: &str = "sid";
/// The cookie holding the state of the login in progress.
pub const LOGIN_COOKIE: &str = "spotify_login";

/// What the service needs to know.
pub struct Settings {
    /// Every user's instance's template: client id, redirect URI, scopes...
    pub app: AuthorizationCodeBuilder<HttpClient>,
    /// The Web API, `https://api.spotify.com/v1` (or a fake one).
    pub web_api_url: String,
    /// Where tokens and logins in progress are kept: every replica the same.
    pub storage: Storage,
    /// Add `Secure` to cookies (the service is reached over https).
    pub secure_cookies: bool,
}

/// Where tokens and logins in progress are kept.
#[derive(Clone, Debug)]
pub enum Storage {
    /// This process's memory (one replica; clones share it).
    Memory(InMemoryStore, Arc<InMemoryAttemptStore>),
    /// A Redis server (feature `redis`): one store per replica.
    #[cfg(feature = "redis")]
    Redis(spotify_auth::RedisStore),
    /// Another storage, its tokens sealed at rest with the app's keys
    /// (feature `encryption`).
    #[cfg(feature = "encryption")]
    Sealed(Box<Storage>, spotify_auth::SealingKeys),
}

impl Storage {
    /// The token cache of `user`: a handle on the shared store.
    pub fn cache(&self, user: &str) -> Box<dyn TokenCache> {
        match self {
            Storage::Memory(tokens, _) => Box::new(tokens.cache(user)),
            #[cfg(feature = "redis")]
            Storage::Redis(store) => Box::new(store.cache(format!("spotify:token:{user}"))),
            #[cfg(feature = "encryption")]
            Storage::Sealed(inner, k) => {
                let sealed = spotify_auth::SealedCache::new(inner.cache(user), k.clone(), user);
                Box::new(sealed)
            }
        }
    }

    /// The logins in progress.
    pub fn attempts(&self) -> Arc<dyn AttemptStore> {
        match self {
            Storage::Memory(_, attempts) => attempts.clone(),
            #[cfg(feature = "redis")]
            Storage::Redis(store) => Arc::new(store.attempt_store()),
            #[cfg(feature = "encryption")]
            Storage::Sealed(inner, _) => inner.attempts(),
        }
    }
}

/// The state every handler shares.
#[derive(Clone)]
struct App {
    users: Arc<UserRegistry>,
    attempts: Arc<dyn AttemptStore>,
    http: HttpClient,
    policy: WebApiPolicy,
    web_api_url: String,
    secure_cookies: bool,
}

/// The service's routes: `/login`, `/callback`, `/me`, `/logout`.
pub fn router(settings: Settings) -> Result<Router, Box<dyn Error + Send + Sync>> {
    let (storage, url) = (settings.storage, settings.web_api_url);
    // The users' tokens only to the Web API; a 429's Retry-After up to 5 s.
    let policy = WebApiPolicy::new()
        .api_origin(&url)
        .max_retry_after(Duration::from_secs(5));
    let app = App {
        attempts: storage.attempts(),
        users: Arc::new(UserRegistry::new(settings.app, move |u| storage.cache(u))?),
        http: spotify_auth::asynchronous::default_http_client()?,
        policy,
        web_api_url: url,
        secure_cookies: settings.secure_cookies,
    };
    Ok(Router::new()
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/me", get(me))
        .route("/logout", get(logout))
        .with_state(app))
}

/// Starts a login: an attempt kept for this session, its state in a
/// cookie, a 302 to Spotify.
async fn login(State(app): State<App>, headers: HeaderMap) -> Result<Response, Failure> {
    let session = session_of(&headers).unwrap_or_else(new_session);
    let user = user_key(&session);
    let attempt = app.users.get(&user)?.authorization_attempt(None, false)?;
    let saved = attempt.clone();
    attempts_io(&app.attempts, move |s| s.save(&user, &saved)).await?;
    let (secure, month) = (app.secure_cookies, Duration::from_secs(30 * 86400));
    let lifetime = app.attempts.lifetime();
    let cookies = [
        (SET_COOKIE, cookie(SESSION_COOKIE, &session, month, secure)),
        (
            SET_COOKIE,
            cookie(LOGIN_COOKIE, &attempt.state, lifetime, secure),
        ),
    ];
    Ok((
        StatusCode::FOUND,
        [(LOCATION, attempt.url)],
        AppendHeaders(cookies),
    )
        .into_response())
}

/// Ends a login, on any replica: the state checked against the cookie's,
/// the attempt taken (once), the code exchanged.
async fn callback(
    State(app): State<App>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, Failure> {
    let (Some(session), Some(state)) = (session_of(&headers), login_state_of(&headers)) else {
        let (code, text) = ("no_login_in_progress", "start at /login");
        return Err(Failure(answer(StatusCode::BAD_REQUEST, code, text)));
    };
    let (user, state) = (user_key(&session), state.to_owned());
    let auth = app.users.get(&user)?;
    // CSRF: a callback with another state stops here, before anything is sent.
    let code = auth.parse_response_url(&uri.to_string(), Some(&state))?;
    let who = user.clone();
    let saved = attempts_io(&app.attempts, move |s| s.take(&who, &state)).await?;
    let exchanged = auth.exchange_code_with_verifier(code, saved.pkce_verifier.as_ref());
    match exchanged.await {
        // TokenNotStored: in this replica's memory, the write retried later.
        Ok(_) | Err(spotify_auth::Error::TokenNotStored { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    println!("callback: user {} logged in", &user[..8]);
    let expired = cookie(LOGIN_COOKIE, "", Duration::ZERO, app.secure_cookies);
    let headers = [(LOCATION, "/me".to_owned()), (SET_COOKIE, expired)];
    Ok((StatusCode::SEE_OTHER, headers).into_response())
}

/// The user's Spotify profile: the Web API's `/v1/me` through the middleware.
async fn me(State(app): State<App>, headers: HeaderMap) -> Result<Response, Failure> {
    let session = session_of(&headers).ok_or(spotify_auth::Error::NotAuthorized)?;
    let auth = app.users.get(&user_key(&session))?;
    let middleware = WebApiMiddleware::with_policy(auth, &app.policy)?;
    let client = reqwest_middleware::ClientBuilder::new(app.http.clone()).with(middleware);
    let request = client.build().get(format!("{}/me", app.web_api_url));
    let response = match request.timeout(Duration::from_secs(10)).send().await {
        Ok(response) => response,
        // The library's own error (a login that ended, say) comes back as itself.
        Err(reqwest_middleware::Error::Middleware(e)) => {
            let e = e.downcast::<spotify_auth::Error>();
            return Err(e.map_or_else(bad_gateway, Failure::from));
        }
        Err(e) => return Err(bad_gateway(e)),
    };
    let status = response.status();
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    let mut forwarded = (status, response.bytes().await.map_err(bad_gateway)?).into_response();
    let headers = forwarded.headers_mut();
    headers.extend(content_type.map(|v| (CONTENT_TYPE, v)));
    Ok(forwarded)
}

/// The Web API could not be reached.
fn bad_gateway(e: impl std::fmt::Display) -> Failure {
    Failure(answer(
        StatusCode::BAD_GATEWAY,
        "spotify_web_api",
        &e.to_string(),
    ))
}

/// Logs the user out everywhere: a logout record in the store (which every
/// replica's instance hears of), the cookies expired.
async fn logout(State(app): State<App>, headers: HeaderMap) -> Result<Response, Failure> {
    if let Some(session) = session_of(&headers) {
        let user = user_key(&session);
        app.users.get(&user)?.logout().await?;
        app.users.remove(&user);
        println!("logout: user {}", &user[..8]);
    }
    let secure = app.secure_cookies;
    let expired = [SESSION_COOKIE, LOGIN_COOKIE]
        .map(|name| (SET_COOKIE, cookie(name, "", Duration::ZERO, secure)));
    Ok((AppendHeaders(expired), Json(json!({ "logged_out": true }))).into_response())
}

/// Runs attempt-store I/O off the runtime's threads (unless it never
/// blocks, as in memory).
async fn attempts_io<T: Send + 'static>(
    store: &Arc<dyn AttemptStore>,
    io: impl FnOnce(&dyn AttemptStore) -> spotify_auth::Result<T> + Send + 'static,
) -> spotify_auth::Result<T> {
    if store.never_blocks() {
        return io(&**store);
    }
    let store = store.clone();
    let task = tokio::task::spawn_blocking(move || io(&*store));
    task.await.expect("the attempt store's task")
}

/// A request that failed: its answer. `?` makes one of the library's errors.
struct Failure(Response);

impl From<spotify_auth::Error> for Failure {
    fn from(e: spotify_auth::Error) -> Self {
        Failure(failure(e))
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        self.0
    }
}

/// The answer for the library's error `e`.
fn failure(e: spotify_auth::Error) -> Response {
    use spotify_auth::Error as E;
    if e.requires_authorization() {
        let body = json!({ "error": "login_required", "login": "/login" });
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let (status, error) = match &e {
        E::StateMismatch => (StatusCode::BAD_REQUEST, "state_mismatch"),
        E::AttemptNotFound => (StatusCode::BAD_REQUEST, "unknown_login"),
        E::MissingCode => (StatusCode::BAD_REQUEST, "missing_code"),
        E::AuthorizationDenied { .. } => (StatusCode::FORBIDDEN, "authorization_denied"),
        E::Cache { .. } => (StatusCode::SERVICE_UNAVAILABLE, "storage"),
        _ => (StatusCode::BAD_GATEWAY, "spotify_accounts"),
    };
    answer(status, error, &e.to_string())
}

fn answer(status: StatusCode, error: &str, message: &str) -> Response {
    println!("{status}: {error}: {message}");
    (status, Json(json!({ "error": error, "message": message }))).into_response()
}

/// A new session id: 256 random bits, base64url, for the `sid` cookie.
/// Whoever holds it acts as that user: never printed nor stored.
fn new_session() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The user of a session: base64url(SHA-256(session id)), for keys and logs.
pub fn user_key(session: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(session.as_bytes()))
}

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

/// The value of the cookie `name`, if the request has one.
fn cookie_of<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let values = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let mut pairs = values
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='));
    pairs.find_map(|(key, value)| (key == name).then_some(value))
}

/// The session of the request, when its cookie holds one `new_session` made.
fn session_of(headers: &HeaderMap) -> Option<String> {
    let session = cookie_of(headers, SESSION_COOKIE)?;
    (session.len() == 43 && is_base64url(session)).then(|| session.to_owned())
}

/// The state of the login in progress, when its cookie holds a plausible one.
fn login_state_of(headers: &HeaderMap) -> Option<&str> {
    cookie_of(headers, LOGIN_COOKIE).filter(|s| (16..=128).contains(&s.len()) && is_base64url(s))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax (sent on the redirect back
/// from Spotify, not on cross-site subrequests); a zero `max_age` deletes it.
fn cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> String {
    let (age, secure) = (max_age.as_secs(), if secure { "; Secure" } else { "" });
    format!("{name}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Lax{secure}")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error + Send + Sync>> {
    let address = std::env::var("WEB_SERVICE_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    let local = listener.local_addr()?;
    let storage = match std::env::var("REDIS_URL") {
        #[cfg(feature = "redis")]
        Ok(url) => Storage::Redis(spotify_auth::RedisStore::open(&url)?),
        #[cfg(not(feature = "redis"))]
        Ok(_) => return Err("REDIS_URL is set: build with --features redis".into()),
        Err(_) => Storage::Memory(InMemoryStore::new(), Arc::default()),
    };
    #[cfg(feature = "encryption")] // 64 hex digits; a malformed key is an error
    let storage = match std::env::var_os("WEB_SERVICE_SEALING_KEY") {
        Some(_) => {
            let keys = spotify_auth::SealingKeys::from_env("WEB_SERVICE_SEALING_KEY")?;
            Storage::Sealed(Box::new(storage), keys)
        }
        None => storage,
    };
    let mut app = AuthorizationCode::builder().scope([scopes::USER_READ_EMAIL]);
    let mut web_api_url = "https://api.spotify.com/v1".to_owned();
    let redirect = std::env::var(spotify_auth::ENV_REDIRECT_URI).unwrap_or_default();
    let secure_cookies = redirect.starts_with("https://");
    let mut _fake = None; // kept alive while the service runs
    // Client id, secret and redirect URI from SPOTIFY_SDK_* (read once), or:
    if std::env::var_os(spotify_auth::ENV_CLIENT_ID).is_none() {
        let (id, redirect) = ("web-service-example", format!("http://{local}/callback"));
        let fake = spotify_auth::testing::FakeSpotify::builder().client(id, None);
        let fake = fake.redirect_uri(&redirect).start()?;
        println!(
            "No SPOTIFY_SDK_CLIENT_ID: against a fake Spotify at {}",
            fake.url()
        );
        app = app
            .read_environment(false)
            .client_id(id)
            .redirect_uri(redirect);
        app = app.accounts_base_url(fake.url());
        web_api_url = fake.web_api_url();
        _fake = Some(fake);
    }
    let settings = Settings {
        app,
        web_api_url,
        storage,
        secure_cookies,
    };
    println!("Open http://{local}/login, then /me and /logout.");
    axum::serve(listener, router(settings)?).await?;
    Ok(())
}
