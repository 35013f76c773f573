//! The `spotify-auth` binary, driven as a user would run it, against the fake
//! accounts server (`spotify_auth::testing::FakeSpotify`).
//!
//! Every run is isolated in a temporary directory: `HOME`,
//! `XDG_CONFIG_HOME` and `SPOTIFY_AUTH_CONFIG_DIR` point into it, the
//! accounts URL (`SPOTIFY_AUTH_ACCOUNTS_URL`) at the fake server, and the
//! other `SPOTIFY_SDK_*` and `SPOTIFY_AUTH_*` variables and `BROWSER` are
//! removed from the child's environment, so nothing depends on the runner's
//! (nor touches its real config). [`World::cmd`] also gives the client id, a
//! redirect URI on a free loopback port and the token file explicitly, as a
//! user without profiles would; [`World::bare`] gives nothing more, as a
//! user after `login` would.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use spotify_auth::testing::FakeSpotify;
use spotify_auth::{AccessToken, FileTokenCache, RefreshToken, TokenCache, TokenInfo};

const CLIENT_ID: &str = "cli-test-client";
const CLIENT_SECRET: &str = "cli-test-secret-value";
/// A second app, public, registered in every world.
const OTHER_CLIENT_ID: &str = "cli-other-client";
const BIN: &str = env!("CARGO_BIN_EXE_spotify-auth");

/// A loopback port nobody listens on (at the time of asking).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One test's world: a fake accounts server, a redirect URI on a free port,
/// a config directory and a cache path in a temporary directory.
struct World {
    server: FakeSpotify,
    secret: Option<&'static str>,
    redirect_uri: String,
    port: u16,
    accounts_url: String,
    /// `SPOTIFY_AUTH_CONFIG_DIR`.
    config: PathBuf,
    /// The token file `cmd` passes as `--cache`: the default profile's.
    cache: PathBuf,
    _dir: tempfile::TempDir,
}

impl World {
    /// A world for a confidential client (`Some(secret)`) or a public one.
    fn new(secret: Option<&'static str>) -> Self {
        Self::with(secret, false)
    }

    fn with(secret: Option<&'static str>, rotate: bool) -> Self {
        let port = free_port();
        Self::registering(secret, rotate, format!("http://127.0.0.1:{port}/callback"))
    }

    /// A world whose app has `redirect_uri` registered (`port`: its port, or
    /// 0 when it has none).
    fn registering(secret: Option<&'static str>, rotate: bool, redirect_uri: String) -> Self {
        let port = url::Url::parse(&redirect_uri).unwrap().port().unwrap_or(0);
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, secret)
            .client(OTHER_CLIENT_ID, None)
            .redirect_uri(&redirect_uri)
            .rotate_refresh_tokens(rotate)
            .start()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        Self {
            accounts_url: server.url().to_owned(),
            server,
            secret,
            redirect_uri,
            port,
            config: dir.path().join("config"),
            cache: dir.path().join("config").join("token.json"),
            _dir: dir,
        }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Isolates the child's environment: config and home directories in
    /// this world's temporary directory, the fake accounts service, no
    /// setting from the runner's environment.
    fn isolate(&self, command: &mut StdCommand) {
        for name in [
            "SPOTIFY_SDK_CLIENT_SECRET",
            "SPOTIFY_SDK_REDIRECT_URI",
            "SPOTIFY_SDK_TOKEN_CACHE",
            "SPOTIFY_SDK_CLIENT_ID",
            "SPOTIFY_AUTH_PROFILE",
            "BROWSER",
        ] {
            command.env_remove(name);
        }
        command
            .env("HOME", self.dir().join("home"))
            .env("XDG_CONFIG_HOME", self.dir().join("xdg"))
            .env("SPOTIFY_AUTH_CONFIG_DIR", &self.config)
            .env("SPOTIFY_AUTH_ACCOUNTS_URL", &self.accounts_url);
    }

    /// `spotify-auth ARGS...` with nothing but [`isolate`](Self::isolate):
    /// the settings come from the saved profile.
    fn bare(&self, args: &[&str]) -> Command {
        let mut command = StdCommand::new(BIN);
        command.args(args);
        self.isolate(&mut command);
        let mut command = Command::from_std(command);
        command.timeout(Duration::from_secs(60));
        command
    }

