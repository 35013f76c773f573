//! [`TokenInfo`] and its file format; the validation of token responses is in
//! `token/response.rs` (compiled with a mode only).

use std::time::Duration;

use crate::clock::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::secret::{AccessToken, RefreshToken};

#[cfg(any(feature = "blocking", feature = "async"))]
mod response;
#[cfg(any(feature = "blocking", feature = "async"))]
pub(crate) use response::{MAX_BODY, TokenResponse};

/// A token as stored in a cache: the access token, when it expires, the refresh
/// token, the granted scopes, and when the user authorized.
///
/// Serialised as JSON with the keys `access_token`, `expires_at` (Unix
/// seconds, a number), `refresh_token` and `scope`: the format of the Python
/// library this crate follows, so either can read a file the other wrote.
/// `authorized_at` (Unix seconds) is added when known; the Python library
/// ignores it, and a file without it (written by that library or by an older
/// version of this one) loads with the time unknown. `Debug` never shows the
/// tokens.
///
/// Fields may be added in later versions (`#[non_exhaustive]`): build one
/// with [`new`](Self::new) and the `with_*` setters rather than a struct
/// literal, e.g. to seed a cache in a test or to migrate tokens kept
/// elsewhere. The fields stay public, to read and to change.
///
/// ```
/// use spotify_auth::TokenInfo;
///
/// let token = TokenInfo::new("an-access-token", 1_700_003_600)
///     .with_refresh_token("a-refresh-token")
///     .with_scope("user-read-email user-top-read")
///     .with_authorized_at(1_700_000_000);
/// assert_eq!(token.refresh_token.as_ref().map(|t| t.secret()), Some("a-refresh-token"));
/// assert_eq!(token.scope.as_deref(), Some("user-read-email user-top-read"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The access token.
    pub access_token: AccessToken,
    /// When the access token expires, in seconds since the Unix epoch.
    #[serde(deserialize_with = "de_unix_seconds")]
    pub expires_at: u64,
    /// The refresh token, when one was issued.
    #[serde(default)]
    pub refresh_token: Option<RefreshToken>,
    /// The granted scopes, space-delimited, when known.
    #[serde(default)]
    pub scope: Option<String>,
    /// When the user authorized (the browser login this token descends
    /// from), in seconds since the Unix epoch; `None` when unknown (a token
    /// from a bootstrap refresh token, an app token, or a file written
    /// without it). Kept across refreshes: Spotify's refresh tokens expire
    /// [`LOGIN_LIFETIME`] after it, however often they are used.
    #[serde(
        default,
        deserialize_with = "de_opt_unix_seconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub authorized_at: Option<u64>,
}

/// How long a login lasts: Spotify's refresh tokens expire six months after
/// the user authorized, however often they are used. Counted here as 180
/// days, never more than six calendar months, so that warnings come early
/// rather than late.
pub const LOGIN_LIFETIME: Duration = Duration::from_secs(180 * 24 * 3600);

impl TokenInfo {
    /// A token with this access token, expiring at `expires_at` (seconds
    /// since the Unix epoch); no refresh token, scopes or authorization
    /// time: add them with the `with_*` setters.
    pub fn new(access_token: impl Into<AccessToken>, expires_at: u64) -> Self {
        TokenInfo {
            access_token: access_token.into(),
            expires_at,
            refresh_token: None,
            scope: None,
            authorized_at: None,
        }
    }

    /// With this refresh token.
    #[must_use]
    pub fn with_refresh_token(mut self, refresh_token: impl Into<RefreshToken>) -> Self {
        self.refresh_token = Some(refresh_token.into());
        self
    }

    /// With these granted scopes, space-delimited, kept as given
    /// ([`Scopes::as_str`](crate::Scopes::as_str) gives that form).
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// With the time the user authorized, in seconds since the Unix epoch
    /// (see [`authorized_at`](Self::authorized_at)).
    #[must_use]
    pub fn with_authorized_at(mut self, authorized_at: u64) -> Self {
        self.authorized_at = Some(authorized_at);
        self
    }

    /// Whether the access token is still valid `margin` from now.
    pub fn is_valid_for(&self, margin: Duration) -> bool {
        unix_now().saturating_add(margin.as_secs()) < self.expires_at
    }

    /// Whether the access token has expired.
    pub fn is_expired(&self) -> bool {
        !self.is_valid_for(Duration::ZERO)
    }

    /// How long until the access token expires (zero once it has).
    pub fn expires_in(&self) -> Duration {
        Duration::from_secs(self.expires_at.saturating_sub(unix_now()))
    }

    /// When the user will have to authorize again (the refresh token
    /// expires), in Unix seconds: [`authorized_at`](Self::authorized_at) plus
    /// [`LOGIN_LIFETIME`]. `None` when the authorization time is unknown.
    pub fn login_expires_at(&self) -> Option<u64> {
        self.authorized_at
            .map(|t| t.saturating_add(LOGIN_LIFETIME.as_secs()))
    }

    /// How long until the user will have to authorize again (zero once that
    /// time has passed); `None` when the authorization time is unknown.
    pub fn login_expires_in(&self) -> Option<Duration> {
        self.login_expires_at()
            .map(|t| Duration::from_secs(t.saturating_sub(unix_now())))
    }

