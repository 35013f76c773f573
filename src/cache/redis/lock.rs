//! The refresh lock: a key set with `SET NX PX` to a random owner token,
//! renewed while held (see `watchdog`), deleted on release only by its owner;
//! and the state one cache instance shares with the guards it hands out.

use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::{ConnectionLike, RedisResult, Script, Value};

use super::pool::{Pool, PoolError};
use super::watchdog;
use crate::observe;

/// Deletes the lock only when it still holds the caller's owner token: after
/// an expiry another process may own it, and its lock is not ours to delete.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"if redis.call("get",KEYS[1]) == ARGV[1] then return redis.call("del",KEYS[1]) else return 0 end"#,
    )
});

/// How long to wait between two attempts to take a held lock: 20 to 50 ms,
/// random so that waiters spread out.
fn poll_delay() -> Duration {
    Duration::from_millis(fastrand::u64(20..=50))
}

/// A fresh owner token: 128 bits from the OS random source, in hex.
pub(super) fn new_owner() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// What one cache instance knows about its own lock, shared with the guard
/// and the renewal thread of the lock it holds.
#[derive(Default)]
pub(super) struct Holder {
    slot: Mutex<Slot>,
    /// Signalled whenever `slot` changes.
    changed: Condvar,
}

#[derive(Default)]
enum Slot {
    /// The instance holds no lock and is not taking one.
    #[default]
    Free,
    /// A `lock()` of this instance is trying to take the lock in Redis.
    Taking,
    /// A guard of this instance is alive for the lock owned by `owner`.
    Held {
        owner: String,
        /// A renewal found the lock no longer ours.
        lost: bool,
    },
}

/// How a write of this instance must be fenced.
pub(super) enum Fence {
    /// The instance holds no lock: write only if nobody holds it.
    Unlocked,
    /// The instance holds the lock: write only if it still does.
    Owner(String),
    /// The instance holds a lock a renewal found lost: do not write.
    Lost,
}

impl Holder {
    fn slot(&self) -> MutexGuard<'_, Slot> {
        // Every state of the slot is valid whatever a panicking holder did.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, slot: Slot) {
        *self.slot() = slot;
        self.changed.notify_all();
    }

    /// The fence for a write made with the guard of the lock owned by
    /// `owner`: the owner, unless a renewal found the lock lost (or the
    /// guard was released).
    pub(super) fn fence_for(&self, owner: &str) -> Fence {
        match &*self.slot() {
            Slot::Held {
                owner: o,
                lost: false,
            } if o == owner => Fence::Owner(owner.to_owned()),
            _ => Fence::Lost,
        }
    }

    /// Whether this instance holds a lock that a renewal found lost.
    pub(super) fn is_lost(&self) -> bool {
        matches!(*self.slot(), Slot::Held { lost: true, .. })
    }

    /// Whether the lock owned by `owner` is still held by a guard (not yet
    /// released); waits up to `until` for a release when it is.
    pub(super) fn held_until(&self, owner: &str, until: Instant) -> bool {
        let mut slot = self.slot();
        loop {
            if !matches!(&*slot, Slot::Held { owner: o, .. } if o == owner) {
                return false;
            }
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return true;
            };
            if left.is_zero() {
                return true;
            }
            slot = self
                .changed
                .wait_timeout(slot, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Marks the lock owned by `owner` lost, if its guard is still alive.
    pub(super) fn mark_lost(&self, owner: &str) {
        let mut slot = self.slot();
        if let Slot::Held { owner: o, lost } = &mut *slot
            && o == owner
        {
            *lost = true;
        }
    }

    /// Waits until no other `lock()` of this instance is taking or holding
    /// the lock, then marks it taken by the caller. False at `deadline`.
    fn reserve(&self, deadline: Instant) -> bool {
        let mut slot = self.slot();
        while !matches!(*slot, Slot::Free) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            slot = self
                .changed
                .wait_timeout(slot, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *slot = Slot::Taking;
        true
    }
}

/// Why [`acquire`] gave up.
pub(super) enum AcquireError {
    /// Redis failed or could not be reached.
    Redis(PoolError),
    /// The lock stayed held until the deadline.
    TimedOut,
    /// The renewal thread could not be started (the lock was released).
    Spawn(std::io::Error),
    /// The OS random source failed making the owner token.
    Random(getrandom::Error),
}

/// What [`acquire`] needs to know about the lock.
pub(super) struct LockSpec<'a> {
    pub(super) pool: &'a Arc<Pool>,
    pub(super) holder: &'a Arc<Holder>,
    pub(super) key: &'a str,
    pub(super) ttl: Duration,
}

/// Takes the lock for `owner`: first from the other `lock()` calls of the
/// same instance, then in Redis, polling until it is free or `deadline` has
/// passed. A holder that dies keeps it at most one TTL, after which the key
/// expires and the next attempt succeeds; a live holder keeps it as long as
/// it likes (its renewal thread extends it).
pub(super) fn acquire(
    spec: LockSpec<'_>,
    owner: String,
    deadline: Instant,
) -> Result<LockGuard, AcquireError> {
    let LockSpec {
        pool,
        holder,
        key,
        ttl,
    } = spec;
    let waiting = observe::Stopwatch::start();
    if !holder.reserve(deadline) {
        observe::debug!(
            cache,
            key,
            waited_ms = waiting.ms(),
            "gave up waiting for the Redis lock (held by another guard of this instance)"
        );
        return Err(AcquireError::TimedOut);
    }
    // Until the lock is ours, an early return gives the reservation back.
    let reservation = Reservation(holder);
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut polls = 0u32;
    loop {
        polls += 1;
        // No free connection is waited out like a held lock, and reported as
        // such if it lasts until the deadline.
        let busy = match pool.run(|conn| try_take(conn, key, &owner, ttl_ms)) {
            Ok(true) => break,
            Ok(false) => None,
            Err(PoolError::Busy) => Some(PoolError::Busy),
            Err(e) => {
                observe::debug!(cache, key, error = %pool.describe(&e), "could not take the Redis lock");
                return Err(AcquireError::Redis(e));
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            observe::debug!(
                cache,
                key,
                waited_ms = waiting.ms(),
                polls,
                busy = busy.is_some(),
                "gave up waiting for the Redis lock"
            );
            return Err(busy.map_or(AcquireError::TimedOut, AcquireError::Redis));
        }
        if polls == 1 {
            observe::debug!(
                cache,
                key,
                "waiting for the Redis lock (held by another instance)"
            );
        }
        std::thread::sleep(poll_delay().min(left));
    }
    std::mem::forget(reservation);
    observe::debug!(
        cache,
        key,
        waited_ms = waiting.ms(),
        polls,
        "took the Redis lock"
    );
    holder.set(Slot::Held {
        owner: owner.clone(),
        lost: false,
    });
    let mut guard = LockGuard {
        pool: pool.clone(),
        holder: holder.clone(),
        key: key.to_owned(),
        owner,
        watchdog: None,
    };
    let renewal = watchdog::Renewal {
        pool: pool.clone(),
        holder: holder.clone(),
        key: guard.key.clone(),
        owner: guard.owner.clone(),
        ttl,
    };
    match renewal.spawn() {
        Ok(thread) => guard.watchdog = Some(thread),
        Err(e) => return Err(AcquireError::Spawn(e)), // dropping the guard releases
    }
    Ok(guard)
}

/// Gives a reservation back when taking the lock failed.
struct Reservation<'a>(&'a Holder);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.0.set(Slot::Free);
    }
}

