//! The callback: `parse_callback` on any URL or query, and what the server
//! answers to any request (only a GET on the exact path with exactly the
//! right state ends the wait; no page shows the state).
#![no_main]

#[path = "../../tests/generators/mod.rs"]
mod generators;

use generators::callback::{carries_state, query, target};
use generators::{Gen, MARKER, has_marker};
use libfuzzer_sys::fuzz_target;
use spotify_auth::fuzzing;

const PATH: &str = "/callback";

fuzz_target!(|data: &[u8]| {
    let mut g = Gen::new(data);
    let state = format!("{MARKER}-state");
    let url = match g.range(0, 3) {
        0 => query(&mut g, &state),
        1 => g.text(200),
        _ => target(&mut g, PATH, &state),
    };
    if let Err(text) = fuzzing::parse_callback(&url, &state) {
        // A denial shows its `error` and description, which the
        // generators never make secret.
        assert!(!has_marker(&text), "a secret in {text:?}");
    }
    let method = g.pick(&["GET", "HEAD", "POST", "get", "BREW"]);
    let (status, ends, page) = fuzzing::classify_callback(method, &url, PATH, &state);
    let path = url.split(['#', '?']).next().unwrap_or("");
    let may_end = method == "GET" && path == PATH && carries_state(&url, &state);
    assert_eq!(ends, may_end, "{method} {url:?}");
    assert!(matches!(status, 200 | 400 | 404 | 405), "{status}");
    assert!(!has_marker(&page), "the page shows a secret: {url:?}");
});
