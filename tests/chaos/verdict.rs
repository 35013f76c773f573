//! Assertions 1 and 2 (and no use after a logout), from the fake server's
//! records once the run is over; the failure message. The rules are in the
//! module documentation of `tests/chaos/mod.rs`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use spotify_auth::testing::{Delivery, FakeSpotify, Fault, IssuedRefreshToken};

use super::ledger::Ledger;
use super::watcher::short;

/// One processed request carrying a refresh token.
#[derive(Clone, Debug)]
pub struct Use {
    /// When the fake processed it (its arrival, plus a `Delay`).
    pub at: Instant,
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

    fn uses_of(&self, token: &str) -> &[Use] {
        self.uses.get(token).map_or(&[], Vec::as_slice)
    }

    /// The token that `token`'s first use issued: the next of its lineage.
    fn successor(&self, token: &IssuedRefreshToken) -> Option<&IssuedRefreshToken> {
        self.tokens
            .iter()
            .filter(|t| t.user_id() == token.user_id() && t.issued_at() > token.issued_at())
            .min_by_key(|t| t.issued_at())
    }

    /// The token of `lineage` that was live at `at`, other than `except`:
    /// issued by then and not used yet.
    fn live_at(&self, lineage: &str, at: Instant, except: &str) -> Vec<&IssuedRefreshToken> {
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

/// A broken rule.
pub struct Violation {
    pub text: String,
    /// The known library issue it is an instance of, if any.
    pub known: Option<&'static str>,
}

impl Violation {
    fn new(text: String) -> Violation {
        Violation { text, known: None }
    }
}

/// The known library issue a violation can be an instance of: a token the
/// library received and adopted never reached the cache because every
/// write of it failed (`FaultyCache`), and a sharer then spent its
/// predecessor, ending the login. The deterministic test
/// `chaos::findings::*_a_failed_write_does_not_end_the_login` shows it
/// alone.
pub const FAILED_WRITE: &str = "a failed cache write lets a sharer spend the refresh token it \
     replaced (tests/chaos/findings.rs)";

/// The other known library issue: Spotify refused a token and the
/// library heard it, but its cache failed while checking or removing the
/// token (`FaultyCache`): the caller gets the cache's error instead of
/// `ReauthorizationRequired`, and the dead token stays in the cache for a
/// sharer to send again. `chaos::findings::*_a_refused_token_is_not_sent_again`.
pub const FAILED_REMOVAL: &str = "a failed cache read or clear after a refusal leaves the \
     refused token for a sharer to send again (tests/chaos/findings.rs)";

/// Whether some actor could not check or remove `token` after it was
/// refused, because its cache failed on purpose.
fn removal_failed(ledger: &Ledger, token: &str) -> bool {
    ledger
        .removal_failed
        .get(token)
        .is_some_and(|failures| failures.iter().any(|(_, e)| e.contains("injected failure")))
}

/// Whether `token` was received by an actor that could not store it: it
/// was written, and every write of it failed on purpose.
fn lost_to_failed_write(ledger: &Ledger, token: &str) -> bool {
    ledger.writes.get(token).is_some_and(|writes| {
        writes
            .iter()
            .all(|(_, e)| e.as_ref().is_some_and(|e| e.contains("injected failure")))
    })
}

/// The violations of assertions 1 and 2, and of "no use after a logout".
pub fn check(records: &Records, ledger: &Ledger, timeout: Duration) -> Vec<Violation> {
    let mut violations = Vec::new();
    for token in &records.unknown {
        violations.push(Violation::new(format!(
            "a refresh request carried {token}, which the fake never issued"
        )));
    }
    for token in &records.tokens {
        let uses = records.uses_of(token.token());
        if uses.len() != token.refresh_requests() {
            violations.push(Violation::new(format!(
                "harness: the fake counts {} processed uses of {}, the harness {}",
                token.refresh_requests(),
                short(token.token()),
                uses.len()
            )));
        }
        // Assertion 2.
        let unheard = uses.iter().filter(|u| u.unheard).count();
        if uses.len() > 1 + unheard {
            let successor = records.successor(token);
            let unstored = successor
                .is_some_and(|s| received(s, timeout) && lost_to_failed_write(ledger, s.token()));
            let known = if unstored {
                Some(FAILED_WRITE)
            } else if removal_failed(ledger, token.token()) {
                Some(FAILED_REMOVAL)
            } else {
                None
            };
            violations.push(Violation {
                text: format!(
                    "assertion 2: refresh token {} ({}) was used {} times, {} of them unheard: \
                     more than once per expiry",
                    short(token.token()),
                    token.user_id(),
                    uses.len(),
                    unheard
                ),
                known,
            });
        }
        // After a logout, no token issued before it is used.
        if let Some(end) = ledger.abandoned_at(token.issued_at())
            && uses.iter().any(|u| u.at > end)
        {
            violations.push(Violation::new(format!(
                "after a logout: refresh token {} ({}), issued before it, was used again",
                short(token.token()),
                token.user_id()
            )));
        }
        // Assertion 1: every use but the first was a refusal.
        for refusal in uses.iter().skip(1) {
            let live = records.live_at(token.user_id(), refusal.at, token.token());
            for successor in live {
                let abandoned = ledger
                    .abandoned_at(successor.issued_at())
                    .is_some_and(|end| end <= refusal.at);
                if received(successor, timeout) && !abandoned {
                    let known = lost_to_failed_write(ledger, successor.token());
                    violations.push(Violation {
                        text: format!(
                            "assertion 1: refresh token {} ({}) was refused while the library \
                             had received its live successor {} ({:?}): the login ended while \
                             it could go on",
                            short(token.token()),
                            token.user_id(),
                            short(successor.token()),
                            successor.delivery()
                        ),
                        known: known.then_some(FAILED_WRITE),
                    });
                }
            }
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
    out
}
