//! Heap allocations per `get_access_token` call with a valid token, counted by
//! a global allocator that wraps the system one.
//!
//! `cargo bench --bench allocations` (blocking) or
//! `cargo bench --features async --bench allocations` (both modes). Prints one
//! line per mode and cache; the expected figure is 1 allocation per call (the
//! returned `String`). A report, not a test: nothing is asserted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts allocations (and reallocations) and the bytes they ask for.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size, Ordering::Relaxed);
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

/// Calls per measurement.
#[allow(dead_code)]
const CALLS: usize = 100_000;

/// A snapshot of the counters.
#[allow(dead_code)]
fn counters() -> (usize, usize) {
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    )
}

#[allow(dead_code)]
fn report(mode: &str, cache: &str, before: (usize, usize), after: (usize, usize)) {
    let allocations = (after.0 - before.0) as f64 / CALLS as f64;
    let bytes = (after.1 - before.1) as f64 / CALLS as f64;
    println!(
        "allocations/{mode}/{cache}: {allocations:.2} allocations, {bytes:.0} bytes per call ({CALLS} calls)"
    );
}

mod common;

#[cfg(feature = "blocking")]
fn blocking() {
    use spotify_auth::blocking::AuthorizationCode;
    let (_dir, caches) = common::caches();
    for (name, cache) in caches {
        let auth = AuthorizationCode::builder()
            .read_environment(false)
            .client_id("id")
            .client_secret("s")
            .redirect_uri("http://127.0.0.1:8888/callback")
            .token_cache(cache)
            .build()
            .expect("valid settings");
        auth.get_access_token().expect("a valid token");
        let before = counters();
        for _ in 0..CALLS {
            std::hint::black_box(auth.get_access_token().expect("a valid token"));
        }
        report("blocking", name, before, counters());
        let before = counters();
        for _ in 0..CALLS {
            std::hint::black_box(auth.get_authorization_header().expect("a valid token"));
        }
        report("blocking header", name, before, counters());
    }
}

#[cfg(feature = "async")]
fn asynchronous() {
    use spotify_auth::asynchronous::AuthorizationCode;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (_dir, caches) = common::caches();
    for (name, cache) in caches {
        let auth = AuthorizationCode::builder()
            .read_environment(false)
            .client_id("id")
            .client_secret("s")
            .redirect_uri("http://127.0.0.1:8888/callback")
            .token_cache(cache)
            .build()
            .expect("valid settings");
        let (before, after) = rt.block_on(async {
            auth.get_access_token().await.expect("a valid token");
            // Counted inside the runtime: block_on itself is not the library.
            let before = counters();
            for _ in 0..CALLS {
                std::hint::black_box(auth.get_access_token().await.expect("a valid token"));
            }
            (before, counters())
        });
        report("async", name, before, after);
        let (before, after) = rt.block_on(async {
            let before = counters();
            for _ in 0..CALLS {
                std::hint::black_box(
                    auth.get_authorization_header()
                        .await
                        .expect("a valid token"),
                );
            }
            (before, counters())
        });
        report("async header", name, before, after);
    }
}

fn main() {
    #[cfg(feature = "blocking")]
    blocking();
    #[cfg(feature = "async")]
    asynchronous();
    #[cfg(not(any(feature = "blocking", feature = "async")))]
    eprintln!("allocations: enable `blocking` and/or `async` to measure something");
}
