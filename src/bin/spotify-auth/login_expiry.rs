//! The six-month login: Spotify's refresh tokens expire
//! [`LOGIN_LIFETIME`](spotify_auth::LOGIN_LIFETIME) after the user authorized,
//! however often they are used. When a stored token's login ends, how
//! `status` says it, and when it warns.

use spotify_auth::TokenInfo;

use crate::clock;

/// `status` warns when the login ends within this many seconds (14 days).
pub const WARN_WITHIN: u64 = 14 * 86_400;

/// When a stored token's login ends, as of one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginExpiry {
    /// When the user authorized, in Unix seconds; `None` when the token file
    /// does not say (written by the Python library or an older version).
    pub authorized_at: Option<u64>,
    /// When the login ends ([`TokenInfo::login_expires_at`]), in Unix seconds.
    pub expires_at: Option<u64>,
    /// Seconds from now until then; negative once it has passed.
    pub expires_in: Option<i64>,
}

impl LoginExpiry {
    /// The login of `token` at Unix time `now`.
    pub fn of(token: &TokenInfo, now: u64) -> Self {
        let expires_at = token.login_expires_at();
        Self {
            authorized_at: token.authorized_at,
            expires_at,
            expires_in: expires_at.map(|at| clock::seconds_until(at, now)),
        }
    }

    /// Whether the login has ended; `None` when unknown.
    pub fn expired(&self) -> Option<bool> {
        self.expires_in.map(|s| s <= 0)
    }

    /// Whether to log in again now: the login ends within [`WARN_WITHIN`] or
    /// has ended. `false` when unknown.
    pub fn expires_soon(&self) -> bool {
        self.expires_in.is_some_and(|s| s < WARN_WITHIN as i64)
    }

    /// The value of the report's `Login:` line.
    pub fn describe(&self) -> String {
        match (self.expires_at, self.expires_in) {
            (Some(at), Some(secs)) if secs > 0 => format!(
                "expires in {} ({})",
                in_days(secs.unsigned_abs()),
                clock::format_utc(at)
            ),
            (Some(at), Some(secs)) => format!(
                "expired {} ({}): run `spotify-auth login` again",
                clock::format_utc(at),
                clock::relative(secs)
            ),
            _ => "expiry unknown (the token file does not say when you logged in: \
                  it was written by the Python library or an older version, or the login \
                  started from a refresh token; the next browser `spotify-auth login` \
                  records it)"
                .to_owned(),
        }
    }

    /// The report's `Warning:` line, when the login ends within
    /// [`WARN_WITHIN`] (and has not yet ended: [`describe`](Self::describe)
    /// says that).
    pub fn warning(&self) -> Option<String> {
        match self.expires_in {
            Some(secs) if secs > 0 && self.expires_soon() => Some(format!(
                "login expires in {}: run `spotify-auth login` again before then \
                 (Spotify asks again six months after a login)",
                in_days(secs.unsigned_abs())
            )),
            _ => None,
        }
    }
}

/// A span of at least a day in whole days (`1 day`, `13 days`), a shorter one
/// as [`clock::span`] puts it (`5 h 3 min`).
fn in_days(secs: u64) -> String {
    match secs / 86_400 {
        0 => clock::span(secs),
        1 => "1 day".to_owned(),
        days => format!("{days} days"),
    }
}

#[cfg(test)]
mod tests {
    use spotify_auth::LOGIN_LIFETIME;

    use super::*;

    const NOW: u64 = 1_700_000_000;
    const DAY: u64 = 86_400;

    /// The login of a token authorized at `authorized_at`, as of [`NOW`].
    fn login(authorized_at: Option<u64>) -> LoginExpiry {
        let mut token = TokenInfo::new("a", NOW);
        token.authorized_at = authorized_at;
        LoginExpiry::of(&token, NOW)
    }

    /// A login that ends `left` seconds after [`NOW`] (negative: ended).
    fn ending_in(left: i64) -> LoginExpiry {
        let end = NOW.checked_add_signed(left).unwrap();
        login(Some(end - LOGIN_LIFETIME.as_secs()))
    }

    #[test]
    fn fresh_login_counts_days_without_warning() {
        let l = login(Some(NOW));
        assert_eq!(l.expires_at, Some(NOW + 180 * DAY));
        assert_eq!(l.expires_in, Some(180 * DAY as i64));
        assert_eq!(l.expired(), Some(false));
        assert!(!l.expires_soon());
        assert_eq!(l.warning(), None);
        assert!(
            l.describe().starts_with("expires in 180 days ("),
            "{}",
            l.describe()
        );
    }

    #[test]
    fn warns_under_fourteen_days() {
        let at_limit = ending_in(14 * DAY as i64);
        assert!(!at_limit.expires_soon(), "14 days left is not under 14");
        assert_eq!(at_limit.warning(), None);

        let l = ending_in(14 * DAY as i64 - 1);
        assert!(l.expires_soon());
        assert_eq!(l.expired(), Some(false));
        let w = l.warning().unwrap();
        assert!(
            w.starts_with("login expires in 13 days: run `spotify-auth login`"),
            "{w}"
        );

        assert_eq!(
            ending_in(DAY as i64).describe(),
            format!("expires in 1 day ({})", clock::format_utc(NOW + DAY))
        );
        let hours = ending_in(5 * 3600 + 180);
        assert!(
            hours
                .warning()
                .unwrap()
                .starts_with("login expires in 5 h 3 min:")
        );
    }

    #[test]
    fn past_the_end_is_expired_without_a_countdown() {
        for l in [ending_in(0), ending_in(-3 * DAY as i64)] {
            assert_eq!(l.expired(), Some(true));
            assert!(l.expires_soon());
            assert_eq!(l.warning(), None, "describe() says it");
            assert!(l.describe().starts_with("expired "), "{}", l.describe());
            assert!(l.describe().contains("spotify-auth login"));
        }
        assert!(
            ending_in(-3 * DAY as i64)
                .describe()
                .contains("(3 d 0 h ago)")
        );
    }

    #[test]
    fn unknown_without_an_authorization_time() {
        let l = login(None);
        assert_eq!(
            (l.authorized_at, l.expires_at, l.expires_in),
            (None, None, None)
        );
        assert_eq!(l.expired(), None);
        assert!(!l.expires_soon());
        assert_eq!(l.warning(), None);
        assert!(l.describe().starts_with("expiry unknown ("));
    }

    #[test]
    fn absurd_times_do_not_overflow() {
        for at in [u64::MAX, i64::MAX as u64 + 1, 0] {
            let l = login(Some(at));
            let _ = (l.describe(), l.warning(), l.expires_soon());
        }
        assert_eq!(login(Some(u64::MAX)).expires_in, Some(i64::MAX));
    }
}
