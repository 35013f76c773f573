//! What a token store holds (token files of every origin, records, sealed
//! entries, Redis values): read or refused without quoting it, and what is
//! read writes back as itself.
#![no_main]

#[path = "../../tests/generators/mod.rs"]
mod generators;

use generators::{Gen, has_marker, json};
use libfuzzer_sys::fuzz_target;
use spotify_auth::{Entry, TokenInfo};

fuzz_target!(|data: &[u8]| {
    let mut g = Gen::new(data);
    let bytes = if g.chance(1, 5) {
        g.bytes(4096)
    } else {
        json::entry(&mut g, true).into_bytes()
    };
    match Entry::from_json(&bytes) {
        Ok(entry) => {
            assert!(!has_marker(&format!("{entry:?}")));
            assert_eq!(Entry::from_json(entry.to_json().as_bytes()), Ok(entry));
        }
        Err(e) => assert!(!has_marker(&e), "{e}"),
    }
    match TokenInfo::from_json(&bytes) {
        Ok(token) => assert_eq!(TokenInfo::from_json(token.to_json().as_bytes()), Ok(token)),
        Err(e) => assert!(!has_marker(&e), "{e}"),
    }
});
