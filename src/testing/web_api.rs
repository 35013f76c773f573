//! A fake Web API (`/v1/...`): `GET /v1/me` for the signed-in user behind an
//! access token, `POST /v1/users/{id}/playlists` for a request with a body,
//! and Spotify's 401s for tokens it no longer accepts, so that a client's
//! 401 handling (and a Web API middleware) can be tested offline.

use std::time::Instant;

use serde_json::json;

use super::faults::Fault;
use super::http::{Incoming, Reply};
use super::server::FakeSpotify;
use super::state::{AccessStatus, State, random_token};

/// The Web API's path prefix.
pub(crate) const WEB_API_PATH: &str = "/v1";

/// Whether `path` belongs to the Web API.
pub(crate) fn is_web_api(path: &str) -> bool {
    path.strip_prefix(WEB_API_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The endpoints served.
enum Endpoint {
    /// `GET /v1/me`.
    Me,
    /// `POST /v1/users/{owner}/playlists`.
    CreatePlaylist { owner: String },
}

impl Endpoint {
    fn of(path: &str) -> Option<Self> {
        if path == "/v1/me" {
            return Some(Endpoint::Me);
        }
        let owner = path
            .strip_prefix("/v1/users/")?
            .strip_suffix("/playlists")?;
        (!owner.is_empty() && !owner.contains('/')).then(|| Endpoint::CreatePlaylist {
            owner: owner.to_owned(),
        })
    }

    fn method(&self) -> &'static str {
        match self {
            Endpoint::Me => "GET",
            Endpoint::CreatePlaylist { .. } => "POST",
        }
    }
}

/// Answers a Web API request. `base` is the Web API's URL (`{url}/v1`), for
/// the `href`s of the objects returned.
pub(crate) fn web_api(state: &State, request: &Incoming, base: &str) -> Reply {
    let Some(endpoint) = Endpoint::of(&request.path) else {
        return Reply::api_error(404, "Service not found");
    };
    if request.method != endpoint.method() {
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
    // An app token (client credentials) has no user behind it.
    let Some(user_id) = &grant.user_id else {
        return Reply::api_error(401, "Unauthorized.");
    };
    match endpoint {
        Endpoint::Me => Reply::json(200, &user(user_id, &grant.scope, base)),
        Endpoint::CreatePlaylist { owner } => {
            create_playlist(user_id, &owner, &grant.scope, &request.body, base)
        }
    }
}

/// A new playlist for `owner`, as Spotify answers it (201), from a JSON body
/// with `name` (required), `public` and `description`. Needs a
/// `playlist-modify-*` scope and the owner's own token; nothing is kept.
fn create_playlist(user_id: &str, owner: &str, scope: &str, body: &[u8], base: &str) -> Reply {
    let granted = |wanted: &str| scope.split_ascii_whitespace().any(|s| s == wanted);
    if !granted("playlist-modify-public") && !granted("playlist-modify-private") {
        return Reply::api_error(403, "Insufficient client scope");
    }
    if owner != user_id {
        return Reply::api_error(403, "You cannot create a playlist for another user");
    }
    let details: serde_json::Value = match serde_json::from_slice(body) {
        Ok(details @ serde_json::Value::Object(_)) => details,
        _ => return Reply::api_error(400, "Error parsing JSON."),
    };
    let Some(name) = details["name"].as_str() else {
        return Reply::api_error(400, "Missing required field: name");
    };
    let id = random_token("", 22);
    Reply::json(
        201,
        &json!({
            "collaborative": false,
            "description": details["description"].as_str(),
            "external_urls": { "spotify": format!("https://open.spotify.com/playlist/{id}") },
            "followers": { "href": null, "total": 0 },
            "href": format!("{base}/playlists/{id}"),
            "id": id,
            "images": [],
            "name": name,
            "owner": {
                "display_name": user_id,
                "href": format!("{base}/users/{user_id}"),
                "id": user_id,
                "type": "user",
                "uri": format!("spotify:user:{user_id}"),
            },
            "public": details["public"].as_bool().unwrap_or(true),
            "snapshot_id": random_token("", 32),
            "tracks": { "href": format!("{base}/playlists/{id}/tracks"), "total": 0 },
            "type": "playlist",
            "uri": format!("spotify:playlist:{id}"),
        }),
    )
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

    /// When the server issued `access_token`; `None` when it never did.
    /// For chaos tests that judge what a client handed out, and when.
    pub fn access_token_issued_at(&self, access_token: &str) -> Option<Instant> {
        self.state()
            .access_tokens
            .get(access_token)
            .map(|grant| grant.issued_at)
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

    /// Gives `fault` to the next `times` Web API requests (`/v1` and below),
    /// in a queue of their own: [`Fault::rate_limited(2)`](Fault::rate_limited)
    /// answers `429` with `Retry-After: 2`, [`Fault::Status(503)`](Fault::Status)
    /// a `503`, both in the Web API's error shape;
    /// [`Fault::Redirect`] sends the client elsewhere. The request is not
    /// processed (nothing is created, no token is checked).
    pub fn inject_web_api(&self, fault: Fault, times: usize) {
        self.state().web_api_faults.push(fault, times);
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
