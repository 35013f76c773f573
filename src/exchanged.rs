//! One code, one exchange: the results of codes exchanged moments ago, so
//! that a callback delivered twice (a reload, a double click, two tabs)
//! sends one request and both callers get its result. Sending a code twice
//! is worse than an error: Spotify may revoke every token issued from it
//! (RFC 6749 §4.1.2).

use crate::entry::{Fingerprint, now_ms};
use crate::{Result, TokenInfo};

/// How long a result is kept: as long as Spotify's codes live (10 minutes).
const KEEP_MS: u64 = 10 * 60 * 1000;

/// How many results are kept at most (the oldest go first).
const MAX_KEPT: usize = 8;

/// The recent exchanges of one instance (empty almost always: no
/// allocation until a code is exchanged).
#[derive(Default)]
pub(crate) struct Exchanged {
    recent: Vec<(Fingerprint, u64, Result<TokenInfo>)>,
}

impl Exchanged {
    /// The result of exchanging `code`, if that was done moments ago.
    pub fn result(&mut self, code: Fingerprint) -> Option<Result<TokenInfo>> {
        let now = now_ms();
        self.recent
            .retain(|(_, at, _)| now.saturating_sub(*at) < KEEP_MS);
        self.recent
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, _, result)| result.clone())
    }

    /// Keeps the result of exchanging `code`, unless it failed for a
    /// passing reason (the same code may then be tried again).
    pub fn remember(&mut self, code: Fingerprint, result: &Result<TokenInfo>) {
        if matches!(result, Err(e) if crate::retry::is_transient(e)) {
            return;
        }
        if self.recent.len() >= MAX_KEPT {
            drop(self.recent.remove(0));
        }
        self.recent.push((code, now_ms(), result.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccessToken, AuthCode, Error};

    fn token() -> TokenInfo {
        TokenInfo {
            access_token: AccessToken::new("a"),
            expires_at: 1,
            refresh_token: None,
            scope: None,
            authorized_at: None,
        }
    }

    #[test]
    fn a_result_is_kept_for_its_code_and_passing_failures_are_not() {
        let mut ex = Exchanged::default();
        let code = Fingerprint::of_code(&AuthCode::new("c1"));
        assert!(ex.result(code).is_none());
        ex.remember(code, &Ok(token()));
        assert_eq!(ex.result(code).unwrap().unwrap(), token());
        let other = Fingerprint::of_code(&AuthCode::new("c2"));
        assert!(ex.result(other).is_none());
        let transient = Err(Error::RateLimited {
            retry_after: std::time::Duration::from_secs(1),
        });
        ex.remember(other, &transient);
        assert!(ex.result(other).is_none(), "may be tried again");
        ex.remember(other, &Err(Error::NotAuthorized));
        assert!(ex.result(other).unwrap().is_err());
        for i in 0..MAX_KEPT {
            ex.remember(
                Fingerprint::of_code(&AuthCode::new(format!("x{i}"))),
                &Ok(token()),
            );
        }
        assert!(ex.result(code).is_none(), "the oldest went first");
        ex.recent[0].1 = 0;
        let first = ex.recent[0].0;
        assert!(ex.result(first).is_none(), "expired");
    }
}
