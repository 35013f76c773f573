//! The validation of token responses: a successful body becomes a
//! [`TokenResponse`], then the [`TokenInfo`] to adopt.

use crate::secret::{AccessToken, RefreshToken};
use crate::token::unix_now;
use crate::{Error, Result, TokenInfo};

/// The largest token response body accepted (1 MiB).
pub(crate) const MAX_BODY: usize = 1 << 20;

/// A validated successful token response (`Debug` redacts its tokens).
///
/// An incomplete answer that still carries a refresh token (Spotify rotated
/// it, then the rest went wrong) is kept as one, with its problem: the
/// refresh token must not be thrown away, since the one used may be dead
/// now. Its access token then counts as expired at once.
#[derive(Debug)]
pub(crate) struct TokenResponse {
    pub access_token: AccessToken,
    pub expires_in: u64,
    pub refresh_token: Option<RefreshToken>,
    pub scope: Option<String>,
    /// What is wrong with an incomplete answer (never its content).
    incomplete: Option<String>,
}

impl TokenResponse {
    /// Validates a 2xx body. Every failure is a typed error that never quotes
    /// the body (it may hold tokens); an incomplete body carrying a refresh
    /// token is kept (see [`problem`](Self::problem)).
    pub fn parse(body: &[u8]) -> Result<Self> {
        match Self::validate(body) {
            Ok(response) => Ok(response),
            Err(e) => Self::salvage(body, e),
        }
    }

    /// The error an incomplete answer is reported as, once what it carries
    /// is kept.
    pub fn problem(&self) -> Option<Error> {
        self.incomplete.clone().map(Error::invalid_response)
    }

    /// An invalid body that still carries a refresh token: keep that token,
    /// and the scope when it is readable.
    fn salvage(body: &[u8], error: Error) -> Result<Self> {
        let Error::InvalidTokenResponse { reason } = &error else {
            return Err(error);
        };
        if body.len() > MAX_BODY {
            return Err(error);
        }
        let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice(body) else {
            return Err(error);
        };
        if obj.contains_key("error") {
            return Err(error);
        }
        let Some(serde_json::Value::String(refresh)) = obj.get("refresh_token") else {
            return Err(error);
        };
        if refresh.is_empty() {
            return Err(error);
        }
        let access_token = match obj.get("access_token") {
            Some(serde_json::Value::String(s)) => AccessToken::new(s.clone()),
            _ => AccessToken::new(""),
        };
        let scope = match obj.get("scope") {
            Some(serde_json::Value::String(s)) => Some(crate::Scopes::from(s.as_str()).to_string()),
            _ => None,
        };
        Ok(TokenResponse {
            access_token,
            expires_in: 0,
            refresh_token: Some(RefreshToken::new(refresh.clone())),
            scope,
            incomplete: Some(format!(
                "{reason}; the refresh token it carries is kept, and the next call refreshes with it"
            )),
        })
    }

    fn validate(body: &[u8]) -> Result<Self> {
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
            incomplete: None,
        })
    }

    /// When the access token expires: `expires_in` from now, or now for an
    /// incomplete answer (so that it is never handed out).
    fn expires_at(&self) -> u64 {
        match self.incomplete {
            None => unix_now().saturating_add(self.expires_in),
            Some(_) => unix_now(),
        }
    }

    /// The token a response makes, with no authorization time (an app
    /// token).
    pub fn to_token(&self) -> TokenInfo {
        TokenInfo {
            access_token: self.access_token.clone(),
            expires_at: self.expires_at(),
            refresh_token: self.refresh_token.clone(),
            scope: self.scope.clone(),
            authorized_at: None,
        }
    }

    /// The token an authorization-code response makes: the user authorized
    /// just now.
    pub fn to_authorized(&self) -> TokenInfo {
        TokenInfo {
            authorized_at: Some(unix_now()),
            ..self.to_token()
        }
    }

    /// The token a refresh response makes: without a new refresh token the
    /// one used stays valid and is kept; without a scope, the previous one.
    /// The authorization time is the previous token's (a refresh does not
    /// extend the login).
    pub fn to_refreshed(&self, used: &RefreshToken, previous: Option<&TokenInfo>) -> TokenInfo {
        let scope = self
            .scope
            .clone()
            .or_else(|| previous.and_then(|p| p.scope.clone()));
        let refresh_token = self.refresh_token.clone().unwrap_or_else(|| used.clone());
        TokenInfo {
            refresh_token: Some(refresh_token),
            scope,
            authorized_at: previous.and_then(|p| p.authorized_at),
            ..self.to_token()
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
    fn an_incomplete_answer_keeps_its_refresh_token() {
        for body in [
            r#"{"access_token":"a","refresh_token":"rotated","scope":"x"}"#,
            r#"{"expires_in":3600,"refresh_token":"rotated"}"#,
            r#"{"access_token":"a","expires_in":"soon","refresh_token":"rotated"}"#,
        ] {
            let r = TokenResponse::parse(body.as_bytes()).unwrap();
            let problem = r.problem().expect("reported");
            assert!(
                matches!(problem, Error::InvalidTokenResponse { .. }),
                "{problem:?}"
            );
            assert!(!problem.to_string().contains("rotated"), "{problem}");
            let t = r.to_refreshed(&RefreshToken::new("used"), None);
            assert_eq!(t.refresh_token.as_ref().unwrap().secret(), "rotated");
            assert!(t.is_expired(), "never handed out");
        }
        for body in [
            r#"{"access_token":"a","refresh_token":""}"#,
            r#"{"error":"x","refresh_token":"r"}"#,
            r#"{"access_token":"a"}"#,
        ] {
            assert!(TokenResponse::parse(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn refresh_keeps_previous_refresh_token_and_scope() {
        let prev = TokenInfo {
            access_token: AccessToken::new("old"),
            expires_at: 0,
            refresh_token: Some(RefreshToken::new("r1")),
            scope: Some("s".into()),
            authorized_at: Some(1_700_000_000),
        };
        let used = RefreshToken::new("r1");
        let r = TokenResponse::parse(br#"{"access_token":"new","expires_in":10}"#).unwrap();
        let t = r.to_refreshed(&used, Some(&prev));
        assert_eq!(t.refresh_token.unwrap().secret(), "r1");
        assert_eq!(t.scope.as_deref(), Some("s"));
        assert_eq!(
            t.authorized_at,
            Some(1_700_000_000),
            "a refresh keeps the login time"
        );
        let r =
            TokenResponse::parse(br#"{"access_token":"new","expires_in":10,"refresh_token":"r2"}"#)
                .unwrap();
        assert_eq!(
            r.to_refreshed(&used, Some(&prev))
                .refresh_token
                .unwrap()
                .secret(),
            "r2"
        );
        let r = TokenResponse::parse(br#"{"access_token":"new","expires_in":10}"#).unwrap();
        let t = r.to_refreshed(&RefreshToken::new("boot"), None);
        assert_eq!(t.refresh_token.unwrap().secret(), "boot");
        assert_eq!(t.scope, None);
        assert_eq!(t.authorized_at, None, "unknown for a bootstrap token");
    }

    #[test]
    fn an_authorization_code_token_is_stamped_now() {
        let r =
            TokenResponse::parse(br#"{"access_token":"a","expires_in":10,"refresh_token":"r"}"#)
                .unwrap();
        let t = r.to_authorized();
        assert!(t.authorized_at.unwrap().abs_diff(unix_now()) <= 1);
        let r = TokenResponse::parse(br#"{"access_token":"a","expires_in":10}"#).unwrap();
        assert_eq!(r.to_token().authorized_at, None, "an app token has none");
    }
}
