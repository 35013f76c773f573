//! What the harness learns while a scenario runs, for the verdict.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::clock::Clock;
use super::report::{Report, Stats};

/// A login the coordinator made.
#[derive(Clone, Debug)]
pub struct Login {
    /// The fake's user id of the login: every token of it carries it.
    pub lineage: String,
    pub at: Instant,
    /// `minted` or `exchange`.
    pub how: &'static str,
    /// The error, when the attempt failed (the coordinator tries again with
    /// a new lineage).
    pub error: Option<String>,
}

/// A logout the coordinator made.
#[derive(Clone, Copy, Debug)]
pub struct Logout {
    pub start: Instant,
    /// `None` while it runs.
    pub end: Option<Instant>,
}

/// A fault of the shared store (see `store_faults`).
#[derive(Clone, Debug)]
pub struct StoreEvent {
    pub what: &'static str,
    pub start: Instant,
    pub end: Instant,
    /// The store's data was lost.
    pub loss: bool,
    /// The lock's lease may have lapsed.
    pub lapse: bool,
}

/// A call told that the login ended (or that the store's lock lapsed).
#[derive(Clone, Debug)]
pub struct Ended {
    pub actor: String,
    pub start: Instant,
    pub end: Instant,
    pub error: String,
}

/// A token an instance handed out (see `Report::Served`).
#[derive(Clone, Debug)]
pub struct Served {
    pub actor: String,
    pub token: String,
    pub first: Instant,
    pub last: Instant,
    pub known: Instant,
}

/// A call that failed while the actor's cache was down.
#[derive(Clone, Debug)]
pub struct DownError {
    pub actor: String,
    pub start: Instant,
    pub end: Instant,
    pub last_token: Option<String>,
    /// Its refresh token.
    pub last_refresh: Option<String>,
    pub error: String,
}

/// A thread's last call: its name, and the token or the error.
pub type Answer = (String, Result<String, String>);

/// Everything recorded during a scenario.
#[derive(Default)]
pub struct Ledger {
    pub logins: Vec<Login>,
    pub logouts: Vec<Logout>,
    /// Refresh token -> every `set` of it: (actor, its error if it failed).
    pub writes: HashMap<String, Vec<(String, Option<String>)>>,
    /// Refresh token -> the failed checks or removals of it once refused:
    /// (actor, error).
    pub removal_failed: HashMap<String, Vec<(String, String)>>,
    /// Rounds of last calls: round -> each thread's answer.
    pub finals: HashMap<u32, Vec<Answer>>,
    pub unexpected: Vec<String>,
    /// Assertion 3 (the watcher) and 4 (the last calls), and anything else
    /// seen while running.
    pub violations: Vec<String>,
    pub stats: Stats,
    pub relogin_requests: u64,
    pub faults_injected: usize,
    /// Exchange logins whose code was exchanged more than once.
    pub doubled_exchanges: usize,
    pub ready: usize,
    /// Converts the children's Unix times.
    pub clock: Clock,
    pub store_events: Vec<StoreEvent>,
    /// Each token the watcher found in the store, when it first did: (seen
    /// at, its refresh token's issue time). A data loss's store is
    /// repaired once it holds a token issued after the loss.
    pub store_tokens: Vec<(Instant, Instant)>,
    /// Refresh token -> when an instance first read it from the store.
    pub first_read: HashMap<String, Instant>,
    /// Refresh token -> each instance that read it from the store, and when
    /// it first did (for the history of a violation: who could send it).
    pub readers: HashMap<String, Vec<(String, Instant)>>,
    pub ended: Vec<Ended>,
    /// Calls that failed because the store's lock lapsed.
    pub lapse_errors: Vec<Ended>,
    pub served: Vec<Served>,
    /// Instance -> when it read a logout record (each record once).
    pub logouts_seen: Vec<(String, Instant)>,
    pub down_errors: Vec<DownError>,
    /// Instance closed: what `close()` returned, and how long it took.
    pub closes: Vec<(String, Result<(), String>, u64)>,
}

impl Ledger {
    /// Records a report (not `Relogin`: the caller routes it).
    pub fn record(&mut self, report: Report) {
        match report {
            Report::Ready { .. } => self.ready += 1,
            Report::Relogin { .. } => self.relogin_requests += 1,
            Report::Write {
                actor,
                refresh,
                error,
            } => self.writes.entry(refresh).or_default().push((actor, error)),
            Report::RemovalFailed {
                actor,
                refresh,
                error,
            } => self
                .removal_failed
                .entry(refresh)
                .or_default()
                .push((actor, error)),
            Report::Final {
                round,
                thread,
                result,
            } => self.finals.entry(round).or_default().push((thread, result)),
            // The coordinator's own instance is not an actor.
            Report::Read { actor, .. } if actor == "coordinator" => {}
            Report::Read {
                actor,
                refresh,
                at_ms,
            } => {
                let at = self.clock.instant(at_ms);
                self.readers
                    .entry(refresh.clone())
                    .or_default()
                    .push((actor, at));
                let first = self.first_read.entry(refresh).or_insert(at);
                *first = (*first).min(at);
            }
            Report::Ended {
                actor,
                start_ms,
                end_ms,
                error,
            } => self.ended.push(Ended {
                actor,
                start: self.clock.instant(start_ms),
                end: self.clock.instant(end_ms),
                error,
            }),
            Report::LapseError {
                actor,
                start_ms,
                end_ms,
                error,
            } => self.lapse_errors.push(Ended {
                actor,
                start: self.clock.instant(start_ms),
                end: self.clock.instant(end_ms),
                error,
            }),
            Report::Served {
                actor,
                token,
                first_ms,
                last_ms,
                known_ms,
            } => self.served.push(Served {
                actor,
                token,
                first: self.clock.instant(first_ms),
                last: self.clock.instant(last_ms),
                known: self.clock.instant(known_ms),
            }),
            Report::LogoutSeen { actor, at_ms } => {
                let at = self.clock.instant(at_ms);
                self.logouts_seen.push((actor, at));
            }
            Report::DownError {
                actor,
                start_ms,
                end_ms,
                last_token,
                last_refresh,
                error,
            } => self.down_errors.push(DownError {
                actor,
                start: self.clock.instant(start_ms),
                end: self.clock.instant(end_ms),
                last_token,
                last_refresh,
                error,
            }),
            Report::Closed {
                actor,
                result,
                waited_ms,
            } => self.closes.push((actor, result, waited_ms)),
            Report::Unexpected { actor, what } => self.unexpected.push(format!("{actor}: {what}")),
            Report::Stats { stats, .. } => self.stats.add(&stats),
        }
    }

    /// When `token` (issued at `issued_at`) was abandoned by a logout: the
    /// end of the first logout that ended after it was issued. `None` if no
    /// logout has ended since.
    pub fn abandoned_at(&self, issued_at: Instant) -> Option<Instant> {
        self.logouts
            .iter()
            .filter_map(|l| l.end)
            .filter(|end| issued_at < *end)
            .min()
    }
}

/// The ledger, shared between the harness's threads.
pub type Shared = Arc<Mutex<Ledger>>;

pub fn lock(ledger: &Shared) -> MutexGuard<'_, Ledger> {
    ledger.lock().unwrap_or_else(|p| p.into_inner())
}
