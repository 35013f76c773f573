//! The command line: global settings, the four subcommands and their flags,
//! and the `--help` text that documents the environment and exit codes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Shown after the options in `spotify-auth --help`.
const AFTER_HELP: &str = "\
Environment:
  SPOTIFY_SDK_CLIENT_ID      the app's client id (or --client-id)
  SPOTIFY_SDK_CLIENT_SECRET  the client secret; read only from the environment,
                             never a flag. Without it the client is public and
                             logs in with PKCE
  SPOTIFY_SDK_REDIRECT_URI   the redirect URI registered for the app (or
                             --redirect-uri; default http://127.0.0.1:8888/callback).
                             Registered without a port (http://127.0.0.1/callback),
                             `login` listens on any free port
  SPOTIFY_SDK_TOKEN_CACHE    the token file (or --cache; default token.json in the
                             platform's config directory, ~/.config/spotify-auth/
                             on Linux)
  SPOTIFY_AUTH_ACCOUNTS_URL  for testing only: the accounts service's base URL
                             instead of https://accounts.spotify.com
  BROWSER                    the browser `login` opens

Exit status:
  0  success
  2  usage or configuration error (bad flags, no client id, bad redirect URI,
     a token cache that cannot be read or written)
  3  login required: no token, or Spotify refused the refresh token;
     run `spotify-auth login`
  4  network or Spotify error, or any other failure (login timed out or denied,
     callback port in use)

Nothing but `spotify-auth token` ever prints a token; no command prints the
client secret.";

/// Shown after the options in `spotify-auth token --help`.
const TOKEN_AFTER_HELP: &str = "\
Example:
  curl -H \"Authorization: Bearer $(spotify-auth token)\" https://api.spotify.com/v1/me

Exit status: 0 token printed; 2 configuration error; 3 login required (run
`spotify-auth login`); 4 network or Spotify error.";

/// Log in to Spotify (OAuth Authorization Code flow) and print access tokens
/// for scripts.
#[derive(Debug, Parser)]
#[command(name = "spotify-auth", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Settings every subcommand takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings accepted before or after the subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The token cache file [default: token.json in the platform's config
    /// directory, e.g. ~/.config/spotify-auth/token.json]
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "SPOTIFY_SDK_TOKEN_CACHE",
        hide_env_values = true
    )]
    pub cache: Option<PathBuf>,

    /// The app's client id (the secret, if any, comes only from
    /// SPOTIFY_SDK_CLIENT_SECRET)
    #[arg(
        long,
        global = true,
        value_name = "ID",
        env = "SPOTIFY_SDK_CLIENT_ID",
        hide_env_values = true
    )]
    pub client_id: Option<String>,

    /// The redirect URI registered for the app [default:
    /// http://127.0.0.1:8888/callback]
    #[arg(
        long,
        global = true,
        value_name = "URI",
        env = "SPOTIFY_SDK_REDIRECT_URI",
        hide_env_values = true
    )]
    pub redirect_uri: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in through the browser and store the token
    Login(LoginArgs),
    /// Print a valid access token (refreshed and stored when needed) and
    /// nothing else
    #[command(after_help = TOKEN_AFTER_HELP)]
    Token,
    /// Show whether you are logged in, the scopes, the token's expiry and
    /// when the login ends (Spotify asks again after six months; never prints
    /// a token)
    Status(StatusArgs),
    /// Remove the stored token
    Logout,
}

/// Flags of `spotify-auth login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Scopes to request: repeat the flag, or separate them with spaces or
    /// commas (e.g. user-read-email,user-top-read)
    #[arg(long, value_name = "SCOPES")]
    pub scope: Vec<String>,

    /// Ask Spotify to show the consent dialog even if you approved before
    #[arg(long)]
    pub show_dialog: bool,

    /// Do not open a browser: print the URL, and also accept the URL the
    /// browser was redirected to pasted on standard input (for a browser on
    /// another machine)
    #[arg(long)]
    pub no_browser: bool,

    /// Use this port in the redirect URI (replaces the port of
    /// --redirect-uri / SPOTIFY_SDK_REDIRECT_URI / the default 8888; on a
    /// redirect URI without a port, which otherwise gets any free port, pins
    /// this one)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// How long to wait for the login, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

/// Flags of `spotify-auth status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print a JSON object (logged_in, scopes, expires_at, expires_in_seconds,
    /// expired, has_refresh_token, authorized_at, login_expires_at,
    /// login_expires_in_seconds, login_expired, login_expires_soon, cache_path,
    /// cache_mode, cache_error)
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