    /// Sets the child's environment and the global flags of `command`, with
    /// `redirect_uri` as `--redirect-uri`.
    fn configure(&self, command: &mut StdCommand, redirect_uri: &str) {
        self.isolate(command);
        command
            .env("SPOTIFY_SDK_CLIENT_ID", CLIENT_ID)
            .arg("--cache")
            .arg(&self.cache)
            .arg("--redirect-uri")
            .arg(redirect_uri);
        if let Some(secret) = self.secret {
            command.env("SPOTIFY_SDK_CLIENT_SECRET", secret);
        }
    }

    /// `spotify-auth ARGS...` in this world.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut command = StdCommand::new(BIN);
        command.args(args);
        self.configure(&mut command, &self.redirect_uri);
        let mut command = Command::from_std(command);
        command.timeout(Duration::from_secs(60));
        command
    }

    fn file_cache(&self) -> FileTokenCache {
        FileTokenCache::new(&self.cache)
    }

    /// Stores a token whose access token expired, with a refresh token the
    /// server knows; returns the refresh token.
    fn store_expired_token(&self) -> String {
        let refresh = self
            .server
            .issue_refresh_token(CLIENT_ID, "user-read-email");
        self.store(TokenInfo {
            access_token: AccessToken::new("expired-access-token-value"),
            expires_at: unix_now() - 60,
            refresh_token: Some(RefreshToken::new(refresh.clone())),
            scope: Some("user-read-email".into()),
            authorized_at: None,
        });
        refresh
    }

    fn store(&self, token: TokenInfo) {
        self.file_cache().set(&token).unwrap();
    }

    fn stored(&self) -> Option<TokenInfo> {
        self.file_cache().get().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Log in through `$BROWSER` (a script that fetches the URL and follows the
/// redirect to the callback), then `token` prints the cached token without
/// asking the server.
#[cfg(unix)]
#[test]
fn login_through_the_browser_then_token_uses_the_cache() {
    use std::os::unix::fs::PermissionsExt;

    let world = World::new(Some(CLIENT_SECRET));
    let script = world.dir().join("browser.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncurl -sfL --max-time 20 \"$1\" >/dev/null 2>&1 &\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let login = world
        .cmd(&[
            "login",
            "--scope",
            "user-read-email,user-top-read",
            "--timeout",
            "20",
        ])
        .env("BROWSER", &script)
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&login.stdout), text(&login.stderr));
    assert_eq!(login.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.trim().starts_with(&world.server.authorize_url()),
        "the URL is printed on stdout: {stdout}"
    );
    assert!(stderr.contains("Logged in"), "{stderr}");
    assert_eq!(world.server.token_request_count(), 1);
    // A confidential client authenticates with its secret.
    let exchange = world
        .server
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/token")
        .unwrap();
    assert_eq!(
        exchange.basic_auth(),
        Some((CLIENT_ID.into(), CLIENT_SECRET.into()))
    );

    let stored = world.stored().expect("login stores the token");
    assert_eq!(
        stored.scope.as_deref(),
        Some("user-read-email user-top-read")
    );
    let access = stored.access_token.secret().to_owned();
    for output in [&stdout, &stderr] {
        assert!(!output.contains(&access));
        assert!(!output.contains(CLIENT_SECRET));
    }

    let token = world.cmd(&["token"]).output().unwrap();
    assert_eq!(token.status.code(), Some(0), "{}", text(&token.stderr));
    assert_eq!(text(&token.stdout), format!("{access}\n"));
    assert!(token.stderr.is_empty());
    assert_eq!(
        world.server.token_request_count(),
        1,
        "no new token request"
    );
}

/// `--no-browser`: the URL is printed, and the address the browser was
/// redirected to, pasted on stdin, completes the login (a public client:
/// PKCE). `--port` sets the redirect URI's port.
#[test]
fn login_without_browser_accepts_a_pasted_url() {
    let world = World::new(None);
    let mut command = StdCommand::new(BIN);
    command.args(["login", "--no-browser", "--timeout", "20"]);
    // --port replaces the port of the redirect URI.
    world.configure(&mut command, "http://127.0.0.1:1/callback");
    command
        .arg("--port")
        .arg(world.port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());

    let mut url = String::new();
    while !url.starts_with("http") {
        url.clear();
        assert_ne!(stdout.read_line(&mut url).unwrap(), 0, "no URL printed");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.get(url.trim()).call().unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&world.redirect_uri), "{location}");

    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{location}").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("paste"), "{stderr}");
    assert!(stderr.contains("Logged in"), "{stderr}");

    assert_eq!(world.server.token_request_count(), 1);
    let exchange = world
        .server
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/token")
        .unwrap();
    assert!(exchange.form_param("code_verifier").is_some(), "PKCE");
    assert!(world.stored().is_some());
}

