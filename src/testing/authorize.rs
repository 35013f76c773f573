//! `GET /authorize`: the signed-in user's consent, approved (or denied) at once.

use std::time::Instant;

use url::Url;

use super::http::{Incoming, Reply, param};
use super::state::{CODE_LIFETIME, CodeGrant, Config, State, random_token};

/// Answers an authorization request.
///
/// An unknown client or an unregistered redirect URI gets an error page, never
/// a redirect (as on Spotify). Once both are valid, every other outcome is a
/// `302` to the redirect URI: `code` (and `state`) on approval, `error` (and
/// `state`) otherwise, as RFC 6749 section 4.1.2 says.
pub(crate) fn authorize(config: &Config, state: &mut State, request: &Incoming) -> Reply {
    if request.method != "GET" {
        return Reply::html(405, "Method not allowed");
    }
    let query = &request.query;
    let client_id = param(query, "client_id").unwrap_or_default();
    let Some(secret) = config.client(client_id) else {
        return Reply::html(400, "INVALID_CLIENT: Invalid client");
    };
    let redirect_uri = param(query, "redirect_uri").unwrap_or_default();
    let Some(redirect) = registered_redirect(config, redirect_uri) else {
        return Reply::html(400, "INVALID_CLIENT: Invalid redirect URI");
    };
    let client_state = param(query, "state");
    let error = |error: &str, description: Option<&str>| {
        let mut location = redirect.clone();
        {
            let mut pairs = location.query_pairs_mut();
            pairs.append_pair("error", error);
            if let Some(description) = description {
                pairs.append_pair("error_description", description);
            }
            if let Some(client_state) = client_state {
                pairs.append_pair("state", client_state);
            }
        }
        Reply::redirect(location.into())
    };

    if param(query, "response_type") != Some("code") {
        return error("unsupported_response_type", None);
    }
    let challenge = param(query, "code_challenge").filter(|c| !c.is_empty());
    match (challenge, param(query, "code_challenge_method")) {
        (Some(_), Some("S256")) => {}
        (Some(_), _) => {
            return error(
                "invalid_request",
                Some("code_challenge_method must be S256"),
            );
        }
        (None, _) if secret.is_none() => {
            return error("invalid_request", Some("code_challenge required"));
        }
        (None, _) => {}
    }
    if state.deny {
        return error("access_denied", None);
    }

    let code = random_token("AQ", 300);
    state.codes.insert(
        code.clone(),
        CodeGrant {
            client_id: client_id.to_owned(),
            user_id: state.signed_in.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope: param(query, "scope").unwrap_or_default().to_owned(),
            challenge: challenge.map(str::to_owned),
            expires_at: Instant::now() + CODE_LIFETIME,
        },
    );
    let mut location = redirect;
    {
        let mut pairs = location.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(client_state) = client_state {
            pairs.append_pair("state", client_state);
        }
    }
    Reply::redirect(location.into())
}

/// The redirect URI when it is registered exactly, or is a registered
/// loopback one without a port with a port added (see [`any_port_matches`]).
fn registered_redirect(config: &Config, redirect_uri: &str) -> Option<Url> {
    config
        .redirect_uris
        .iter()
        .any(|registered| registered == redirect_uri || any_port_matches(registered, redirect_uri))
        .then(|| Url::parse(redirect_uri).ok())
        .flatten()
}

/// Whether `redirect_uri` is `registered`, an `http` loopback IP literal
/// registered without a port, with a port added after the host: Spotify (as
/// RFC 8252 section 7.3 asks) accepts any port there, and only there.
fn any_port_matches(registered: &str, redirect_uri: &str) -> bool {
    ["http://127.0.0.1", "http://[::1]"].iter().any(|host| {
        let (Some(registered_rest), Some(rest)) = (
            registered.strip_prefix(host),
            redirect_uri.strip_prefix(host),
        ) else {
            return false;
        };
        let Some(rest) = rest.strip_prefix(':') else {
            return false;
        };
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        !registered_rest.starts_with(':')
            && rest[..digits].parse::<u16>().is_ok_and(|port| port != 0)
            && rest[digits..] == *registered_rest
    })
}

#[cfg(test)]
mod tests {
    use super::any_port_matches;

    #[test]
    fn loopback_registered_without_a_port_matches_any_port() {
        for (registered, used) in [
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.1:8888/callback",
            ),
            ("http://[::1]/callback", "http://[::1]:1/callback"),
            ("http://127.0.0.1", "http://127.0.0.1:65535"),
        ] {
            assert!(any_port_matches(registered, used), "{registered} {used}");
        }
        for (registered, used) in [
            // Exact matches are not this rule's business.
            ("http://127.0.0.1/callback", "http://127.0.0.1/callback"),
            // A registered port is fixed.
            (
                "http://127.0.0.1:8888/callback",
                "http://127.0.0.1:9999/callback",
            ),
            // The rest must be the same.
            ("http://127.0.0.1/callback", "http://127.0.0.1:8888/other"),
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.1:8888/callback/",
            ),
            // Not a loopback IP literal, not http, not a port.
            (
                "http://localhost/callback",
                "http://localhost:8888/callback",
            ),
            (
                "https://127.0.0.1/callback",
                "https://127.0.0.1:8888/callback",
            ),
            ("http://127.0.0.1/callback", "http://127.0.0.1:/callback"),
            ("http://127.0.0.1/callback", "http://127.0.0.1:0/callback"),
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.1:99999/callback",
            ),
            (
                "http://127.0.0.1/callback",
                "http://127.0.0.1.evil:80/callback",
            ),
        ] {
            assert!(!any_port_matches(registered, used), "{registered} {used}");
        }
    }
}
