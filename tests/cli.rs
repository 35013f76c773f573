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
//!
//! No keychain: the child's `DBUS_SESSION_BUS_ADDRESS` names a socket that
//! does not exist, so a `login` falls back to the token file as on a machine
//! without a Secret Service (elsewhere `SPOTIFY_AUTH_INSECURE_STORAGE` keeps
//! the runner's own keychain out of it). The tests of the keychain, at the
//! end, run in a private D-Bus session with GNOME Keyring
//! (`keyring_support`) and give the children that session.
#![cfg(feature = "cli")]

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod keyring_support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assert_cmd::Command;
use spotify_auth::testing::FakeSpotify;
use spotify_auth::{FileTokenCache, TokenCache, TokenInfo};

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
    /// The children's session bus: the test's own (with its Secret
    /// Service) for the keychain tests, else none.
    session_bus: Option<std::ffi::OsString>,
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
            session_bus: None,
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
            "SPOTIFY_AUTH_INSECURE_STORAGE",
            "BROWSER",
        ] {
            command.env_remove(name);
        }
        match &self.session_bus {
            Some(bus) => command.env("DBUS_SESSION_BUS_ADDRESS", bus),
            None => command.env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", self.dir().join("no-session-bus").display()),
            ),
        };
        if cfg!(any(target_os = "macos", target_os = "windows")) && self.session_bus.is_none() {
            command.env("SPOTIFY_AUTH_INSECURE_STORAGE", "true");
        }
        command
            .env("HOME", self.dir().join("home"))
            .env("XDG_CONFIG_HOME", self.dir().join("xdg"))
            .env("XDG_CACHE_HOME", self.dir().join("xdg-cache"))
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
        self.store(
            TokenInfo::new("expired-access-token-value", unix_now() - 60)
                .with_refresh_token(refresh.clone())
                .with_scope("user-read-email"),
        );
        refresh
    }

    fn store(&self, token: TokenInfo) {
        self.file_cache().set(&token).unwrap();
    }

    fn stored(&self) -> Option<TokenInfo> {
        self.file_cache().get().unwrap()
    }

    /// The settings file of profile `name`, parsed.
    fn profile(&self, name: &str) -> serde_json::Value {
        let path = self.config.join("profiles").join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// The token file of profile `name` (not `default`).
    fn token_file(&self, name: &str) -> PathBuf {
        self.config.join("tokens").join(format!("{name}.json"))
    }

    /// `login --with-refresh-token` for `client_id` (public unless the
    /// caller adds the secret), `refresh` on stdin with blanks around it;
    /// `global` before the subcommand.
    fn refresh_token_login(&self, global: &[&str], client_id: &str, refresh: &str) -> Command {
        let args: Vec<&str> = global
            .iter()
            .copied()
            .chain(["login", "--with-refresh-token"])
            .collect();
        let mut command = self.bare(&args);
        command
            .env("SPOTIFY_SDK_CLIENT_ID", client_id)
            .write_stdin(format!("\n  {refresh} \n"));
        command
    }

    /// A token in the default profile's file that expires in `secs` seconds,
    /// with a refresh token the server issued to `client_id`; returns the
    /// stored token.
    fn store_token_expiring_in(&self, secs: i64, client_id: &str) -> TokenInfo {
        let refresh = self
            .server
            .issue_refresh_token(client_id, "user-read-email");
        let token = TokenInfo::new(
            format!("stored-access-token-{secs}"),
            unix_now().checked_add_signed(secs).unwrap(),
        )
        .with_refresh_token(refresh)
        .with_scope("user-read-email");
        self.store(token.clone());
        token
    }
}

/// The token requests the server received, in order.
fn token_requests(server: &FakeSpotify) -> Vec<spotify_auth::testing::RecordedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/token")
        .collect()
}

/// Every file under `dir` (recursively) with its content, sorted: a
/// snapshot to show that a command wrote nothing.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            let content = std::fs::read(&path).unwrap();
            files.push((path, content));
        }
    }
    files.sort();
    files
}

/// No file under `dir` holds the client secret.
fn assert_no_secret_under(dir: &Path) {
    for (path, content) in files_under(dir) {
        assert!(
            !text(&content).contains(CLIENT_SECRET),
            "the secret is in {path:?}"
        );
    }
}

/// The permission bits of `path`.
#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
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
    // The profile saved: a confidential app, without its secret.
    let profile = world.profile("default");
    assert_eq!(profile["client_type"], "confidential");
    assert_no_secret_under(&world.config);

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
    world.store(
        TokenInfo::new("status-access-token-value", expires_at)
            .with_refresh_token("status-refresh-token-value")
            .with_scope("user-read-email user-top-read"),
    );

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
    world.store(TokenInfo::new("a", unix_now() - 10));
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
    assert!(
        world.stored().is_none(),
        "a logout record replaced the corrupt file"
    );
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
        let mut token = TokenInfo::new("login-expiry-access-token", unix_now() + 3000)
            .with_refresh_token("login-expiry-refresh-token")
            .with_scope("user-read-email");
        token.authorized_at = authorized_at;
        world.store(token);
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

/// Runs `command` (a `login --no-browser`) as a browser would complete it:
/// reads the authorization URL from its stdout, follows the fake server's
/// redirect to the callback, and waits for the command. Returns the URL and
/// the command's output.
fn browser_login(mut command: StdCommand) -> (String, std::process::Output) {
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
    let page = agent.get(&location).call().unwrap();
    assert_eq!(page.status(), 200);
    (url.trim().to_owned(), child.wait_with_output().unwrap())
}

