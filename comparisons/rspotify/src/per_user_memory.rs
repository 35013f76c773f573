//! Heap bytes a service keeps per user, spotify-auth beside rspotify 0.16:
//! 10,000 users of each, each holding a valid token and asked once for it,
//! all alive; counted by a global allocator wrapping the system one.
//!
//! `cargo run --release --features blocking --bin per_user_memory`, and the
//! same with `--features async`. Per user: the bytes still allocated (and
//! the blocks holding them) for the seeded token alone, for the user built
//! around it and asked once, and both. Counted are the bytes asked of the
//! allocator, not its own overhead per block (glibc: 8 to 16 bytes). A
//! report: nothing is asserted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};

use rspotify::prelude::*;
use rspotify_comparison::{MODE, USERS, our_token, ours, their_token, their_user};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static BLOCKS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        BLOCKS.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Live bytes and blocks now.
fn live() -> (isize, isize) {
    (LIVE.load(Ordering::Relaxed), BLOCKS.load(Ordering::Relaxed))
}

fn report(library: &str, step: &str, from: (isize, isize), to: (isize, isize)) {
    println!(
        "per_user_memory/{MODE}/{library}/{step:<10} {:>9.1} bytes in {:>6.2} blocks live per user",
        (to.0 - from.0) as f64 / USERS as f64,
        (to.1 - from.1) as f64 / USERS as f64,
    );
}

/// Measures `USERS` users made by `user` from clones of `token`, each asked
/// once by `ask`; reports the token alone, the user, and the total. (The
/// async `main` writes the same steps out: its `ask` awaits.)
#[cfg(feature = "blocking")]
macro_rules! measure {
    ($library:expr, $token:expr, $user:expr, $ask:expr) => {{
        let template = $token;
        let mut users = Vec::with_capacity(USERS);
        // The vectors' own buffers are made before counting starts.
        let mut tokens = Vec::with_capacity(USERS);
        let start = live();
        tokens.extend((0..USERS).map(|_| template.clone()));
        let seeded = live();
        for token in tokens.drain(..) {
            users.push($user(token));
        }
        for user in &users {
            $ask(user);
        }
        let done = live();
        report($library, "token", start, seeded);
        report($library, "user", seeded, done);
        report($library, "total", start, done);
        drop(users);
    }};
}

#[cfg(feature = "blocking")]
fn main() {
    // The default client and everything made once per process, first.
    ours(our_token(3600, "AQ-refresh"), None)
        .get_access_token()
        .expect("a valid token");
    measure!(
        "spotify-auth",
        our_token(3600, "AQ-refresh"),
        |token| ours(token, None),
        |user: &rspotify_comparison::Ours| {
            black_box(user.get_access_token().expect("a valid token"));
        }
    );
    // rspotify shares nothing between instances; one first all the same.
    drop(their_user(their_token(3600, "AQ-refresh")));
    measure!(
        "rspotify",
        their_token(3600, "AQ-refresh"),
        their_user,
        |user: &rspotify::AuthCodeSpotify| {
            user.auto_reauth().expect("no refresh needed");
            let token = user.get_token();
            let guard = token.lock().expect("token lock");
            black_box(guard.as_ref().map(|t| t.access_token.clone()));
        }
    );
}

#[cfg(feature = "async")]
fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        ours(our_token(3600, "AQ-refresh"), None)
            .get_access_token()
            .await
            .expect("a valid token");
        // `ask` is async here: the loop is written out.
        let template = our_token(3600, "AQ-refresh");
        let mut users = Vec::with_capacity(USERS);
        // The vectors' own buffers are made before counting starts.
        let mut tokens = Vec::with_capacity(USERS);
        let start = live();
        tokens.extend((0..USERS).map(|_| template.clone()));
        let seeded = live();
        for token in tokens.drain(..) {
            users.push(ours(token, None));
        }
        for user in &users {
            black_box(user.get_access_token().await.expect("a valid token"));
        }
        let done = live();
        report("spotify-auth", "token", start, seeded);
        report("spotify-auth", "user", seeded, done);
        report("spotify-auth", "total", start, done);
        drop(users);

        drop(their_user(their_token(3600, "AQ-refresh")));
        let template = their_token(3600, "AQ-refresh");
        let mut users = Vec::with_capacity(USERS);
        // The vectors' own buffers are made before counting starts.
        let mut tokens = Vec::with_capacity(USERS);
        let start = live();
        tokens.extend((0..USERS).map(|_| template.clone()));
        let seeded = live();
        for token in tokens.drain(..) {
            users.push(their_user(token));
        }
        for user in &users {
            user.auto_reauth().await.expect("no refresh needed");
            let token = user.get_token();
            let guard = token.lock().await.expect("token lock");
            black_box(guard.as_ref().map(|t| t.access_token.clone()));
        }
        let done = live();
        report("rspotify", "token", start, seeded);
        report("rspotify", "user", seeded, done);
        report("rspotify", "total", start, done);
    });
}
