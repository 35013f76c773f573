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

    /// Two threads calling `force_refresh` at once.
    pub fn two_forced_refreshes(
        auth: &mode::AuthorizationCode,
    ) -> (spotify_auth::Result<String>, spotify_auth::Result<String>) {
        std::thread::scope(|s| {
            let first = s.spawn(|| auth.force_refresh());
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
