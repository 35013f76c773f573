//! Assertions 1 and 2 (and no use after a logout), from the fake server's
//! records once the run is over; the failure message. The rules are in the
//! module documentation of `tests/chaos/mod.rs`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use spotify_auth::testing::{Delivery, FakeSpotify, Fault, IssuedRefreshToken};

use super::allowance::Allowances;
use super::hints::{Hints, unrecorded};
use super::ledger::Ledger;
use super::watcher::short;

/// One processed request carrying a refresh token.
#[derive(Clone, Debug)]
pub struct Use {
    /// When the fake processed it (its arrival, plus a `Delay`).
    pub at: Instant,
    /// When it arrived: the library sent it just before.
    pub sent: Instant,
    pub fault: Option<Fault>,
    /// Its answer could not reach the library.
    pub unheard: bool,
}

/// What the fake knows, arranged for the checks.
pub struct Records {
    pub tokens: Vec<IssuedRefreshToken>,
    /// Refresh token -> its processed uses, in processing order.
    pub uses: HashMap<String, Vec<Use>>,
    /// Refresh requests the fake did not process (a fault answered them).
    pub unprocessed: usize,
    /// Refresh requests with a token the fake never issued.
    pub unknown: Vec<String>,
}

impl Records {
    pub fn gather(server: &FakeSpotify, timeout: Duration) -> Records {
        let tokens = server.issued_refresh_tokens();
        let known: HashMap<&str, ()> = tokens.iter().map(|t| (t.token(), ())).collect();
        let mut uses: HashMap<String, Vec<Use>> = HashMap::new();
        let mut unprocessed = 0;
        let mut unknown = Vec::new();
        for request in server.requests() {
            if request.path != "/api/token"
                || request.form_param("grant_type") != Some("refresh_token")
            {
                continue;
            }
            let Some(token) = request.form_param("refresh_token") else {
                continue;
            };
            let (processed, delay, unheard) = match &request.fault {
                None => (true, Duration::ZERO, false),
                Some(Fault::Delay(d)) => (true, *d, *d >= timeout),
                Some(Fault::DelayResponse(d)) => (true, Duration::ZERO, *d >= timeout),
                Some(Fault::LoseResponse) => (true, Duration::ZERO, true),
                Some(_) => (false, Duration::ZERO, false),
            };
            if !processed {
                unprocessed += 1;
                continue;
            }
            if !known.contains_key(token) {
                unknown.push(short(token));
                continue;
            }
            uses.entry(token.to_owned()).or_default().push(Use {
                at: request.received_at + delay,
                sent: request.received_at,
                fault: request.fault.clone(),
                unheard,
            });
        }
        for list in uses.values_mut() {
            list.sort_by_key(|u| u.at);
        }
        Records {
            tokens,
            uses,
            unprocessed,
            unknown,
        }
    }

    pub fn uses_of(&self, token: &str) -> &[Use] {
        self.uses.get(token).map_or(&[], Vec::as_slice)
    }

    /// The token of `lineage` that was live at `at`, other than `except`:
    /// issued by then and not used yet.
    pub fn live_at(&self, lineage: &str, at: Instant, except: &str) -> Vec<&IssuedRefreshToken> {
        self.tokens
            .iter()
            .filter(|t| t.user_id() == lineage && t.token() != except && t.issued_at() <= at)
            .filter(|t| self.uses_of(t.token()).first().is_none_or(|u| u.at > at))
            .collect()
    }
}

/// Whether the library could have learnt a token (see the module docs).
pub fn received(token: &IssuedRefreshToken, timeout: Duration) -> bool {
    match token.delivery() {
        Delivery::Lost => false,
        Delivery::Delayed(d) => d < timeout,
        _ => true,
    }
}