    /// The token as JSON in the cache file format.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("TokenInfo always serialises")
    }

    /// Parses the cache file format: one JSON object. Errors never contain
    /// the file's content.
    pub fn from_json(json: &[u8]) -> std::result::Result<Self, String> {
        // serde's derived deserializer would also take the fields as an array.
        if json.trim_ascii_start().first() != Some(&b'{') {
            return Err("not a valid token file (not a JSON object)".to_owned());
        }
        serde_json::from_slice(json).map_err(|e| {
            // serde_json's messages quote offending values only for type errors
            // on scalars; report position and category, never the content.
            format!(
                "not a valid token file ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })
    }
}

/// Seconds since the Unix epoch, by the system clock (which, unlike the
/// monotonic clock, keeps counting while the machine sleeps).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, by the system clock.
#[cfg(any(feature = "blocking", feature = "async"))]
pub(crate) fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn de_unix_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    unix_seconds(serde_json::Number::deserialize(d)?)
}

fn de_opt_unix_seconds<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<u64>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?
        .map(unix_seconds)
        .transpose()
}

fn unix_seconds<E: serde::de::Error>(n: serde_json::Number) -> std::result::Result<u64, E> {
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 => Ok(f.floor() as u64),
        _ => Err(E::custom("a time must be a non-negative number of seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_format_is_python_compatible() {
        let t = TokenInfo {
            access_token: AccessToken::new("a"),
            expires_at: 1_700_000_000,
            refresh_token: Some(RefreshToken::new("r")),
            scope: Some("x y".into()),
            authorized_at: None,
        };
        let json = t.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            ["access_token", "expires_at", "refresh_token", "scope"]
        );
        assert_eq!(v["expires_at"], 1_700_000_000u64);
        assert_eq!(TokenInfo::from_json(json.as_bytes()).unwrap(), t);
        // Python writes floats and may write nulls.
        let py = br#"{"access_token": "a", "expires_at": 1700000000.75, "refresh_token": null, "scope": null}"#;
        let t2 = TokenInfo::from_json(py).unwrap();
        assert_eq!(t2.expires_at, 1_700_000_000);
        assert_eq!(t2.refresh_token, None);
    }

    #[test]
    fn the_constructor_and_setters_fill_every_field() {
        let bare = TokenInfo::new("a", 7);
        assert_eq!(
            bare,
            TokenInfo {
                access_token: AccessToken::new("a"),
                expires_at: 7,
                refresh_token: None,
                scope: None,
                authorized_at: None,
            }
        );
        let full = TokenInfo::new(AccessToken::new("a"), 7)
            .with_refresh_token(RefreshToken::new("r"))
            .with_scope("b  a,b")
            .with_authorized_at(3);
        assert_eq!(
            full,
            TokenInfo {
                access_token: AccessToken::new("a"),
                expires_at: 7,
                refresh_token: Some(RefreshToken::new("r")),
                scope: Some("b  a,b".to_owned()),
                authorized_at: Some(3),
            },
            "the scope is kept as given"
        );
    }

    #[test]
    fn from_json_errors_never_quote_content() {
        let err = TokenInfo::from_json(br#"{"access_token": 5, "expires_at": 1}"#).unwrap_err();
        assert!(!err.contains('5') || err.contains("line"), "{err}");
        let err =
            TokenInfo::from_json(br#"{"access_token": "SECRET", "expires_at": "x"}"#).unwrap_err();
        assert!(!err.contains("SECRET"), "{err}");
        assert!(TokenInfo::from_json(b"{\"access_token\": \"a\"").is_err());
        assert!(TokenInfo::from_json(b"").is_err());
        assert!(
            TokenInfo::from_json(br#"["a", 1, null, null]"#).is_err(),
            "an array is not a token"
        );
    }

    #[test]
    fn validity() {
        let mut t = TokenInfo {
            access_token: AccessToken::new("a"),
            expires_at: unix_now() + 100,
            refresh_token: None,
            scope: None,
            authorized_at: None,
        };
        assert!(t.is_valid_for(Duration::from_secs(30)));
        assert!(!t.is_valid_for(Duration::from_secs(200)));
        t.expires_at = 0;
        assert!(t.is_expired());
        assert_eq!(t.expires_in(), Duration::ZERO);
    }

    #[test]
    fn authorization_time_round_trips_and_is_optional() {
        let t = TokenInfo {
            access_token: AccessToken::new("a"),
            expires_at: unix_now() + 10,
            refresh_token: Some(RefreshToken::new("r")),
            scope: None,
            authorized_at: Some(unix_now()),
        };
        assert_eq!(
            t.login_expires_at(),
            Some(t.authorized_at.unwrap() + LOGIN_LIFETIME.as_secs())
        );
        let back = TokenInfo::from_json(t.to_json().as_bytes()).unwrap();
        assert_eq!(back, t);
        let v: serde_json::Value = serde_json::from_str(&t.to_json()).unwrap();
        assert!(v["authorized_at"].is_u64());
        // Written without it (Python, older versions): unknown, and not
        // written back.
        let old = TokenInfo::from_json(
            br#"{"access_token":"a","expires_at":1,"refresh_token":"r","scope":null}"#,
        )
        .unwrap();
        assert_eq!(old.authorized_at, None);
        assert_eq!(old.login_expires_in(), None);
        assert!(!old.to_json().contains("authorized_at"));
        let null =
            TokenInfo::from_json(br#"{"access_token":"a","expires_at":1,"authorized_at":null}"#)
                .unwrap();
        assert_eq!(null.authorized_at, None);
        let float = TokenInfo::from_json(
            br#"{"access_token":"a","expires_at":1,"authorized_at":1700000000.5}"#,
        )
        .unwrap();
        assert_eq!(float.authorized_at, Some(1_700_000_000));
        assert!(
            TokenInfo::from_json(br#"{"access_token":"a","expires_at":1,"authorized_at":-3}"#)
                .is_err()
        );
        // Long ago: the login has lapsed.
        let lapsed = TokenInfo {
            authorized_at: Some(1),
            ..old
        };
        assert_eq!(lapsed.login_expires_in(), Some(Duration::ZERO));
    }
}
