//! The browser half of the flow, without I/O: the authorization URL, the
//! callback's parsing, state and PKCE generation, and the attempts in flight.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;

use crate::{AuthCode, Error, PkceVerifier, Result, Scopes};

/// What the authorization URL asks for.
pub(crate) struct AuthorizationRequest<'a> {
    pub endpoint: &'a Url,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a Scopes,
    pub state: Option<&'a str>,
    pub show_dialog: bool,
    pub code_challenge: Option<&'a str>,
}

impl AuthorizationRequest<'_> {
    /// The URL to send the user's browser to.
    pub fn url(&self) -> String {
        let mut url = self.endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", self.client_id)
                .append_pair("response_type", "code")
                .append_pair("redirect_uri", self.redirect_uri);
            if !self.scope.is_empty() {
                q.append_pair("scope", self.scope.as_str());
            }
            if let Some(state) = self.state {
                q.append_pair("state", state);
            }
            if self.show_dialog {
                q.append_pair("show_dialog", "true");
            }
            if let Some(challenge) = self.code_challenge {
                q.append_pair("code_challenge_method", "S256")
                    .append_pair("code_challenge", challenge);
            }
        }
        url.into()
    }
}

/// A code taken from a callback, with the state it came with.
#[derive(Debug)]
pub(crate) struct Callback {
    pub code: AuthCode,
    pub state: Option<String>,
}

/// Parses a callback: a full URL, a path with a query, or a bare query string.
///
/// Order of checks: an `error` is reported as [`Error::AuthorizationDenied`]
/// unless it carries a state that differs from the expected one; otherwise the
/// state must match exactly (compared in constant time; a missing or repeated
/// state is a mismatch), and there must be exactly one non-empty `code`.
pub(crate) fn parse_callback(url_or_query: &str, expected_state: Option<&str>) -> Result<Callback> {
    let query = callback_query(url_or_query.trim());
    let mut code: Vec<String> = Vec::new();
    let mut state: Vec<String> = Vec::new();
    let mut error: Option<String> = None;
    let mut description: Option<String> = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "code" => code.push(v.into_owned()),
            "state" => state.push(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    let state_matches = |expected: &str| {
        state.len() == 1 && constant_time_eq(state[0].as_bytes(), expected.as_bytes())
    };
    if let Some(error) = error {
        if let Some(expected) = expected_state
            && !state.is_empty()
            && !state_matches(expected)
        {
            return Err(Error::StateMismatch);
        }
        return Err(Error::AuthorizationDenied { error, description });
    }
    if let Some(expected) = expected_state
        && !state_matches(expected)
    {
        return Err(Error::StateMismatch);
    }
    if state.len() > 1 {
        return Err(Error::StateMismatch);
    }
    match <[String; 1]>::try_from(code) {
        Ok([c]) if !c.is_empty() => Ok(Callback {
            code: AuthCode::new(c),
            state: state.pop(),
        }),
        _ => Err(Error::MissingCode),
    }
}

/// The `state` of a callback (as [`parse_callback`] reads it), when it has
/// exactly one.
#[cfg(all(feature = "async", target_arch = "wasm32"))]
pub(crate) fn callback_state(url_or_query: &str) -> Option<String> {
    let query = callback_query(url_or_query.trim());
    let mut states = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned());
    let state = states.next()?;
    states.next().is_none().then_some(state)
}

/// The query of a callback: after the `?` of a URL (without its fragment),
/// or all of a bare query string.
pub(crate) fn callback_query(s: &str) -> &str {
    let without_fragment = s.split('#').next().unwrap_or("");
    match without_fragment.split_once('?') {
        Some((_, query)) => query,
        None if without_fragment.contains("://") => "",
        None => without_fragment,
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// `n` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(Error::random)?;
    Ok(buf)
}

/// A fresh random `state`: 256 bits from the OS CSPRNG, base64url (43 chars).
pub(crate) fn generate_state() -> Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// A fresh PKCE verifier: 64 random bytes, base64url (86 unreserved chars).
pub(crate) fn generate_verifier() -> Result<PkceVerifier> {
    Ok(PkceVerifier::new(
        URL_SAFE_NO_PAD.encode(random_bytes::<64>()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_has_every_parameter() {
        let endpoint = Url::parse("https://accounts.example/authorize").unwrap();
        let scope = Scopes::from("a,b");
        let req = AuthorizationRequest {
            endpoint: &endpoint,
            client_id: "id",
            redirect_uri: "http://127.0.0.1:8888/callback",
            scope: &scope,
            state: Some("st"),
            show_dialog: true,
            code_challenge: Some("ch"),
        };
        let url = Url::parse(&req.url()).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let expect = [
            ("client_id", "id"),
            ("response_type", "code"),
            ("redirect_uri", "http://127.0.0.1:8888/callback"),
            ("scope", "a b"),
            ("state", "st"),
            ("show_dialog", "true"),
            ("code_challenge_method", "S256"),
            ("code_challenge", "ch"),
        ];
        assert_eq!(
            pairs,
            expect.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
        );
    }

    #[test]
    fn parses_urls_and_queries() {
        for input in [
            "http://127.0.0.1:8888/callback?code=abc&state=s",
            "code=abc&state=s",
            "?code=abc&state=s",
            "/callback?state=s&code=abc#frag",
        ] {
            let cb = parse_callback(input, Some("s")).unwrap();
            assert_eq!(cb.code.secret(), "abc");
            assert_eq!(cb.state.as_deref(), Some("s"));
        }
        assert!(parse_callback("code=abc", None).is_ok());
    }

    #[test]
    fn callback_errors() {
        let denied = parse_callback(
            "error=access_denied&error_description=no+way&state=s",
            Some("s"),
        );
        match denied {
            Err(Error::AuthorizationDenied { error, description }) => {
                assert_eq!(error, "access_denied");
                assert_eq!(description.as_deref(), Some("no way"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_callback("error=access_denied&state=x", Some("s")),
            Err(Error::StateMismatch)
        ));
        assert!(matches!(
            parse_callback("code=c&state=x", Some("s")),
            Err(Error::StateMismatch)
        ));
        assert!(matches!(
            parse_callback("code=c", Some("s")),
            Err(Error::StateMismatch)
        ));
        assert!(matches!(
            parse_callback("code=c&state=s&state=s", Some("s")),
            Err(Error::StateMismatch)
        ));
        assert!(matches!(
            parse_callback("state=s", Some("s")),
            Err(Error::MissingCode)
        ));
        assert!(matches!(
            parse_callback("code=&state=s", Some("s")),
            Err(Error::MissingCode)
        ));
        assert!(matches!(
            parse_callback("code=a&code=b&state=s", Some("s")),
            Err(Error::MissingCode)
        ));
        assert!(matches!(
            parse_callback("http://127.0.0.1/cb", None),
            Err(Error::MissingCode)
        ));
    }

    #[test]
    fn state_and_pkce() {
        let a = generate_state().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, generate_state().unwrap());
        let v = generate_verifier().unwrap();
        assert!((43..=128).contains(&v.secret().len()));
        assert!(
            v.secret()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }
}