/// `login --no-browser` in `world` with `extra` arguments, its authorization
/// URL, and the redirect URI the fake server sends the browser back to.
fn start_login(world: &World, extra: &[&str]) -> (std::process::Child, String, String) {
    let mut command = StdCommand::new(BIN);
    command.args(["login", "--no-browser", "--timeout", "20"]);
    command.args(extra);
    world.configure(&mut command, &world.redirect_uri);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    while !url.starts_with("http") {
        url.clear();
        assert_ne!(stdout.read_line(&mut url).unwrap(), 0, "no URL printed");
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.get(url.trim()).call().unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    (child, url.trim().to_owned(), location)
}

/// Registered without a port, the redirect URI gets a free port: two logins
/// at once both succeed (no "port in use"), each sending the URI with its
/// port in both the authorization request and the exchange.
#[test]
fn login_with_a_port_less_redirect_uri_uses_a_free_port() {
    let world = World::registering(
        Some(CLIENT_SECRET),
        false,
        "http://127.0.0.1/callback".into(),
    );
    let logins = [start_login(&world, &[]), start_login(&world, &[])];
    let mut used = Vec::new();
    for (child, url, location) in logins {
        let redirect_uri = url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .find(|(name, _)| name == "redirect_uri")
            .unwrap()
            .1
            .into_owned();
        let port = url::Url::parse(&redirect_uri)
            .unwrap()
            .port()
            .expect("a port");
        assert_eq!(redirect_uri, format!("http://127.0.0.1:{port}/callback"));
        assert!(
            location.starts_with(&format!("{redirect_uri}?")),
            "{location}"
        );
        // The browser reaches the callback server: the login ends by itself.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let page = agent.get(&location).call().unwrap();
        assert_eq!(page.status(), 200);
        let output = child.wait_with_output().unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        assert!(
            stderr.contains(&format!("reach {redirect_uri},")),
            "{stderr}"
        );
        assert!(stderr.contains("Logged in"), "{stderr}");
        used.push(redirect_uri);
    }
    assert_ne!(used[0], used[1], "two free ports");
    let exchanged: Vec<String> = world
        .server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/token")
        .map(|r| r.form_param("redirect_uri").unwrap().to_owned())
        .collect();
    assert_eq!(exchanged.len(), 2);
    for uri in &used {
        assert!(exchanged.contains(uri), "{uri} in {exchanged:?}");
    }
}

/// `--port` pins the port of a redirect URI registered without one.
#[test]
fn port_pins_the_port_of_a_port_less_redirect_uri() {
    let world = World::registering(None, false, "http://127.0.0.1/callback".into());
    let port = free_port();
    let (child, _, location) = start_login(&world, &["--port", &port.to_string()]);
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    assert!(
        location.starts_with(&format!("{redirect_uri}?")),
        "{location}"
    );
    ureq::get(&location).call().unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let exchange = world
        .server
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/token")
        .unwrap();
    assert_eq!(
        exchange.form_param("redirect_uri"),
        Some(redirect_uri.as_str())
    );
}

/// A fixed port that is in use: exit 4, saying so, with what to do.
#[test]
fn login_on_a_port_in_use_is_a_clear_error() {
    let world = World::new(Some(CLIENT_SECRET));
    let _holder = std::net::TcpListener::bind(("127.0.0.1", world.port)).unwrap();
    let output = world
        .cmd(&["login", "--no-browser", "--timeout", "5"])
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("port {} is already in use", world.port)),
        "{stderr}"
    );
    assert!(stderr.contains("--port"), "{stderr}");
    assert!(stderr.contains("http://127.0.0.1/callback"), "{stderr}");
    assert!(output.stdout.is_empty(), "no URL printed");
    assert_eq!(world.server.authorize_request_count(), 0);
}

