//! The refresh lock: a key set with `SET NX PX` to a random owner token,
//! deleted on release only by its owner.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use redis::{Connection, RedisResult, Script, Value};

use super::connections::Connections;

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

/// Why [`acquire`] gave up.
pub(super) enum AcquireError {
    /// Redis failed or could not be reached.
    Redis(redis::RedisError),
    /// The lock stayed held for the whole `wait`.
    TimedOut,
}

/// Takes the lock at `key` for `owner`, polling until it is free or `wait`
/// has passed. A holder that dies keeps it at most `ttl`, after which the key
/// expires and the next attempt succeeds.
pub(super) fn acquire(
    conns: &Arc<Connections>,
    key: &str,
    owner: String,
    ttl: Duration,
    wait: Duration,
) -> Result<LockGuard, AcquireError> {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    let start = Instant::now();
    loop {
        let taken = conns
            .run(|conn| try_take(conn, key, &owner, ttl_ms))
            .map_err(AcquireError::Redis)?;
        if taken {
            return Ok(LockGuard {
                conns: conns.clone(),
                key: key.to_owned(),
                owner,
            });
        }
        let waited = start.elapsed();
        if waited >= wait {
            return Err(AcquireError::TimedOut);
        }
        std::thread::sleep(poll_delay().min(wait - waited));
    }
}

/// One attempt. When `SET NX` finds the key taken, the key is read back: if
/// it holds our own token, an earlier attempt whose reply was lost (the
/// connection broke after the server executed it) did take the lock.
fn try_take(conn: &mut Connection, key: &str, owner: &str, ttl_ms: u64) -> RedisResult<bool> {
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
pub(super) struct LockGuard {
    conns: Arc<Connections>,
    key: String,
    owner: String,
}

impl Drop for LockGuard {
    /// Deletes the lock if it is still ours, before returning: one round trip
    /// on a pooled connection, bounded by the timeouts. Errors are ignored: a
    /// lock that cannot be deleted expires by itself at the end of its TTL.
    ///
    /// The async API drops the guard on a runtime thread, so this briefly
    /// blocks that thread. Handing the release to another thread instead
    /// loses it whenever the process exits right after its refresh (a CLI),
    /// leaving the others to wait out the whole TTL; the round trip is the
    /// smaller cost.
    fn drop(&mut self) {
        let _ = self
            .conns
            .run(|conn| RELEASE.key(&self.key).arg(&self.owner).invoke::<i64>(conn));
    }
}
