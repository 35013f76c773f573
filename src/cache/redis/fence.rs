//! Fenced writes: one script that checks the lock and writes only when the
//! writer may, so that a holder whose lock lapsed never overwrites what its
//! successor wrote. (A logout is a record, written the same way: nothing is
//! ever deleted; its write also announces it to the other machines, see
//! `watch`.)

use std::sync::LazyLock;

use redis::{ConnectionLike, RedisResult, Script};

use super::lock::Fence;

/// The check the script starts with. `KEYS[2]` is the lock key; `ARGV[1]`
/// the writer's owner token, or empty for a writer that holds no lock. A
/// writer with a token may write only while the lock holds that token; one
/// without, only while nobody holds the lock.
const CHECK: &str = r#"
local holder = redis.call("get", KEYS[2])
if ARGV[1] == "" then
  if holder then return 0 end
elseif holder ~= ARGV[1] then
  return 0
end
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

/// The owner token to send for `fence` (never called with [`Fence::Lost`]).
fn token(fence: &Fence) -> &str {
    match fence {
        Fence::Owner(owner) => owner,
        Fence::Unlocked | Fence::Lost => "",
    }
}

/// Stores `value` under `key` if `fence` allows, announcing it as
/// `announce` says; whether it did.
pub(super) fn set(
    conn: &mut dyn ConnectionLike,
    key: &str,
    lock_key: &str,
    fence: &Fence,
    value: &str,
    announce: &Announce<'_>,
) -> RedisResult<bool> {
    let written: i64 = SET
        .key(key)
        .key(lock_key)
        .key(announce.stream)
        .arg(token(fence))
        .arg(value)
        .arg(if announce.logout { "1" } else { "0" })
        .arg(announce.length)
        .invoke(conn)?;
    Ok(written == 1)
}
