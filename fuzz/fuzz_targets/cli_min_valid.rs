//! The CLI's `--min-valid` duration (its source, included by path): a
//! duration below an hour, or a one-line failure.
#![no_main]
#![allow(dead_code)]

#[path = "../../src/bin/spotify-auth/exit.rs"]
mod exit;
#[path = "../../tests/generators/mod.rs"]
mod generators;
#[path = "../../src/bin/spotify-auth/min_valid.rs"]
mod min_valid;

use generators::{Gen, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut g = Gen::new(data);
    let arg = if g.chance(1, 4) {
        g.text(40)
    } else {
        text::duration(&mut g)
    };
    match min_valid::parse(&arg) {
        Ok(duration) => assert!(duration < min_valid::TOKEN_LIFETIME),
        Err(failure) => assert!(!failure.message.contains('\n'), "{}", failure.message),
    }
});
