//! The CLI's profile files (its source, included by path): read, or
//! refused with a one-line problem that quotes no value; what is read
//! saves and reads back equal.
#![no_main]
#![allow(dead_code)]

#[path = "../../src/bin/spotify-auth/exit.rs"]
mod exit;
#[path = "../../tests/generators/mod.rs"]
mod generators;
#[path = "../../src/bin/spotify-auth/paths.rs"]
mod paths;
#[path = "../../src/bin/spotify-auth/private_file.rs"]
mod private_file;
#[path = "../../src/bin/spotify-auth/profile.rs"]
mod profile;
#[path = "../../src/bin/spotify-auth/profile_name.rs"]
mod profile_name;
#[path = "../../src/bin/spotify-auth/store.rs"]
mod store;

use generators::{Gen, has_marker, json, mutate_bytes};
use libfuzzer_sys::fuzz_target;
use profile::{Problem, parse};

fuzz_target!(|data: &[u8]| {
    let mut g = Gen::new(data);
    let bytes = match g.range(0, 3) {
        0 => g.bytes(2048),
        1 => {
            let valid = json::profile(&mut g);
            mutate_bytes(&mut g, &valid)
        }
        _ => json::profile(&mut g).into_bytes(),
    };
    match parse(&bytes) {
        Ok(profile) => {
            let saved = serde_json::to_vec_pretty(&profile).unwrap();
            assert_eq!(parse(&saved), Ok(profile));
        }
        Err(Problem::Malformed(problem)) => {
            assert!(!has_marker(&problem) && !problem.contains('\n'), "{problem}");
        }
        Err(Problem::Newer(_)) => {}
    }
});
