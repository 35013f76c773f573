//! The scenario against the blocking API.

use maybe_async::must_be_sync as maybe;
use spotify_auth::blocking as mode;

// The same file as the other mode's, by design.
#[allow(clippy::duplicate_mod)]
#[path = "scenario.rs"]
mod scenario;

/// What differs from the async run.
mod support {
    use super::mode;

    use spotify_auth::testing::FakeSpotify;

    /// Waits (at most 5 s) for the write retried beside the callers (a
    /// thread of its own) to store the token.
    pub fn until_stored(auth: &mode::AuthorizationCode) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while auth.cache_write_error().is_some() {
            assert!(std::time::Instant::now() < deadline, "never stored");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// `force_refresh` on a thread, then again here once its request has
    /// reached `server`.
    pub fn two_forced_refreshes(
        auth: &mode::AuthorizationCode,
        server: &FakeSpotify,
    ) -> (spotify_auth::Result<String>, spotify_auth::Result<String>) {
        let before = server.token_request_count();
        std::thread::scope(|s| {
            let first = s.spawn(|| auth.force_refresh());
            while !super::scenario::token_requests_above(server, before) {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            let second = auth.force_refresh();
            (first.join().unwrap(), second)
        })
    }
}

#[test]
fn no_secret_in_any_span_or_event() {
    let turn = super::capture::start();
    let run = scenario::run();
    let secrets = run.all_secrets();
    scenario::check(&turn.text(), &secrets, scenario::EXPECTED);
}
