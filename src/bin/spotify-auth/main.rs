//! `spotify-auth`: log in to Spotify once from a terminal, then hand valid
//! access tokens to scripts.
//!
//! ```text
//! $ export SPOTIFY_SDK_CLIENT_ID=your-client-id
//! $ spotify-auth login --scope user-read-email,user-top-read
//! $ curl -H "Authorization: Bearer $(spotify-auth token)" https://api.spotify.com/v1/me
//! $ spotify-auth status
//! $ spotify-auth logout
//! ```
//!
//! Built on the library's blocking API (feature `cli`). One file per concern:
//!
//! | file | holds |
//! |---|---|
//! | `args.rs` | the command line (clap), the `--help` text |
//! | `settings.rs` | cache path, client id, redirect URI, accounts URL; the `AuthorizationCode` |
//! | `login.rs`, `token.rs`, `status.rs`, `logout.rs` | one subcommand each |
//! | `progress.rs` | the "waiting for the login" spinner or lines on stderr |
//! | `login_expiry.rs` | when the six-month login ends, and when `status` warns |
//! | `clock.rs` | Unix time, UTC dates and "in 5 min" without a date crate |
//! | `exit.rs` | the exit codes and how a failure is reported |
//!
//! # Settings
//!
//! | flag | environment | default |
//! |---|---|---|
//! | `--client-id ID` | `SPOTIFY_SDK_CLIENT_ID` | none: required by `login` and `token` |
//! | (never a flag) | `SPOTIFY_SDK_CLIENT_SECRET` | none: the client is public and uses PKCE |
//! | `--redirect-uri URI` | `SPOTIFY_SDK_REDIRECT_URI` | `http://127.0.0.1:8888/callback` |
//! | `--cache PATH` | `SPOTIFY_SDK_TOKEN_CACHE` | `token.json` in the platform's config directory for `spotify-auth` (`~/.config/spotify-auth/token.json` on Linux) |
//! | (testing only) | `SPOTIFY_AUTH_ACCOUNTS_URL` | `https://accounts.spotify.com`: base URL of the accounts service, for a fake server in tests |
//!
//! Flags win over the environment; `login --port N` replaces the port of
//! whichever redirect URI is used.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 2 | usage or configuration: a bad command line (clap's usage errors), a missing client id, a bad redirect URI, a token cache that cannot be read or written (corrupt file, permissions) |
//! | 3 | login required: no token stored, or Spotify refused the refresh token (`invalid_grant`); run `spotify-auth login` |
//! | 4 | network or Spotify error, and every other failure (a login that timed out or was denied, a callback port in use) |
//!
//! Messages go to stderr and never contain a token or the client secret;
//! stdout carries only a command's result (the token, the status report, the
//! authorization URL).

mod args;
mod clock;
mod exit;
mod login;
mod login_expiry;
mod logout;
mod progress;
mod settings;
mod status;
mod token;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    // clap prints usage errors to stderr and exits 2; `--help` exits 0.
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Login(args) => login::run(&cli.global, args),
        Command::Token => token::run(&cli.global),
        Command::Status(args) => status::run(&cli.global, args),
        Command::Logout => logout::run(&cli.global),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}
