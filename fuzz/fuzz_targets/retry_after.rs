//! `Retry-After`: a wait only for a number of seconds, and never beyond
//! the call's budget.
#![no_main]

#[path = "../../tests/generators/mod.rs"]
mod generators;

use std::time::Duration;

use generators::{Gen, text};
use libfuzzer_sys::fuzz_target;
use spotify_auth::fuzzing;

fuzz_target!(|data: &[u8]| {
    let mut g = Gen::new(data);
    let value = if g.chance(1, 4) {
        g.text(40)
    } else {
        text::retry_after(&mut g)
    };
    if let Some(wait) = fuzzing::retry_after_wait(&value) {
        assert!(wait <= Duration::from_secs(30), "{value:?}: {wait:?}");
        if let Ok(seconds) = value.trim().parse::<u64>() {
            assert_eq!(wait, Duration::from_secs(seconds));
        }
    }
});
