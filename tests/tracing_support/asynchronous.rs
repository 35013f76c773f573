//! The scenario against the async API, plus what only it has: a caller that
//! goes away while its refresh runs on.

use maybe_async::must_be_async as maybe;
use spotify_auth::asynchronous as mode;

// The same file as the other mode's, by design.
#[allow(clippy::duplicate_mod)]
#[path = "scenario.rs"]
mod scenario;

use std::time::Duration;

use spotify_auth::testing::Fault;

/// What differs from the blocking run.
mod support {
    use super::mode;

    use spotify_auth::testing::FakeSpotify;

    /// `force_refresh`, and concurrently again once the first one's request
    /// has reached `server`.
    pub async fn two_forced_refreshes(
        auth: &mode::AuthorizationCode,
        server: &FakeSpotify,
    ) -> (spotify_auth::Result<String>, spotify_auth::Result<String>) {
        let before = server.token_request_count();
        let second = async {
            while !super::scenario::token_requests_above(server, before) {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            auth.force_refresh().await
        };
        tokio::join!(auth.force_refresh(), second)
    }

    /// Waits (at most 5 s) until the cache write left unsaved is stored: the
    /// call that finds it due retries it in a task of its own.
    pub async fn until_stored(auth: &mode::AuthorizationCode) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while auth.cache_write_error().is_some() {
            assert!(std::time::Instant::now() < deadline, "never stored");
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_span_or_event() {
    let turn = super::capture::start();
    let mut run = scenario::run().await;

    // Log in again, then give up on a refresh whose response is late: it
    // runs on without its caller, and the next caller (here, after the same
    // 401) waits for it and takes its token.
    let login = run
        .auth
        .authorize_local(
            spotify_auth::AuthorizeLocalOptions::new()
                .open_browser(false)
                .timeout(Duration::from_secs(20))
                .on_url(|url| {
                    let callback = scenario::follow_authorize(url);
                    std::thread::spawn(move || scenario::get(&callback));
                }),
        )
        .await;
    run.secrets
        .extend(scenario::token_secrets(&login.expect("logged in")));
    run.server
        .inject(Fault::DelayResponse(Duration::from_millis(300)), 1);
    let gave_up = tokio::time::timeout(Duration::from_millis(50), run.auth.force_refresh()).await;
    assert!(gave_up.is_err(), "the caller went away");
    let requests = run.server.token_request_count();
    let next = run.auth.force_refresh().await;
    run.secrets
        .push(next.expect("the orphaned refresh's token"));
    assert_eq!(
        run.server.token_request_count(),
        requests,
        "no second request"
    );

    let secrets = run.all_secrets();
    let expected: Vec<&str> = scenario::EXPECTED
        .iter()
        .copied()
        .chain([
            "[refresh] message=the caller went away; its work runs on to its end work=\"refresh\"",
            "[refresh] message=work finished with no caller left (its outcome is kept for the next caller) work=\"refresh\" ok=true",
        ])
        .collect();
    scenario::check(&turn.text(), &secrets, &expected);
}

/// Dropping a flow without `close()` while a refresh it detached is still
/// running (it may have been sent) is reported: the program may be about
/// to end and lose what that refresh brings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_with_work_pending_is_reported() {
    let turn = super::capture::start();
    let server = spotify_auth::testing::FakeSpotify::builder()
        .client(scenario::CLIENT_ID, Some(scenario::CLIENT_SECRET))
        .start()
        .unwrap();
    let refresh = server.issue_refresh_token(scenario::CLIENT_ID, "user-read-email");
    let auth = mode::AuthorizationCode::builder()
        .read_environment(false)
        .client_id(scenario::CLIENT_ID)
        .client_secret(scenario::CLIENT_SECRET)
        .redirect_uri("http://127.0.0.1:8888/callback")
        .accounts_base_url(server.url())
        .refresh_token(refresh.as_str())
        .build()
        .unwrap();
    server.inject(Fault::DelayResponse(Duration::from_millis(300)), 1);
    let gave_up = tokio::time::timeout(Duration::from_millis(50), auth.get_access_token()).await;
    assert!(gave_up.is_err(), "the caller went away");
    drop(auth);
    let text = turn.text();
    assert!(
        text.contains("EVENT WARN spotify_auth::flow [] message=dropped without close() while work was running or a write was owed")
            && text.contains("pending=1"),
        "{text}"
    );
    assert!(!text.contains(&refresh), "no secret");
}
