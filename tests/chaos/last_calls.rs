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
            if let Err(why) = issued_by_fake(server, &first) {
                ledger.violations.push(format!(
                    "assertion 4: round {round}: everyone has {}, which the fake refuses: {why}",
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

/// Whether `token` is an access token the fake issued and did not revoke:
/// live, or expired since the calls (the library returns a token only while
/// its own clock, in whole seconds, says it is valid; that can end between
/// the calls and this check). The fake's Web API tells the two refusals
/// apart.
fn issued_by_fake(server: &FakeSpotify, token: &str) -> Result<(), String> {
    if server.access_token_is_live(token) {
        return Ok(());
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(format!("{}/me", server.web_api_url()))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .map_err(|e| format!("the fake's Web API did not answer: {e}"))?;
    let body = response.body_mut().read_to_string().unwrap_or_default();
    if body.contains("The access token expired") {
        Ok(())
    } else {
        Err(body)
    }
}

#[cfg(test)]
mod tests {
    use spotify_auth::testing::FakeSpotify;
    use spotify_auth::{InMemoryTokenCache, TokenCache, TokenInfo};

    use super::super::auth::{Auth, Call, Outcome};
    use super::super::plan::Settings;
    use super::super::{ID, REDIRECT, SCOPE, SECRET};
    use super::issued_by_fake;
    use crate::common::Mode;

    /// The check takes a token the fake issued that has expired since, and
    /// refuses one it never issued.
    #[test]
    fn the_last_token_check_tells_expired_from_made_up() {
        let server = FakeSpotify::builder()
            .client(ID, Some(SECRET))
            .redirect_uri(REDIRECT)
            .expires_in(0)
            .start()
            .unwrap();
        let settings = Settings {
            timeout_ms: 5000,
            margin_secs: 0,
            max_retries: 0,
            backoff_ms: 0,
            lock_ttl_ms: 1000,
        };
        let cache = InMemoryTokenCache::new();
        cache
            .set(
                &TokenInfo::new("stale", 0)
                    .with_refresh_token(server.issue_refresh_token(ID, SCOPE)),
            )
            .unwrap();
        let mode = Mode::all()[0];
        let runtime = (mode.name() == "async").then(|| {
            std::sync::Arc::new(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap(),
            )
        });
        let auth = Auth::new(mode, server.url(), &settings, cache, runtime);
        let Outcome::Done(Ok(token)) = auth.call(Call::Get, None) else {
            panic!("a refresh with a live refresh token works");
        };
        assert!(!server.access_token_is_live(&token), "expires_in 0");
        assert_eq!(issued_by_fake(&server, &token), Ok(()));
        let made_up = issued_by_fake(&server, "BQmadeup");
        assert!(
            made_up
                .as_ref()
                .is_err_and(|e| e.contains("Invalid access token")),
            "{made_up:?}"
        );
    }
}
