//! The pages as a browser shows them: loaded from a real callback server in
//! headless Chromium, when `/usr/bin/chromium` is installed (skipped with a
//! note otherwise). Checks the rendered text, that the CSP blocks nothing
//! (Chromium's console, on stderr), and that the dark styles apply
//! (screenshots in light and dark mode differ; with the stylesheet blocked
//! they would be the same page).

use std::path::Path;
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use super::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const STATE: &str = "chromium-test-state_0123456789";
/// The code in the success URL: it must never reach the page.
const CODE: &str = "the-secret-code-value";
/// Only bounds a broken test.
const LONG: Duration = Duration::from_secs(60);

fn chromium_available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    eprintln!("note: {CHROMIUM} is not installed; skipping the headless Chromium page test");
    false
}

/// Runs headless Chromium on `url` with `args`, with a fresh profile and its
/// console on stderr.
fn chromium(url: &str, args: &[&str]) -> Output {
    let profile = tempfile::tempdir().expect("a temporary profile");
    Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs")
}

/// Loads `target` (path and query) from a fresh callback server with
/// Chromium, while the server waits for `STATE`; returns Chromium's output
/// and what the wait returned (cancelled if the page did not end it).
fn load(target: &str, args: &[&str]) -> (Output, Result<Callback>) {
    let server = CallbackServer::bind("http://127.0.0.1/callback").expect("a free port");
    let url = format!("http://{}{target}", server.local_addr());
    let scope = Scopes::from("user-read-email user-top-read");
    thread::scope(|s| {
        let waiter = s.spawn(|| server.wait(STATE, &scope, LONG));
        let output = chromium(&url, args);
        server.cancel();
        (output, waiter.join().expect("the waiter"))
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Chromium's console lines about the Content Security Policy.
fn csp_violations(output: &Output) -> Vec<String> {
    text(&output.stderr)
        .lines()
        .filter(|l| l.contains("Content Security Policy") || l.contains("Content-Security-Policy"))
        .map(str::to_owned)
        .collect()
}

/// A screenshot of `target` in light or dark mode.
fn screenshot(target: &str, dark: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("page.png");
    let shot = format!("--screenshot={}", png.display());
    let mut args = vec![shot.as_str(), "--window-size=600,400", "--hide-scrollbars"];
    if dark {
        args.push("--force-dark-mode");
    }
    let (output, _) = load(target, &args);
    std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}\n{}",
            text(&output.stdout),
            text(&output.stderr)
        )
    })
}

#[test]
fn pages_render_in_chromium_without_csp_violations_and_with_dark_styles() {
    if !chromium_available() {
        return;
    }
    let success = format!("/callback?code={CODE}&state={STATE}");
    let denied = format!("/callback?error=access_denied&state={STATE}");
    let forged = "/callback?error=access_denied&state=forged";

    // Chromium takes a second or so to start: run the loads side by side.
    let loads = thread::scope(|s| {
        let dumps = [success.as_str(), denied.as_str(), forged]
            .map(|target| s.spawn(move || load(target, &["--dump-dom"])));
        let shots = [success.as_str(), denied.as_str()].map(|target| {
            (
                target,
                s.spawn(move || screenshot(target, false)),
                s.spawn(move || screenshot(target, true)),
            )
        });
        let dumps = dumps.map(|h| h.join().expect("a load"));
        let shots = shots.map(|(target, light, dark)| {
            (
                target,
                light.join().expect("light"),
                dark.join().expect("dark"),
            )
        });
        (dumps, shots)
    });
    let (
        [
            (output, outcome),
            (denied_output, denied_outcome),
            (forged_output, forged_outcome),
        ],
        shots,
    ) = loads;

    assert_eq!(outcome.expect("the success callback").code.secret(), CODE);
    let dom = text(&output.stdout);
    assert!(dom.contains("<h1>Login approved</h1>"), "{dom}");
    assert!(dom.contains("<code>user-top-read</code>"), "{dom}");
    assert!(
        dom.contains("You can close this tab and return to your terminal."),
        "{dom}"
    );
    assert!(!dom.contains(CODE), "the code never reaches the page");
    assert!(!dom.contains(STATE), "nor does the state");
    assert_eq!(csp_violations(&output), Vec::<String>::new());

    assert!(
        matches!(denied_outcome, Err(Error::AuthorizationDenied { .. })),
        "{denied_outcome:?}"
    );
    let dom = text(&denied_output.stdout);
    assert!(dom.contains("<h1>Login cancelled</h1>"), "{dom}");
    assert!(dom.contains("run the login again"), "{dom}");
    assert_eq!(csp_violations(&denied_output), Vec::<String>::new());

    // A forged callback does not end the wait (the test cancels it).
    assert!(
        matches!(&forged_outcome, Err(Error::CallbackServer { message, .. }) if message.contains("cancelled")),
        "{forged_outcome:?}"
    );
    let dom = text(&forged_output.stdout);
    assert!(dom.contains("<h1>Response ignored</h1>"), "{dom}");
    assert_eq!(csp_violations(&forged_output), Vec::<String>::new());

    // The stylesheet applies, in both colour schemes.
    for (target, light, dark) in shots {
        assert!(light.starts_with(b"\x89PNG"), "a PNG");
        assert_ne!(light, dark, "{target}: the dark styles do not apply");
    }
}
