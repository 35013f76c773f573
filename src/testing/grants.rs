//! `POST /api/token`: the authorization code, refresh token and client
//! credentials grants, with Spotify's error responses.

use std::time::Instant;

use serde_json::json;

use super::http::{Incoming, Reply, decode_basic, param};
use super::issued::{Delivery, RefreshTokenStatus};
use super::state::{Config, State};

/// A token-endpoint error: status, `error`, `error_description`.
struct Denied(u16, &'static str, &'static str);

fn invalid_request(description: &'static str) -> Denied {
    Denied(400, "invalid_request", description)
}

fn invalid_client(description: &'static str) -> Denied {
    Denied(401, "invalid_client", description)
}

fn invalid_grant(description: &'static str) -> Denied {
    Denied(400, "invalid_grant", description)
}

/// Who sent the request, and how it proved it.
struct Client {
    id: String,
    /// Authenticated with its secret; else a public client that named itself.
    confidential: bool,
}

type Form = [(String, String)];

/// An authenticated token request, ready for its grant.
struct Grant<'a> {
    form: &'a Form,
    client: Client,
    /// How the answer will be delivered, recorded on the refresh token it
    /// issues.
    delivery: Delivery,
}

/// Answers a token request. `delivery` says how the answer will reach the
/// client (an injected fault may lose or delay it).
pub(crate) fn token(
    config: &Config,
    state: &mut State,
    request: &Incoming,
    delivery: Delivery,
) -> Reply {
    match grant(config, state, request, delivery) {
        Ok(reply) => reply,
        Err(Denied(status, error, description)) => Reply::oauth_error(status, error, description),
    }
}

