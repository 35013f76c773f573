//! Fenced writes: one script that checks the lock and writes only when the
//! writer may, so that a holder whose lock lapsed never overwrites what its
//! successor wrote, unless its request was in flight and nothing was
//! written since (its in-flight marker, see `in_flight`). (A logout is a
//! record, written the same way: nothing is ever deleted; its write also
//! announces it to the other machines, see `watch`.)

use std::sync::LazyLock;

use redis::{ConnectionLike, RedisResult, Script};

use super::lock::Fence;

/// The check the script starts with. `KEYS[2]` is the lock key, `KEYS[4]`
/// the in-flight marker's; `ARGV[1]` the writer's owner token, or empty for
/// a writer that holds no lock. A writer with a token may write only while
/// the lock or the marker holds that token (the marker: its lease lapsed
/// while its request was in flight); one without, only while nobody holds
/// the lock and no marker stands. A write that passes deletes the marker,
/// whoever's it is: once something was written, a late answer must not go
/// over it (a lock holder that went ahead past its lock wait while another
/// holder's request was in flight, a logout made then).
const CHECK: &str = r#"
local holder = redis.call("get", KEYS[2])
local marker = redis.call("get", KEYS[4])
if ARGV[1] == "" then
  if holder or marker then return 0 end
elseif holder ~= ARGV[1] and marker ~= ARGV[1] then
  return 0
end
if marker then redis.call("del", KEYS[4]) end
"#;

/// Sets `KEYS[1]` to `ARGV[2]` when the check passes: 1, else 0. When
/// `ARGV[3]` is `"1"` (a logout record), also appends the key to the stream
/// `KEYS[3]` (kept to about `ARGV[4]` entries) for the other machines'
/// watches; a server without streams (Redis < 5) still writes.
static SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{CHECK}redis.call("set", KEYS[1], ARGV[2])
if ARGV[3] == "1" then
  pcall(redis.call, "xadd", KEYS[3], "MAXLEN", "~", ARGV[4], "*", "key", KEYS[1])
end
return 1"#
    ))
});

/// Where a write of a logout record is announced: the stream's key, and
/// about how many entries it keeps.
pub(super) struct Announce<'a> {
    pub(super) stream: &'a str,
    pub(super) length: usize,
    /// Whether this write is a logout record.
    pub(super) logout: bool,
}

/// The keys a fenced write checks besides the one it writes.
pub(super) struct FenceKeys<'a> {
    /// The lock's key.
    pub(super) lock: &'a str,
    /// The in-flight marker's key.
    pub(super) in_flight: &'a str,
}

/// Stores `value` under `key` if `fence` allows, announcing it as
/// `announce` says; whether it did.
pub(super) fn set(
    conn: &mut dyn ConnectionLike,
    key: &str,
    fence_keys: &FenceKeys<'_>,
    fence: &Fence,
    value: &str,
    announce: &Announce<'_>,
) -> RedisResult<bool> {
    let written: i64 = SET
        .key(key)
        .key(fence_keys.lock)
        .key(announce.stream)
        .key(fence_keys.in_flight)
        .arg(fence.owner())
        .arg(value)
        .arg(if announce.logout { "1" } else { "0" })
        .arg(announce.length)
        .invoke(conn)?;
    Ok(written == 1)
}
