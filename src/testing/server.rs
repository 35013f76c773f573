//! [`FakeSpotify`]: the running server, its handle, and request dispatch.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::authorize::authorize;
use super::builder::FakeSpotifyBuilder;
use super::faults::{Fault, Plan};
use super::grants::token;
use super::http::{Incoming, Reply};
use super::issued::{Delivery, RefreshTokenStatus};
use super::record::RecordedRequest;
use super::relay::{Connections, Relay};
use super::state::{Config, State};
use super::web_api::{WEB_API_PATH, is_web_api, web_api};
use crate::tiny_http_pool::PoolKicker;

/// The path of the authorization endpoint.
const AUTHORIZE_PATH: &str = "/authorize";
/// The path of the token endpoint.
const TOKEN_PATH: &str = "/api/token";

/// A fake `accounts.spotify.com` (and a sliver of `api.spotify.com`) on a
/// loopback port; see the [module documentation](super) for an example.
///
/// Every method is short and non-blocking (a brief lock at most), so the
/// server can be driven from blocking tests and from async tasks alike; it is
/// `Send + Sync` and can be shared behind an `Arc`. Requests are served on
/// background threads, each on its own, so a delayed answer stalls nothing
/// else. Dropping the server stops it, closes its open connections and frees
/// its port before `drop` returns.
pub struct FakeSpotify {
    shared: Arc<Shared>,
    url: String,
    addr: SocketAddr,
    /// The public port; dropped first.
    relay: Option<Relay>,
    backend: Arc<tiny_http::Server>,
    dispatcher: Option<JoinHandle<()>>,
}

/// What the request threads and the handle share.
struct Shared {
    config: Config,
    /// `{url}/v1`, for the `href`s of Web API objects.
    web_api_url: String,
    state: Mutex<State>,
    connections: Arc<Connections>,
    /// Set when the server is dropped; wakes injected delays early.
    stopping: Mutex<bool>,
    stop_signal: Condvar,
}

impl FakeSpotify {
    /// Starts configuring a server.
    pub fn builder() -> FakeSpotifyBuilder {
        FakeSpotifyBuilder::default()
    }

    pub(crate) fn start_with(config: Config) -> io::Result<Self> {
        let backend = tiny_http::Server::http(("127.0.0.1", 0)).map_err(io::Error::other)?;
        let backend_addr = backend
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("fake Spotify: not listening on an IP address"))?;
        let backend = Arc::new(backend);
        let connections = Arc::new(Connections::default());
        let relay = Relay::start(backend_addr, Arc::clone(&connections))?;
        let addr = relay.addr();
        let url = format!("http://{addr}");
        let shared = Arc::new(Shared {
            config,
            web_api_url: format!("{url}{WEB_API_PATH}"),
            state: Mutex::new(State::default()),
            connections,
            stopping: Mutex::new(false),
            stop_signal: Condvar::new(),
        });
        let dispatcher = {
            let shared = Arc::clone(&shared);
            let backend = Arc::clone(&backend);
            thread::Builder::new()
                .name("fake-spotify".into())
                .spawn(move || dispatch(&backend, backend_addr, &shared))?
        };
        Ok(Self {
            shared,
            url,
            addr,
            relay: Some(relay),
            backend,
            dispatcher: Some(dispatcher),
        })
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The authorization endpoint, `{url}/authorize`.
    pub fn authorize_url(&self) -> String {
        format!("{}{AUTHORIZE_PATH}", self.url)
    }

