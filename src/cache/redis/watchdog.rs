//! The renewal thread of a held lock: every third of the TTL it extends the
//! lock, if it is still ours, back to a full TTL, for as long as the guard
//! lives, whatever the thread that holds the guard is doing.

use std::io;
use std::sync::{Arc, LazyLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::Script;

use super::lock::Holder;
use super::pool::{Pool, PoolError};
use crate::observe;

/// Sets the lock's expiry to `ARGV[2]` ms only when it still holds the
/// owner token `ARGV[1]`; 1 when renewed, 0 when the lock is not ours.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("pexpire",KEYS[1],ARGV[2]) else return 0 end"#,
    )
});

/// The shortest time between two renewals.
const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// One held lock to keep alive.
pub(super) struct Renewal {
    pub(super) pool: Arc<Pool>,
    pub(super) holder: Arc<Holder>,
    pub(super) key: String,
    pub(super) owner: String,
    pub(super) ttl: Duration,
}

impl Renewal {
    /// Starts the thread; it ends when the guard is dropped (which wakes it)
    /// or when a renewal finds the lock no longer ours (which marks the
    /// guard lost).
    pub(super) fn spawn(self) -> io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("spotify-auth-redis-lock".to_owned())
            .spawn(move || self.run())
    }

    fn run(self) {
        let interval = (self.ttl / 3).max(MIN_INTERVAL);
        let ttl_ms = u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut next = Instant::now() + interval;
        // Sleeps until the next renewal; returns early (false) when the
        // guard is dropped.
        while self.holder.held_until(&self.owner, next) {
            let started = Instant::now();
            let renewed = self.pool.run(|conn| {
                RENEW
                    .key(&self.key)
                    .arg(&self.owner)
                    .arg(ttl_ms)
                    .invoke::<i64>(conn)
            });
            match renewed {
                Ok(1) => observe::trace!(cache, key = self.key, "renewed the Redis lock"),
                Ok(_) => {
                    // Expired (a pause longer than the TTL, a failover that
                    // lost the key) and perhaps taken by someone else.
                    observe::warn!(
                        cache,
                        key = self.key,
                        "lost the Redis lock: it expired (a pause longer than its TTL?) and may be taken; this instance's writes fail until the guard is dropped"
                    );
                    self.holder.mark_lost(&self.owner);
                    return;
                }
                // Redis unreachable or busy: try again at the next tick. If
                // the lock expires meanwhile, the next renewal says so, and
                // the fenced writes refuse to write without it anyway.
                Err(e @ (PoolError::Redis(_) | PoolError::Busy)) => {
                    observe::debug!(
                        cache,
                        error = %self.pool.describe(&e),
                        key = self.key,
                        "could not renew the Redis lock: trying again at the next tick"
                    );
                }
            }
            next = started + interval;
        }
    }
}