/// `login` saves the profile (0600, versioned, no secret, no store when the
/// default place is used); from then on `token`, `status`, `logout` and a
/// second `login` need no environment at all.
#[test]
fn login_saves_the_profile_then_commands_need_no_environment() {
    let world = World::new(None);
    let login = |scope: &[&str]| {
        let mut command = StdCommand::new(BIN);
        command.args(["login", "--no-browser", "--timeout", "20"]);
        command.args(scope);
        world.isolate(&mut command);
        command
    };
    let mut first = login(&["--scope", "user-read-email,user-top-read"]);
    first
        .env("SPOTIFY_SDK_CLIENT_ID", CLIENT_ID)
        .env("SPOTIFY_SDK_REDIRECT_URI", &world.redirect_uri);
    let (_, output) = browser_login(first);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Profile default saved in"), "{stderr}");

    let profile = world.profile("default");
    assert_eq!(
        profile,
        serde_json::json!({
            "version": 1,
            "client_id": CLIENT_ID,
            "redirect_uri": world.redirect_uri,
            "client_type": "public",
            "scopes": ["user-read-email", "user-top-read"],
        })
    );
    #[cfg(unix)]
    {
        let file = world.config.join("profiles").join("default.json");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
    }
    // The default profile's token is where it always was.
    let stored = world.stored().expect("token.json in the config directory");

    let token = world.bare(&["token"]).output().unwrap();
    assert_eq!(token.status.code(), Some(0), "{}", text(&token.stderr));
    assert_eq!(
        text(&token.stdout),
        format!("{}\n", stored.access_token.secret())
    );
    assert_eq!(world.server.token_request_count(), 1, "the exchange only");

    // A refresh with the saved client id (public: no secret, PKCE client).
    world.store_token_expiring_in(-60, CLIENT_ID);
    let token = world.bare(&["token"]).output().unwrap();
    assert_eq!(token.status.code(), Some(0), "{}", text(&token.stderr));
    let refresh = token_requests(&world.server).pop().unwrap();
    assert_eq!(refresh.form_param("grant_type"), Some("refresh_token"));
    assert_eq!(refresh.form_param("client_id"), Some(CLIENT_ID));
    assert_eq!(refresh.basic_auth(), None);

    let status = world.bare(&["status"]).output().unwrap();
    let report = text(&status.stdout);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
    assert!(
        report.starts_with("Profile:       default (saved in "),
        "{report}"
    );
    assert!(
        report.contains(&format!("Client id:     {CLIENT_ID} (public")),
        "{report}"
    );
    assert!(report.contains("Logged in:     yes"), "{report}");
    assert!(
        report.contains(&format!("Stored in:     file {}", world.cache.display())),
        "{report}"
    );

    // A second login asks for the saved scopes without being told.
    let (url, output) = browser_login(login(&[]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let asked = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .find(|(name, _)| name == "scope")
        .map(|(_, value)| value.into_owned());
    assert_eq!(asked.as_deref(), Some("user-read-email user-top-read"));

    let logout = world.bare(&["logout"]).output().unwrap();
    assert_eq!(logout.status.code(), Some(0));
    assert!(world.stored().is_none());
    assert_eq!(world.profile("default")["client_id"], CLIENT_ID, "kept");
    let token = world.bare(&["token"]).output().unwrap();
    assert_eq!(token.status.code(), Some(3));
}

/// A confidential app's profile says so but never holds the secret: `token`
/// needs no secret while the stored token is valid, refuses up front (exit
/// 2, nothing sent) a refresh it would need the secret for, and refreshes
/// with the secret from the environment.
#[test]
fn confidential_profile_keeps_no_secret_and_needs_it_only_to_refresh() {
    let world = World::new(Some(CLIENT_SECRET));
    let refresh = world
        .server
        .issue_refresh_token(CLIENT_ID, "user-read-email");
    let login = world
        .refresh_token_login(&[], CLIENT_ID, &refresh)
        .env("SPOTIFY_SDK_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(login.status.code(), Some(0), "{}", text(&login.stderr));
    assert_eq!(world.profile("default")["client_type"], "confidential");
    assert_no_secret_under(&world.config);
    let requests = token_requests(&world.server);
    assert_eq!(
        requests[0].basic_auth(),
        Some((CLIENT_ID.into(), CLIENT_SECRET.into()))
    );

    let stored = world.stored().unwrap();
    let token = world.bare(&["token"]).output().unwrap();
    assert_eq!(token.status.code(), Some(0), "{}", text(&token.stderr));
    assert_eq!(text(&token.stdout).trim_end(), stored.access_token.secret());

    world.store_token_expiring_in(-60, CLIENT_ID);
    let refused = world.bare(&["token"]).output().unwrap();
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SPOTIFY_SDK_CLIENT_SECRET"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(refused.stdout.is_empty());
    assert_eq!(world.server.token_request_count(), 1, "nothing sent");

    let status = world.bare(&["status"]).output().unwrap();
    assert!(
        text(&status.stdout)
            .contains("confidential: refreshing needs SPOTIFY_SDK_CLIENT_SECRET, which is not set"),
        "{}",
        text(&status.stdout)
    );

    let token = world
        .bare(&["token"])
        .env("SPOTIFY_SDK_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(token.status.code(), Some(0), "{}", text(&token.stderr));
    assert_eq!(world.server.token_request_count(), 2);
    let refresh = token_requests(&world.server).pop().unwrap();
    assert_eq!(
        refresh.basic_auth(),
        Some((CLIENT_ID.into(), CLIENT_SECRET.into()))
    );
    assert_no_secret_under(&world.config);
}

/// Flags and environment variables win over what the profile saved: the
/// client id (variable and flag) and the token file (variable and flag).
#[test]
fn environment_and_flags_override_the_profile() {
    let world = World::new(None);
    let refresh = world
        .server
        .issue_refresh_token(CLIENT_ID, "user-read-email");
    let login = world
        .refresh_token_login(&[], CLIENT_ID, &refresh)
        .output()
        .unwrap();
    assert_eq!(login.status.code(), Some(0), "{}", text(&login.stderr));
    let profile_before = world.profile("default");

    // The other app's login, refreshed with the other app's id.
    world.store_token_expiring_in(-60, OTHER_CLIENT_ID);
    let by_env = world
        .bare(&["token"])
        .env("SPOTIFY_SDK_CLIENT_ID", OTHER_CLIENT_ID)
        .output()
        .unwrap();
    assert_eq!(by_env.status.code(), Some(0), "{}", text(&by_env.stderr));
    let request = token_requests(&world.server).pop().unwrap();
    assert_eq!(request.form_param("client_id"), Some(OTHER_CLIENT_ID));

    world.store_token_expiring_in(-60, OTHER_CLIENT_ID);
    let by_flag = world
        .bare(&["token", "--client-id", OTHER_CLIENT_ID])
        .env("SPOTIFY_SDK_CLIENT_ID", "not-this-one")
        .output()
        .unwrap();
    assert_eq!(by_flag.status.code(), Some(0), "{}", text(&by_flag.stderr));
    let request = token_requests(&world.server).pop().unwrap();
    assert_eq!(request.form_param("client_id"), Some(OTHER_CLIENT_ID));

    // Another token file, by variable and by flag.
    let elsewhere = world.dir().join("elsewhere.json");
    FileTokenCache::new(&elsewhere)
        .set(&TokenInfo::new("elsewhere-access-token", unix_now() + 3000))
        .unwrap();
    let by_env = world
        .bare(&["token"])
        .env("SPOTIFY_SDK_TOKEN_CACHE", &elsewhere)
        .output()
        .unwrap();
    assert_eq!(text(&by_env.stdout), "elsewhere-access-token\n");
    let by_flag = world
        .bare(&["token", "--cache", elsewhere.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(text(&by_flag.stdout), "elsewhere-access-token\n");

    assert_eq!(
        world.profile("default"),
        profile_before,
        "token saves nothing"
    );
}

/// Two profiles, two apps, two logins side by side: each its own token file
/// (the default's where it always was), chosen by `--profile` or
/// `SPOTIFY_AUTH_PROFILE`; `profiles` lists both (text and JSON); logging
/// one out leaves the other.
#[test]
fn two_profiles_side_by_side_and_listed() {
    let world = World::new(None);
    let default_refresh = world
        .server
        .issue_refresh_token(CLIENT_ID, "user-read-email");
    let work_refresh = world
        .server
        .issue_refresh_token(OTHER_CLIENT_ID, "user-top-read");
    for (global, client, refresh) in [
        (&[][..], CLIENT_ID, &default_refresh),
        (&["--profile", "work"][..], OTHER_CLIENT_ID, &work_refresh),
    ] {
        let login = world
            .refresh_token_login(global, client, refresh)
            .output()
            .unwrap();
        assert_eq!(login.status.code(), Some(0), "{}", text(&login.stderr));
    }
    assert_eq!(world.profile("work")["client_id"], OTHER_CLIENT_ID);
    assert_eq!(world.profile("default")["client_id"], CLIENT_ID);
    let work_file = world.token_file("work");
    let work_token = FileTokenCache::new(&work_file).get().unwrap().unwrap();
    let default_token = world.stored().unwrap();
    assert_ne!(work_token.access_token, default_token.access_token);

    let token_of = |command: &mut Command| {
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        text(&output.stdout).trim_end().to_owned()
    };
    assert_eq!(
        token_of(&mut world.bare(&["token"])),
        default_token.access_token.secret()
    );
    assert_eq!(
        token_of(&mut world.bare(&["--profile", "work", "token"])),
        work_token.access_token.secret()
    );
    assert_eq!(
        token_of(world.bare(&["token"]).env("SPOTIFY_AUTH_PROFILE", "work")),
        work_token.access_token.secret()
    );

    let listed = world.bare(&["profiles", "--json"]).output().unwrap();
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    // Both logins are in their default token files for want of a keychain.
    let no_keychain = v[0]["store"]["keychain_unavailable"].clone();
    assert!(
        no_keychain.as_str().unwrap().contains("no-session-bus"),
        "{no_keychain}"
    );
    assert_eq!(
        v,
        serde_json::json!([
            {
                "name": "default", "current": true, "saved": true,
                "client_id": CLIENT_ID, "client_type": "public",
                "store": {"type": "file", "path": world.cache.display().to_string(),
                          "mode": if cfg!(unix) { serde_json::json!("0600") } else { serde_json::Value::Null },
                          "service": null, "user": null, "keychain_unavailable": no_keychain.clone()},
                "logged_in": true, "error": null,
            },
            {
                "name": "work", "current": false, "saved": true,
                "client_id": OTHER_CLIENT_ID, "client_type": "public",
                "store": {"type": "file", "path": work_file.display().to_string(),
                          "mode": if cfg!(unix) { serde_json::json!("0600") } else { serde_json::Value::Null },
                          "service": null, "user": null, "keychain_unavailable": no_keychain},
                "logged_in": true, "error": null,
            },
        ])
    );
    let table = world
        .bare(&["profiles"])
        .env("SPOTIFY_AUTH_PROFILE", "work")
        .output()
        .unwrap();
    let table = text(&table.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("  PROFILE"), "{table}");
    assert!(
        lines[1].starts_with("  default") && lines[1].contains(CLIENT_ID),
        "{table}"
    );
    assert!(
        lines[2].starts_with("* work") && lines[2].contains(OTHER_CLIENT_ID),
        "{table}"
    );
    assert!(
        lines[2].contains(&work_file.display().to_string()),
        "{table}"
    );
    assert!(lines[1].contains(" yes "), "{table}");
    for output in [&table, &text(&listed.stdout)] {
        assert!(!output.contains(work_token.access_token.secret()));
        assert!(!output.contains(&work_refresh));
    }

    let logout = world
        .bare(&["--profile", "work", "logout"])
        .output()
        .unwrap();
    assert_eq!(logout.status.code(), Some(0));
    let after = FileTokenCache::new(&work_file).read().unwrap();
    assert!(
        after.is_some_and(|e| e.ended().is_some()),
        "a logout record in the profile's store"
    );
    let status = world
        .bare(&["--profile", "work", "status"])
        .output()
        .unwrap();
    let report = text(&status.stdout);
    assert!(
        report.contains("Logged in:     no (run `spotify-auth --profile work login`)"),
        "{report}"
    );
    let token = world
        .bare(&["--profile", "work", "token"])
        .output()
        .unwrap();
    assert_eq!(token.status.code(), Some(3));
    assert!(
        text(&token.stderr).contains("`spotify-auth --profile work login`"),
        "{}",
        text(&token.stderr)
    );
    let listed = world.bare(&["profiles", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        (&v[0]["logged_in"], &v[1]["logged_in"]),
        (&true.into(), &false.into())
    );
}

/// Each `--format`, with nothing else on stdout or stderr and no request.
#[test]
fn token_formats() {
    let world = World::new(None);
    let expires_at = unix_now() + 3000;
    world.store(
        TokenInfo::new("format-access-token", expires_at)
            .with_refresh_token("format-refresh-token")
            .with_scope("user-read-email user-top-read"),
    );
    let run = |format: &str| {
        let output = world.cmd(&["token", "--format", format]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert!(output.stderr.is_empty(), "{}", text(&output.stderr));
        text(&output.stdout)
    };
    assert_eq!(run("raw"), "format-access-token\n");
    assert_eq!(run("header"), "Authorization: Bearer format-access-token\n");
    assert_eq!(run("env"), "SPOTIFY_ACCESS_TOKEN=format-access-token\n");
    let json = run("json");
    assert!(json.ends_with('\n') && json.lines().count() == 1, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["access_token"], "format-access-token");
    assert_eq!(v["expires_at"], expires_at);
    assert_eq!(
        v["scopes"],
        serde_json::json!(["user-read-email", "user-top-read"])
    );
    let rfc3339 = v["expires_at_rfc3339"].as_str().unwrap();
    let time_of_day = expires_at % 86_400;
    let expected_time = format!(
        "T{:02}:{:02}:{:02}Z",
        time_of_day / 3600,
        time_of_day / 60 % 60,
        time_of_day % 60
    );
    assert_eq!(rfc3339.len(), 20, "{rfc3339}");
    assert!(rfc3339.ends_with(&expected_time), "{rfc3339}");
    assert!(!json.contains("format-refresh-token"));
    assert_eq!(world.server.token_request_count(), 0);

    let bad = world.cmd(&["token", "--format", "yaml"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stdout.is_empty());
}

/// `--min-valid`: a token that stays valid long enough is printed as it is;
/// one that expires sooner is refreshed exactly once, and the new one then
/// satisfies the next call.
#[test]
fn min_valid_refreshes_once_only_when_the_token_expires_sooner() {
    let world = World::new(Some(CLIENT_SECRET));
    let five_minutes = world.store_token_expiring_in(300, CLIENT_ID);
    let old = five_minutes.access_token.secret().to_owned();
    let token = |min_valid: &str| {
        let output = world
            .cmd(&["token", "--min-valid", min_valid])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert!(output.stderr.is_empty());
        text(&output.stdout).trim_end().to_owned()
    };

    assert_eq!(token("1m"), old);
    assert_eq!(
        token("4m30s"),
        old,
        "30 s of slack: a loaded machine is slow"
    );
    assert_eq!(world.server.token_request_count(), 0, "fresh enough");

    let new = token("10m");
    assert_ne!(new, old);
    assert_eq!(world.server.token_request_count(), 1, "exactly one refresh");
    let stored = world.stored().unwrap();
    assert_eq!(stored.access_token.secret(), new);
    assert!(stored.expires_at >= unix_now() + 3500);

    assert_eq!(token("10m"), new);
    assert_eq!(token("59m"), new);
    assert_eq!(world.server.token_request_count(), 1, "the new one lasts");

    let json = world
        .cmd(&["token", "--min-valid", "90s", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["access_token"], new.as_str());
    assert_eq!(v["expires_at"], stored.expires_at);
    assert_eq!(world.server.token_request_count(), 1);
}

/// `completions SHELL` prints a script for each shell, naming the
/// subcommands.
#[test]
fn completions_for_each_shell() {
    let world = World::new(None);
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = world.bare(&["completions", shell]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{shell}");
        assert!(output.stderr.is_empty(), "{shell}");
        let script = text(&output.stdout);
        assert!(script.len() > 500, "{shell}: {script}");
        assert!(script.contains("spotify-auth"), "{shell}");
        assert!(script.contains("profiles"), "{shell}");
        assert!(script.contains("min-valid"), "{shell}");
    }
    let unknown = world.bare(&["completions", "tcsh"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(files_under(&world.config).is_empty());
}

/// `login --with-refresh-token`: the token on stdin (trimmed), one refresh,
/// the login stored with the same refresh token and the profile saved; no
/// token in any output. A refused one is exit 3 and stores nothing; the
/// token is never accepted as an argument.
#[test]
fn login_with_a_refresh_token_from_stdin() {
    let world = World::new(None);
    let refresh = world
        .server
        .issue_refresh_token(CLIENT_ID, "user-read-email");
    let login = world
        .refresh_token_login(&[], CLIENT_ID, &refresh)
        .output()
        .unwrap();
    let stderr = text(&login.stderr);
    assert_eq!(login.status.code(), Some(0), "{stderr}");
    assert!(login.stdout.is_empty());
    assert!(stderr.contains("Logged in (profile default)"), "{stderr}");
    let requests = token_requests(&world.server);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].form_param("grant_type"), Some("refresh_token"));
    assert_eq!(
        requests[0].form_param("refresh_token"),
        Some(refresh.as_str())
    );

    let stored = world.stored().unwrap();
    assert_eq!(stored.refresh_token.as_ref().unwrap().secret(), refresh);
    assert_eq!(stored.scope.as_deref(), Some("user-read-email"));
    assert!(stored.expires_at > unix_now() + 3000);
    assert!(!stderr.contains(&refresh) && !stderr.contains(stored.access_token.secret()));
    let profile = world.profile("default");
    assert_eq!(profile["client_type"], "public");
    assert_eq!(profile["scopes"], serde_json::json!(["user-read-email"]));

    let token = world.bare(&["token"]).output().unwrap();
    assert_eq!(text(&token.stdout).trim_end(), stored.access_token.secret());
    assert_eq!(world.server.token_request_count(), 1);

    // Refused: exit 3, and profile "ci" gets neither settings nor token.
    let revoked = world
        .server
        .issue_refresh_token(CLIENT_ID, "user-read-email");
    assert!(world.server.revoke_refresh_token(&revoked));
    let before = files_under(&world.config);
    let refused = world
        .refresh_token_login(&["--profile", "ci"], CLIENT_ID, &revoked)
        .output()
        .unwrap();
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("refused the refresh token"), "{stderr}");
    assert!(!stderr.contains(&revoked), "{stderr}");
    assert_eq!(files_under(&world.config), before, "nothing written");

    // Never an argument.
    let argument = world
        .bare(&["login", "--with-refresh-token", &refresh])
        .env("SPOTIFY_SDK_CLIENT_ID", CLIENT_ID)
        .output()
        .unwrap();
    assert_eq!(argument.status.code(), Some(2));
}

/// A command that must fail on bad input, and what its message says.
struct BadInput<'a> {
    args: &'a [&'a str],
    env: Option<(&'a str, &'a str)>,
    stdin: &'a str,
    says: &'a [&'a str],
}

/// Bad input: an unknown profile, a bad profile name, a malformed profile,
/// a `--min-valid` that does not parse or is too long, an empty refresh
/// token on stdin. Each is exit 2 with one line on stderr that names the
/// fix, nothing on stdout, no request, no file written.
#[test]
fn bad_input_is_one_line_exit_2_and_writes_nothing() {
    let world = World::new(None);
    let refresh = world
        .server
        .issue_refresh_token(CLIENT_ID, "user-read-email");
    let login = world
        .refresh_token_login(&[], CLIENT_ID, &refresh)
        .output()
        .unwrap();
    assert_eq!(login.status.code(), Some(0), "{}", text(&login.stderr));
    let malformed = world.config.join("profiles").join("broken.json");
    std::fs::write(&malformed, "{\n  \"version\": 1,\n  oops").unwrap();
    let requests = world.server.token_request_count();
    let before = files_under(&world.config);
    let malformed_path = malformed.display().to_string();

    let cases = [
        BadInput {
            args: &["--profile", "nope", "token"],
            env: None,
            stdin: "",
            says: &[
                "profile \"nope\" does not exist",
                "spotify-auth --profile nope login",
            ],
        },
        BadInput {
            args: &["--profile", "nope", "status"],
            env: None,
            stdin: "",
            says: &["does not exist"],
        },
        BadInput {
            args: &["--profile", "nope", "logout"],
            env: None,
            stdin: "",
            says: &["does not exist"],
        },
        BadInput {
            args: &["token"],
            env: Some(("SPOTIFY_AUTH_PROFILE", "nope")),
            stdin: "",
            says: &["does not exist"],
        },
        BadInput {
            args: &["--profile", "../etc", "token"],
            env: None,
            stdin: "",
            says: &["invalid profile name", "--profile work"],
        },
        BadInput {
            args: &["--profile", "broken", "token"],
            env: None,
            stdin: "",
            says: &[
                &malformed_path,
                "malformed",
                "line 3",
                "rm ",
                "spotify-auth --profile broken login",
            ],
        },
        BadInput {
            args: &["--profile", "broken", "status"],
            env: None,
            stdin: "",
            says: &["malformed"],
        },
        BadInput {
            args: &["--profile", "broken", "login", "--with-refresh-token"],
            env: Some(("SPOTIFY_SDK_CLIENT_ID", CLIENT_ID)),
            stdin: "token",
            says: &["malformed"],
        },
        BadInput {
            args: &["token", "--min-valid", "soon"],
            env: None,
            stdin: "",
            says: &["not a duration", "e.g. --min-valid 90s"],
        },
        BadInput {
            args: &["token", "--min-valid", "10"],
            env: None,
            stdin: "",
            says: &["not a duration"],
        },
        BadInput {
            args: &["token", "--min-valid", "1h"],
            env: None,
            stdin: "",
            says: &["3600 s", "e.g. --min-valid 50m"],
        },
        BadInput {
            args: &["login", "--with-refresh-token"],
            env: None,
            stdin: "",
            says: &["standard input is empty", "printenv"],
        },
        BadInput {
            args: &["login", "--with-refresh-token"],
            env: None,
            stdin: " \n\t\n",
            says: &["standard input is empty"],
        },
    ];
    for BadInput {
        args,
        env,
        stdin,
        says,
    } in cases
    {
        let mut command = world.bare(args);
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let output = command.write_stdin(stdin).output().unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("spotify-auth: "), "{args:?}: {stderr}");
        for part in says {
            assert!(stderr.contains(part), "{args:?}: {part:?} in {stderr}");
        }
        assert_eq!(files_under(&world.config), before, "{args:?} wrote");
        assert_eq!(world.server.token_request_count(), requests, "{args:?}");
    }

    // `profiles` lists the broken one with its error, then fails.
    let listed = world.bare(&["profiles", "--json"]).output().unwrap();
    assert_eq!(listed.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(v[0]["name"], "broken");
    assert!(v[0]["error"].as_str().unwrap().contains("malformed"));
    assert_eq!(v[1]["logged_in"], true);
    assert_eq!(files_under(&world.config), before);
}

/// The token file of versions before profiles
/// (`~/.config/spotify-auth/token.json`) is the default profile's: an
/// existing login goes on with the environment as before, `status` and
/// `profiles` show it unsaved, and the next login saves the profile
/// beside the same file. Without `SPOTIFY_AUTH_CONFIG_DIR` the config
/// directory is the platform's (`$XDG_CONFIG_HOME/spotify-auth` on Linux).
#[test]
fn the_old_token_file_is_the_default_profiles() {
    let world = World::new(None);
    world.store(
        TokenInfo::new("old-install-access-token", unix_now() + 3000)
            .with_refresh_token("old-install-refresh-token")
            .with_scope("user-read-email"),
    );
    let token = world
        .bare(&["token"])
        .env("SPOTIFY_SDK_CLIENT_ID", CLIENT_ID)
        .output()
        .unwrap();
    assert_eq!(text(&token.stdout), "old-install-access-token\n");
    assert!(
        !world.config.join("profiles").exists(),
        "token saves nothing"
    );

    let status = world.bare(&["status", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["profile"], "default");
    assert_eq!(v["profile_saved"], false);
    assert_eq!(v["logged_in"], true);
    assert_eq!(v["store"]["path"], world.cache.display().to_string());
    let listed = world.bare(&["profiles", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(
        (&v[0]["saved"], &v[0]["logged_in"]),
        (&false.into(), &true.into())
    );

    #[cfg(target_os = "linux")]
    {
        let xdg = world
            .dir()
            .join("xdg")
            .join("spotify-auth")
            .join("token.json");
        let status = world
            .bare(&["status", "--json"])
            .env_remove("SPOTIFY_AUTH_CONFIG_DIR")
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(v["cache_path"], xdg.display().to_string());
    }

    let refresh = world
        .server
        .issue_refresh_token(CLIENT_ID, "user-read-email");
    let login = world
        .refresh_token_login(&[], CLIENT_ID, &refresh)
        .output()
        .unwrap();
    assert_eq!(login.status.code(), Some(0), "{}", text(&login.stderr));
    assert!(world.profile("default").get("store").is_none());
    assert_eq!(
        world.stored().unwrap().refresh_token.unwrap().secret(),
        refresh,
        "the same file"
    );
}

/// `--help` of the tool and of each subcommand documents the new settings.
#[test]
fn help_documents_profiles_formats_and_completions() {
    let world = World::new(None);
    let help = |args: &[&str]| {
        let output = world.bare(args).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        text(&output.stdout)
    };
    let main = help(&["--help"]);
    for part in [
        "Profiles:",
        "--profile <NAME>",
        "SPOTIFY_AUTH_PROFILE",
        "SPOTIFY_AUTH_CONFIG_DIR",
        "profiles",
        "completions",
        "never saved",
    ] {
        assert!(main.contains(part), "{part:?} in {main}");
    }
    let token = help(&["token", "--help"]);
    for part in [
        "--min-valid <DURATION>",
        "--format <FORMAT>",
        "header",
        "SPOTIFY_ACCESS_TOKEN",
    ] {
        assert!(token.contains(part), "{part:?} in {token}");
    }
    let login = help(&["login", "--help"]);
    assert!(login.contains("--with-refresh-token"), "{login}");
    assert!(help(&["profiles", "--help"]).contains("--json"));
    assert!(help(&["completions", "--help"]).contains("powershell"));
    assert!(help(&["status", "--help"]).contains("store"));
    assert!(help(&["logout", "--help"]).contains("profile"));
}

/// A token file given to `login` that another profile already uses (here
/// the default's, by an old `SPOTIFY_SDK_TOKEN_CACHE` still exported) gets a
/// warning: the two profiles would share one login.
#[test]
fn login_warns_when_another_profile_uses_the_same_token_file() {
    let world = World::new(None);
    let refresh = world
        .server
        .issue_refresh_token(OTHER_CLIENT_ID, "user-read-email");
    let login = world
        .refresh_token_login(&["--profile", "work"], OTHER_CLIENT_ID, &refresh)
        .env("SPOTIFY_SDK_TOKEN_CACHE", &world.cache)
        .output()
        .unwrap();
    let stderr = text(&login.stderr);
    assert_eq!(login.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("Warning: profile default keeps its login in the same place"),
        "{stderr}"
    );
    assert_eq!(
        world.profile("work")["store"],
        serde_json::json!({"type": "file", "path": world.cache.display().to_string()})
    );

    // Its own place: no warning.
    let refresh = world
        .server
        .issue_refresh_token(CLIENT_ID, "user-read-email");
    let login = world
        .refresh_token_login(&["--profile", "own"], CLIENT_ID, &refresh)
        .output()
        .unwrap();
    assert_eq!(login.status.code(), Some(0));
    assert!(!text(&login.stderr).contains("in the same place"));
}

/// `login --require-keychain` where there is no keychain: one line, exit 2,
/// nothing sent to Spotify and nothing written; without the flag the login
/// falls back to the token file, warns, and `status` says why.
#[test]
fn without_a_keychain_require_keychain_fails_and_the_fallback_says_so() {
    let world = World::new(None);
    let refresh = world
        .server
        .issue_refresh_token(CLIENT_ID, "user-read-email");
    let before = files_under(world.dir());
    let login = world
        .refresh_token_login(&[], CLIENT_ID, &refresh)
        .arg("--require-keychain")
        .output()
        .unwrap();
    let stderr = text(&login.stderr);
    assert_eq!(login.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("spotify-auth: --require-keychain: no keychain available ("),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(!stderr.contains(&refresh), "{stderr}");
    assert_eq!(world.server.token_request_count(), 0, "nothing sent");
    assert_eq!(files_under(world.dir()), before, "nothing written");

    // --require-keychain with a token file named: a contradiction, exit 2.
    let both = world
        .refresh_token_login(&[], CLIENT_ID, &refresh)
        .args(["--require-keychain", "--cache"])
        .arg(&world.cache)
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
    assert_eq!(files_under(world.dir()), before, "nothing written");

    // The fallback: the token file, with a warning naming it and the reason.
    let login = world
        .refresh_token_login(&[], CLIENT_ID, &refresh)
        .output()
        .unwrap();
    let stderr = text(&login.stderr);
    assert_eq!(login.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "Warning: no keychain available (zbus error: Failed to connect to address `unix:path={}",
            world.dir().join("no-session-bus").display()
        )) || !cfg!(target_os = "linux"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "the login will be kept in the file {} (mode 0600) instead",
            world.cache.display()
        )),
        "{stderr}"
    );
    assert!(world.stored().is_some());
    assert!(world.profile("default").get("store").is_none());
    let status = world.bare(&["status"]).output().unwrap();
    let report = text(&status.stdout);
    assert!(
        report.contains(&format!(
            "Stored in:     file {} (mode 0600) (no keychain available: ",
            world.cache.display()
        )),
        "{report}"
    );
    let json = world.bare(&["status", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["store"]["type"], "file");
    assert!(v["store"]["keychain_unavailable"].is_string(), "{v}");

    // --insecure-storage (or its variable): the file on purpose, no warning.
    for insecure in [&["--insecure-storage"][..], &[]] {
        let refresh = world
            .server
            .issue_refresh_token(CLIENT_ID, "user-read-email");
        let mut command = world.refresh_token_login(&[], CLIENT_ID, &refresh);
        command.args(insecure);
        if insecure.is_empty() {
            command.env("SPOTIFY_AUTH_INSECURE_STORAGE", "true");
        }
        let login = command.output().unwrap();
        let stderr = text(&login.stderr);
        assert_eq!(login.status.code(), Some(0), "{stderr}");
        assert!(!stderr.contains("Warning"), "{stderr}");
        assert_eq!(
            world.stored().unwrap().refresh_token.unwrap().secret(),
            refresh
        );
    }
}

/// The keychain, for real: each test runs in a private D-Bus session with
/// GNOME Keyring (`keyring_support`), and its children use that session.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
mod keychain {
    use super::*;
    use spotify_auth::{Entry, KeyringTokenCache};

    /// A test that runs in its own Secret Service.
    macro_rules! secret_service_test {
        ($(#[$meta:meta])* fn $name:ident() $body:block) => {
            $(#[$meta])*
            #[test]
            fn $name() {
                let name = concat!("keychain::", stringify!($name));
                if !keyring_support::in_secret_service(name) {
                    return;
                }
                $body
            }
        };
    }

    /// A world whose children use this test's session bus (its keychain).
    fn world(secret: Option<&'static str>) -> World {
        let mut world = World::new(secret);
        world.session_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS");
        assert!(world.session_bus.is_some(), "inside the private session");
        world
    }

    /// The keychain user of `profile` in this world (its config directory
    /// is not the platform's, so it is part of the name).
    fn keychain_user(world: &World, profile: &str) -> String {
        format!("{profile}@{}", world.config.display())
    }

    fn keychain_cache(world: &World, profile: &str) -> KeyringTokenCache {
        KeyringTokenCache::new("spotify-auth", keychain_user(world, profile))
    }

    /// `output`'s stdout and stderr hold neither the client secret nor
    /// `token` (unless `token` is what stdout is for).
    fn assert_no_secret(output: &std::process::Output, refresh: &str) {
        for stream in [&output.stdout, &output.stderr] {
            let s = text(stream);
            assert!(!s.contains(CLIENT_SECRET), "{s}");
            assert!(!s.contains(refresh), "{s}");
        }
    }

    secret_service_test! {
        /// `login` keeps the login and the client secret in the keychain;
        /// `token` in another shell, with no environment at all, prints
        /// the token and refreshes with the secret from the keychain;
        /// `status`, `profiles` say keychain; `logout` leaves a record.
        fn login_keeps_the_login_and_the_secret_in_the_keychain() {
            let world = world(Some(CLIENT_SECRET));
            let refresh = world.server.issue_refresh_token(CLIENT_ID, "user-read-email");
            let login = world
                .refresh_token_login(&[], CLIENT_ID, &refresh)
                .env("SPOTIFY_SDK_CLIENT_SECRET", CLIENT_SECRET)
                .output()
                .unwrap();
            let stderr = text(&login.stderr);
            assert_eq!(login.status.code(), Some(0), "{stderr}");
            assert_no_secret(&login, &refresh);
            let user = keychain_user(&world, "default");
            assert!(
                stderr.contains(&format!(
                    "Token stored in keychain (service spotify-auth, user {user})."
                )),
                "{stderr}"
            );
            assert!(stderr.contains("Client secret stored in the keychain"), "{stderr}");
            assert!(!stderr.contains("Warning"), "{stderr}");
            assert!(!world.cache.exists(), "no token file");
            assert_eq!(
                world.profile("default")["store"],
                serde_json::json!({"type": "keychain", "service": "spotify-auth", "user": user})
            );
            assert_eq!(world.profile("default")["client_type"], "confidential");
            assert_no_secret_under(world.dir());
            let stored = keychain_cache(&world, "default").get().unwrap().expect("in the keychain");

            // Another shell: no client id, no secret, nothing but the profile.
            let token = world.bare(&["token"]).output().unwrap();
            assert_eq!(token.status.code(), Some(0), "{}", text(&token.stderr));
            assert_eq!(text(&token.stdout), format!("{}\n", stored.access_token.secret()));
            assert!(token.stderr.is_empty());

            // Expired: refreshed with the secret the keychain keeps.
            let requests = world.server.token_request_count();
            let refresh = world.server.issue_refresh_token(CLIENT_ID, "user-read-email");
            keychain_cache(&world, "default")
                .set(&TokenInfo::new("expired-keychain-access-token", unix_now() - 60).with_refresh_token(refresh.clone()).with_scope("user-read-email"))
                .unwrap();
            let token = world.bare(&["token"]).output().unwrap();
            assert_eq!(token.status.code(), Some(0), "{}", text(&token.stderr));
            assert_eq!(world.server.token_request_count(), requests + 1);
            let sent = token_requests(&world.server).pop().unwrap();
            assert_eq!(
                sent.basic_auth(),
                Some((CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned())),
                "the secret came from the keychain"
            );
            let now = keychain_cache(&world, "default").get().unwrap().unwrap();
            assert_eq!(text(&token.stdout), format!("{}\n", now.access_token.secret()));
            assert_no_secret(&token, &refresh);

            let status = world.bare(&["status"]).output().unwrap();
            let report = text(&status.stdout);
            assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
            assert!(
                report.contains(&format!(
                    "Stored in:     keychain (service spotify-auth, user {user})"
                )),
                "{report}"
            );
            assert!(report.contains("its client secret is kept in the keychain"), "{report}");
            assert!(report.contains("Logged in:     yes"), "{report}");
            assert_no_secret(&status, &refresh);
            let json = world.bare(&["status", "--json"]).output().unwrap();
            let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
            assert_eq!(
                v["store"],
                serde_json::json!({"type": "keychain", "path": null, "mode": null,
                    "service": "spotify-auth", "user": user, "keychain_unavailable": null})
            );
            let listed = world.bare(&["profiles", "--json"]).output().unwrap();
            let v: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
            assert_eq!(v[0]["store"]["type"], "keychain");
            assert_eq!(v[0]["logged_in"], true);
            let table = text(&world.bare(&["profiles"]).output().unwrap().stdout);
            assert!(table.contains("keychain (service spotify-auth"), "{table}");

            // The keychain gone (another session, no bus): an error that
            // names the item, exit 2, no fallback to a file.
            let mut away = world.bare(&["token"]);
            away.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
            let away = away.output().unwrap();
            let stderr = text(&away.stderr);
            assert_eq!(away.status.code(), Some(2), "{stderr}");
            assert!(stderr.contains("keychain item \"spotify-auth\""), "{stderr}");
            assert_no_secret(&away, &refresh);
            assert!(!world.cache.exists());

            let logout = world.bare(&["logout"]).output().unwrap();
            assert_eq!(logout.status.code(), Some(0), "{}", text(&logout.stderr));
            assert!(matches!(
                keychain_cache(&world, "default").read().unwrap(),
                Some(Entry::Ended(_))
            ));
            let token = world.bare(&["token"]).output().unwrap();
            assert_eq!(token.status.code(), Some(3), "{}", text(&token.stderr));
            assert_no_secret_under(world.dir());
        }
    }

    secret_service_test! {
        /// `--insecure-storage` keeps the file even with a keychain there;
        /// a login already in a file (an older version's) is shown as such
        /// and a new `login` moves the profile to the keychain, saying the
        /// old file is no longer used.
        fn insecure_storage_and_an_earlier_file_login() {
            let world = world(None);
            let refresh = world.server.issue_refresh_token(CLIENT_ID, "user-read-email");
            let login = world
                .refresh_token_login(&[], CLIENT_ID, &refresh)
                .arg("--insecure-storage")
                .output()
                .unwrap();
            let stderr = text(&login.stderr);
            assert_eq!(login.status.code(), Some(0), "{stderr}");
            assert!(!stderr.contains("Warning"), "{stderr}");
            assert!(
                stderr.contains(&format!("Token stored in file {}.", world.cache.display())),
                "{stderr}"
            );
            assert_eq!(keychain_cache(&world, "default").read().unwrap(), None);
            assert_eq!(world.stored().unwrap().refresh_token.unwrap().secret(), refresh);
            let status = world.bare(&["status"]).output().unwrap();
            let report = text(&status.stdout);
            assert!(
                report.contains(&format!(
                    "Stored in:     file {} (mode 0600) (not in the keychain: \
                     `spotify-auth login` keeps a new login there)",
                    world.cache.display()
                )),
                "{report}"
            );
            let token = world.bare(&["token"]).output().unwrap();
            assert_eq!(token.status.code(), Some(0), "{}", text(&token.stderr));

            // A plain login now: the keychain, and a word about the file.
            let refresh = world.server.issue_refresh_token(CLIENT_ID, "user-read-email");
            let login = world.refresh_token_login(&[], CLIENT_ID, &refresh).output().unwrap();
            let stderr = text(&login.stderr);
            assert_eq!(login.status.code(), Some(0), "{stderr}");
            assert!(
                stderr.contains(&format!(
                    "The earlier login in the file {} is no longer used by profile default",
                    world.cache.display()
                )),
                "{stderr}"
            );
            assert_eq!(
                keychain_cache(&world, "default").get().unwrap().unwrap().refresh_token.unwrap().secret(),
                refresh
            );
            let report = text(&world.bare(&["status"]).output().unwrap().stdout);
            assert!(report.contains("Stored in:     keychain (service spotify-auth"), "{report}");

            // A profile of its own has its own item.
            let refresh = world.server.issue_refresh_token(OTHER_CLIENT_ID, "user-read-email");
            let login = world
                .refresh_token_login(&["--profile", "work"], OTHER_CLIENT_ID, &refresh)
                .arg("--require-keychain")
                .output()
                .unwrap();
            assert_eq!(login.status.code(), Some(0), "{}", text(&login.stderr));
            assert_eq!(
                keychain_cache(&world, "work").get().unwrap().unwrap().refresh_token.unwrap().secret(),
                refresh
            );
            assert!(!world.token_file("work").exists());
        }
    }
}
