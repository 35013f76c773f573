//! [`TokenInfo`], its file format, and the validation of token responses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::secret::{AccessToken, RefreshToken};
use crate::{Error, Result};

/// A token as stored in a cache: the access token, when it expires, the refresh
/// token, and the granted scopes.
///
/// Serialised as JSON with exactly the keys `access_token`, `expires_at` (Unix
/// seconds, a number), `refresh_token` and `scope`: the format of the Python
/// library this crate follows, so either can read a file the other wrote.
/// `Debug` never shows the tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl TokenInfo {
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

fn de_unix_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 => Ok(f.floor() as u64),
        _ => Err(serde::de::Error::custom(
            "expires_at must be a non-negative number",
        )),
    }
}

/// The largest token response body accepted (1 MiB).
pub(crate) const MAX_BODY: usize = 1 << 20;

/// A validated successful token response (`Debug` redacts its tokens).
#[derive(Debug)]
pub(crate) struct TokenResponse {
    pub access_token: AccessToken,
    pub expires_in: u64,
    pub refresh_token: Option<RefreshToken>,
    pub scope: Option<String>,
}

impl TokenResponse {
    /// Validates a 2xx body. Every failure is a typed error that never quotes
    /// the body (it may hold tokens).
    pub fn parse(body: &[u8]) -> Result<Self> {
        if body.len() > MAX_BODY {
            return Err(Error::invalid_response(format!(
                "body larger than {MAX_BODY} bytes"
            )));
        }
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|_| Error::invalid_response("body is not JSON"))?;
        let obj = value
            .as_object()
            .ok_or_else(|| Error::invalid_response("body is not a JSON object"))?;
        if let Some(error) = obj.get("error") {
            return Err(Error::invalid_response(format!(
                "a success status carrying an error body ({})",
                error.as_str().unwrap_or("non-string error")
            )));
        }
        let access_token = match obj.get("access_token") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => AccessToken::new(s.clone()),
            Some(_) => {
                return Err(Error::invalid_response(
                    "access_token is not a non-empty string",
                ));
            }
            None => return Err(Error::invalid_response("no access_token")),
        };
        let expires_in = match obj.get("expires_in") {
            None => return Err(Error::invalid_response("no expires_in")),
            Some(v) => parse_expires_in(v)?,
        };
        let refresh_token = match obj.get("refresh_token") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => {
                Some(RefreshToken::new(s.clone()))
            }
            None | Some(serde_json::Value::Null) => None,
            Some(_) => return Err(Error::invalid_response("refresh_token is not a string")),
        };
        let scope = match obj.get("scope") {
            Some(serde_json::Value::String(s)) => Some(crate::Scopes::from(s.as_str()).to_string()),
            None | Some(serde_json::Value::Null) => None,
            Some(_) => return Err(Error::invalid_response("scope is not a string")),
        };
        Ok(TokenResponse {
            access_token,
            expires_in,
            refresh_token,
            scope,
        })
    }

    /// The token an authorization-code response makes.
    pub fn into_token(self) -> TokenInfo {
        TokenInfo {
            access_token: self.access_token,
            expires_at: unix_now().saturating_add(self.expires_in),
            refresh_token: self.refresh_token,
            scope: self.scope,
        }
    }

    /// The token a refresh response makes: without a new refresh token the
    /// one used stays valid and is kept; without a scope, the previous one.
    pub fn into_refreshed(self, used: &RefreshToken, previous: Option<&TokenInfo>) -> TokenInfo {
        let scope = self
            .scope
            .clone()
            .or_else(|| previous.and_then(|p| p.scope.clone()));
        let refresh_token = self.refresh_token.clone().unwrap_or_else(|| used.clone());
        TokenInfo {
            refresh_token: Some(refresh_token),
            scope,
            ..self.into_token()
        }
    }
}

fn parse_expires_in(v: &serde_json::Value) -> Result<u64> {
    const MAX: u64 = 10 * 365 * 24 * 3600;
    let n = match v {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f as u64)
        }),
        serde_json::Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n <= MAX => Ok(n),
        Some(_) => Err(Error::invalid_response("expires_in is absurdly large")),
        None => Err(Error::invalid_response(
            "expires_in is not a non-negative number",
        )),
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
        };
        assert!(t.is_valid_for(Duration::from_secs(30)));
        assert!(!t.is_valid_for(Duration::from_secs(200)));
        t.expires_at = 0;
        assert!(t.is_expired());
        assert_eq!(t.expires_in(), Duration::ZERO);
    }

    #[test]
    fn response_validation() {
        let ok = |b: &str| TokenResponse::parse(b.as_bytes());
        let r = ok(r#"{"access_token":"a","expires_in":3600,"refresh_token":"r","scope":"x y"}"#)
            .unwrap();
        assert_eq!(r.expires_in, 3600);
        assert_eq!(
            ok(r#"{"access_token":"a","expires_in":"60"}"#)
                .unwrap()
                .expires_in,
            60
        );
        for bad in [
            "not json",
            "[1]",
            r#"{"expires_in":3600}"#,
            r#"{"access_token":"a"}"#,
            r#"{"access_token":"a","expires_in":-1}"#,
            r#"{"access_token":"a","expires_in":"soon"}"#,
            r#"{"access_token":"a","expires_in":true}"#,
            r#"{"access_token":"","expires_in":1}"#,
            r#"{"error":"invalid_grant","access_token":"a","expires_in":1}"#,
        ] {
            let e = ok(bad).err().unwrap_or_else(|| panic!("accepted {bad}"));
            assert!(
                matches!(e, Error::InvalidTokenResponse { .. }),
                "{bad}: {e:?}"
            );
        }
        let big = vec![b' '; MAX_BODY + 1];
        assert!(TokenResponse::parse(&big).is_err());
    }

    #[test]
    fn refresh_keeps_previous_refresh_token_and_scope() {
        let prev = TokenInfo {
            access_token: AccessToken::new("old"),
            expires_at: 0,
            refresh_token: Some(RefreshToken::new("r1")),
            scope: Some("s".into()),
        };
        let used = RefreshToken::new("r1");
        let r = TokenResponse::parse(br#"{"access_token":"new","expires_in":10}"#).unwrap();
        let t = r.into_refreshed(&used, Some(&prev));
        assert_eq!(t.refresh_token.unwrap().secret(), "r1");
        assert_eq!(t.scope.as_deref(), Some("s"));
        let r =
            TokenResponse::parse(br#"{"access_token":"new","expires_in":10,"refresh_token":"r2"}"#)
                .unwrap();
        assert_eq!(
            r.into_refreshed(&used, Some(&prev))
                .refresh_token
                .unwrap()
                .secret(),
            "r2"
        );
        let r = TokenResponse::parse(br#"{"access_token":"new","expires_in":10}"#).unwrap();
        let t = r.into_refreshed(&RefreshToken::new("boot"), None);
        assert_eq!(t.refresh_token.unwrap().secret(), "boot");
        assert_eq!(t.scope, None);
    }
}
