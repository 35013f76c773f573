//! Helpers for the integration tests that drive both modes from plain
//! (non-async) test code, often in child processes: `tests/cross_process.rs`,
//! `tests/redis_cache.rs` and `tests/env.rs`. (The behaviour suite in
//! `tests/suite/` is compiled once per mode instead.)
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use spotify_auth::{AuthorizeLocalOptions, TokenCache, TokenInfo};

/// One of the compiled modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    #[cfg(feature = "blocking")]
    Blocking,
    #[cfg(feature = "async")]
    Async,
}

impl Mode {
    /// Every mode this build has.
    pub fn all() -> Vec<Mode> {
        vec![
            #[cfg(feature = "blocking")]
            Mode::Blocking,
            #[cfg(feature = "async")]
            Mode::Async,
        ]
    }

    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "blocking")]
            Mode::Blocking => "blocking",
            #[cfg(feature = "async")]
            Mode::Async => "async",
        }
    }

    pub fn from_name(name: &str) -> Mode {
        Mode::all()
            .into_iter()
            .find(|m| m.name() == name)
            .unwrap_or_else(|| panic!("mode {name} not built"))
    }
}

/// The client a [`Flow`] is built for.
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: &'a str,
    pub redirect: &'a str,
    /// The accounts service's base URL (a `FakeSpotify`).
    pub accounts: &'a str,
}

/// An `AuthorizationCode` of either mode; the async one with its runtime.
pub enum Flow {
    #[cfg(feature = "blocking")]
    Blocking(spotify_auth::blocking::AuthorizationCode),
    #[cfg(feature = "async")]
    Async(
        spotify_auth::asynchronous::AuthorizationCode,
        tokio::runtime::Runtime,
    ),
}

/// The same builder calls for either mode's builder.
macro_rules! configure {
    ($builder:expr, $client:expr, $cache:expr, $backoff:expr) => {
        $builder
            .read_environment(false)
            .client_id($client.id)
            .client_secret($client.secret)
            .redirect_uri($client.redirect)
            .accounts_base_url($client.accounts)
            .token_cache($cache)
            .backoff_hook($backoff)
            .build()
            .unwrap()
    };
}

impl Flow {
    pub fn new(mode: Mode, client: &Client, cache: impl TokenCache + 'static) -> Flow {
        Self::build(mode, client, cache, false)
    }

    /// As [`new`](Self::new), with every backoff (an owed write's retries
    /// included) cut to zero: no test sleeps through one.
    pub fn with_zero_backoff(
        mode: Mode,
        client: &Client,
        cache: impl TokenCache + 'static,
    ) -> Flow {
        Self::build(mode, client, cache, true)
    }

    fn build(mode: Mode, client: &Client, cache: impl TokenCache + 'static, zero: bool) -> Flow {
        let backoff = move |planned: Duration| if zero { Duration::ZERO } else { planned };
        match mode {
            #[cfg(feature = "blocking")]
            Mode::Blocking => Flow::Blocking(configure!(
                spotify_auth::blocking::AuthorizationCode::builder(),
                client,
                cache,
                backoff
            )),
            #[cfg(feature = "async")]
            Mode::Async => {
                let runtime = tokio::runtime::Runtime::new().unwrap();
                let auth = configure!(
                    spotify_auth::asynchronous::AuthorizationCode::builder(),
                    client,
                    cache,
                    backoff
                );
                Flow::Async(auth, runtime)
            }
        }
    }

    pub fn get_access_token(&self) -> spotify_auth::Result<String> {
        match self {
            #[cfg(feature = "blocking")]
            Flow::Blocking(auth) => auth.get_access_token(),
            #[cfg(feature = "async")]
            Flow::Async(auth, runtime) => runtime.block_on(auth.get_access_token()),
        }
    }

    pub fn force_refresh(&self) -> spotify_auth::Result<String> {
        match self {
            #[cfg(feature = "blocking")]
            Flow::Blocking(auth) => auth.force_refresh(),
            #[cfg(feature = "async")]
            Flow::Async(auth, runtime) => runtime.block_on(auth.force_refresh()),
        }
    }

    /// `logout()`: a logout record in the store, the login forgotten here.
    pub fn logout(&self) -> spotify_auth::Result<()> {
        match self {
            #[cfg(feature = "blocking")]
            Flow::Blocking(auth) => auth.logout(),
            #[cfg(feature = "async")]
            Flow::Async(auth, runtime) => runtime.block_on(auth.logout()),
        }
    }

    /// `close()`: waits for work running on after its callers, makes an
    /// owed write.
    pub fn close(self) -> spotify_auth::Result<()> {
        match self {
            #[cfg(feature = "blocking")]
            Flow::Blocking(auth) => auth.close(),
            #[cfg(feature = "async")]
            Flow::Async(auth, runtime) => runtime.block_on(auth.close()),
        }
    }

    pub fn cache_write_error(&self) -> Option<spotify_auth::Error> {
        match self {
            #[cfg(feature = "blocking")]
            Flow::Blocking(auth) => auth.cache_write_error(),
            #[cfg(feature = "async")]
            Flow::Async(auth, _) => auth.cache_write_error(),
        }
    }

    pub fn authorize_local(
        &self,
        options: AuthorizeLocalOptions,
    ) -> spotify_auth::Result<TokenInfo> {
        match self {
            #[cfg(feature = "blocking")]
            Flow::Blocking(auth) => auth.authorize_local(options),
            #[cfg(feature = "async")]
            Flow::Async(auth, runtime) => runtime.block_on(auth.authorize_local(options)),
        }
    }
}

/// Runs this test binary's `child` test with `spec` in the variable `var`.
pub fn spawn_child(var: &str, spec: String) -> Child {
    child_command(var, spec).spawn().unwrap()
}

/// Runs this test binary's `child` test with `spec` in the variable `var`,
/// with stdin piped too: for children that take commands while they run.
pub fn spawn_child_with_stdin(var: &str, spec: String) -> Child {
    child_command(var, spec)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The command running this test binary's `child` test, its output piped.
fn child_command(var: &str, spec: String) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(var, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits (up to 20 s) for the start signal: the file `go`.
pub fn wait_for_start(go: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Path::new(go).exists() {
        assert!(Instant::now() < deadline, "no start signal");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A child's report of its `get_access_token`, on a line of its own.
pub fn report(result: spotify_auth::Result<String>) {
    match result {
        Ok(token) => println!("\nTOKEN:{token}"),
        Err(e) => println!("\nERROR:{e}"),
    }
}

/// The token a finished child reported; panics with its output otherwise.
pub fn reported_token(child: Child, what: &str) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&stdout);
    assert!(
        status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("TOKEN:") || l.starts_with("ERROR:"))
        .unwrap_or_else(|| panic!("no result in {stdout}"));
    assert!(line.starts_with("TOKEN:"), "{what}: {line}");
    line["TOKEN:".len()..].to_owned()
}

/// Starts `children` at once (by creating the file `go` they wait for) and
/// returns the token they all reported; panics unless every child reported
/// the same token.
pub fn start_together(children: Vec<Child>, go: &Path, what: &str) -> String {
    std::fs::write(go, b"go").unwrap();
    let tokens: Vec<String> = children
        .into_iter()
        .map(|c| reported_token(c, what))
        .collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "{what}: everyone got the same token"
    );
    tokens[0].clone()
}
