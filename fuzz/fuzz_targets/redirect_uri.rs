//! Redirect URIs: loopback only, a port added to one without a port keeps
//! it valid, and no password in an error.
#![no_main]

#[path = "../../tests/generators/mod.rs"]
mod generators;

use generators::{Gen, has_marker, text};
use libfuzzer_sys::fuzz_target;
use spotify_auth::fuzzing;

fuzz_target!(|data: &[u8]| {
    let mut g = Gen::new(data);
    let secret_password = g.chance(1, 2);
    let uri = if g.chance(1, 5) {
        g.text(200)
    } else {
        text::redirect_uri(&mut g, secret_password)
    };
    let port = g.range(0, 65535) as u16;
    match fuzzing::redirect_uri(&uri, port) {
        Ok(addr) => assert!(addr.ip().is_loopback(), "{uri:?}: {addr}"),
        Err(text) => assert!(!has_marker(&text), "a password in {text:?}"),
    }
});
