//! Assertion 5: no caller is told that the login ended
//! (`ReauthorizationRequired`, `NotAuthorized`) while Spotify (the fake)
//! honours a refresh token of the current login that the library had
//! received by the end of the call, and no logout was made; a lapse
//! excuses the errors of one instance.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use spotify_auth::testing::{Delivery, IssuedRefreshToken};

use super::allowance::Allowances;
use super::hints::Hints;
use super::ledger::Ledger;
use super::verdict::{Records, received};
use super::watcher::short;

/// When an actor had `token` at the latest: the login's own token once an
/// actor read it from the store; a refreshed one once its answer arrived
/// (a few ms after the fake issued it).
fn received_at(
    records: &Records,
    ledger: &Ledger,
    token: &IssuedRefreshToken,
    timeout: Duration,
) -> Option<Instant> {
    let first_of_login = records
        .tokens
        .iter()
        .filter(|t| t.user_id() == token.user_id())
        .map(IssuedRefreshToken::issued_at)
        .min()
        == Some(token.issued_at());
    if first_of_login {
        return ledger.first_read.get(token.token()).copied();
    }
    if !received(token, timeout) {
        return None;
    }
    let late = match token.delivery() {
        Delivery::Delayed(d) => d,
        _ => Duration::ZERO,
    };
    Some(token.issued_at() + late + Duration::from_millis(50))
}

/// The violations of assertion 5, one line per instance and token.
pub fn check(
    records: &Records,
    ledger: &Ledger,
    timeout: Duration,
    allowances: &mut Allowances,
    hints: &Hints,
    start: Instant,
) -> Vec<String> {
    let ms = |at: Instant| at.saturating_duration_since(start).as_millis();
    let mut errors = ledger.ended.clone();
    errors.sort_by_key(|e| e.start);
    // (instance, live token) -> the errors, as text, and when the first
    // one ended.
    let mut found: BTreeMap<(String, String), (Vec<String>, Instant)> = BTreeMap::new();
    for error in &errors {
        let Some(login) = ledger
            .logins
            .iter()
            .filter(|l| l.error.is_none() && l.at <= error.start)
            .max_by_key(|l| l.at)
        else {
            continue;
        };
        // A later login made during the call supersedes it: the library
        // drops an older login for the one in the store, and the call may
        // have decided from either.
        if ledger
            .logins
            .iter()
            .any(|l| l.error.is_none() && l.at > login.at && l.at <= error.end)
        {
            continue;
        }
        // Received by the end of the call, and still live then (a token
        // the call itself spent, its successor lost, is not).
        let live = records.tokens.iter().find(|t| {
            t.user_id() == login.lineage
                && received_at(records, ledger, t, timeout).is_some_and(|r| r <= error.end)
                && records
                    .uses_of(t.token())
                    .first()
                    .is_none_or(|u| u.at > error.end)
                && !ledger
                    .logouts
                    .iter()
                    .any(|l| l.start < error.end && l.end.is_none_or(|end| end > t.issued_at()))
        });
        let Some(live) = live else {
            continue;
        };
        // An instance holding no login that finds the store emptied by a
        // data loss cannot tell it from a store never written: "no login
        // here" (`NotAuthorized`) is its answer until a holder writes the
        // login back (one holding a login writes it back itself, and a
        // refused copy is `StoreRecovering`, never this).
        // (Whenever during the call the loss struck: it may have read the
        // emptied store at its end.)
        if error.error == "NotAuthorized"
            && (allowances.loss_holds(error.start).is_some()
                || allowances.loss_holds(error.end).is_some())
        {
            continue;
        }
        if allowances.error(&error.actor, error.end).is_some() {
            continue;
        }
        found
            .entry((error.actor.clone(), live.token().to_owned()))
            .or_insert_with(|| (Vec::new(), error.end))
            .0
            .push(format!("{} at {}ms", error.error, ms(error.start)));
    }
    found
        .into_iter()
        .map(|((actor, token), (told, first_end))| {
            let mut line = format!(
                "assertion 5: {actor} was told the login ended while refresh token {} ({}), \
                 received by the library, was live and no logout was made:",
                short(&token),
                records
                    .tokens
                    .iter()
                    .find(|t| t.token() == token)
                    .map_or("?", |t| t.user_id())
            );
            for t in told.iter().take(3) {
                let _ = write!(line, " {t};");
            }
            if told.len() > 3 {
                let _ = write!(line, " ({} more)", told.len() - 3);
            }
            line.push_str(&hints.around(first_end));
            line
        })
        .collect()
}

/// The errors of calls whose store lock lapsed: each must be a lapse's
/// one instance.
pub fn lapse_errors(ledger: &Ledger, allowances: &mut Allowances, start: Instant) -> Vec<String> {
    let ms = |at: Instant| at.saturating_duration_since(start).as_millis();
    let mut errors = ledger.lapse_errors.clone();
    errors.sort_by_key(|e| e.start);
    errors
        .into_iter()
        .filter(|e| allowances.error(&e.actor, e.end).is_none())
        .map(|e| {
            format!(
                "a lapse's error beyond its allowance: {} at {}ms: {}",
                e.actor,
                ms(e.start),
                e.error
            )
        })
        .collect()
}
