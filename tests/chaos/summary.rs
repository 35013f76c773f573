//! The end of a scenario: the verdict (every assertion's violations), the
//! counts, and the failure message.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use spotify_auth::testing::{FakeSpotify, Fault};

use super::allowance::Allowances;
use super::hints::Hints;
use super::ledger::{self, Ledger};
use super::plan::Plan;
use super::watcher;
use super::{double_exchange, ended, served, verdict};

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
    let s = &plan.settings;
    let window = Duration::from_millis(
        plan.expires_in * 1000 + s.timeout_ms * (u64::from(s.max_retries) + 2),
    );
    let mut allowances = Allowances::new(&ledger.store_events, &ledger.store_tokens, window);
    let hints = Hints::new(&ledger.store_events, &ledger.store_tokens, window, start);
    violations.extend(verdict::check(
        &records,
        &ledger,
        timeout,
        &mut allowances,
        &hints,
    ));
    violations.extend(ended::check(
        &records,
        &ledger,
        timeout,
        &mut allowances,
        &hints,
        start,
    ));
    violations.extend(ended::lapse_errors(&ledger, &mut allowances, start));
    violations.extend(served::after_logouts(server, &ledger, start));
    violations.extend(served::cache_down(
        server,
        &records,
        &ledger,
        plan.expires_in,
        start,
    ));
    violations.extend(double_exchange::check(server, timeout));
    for (instance, result, waited_ms) in &ledger.closes {
        if let Err(e) = result {
            violations.push(format!(
                "close(): {instance} was closed with an error after {waited_ms} ms: {e}"
            ));
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
    let (lapses, lapse_requests, lapse_instances) = allowances.counts();
    let kinds = ["file removed", "FLUSHALL", "token key evicted"];
    let losses = ledger
        .store_events
        .iter()
        .filter(|e| kinds.contains(&e.what))
        .count();
    let _ = write!(
        summary,
        "\n  store: {losses} data losses, {lapses} lapses ({lapse_requests} excused an extra \
         request, {lapse_instances} an instance's errors); {} instances closed ({} rebuilt); \
         {} calls while a cache was down ({} failed); {} tokens handed out, {} logout records \
         read; {} login-ended errors; {} codes exchanged more than once",
        ledger.closes.len(),
        ledger.stats.rebuilt,
        ledger.stats.down_calls,
        ledger.stats.down_errors,
        ledger.served.len(),
        ledger.logouts_seen.len(),
        ledger.ended.len(),
        ledger.doubled_exchanges,
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
    let verbose = std::env::var_os("CHAOS_VERBOSE").is_some();
    if verbose {
        eprintln!(
            "history (ms from the start):\n{}",
            verdict::history(&records, &ledger, start, &violations, true)
        );
        for (at, what) in &allowances.excused {
            eprintln!(
                "  excused at {}ms: {what}",
                at.saturating_duration_since(start).as_millis()
            );
        }
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