/// `localhost` is refused before anything starts (exit 2), naming the URI
/// to register instead.
#[test]
fn login_refuses_localhost() {
    let world = World::new(Some(CLIENT_SECRET));
    let mut command = StdCommand::new(BIN);
    command.args(["login", "--no-browser", "--timeout", "5"]);
    world.configure(
        &mut command,
        &format!("http://localhost:{}/callback", world.port),
    );
    let output = command.stdin(Stdio::null()).output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{}/callback", world.port)),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

/// An expired cached token is refreshed, printed, and stored with the
/// rotated refresh token.
#[test]
fn token_refreshes_an_expired_token_and_stores_it() {
    let world = World::with(Some(CLIENT_SECRET), true);
    let old_refresh = world.store_expired_token();

    let output = world.cmd(&["token"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let printed = text(&output.stdout);
    assert!(printed.ends_with('\n') && printed.lines().count() == 1);
    let printed = printed.trim_end();
    assert_ne!(printed, "expired-access-token-value");
    assert_eq!(world.server.token_request_count(), 1);

    let stored = world.stored().unwrap();
    assert_eq!(stored.access_token.secret(), printed);
    assert!(stored.expires_at > unix_now());
    let new_refresh = stored.refresh_token.unwrap();
    assert_ne!(new_refresh.secret(), old_refresh, "rotated and stored");

    // The stored token is now used as it is.
    let again = world.cmd(&["token"]).output().unwrap();
    assert_eq!(text(&again.stdout).trim_end(), printed);
    assert_eq!(world.server.token_request_count(), 1);
}

/// `status` and `status --json` describe the token without showing it.
#[test]
fn status_reports_without_printing_tokens() {
    let world = World::new(Some(CLIENT_SECRET));
    let expires_at = unix_now() + 3000;
    world.store(TokenInfo {
        access_token: AccessToken::new("status-access-token-value"),
        expires_at,
        refresh_token: Some(RefreshToken::new("status-refresh-token-value")),
        scope: Some("user-read-email user-top-read".into()),
        authorized_at: None,
    });

    let plain = world.cmd(&["status"]).output().unwrap();
    assert_eq!(plain.status.code(), Some(0));
    let report = text(&plain.stdout);
    assert!(report.contains("Logged in:     yes"), "{report}");
    assert!(report.contains("user-read-email user-top-read"), "{report}");
    assert!(report.contains("UTC (in "), "{report}");
    assert!(report.contains("Refresh token: present"), "{report}");
    assert!(
        report.contains(&world.cache.display().to_string()),
        "{report}"
    );
    #[cfg(unix)]
    assert!(report.contains("mode 0600"), "{report}");

    let json = world.cmd(&["status", "--json"]).output().unwrap();
    assert_eq!(json.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["logged_in"], true);
    assert_eq!(
        v["scopes"],
        serde_json::json!(["user-read-email", "user-top-read"])
    );
    assert_eq!(v["expires_at"], expires_at);
    let expires_in = v["expires_in_seconds"].as_i64().unwrap();
    assert!((0..=3000).contains(&expires_in), "{expires_in}");
    assert_eq!(v["expired"], false);
    assert_eq!(v["has_refresh_token"], true);
    assert_eq!(v["cache_path"], world.cache.display().to_string());
    #[cfg(unix)]
    assert_eq!(v["cache_mode"], "0600");
    assert!(v["cache_error"].is_null());

    for output in [&plain, &json] {
        let all = text(&output.stdout) + &text(&output.stderr);
        assert!(!all.contains("status-access-token-value"), "{all}");
        assert!(!all.contains("status-refresh-token-value"), "{all}");
    }
    assert_eq!(world.server.token_request_count(), 0, "no network");

    // Expired without a refresh token: not logged in.
    world.store(TokenInfo {
        access_token: AccessToken::new("a"),
        expires_at: unix_now() - 10,
        refresh_token: None,
        scope: None,
        authorized_at: None,
    });
    let json = world.cmd(&["status", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        (&v["logged_in"], &v["expired"]),
        (&false.into(), &true.into())
    );
}

/// A corrupt cache file is reported (exit 2) and never taken for "logged
/// out"; `logout` removes it.
#[test]
fn corrupt_cache_is_a_configuration_error() {
    let world = World::new(Some(CLIENT_SECRET));
    std::fs::create_dir_all(world.cache.parent().unwrap()).unwrap();
    std::fs::write(&world.cache, "{ not json").unwrap();

    let status = world.cmd(&["status", "--json"]).output().unwrap();
    assert_eq!(status.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(v["cache_error"].is_string());
    assert!(text(&status.stderr).contains(&world.cache.display().to_string()));

    let token = world.cmd(&["token"]).output().unwrap();
    assert_eq!(token.status.code(), Some(2), "{}", text(&token.stderr));

    let logout = world.cmd(&["logout"]).output().unwrap();
    assert_eq!(logout.status.code(), Some(0));
    assert!(!world.cache.exists());
}

/// `logout` removes the token (and says so); then `token` asks for a login.
#[test]
fn logout_then_token_requires_login() {
    let world = World::new(Some(CLIENT_SECRET));
    world.store_expired_token();

    let logout = world.cmd(&["logout"]).output().unwrap();
    assert_eq!(logout.status.code(), Some(0));
    assert!(text(&logout.stdout).contains("removed"), "{logout:?}");
    assert!(world.stored().is_none());

    let again = world.cmd(&["logout"]).output().unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("no token was stored"));

    let token = world.cmd(&["token"]).output().unwrap();
    assert_eq!(token.status.code(), Some(3));
    assert!(token.stdout.is_empty());
    assert!(text(&token.stderr).contains("spotify-auth login"));
    assert_eq!(world.server.token_request_count(), 0);
}

/// A refresh token Spotify revoked: exit 3, told to log in, the dead token
/// removed from the cache.
#[test]
fn revoked_refresh_token_requires_login() {
    let world = World::new(Some(CLIENT_SECRET));
    let refresh = world.store_expired_token();
    assert!(world.server.revoke_refresh_token(&refresh));

    let output = world.cmd(&["token"]).output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.contains("spotify-auth login"), "{stderr}");
    assert!(!stderr.contains(&refresh), "{stderr}");
    assert_eq!(
        world.server.token_request_count(),
        1,
        "invalid_grant is not retried"
    );
    assert!(world.stored().is_none());
}

/// Usage errors exit 2.
#[test]
fn usage_errors_exit_2() {
    let world = World::new(None);
    for args in [
        &["frobnicate"][..],
        &["login", "--port", "not-a-port"],
        &["login", "--port", "0"],
        &["status", "--bogus"],
        &[],
    ] {
        let output = world.cmd(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let help = world.cmd(&["--help"]).output().unwrap();
    assert_eq!(help.status.code(), Some(0));
    let help = text(&help.stdout);
    for documented in [
        "Exit status",
        "SPOTIFY_SDK_CLIENT_SECRET",
        "SPOTIFY_AUTH_ACCOUNTS_URL",
    ] {
        assert!(help.contains(documented), "{help}");
    }
}

/// No client id, neither flag nor environment: exit 2, naming the variable.
#[test]
fn missing_client_id_exits_2() {
    let world = World::new(None);
    let output = world
        .cmd(&["token"])
        .env_remove("SPOTIFY_SDK_CLIENT_ID")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("SPOTIFY_SDK_CLIENT_ID"));
}

/// The token endpoint cannot be reached: exit 4 (after the library's
/// retries), the expired token left in place.
#[test]
fn unreachable_token_endpoint_exits_4() {
    let mut world = World::new(Some(CLIENT_SECRET));
    world.store_expired_token();
    world.accounts_url = format!("http://127.0.0.1:{}", free_port());

    let output = world.cmd(&["token"]).output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.contains("spotify-auth:"), "{stderr}");
    assert!(world.stored().is_some());
}

/// `status` says when the six-month login ends: the days left, a warning
/// under 14 days, "expired" once past, "expiry unknown" for a file without
/// `authorized_at` (the Python library's, or an older version's); `--json`
/// carries the times and the warning as a boolean.
#[test]
fn status_shows_when_the_login_ends() {
    const DAY: u64 = 86_400;
    let lifetime = spotify_auth::LOGIN_LIFETIME.as_secs();
    let world = World::new(Some(CLIENT_SECRET));
    // A token that still works, logged in at `authorized_at`; returns the
    // text report and the JSON report.
    let status_of = |authorized_at: Option<u64>| {
        world.store(TokenInfo {
            access_token: AccessToken::new("login-expiry-access-token"),
            expires_at: unix_now() + 3000,
            refresh_token: Some(RefreshToken::new("login-expiry-refresh-token")),
            scope: Some("user-read-email".into()),
            authorized_at,
        });
        let plain = world.cmd(&["status"]).output().unwrap();
        assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
        let json = world.cmd(&["status", "--json"]).output().unwrap();
        assert_eq!(json.status.code(), Some(0), "{}", text(&json.stderr));
        let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        let report = text(&plain.stdout);
        assert!(!report.contains("login-expiry-"), "{report}");
        (report, v)
    };

    // Logged in ten days ago (plus an hour, so the count is not on a day's
    // edge): 170 days left, no warning.
    let authorized_at = unix_now() - 10 * DAY + 3600;
    let (report, v) = status_of(Some(authorized_at));
    assert!(
        report.contains("Login:         expires in 170 days ("),
        "{report}"
    );
    assert!(!report.contains("Warning"), "{report}");
    assert_eq!(v["authorized_at"], authorized_at);
    assert_eq!(v["login_expires_at"], authorized_at + lifetime);
    assert_eq!(v["login_expired"], false);
    assert_eq!(v["login_expires_soon"], false);

    // Ten days left: a warning that says to log in again.
    let authorized_at = unix_now() - lifetime + 10 * DAY + 3600;
    let (report, v) = status_of(Some(authorized_at));
    assert!(
        report.contains("Login:         expires in 10 days ("),
        "{report}"
    );
    assert!(
        report.contains("Warning:       login expires in 10 days: run `spotify-auth login` again"),
        "{report}"
    );
    assert!(report.contains("Logged in:     yes"), "{report}");
    assert_eq!(v["login_expires_at"], authorized_at + lifetime);
    assert_eq!(v["login_expired"], false);
    assert_eq!(v["login_expires_soon"], true);
    assert_eq!(v["logged_in"], true);

    // Logged in 200 days ago: expired.
    let authorized_at = unix_now() - 200 * DAY;
    let (report, v) = status_of(Some(authorized_at));
    assert!(report.contains("Login:         expired "), "{report}");
    assert!(
        report.contains("run `spotify-auth login` again"),
        "{report}"
    );
    assert_eq!(v["login_expired"], true);
    assert_eq!(v["login_expires_soon"], true);
    assert!(v["login_expires_in_seconds"].as_i64().unwrap() < 0);

    // A file without authorized_at: unknown, and no warning.
    let (report, v) = status_of(None);
    assert!(
        report.contains("Login:         expiry unknown ("),
        "{report}"
    );
    assert!(!report.contains("Warning"), "{report}");
    for key in [
        "authorized_at",
        "login_expires_at",
        "login_expires_in_seconds",
        "login_expired",
    ] {
        assert!(v[key].is_null(), "{key}: {v}");
    }
    assert_eq!(v["login_expires_soon"], false);

    // The same written by the Python library (float times, no
    // authorized_at), by hand.
    std::fs::write(
        &world.cache,
        format!(
            r#"{{"access_token": "py-access", "expires_at": {}.5, "refresh_token": "py-refresh", "scope": "user-read-email"}}"#,
            unix_now() + 3000
        ),
    )
    .unwrap();
    let plain = world.cmd(&["status"]).output().unwrap();
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
    assert!(text(&plain.stdout).contains("Login:         expiry unknown ("));

    // Absurd times in a file are reported, never a crash.
    for at in [u64::MAX, i64::MAX as u64 + 1] {
        std::fs::write(
            &world.cache,
            format!(r#"{{"access_token": "a", "expires_at": {at}, "refresh_token": "r", "authorized_at": {at}}}"#),
        )
        .unwrap();
        for args in [&["status"][..], &["status", "--json"]] {
            let output = world.cmd(args).output().unwrap();
            assert_eq!(
                output.status.code(),
                Some(0),
                "{at} {args:?}: {}",
                text(&output.stderr)
            );
        }
    }
    assert_eq!(world.server.token_request_count(), 0, "no network");
}