/// The violations of assertions 1 and 2, and of "no use after a logout";
/// an extra use of a refresh token inside a lapse's window is excused by
/// that lapse (one each); one extra use of a token issued before a data
/// loss, inside its window, by the loss (a stale copy written back).
pub fn check(
    records: &Records,
    ledger: &Ledger,
    timeout: Duration,
    allowances: &mut Allowances,
    hints: &Hints,
) -> Vec<String> {
    let mut violations = Vec::new();
    for token in &records.unknown {
        violations.push(format!(
            "a refresh request carried {token}, which the fake never issued"
        ));
    }
    // The uses that break assertion 1 or 2 unless a lapse excuses them:
    // (when, token, use index, successor named by assertion 1).
    let mut suspects: Vec<(
        Instant,
        &IssuedRefreshToken,
        usize,
        Option<&IssuedRefreshToken>,
    )> = Vec::new();
    for token in &records.tokens {
        let uses = records.uses_of(token.token());
        if uses.len() != token.refresh_requests() {
            violations.push(format!(
                "harness: the fake counts {} processed uses of {}, the harness {}",
                token.refresh_requests(),
                short(token.token()),
                uses.len()
            ));
        }
        // After a logout, no token issued before it is sent (a request
        // sent before, and held at the fake, is processed after).
        if let Some(end) = ledger.abandoned_at(token.issued_at())
            && uses.iter().any(|u| u.sent > end)
        {
            violations.push(format!(
                "after a logout: refresh token {} ({}), issued before it, was sent again",
                short(token.token()),
                token.user_id()
            ));
        }
        // Assertion 2: beyond the first use and one per unheard use.
        let allowed = 1 + uses.iter().filter(|u| u.unheard).count();
        for (i, refusal) in uses.iter().enumerate().skip(1) {
            // Assertion 1: every use but the first was a refusal.
            let successor = records
                .live_at(token.user_id(), refusal.at, token.token())
                .into_iter()
                .find(|s| {
                    let abandoned = ledger
                        .abandoned_at(s.issued_at())
                        .is_some_and(|end| end <= refusal.at);
                    received(s, timeout) && !abandoned
                });
            if i >= allowed || successor.is_some() {
                suspects.push((refusal.at, token, i, successor));
            }
        }
    }
    suspects.sort_by_key(|(at, ..)| *at);
    // Per token, the last use a data loss excused (a stale copy): a copy
    // whose answer was lost is sent once more, like any unheard use.
    let mut stale_uses: BTreeMap<&str, usize> = BTreeMap::new();
    for (at, token, i, successor) in suspects {
        let uses = records.uses_of(token.token());
        let retry_of_stale =
            i > 0 && stale_uses.get(token.token()) == Some(&(i - 1)) && uses[i - 1].unheard;
        if retry_of_stale
            || allowances
                .stale_copy(at, token.token(), token.issued_at())
                .is_some()
        {
            stale_uses.insert(token.token(), i);
            continue;
        }
        if allowances.request(at, uses).is_some() {
            continue;
        }
        let unheard = uses.iter().filter(|u| u.unheard).count();
        let hint = format!("{}{}", hints.around(at), unrecorded(ledger, token.token()));
        if i > unheard {
            violations.push(format!(
                "assertion 2: refresh token {} ({}) was used {} times, {} of them unheard: \
                 more than once per expiry (use {} not excused by a lapse){hint}",
                short(token.token()),
                token.user_id(),
                uses.len(),
                unheard,
                i + 1
            ));
        }
        if let Some(successor) = successor {
            violations.push(format!(
                "assertion 1: refresh token {} ({}) was refused while the library had received \
                 its live successor {} ({:?}): the login ended while it could go on{hint}",
                short(token.token()),
                token.user_id(),
                short(successor.token()),
                successor.delivery()
            ));
        }
    }
    violations
}

/// The history of the lineages `violations` name, for the failure message:
/// each token with its issue time, delivery, status, uses and writes.
/// With `all`, every lineage.
pub fn history(
    records: &Records,
    ledger: &Ledger,
    start: Instant,
    violations: &[String],
    all: bool,
) -> String {
    let ms = |at: Instant| at.saturating_duration_since(start).as_millis();
    let mut lineages: BTreeMap<&str, Vec<&IssuedRefreshToken>> = BTreeMap::new();
    for token in &records.tokens {
        let named = violations
            .iter()
            .any(|v| v.contains(&format!("({})", token.user_id())));
        if named || all {
            lineages.entry(token.user_id()).or_default().push(token);
        }
    }
    let mut out = String::new();
    for (lineage, tokens) in lineages {
        let login = ledger.logins.iter().find(|l| l.lineage == lineage);
        let how = login.map_or(String::new(), |l| {
            let error = l
                .error
                .as_ref()
                .map(|e| format!(", failed: {e}"))
                .unwrap_or_default();
            format!(" ({} at {}ms{error})", l.how, ms(l.at))
        });
        let _ = writeln!(out, "  {lineage}{how}:");
        for token in tokens {
            let uses: Vec<String> = records
                .uses_of(token.token())
                .iter()
                .map(|u| {
                    let fault = u
                        .fault
                        .as_ref()
                        .map(|f| format!(" {f:?}"))
                        .unwrap_or_default();
                    let unheard = if u.unheard { " unheard" } else { "" };
                    format!("{}ms{fault}{unheard}", ms(u.at))
                })
                .collect();
            let writes: Vec<String> = ledger
                .writes
                .get(token.token())
                .map(|w| {
                    w.iter()
                        .map(|(actor, error)| match error {
                            None => format!("{actor}:ok"),
                            Some(e) if e.contains("injected") => {
                                format!("{actor}:FAILED(injected)")
                            }
                            Some(e) => format!("{actor}:FAILED({e})"),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let removals: Vec<String> = ledger
                .removal_failed
                .get(token.token())
                .map(|f| f.iter().map(|(actor, e)| format!("{actor}: {e}")).collect())
                .unwrap_or_default();
            let removals = if removals.is_empty() {
                String::new()
            } else {
                format!("; NOT REMOVED [{}]", removals.join(", "))
            };
            let readers: Vec<String> = ledger
                .readers
                .get(token.token())
                .map(|r| {
                    r.iter()
                        .map(|(actor, at)| format!("{actor}@{}", ms(*at)))
                        .collect()
                })
                .unwrap_or_default();
            let removals = if readers.is_empty() {
                removals
            } else {
                format!("{removals}; read [{}]", readers.join(", "))
            };
            let _ = writeln!(
                out,
                "    {} issued {}ms {:?} {:?}; used [{}]; written [{}]{removals}",
                short(token.token()),
                ms(token.issued_at()),
                token.delivery(),
                token.status(),
                uses.join(", "),
                writes.join(", ")
            );
        }
    }
    for logout in &ledger.logouts {
        let _ = writeln!(
            out,
            "  logout {}ms..{}ms",
            ms(logout.start),
            logout.end.map_or("?".to_owned(), |e| ms(e).to_string())
        );
    }
    for event in &ledger.store_events {
        let _ = writeln!(
            out,
            "  store fault: {} {}ms..{}ms",
            event.what,
            ms(event.start),
            ms(event.end)
        );
    }
    if all {
        for e in &ledger.ended {
            let _ = writeln!(
                out,
                "  {} told {} in a call {}ms..{}ms",
                e.actor,
                e.error,
                ms(e.start),
                ms(e.end)
            );
        }
    }
    out
}
