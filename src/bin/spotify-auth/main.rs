//! `spotify-auth`: log in to Spotify once from a terminal, then hand valid
//! access tokens to scripts from any shell.
//!
//! ```text
//! $ spotify-auth --client-id your-client-id login --scope user-read-email,user-top-read
//! $ curl -H "Authorization: Bearer $(spotify-auth token)" https://api.spotify.com/v1/me
//! $ spotify-auth token --min-valid 10m --format json
//! $ spotify-auth status
//! $ spotify-auth --profile work login --client-id other-id
//! $ spotify-auth profiles
//! $ spotify-auth logout
//! ```
//!
//! Built on the library's blocking API (feature `cli`). One file per concern:
//!
//! | file | holds |
//! |---|---|
//! | `args.rs` | the command line (clap), the `--help` text |
//! | `settings.rs` | flags, environment, profile and defaults resolved: the profile, its store, client id, redirect URI; the `AuthorizationCode` |
//! | `paths.rs` | the config directory and where each profile's files are |
//! | `profile_name.rs` | valid profile names |
//! | `profile.rs` | a profile's settings file: format, reading, saving, listing |
//! | `private_file.rs` | atomic 0600 writes of the settings files |
//! | `store.rs` | where a login is kept (the OS keychain, or a token file), every direct use of it, and a confidential app's secret in the keychain |
//! | `login.rs`, `token.rs`, `status.rs`, `logout.rs`, `profiles.rs`, `completions.rs` | one subcommand each |
//! | `refresh_token_login.rs` | `login --with-refresh-token`: a refresh token on stdin |
//! | `min_valid.rs` | `token --min-valid DURATION` |
//! | `token_format.rs` | `token --format raw\|header\|json\|env` |
//! | `progress.rs` | the "waiting for the login" spinner or lines on stderr |
//! | `login_expiry.rs` | when the six-month login ends, and when `status` warns |
//! | `clock.rs` | Unix time, UTC and RFC 3339 dates, and "in 5 min" without a date crate |
//! | `exit.rs` | the exit codes and how a failure is reported |
//!
//! # Profiles
//!
//! `login` saves what later commands need in a profile (`--profile NAME` or
//! `SPOTIFY_AUTH_PROFILE`, default `default`): client id, redirect URI,
//! public (PKCE) or confidential, the scopes asked for, and the token
//! file when `--cache` chose it; never the client secret. `token`, `status`
//! and `logout` then need no environment; each profile has its own login.
//!
//! ```text
//! ~/.config/spotify-auth/        (the platform's config dir, or $SPOTIFY_AUTH_CONFIG_DIR)
//!   token.json                   the default profile's token, without a keychain
//!   profiles/NAME.json           each profile's settings, version 1, mode 0600
//!   tokens/NAME.json             every other profile's token, without a keychain
//! ```
//!
//! Where there is an OS keychain `login` keeps the login there instead
//! (service `spotify-auth`, user the profile's name), and a confidential
//! app's client secret beside it; without one it falls back to the token
//! file and says so (`--require-keychain` fails instead, `--insecure-storage`
//! chooses the file on purpose). The profile records the choice.
//!
//! The old single token file (`~/.config/spotify-auth/token.json`) *is* the
//! `default` profile's token file, not migrated: an existing login goes on
//! as it was, as do programs sharing that file. Until the next `login` saves
//! the profile, its settings come from flags and the environment as before.
//! `--cache` / `SPOTIFY_SDK_TOKEN_CACHE` still name a token file for one
//! command; given to `login`, the profile records it.
//!
//! # Settings
//!
//! Flags win over the environment, which wins over the profile:
//!
//! | flag | environment | default |
//! |---|---|---|
//! | `--profile NAME` | `SPOTIFY_AUTH_PROFILE` | `default` |
//! | `--client-id ID` | `SPOTIFY_SDK_CLIENT_ID` | the profile's; required by `login` and `token` |
//! | (never a flag) | `SPOTIFY_SDK_CLIENT_SECRET` | none: the client is public and uses PKCE. Never saved; a confidential profile's refresh asks for it |
//! | `--redirect-uri URI` | `SPOTIFY_SDK_REDIRECT_URI` | the profile's, else `http://127.0.0.1:8888/callback` |
//! | `--cache PATH` | `SPOTIFY_SDK_TOKEN_CACHE` | the profile's token file (above) |
//! | (none) | `SPOTIFY_AUTH_CONFIG_DIR` | the platform's config directory for `spotify-auth` |
//! | (testing only) | `SPOTIFY_AUTH_ACCOUNTS_URL` | `https://accounts.spotify.com`: base URL of the accounts service, for a fake server in tests |
//!
//! `login --port N` replaces the port of whichever redirect URI is used.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 2 | usage or configuration: a bad command line (clap's usage errors), an unknown or malformed profile, a bad `--min-valid`, an empty refresh token on stdin, a missing client id (or secret, for a confidential profile's refresh), a bad redirect URI, a token cache that cannot be read or written (corrupt file, permissions) |
//! | 3 | login required: no token stored, or Spotify refused the refresh token (`invalid_grant`); run `spotify-auth login` |
//! | 4 | network or Spotify error, and every other failure (a login that timed out or was denied, a callback port in use) |
//!
//! Messages go to stderr, one line (and a hint) each, and never contain a
//! token or the client secret; stdout carries only a command's result (the
//! token, the status report, the profile list, the authorization URL, a
//! completion script).

mod args;
mod clock;
mod completions;
mod exit;
/// The input generators shared with the library's property tests and the
/// fuzz targets (`tests/generators/`).
#[cfg(test)]
#[path = "../../../tests/generators/mod.rs"]
mod generators;
mod login;
mod login_expiry;
mod logout;
mod min_valid;
mod paths;
mod private_file;
mod profile;
mod profile_name;
mod profiles;
mod progress;
mod refresh_token_login;
mod settings;
mod status;
mod store;
mod token;
mod token_format;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    // clap prints usage errors to stderr and exits 2; `--help` exits 0.
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Login(args) => login::run(&cli.global, args),
        Command::Token(args) => token::run(&cli.global, args),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Logout => logout::run(&cli.global),
        Command::Profiles(args) => profiles::run(&cli.global, args),
        Command::Completions(args) => completions::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
