//! `spotify-auth login`: the browser login (`authorize_local`), its token
//! stored in the profile's store, then the profile saved (`profile.rs`) so
//! that `token`, `status` and `logout` need no settings from then on. With
//! `--with-refresh-token`, no browser: see `refresh_token_login.rs`.
//!
//! The authorization URL goes to stdout on a line of its own (so it can be
//! copied, or read by a program); everything else goes to stderr. With
//! `--no-browser` no browser is opened, and the URL the browser was redirected
//! to can be pasted on standard input: the callback or the paste, whichever
//! comes first, completes the login.
//!
//! A redirect URI registered without a port (`http://127.0.0.1/callback`:
//! Spotify then accepts any port) makes the login listen on a free port, so
//! no other program can be in its way; `--port` still pins one.

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use spotify_auth::{AuthorizeLocalOptions, Error, Scopes};

use spotify_auth::TokenInfo;

use crate::args::{GlobalArgs, LoginArgs};
use crate::clock;
use crate::exit::Failure;
use crate::progress::{Progress, Style};
use crate::refresh_token_login;
use crate::settings::{self, Need, Setup};

/// Runs `login`.
pub fn run(global: &GlobalArgs, args: &LoginArgs) -> Result<(), Failure> {
    let setup = settings::setup(global, Need::AnyProfile)?;
    if let Some(other) = setup.store_shared_with() {
        eprintln!(
            "Warning: profile {other} keeps its login in the same place ({}); this login \
             replaces it. Drop --cache / unset SPOTIFY_SDK_TOKEN_CACHE to give profile {} \
             its own.",
            setup.store.describe(),
            setup.name
        );
    }
    if args.with_refresh_token {
        return refresh_token_login::run(global, &setup);
    }
    let client_id = setup.client_id(global)?;
    let redirect_uri = setup.redirect_uri(global, args.port)?;
    // Without --scope, the scopes the profile's last login asked for.
    let scopes: Vec<String> = if args.scope.is_empty() {
        setup
            .saved
            .as_ref()
            .map(|p| p.scopes.clone())
            .unwrap_or_default()
    } else {
        Scopes::from_parts(&args.scope)
            .iter()
            .map(str::to_owned)
            .collect()
    };
    let auth = setup.client(global, &redirect_uri, Some(Scopes::from_parts(&scopes)))?;
    let timeout = Duration::from_secs(args.timeout);
    let paste = args.no_browser;

    let what = if paste {
        "the browser's redirect or a pasted URL"
    } else {
        "you to log in in the browser"
    };
    let progress = Arc::new(Progress::new(what, timeout, Style::detect(paste)));
    let on_url = {
        let progress = Arc::clone(&progress);
        move |url: &str| {
            show_url(url, paste);
            progress.start();
        }
    };
    let mut options = AuthorizeLocalOptions::new()
        .open_browser(!paste)
        .show_dialog(args.show_dialog)
        .timeout(timeout)
        .on_url(on_url);
    if paste {
        options = options.pasted_urls(read_stdin_line);
    }
    let result = auth.authorize_local(options);
    progress.finish();
    settings::close(auth);
    let token = result.map_err(|e| login_failure(&e, paste))?;
    logged_in(global, &setup, &client_id, scopes, &token)
}

/// After a login: saves the profile, and tells what was granted and where
/// it is kept (stderr).
pub fn logged_in(
    global: &GlobalArgs,
    setup: &Setup,
    client_id: &str,
    scopes: Vec<String>,
    token: &TokenInfo,
) -> Result<(), Failure> {
    let granted = match token.scope.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => "(none)".to_owned(),
    };
    eprintln!("Logged in (profile {}). Scopes: {granted}.", setup.name);
    eprintln!(
        "The access token expires {}; {}",
        clock::relative(clock::seconds_until(token.expires_at, clock::now_unix())),
        if token.refresh_token.is_some() {
            "`spotify-auth token` refreshes it from then on."
        } else {
            "there is no refresh token, so log in again then."
        }
    );
    eprintln!("Token stored in {}.", setup.store.describe());
    let saved = setup.save(global, client_id, scopes).map_err(|failure| {
        let message = format!(
            "logged in, but the profile was not saved: {}",
            failure.message
        );
        Failure { message, ..failure }
    })?;
    match saved {
        Some(path) => eprintln!(
            "Profile {} saved in {}: `{} token` now works in any shell.",
            setup.name,
            path.display(),
            setup.name.command()
        ),
        None => eprintln!("Profile not saved: there is no config directory."),
    }
    Ok(())
}

/// Shows the authorization URL (stdout) and what to do with it (stderr).
fn show_url(url: &str, paste: bool) {
    if paste {
        let redirect_uri = redirect_uri_in(url);
        eprintln!("Open this URL in a browser, on any machine, and log in:");
        println!("{url}");
        eprintln!(
            "If that browser can reach {redirect_uri}, this finishes by itself. Otherwise \
             copy the address it was redirected to (it starts with {redirect_uri}), \
             paste it here and press Enter."
        );
    } else {
        eprintln!("Opening the browser to log in to Spotify. If it does not open, visit:");
        println!("{url}");
    }
}

/// The redirect URI the authorization URL sends the browser back to: the
/// configured one, with the port actually bound when it had none.
fn redirect_uri_in(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|url| {
            url.query_pairs()
                .find(|(name, _)| name == "redirect_uri")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_else(|| "the redirect URI".to_owned())
}

/// The next line of standard input, `None` at its end.
fn read_stdin_line() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line),
    }
}

/// A failed login, with a hint for the failures a user can do something
/// about (`paste`: `--no-browser` was given).
fn login_failure(error: &Error, paste: bool) -> Failure {
    let failure = Failure::from_error(error);
    match error {
        Error::CallbackTimeout(_) if paste => {
            failure.with_hint("Try again; --timeout SECONDS waits longer.")
        }
        Error::CallbackTimeout(_) => failure.with_hint(
            "Try again (--timeout SECONDS waits longer), or use --no-browser and paste \
             the address the browser was redirected to.",
        ),
        Error::CallbackServer { .. } => failure.with_hint(
            "Is another login running? --port N picks another port (it must be part of \
             a redirect URI registered for the app). Or register the redirect URI \
             without a port (e.g. http://127.0.0.1/callback) and use that: any free port \
             is then used.",
        ),
        _ => failure,
    }
}
