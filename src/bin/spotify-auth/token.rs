//! `spotify-auth token`: a valid access token on stdout and nothing else,
//! refreshed (and the refreshed token stored) when it expires within 30 s,
//! or within `--min-valid DURATION`; printed as `--format` says
//! (`token_format.rs`).
//!
//! ```text
//! curl -H "Authorization: Bearer $(spotify-auth token)" https://api.spotify.com/v1/me
//! ```
//!
//! Needs no environment once `login` saved the profile. A confidential
//! app's token is refreshed with `SPOTIFY_SDK_CLIENT_SECRET`; without it a
//! refresh that would be needed is refused up front (exit 2), before
//! anything is sent, since a refresh without the secret would fail.
//!
//! No token, or a refresh token Spotify refused: exit 3 with a message on
//! stderr that says to run `spotify-auth login`.

use std::io::Write;
use std::time::Duration;

use spotify_auth::blocking::AuthorizationCode;
use spotify_auth::{Error, TokenInfo};

use crate::args::{Format, GlobalArgs, TokenArgs};
use crate::exit::{Exit, Failure};
use crate::settings::{self, Need, Setup};
use crate::{min_valid, store, token_format};

/// The library's refresh margin: a token expiring sooner is refreshed by
/// `get_access_token` itself.
const REFRESH_MARGIN: Duration = Duration::from_secs(30);

/// Added to the margin when deciding up front whether a confidential app's
/// refresh is near enough to need the secret (the check and the call are
/// moments apart).
const SECRET_CHECK_SLACK: Duration = Duration::from_secs(60);

/// Runs `token`.
pub fn run(global: &GlobalArgs, args: &TokenArgs) -> Result<(), Failure> {
    let min_valid = args
        .min_valid
        .as_deref()
        .map(min_valid::parse)
        .transpose()?;
    let setup = settings::setup(global, Need::Saved)?;
    let redirect_uri = setup.redirect_uri(global, None)?;
    check_secret(&setup, min_valid)?;
    let auth = setup.client(global, &redirect_uri, None)?;
    if !setup.store.has_login() {
        // Said without the library, which would create the store's lock
        // file (and folder) first.
        return Err(token_failure(&setup, &Error::NotAuthorized));
    }

    let mut token = auth
        .get_access_token()
        .map_err(|e| token_failure(&setup, &e))?;
    let mut details = None;
    if min_valid.is_some() || args.format == Format::Json {
        let mut info = stored(&auth, &token, min_valid)?;
        if let Some(min) = min_valid.filter(|&min| !info.is_valid_for(min)) {
            token = auth
                .force_refresh()
                .map_err(|e| token_failure(&setup, &e))?;
            info = stored(&auth, &token, min_valid)?;
            if !info.is_valid_for(min) {
                return Err(Failure::new(
                    Exit::Failure,
                    format!(
                        "Spotify's new token is valid for {} s, less than --min-valid ({} s)",
                        info.expires_in().as_secs(),
                        min.as_secs()
                    ),
                ));
            }
        }
        token = info.access_token.secret().to_owned();
        details = Some(info);
    }

    settings::close(auth);
    let output = token_format::render(args.format, &token, details.as_ref());
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(output.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(Exit::Failure, format!("cannot write the token: {e}")))
}

/// Refuses up front a refresh that would be sent without the secret of a
/// confidential app: the profile says it has one, none is set, and the
/// stored token expires within the margin (or `--min-valid`).
fn check_secret(setup: &Setup, min_valid: Option<Duration>) -> Result<(), Failure> {
    if !setup.saved_as_confidential() || settings::secret_given() {
        return Ok(());
    }
    // No token, or an unreadable store: `get_access_token` says so.
    let Ok(Some(token)) = setup.store.read() else {
        return Ok(());
    };
    let needed = min_valid.unwrap_or_default().max(REFRESH_MARGIN) + SECRET_CHECK_SLACK;
    if token.refresh_token.is_none() || token.is_valid_for(needed) {
        return Ok(());
    }
    Err(Failure::config(format!(
        "profile {:?} is a confidential app and its access token must be refreshed: set \
         SPOTIFY_SDK_CLIENT_SECRET (the secret is never saved in the profile)",
        setup.name.as_str()
    )))
}

/// The stored login whose access token is `token` (the one `auth` just
/// returned). When another process replaced it meanwhile, its newer token,
/// if valid long enough, is used instead.
fn stored(
    auth: &AuthorizationCode,
    token: &str,
    min_valid: Option<Duration>,
) -> Result<TokenInfo, Failure> {
    let found = store::current(auth).map_err(|e| Failure::from_error(&e))?;
    match found {
        Some(info) if info.access_token.secret() == token => Ok(info),
        Some(info) if info.is_valid_for(min_valid.unwrap_or(REFRESH_MARGIN)) => Ok(info),
        _ => Err(match auth.cache_write_error() {
            Some(e) => Failure::from_error(&e),
            None => Failure::new(
                Exit::Failure,
                "the stored login changed while the token was read (another process \
                 logged out or in?): try again",
            ),
        }),
    }
}

/// A failed `get_access_token` or `force_refresh`, with the profile and the
/// store named when there is no login.
fn token_failure(setup: &Setup, error: &Error) -> Failure {
    let failure = match error {
        Error::NotAuthorized => Failure::login_required(format!(
            "not logged in (profile {}): no token stored in {}",
            setup.name,
            setup.store.describe()
        )),
        e => Failure::from_error(e),
    };
    if failure.exit == Exit::LoginRequired && !setup.name.is_default() {
        failure.with_hint(format!("Run `{} login` to log in.", setup.name.command()))
    } else {
        failure
    }
}
