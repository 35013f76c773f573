//! The refresh lock: a key set with `SET NX PX` to a random owner token,
//! renewed while held (see `watchdog`), deleted on release only by its owner;
//! taken only once no other holder's request is in flight (see `in_flight`);
//! and the state one cache instance shares with the guards it hands out.

use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use redis::{ConnectionLike, RedisResult, Script};

use super::pool::{Pool, PoolError};
use super::{in_flight, watchdog};
use crate::observe;

/// Deletes the lock `KEYS[1]` only when it still holds the caller's owner
/// token `ARGV[1]` (after an expiry another process may own it, and its lock
/// is not ours to delete): 1 when deleted, else 0. Deletes the in-flight
/// marker `KEYS[2]` when it holds our token, whoever holds the lock: our
/// request is over.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"local released = 0
if redis.call("get", KEYS[1]) == ARGV[1] then released = redis.call("del", KEYS[1]) end
if redis.call("get", KEYS[2]) == ARGV[1] then redis.call("del", KEYS[2]) end
return released"#,
    )
});

/// One attempt at the lock `KEYS[1]` for the owner token `ARGV[1]`, with a
/// TTL of `ARGV[2]` ms: `SET NX PX`, or, when the key is taken, whether it
/// holds our own token (an earlier attempt whose reply was lost, the
/// connection broken after the server executed it, did take it). Then the
/// in-flight marker `KEYS[2]`: 0 when not taken, 1 when taken, 2 when taken
/// while another holder's marker stands (the caller waits for it). With
/// `ARGV[3]` = `"1"` (no waiting: `try_lock`), another holder's marker
/// means someone is refreshing: nothing is taken, 0.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"local marker = redis.call("get", KEYS[2])
local in_flight = marker and marker ~= ARGV[1]
if in_flight and ARGV[3] == "1" then return 0 end
if not redis.call("set", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  if redis.call("get", KEYS[1]) ~= ARGV[1] then return 0 end
end
if in_flight then return 2 end
return 1"#,
    )
});

/// How long to wait between two attempts to take a held lock (or two looks
/// at an in-flight marker): 20 to 50 ms, random so that waiters spread out.
pub(super) fn poll_delay() -> Duration {
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
    /// The instance holds no lock: write only if nobody holds it and no
    /// request is in flight.
    Unlocked,
    /// The instance holds the lock: write only if it still does, or if its
    /// in-flight marker still stands.
    Owner(String),
    /// The instance holds a lock a renewal found lost (or a released one),
    /// owned by this token: write only if its in-flight marker still stands
    /// (its lease lapsed while its request was in flight).
    Lost(String),
}

impl Fence {
    /// The owner token to check in Redis: empty for [`Fence::Unlocked`].
    pub(super) fn owner(&self) -> &str {
        match self {
            Fence::Owner(owner) | Fence::Lost(owner) => owner,
            Fence::Unlocked => "",
        }
    }
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
            _ => Fence::Lost(owner.to_owned()),
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
    /// The in-flight marker's key.
    pub(super) in_flight_key: &'a str,
    pub(super) ttl: Duration,
    /// Whether to take the lock, and wait, while another holder's marker
    /// stands (`lock`); else nothing is taken then (`try_lock`).
    pub(super) wait: bool,
}

/// Takes the lock for `owner`: first from the other `lock()` calls of the
/// same instance, then in Redis, polling until it is free or `deadline` has
/// passed. A holder that dies keeps it at most one TTL, after which the key
/// expires and the next attempt succeeds; a live holder keeps it as long as
/// it likes (its renewal thread extends it).
///
/// When another holder's in-flight marker stands (its lease lapsed while
/// its request was in flight), the lock is taken and kept (renewed), then
/// the marker waited for until it is gone (written through, released, or
/// expired) or `deadline` has passed, when the caller goes ahead. Without
/// `spec.wait`, nothing is taken while a marker stands.
pub(super) fn acquire(
    spec: LockSpec<'_>,
    owner: String,
    deadline: Instant,
) -> Result<LockGuard, AcquireError> {
    let LockSpec {
        pool,
        holder,
        key,
        in_flight_key,
        ttl,
        wait,
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
    let take = Take {
        key,
        in_flight_key,
        owner: &owner,
        ttl_ms,
        wait,
    };
    let mut polls = 0u32;
    let in_flight = loop {
        polls += 1;
        // No free connection is waited out like a held lock, and reported as
        // such if it lasts until the deadline.
        let busy = match pool.run(|conn| take.attempt(conn)) {
            Ok(Taken::Free) => break false,
            Ok(Taken::InFlight) => break true,
            Ok(Taken::No) => None,
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
    };
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
        in_flight_key: in_flight_key.to_owned(),
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
    if in_flight {
        // Dropping the guard on an error releases the lock.
        in_flight::wait_gone(pool, &guard, deadline).map_err(AcquireError::Redis)?;
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

/// What one attempt at the lock does: the [`TAKE`] script's arguments.
struct Take<'a> {
    key: &'a str,
    in_flight_key: &'a str,
    owner: &'a str,
    ttl_ms: u64,
    wait: bool,
}

/// What one attempt found.
enum Taken {
    /// Held by another (or, without waiting, another holder's request in
    /// flight): nothing taken.
    No,
    /// Taken, nothing in flight.
    Free,
    /// Taken while another holder's in-flight marker stands: wait for it.
    InFlight,
}

impl Take<'_> {
    /// One attempt, one round trip (see [`TAKE`]).
    fn attempt(&self, conn: &mut dyn ConnectionLike) -> RedisResult<Taken> {
        let taken: i64 = TAKE
            .key(self.key)
            .key(self.in_flight_key)
            .arg(self.owner)
            .arg(self.ttl_ms)
            .arg(if self.wait { "0" } else { "1" })
            .invoke(conn)?;
        Ok(match taken {
            1 => Taken::Free,
            2 => Taken::InFlight,
            _ => Taken::No,
        })
    }
}

/// A held lock, released when dropped (through [`CacheLock`](crate::CacheLock)).
/// Writes made with it are fenced by its owner token.
pub(super) struct LockGuard {
    pool: Arc<Pool>,
    pub(super) holder: Arc<Holder>,
    pub(super) key: String,
    /// The in-flight marker's key.
    pub(super) in_flight_key: String,
    pub(super) owner: String,
    watchdog: Option<JoinHandle<()>>,
}

impl Drop for LockGuard {
    /// Stops the renewal thread (at once: it is woken, not waited out), then
    /// deletes the lock if it is still ours, and our in-flight marker if it
    /// stands, before returning: one round trip on a pooled connection,
    /// bounded by the timeouts. Errors are ignored: a lock that cannot be
    /// deleted expires by itself within one TTL, as nothing renews it any
    /// more, and a marker within the in-flight TTL.
    ///
    /// The async API drops the guard on tokio's blocking pool. Handing the
    /// release to another thread instead would lose it whenever the process
    /// exits right after its refresh (a CLI), leaving the others to wait out
    /// the TTL.
    fn drop(&mut self) {
        self.holder.set(Slot::Free);
        let released = self.pool.run(|conn| {
            RELEASE
                .key(&self.key)
                .key(&self.in_flight_key)
                .arg(&self.owner)
                .invoke::<i64>(conn)
        });
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
