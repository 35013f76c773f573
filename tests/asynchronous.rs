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

    /// Concurrent callers in the contention tests: tasks.
    pub const MANY: usize = 1000;

    pub async fn server() -> mockito::ServerGuard {
        mockito::Server::new_async().await
    }

    pub async fn create(mock: mockito::Mock) -> mockito::Mock {
        mock.create_async().await
    }

    pub async fn assert(mock: &mockito::Mock) {
        mock.assert_async().await
    }

    pub async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await
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

/// The Web API middleware (`tests/web_api/`), with this mode's client.
#[path = "web_api/mod.rs"]
mod web_api;
#[path = "web_api/asynchronous.rs"]
mod web_api_client;

/// Async-only behaviour: the runtime is never blocked, and dropping the
/// future cleans up.
mod async_only {
    use super::suite::authorize_local::{browser, fake_with_redirect};
    use super::suite::builder;
    use spotify_auth::AuthorizeLocalOptions;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    /// On a single-threaded runtime, another task keeps running while the
    /// login waits: only that task lets the browser in.
    #[tokio::test(flavor = "current_thread")]
    async fn authorize_local_does_not_block_a_current_thread_runtime() {
        let (server, redirect) = fake_with_redirect();
        let auth = builder(server.url())
            .redirect_uri(&redirect)
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        let tx = std::sync::Mutex::new(Some(tx));
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let other_task = tokio::spawn(async move {
            let url = rx.await.unwrap();
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                t.fetch_add(1, Ordering::SeqCst);
            }
            browser(&url);
        });
        let options = AuthorizeLocalOptions::new()
            .open_browser(false)
            .timeout(Duration::from_secs(20))
            .on_url(move |url| {
                let _ = tx.lock().unwrap().take().unwrap().send(url.to_owned());
            });
        let token = auth.authorize_local(options).await;
        assert!(token.is_ok(), "{token:?}");
        assert_eq!(ticks.load(Ordering::SeqCst), 5);
        other_task.await.unwrap();
    }

    /// Binding a busy port retries for a moment (a dropped server's port is
    /// released late): that wait happens off the runtime, so other tasks on a
    /// single-threaded runtime keep running meanwhile.
    #[tokio::test(flavor = "current_thread")]
    async fn binding_a_busy_port_does_not_block_the_runtime() {
        let (server, redirect) = fake_with_redirect();
        let port = url::Url::parse(&redirect).unwrap().port().unwrap();
        let _holder = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let auth = builder(server.url())
            .redirect_uri(&redirect)
            .build()
            .unwrap();
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                t.fetch_add(1, Ordering::SeqCst);
            }
        });
        tokio::task::yield_now().await;
        let options = AuthorizeLocalOptions::new()
            .open_browser(false)
            .on_url(|_| panic!("the port is taken"));
        let result = auth.authorize_local(options).await;
        let during = ticks.load(Ordering::SeqCst);
        ticker.abort();
        assert!(
            matches!(result, Err(spotify_auth::Error::CallbackServer { .. })),
            "{result:?}"
        );
        assert!(
            during >= 10,
            "the runtime was blocked while binding: {during} ticks of 5 ms in the ~250 ms of retries"
        );
    }

    /// Dropping the future (here by a timeout) stops the server and frees the
    /// port.
    #[tokio::test(flavor = "current_thread")]
    async fn dropping_authorize_local_frees_the_port() {
        let (server, redirect) = fake_with_redirect();
        let port = url::Url::parse(&redirect).unwrap().port().unwrap();
        let auth = builder(server.url())
            .redirect_uri(&redirect)
            .build()
            .unwrap();
        let options = AuthorizeLocalOptions::new()
            .open_browser(false)
            .on_url(|_| {});
        let waited =
            tokio::time::timeout(Duration::from_millis(200), auth.authorize_local(options)).await;
        assert!(waited.is_err(), "still waiting when dropped");
        // tiny_http releases the socket on its accept thread: allow it a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match std::net::TcpListener::bind(("127.0.0.1", port)) {
                Ok(_) => break,
                Err(e) => {
                    assert!(Instant::now() < deadline, "port {port} still taken: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }
}

/// Cancelled callers: a refresh or an exchange whose request may have been
/// sent runs to its end without them, and stores what Spotify issued.
mod cancellation {
    use super::suite::lifecycle::{follow_authorize, rotating};
    use super::suite::{CLIENT_ID, CLIENT_SECRET, REDIRECT, builder, cache_with};
    use spotify_auth::TokenCache;
    use spotify_auth::testing::{FakeSpotify, Fault};
    use std::time::{Duration, Instant};

    /// Polls `cache` until it holds a token other than `old`.
    async fn until_replaced(cache: &dyn TokenCache, old: Option<&str>) -> spotify_auth::TokenInfo {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(t) = cache.get().unwrap()
                && Some(t.access_token.secret()) != old
            {
                return t;
            }
            assert!(Instant::now() < deadline, "the refresh never finished");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// An instance's first call, given up while it waits for the store's
    /// lock (held elsewhere): the wait goes on, and the login read once the
    /// lock comes is adopted, not thrown away with the caller. Later calls
    /// are then served from memory, even with the store down.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_first_call_given_up_while_waiting_for_the_lock_still_adopts_the_login() {
        use spotify_auth::FileTokenCache;
        use spotify_auth::testing::{CacheOp, FaultyCache};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.json");
        FileTokenCache::new(&path)
            .set(&super::suite::token("stored", 3600, Some("refresh")))
            .unwrap();
        let held = FileTokenCache::new(&path).lock().unwrap();
        let cache = std::sync::Arc::new(FaultyCache::new(FileTokenCache::new(&path)));
        // Nothing may be sent: a closed port.
        let auth = builder("http://127.0.0.1:9")
            .token_cache(cache.clone())
            .build()
            .unwrap();
        let given_up =
            tokio::time::timeout(Duration::from_millis(50), auth.get_access_token()).await;
        assert!(given_up.is_err(), "the caller gave up");
        drop(held);
        // The lock taken, the store read, the lock released again.
        let deadline = Instant::now() + Duration::from_secs(10);
        while cache.calls(CacheOp::Read) == 0
            || FileTokenCache::new(&path).try_lock().unwrap().is_none()
        {
            assert!(Instant::now() < deadline, "the store was never read");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cache.fail_always(CacheOp::Lock);
        cache.fail_always(CacheOp::Read);
        let got = auth.get_access_token().await;
        assert_eq!(got.ok().as_deref(), Some("stored"), "served from memory");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_caller_does_not_lose_the_refresh() {
        let (server, stale) = rotating();
        let old_refresh = stale.refresh_token.clone().unwrap();
        // Processed at once, answered 300 ms later.
        server.inject(Fault::DelayResponse(Duration::from_millis(300)), 1);
        let cache = cache_with(stale);
        let auth = builder(server.url())
            .token_cache(cache.clone())
            .build()
            .unwrap();
        let cancelled =
            tokio::time::timeout(Duration::from_millis(50), auth.get_access_token()).await;
        assert!(cancelled.is_err(), "the caller gave up");
        // The refresh goes on alone, and stores the rotated token.
        let stored = until_replaced(&*cache, Some("stale")).await;
        assert_ne!(stored.refresh_token.as_ref(), Some(&old_refresh), "rotated");
        assert!(server.refresh_token_is_live(stored.refresh_token.as_ref().unwrap().secret()));
        let got = auth.get_access_token().await.unwrap();
        assert_eq!(got, stored.access_token.secret());
        assert_eq!(
            server.token_request_count(),
            1,
            "the old refresh token was never sent again"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_arriving_during_an_orphaned_refresh_waits_for_it() {
        let (server, stale) = rotating();
        server.inject(Fault::DelayResponse(Duration::from_millis(300)), 1);
        let auth = builder(server.url())
            .token_cache(cache_with(stale))
            .build()
            .unwrap();
        for _ in 0..3 {
            let cancelled =
                tokio::time::timeout(Duration::from_millis(20), auth.get_access_token()).await;
            assert!(cancelled.is_err());
        }
        let got = auth.get_access_token().await;
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(
            server.token_request_count(),
            1,
            "one refresh for four callers, three cancelled"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_exchange_still_stores_the_login() {
        let server = FakeSpotify::builder()
            .client(CLIENT_ID, Some(CLIENT_SECRET))
            .redirect_uri(REDIRECT)
            .start()
            .unwrap();
        let cache = std::sync::Arc::new(spotify_auth::InMemoryTokenCache::new());
        let auth = builder(server.url())
            .token_cache(cache.clone())
            .build()
            .unwrap();
        let url = auth.get_authorization_url(Some("st"), None, false).unwrap();
        let code = follow_authorize(&url);
        server.inject(Fault::DelayResponse(Duration::from_millis(300)), 1);
        let cancelled =
            tokio::time::timeout(Duration::from_millis(50), auth.exchange_code(code)).await;
        assert!(cancelled.is_err(), "the caller gave up");
        let stored = until_replaced(&*cache, None).await;
        let got = auth.get_access_token().await.unwrap();
        assert_eq!(got, stored.access_token.secret(), "the login was kept");
        assert_eq!(server.token_request_count(), 1);
    }
}

/// A due retry of a failed cache write runs beside the call that finds it
/// due: a cache that hangs does not hold up callers of a valid token.
mod write_retry {
    use super::suite::builder;
    use super::suite::lifecycle::rotating;
    use spotify_auth::{CacheLock, Entry, Error, InMemoryTokenCache, TokenCache};
    use std::sync::Mutex;
    use std::sync::mpsc::{Receiver, Sender, channel};
    use std::time::Duration;

    /// Fails its first write (all its attempts), then holds every write
    /// until the test says go.
    struct Hanging {
        inner: InMemoryTokenCache,
        failures_left: Mutex<usize>,
        go: Mutex<Receiver<()>>,
        writes: Mutex<Sender<()>>,
    }

    impl TokenCache for Hanging {
        fn read(&self) -> spotify_auth::Result<Option<Entry>> {
            self.inner.read()
        }
        fn write(&self, entry: &Entry, lock: &CacheLock) -> spotify_auth::Result<()> {
            let mut failures_left = self.failures_left.lock().unwrap();
            if *failures_left > 0 {
                *failures_left -= 1;
                return Err(Error::cache("down (test)"));
            }
            drop(failures_left);
            self.writes.lock().unwrap().send(()).unwrap();
            self.go.lock().unwrap().recv().unwrap();
            self.inner.write(entry, lock)
        }
        fn lock(&self) -> spotify_auth::Result<CacheLock> {
            self.inner.lock()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hanging_write_retry_does_not_hold_up_callers() {
        let (server, stale) = rotating();
        let (go, go_rx) = channel();
        let (writes_tx, writes) = channel();
        let cache = std::sync::Arc::new(Hanging {
            inner: InMemoryTokenCache::with_token(stale),
            failures_left: Mutex::new(super::suite::lifecycle::WRITE_ATTEMPTS),
            go: Mutex::new(go_rx),
            writes: Mutex::new(writes_tx),
        });
        let auth = builder(server.url())
            .token_cache(cache.clone())
            .build()
            .unwrap();
        let token = auth.get_access_token().await.unwrap();
        assert!(auth.cache_write_error().is_some());
        // The retry is due: this call starts it and returns at once, while
        // the write hangs.
        for _ in 0..5 {
            let got = tokio::time::timeout(Duration::from_secs(5), auth.get_access_token()).await;
            assert_eq!(got.expect("held up by the write").unwrap(), token);
        }
        writes
            .recv_timeout(Duration::from_secs(5))
            .expect("the retry started");
        assert!(
            auth.cache_write_error().is_some(),
            "still unsaved while the write hangs"
        );
        go.send(()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while auth.cache_write_error().is_some() {
            assert!(
                std::time::Instant::now() < deadline,
                "the retry never finished"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            cache.inner.get().unwrap().unwrap().access_token.secret(),
            token
        );
        assert!(writes.try_recv().is_err(), "one retry, not one per call");
        assert_eq!(server.token_request_count(), 1);
    }
}

/// Row 7 of the lifecycle's fault table: an async program times out a
/// refresh and returns from `main` (its runtime is dropped). Without
/// `close()` the refresh, which Spotify processed (rotating the refresh
/// token), dies with the runtime; with it, its token is stored.
mod closing {
    use super::suite::builder;
    use super::suite::lifecycle::rotating;
    use spotify_auth::testing::Fault;
    use spotify_auth::{FileTokenCache, TokenCache};
    use std::time::Duration;

    /// One run of a program: a refresh timed out by its caller, then
    /// `close()` or not, then the runtime dropped.
    fn run(server: &spotify_auth::testing::FakeSpotify, path: &std::path::Path, close: bool) {
        server.inject(Fault::DelayResponse(Duration::from_millis(300)), 1);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let auth = builder(server.url())
                .token_cache(FileTokenCache::new(path))
                .build()
                .unwrap();
            let timed_out =
                tokio::time::timeout(Duration::from_millis(50), auth.get_access_token()).await;
            assert!(timed_out.is_err(), "the caller gave up");
            if close {
                let closed = auth.close().await;
                assert!(closed.is_ok(), "{closed:?}");
            }
        });
        drop(runtime);
    }

    #[test]
    fn close_keeps_what_a_timed_out_refresh_brings_when_the_runtime_ends() {
        let (server, stale) = rotating();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.json");
        // The control: without close(), the rotated token is lost with the
        // runtime, and the stored refresh token is spent.
        FileTokenCache::new(&path).set(&stale).unwrap();
        run(&server, &path, false);
        let kept = FileTokenCache::new(&path).get().unwrap().unwrap();
        let spent = kept.refresh_token.unwrap();
        assert_eq!(Some(&spent), stale.refresh_token.as_ref());
        assert!(
            !server.refresh_token_is_live(spent.secret()),
            "spent at Spotify"
        );
        // With close(): the next run finds the rotated, live token.
        let fresh = rotating();
        let (server, stale) = fresh;
        FileTokenCache::new(&path).set(&stale).unwrap();
        run(&server, &path, true);
        let kept = FileTokenCache::new(&path).get().unwrap().unwrap();
        let rotated = kept.refresh_token.clone().unwrap();
        assert_ne!(Some(&rotated), stale.refresh_token.as_ref());
        assert!(
            server.refresh_token_is_live(rotated.secret()),
            "the next run goes on"
        );
        assert!(!kept.is_expired());
    }
}

/// Instances built without `http_client(...)` on several runtimes: a
/// connection belongs to the runtime whose task drives it, so one runtime
/// ending must not cut a request another runtime has on the wire.
mod runtimes {
    use super::suite::lifecycle::rotating;
    use super::suite::{CLIENT_ID, builder, cache_with, token};
    use spotify_auth::TokenCache;
    use spotify_auth::testing::Fault;
    use std::time::{Duration, Instant};

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    /// The first runtime's instance leaves a pooled connection behind; the
    /// second runtime's refresh is processed (the token rotated) and its
    /// answer held back while the first runtime ends. The refresh must
    /// still get its answer: sent again, the old refresh token would be
    /// refused and the login would end.
    #[test]
    fn a_runtime_ending_does_not_cut_another_runtimes_refresh() {
        let (server, stale) = rotating();
        let other_refresh = server.issue_refresh_token(CLIENT_ID, "user-read-email");
        let first_runtime = runtime();
        let first = builder(server.url())
            .token_cache(cache_with(token("other", -10, Some(&other_refresh))))
            .build()
            .unwrap();
        let got = first_runtime.block_on(first.get_access_token());
        assert!(got.is_ok(), "{got:?}");
        // Let hyper put the connection back in its pool.
        std::thread::sleep(Duration::from_millis(50));

        let old_refresh = stale.refresh_token.clone().unwrap();
        let cache = cache_with(stale);
        let second = builder(server.url())
            .token_cache(cache.clone())
            .build()
            .unwrap();
        server.inject(Fault::DelayResponse(Duration::from_millis(400)), 1);
        let refresh = std::thread::spawn(move || runtime().block_on(second.get_access_token()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.token_request_count() < 2 {
            assert!(
                Instant::now() < deadline,
                "the second refresh never arrived"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(first);
        drop(first_runtime);
        let got = refresh.join().unwrap();
        assert!(got.is_ok(), "{got:?}");
        assert_eq!(
            server.token_request_count(),
            2,
            "the rotated refresh token was sent once"
        );
        let stored = cache.get().unwrap().unwrap();
        assert_ne!(stored.refresh_token.as_ref(), Some(&old_refresh), "rotated");
    }
}
