//! The token endpoint's answer: a 2xx body parsed, or any other status's
//! error; no panic, no token in an error's text.
#![no_main]

#[path = "../../tests/generators/mod.rs"]
mod generators;

use generators::{Gen, has_marker, json, mutate_bytes};
use libfuzzer_sys::fuzz_target;
use spotify_auth::fuzzing;

fuzz_target!(|data: &[u8]| {
    let mut g = Gen::new(data);
    let (body, structured) = match g.range(0, 3) {
        0 => (g.bytes(4096), false),
        1 => {
            let valid = json::token_response(&mut g, true);
            (mutate_bytes(&mut g, &valid), false)
        }
        _ => (json::token_response(&mut g, true).into_bytes(), true),
    };
    if let Err(text) = fuzzing::token_response(&body) {
        assert!(!structured || !has_marker(&text), "a token in {text:?}");
    }
    let status = 300 + g.range(0, 299) as u16;
    let text = fuzzing::endpoint_error_text(status, &body);
    assert!(!structured || !has_marker(&text), "a token in {text:?}");
});
