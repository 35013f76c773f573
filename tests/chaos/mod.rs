//! The chaos harness (`tests/chaos.rs` runs it).
//!
//! # What runs
//!
//! A seed ([`plan`]) fixes everything but thread timing: the fake server's
//! token lifetime (1-2 s), the refresh margin (0-1 s), the request timeout,
//! the retries, the Redis lock TTL, the processes (this one and 2-3 children:
//! this test binary run again), their actors (each one `AuthorizationCode`
//! of either mode used by 1-2 threads; some with a `FaultyCache` around the
//! shared cache; async ones cancel some calls with `tokio::time::timeout`;
//! all call `get_access_token`, and sometimes `force_refresh`, in a loop),
//! and a schedule of faults: 5xx, 429 with a small `Retry-After`, dropped
//! connections, truncated bodies, `Delay`, `LoseResponse`, `DelayResponse`
//! (short, and longer than the timeout), failing cache writes (and reads
//! and locks) in some actors, and logouts. Retries never sleep (a
//! `backoff_hook` returns zero or a millisecond or two).
//!
//! Logins: each login is a *lineage*: the fake's user id `login-N` (signed
//! in for that login only), which every refresh token descending from it
//! carries. The coordinator ([`coordinator`]) logs in (a minted refresh token
//! written under the cache's lock, or a real code exchange through the
//! library) at the start, after a logout, and whenever an actor reports
//! that the login ended (`ReauthorizationRequired`, `NotAuthorized`) and the
//! cache holds no live refresh token.
//!
//! After `CHAOS_SECONDS` (default 3), faults stop and failing caches heal;
//! the actors go on calling for one token lifetime and a second, then all
//! make their last call together, in rounds, until one round agrees.
//!
//! # What is checked (the exact rules)
//!
//! From the fake server's records (every request with its fault and the
//! refresh token it carried; every refresh token with its lineage, issue
//! time, processing count and delivery), after the run:
//!
//! A refresh token is **received** when the library could have learnt it:
//! its delivery is `Minted` (the coordinator wrote it to the cache),
//! `Delivered`, or `Delayed(d)` with `d` below the timeout; never `Lost`.
//! A processed use of a token is **unheard** when its answer could not reach
//! the library: the request's fault was `LoseResponse`, or `DelayResponse(d)`
//! / `Delay(d)` with `d` at or above the timeout.
//!
//! 1. **No login ends while it could go on.** Every refusal of a refresh
//!    token (a processed request carrying a token that was no longer live)
//!    happened while its lineage had no live received token, or after a
//!    logout that abandoned the lineage. (The fake records refusals, not
//!    which actor saw them: this covers cancelled callers too. With
//!    single-use rotation a `LoseResponse` on a refresh legitimately ends a
//!    login: its successor is `Lost`.)
//! 2. **One request per refresh token per shared cache.** For every refresh
//!    token, `processed ≤ 1 + unheard`: it is sent once, and once more
//!    after each use whose answer was lost or came too late (the library
//!    cannot know whether such a request was processed, and retries; with
//!    rotation the retry is refused). A failed cache operation is not an
//!    excuse (see "Known library issues" below). After a logout, no token
//!    issued before it is used again (an emptied cache is a logout
//!    everywhere).
//! 3. **The cache is always well formed.** A watcher ([`watcher`]) reads the
//!    file (or key) continuously: it always parses (and the file is mode
//!    0600); it never holds a refresh token the fake did not issue, nor,
//!    after a logout, one issued before it; and it is missing only before
//!    the first login, after a logout, or after the refresh token last seen
//!    in it died (a refused token is removed).
//! 4. **Everyone ends with the same good token.** Every thread's last
//!    `get_access_token` (faults cleared) succeeds, all return the same
//!    token, and the fake issued it and did not revoke it (it may have
//!    expired since the calls: the library counts whole seconds). Rounds:
//!    two different tokens can both be legitimately valid for an instant
//!    around an expiry, so the last calls are made together again, up to 5
//!    times, until one round agrees; an error in any round fails.
//!
//! Also: no actor panics, no call returns an error outside the expected
//! kinds (transport, 5xx, 429, rate limited, `ReauthorizationRequired`,
//! `NotAuthorized`, and injected cache failures in faulty actors), and the
//! children exit cleanly.
//!
//! # Known library issues
//!
//! Two library issues the chaos found (`findings.rs` shows each alone) are
//! fixed for failures that pass: the library tries a cache write, and the
//! removal of a refused token, three times under the lock, and tells the
//! caller about a refusal whatever the cache does. What remains is a cache
//! that fails all three attempts in a row (a `FaultyCache` fault of 3): then
//! a sharer can still spend the token whose successor was not stored, or
//! send a refused token again. A violation is listed as an instance of one,
//! loudly, without failing the run, only when it matches exactly;
//! `CHAOS_STRICT=1` fails on them too:
//!
//! - [`verdict::FAILED_WRITE`] (F1): the live successor the rule names was
//!   received by an actor and every write of it failed on purpose.
//! - [`verdict::FAILED_REMOVAL`] (F3): after the token was refused, an
//!   actor's cache failed on purpose while the library checked or removed
//!   it (the second `get`, or the `clear`, under the lock that read it).
//!
//! A failure prints the seed, the replay command, the plan and each
//! violation with the history of the tokens involved. A seed replays the
//! plan and the schedule exactly; thread timing still differs between runs,
//! so a seed that failed once usually, not always, fails again.