    /// The token endpoint, `{url}/api/token`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.url)
    }

    /// When on, `/authorize` redirects with `error=access_denied` (the user
    /// said no) instead of a code. Off by default.
    pub fn set_deny(&self, deny: bool) {
        self.shared.lock().deny = deny;
    }

    /// Gives `fault` to the next `times` token requests. Faults queue up in
    /// the order injected: `inject(Fault::Status(500), 2)` then
    /// `inject(Fault::DropConnection, 1)` fails the next three requests, the
    /// first two with 500. Only the token endpoint takes these faults; the
    /// Web API has a queue of its own
    /// ([`inject_web_api`](Self::inject_web_api)).
    pub fn inject(&self, fault: Fault, times: usize) {
        self.shared.lock().faults.push(fault, times);
    }

    /// Forgets all faults not given out yet (the token endpoint's and the
    /// Web API's).
    pub fn clear_faults(&self) {
        let mut state = self.shared.lock();
        state.faults.clear();
        state.web_api_faults.clear();
    }

    /// Mints a live refresh token for `client_id`, as if the signed-in user
    /// ([`sign_in_as`](Self::sign_in_as), default `"fake-user"`) had
    /// authorized `scope` (space-delimited) before: for tests that start from
    /// a stored refresh token. Its [`Delivery`] is [`Delivery::Minted`].
    ///
    /// # Panics
    ///
    /// When `client_id` is not registered.
    pub fn issue_refresh_token(&self, client_id: &str, scope: &str) -> String {
        assert!(
            self.shared.config.client(client_id).is_some(),
            "fake Spotify: client {client_id:?} is not registered"
        );
        let mut state = self.state();
        let user_id = state.signed_in.clone();
        state.issue_refresh_token(client_id, &user_id, scope, Delivery::Minted)
    }

    /// Revokes a refresh token: refreshing with it then fails with
    /// `invalid_grant` ("Refresh token revoked"). False when the token is unknown.
    pub fn revoke_refresh_token(&self, refresh_token: &str) -> bool {
        self.state()
            .set_refresh_status(refresh_token, RefreshTokenStatus::Revoked)
    }

    /// Expires a refresh token (Spotify's expire six months after the
    /// authorization): refreshing with it then fails with `invalid_grant`
    /// ("Refresh token expired"). False when the token is unknown.
    pub fn expire_refresh_token(&self, refresh_token: &str) -> bool {
        self.state()
            .set_refresh_status(refresh_token, RefreshTokenStatus::Expired)
    }

    /// Every request received so far, faulted ones included, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// The requests received after the first `skip`, in arrival order: what
    /// arrived since a test last looked, without copying everything before.
    pub fn requests_since(&self, skip: usize) -> Vec<RecordedRequest> {
        let state = self.shared.lock();
        state
            .requests
            .get(skip..)
            .map_or_else(Vec::new, <[_]>::to_vec)
    }

    /// How many requests reached the token endpoint (any method, faulted
    /// ones included).
    pub fn token_request_count(&self) -> usize {
        self.count(TOKEN_PATH)
    }

    /// How many TCP connections clients have opened to the server so far:
    /// each counts once, however many requests it carried. For checking
    /// that a client reuses its connections (keep-alive, pooling).
    pub fn connection_count(&self) -> usize {
        self.shared.connections.accepted()
    }

    /// How many requests reached the authorization endpoint.
    pub fn authorize_request_count(&self) -> usize {
        self.count(AUTHORIZE_PATH)
    }

    fn count(&self, path: &str) -> usize {
        let state = self.state();
        state.requests.iter().filter(|r| r.path == path).count()
    }

    /// The server's state, locked (briefly: never held across I/O).
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }
}

impl Drop for FakeSpotify {
    fn drop(&mut self) {
        // Frees the port and closes every connection.
        drop(self.relay.take());
        *self
            .shared
            .stopping
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.stop_signal.notify_all();
        // The dispatcher answers what is queued (sockets now closed), then
        // sees the unblock and returns.
        self.backend.unblock();
        if let Some(dispatcher) = self.dispatcher.take() {
            let _ = dispatcher.join();
        }
    }
}

impl fmt::Debug for FakeSpotify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeSpotify")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// Hands each request to its own thread until the server is unblocked.
///
/// Meanwhile it keeps tiny_http's thread pool moving ([`PoolKicker`]): its
/// pool can leave a connection of a burst queued with no thread to serve it
/// until another connection closes, which stalled tests opening many
/// connections at once until their client's timeout.
fn dispatch(backend: &tiny_http::Server, backend_addr: SocketAddr, shared: &Arc<Shared>) {
    let mut kicker = PoolKicker::new(backend_addr);
    loop {
        match backend.recv_timeout(KICK_CHECK) {
            Ok(Some(request)) => {
                let worker = Arc::clone(shared);
                // When no thread can be had, the request is dropped, which
                // answers it with an empty 500.
                let _ = thread::Builder::new()
                    .name("fake-spotify-request".into())
                    .spawn(move || worker.handle(request));
            }
            // A timeout, or the unblock of a server being dropped.
            Ok(None) if shared.is_stopping() => return,
            Ok(None) => {}
            Err(_) => return,
        }
        kicker.tick();
    }
}

/// How long the dispatcher waits for a request before checking the pool.
const KICK_CHECK: Duration = Duration::from_millis(50);

