//! The in-flight marker: `{key}:lock:inflight`, set to the holder's owner
//! token right before a refresh request, in the same script that renews the
//! lease ([`CONFIRM`]), for the in-flight TTL. A holder whose lease lapses
//! while its request is in flight may still write through it (see `fence`);
//! whoever takes the lock meanwhile waits for it to go ([`wait_gone`]); the
//! holder's write or release deletes it (see `fence` and `lock`).

use std::sync::LazyLock;
use std::time::Instant;

use redis::Script;

use super::lock::{LockGuard, poll_delay};
use super::pool::{Pool, PoolError};
use crate::observe;

/// When the lock `KEYS[1]` still holds the owner token `ARGV[1]`: sets the
/// in-flight marker `KEYS[2]` to that token for `ARGV[3]` ms, then renews
/// the lock to `ARGV[2]` ms, and returns 1; else changes nothing and
/// returns 0. The marker first: a server that refuses it (out of memory, a
/// read-only replica, an ACL without the marker's key) fails the script
/// with nothing renewed, and the flows then send nothing.
pub(super) static CONFIRM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"if redis.call("get", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("set", KEYS[2], ARGV[1], "PX", ARGV[3])
redis.call("pexpire", KEYS[1], ARGV[2])
return 1"#,
    )
});

/// With the lock just taken by `guard` while another holder's marker
/// stood: waits, polling every 20–50 ms, until the marker is gone or holds
/// our token, or `deadline` has passed (then the caller goes ahead, and
/// reads the store as it is). Redis failing is an error; no free connection
/// is waited out like the marker.
pub(super) fn wait_gone(
    pool: &Pool,
    guard: &LockGuard,
    deadline: Instant,
) -> Result<(), PoolError> {
    let key = guard.key.as_str();
    let waiting = observe::Stopwatch::start();
    observe::debug!(
        cache,
        key,
        "took the Redis lock; waiting for the request in flight of a holder whose lease lapsed"
    );
    let mut polls = 0u32;
    loop {
        polls += 1;
        let marker = pool.run(|conn| {
            redis::cmd("GET")
                .arg(&guard.in_flight_key)
                .query::<Option<String>>(conn)
        });
        match marker {
            Ok(None) => break,
            Ok(Some(owner)) if owner == guard.owner => break,
            Ok(Some(_)) | Err(PoolError::Busy) => {}
            Err(e) => {
                observe::debug!(cache, key, error = %pool.describe(&e), "could not look at the in-flight marker");
                return Err(e);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            observe::debug!(
                cache,
                key,
                waited_ms = waiting.ms(),
                polls,
                "a request of a lapsed holder may still be in flight, past the lock wait: going ahead"
            );
            return Ok(());
        }
        std::thread::sleep(poll_delay().min(left));
    }
    observe::debug!(
        cache,
        key,
        waited_ms = waiting.ms(),
        polls,
        "the request in flight is over"
    );
    Ok(())
}
