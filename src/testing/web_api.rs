//! A fake Web API (`/v1/...`): `GET /v1/me` for the signed-in user behind an
//! access token, and Spotify's 401s for tokens it no longer accepts, so that
//! a client's 401 handling can be tested offline.

use std::time::Instant;

use serde_json::json;

use super::http::{Incoming, Reply};
use super::server::FakeSpotify;
use super::state::{AccessStatus, State};

/// The Web API's path prefix.
pub(crate) const WEB_API_PATH: &str = "/v1";

/// Whether `path` belongs to the Web API.
pub(crate) fn is_web_api(path: &str) -> bool {
    path.strip_prefix(WEB_API_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Answers a Web API request. `base` is the Web API's URL (`{url}/v1`), for
/// the `href`s of the objects returned.
pub(crate) fn web_api(state: &State, request: &Incoming, base: &str) -> Reply {
    if request.path != "/v1/me" {
        return Reply::api_error(404, "Service not found");
    }
    if request.method != "GET" {
        return Reply::api_error(405, "Method not allowed");
    }
    let Some(authorization) = request.header("authorization") else {
        return Reply::api_error(401, "No token provided");
    };
    let token = match authorization.trim().split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Reply::api_error(401, "Only valid bearer authentication supported"),
    };
    let Some(grant) = state.access_tokens.get(token) else {
        return Reply::api_error(401, "Invalid access token");
    };
    match grant.status(Instant::now()) {
        AccessStatus::Live => {}
        AccessStatus::Expired => return Reply::api_error(401, "The access token expired"),
        AccessStatus::Revoked => return Reply::api_error(401, "Invalid access token"),
    }
    match &grant.user_id {
        Some(user_id) => Reply::json(200, &user(user_id, &grant.scope, base)),
        // An app token (client credentials) has no user behind it.
        None => Reply::api_error(401, "Unauthorized."),
    }
}

/// The current user's profile, as Spotify shapes it. `email` needs the
/// `user-read-email` scope; `country`, `product` and `explicit_content` need
/// `user-read-private`.
fn user(id: &str, scope: &str, base: &str) -> serde_json::Value {
    let mut user = json!({
        "display_name": id,
        "external_urls": { "spotify": format!("https://open.spotify.com/user/{id}") },
        "followers": { "href": null, "total": 0 },
        "href": format!("{base}/users/{id}"),
        "id": id,
        "images": [],
        "type": "user",
        "uri": format!("spotify:user:{id}"),
    });
    let granted = |wanted: &str| scope.split_ascii_whitespace().any(|s| s == wanted);
    if granted("user-read-email") {
        user["email"] = json!(format!("{id}@example.com"));
    }
    if granted("user-read-private") {
        user["country"] = json!("SE");
        user["product"] = json!("premium");
        user["explicit_content"] = json!({ "filter_enabled": false, "filter_locked": false });
    }
    user
}

impl FakeSpotify {
    /// The Web API's base URL, `{url}/v1` (Spotify's `https://api.spotify.com/v1`).
    pub fn web_api_url(&self) -> String {
        format!("{}{WEB_API_PATH}", self.url())
    }

    /// Signs `user_id` in: the codes `/authorize` issues from now on belong
    /// to this user, and so do the tokens they are exchanged for and every
    /// token refreshed from those; `GET /v1/me` returns this user for them.
    /// Tokens issued before keep their user. The default user is
    /// `"fake-user"`.
    pub fn sign_in_as(&self, user_id: &str) {
        self.state().signed_in = user_id.to_owned();
    }

    /// The user `/authorize` currently signs in (see [`sign_in_as`](Self::sign_in_as)).
    pub fn signed_in_user(&self) -> String {
        self.state().signed_in.clone()
    }

    /// Whether the Web API accepts `access_token` right now: issued here, not
    /// expired, not revoked.
    pub fn access_token_is_live(&self, access_token: &str) -> bool {
        self.state()
            .access_tokens
            .get(access_token)
            .is_some_and(|grant| grant.status(Instant::now()) == AccessStatus::Live)
    }

    /// Revokes an access token before it expires (as Spotify may, or as a
    /// client with a skewed clock sees it): the Web API then answers it with
    /// `401` ("Invalid access token"). The token endpoint is unaffected.
    /// False when the token is unknown.
    pub fn revoke_access_token(&self, access_token: &str) -> bool {
        match self.state().access_tokens.get_mut(access_token) {
            Some(grant) => {
                grant.revoked = true;
                true
            }
            None => false,
        }
    }

    /// Expires every access token issued so far: the Web API then answers
    /// them with `401` ("The access token expired"). Tokens issued later live
    /// their normal `expires_in`.
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for grant in self.state().access_tokens.values_mut() {
            grant.expires_at = Some(grant.expires_at.map_or(now, |at| at.min(now)));
        }
    }

    /// How many requests reached the Web API (`/v1` and below, any outcome).
    pub fn web_api_request_count(&self) -> usize {
        let state = self.state();
        state
            .requests
            .iter()
            .filter(|r| is_web_api(&r.path))
            .count()
    }
}