impl Shared {
    fn is_stopping(&self) -> bool {
        *self.stopping.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the request, applies any fault, answers.
    fn handle(&self, mut request: tiny_http::Request) {
        let incoming = Incoming::read(&mut request);
        // A browser's CORS preflight is the browser's question, not the
        // client's request: answered, neither recorded nor faulted.
        if incoming.is_preflight() {
            Reply::preflight(&incoming).send(request, &self.connections);
            return;
        }
        let from_browser = incoming.header("origin").is_some();
        let fault = {
            let mut state = self.lock();
            let fault = if incoming.path == TOKEN_PATH {
                state.faults.next()
            } else if is_web_api(&incoming.path) {
                state.web_api_faults.next()
            } else {
                None
            };
            state
                .requests
                .push(RecordedRequest::new(&incoming, fault.clone()));
            fault
        };
        let web_api = is_web_api(&incoming.path);
        let reply = match fault.as_ref().map(|fault| fault.plan(web_api)) {
            None => self.answer(&incoming, Delivery::Delivered),
            Some(Plan::Replace(reply)) => reply,
            Some(Plan::WaitThenAnswer(delay)) => {
                self.pause(delay);
                self.answer(&incoming, Delivery::Delivered)
            }
            Some(Plan::AnswerLate(delay)) => {
                let reply = self.answer(&incoming, Delivery::Delayed(delay));
                self.pause(delay);
                reply
            }
            Some(Plan::AnswerLost) => {
                // The grant happens; its answer goes nowhere.
                drop(self.answer(&incoming, Delivery::Lost));
                Reply::HangUp { raw: Vec::new() }
            }
        };
        let reply = if from_browser {
            reply.with_cors()
        } else {
            reply
        };
        reply.send(request, &self.connections);
    }

    /// Processes the request and returns the normal answer; `delivery` says
    /// how that answer will reach the client.
    fn answer(&self, incoming: &Incoming, delivery: Delivery) -> Reply {
        let mut state = self.lock();
        match incoming.path.as_str() {
            AUTHORIZE_PATH => authorize(&self.config, &mut state, incoming),
            TOKEN_PATH => token(&self.config, &mut state, incoming, delivery),
            path if is_web_api(path) => web_api(&state, incoming, &self.web_api_url),
            _ => Reply::not_found(),
        }
    }

    /// Sleeps for `delay`, or until the server is dropped.
    fn pause(&self, delay: Duration) {
        let deadline = Instant::now() + delay;
        let mut stopping = self.stopping.lock().unwrap_or_else(PoisonError::into_inner);
        while !*stopping {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            stopping = self
                .stop_signal
                .wait_timeout(stopping, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The handle is shared between threads and async tasks.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<FakeSpotify>();
};

#[cfg(test)]
mod tests {
    use super::FakeSpotify;

    /// A GET of a path the server does not know, its body read to the end so
    /// that the agent can keep the connection for its next request.
    fn get_404(agent: &ureq::Agent, server: &FakeSpotify) {
        let mut response = agent
            .get(format!("{}/nowhere", server.url()))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .expect("an answer");
        assert_eq!(response.status(), 404);
        response.body_mut().read_to_vec().expect("the body");
    }

    /// `requests_since` returns what arrived after the first n requests;
    /// every access token issued has an issue time.
    #[test]
    fn requests_since_and_access_token_issue_times() {
        let server = FakeSpotify::builder()
            .client("id", Some("s"))
            .start()
            .expect("fake server");
        let agent = ureq::Agent::new_with_defaults();
        get_404(&agent, &server);
        get_404(&agent, &server);
        assert_eq!(server.requests_since(1).len(), 1);
        assert_eq!(server.requests_since(0).len(), 2);
        assert!(server.requests_since(5).is_empty());

        let refresh = server.issue_refresh_token("id", "");
        let before = std::time::Instant::now();
        let body = agent
            .post(server.token_url())
            .header("Authorization", "Basic aWQ6cw==") // id:s
            .send_form([("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .expect("a token")
            .body_mut()
            .read_to_string()
            .expect("the body");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let access = json["access_token"].as_str().expect("an access token");
        let issued = server.access_token_issued_at(access).expect("issued here");
        assert!(before <= issued && issued <= std::time::Instant::now());
        assert_eq!(server.access_token_issued_at("BQnever"), None);
    }

    /// Browsers: a preflight is answered (and not recorded), a request
    /// with an `Origin` is readable by the page; one without is as before.
    #[test]
    fn answers_cors_for_browsers() {
        let server = FakeSpotify::builder()
            .client("id", None)
            .start()
            .expect("fake server");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let preflight = agent
            .options(server.token_url())
            .header("Origin", "http://127.0.0.1:9")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization")
            .call()
            .expect("an answer");
        assert_eq!(preflight.status(), 204);
        let header = |r: &ureq::http::Response<ureq::Body>, name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().expect("ASCII").to_owned())
        };
        assert_eq!(
            header(&preflight, "access-control-allow-origin").as_deref(),
            Some("*")
        );
        assert_eq!(
            header(&preflight, "access-control-allow-headers").as_deref(),
            Some("authorization")
        );
        assert_eq!(
            server.token_request_count(),
            0,
            "a preflight is not recorded"
        );

        let from_page = agent
            .post(server.token_url())
            .header("Origin", "http://127.0.0.1:9")
            .send_form([("grant_type", "refresh_token")])
            .expect("an answer");
        assert_eq!(from_page.status(), 401, "no client: invalid_client");
        assert_eq!(
            header(&from_page, "access-control-allow-origin").as_deref(),
            Some("*")
        );
        let native = agent
            .post(server.token_url())
            .send_form([("grant_type", "refresh_token")])
            .expect("an answer");
        assert_eq!(header(&native, "access-control-allow-origin"), None);
        assert_eq!(server.token_request_count(), 2);
    }

    #[test]
    fn connection_count_counts_connections_not_requests() {
        let server = FakeSpotify::builder().start().expect("fake server");
        assert_eq!(server.connection_count(), 0);

        let agent = ureq::Agent::new_with_defaults();
        get_404(&agent, &server);
        assert_eq!(server.connection_count(), 1);
        // Kept alive: the same connection carries the next two requests.
        get_404(&agent, &server);
        get_404(&agent, &server);
        assert_eq!(server.connection_count(), 1);

        // Another agent has its own connection.
        get_404(&ureq::Agent::new_with_defaults(), &server);
        assert_eq!(server.connection_count(), 2);
        assert_eq!(server.requests().len(), 4);
    }
}