/// One attempt. When `SET NX` finds the key taken, the key is read back: if
/// it holds our own token, an earlier attempt whose reply was lost (the
/// connection broke after the server executed it) did take the lock.
fn try_take(
    conn: &mut dyn ConnectionLike,
    key: &str,
    owner: &str,
    ttl_ms: u64,
) -> RedisResult<bool> {
    let set: Value = redis::cmd("SET")
        .arg(key)
        .arg(owner)
        .arg("NX")
        .arg("PX")
        .arg(ttl_ms)
        .query(conn)?;
    if !matches!(set, Value::Nil) {
        return Ok(true);
    }
    let holder: Option<String> = redis::cmd("GET").arg(key).query(conn)?;
    Ok(holder.as_deref() == Some(owner))
}

/// A held lock, released when dropped (through [`CacheLock`](crate::CacheLock)).
/// Writes made with it are fenced by its owner token.
pub(super) struct LockGuard {
    pool: Arc<Pool>,
    pub(super) holder: Arc<Holder>,
    pub(super) key: String,
    pub(super) owner: String,
    watchdog: Option<JoinHandle<()>>,
}

impl Drop for LockGuard {
    /// Stops the renewal thread (at once: it is woken, not waited out), then
    /// deletes the lock if it is still ours, before returning: one round
    /// trip on a pooled connection, bounded by the timeouts. Errors are
    /// ignored: a lock that cannot be deleted expires by itself within one
    /// TTL, as nothing renews it any more.
    ///
    /// The async API drops the guard on tokio's blocking pool. Handing the
    /// release to another thread instead would lose it whenever the process
    /// exits right after its refresh (a CLI), leaving the others to wait out
    /// the TTL.
    fn drop(&mut self) {
        self.holder.set(Slot::Free);
        let released = self
            .pool
            .run(|conn| RELEASE.key(&self.key).arg(&self.owner).invoke::<i64>(conn));
        match released {
            Ok(1) => observe::debug!(cache, key = self.key, "released the Redis lock"),
            Ok(_) => observe::debug!(
                cache,
                key = self.key,
                "released the Redis lock: it was no longer ours"
            ),
            Err(_) => observe::debug!(
                cache,
                key = self.key,
                "could not release the Redis lock: it expires by itself"
            ),
        }
        if let Some(thread) = self.watchdog.take() {
            // It has seen the slot change, or will after its current round
            // trip; a panic in it has nothing left to clean up.
            let _ = thread.join();
        }
    }
}
