//! Settings read from the `SPOTIFY_SDK_*` environment variables, in both
//! modes. This binary is the only one that changes its environment; its tests
//! take `ENV` so that none reads while another writes.
#![cfg(any(feature = "blocking", feature = "async"))]

mod common;

use std::sync::Mutex;

use spotify_auth::{ENV_CLIENT_ID, ENV_CLIENT_SECRET, ENV_REDIRECT_URI, Error};

static ENV: Mutex<()> = Mutex::new(());

/// Sets (or, with `None`, removes) the three variables for the closure.
fn with_env(id: Option<&str>, secret: Option<&str>, redirect: Option<&str>, f: impl FnOnce()) {
    let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
    for (name, value) in [
        (ENV_CLIENT_ID, id),
        (ENV_CLIENT_SECRET, secret),
        (ENV_REDIRECT_URI, redirect),
    ] {
        // SAFETY: every test of this binary holds ENV while it touches the
        // environment, and nothing else here reads it concurrently.
        unsafe {
            match value {
                Some(v) => std::env::set_var(name, v),
                None => std::env::remove_var(name),
            }
        }
    }
    f();
}

/// Builds with each compiled mode from the environment alone; the Debug text
/// of each, or its error.
fn builds() -> Vec<Result<String, Error>> {
    let mut out = Vec::new();
    #[cfg(feature = "blocking")]
    out.push(
        spotify_auth::blocking::AuthorizationCode::builder()
            .build()
            .map(|a| format!("{a:?}")),
    );
    #[cfg(feature = "async")]
    out.push(
        spotify_auth::asynchronous::AuthorizationCode::builder()
            .build()
            .map(|a| format!("{a:?}")),
    );
    out
}

#[test]
fn settings_come_from_the_environment() {
    with_env(
        Some("env-id"),
        Some("env-secret"),
        Some("http://127.0.0.1:9999/cb"),
        || {
            for built in builds() {
                let debug = built.unwrap();
                assert!(debug.contains("env-id"), "{debug}");
                assert!(debug.contains("http://127.0.0.1:9999/cb"), "{debug}");
                assert!(!debug.contains("env-secret"), "secret redacted: {debug}");
                assert!(
                    debug.contains("pkce: false"),
                    "a secret makes a confidential client: {debug}"
                );
            }
        },
    );
}

#[test]
fn no_secret_in_the_environment_means_pkce() {
    with_env(
        Some("env-id"),
        None,
        Some("http://127.0.0.1:9999/cb"),
        || {
            for built in builds() {
                assert!(built.unwrap().contains("pkce: true"));
            }
        },
    );
}

#[test]
fn builder_values_win_over_the_environment() {
    with_env(
        Some("env-id"),
        None,
        Some("http://127.0.0.1:9999/cb"),
        || {
            #[cfg(feature = "blocking")]
            {
                let a = spotify_auth::blocking::AuthorizationCode::builder()
                    .client_id("mine")
                    .build()
                    .unwrap();
                assert!(format!("{a:?}").contains("\"mine\""));
            }
            #[cfg(feature = "async")]
            {
                let a = spotify_auth::asynchronous::AuthorizationCode::builder()
                    .client_id("mine")
                    .build()
                    .unwrap();
                assert!(format!("{a:?}").contains("\"mine\""));
            }
        },
    );
}

#[test]
fn missing_variables_are_named() {
    with_env(None, None, Some("http://127.0.0.1:9999/cb"), || {
        for built in builds() {
            let e = built.unwrap_err();
            assert!(matches!(
                e,
                Error::Config {
                    setting: "client_id",
                    ..
                }
            ));
            assert!(e.to_string().contains(ENV_CLIENT_ID), "{e}");
        }
    });
    with_env(Some("id"), None, None, || {
        for built in builds() {
            let e = built.unwrap_err();
            assert!(matches!(
                e,
                Error::Config {
                    setting: "redirect_uri",
                    ..
                }
            ));
            assert!(e.to_string().contains(ENV_REDIRECT_URI), "{e}");
        }
    });
    // Empty values count as missing.
    with_env(Some("  "), None, Some("http://127.0.0.1:9999/cb"), || {
        for built in builds() {
            assert!(matches!(
                built.unwrap_err(),
                Error::Config {
                    setting: "client_id",
                    ..
                }
            ));
        }
    });
}

