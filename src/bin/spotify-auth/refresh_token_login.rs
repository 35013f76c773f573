//! `spotify-auth login --with-refresh-token`: a login without a browser, for
//! CI machines. The refresh token comes on standard input (never an
//! argument: arguments show in process lists), trimmed; it is refreshed once
//! with the library's bootstrap refresh token (`.refresh_token(...)` and
//! `get_access_token()`), and the result replaces the profile's login.
//!
//! ```text
//! printenv SPOTIFY_REFRESH_TOKEN | spotify-auth login --with-refresh-token
//! ```
//!
//! The refresh runs on a store in memory first, so that a refused or
//! unreachable refresh leaves the profile's store and settings untouched.

use std::io::{BufRead, IsTerminal, Read};

use spotify_auth::{Error, InMemoryTokenCache, RefreshToken};

use crate::args::GlobalArgs;
use crate::exit::{Exit, Failure};
use crate::login;
use crate::settings::{self, Setup};
use crate::store;

/// The most read from standard input (a refresh token is about 130 bytes).
const MAX_INPUT: u64 = 16 * 1024;

/// Runs `login --with-refresh-token`.
pub fn run(global: &GlobalArgs, setup: &Setup) -> Result<(), Failure> {
    let client_id = setup.client_id(global)?;
    let redirect_uri = setup.redirect_uri(global, None)?;
    let refresh_token = read_refresh_token()?;
    let auth = setup.client_on(
        global,
        &redirect_uri,
        None,
        Box::new(InMemoryTokenCache::new()),
        Some(refresh_token),
    )?;
    auth.get_access_token().map_err(|e| refresh_failure(&e))?;
    let token = store::current(&auth)
        .map_err(|e| Failure::from_error(&e))?
        .ok_or_else(|| Failure::new(Exit::Failure, "the refresh gave no token to store"))?;
    settings::close(auth);
    setup
        .store
        .replace(&token)
        .map_err(|e| Failure::from_error(&e))?;
    let scopes = token
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    login::logged_in(global, setup, &client_id, scopes, &token)
}

/// The refresh token on standard input: the first line when a person types
/// it at a terminal (prompted on stderr), else everything up to the end;
/// trimmed. Empty, or more than one word, is a usage failure (exit 2).
fn read_refresh_token() -> Result<RefreshToken, Failure> {
    let stdin = std::io::stdin();
    let mut input = String::new();
    let read = if stdin.is_terminal() {
        eprint!("Paste the refresh token and press Enter: ");
        stdin.lock().take(MAX_INPUT).read_line(&mut input)
    } else {
        stdin.lock().take(MAX_INPUT).read_to_string(&mut input)
    };
    read.map_err(|e| {
        Failure::config(format!(
            "cannot read the refresh token from standard input: {e}"
        ))
    })?;
    parse_refresh_token(&input).map(RefreshToken::new)
}

/// The trimmed token in `input`, or a failure that never quotes it.
fn parse_refresh_token(input: &str) -> Result<String, Failure> {
    let token = input.trim();
    if token.is_empty() {
        return Err(Failure::config(
            "--with-refresh-token: standard input is empty; pipe the refresh token in, e.g. \
             `printenv SPOTIFY_REFRESH_TOKEN | spotify-auth login --with-refresh-token`",
        ));
    }
    if token.chars().any(char::is_whitespace) {
        return Err(Failure::config(
            "--with-refresh-token: standard input holds more than one word; give the \
             refresh token alone",
        ));
    }
    Ok(token.to_owned())
}

/// A failed refresh of the given token: a refused one needs a new refresh
/// token, not `spotify-auth login` on this machine.
fn refresh_failure(error: &Error) -> Failure {
    let failure = Failure::from_error(error);
    if failure.exit == Exit::LoginRequired {
        Failure::new(
            Exit::LoginRequired,
            format!("Spotify refused the refresh token: {}", failure.message),
        )
        .with_hint(
            "Get a new one: run `spotify-auth login` where a browser is, then take the \
             refresh token from its token file.",
        )
    } else {
        failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_trimmed_and_never_quoted_in_errors() {
        assert_eq!(parse_refresh_token("  AQB-x_1\r\n").unwrap(), "AQB-x_1");
        for bad in ["", " \n\t", "AQB one\nAQB two"] {
            let failure = parse_refresh_token(bad).unwrap_err();
            assert_eq!(failure.exit, Exit::Config);
            assert!(!failure.message.contains("AQB"), "{}", failure.message);
        }
    }
}
