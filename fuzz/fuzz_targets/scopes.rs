//! Scope strings normalise idempotently, losing no scope.
#![no_main]

#[path = "../../tests/generators/mod.rs"]
mod generators;

use generators::{Gen, text};
use libfuzzer_sys::fuzz_target;
use spotify_auth::Scopes;

fuzz_target!(|data: &[u8]| {
    let mut g = Gen::new(data);
    let raw = if g.chance(1, 4) {
        g.text(300)
    } else {
        text::scopes(&mut g)
    };
    let scopes = Scopes::from(raw.as_str());
    assert_eq!(Scopes::from(scopes.as_str()), scopes);
    for given in raw
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
    {
        assert!(scopes.contains(given), "{given:?} lost from {raw:?}");
    }
    assert!(scopes.missing_from(&scopes).is_empty());
});
