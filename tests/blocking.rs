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

    pub fn sleep(duration: std::time::Duration) {
        std::thread::sleep(duration)
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

/// The Web API middleware (`tests/web_api/`), with this mode's client.
#[path = "web_api/mod.rs"]
mod web_api;
#[path = "web_api/blocking.rs"]
mod web_api_client;

/// The blocking API in async programs: inside tokio's `spawn_blocking` (the
/// standard place for blocking calls in async code) everything works, the
/// browser login included.
#[cfg(feature = "async")]
mod blocking_in_async_programs {
    use super::suite::authorize_local::{browser, fake_with_redirect};
    use super::suite::builder;
    use spotify_auth::AuthorizeLocalOptions;
    use std::sync::Arc;

    #[test]
    fn the_blocking_api_works_inside_spawn_blocking() {
        let (server, redirect) = fake_with_redirect();
        let auth = Arc::new(
            builder(server.url())
                .redirect_uri(&redirect)
                .build()
                .unwrap(),
        );
        for flavor in ["current_thread", "multi_thread"] {
            let rt = match flavor {
                "current_thread" => tokio::runtime::Builder::new_current_thread(),
                _ => tokio::runtime::Builder::new_multi_thread(),
            }
            .enable_all()
            .build()
            .unwrap();
            let auth = auth.clone();
            let got = rt.block_on(async move {
                tokio::task::spawn_blocking(move || {
                    let options = AuthorizeLocalOptions::new()
                        .open_browser(false)
                        .on_url(browser);
                    let login = auth.authorize_local(options)?;
                    let token = auth.get_access_token()?;
                    assert_eq!(token, login.access_token.secret());
                    auth.force_refresh()
                })
                .await
                .unwrap()
            });
            assert!(got.is_ok(), "{flavor}: {got:?}");
        }
        assert_eq!(server.authorize_request_count(), 2);
    }
}
