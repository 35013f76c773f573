//! What the harness learns while a scenario runs, for the verdict.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

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
    pub ready: usize,
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
