//! A seeded chaos test of the token lifecycle: threads and child processes,
//! in both modes, sharing one `FileTokenCache` file (and, with the `redis`
//! feature, one Redis key), against a `FakeSpotify` with single-use refresh
//! tokens, short-lived access tokens and faults on a random schedule.
//!
//! ```text
//! cargo test --all-features --test chaos -- --nocapture             # a random seed, a few seconds
//! CHAOS_SEED=1234 cargo test --all-features --test chaos -- --nocapture   # replay a seed
//! CHAOS_SECONDS=300 cargo test --all-features --test chaos -- --nocapture  # a long run
//! ```
//!
//! More knobs: `CHAOS_RUNS=<n>` runs n seeds in a row (the first is
//! `CHAOS_SEED`, or random; then +1 each), every one of them whatever the
//! ones before did, then fails listing the seeds that failed, for long
//! unattended runs; `CHAOS_VERBOSE=1` prints every token's history;
//! `CHAOS_CACHE_FAULTS=0` gives no actor a failing cache,
//! `CHAOS_DATA_LOSS=0` makes the store lose no data, `CHAOS_LAPSES=0` lets
//! no Redis lease lapse (each leaves the rest of a seed's plan as it is), to
//! explore the other faults alone. Every violation fails the run: there is
//! no list of known issues.
//!
//! What is run and what is checked: see `tests/chaos/mod.rs`; what the chaos
//! found, as small deterministic tests: `tests/chaos/findings.rs`.
#![cfg(any(feature = "blocking", feature = "async"))]

mod common;
#[cfg(feature = "redis")]
mod redis_support;

#[path = "chaos/mod.rs"]
mod chaos;

/// A child process's side: runs the actors of the spec in `CHAOS_CHILD`,
/// and nothing when it is not set (a normal test run).
#[test]
fn child() {
    if let Ok(spec) = std::env::var(chaos::CHILD_VAR) {
        chaos::child::run(&spec);
    }
}

/// Every actor shares one token file.
#[test]
fn chaos_with_a_shared_file_cache() {
    if std::env::var_os(chaos::CHILD_VAR).is_some() {
        return;
    }
    chaos::run_seeds(chaos::Storage::File);
}

/// Every actor shares one Redis key, with a lock TTL shorter than the
/// slowest refreshes.
#[cfg(feature = "redis")]
#[test]
fn chaos_with_a_shared_redis_key() {
    if std::env::var_os(chaos::CHILD_VAR).is_some() {
        return;
    }
    chaos::run_seeds(chaos::Storage::Redis);
}
