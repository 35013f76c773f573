//! Triage hints on violations: the store faults whose window holds the
//! moment a violation names. A hint excuses nothing; it says where to look
//! (and which finding of `findings.rs` a violation is likely an instance
//! of).

use std::time::{Duration, Instant};

use super::ledger::{Ledger, StoreEvent};

/// The store faults of a run, and how long after one its effects may last.
pub struct Hints<'a> {
    events: &'a [StoreEvent],
    /// When the watcher first saw each token in the store, and when that
    /// token was issued.
    store_tokens: &'a [(Instant, Instant)],
    window: Duration,
    start: Instant,
}

impl<'a> Hints<'a> {
    pub fn new(
        events: &'a [StoreEvent],
        store_tokens: &'a [(Instant, Instant)],
        window: Duration,
        start: Instant,
    ) -> Hints<'a> {
        Hints {
            events,
            store_tokens,
            window,
            start,
        }
    }

    /// ` [after: FLUSHALL at 5803ms, ...]` for the store faults whose window
    /// holds `at`, and ` [last data loss: ... at 5803ms, store repaired at
    /// 6012ms]` (or `not repaired by then`) for the last loss before `at`;
    /// empty when there is neither.
    pub fn around(&self, at: Instant) -> String {
        let ms = |t: Instant| t.saturating_duration_since(self.start).as_millis();
        let near: Vec<String> = self
            .events
            .iter()
            .filter(|e| e.start <= at && at <= e.end + self.window)
            .map(|e| format!("{} at {}ms", e.what, ms(e.start)))
            .collect();
        let mut hint = if near.is_empty() {
            String::new()
        } else {
            format!(" [after: {}]", near.join(", "))
        };
        let last_loss = self
            .events
            .iter()
            .filter(|e| e.loss && e.start <= at)
            .max_by_key(|e| e.start);
        if let Some(loss) = last_loss {
            let repaired = self
                .store_tokens
                .iter()
                .filter(|(seen, issued)| *issued > loss.start && *seen >= loss.start)
                .map(|(seen, _)| *seen)
                .min()
                .filter(|seen| *seen <= at);
            let repaired = match repaired {
                Some(seen) => format!("store repaired at {}ms", ms(seen)),
                None => "store not repaired by then".to_owned(),
            };
            hint.push_str(&format!(
                " [last data loss: {} at {}ms, {repaired}]",
                loss.what,
                ms(loss.start)
            ));
        }
        hint
    }
}

/// ` [its refusal could not be recorded: ...]` when an instance that read
/// `token` under the lock then failed to read or write the store (the
/// record of a refusal); empty otherwise.
pub fn unrecorded(ledger: &Ledger, token: &str) -> String {
    match ledger.removal_failed.get(token).and_then(|f| f.first()) {
        Some((actor, error)) => {
            format!(" [its refusal could not be recorded: {actor}: {error}]")
        }
        None => String::new(),
    }
}
