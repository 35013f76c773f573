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

/// The redirect URI when it is registered exactly.
fn registered_redirect(config: &Config, redirect_uri: &str) -> Option<Url> {
    config
        .redirect_uris
        .iter()
        .any(|registered| registered == redirect_uri)
        .then(|| Url::parse(redirect_uri).ok())
        .flatten()
}
