//! The end of a scenario: the verdict (the assertions' violations, known
//! library issues apart), the counts, and the failure message.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use spotify_auth::testing::{FakeSpotify, Fault};

use super::ledger::{self, Ledger};
use super::plan::Plan;
use super::verdict;
use super::watcher;

/// When each phase of a scenario began.
pub struct Times {
    pub began: Instant,
    /// The actors' start: the reference of every time in messages.
    pub start: Instant,
    pub settled: Instant,
    pub settle_end: Instant,
    pub finals_done: Instant,
    pub stopped: Instant,
}

/// Checks everything recorded; prints the counts when all holds, panics
/// with the seed, the replay command and every violation otherwise.
pub fn conclude(
    plan: &Plan,
    server: &FakeSpotify,
    ledger: &ledger::Shared,
    watched: &watcher::Watched,
    agreement: Option<u32>,
    times: &Times,
) {
    let (seed, start) = (plan.seed, times.start);
    let timeout = plan.settings.timeout();
    let records = verdict::Records::gather(server, timeout);
    let ledger = ledger::lock(ledger);
    let mut violations = ledger.violations.clone();
    let mut known = Vec::new();
    let strict = std::env::var_os("CHAOS_STRICT").is_some();
    for v in verdict::check(&records, &ledger, timeout) {
        match v.known {
            Some(issue) if !strict => {
                known.push(format!("{} [known library issue: {issue}]", v.text))
            }
            Some(issue) => violations.push(format!("{} [known library issue: {issue}]", v.text)),
            None => violations.push(v.text),
        }
    }
    violations.extend(ledger.unexpected.iter().map(|u| format!("unexpected: {u}")));
    let mut summary = summary(
        &records,
        &ledger,
        watched,
        server,
        agreement,
        times.settled - start,
        Duration::from_millis(plan.settings.lock_ttl_ms),
    );
    let _ = write!(
        summary,
        "\n  time: start {:.1} s, chaos {:.1} s, settle {:.1} s, last calls {:.1} s, stop {:.1} s",
        (start - times.began).as_secs_f64(),
        (times.settled - start).as_secs_f64(),
        (times.settle_end - times.settled).as_secs_f64(),
        (times.finals_done - times.settle_end).as_secs_f64(),
        (times.stopped - times.finals_done).as_secs_f64(),
    );
    if !known.is_empty() {
        let _ = write!(
            summary,
            "\n  KNOWN LIBRARY ISSUE: {} violation(s) of assertions 1-2 are instances of a \
             known library issue (CHAOS_STRICT=1 fails on them):",
            known.len()
        );
        for k in known.iter().take(10) {
            let _ = write!(summary, "\n  - {k}");
        }
        if known.len() > 10 {
            let _ = write!(summary, "\n  - ... ({} more)", known.len() - 10);
        }
    }
    let verbose = std::env::var_os("CHAOS_VERBOSE").is_some();
    if verbose {
        eprintln!(
            "history (ms from the start):\n{}",
            verdict::history(&records, &ledger, start, &violations, true)
        );
    }
    if violations.is_empty() {
        eprintln!(
            "chaos {}: seed {seed} passed\n{summary}",
            plan.storage.name()
        );
        return;
    }
    let mut message = format!(
        "chaos {}: seed {seed} FAILED: {} violation(s)\n  replay: {}\n{plan}\n",
        plan.storage.name(),
        violations.len(),
        plan.replay()
    );
    for v in &violations {
        let _ = writeln!(message, "- {v}");
    }
    let _ = write!(
        message,
        "history (ms from the start):\n{}{summary}\n  seed {seed}, replay: {}",
        verdict::history(&records, &ledger, start, &violations, false),
        plan.replay()
    );
    panic!("{message}");
}

/// The counts of a run.
fn summary(
    records: &verdict::Records,
    ledger: &Ledger,
    watched: &watcher::Watched,
    server: &FakeSpotify,
    agreement: Option<u32>,
    chaos: Duration,
    lock_ttl: Duration,
) -> String {
    let uses: usize = records.uses.values().map(Vec::len).sum();
    let unheard: usize = records
        .uses
        .values()
        .flatten()
        .filter(|u| u.unheard)
        .count();
    let failed_logins = ledger.logins.iter().filter(|l| l.error.is_some()).count();
    let slow = records
        .uses
        .values()
        .flatten()
        .filter(|u| match u.fault {
            Some(Fault::Delay(d) | Fault::DelayResponse(d)) => d > lock_ttl,
            _ => false,
        })
        .count();
    let failed_writes: usize = ledger
        .writes
        .values()
        .flatten()
        .filter(|(_, error)| error.is_some())
        .count();
    let s = &ledger.stats;
    format!(
        "  {:.1} s of chaos: {} token requests, {} refresh tokens issued, {} processed refreshes \
         ({} unheard), {} refreshes answered by a fault, {} faults injected; {} logins ({} failed), \
         {} logouts, {} relogin requests, {} failed cache writes, {} refreshes slower than the \
         lock TTL\n  \
         calls {} (ok {}, forced {}, cancelled {}, ReauthorizationRequired {}, NotAuthorized {}, \
         transient {}, cache errors {}, with an unsaved token {})\n  \
         watcher: {} reads, {} changes, {} without a token; last calls agreed in round {:?}",
        chaos.as_secs_f64(),
        server.token_request_count(),
        records.tokens.len(),
        uses,
        unheard,
        records.unprocessed,
        ledger.faults_injected,
        ledger.logins.len(),
        failed_logins,
        ledger.logouts.len(),
        ledger.relogin_requests,
        failed_writes,
        slow,
        s.calls,
        s.ok,
        s.forced,
        s.cancelled,
        s.reauthorization_required,
        s.not_authorized,
        s.transient,
        s.cache_errors,
        s.unsaved_seen,
        watched.reads,
        watched.changes,
        watched.missing,
        agreement
    )
}
