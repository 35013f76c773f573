//! What a lapsed lease may cost (the rules are in `tests/chaos/mod.rs`):
//! each store fault that may have let the lock lapse (a lock key deleted,
//! a holder paused past the TTL, a `FLUSHALL`) excuses, within its window,
//! at most one extra request of a refresh token that was in flight during
//! the lapse, and the errors of one instance. Each data loss excuses,
//! within its window, one extra request of each refresh token issued
//! before it: the stale copy an instance wrote back to the emptied store
//! and sent, as nobody can tell a stale copy from the live one (each copy
//! is sent once at most per loss: the library names the refused ones in
//! the store, and a loss wipes those names too). A loss's window lasts
//! until the store is repaired (holds a token issued after the loss; an
//! instance holding a stale copy then adopts that token instead), plus
//! the lapse window: an instance that consults the store late (its cache
//! was down, its calls failed) still finds it recovering, and writes back
//! and sends its copy then.

use std::time::{Duration, Instant};

use super::ledger::StoreEvent;
use super::verdict::Use;

/// One lapse and what it has excused so far.
struct Lapse {
    what: &'static str,
    start: Instant,
    end: Instant,
    until: Instant,
    request: bool,
    instance: Option<String>,
}

/// The lapses of a run, spent as the checks excuse violations with them.
pub struct Allowances {
    lapses: Vec<Lapse>,
    /// The data losses: what, when, and the end of their window.
    losses: Vec<(&'static str, Instant, Instant)>,
    /// The (loss, token) pairs excused already: a loss wipes the names of
    /// the copies refused before it, so each loss may bring one back once.
    stale: std::collections::HashSet<(usize, String)>,
    /// What was excused, for `CHAOS_VERBOSE`.
    pub excused: Vec<(Instant, String)>,
}

impl Allowances {
    /// A lapse excuses what happens from its start to `window` after its
    /// end; a data loss, from its start to `window` after its end or after
    /// the store was repaired (`store_tokens`: when the store was first
    /// seen holding each token, and when that was issued), whichever is
    /// later.
    pub fn new(
        events: &[StoreEvent],
        store_tokens: &[(Instant, Instant)],
        window: Duration,
    ) -> Allowances {
        let mut lapses: Vec<Lapse> = events
            .iter()
            .filter(|e| e.lapse)
            .map(|e| Lapse {
                what: e.what,
                start: e.start,
                end: e.end,
                until: e.end + window,
                request: false,
                instance: None,
            })
            .collect();
        lapses.sort_by_key(|l| l.start);
        // Never repaired: until the end of the run.
        let unrepaired = Duration::from_secs(24 * 3600);
        let mut losses: Vec<_> = events
            .iter()
            .filter(|e| e.loss)
            .map(|e| {
                let repaired = store_tokens
                    .iter()
                    .filter(|(seen, issued)| *issued > e.start && *seen >= e.start)
                    .map(|(seen, _)| *seen)
                    .min()
                    .unwrap_or(e.end + unrepaired);
                (e.what, e.start, e.end.max(repaired) + window)
            })
            .collect();
        losses.sort_by_key(|l| l.1);
        Allowances {
            lapses,
            losses,
            stale: std::collections::HashSet::new(),
            excused: Vec::new(),
        }
    }

    /// The data loss whose window holds `at`, if any.
    pub fn loss_holds(&self, at: Instant) -> Option<&'static str> {
        self.losses
            .iter()
            .find(|(_, start, until)| *start <= at && at <= *until)
            .map(|(what, ..)| *what)
    }

