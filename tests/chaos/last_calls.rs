//! Assertion 4: every thread's last `get_access_token` succeeds, and all
//! agree on one token the fake takes.

use std::time::Duration;

use spotify_auth::testing::FakeSpotify;

use super::ledger;
use super::pump::Pump;
use super::watcher::short;

/// The most the harness waits for the threads' last calls.
const PATIENCE: Duration = Duration::from_secs(30);

/// Last rounds made before giving up on an agreement.
const ROUNDS: u32 = 5;

/// Asks every thread (through `ask`) for a last call, in rounds, until one
/// round agrees; records violations in the ledger. Two different tokens can
/// both be valid for an instant around an expiry, hence the rounds; an
/// error in any round is a violation. Returns the round that agreed.
pub fn agree(
    threads: &[String],
    pump: &Pump,
    server: &FakeSpotify,
    mut ask: impl FnMut(u32),
) -> Option<u32> {
    for round in 1..=ROUNDS {
        ask(round);
        let answered = pump.until(PATIENCE, |l| {
            l.finals.get(&round).map_or(0, Vec::len) == threads.len()
        });
        let mut ledger = ledger::lock(&pump.ledger);
        let results = ledger.finals.get(&round).cloned().unwrap_or_default();
        if !answered {
            let missing: Vec<&String> = threads
                .iter()
                .filter(|t| !results.iter().any(|(r, _)| r == *t))
                .collect();
            ledger.violations.push(format!(
                "assertion 4: round {round}: no last call from {missing:?} in {PATIENCE:?}"
            ));
            return None;
        }
        let errors: Vec<String> = results
            .iter()
            .filter_map(|(thread, r)| r.as_ref().err().map(|e| format!("{thread}: {e}")))
            .collect();
        if !errors.is_empty() {
            ledger.violations.push(format!(
                "assertion 4: round {round}: last calls failed: {errors:?}"
            ));
            return None;
        }
        let first = results[0].1.clone().unwrap();
        if results.iter().all(|(_, r)| *r.as_ref().unwrap() == first) {
            if !server.access_token_is_live(&first) {
                ledger.violations.push(format!(
                    "assertion 4: round {round}: everyone has {}, which the fake does not \
                     take",
                    short(&first)
                ));
            }
            return Some(round);
        }
        if round == ROUNDS {
            let tokens: Vec<String> = results
                .iter()
                .map(|(thread, r)| format!("{thread}: {}", short(r.as_ref().unwrap())))
                .collect();
            ledger.violations.push(format!(
                "assertion 4: the sharers of the cache never agreed on a token in {ROUNDS} \
                 rounds; the last: {tokens:?}"
            ));
        }
        drop(ledger);
        std::thread::sleep(Duration::from_millis(100 + 100 * u64::from(round)));
    }
    None
}