pub mod actor;
pub mod allowance;
pub mod auth;
pub mod caches;
pub mod child;
pub mod clock;
pub mod coordinator;
pub mod double_exchange;
pub mod ended;
#[cfg(test)]
mod findings;
pub mod instance;
pub mod last_calls;
pub mod ledger;
pub mod plan;
pub mod pump;
pub mod report;
pub mod scenario;
pub mod served;
pub mod store_faults;
pub mod summary;
pub mod verdict;
pub mod watcher;

use std::sync::Mutex;

pub use plan::Storage;

/// The environment variable that makes the `child` test a child.
pub const CHILD_VAR: &str = "SPOTIFY_AUTH_CHAOS_CHILD";

/// The `User-Agent` of process n's requests is this and n.
pub const AGENT_PREFIX: &str = "chaos-p";

/// The fake's client.
pub const ID: &str = "chaos-client";
pub const SECRET: &str = "chaos-secret";
pub const REDIRECT: &str = "http://127.0.0.1:8888/callback";
pub const SCOPE: &str = "user-read-email";

/// Scenarios run one at a time: they share the machine's two cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `CHAOS_RUNS` seeds (default 1) of the scenario on `storage`.
pub fn run_seeds(storage: Storage) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let first = match std::env::var("CHAOS_SEED") {
        Ok(s) => s
            .trim()
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("CHAOS_SEED must be a number, not {s:?}")),
        Err(_) => fastrand::u64(..1_000_000_000),
    };
    let seconds = match std::env::var("CHAOS_SECONDS") {
        Ok(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0)
            .unwrap_or_else(|| panic!("CHAOS_SECONDS must be a positive number, not {s:?}")),
        Err(_) => 3.0,
    };
    let runs = std::env::var("CHAOS_RUNS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    // Every seed runs, whatever the ones before did; a failure's message
    // (the panic's) is printed as it happens, and the seeds that failed are
    // listed at the end.
    let failed: Vec<u64> = (first..first + runs)
        .filter(|&seed| std::panic::catch_unwind(|| scenario::run(storage, seed, seconds)).is_err())
        .collect();
    assert!(
        failed.is_empty(),
        "chaos {}: {} of {runs} seeds failed: {failed:?} (each one's violations are above)",
        storage.name(),
        failed.len()
    );
}