fn grant(
    config: &Config,
    state: &mut State,
    request: &Incoming,
    delivery: Delivery,
) -> Result<Reply, Denied> {
    if request.method != "POST" {
        return Err(Denied(405, "invalid_request", "Method not allowed"));
    }
    if !request.is_form() {
        return Err(invalid_request(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    let form = request.form();
    let grant_type = param(&form, "grant_type")
        .filter(|g| !g.is_empty())
        .ok_or(invalid_request("grant_type parameter is missing"))?;
    let grant: fn(&Config, &mut State, Grant<'_>) -> Result<Reply, Denied> = match grant_type {
        "authorization_code" => authorization_code,
        "refresh_token" => refresh_token,
        "client_credentials" => client_credentials,
        _ => {
            return Err(Denied(
                400,
                "unsupported_grant_type",
                "grant_type must be client_credentials, authorization_code or refresh_token",
            ));
        }
    };
    let client = authenticate(config, request, &form)?;
    grant(
        config,
        state,
        Grant {
            form: &form,
            client,
            delivery,
        },
    )
}

/// HTTP Basic for clients with a secret (`client_id` + `client_secret` in the
/// body are accepted too); `client_id` in the body for public clients.
fn authenticate(config: &Config, request: &Incoming, form: &Form) -> Result<Client, Denied> {
    let body_id = param(form, "client_id");
    if let Some(authorization) = request.header("authorization") {
        let (id, secret) = decode_basic(authorization).ok_or(invalid_client("Invalid client"))?;
        let Some(Some(expected)) = config.client(&id) else {
            return Err(invalid_client("Invalid client"));
        };
        if secret != expected {
            return Err(invalid_client("Invalid client secret"));
        }
        if body_id.is_some_and(|body_id| body_id != id) {
            return Err(invalid_client("Invalid client"));
        }
        return Ok(Client {
            id,
            confidential: true,
        });
    }
    let id = body_id.ok_or(invalid_client("Invalid client"))?;
    let confidential = match config.client(id) {
        None => return Err(invalid_client("Invalid client")),
        Some(None) => false,
        Some(Some(expected)) => match param(form, "client_secret") {
            Some(secret) if secret == expected => true,
            Some(_) => return Err(invalid_client("Invalid client secret")),
            // A client with a secret must use it.
            None => return Err(invalid_client("Invalid client")),
        },
    };
    Ok(Client {
        id: id.to_owned(),
        confidential,
    })
}

fn required<'a>(form: &'a Form, name: &str, missing: &'static str) -> Result<&'a str, Denied> {
    param(form, name)
        .filter(|v| !v.is_empty())
        .ok_or(invalid_request(missing))
}

/// `grant_type=authorization_code`.
fn authorization_code(
    config: &Config,
    state: &mut State,
    request: Grant<'_>,
) -> Result<Reply, Denied> {
    let Grant {
        form,
        client,
        delivery,
    } = request;
    let code = required(form, "code", "code parameter is missing")?;
    let redirect_uri = required(form, "redirect_uri", "redirect_uri parameter is missing")?;
    // Any attempt by the client the code was issued to uses it up, as real
    // servers do so that verifiers cannot be guessed one by one.
    let grant = match state.codes.get(code) {
        Some(grant) if grant.client_id == client.id => state.codes.remove(code),
        _ => None,
    }
    .ok_or(invalid_grant("Invalid authorization code"))?;
    if Instant::now() >= grant.expires_at {
        return Err(invalid_grant("Authorization code expired"));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(invalid_grant("Invalid redirect URI"));
    }
    match (&grant.challenge, param(form, "code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !valid_verifier(verifier) {
                return Err(invalid_request(
                    "code_verifier must be 43 to 128 characters [A-Za-z0-9-._~]",
                ));
            }
            if crate::pkce_challenge(verifier) != *challenge {
                return Err(invalid_grant("code_verifier was incorrect"));
            }
        }
        (Some(_), None) => return Err(invalid_request("code_verifier required")),
        (None, _) => {}
    }
    let refresh = state.issue_refresh_token(&client.id, &grant.user_id, &grant.scope, delivery);
    let access = state.issue_access_token(Some(&grant.user_id), &grant.scope, config.expires_in);
    Ok(token_response(
        config,
        &access,
        Some(&grant.scope),
        Some(&refresh),
    ))
}

/// RFC 7636: 43 to 128 unreserved characters.
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `grant_type=refresh_token`. With rotation on, a refresh token is
/// single-use: the one used is marked rotated and a new one is issued.
fn refresh_token(config: &Config, state: &mut State, request: Grant<'_>) -> Result<Reply, Denied> {
    let Grant {
        form,
        client,
        delivery,
    } = request;
    let token = required(form, "refresh_token", "refresh_token parameter is missing")?;
    let grant = state
        .refresh_tokens
        .get_mut(token)
        .ok_or(invalid_grant("Invalid refresh token"))?;
    // From here the request counts as processed, whatever the outcome.
    grant.processed += 1;
    if grant.client_id != client.id {
        return Err(invalid_grant("Invalid refresh token"));
    }
    match grant.status {
        RefreshTokenStatus::Live => {}
        RefreshTokenStatus::Revoked => return Err(invalid_grant("Refresh token revoked")),
        RefreshTokenStatus::Expired => return Err(invalid_grant("Refresh token expired")),
        RefreshTokenStatus::Rotated => return Err(invalid_grant("Invalid refresh token")),
    }
    let (scope, user_id) = (grant.scope.clone(), grant.user_id.clone());
    let rotated = if config.rotate_refresh_tokens {
        grant.status = RefreshTokenStatus::Rotated;
        Some(state.issue_refresh_token(&client.id, &user_id, &scope, delivery))
    } else {
        None
    };
    let access = state.issue_access_token(Some(&user_id), &scope, config.expires_in);
    Ok(token_response(
        config,
        &access,
        Some(&scope),
        rotated.as_deref(),
    ))
}

/// `grant_type=client_credentials`: an app token, no refresh token.
fn client_credentials(
    config: &Config,
    state: &mut State,
    request: Grant<'_>,
) -> Result<Reply, Denied> {
    if !request.client.confidential {
        return Err(invalid_client("Client credentials require a client secret"));
    }
    let access = state.issue_access_token(None, "", config.expires_in);
    Ok(token_response(config, &access, None, None))
}

/// A successful token response carrying a freshly issued access token.
fn token_response(
    config: &Config,
    access_token: &str,
    scope: Option<&str>,
    refresh_token: Option<&str>,
) -> Reply {
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": config.expires_in,
    });
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = json!(refresh_token);
    }
    Reply::json(200, &body)
}