    /// Excuses an extra request at `at` of `token` (issued at `issued`):
    /// a stale copy written back after a data loss whose window holds `at`
    /// and which came after `issued`, once per loss and token.
    pub fn stale_copy(
        &mut self,
        at: Instant,
        token: &str,
        issued: Instant,
    ) -> Option<&'static str> {
        let (index, what) = self
            .losses
            .iter()
            .enumerate()
            .find(|(i, (_, start, until))| {
                issued < *start
                    && *start <= at
                    && at <= *until
                    && !self.stale.contains(&(*i, token.to_owned()))
            })
            .map(|(i, (what, ..))| (i, *what))?;
        self.stale.insert((index, token.to_owned()));
        self.excused
            .push((at, format!("a stale copy's request (data loss: {what})")));
        Some(what)
    }

    /// Excuses an extra request at `at` with the first lapse whose window
    /// holds it, during which the same token was in flight (`uses`: sent
    /// before the lapse ended, processed after it began), and that has
    /// excused none yet: what it was, if any.
    pub fn request(&mut self, at: Instant, uses: &[Use]) -> Option<&'static str> {
        let lapse = self.lapses.iter_mut().find(|l| {
            !l.request
                && l.start <= at
                && at <= l.until
                && uses.iter().any(|u| u.sent <= l.end && u.at >= l.start)
        })?;
        lapse.request = true;
        let what = lapse.what;
        self.excused
            .push((at, format!("an extra request (lapse: {what})")));
        Some(what)
    }

    /// Excuses an error `instance` was told at `at`: with the lapse that
    /// excuses that instance already, else with the first whose window
    /// holds it and that has excused no instance yet.
    pub fn error(&mut self, instance: &str, at: Instant) -> Option<&'static str> {
        let holds = |l: &Lapse| l.start <= at && at <= l.until;
        if let Some(l) = self
            .lapses
            .iter()
            .find(|l| holds(l) && l.instance.as_deref() == Some(instance))
        {
            return Some(l.what);
        }
        let lapse = self
            .lapses
            .iter_mut()
            .find(|l| holds(l) && l.instance.is_none())?;
        lapse.instance = Some(instance.to_owned());
        let what = lapse.what;
        self.excused
            .push((at, format!("the errors of {instance} (lapse: {what})")));
        Some(what)
    }

    /// How many lapses there were, and how many excused a request, an
    /// instance's errors.
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.lapses.len(),
            self.lapses.iter().filter(|l| l.request).count(),
            self.lapses.iter().filter(|l| l.instance.is_some()).count(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::ledger::StoreEvent;
    use super::super::verdict::Use;
    use super::Allowances;

    fn use_at(start: Instant, sent_ms: u64, at_ms: u64) -> Use {
        Use {
            at: start + Duration::from_millis(at_ms),
            sent: start + Duration::from_millis(sent_ms),
            fault: None,
            unheard: false,
        }
    }

    /// A lapse excuses one extra use of a token in flight during it, and
    /// the errors of one instance; a data loss excuses nothing.
    #[test]
    fn a_lapse_excuses_one_request_in_flight_and_one_instance() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let event = |what, start, lapse: bool| StoreEvent {
            what,
            start: at(start),
            end: at(start + 10),
            loss: !lapse,
            lapse,
        };
        let events = [
            event("lock deleted", 100, true),
            event("evicted", 500, false),
        ];
        // The store was repaired 100 ms after the loss.
        let repaired = [(at(610), at(605))];
        let mut allowances = Allowances::new(&events, &repaired, Duration::from_millis(1000));
        // Not in flight during the lapse: sent after it.
        let late = [use_at(t0, 150, 160), use_at(t0, 170, 180)];
        assert!(allowances.request(at(180), &late).is_none());
        let in_flight = [use_at(t0, 90, 300), use_at(t0, 120, 130)];
        assert!(allowances.request(at(300), &in_flight).is_some());
        assert!(allowances.request(at(300), &in_flight).is_none(), "once");
        assert!(allowances.error("a", at(200)).is_some());
        assert!(allowances.error("a", at(900)).is_some(), "a again");
        assert!(allowances.error("b", at(200)).is_none(), "one instance");
        assert!(
            allowances.error("a", at(2000)).is_none(),
            "after the window"
        );
        assert_eq!(allowances.counts(), (1, 1, 1));
    }

    /// A data loss excuses one extra use of each token issued before it
    /// until the store is repaired (a token issued after the loss seen in
    /// it), plus the window; a loss never repaired, to the end of the run.
    #[test]
    fn a_loss_excuses_one_stale_copy_per_token_until_the_store_is_repaired() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let loss = |start| StoreEvent {
            what: "evicted",
            start: at(start),
            end: at(start + 10),
            loss: true,
            lapse: false,
        };
        let window = Duration::from_millis(1000);
        // Seen in the store: a token issued before the loss (no repair),
        // then one issued after it, at 5000 ms.
        let seen = [(at(120), at(50)), (at(5000), at(4990))];
        let mut allowances = Allowances::new(&[loss(100)], &seen, window);
        assert!(
            allowances.stale_copy(at(50), "s", at(10)).is_none(),
            "before"
        );
        assert!(
            allowances.stale_copy(at(4500), "s", at(10)).is_some(),
            "while the store recovers"
        );
        assert!(
            allowances.stale_copy(at(4600), "s", at(10)).is_none(),
            "once"
        );
        assert!(
            allowances.stale_copy(at(4600), "t", at(200)).is_none(),
            "issued after the loss"
        );
        assert!(allowances.stale_copy(at(5900), "u", at(10)).is_some());
        assert!(
            allowances.stale_copy(at(6100), "v", at(10)).is_none(),
            "past the repair and the window"
        );
        assert_eq!(allowances.loss_holds(at(5900)), Some("evicted"));
        assert_eq!(allowances.loss_holds(at(6100)), None);

        let mut unrepaired = Allowances::new(&[loss(100)], &[], window);
        assert!(unrepaired.stale_copy(at(60_000), "s", at(10)).is_some());
    }
}
