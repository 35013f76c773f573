//! Times across processes: children report wall-clock Unix milliseconds
//! (one machine, one clock); the parent turns them into its own `Instant`s,
//! the time base of the fake's records and of the ledger.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One moment known on both clocks, to convert between them.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    instant: Instant,
    unix_ms: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            instant: Instant::now(),
            unix_ms: unix_ms(),
        }
    }
}

impl Clock {
    /// The `Instant` of a Unix time in ms (clamped to the clock's moment
    /// when that is all an `Instant` can say).
    pub fn instant(&self, ms: u64) -> Instant {
        if ms >= self.unix_ms {
            self.instant + Duration::from_millis(ms - self.unix_ms)
        } else {
            self.instant
                .checked_sub(Duration::from_millis(self.unix_ms - ms))
                .unwrap_or(self.instant)
        }
    }

    /// The Unix time in ms of an `Instant`.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        if at >= self.instant {
            self.unix_ms + u64::try_from((at - self.instant).as_millis()).unwrap_or(u64::MAX)
        } else {
            self.unix_ms
                .saturating_sub(u64::try_from((self.instant - at).as_millis()).unwrap_or(0))
        }
    }
}
