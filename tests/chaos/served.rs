//! Assertions 6 and 7, from what the instances handed out: nothing after a
//! logout, and a valid token while the cache is down.

use std::time::{Duration, Instant};

use spotify_auth::testing::FakeSpotify;

use super::ledger::Ledger;
use super::watcher::short;

/// How long after an instance read a logout record a call may still start
/// on a token it already held in memory (the read and the forgetting are
/// steps of one refresh; the call may have read the token in between).
const SLACK: Duration = Duration::from_millis(100);

/// Assertion 6: once an instance has read a logout record, no call that
/// starts after that returns a token it knew before; and no instance
/// hands out an access token issued before a logout that it learnt only
/// after the logout ended.
pub fn after_logouts(server: &FakeSpotify, ledger: &Ledger, start: Instant) -> Vec<String> {
    let ms = |at: Instant| at.saturating_duration_since(start).as_millis();
    let mut violations = Vec::new();
    for (instance, read_at) in &ledger.logouts_seen {
        for served in ledger.served.iter().filter(|s| &s.actor == instance) {
            if served.known < *read_at && served.last > *read_at + SLACK {
                violations.push(format!(
                    "assertion 6: {instance} read a logout record at {}ms, then handed out \
                     access token {} it had known since {}ms, in calls from {}ms to {}ms",
                    ms(*read_at),
                    short(&served.token),
                    ms(served.known),
                    ms(served.first),
                    ms(served.last)
                ));
            }
        }
    }
    for logout in &ledger.logouts {
        let Some(end) = logout.end else { continue };
        for served in &ledger.served {
            let Some(issued) = server.access_token_issued_at(&served.token) else {
                continue;
            };
            if issued < logout.start && served.known > end + SLACK {
                violations.push(format!(
                    "assertion 6: {} learnt access token {} (issued at {}ms, before the logout \
                     of {}ms..{}ms) at {}ms, after the logout, and handed it out until {}ms",
                    served.actor,
                    short(&served.token),
                    ms(issued),
                    ms(logout.start),
                    ms(end),
                    ms(served.known),
                    ms(served.last)
                ));
            }
        }
    }
    violations
}

/// Assertion 7: a call that failed while the actor's cache was down had a
/// valid token to return: the access token the instance held was issued
/// at `i`, so the library took it for valid until at least
/// `floor(i in s) + expires_in` (it counts whole seconds from its own
/// receipt, which is later); the call ended before that (50 ms spare on
/// either side).
pub fn cache_down(
    server: &FakeSpotify,
    records: &super::verdict::Records,
    ledger: &Ledger,
    expires_in: u64,
    start: Instant,
) -> Vec<String> {
    let ms = |at: Instant| at.saturating_duration_since(start).as_millis();
    let mut violations = Vec::new();
    for error in &ledger.down_errors {
        let Some(token) = &error.last_token else {
            continue;
        };
        let Some(issued) = server.access_token_issued_at(token) else {
            continue;
        };
        // Its refresh token was refused before the call (a use after the
        // first): this instance may have been the one refused, in a
        // request beside its callers, which then forgot the login (its
        // record of the refusal may not have reached the store).
        let refused_before = error.last_refresh.as_ref().is_some_and(|r| {
            records
                .uses_of(r)
                .iter()
                .skip(1)
                .any(|u| u.at <= error.start)
        });
        if refused_before {
            continue;
        }
        let issued_ms = ledger.clock.unix_ms(issued).saturating_sub(50);
        let valid_until_s = issued_ms / 1000 + expires_in;
        let ended_ms = ledger.clock.unix_ms(error.end) + 50;
        if ended_ms / 1000 < valid_until_s {
            violations.push(format!(
                "assertion 7: {} got an error while its cache was down and its token {} \
                 (issued at {}ms) was valid: {} (call {}ms..{}ms)",
                error.actor,
                short(token),
                ms(issued),
                error.error,
                ms(error.start),
                ms(error.end)
            ));
        }
    }
    violations
}
