//! Heap allocations per call with a valid token, spotify-auth beside rspotify,
//! counted by a global allocator wrapping the system one.
//!
//! `cargo run --release --features blocking --bin allocations`, and the same
//! with `--features async`. A report: nothing is asserted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use rspotify::prelude::*;
use rspotify_comparison::{MODE, our_token, ours, their_token, theirs};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CALLS: usize = 100_000;

fn count() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

fn report(what: &str, before: usize, after: usize) {
    println!(
        "allocations/{MODE}/{what}: {:.2} per call",
        (after - before) as f64 / CALLS as f64
    );
}

#[cfg(feature = "blocking")]
fn main() {
    let ours = ours(our_token(3600, "AQ-refresh"), None);
    ours.get_access_token().expect("a valid token");
    let theirs = theirs(their_token(3600, "AQ-refresh"), None);

    let before = count();
    for _ in 0..CALLS {
        black_box(ours.get_access_token().expect("a valid token"));
    }
    report("spotify-auth/get_access_token", before, count());

    let before = count();
    for _ in 0..CALLS {
        black_box(ours.get_authorization_header().expect("a valid token"));
    }
    report("spotify-auth/get_authorization_header", before, count());

    let before = count();
    for _ in 0..CALLS {
        black_box(format!(
            "Bearer {}",
            ours.get_access_token().expect("a valid token")
        ));
    }
    report("spotify-auth/bearer_header", before, count());

    let before = count();
    for _ in 0..CALLS {
        theirs.auto_reauth().expect("no refresh needed");
        let token = theirs.get_token();
        let guard = token.lock().expect("token lock");
        black_box(guard.as_ref().map(|t| t.access_token.clone()));
    }
    report("rspotify/check_and_clone", before, count());

    let before = count();
    for _ in 0..CALLS {
        black_box(theirs.auth_headers().expect("headers"));
    }
    report("rspotify/auth_headers", before, count());
}

#[cfg(feature = "async")]
fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ours = ours(our_token(3600, "AQ-refresh"), None);
    let theirs = theirs(their_token(3600, "AQ-refresh"), None);
    rt.block_on(async {
        ours.get_access_token().await.expect("a valid token");

        let before = count();
        for _ in 0..CALLS {
            black_box(ours.get_access_token().await.expect("a valid token"));
        }
        report("spotify-auth/get_access_token", before, count());

        let before = count();
        for _ in 0..CALLS {
            black_box(
                ours.get_authorization_header()
                    .await
                    .expect("a valid token"),
            );
        }
        report("spotify-auth/get_authorization_header", before, count());

        let before = count();
        for _ in 0..CALLS {
            black_box(format!(
                "Bearer {}",
                ours.get_access_token().await.expect("a valid token")
            ));
        }
        report("spotify-auth/bearer_header", before, count());

        let before = count();
        for _ in 0..CALLS {
            theirs.auto_reauth().await.expect("no refresh needed");
            let token = theirs.get_token();
            let guard = token.lock().await.expect("token lock");
            black_box(guard.as_ref().map(|t| t.access_token.clone()));
        }
        report("rspotify/check_and_clone", before, count());

        let before = count();
        for _ in 0..CALLS {
            black_box(theirs.auth_headers().await.expect("headers"));
        }
        report("rspotify/auth_headers", before, count());
    });
}
