//! A real Secret Service for the keychain tests: each test runs again, alone,
//! inside a private D-Bus session (`dbus-run-session`) where GNOME Keyring's
//! daemon was started with its login keyring unlocked, in a temporary home.
//! Nothing of the runner's session, keyring or home is used or touched, and
//! the session and the daemon end with the test.
//!
//! ```ignore
//! #[test]
//! fn round_trip() {
//!     if !keyring_support::in_secret_service("round_trip") {
//!         return; // ran (or was skipped) in a private session
//!     }
//!     // ... here D-Bus and the Secret Service are this test's own
//! }
//! ```
//!
//! Needs `dbus-run-session` (Debian: `dbus`) and `gnome-keyring-daemon`
//! (`gnome-keyring`); `.ci/run` installs them. Without them each test says
//! on stderr that it was skipped, and why, unless
//! `SPOTIFY_AUTH_TEST_SECRET_SERVICE=required` (set by `.ci/run` once it
//! has them), which makes that a failure.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the re-run test: the session and the keyring are there.
const INSIDE: &str = "SPOTIFY_AUTH_TEST_INSIDE_SECRET_SERVICE";

/// `required`: a test that cannot start the Secret Service fails instead
/// of being skipped.
pub const REQUIRE: &str = "SPOTIFY_AUTH_TEST_SECRET_SERVICE";

/// The login keyring's password in the private session.
const KEYRING_PASSWORD: &str = "spotify-auth-test-keyring";

/// How long one re-run test may take.
const TIMEOUT: Duration = Duration::from_secs(180);

/// Starts the daemon (it forks, and answers on the session bus once this
/// returns), then becomes the test. Exit 97: the daemon did not start.
const SCRIPT: &str = "echo \"$SPOTIFY_AUTH_TEST_KEYRING_PASSWORD\" | \
    gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 97; \
    unset SPOTIFY_AUTH_TEST_KEYRING_PASSWORD; exec \"$@\"";

/// Whether this process is the re-run test inside the private session.
pub fn inside() -> bool {
    std::env::var_os(INSIDE).is_some()
}

/// Runs test `name` (its path in this test binary) in a private session
/// with a Secret Service: `true` when this process is that run (go on with
/// the test), `false` when it ran there and passed, or was skipped (the
/// reason is on stderr). Panics with the run's output when it failed.
pub fn in_secret_service(name: &str) -> bool {
    if inside() {
        return true;
    }
    if let Err(reason) = tools() {
        skip(name, &reason);
        return false;
    }
    let home = tempfile::tempdir().unwrap();
    let runtime = home.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let out = home.path().join("stdout");
    let err = home.path().join("stderr");
    let mut command = Command::new("dbus-run-session");
    command
        .args(["--", "sh", "-c", SCRIPT, "sh"])
        .arg(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .env("SPOTIFY_AUTH_TEST_KEYRING_PASSWORD", KEYRING_PASSWORD)
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        // Its own runtime directory, so that the daemon never finds (and
        // unlocks) the runner's own keyring daemon.
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("GNOME_KEYRING_CONTROL")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let mut child = command.spawn().expect("dbus-run-session starts");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name}: no result after {} s in the private Secret Service\n{}",
                TIMEOUT.as_secs(),
                outputs(&out, &err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    if status.code() == Some(97) {
        let reason = format!(
            "gnome-keyring-daemon did not start in a private D-Bus session\n{}",
            outputs(&out, &err)
        );
        skip(name, &reason);
        return false;
    }
    assert!(
        status.success(),
        "{name} failed in the private Secret Service ({status})\n{}",
        outputs(&out, &err)
    );
    assert!(
        stdout.contains("1 passed"),
        "{name} did not run in the private Secret Service (is the name its full path?)\n{}",
        outputs(&out, &err)
    );
    false
}

fn outputs(out: &Path, err: &Path) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        std::fs::read_to_string(out).unwrap_or_default(),
        std::fs::read_to_string(err).unwrap_or_default()
    )
}

/// `Ok` when `dbus-run-session` and `gnome-keyring-daemon` are on `PATH`.
fn tools() -> Result<(), String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = ["dbus-run-session", "gnome-keyring-daemon"]
        .into_iter()
        .filter(|tool| !std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} not found (Debian: apt-get install dbus gnome-keyring)",
            missing.join(" and ")
        ))
    }
}

/// Says on the terminal (not through the test harness's capture, which
/// would hide it) that `name` was skipped, or fails when the Secret Service
/// is required.
fn skip(name: &str, reason: &str) {
    if std::env::var(REQUIRE).is_ok_and(|v| v == "required") {
        panic!("{name}: the Secret Service is required ({REQUIRE}=required) but {reason}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {name}: no private Secret Service: {reason}"
    );
}
