//! Heap bytes a service keeps per user: 10,000 per-user `AuthorizationCode`s
//! (default settings, the shared default client, each with its own
//! `InMemoryTokenCache` seeded with a valid token), each asked once for a
//! token, all alive; counted by a global allocator wrapping the system one.
//!
//! `cargo bench --bench per_user_memory` (blocking) or
//! `cargo bench --features async --bench per_user_memory` (both modes).
//! Prints, per mode and per user, the bytes still allocated (and how many
//! blocks hold them) after each step:
//!
//! - `token`: the seeded `TokenInfo` itself (a 250-byte access token, a
//!   131-byte refresh token, the scope), the service's own data;
//! - `build`: building the instance around it;
//! - `first_token`: the first `get_access_token` (cold path: cache read under
//!   the lock, token adopted into memory);
//! - `total`: all three, what one more user costs;
//! - then what is left once the users are dropped (expected: nothing).
//!
//! Counted are the bytes asked of the allocator, not the allocator's own
//! overhead per block (glibc: 8 to 16 bytes). A report, not a test: nothing
//! is asserted.

mod common;

use common::counting::{Counting, Snapshot};
use common::users::USERS;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Prints one step: live bytes and allocations per user.
#[allow(dead_code)]
fn report(mode: &str, step: &str, diff: Snapshot) {
    println!(
        "per_user_memory/{mode}/{step:<12} {:>7.1} bytes in {:>5.2} blocks live per user \
         ({:.2} allocations, {:.0} bytes allocated per user)",
        diff.live as f64 / USERS as f64,
        diff.blocks as f64 / USERS as f64,
        diff.allocations as f64 / USERS as f64,
        diff.bytes as f64 / USERS as f64,
    );
}

#[cfg(feature = "blocking")]
fn blocking() {
    use common::counting::snapshot;
    use common::users::blocking_user;

    // The default client and everything made once per process, first.
    let first = blocking_user(common::valid_token());
    first.get_access_token().expect("a valid token");
    let template = common::valid_token();
    let mut users = Vec::with_capacity(USERS);

    // The vectors' own buffers are made before counting starts.
    let mut tokens = Vec::with_capacity(USERS);
    let start = snapshot();
    tokens.extend((0..USERS).map(|_| template.clone()));
    let seeded = snapshot();
    for token in tokens.drain(..) {
        users.push(blocking_user(token));
    }
    let built = snapshot();
    for user in &users {
        std::hint::black_box(user.get_access_token().expect("a valid token"));
    }
    let asked = snapshot();
    users.clear();
    // Taken before anything is printed (stdout's buffer is allocated then).
    let dropped = snapshot();
    report("blocking", "token", start.until(seeded));
    report("blocking", "build", seeded.until(built));
    report("blocking", "first_token", built.until(asked));
    report("blocking", "total", start.until(asked));
    println!(
        "per_user_memory/blocking: {} bytes left once the {USERS} users are dropped",
        start.until(dropped).live
    );
}

#[cfg(feature = "async")]
fn asynchronous() {
    use common::counting::snapshot;
    use common::users::async_user;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let first = async_user(common::valid_token());
        first.get_access_token().await.expect("a valid token");
        let template = common::valid_token();
        let mut users = Vec::with_capacity(USERS);

        // The vectors' own buffers are made before counting starts.
        let mut tokens = Vec::with_capacity(USERS);
        let start = snapshot();
        tokens.extend((0..USERS).map(|_| template.clone()));
        let seeded = snapshot();
        for token in tokens.drain(..) {
            users.push(async_user(token));
        }
        let built = snapshot();
        for user in &users {
            std::hint::black_box(user.get_access_token().await.expect("a valid token"));
        }
        let asked = snapshot();
        users.clear();
        let dropped = snapshot();
        report("async", "token", start.until(seeded));
        report("async", "build", seeded.until(built));
        report("async", "first_token", built.until(asked));
        report("async", "total", start.until(asked));
        println!(
            "per_user_memory/async: {} bytes left once the {USERS} users are dropped",
            start.until(dropped).live
        );
    });
}

fn main() {
    #[cfg(feature = "blocking")]
    blocking();
    #[cfg(feature = "async")]
    asynchronous();
    #[cfg(not(any(feature = "blocking", feature = "async")))]
    eprintln!("per_user_memory: enable `blocking` and/or `async` to measure something");
}
