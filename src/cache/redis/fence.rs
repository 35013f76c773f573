//! Fenced writes: one script that checks the lock and writes only when the
//! writer may, so that a holder whose lock lapsed never overwrites what its
//! successor wrote. (A logout is a record, written the same way: nothing is
//! ever deleted.)

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

/// Sets `KEYS[1]` to `ARGV[2]` when the check passes: 1, else 0.
static SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r#"{CHECK}redis.call("set", KEYS[1], ARGV[2])
return 1"#
    ))
});

/// The owner token to send for `fence` (never called with [`Fence::Lost`]).
fn token(fence: &Fence) -> &str {
    match fence {
        Fence::Owner(owner) => owner,
        Fence::Unlocked | Fence::Lost => "",
    }
}

/// Stores `value` under `key` if `fence` allows; whether it did.
pub(super) fn set(
    conn: &mut dyn ConnectionLike,
    key: &str,
    lock_key: &str,
    fence: &Fence,
    value: &str,
) -> RedisResult<bool> {
    let written: i64 = SET
        .key(key)
        .key(lock_key)
        .arg(token(fence))
        .arg(value)
        .invoke(conn)?;
    Ok(written == 1)
}
