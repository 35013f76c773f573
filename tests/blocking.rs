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

    /// Concurrent callers in the contention tests: threads.
    pub const MANY: usize = 64;

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

/// Blocking-only behaviour (what needs tokio compiled in to be detected).
#[cfg(feature = "async")]
mod blocking_only {
    use super::suite::authorize_local::fake_with_redirect;
    use super::suite::builder;
    use spotify_auth::{AuthorizeLocalOptions, Error};

    /// Inside a tokio runtime the blocking login refuses with an error that
    /// points to the async API (detectable when tokio is compiled in).
    #[test]
    fn authorize_local_refuses_inside_an_async_runtime() {
        let (server, redirect) = fake_with_redirect();
        let auth = builder(server.url())
            .redirect_uri(&redirect)
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(async {
            auth.authorize_local(
                AuthorizeLocalOptions::new()
                    .open_browser(false)
                    .on_url(|_| {}),
            )
        });
        match result {
            Err(e @ Error::InsideAsyncRuntime(_)) => {
                assert!(e.to_string().contains("spotify_auth::asynchronous"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(server.authorize_request_count(), 0);
    }
}
