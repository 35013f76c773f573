//! The shared behaviour suite (`tests/suite/`), run against the blocking API.
#![cfg(feature = "blocking")]

use maybe_async::must_be_sync as maybe;
use spotify_auth::blocking as mode;

/// A test of the suite, compiled as a plain `#[test]` without `async`.
macro_rules! flow_test {
    ($(#[$meta:meta])* async fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[maybe_async::must_be_sync]
        #[test]
        async fn $name() $body
    };
}

/// What differs between the modes' tests: how to start mocks and run callers
/// concurrently.
mod support {
    use std::sync::Arc;

    pub fn server() -> mockito::ServerGuard {
        mockito::Server::new()
    }

    pub fn create(mock: mockito::Mock) -> mockito::Mock {
        mock.create()
    }

    pub fn assert(mock: &mockito::Mock) {
        mock.assert()
    }

    /// Runs `n` callers of `f` at once on their own threads.
    pub fn concurrently<T: Send + 'static>(
        n: usize,
        f: impl Fn() -> T + Send + Sync + 'static,
    ) -> Vec<T> {
        let f = Arc::new(f);
        let barrier = Arc::new(std::sync::Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (f, barrier) = (f.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    f()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }
}

#[path = "suite/mod.rs"]
mod suite;
