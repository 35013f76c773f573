//! The shared behaviour suite (`tests/suite/`), run against the async API.
#![cfg(feature = "async")]

use maybe_async::must_be_async as maybe;
use spotify_auth::asynchronous as mode;

/// A test of the suite, run on a two-worker multi-thread runtime.
macro_rules! flow_test {
    ($(#[$meta:meta])* async fn $name:ident() $body:block) => {
        $(#[$meta])*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() $body
    };
}

/// What differs between the modes' tests: how to start mocks and run callers
/// concurrently.
mod support {
    use std::future::Future;

    pub async fn server() -> mockito::ServerGuard {
        mockito::Server::new_async().await
    }

    pub async fn create(mock: mockito::Mock) -> mockito::Mock {
        mock.create_async().await
    }

    pub async fn assert(mock: &mockito::Mock) {
        mock.assert_async().await
    }

    /// Runs `n` callers of `f` at once as tokio tasks.
    pub async fn concurrently<T, F>(n: usize, f: impl Fn() -> F) -> Vec<T>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let fut = f();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    fut.await
                })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }
}

#[path = "suite/mod.rs"]
mod suite;
