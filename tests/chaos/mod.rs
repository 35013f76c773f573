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
//! `backoff_hook` returns zero or a millisecond or two). Each process's
//! instances share one HTTP client per mode whose `User-Agent` names the
//! process (`chaos-p{n}`), so that the fake's records say who sent what.
//!
//! On top of that:
//!
//! - **The store's own faults** ([`store_faults`], on the seed's schedule):
//!   its data lost (Redis `FLUSHALL`, the token key evicted with `DEL`, the
//!   token file removed by hand), about every 2.5 s; none while a logout is
//!   recent (see the rules); for Redis, **lease lapses**: the next refresh
//!   request is held at the fake (`Delay`) and, once it has arrived, the
//!   lock key is deleted (about every 3 s), or the child process that sent
//!   it is stopped (`SIGSTOP`) for longer than the lock's TTL and shorter
//!   than the request's timeout, then continued (about every 4 s, when the
//!   seed's timeout leaves room). A `FLUSHALL` deletes the lock too.
//! - **Double exchanges**: each exchange login exchanges its code once,
//!   twice at once on one instance (two threads, or two joined futures),
//!   once and again moments later, or both ([`double_exchange`]).
//! - **Close and rebuild** ([`instance`]): some async actors (never faulty
//!   ones) have a runtime of their own; about one call in a hundred is a
//!   forced refresh cancelled after 0-3 ms (its request most likely sent);
//!   the actor then calls `close()`, drops the instance and its runtime,
//!   and builds a new instance on the same cache (named `{actor}.{n}` in
//!   reports). Every instance is closed at the end too.
//! - **Caches down**: each faulty actor's cache is down (every read and
//!   lock fails) in 1-2 windows of 0.3-1.5 s; in them its threads make
//!   plain `get_access_token` calls only (no force, no cancel).
//!
//! Logins: each login is a *lineage*: the fake's user id `login-N` (signed
//! in for that login only), which every refresh token descending from it
//! carries. The coordinator ([`coordinator`]) logs in (a minted refresh token
//! written under the cache's lock, or a real code exchange through the
//! library) at the start, after a logout, and whenever an actor reports
//! that the login ended (`ReauthorizationRequired`, `NotAuthorized`) and the
//! cache holds no live refresh token.
//!
//! After `CHAOS_SECONDS` (default 3), faults stop (a pause under way ends
//! first) and failing caches heal; the actors go on calling for one token
//! lifetime and a second, then all make their last call together, in
//! rounds, until one round agrees.
//!
//! # What is checked (the exact rules)
//!
//! From the fake server's records (every request with its fault and the
//! refresh token it carried; every refresh token with its lineage, issue
//! time, processing count and delivery; every access token's issue time),
//! and from what the actors report (see [`report`]), after the run:
//!
//! A refresh token is **received** when the library could have learnt it:
//! its delivery is `Minted` (the coordinator wrote it to the cache),
//! `Delivered`, or `Delayed(d)` with `d` below the timeout; never `Lost`.
//! A processed use of a token is **unheard** when its answer could not reach
//! the library: the request's fault was `LoseResponse`, or `DelayResponse(d)`
//! / `Delay(d)` with `d` at or above the timeout. A **lapse** is a store
//! fault that let the lock's lease lapse (a lock deleted, a holder paused, a
//! `FLUSHALL`); its **window** runs from its start to one token lifetime
//! plus `timeout × (max_retries + 2)` after its end. Each lapse excuses, in
//! its window, **one extra use** of a refresh token that was in flight
//! during it (sent before its end, processed after its start), and **the
//! errors of one instance** ([`allowance`]; the first to need it). A data
//! loss's window runs until one lapse window after its end or after the
//! store was repaired (the watcher first saw a token issued after the loss
//! in it), whichever is later: until then an instance that consults the
//! store late finds it recovering. A data loss excuses, in its window,
//! **one extra use of each refresh token issued before it** (a stale copy an instance wrote back and sent: nobody can
//! tell a stale copy from the live one; the library sends each copy once
//! at most and names the refused ones; a copy whose answer was lost is
//! sent once more, like any unheard use), and, in its window,
//! `NotAuthorized` told to an instance holding no login (it cannot tell an
//! emptied store from one never written); nothing else: the store is
//! repaired from memory, callers with a refused copy get `StoreRecovering`
//! (a passing error), and no caller is told `ReauthorizationRequired`
//! because of it.
//!
//! 1. **No login ends while it could go on.** Every refusal of a refresh
//!    token (a processed request carrying a token that was no longer live)
//!    happened while its lineage had no live received token, or after a
//!    logout that abandoned the lineage, or is a lapse's extra use. (The
//!    fake records refusals, not which actor saw them: this covers
//!    cancelled callers too. With single-use rotation a `LoseResponse` on a
//!    refresh legitimately ends a login: its successor is `Lost`.)
//! 2. **One request per refresh token per shared cache while its lease
//!    holds.** For every refresh token, `processed ≤ 1 + unheard`, plus a
//!    lapse's extra use: it is sent once, and once more after each use
//!    whose answer was lost or came too late (the library cannot know
//!    whether such a request was processed, and retries; with rotation the
//!    retry is refused). A failed cache operation is not an excuse. After a
//!    logout, no token issued before it is sent again (a request that
//!    arrived before the logout ended and is processed after, held by a
//!    `Delay`, was sent before).
//! 3. **The cache is always well formed.** A watcher ([`watcher`]) reads the
//!    file (or key) continuously: it always parses (and the file is mode
//!    0600); it never holds a refresh token the fake did not issue, nor,
//!    after a logout, one issued before it; and it holds no token (nothing,
//!    or a record that a login ended) only before the first login, after a
//!    logout or a data loss since the token last seen in it, or after that
//!    token died (a refused token is recorded as such).
//! 4. **Everyone ends with the same good token.** Every thread's last
//!    `get_access_token` (faults cleared) succeeds, all return the same
//!    token, and the fake issued it and did not revoke it (it may have
//!    expired since the calls: the library counts whole seconds). Rounds:
//!    two different tokens can both be legitimately valid for an instant
//!    around an expiry, so the last calls are made together again, up to 5
//!    times, until one round agrees; an error in any round fails.
//! 5. **No caller is told the login ended while it could go on**
//!    ([`ended`]). A call told `ReauthorizationRequired` or `NotAuthorized`
//!    breaks it when, by the end of the call, an actor had received a
//!    refresh token of the current login (the latest login made before the
//!    call started) that was still live at the end of the call (not used
//!    yet), and no logout had started before the call ended since that
//!    token was issued; unless a lapse excuses the instance, or a later
//!    login was made during the call (the coordinator logged in again: the
//!    library rightly drops an older login for the one in the store, and
//!    the call may have decided from either). An actor had a
//!    token once one read it from the store (the login's own token) or once
//!    its refresh answer arrived (a refreshed one). A call failed because
//!    the store's lock lapsed under it ("the lock lapsed", "was lost") must
//!    be excused by a lapse too.
//! 6. **Nothing handed out after a logout** ([`served`]). Each thread
//!    reports every token it handed out (which instance, the calls' first
//!    and last start, when the instance first knew it: read or written
//!    through its cache, or returned). Once an instance has read a logout
//!    record, no call that starts more than 100 ms later returns a token it
//!    knew before; and no instance hands out an access token issued before
//!    a logout that it learnt more than 100 ms after the logout ended. (An
//!    instance that has not touched the store since a logout by another one
//!    keeps its valid token until it next reads the store, at its refresh
//!    margin: nothing pushes a logout to it.)
//! 7. **A valid token never waits for a cache that is down** ([`served`]):
//!    every `get_access_token` that fails in a down window is checked
//!    against the access token the instance held (the one it read or wrote
//!    last through its cache; nothing after a record, or after it told a
//!    caller the login ended or `StoreRecovering`): issued at `i`, the
//!    library took it for valid until at least `floor(i in s) + expires_in`;
//!    a failure that ended before that (50 ms spare on either side) breaks
//!    it, unless that token's refresh token was refused before the call (the
//!    instance may have been the one refused, beside its callers: it then
//!    forgets the login, and its record of the refusal may not have reached
//!    a store that is down; the fake does not say who sent a request).
//! 8. **One code, one exchange** ([`double_exchange`]): every code reaches
//!    the token endpoint once, or again only after an answer the library
//!    saw fail (a fault other than a `Delay`/`DelayResponse` shorter than
//!    the timeout); the callers of one code get the same token (two
//!    successes at once, or a success then the same code again).
//!
//! Also: no actor panics, no call returns an error outside the expected
//! kinds (transport, 5xx, 429, rate limited, `ReauthorizationRequired`,
//! `NotAuthorized`, injected cache failures in faulty actors, and a lapsed
//! lock), every `close()` returns `Ok`, and the children exit cleanly.
//! There is no list of known library issues: every violation fails the
//! run. What the chaos found is in `findings.rs`, each as a small
//! deterministic test (ignored while the library issue is open).
//!
//! A failure prints the seed, the replay command, the plan and each
//! violation (with [`hints`]: the store faults whose window holds it, and
//! whether the refusal of its token could not be recorded; a hint excuses
//! nothing) with the history of the tokens involved (and the store
//! faults; with `CHAOS_VERBOSE=1`, every lineage, every login-ended error
//! and what each lapse excused; with `CHAOS_TRACE=dir`, every cache
//! operation of every actor, see [`trace`]). A seed replays the plan and the schedule
//! exactly; thread timing still differs between runs, so a seed that failed
//! once usually, not always, fails again.

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
pub mod hints;
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
pub mod trace;
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
    trace::install();
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