/// `open_browser` honours `$BROWSER`: a script that fetches the URL (following
/// the redirect to the callback) completes the login, in each mode.
#[cfg(unix)]
#[test]
fn browser_variable_completes_the_flow() {
    use spotify_auth::AuthorizeLocalOptions;
    use spotify_auth::testing::FakeSpotify;
    use std::os::unix::fs::PermissionsExt;

    let _guard = ENV.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("browser.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ncurl -sfL --max-time 20 \"$1\" >/dev/null 2>&1 &\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // SAFETY: ENV is held; nothing else in this binary touches the environment.
    unsafe { std::env::set_var("BROWSER", &script) };

    for mode in common::Mode::all() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let redirect = format!("http://127.0.0.1:{port}/callback");
        let server = FakeSpotify::builder()
            .client("id", Some("secret"))
            .redirect_uri(&redirect)
            .start()
            .unwrap();
        let client = common::Client {
            id: "id",
            secret: "secret",
            redirect: &redirect,
            accounts: server.url(),
        };
        let flow = common::Flow::new(mode, &client, spotify_auth::InMemoryTokenCache::new());
        let token = flow.authorize_local(
            AuthorizeLocalOptions::new().timeout(std::time::Duration::from_secs(20)),
        );
        assert!(token.is_ok(), "{mode:?}: {token:?}");
        assert_eq!(server.token_request_count(), 1);
    }
    unsafe { std::env::remove_var("BROWSER") };
}

/// Sets (or removes) one variable; only while `ENV` is held (inside
/// [`with_env`]).
fn set_env(name: &str, value: Option<&str>) {
    // SAFETY: called only inside `with_env`, which holds ENV.
    unsafe {
        match value {
            Some(v) => std::env::set_var(name, v),
            None => std::env::remove_var(name),
        }
    }
}

/// For each mode: the `Debug` of a user's instance built by a registry
/// whose template gives every setting and reads no environment, and by one
/// whose template reads it (once, when the registry is made); both built
/// after the environment changed.
fn per_user_builds() -> Vec<(String, String)> {
    macro_rules! per_user {
        ($mode:ident) => {{
            use spotify_auth::$mode::{AuthorizationCode, UserRegistry};
            let memory = |_: &str| spotify_auth::InMemoryTokenCache::new();
            let explicit = AuthorizationCode::builder()
                .read_environment(false)
                .client_id("template-id")
                .redirect_uri("http://127.0.0.1:8888/cb");
            let explicit = UserRegistry::new(explicit, memory).unwrap();
            let resolved = UserRegistry::new(AuthorizationCode::builder(), memory).unwrap();
            set_env(ENV_CLIENT_ID, Some("later-id"));
            set_env(ENV_CLIENT_SECRET, Some("later-secret"));
            let built = (
                format!("{:?}", explicit.get("user").unwrap()),
                format!("{:?}", resolved.get("user").unwrap()),
            );
            set_env(ENV_CLIENT_ID, Some("env-id"));
            set_env(ENV_CLIENT_SECRET, None);
            built
        }};
    }
    let mut out = Vec::new();
    #[cfg(feature = "blocking")]
    out.push(per_user!(blocking));
    #[cfg(feature = "async")]
    out.push(per_user!(asynchronous));
    out
}

/// Issue 17, item 2: a user's instance is built from the registry's
/// template alone: `SPOTIFY_SDK_*` set in the environment (then, or since)
/// is never picked up by it; a template that reads the environment reads it
/// once, when the registry is made.
#[test]
fn a_users_instance_never_reads_the_environment() {
    with_env(
        Some("env-id"),
        None,
        Some("http://127.0.0.1:9999/cb"),
        || {
            for (explicit, resolved) in per_user_builds() {
                assert!(explicit.contains("\"template-id\""), "{explicit}");
                assert!(
                    !explicit.contains("env-id") && !explicit.contains("later-id"),
                    "{explicit}"
                );
                assert!(
                    explicit.contains("pkce: true"),
                    "no secret picked up: {explicit}"
                );
                assert!(resolved.contains("\"env-id\""), "read once: {resolved}");
                assert!(!resolved.contains("later-id"), "{resolved}");
                assert!(
                    resolved.contains("pkce: true"),
                    "a secret set later is ignored: {resolved}"
                );
            }
        },
    );
}
