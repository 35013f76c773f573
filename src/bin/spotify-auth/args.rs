//! The command line: global settings, the subcommands and their flags, and
//! the `--help` text that documents profiles, the environment and exit codes.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

/// Shown after the options in `spotify-auth --help`.
const AFTER_HELP: &str = "\
Log in once; from then on `spotify-auth token` works in any shell:
  spotify-auth --client-id ID login --scope user-read-email
  curl -H \"$(spotify-auth token --format header)\" https://api.spotify.com/v1/me

Profiles:
  `login` saves the app's settings (client id, redirect URI, public or
  confidential, scopes; never the secret) in a profile, `default` unless
  --profile NAME or SPOTIFY_AUTH_PROFILE names another. Each profile has its
  own login. Flags and environment variables override what a profile saved.
  Files: profiles/NAME.json in the config directory (~/.config/spotify-auth/
  on Linux). Logins are kept in the OS keychain (service spotify-auth, user
  the profile's name) where there is one, else in token.json there for the
  default profile and tokens/NAME.json for the others (see login --help).

Environment:
  SPOTIFY_AUTH_PROFILE       the profile to use (or --profile; default: default)
  SPOTIFY_SDK_CLIENT_ID      the app's client id (or --client-id; default: the
                             profile's)
  SPOTIFY_SDK_CLIENT_SECRET  the client secret of a confidential app; read only
                             from the environment, never a flag, never saved.
                             Without it the client is public and uses PKCE
  SPOTIFY_SDK_REDIRECT_URI   the redirect URI registered for the app (or
                             --redirect-uri; default: the profile's, else
                             http://127.0.0.1:8888/callback). Registered without
                             a port (http://127.0.0.1/callback), `login`
                             listens on any free port
  SPOTIFY_SDK_TOKEN_CACHE    the token file (or --cache; default: the
                             profile's). `login` records it in the profile
  SPOTIFY_AUTH_CONFIG_DIR    the config directory instead of the platform's
  SPOTIFY_AUTH_INSECURE_STORAGE  true: `login` keeps the login in the token
                             file, not the keychain (as --insecure-storage)
  SPOTIFY_AUTH_ACCOUNTS_URL  for testing only: the accounts service's base URL
                             instead of https://accounts.spotify.com
  BROWSER                    the browser `login` opens

Exit status:
  0  success
  2  usage or configuration error (bad flags, an unknown or malformed
     profile, no client id, bad redirect URI, a token cache that cannot be
     read or written)
  3  login required: no token, or Spotify refused the refresh token;
     run `spotify-auth login`
  4  network or Spotify error, or any other failure (login timed out or denied,
     callback port in use)

Nothing but `spotify-auth token` ever prints a token; no command prints the
client secret.";

/// Shown after the options in `spotify-auth token --help`.
const TOKEN_AFTER_HELP: &str = "\
Examples:
  curl -H \"Authorization: Bearer $(spotify-auth token)\" https://api.spotify.com/v1/me
  curl -H \"$(spotify-auth token --format header)\" https://api.spotify.com/v1/me
  spotify-auth token --min-valid 10m --format env >> \"$GITHUB_ENV\"

Formats (stdout holds nothing else):
  raw     the access token (default)
  header  Authorization: Bearer TOKEN
  json    {\"access_token\", \"expires_at\" (Unix seconds), \"expires_at_rfc3339\"
          (UTC), \"scopes\" (list)}
  env     SPOTIFY_ACCESS_TOKEN=TOKEN

A confidential app's token is refreshed with SPOTIFY_SDK_CLIENT_SECRET; while
the stored token is valid no secret is needed.

Exit status: 0 token printed; 2 configuration error (unknown profile, bad
--min-valid, no secret for a confidential app's refresh); 3 login required
(run `spotify-auth login`); 4 network or Spotify error.";

/// Shown after the options in `spotify-auth login --help`.
const LOGIN_AFTER_HELP: &str = "\
Examples:
  spotify-auth --client-id ID login --scope user-read-email,user-top-read
  spotify-auth --profile work --client-id ID2 login --no-browser
  printenv SPOTIFY_REFRESH_TOKEN | spotify-auth login --with-refresh-token

Saves the profile (client id, redirect URI, public or confidential, scopes)
once the login succeeded; a later `login` of the same profile asks for the
saved scopes when --scope is not given.

Where the login is kept: the OS keychain (Secret Service, macOS Keychain,
Windows Credential Manager) when there is one, with a confidential app's
client secret beside it, so `token` then needs no SPOTIFY_SDK_CLIENT_SECRET.
Without a keychain: the token file (mode 0600), with a warning;
--require-keychain fails instead, --insecure-storage (or
SPOTIFY_AUTH_INSECURE_STORAGE=true) chooses the file without the warning,
--cache PATH a file of your choice.";

/// Shown after the options in `spotify-auth completions --help`.
const COMPLETIONS_AFTER_HELP: &str = "\
Examples:
  spotify-auth completions bash > ~/.local/share/bash-completion/completions/spotify-auth
  spotify-auth completions zsh > \"${fpath[1]}/_spotify-auth\"
  spotify-auth completions fish > ~/.config/fish/completions/spotify-auth.fish
  spotify-auth completions powershell >> $PROFILE";

/// Log in to Spotify (OAuth Authorization Code flow) once, then print access
/// tokens for scripts.
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
    /// The profile: a saved app and its login
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        env = "SPOTIFY_AUTH_PROFILE",
        default_value = crate::profile_name::DEFAULT
    )]
    pub profile: String,

    /// The token cache file, instead of the profile's [default: token.json
    /// in the config directory for the default profile, tokens/NAME.json for
    /// the others]
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "SPOTIFY_SDK_TOKEN_CACHE",
        hide_env_values = true
    )]
    pub cache: Option<PathBuf>,

    /// The app's client id, instead of the profile's (the secret, if any,
    /// comes only from SPOTIFY_SDK_CLIENT_SECRET)
    #[arg(
        long,
        global = true,
        value_name = "ID",
        env = "SPOTIFY_SDK_CLIENT_ID",
        hide_env_values = true
    )]
    pub client_id: Option<String>,

    /// The redirect URI registered for the app, instead of the profile's
    /// [default: http://127.0.0.1:8888/callback]
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
    /// Log in (through the browser, or with a refresh token on stdin) and
    /// save the profile
    #[command(after_help = LOGIN_AFTER_HELP)]
    Login(LoginArgs),
    /// Print a valid access token (refreshed and stored when needed) and
    /// nothing else
    #[command(after_help = TOKEN_AFTER_HELP)]
    Token(TokenArgs),
    /// Show the profile, whether you are logged in, the token's expiry, when
    /// the six-month login ends and where it is stored (never a token)
    Status(StatusArgs),
    /// Remove the profile's stored login (its saved settings stay)
    Logout,
    /// List the profiles: name, client id, where each login is stored,
    /// logged in or not
    Profiles(ProfilesArgs),
    /// Print a shell completion script
    #[command(after_help = COMPLETIONS_AFTER_HELP)]
    Completions(CompletionsArgs),
}

/// Flags of `spotify-auth login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Scopes to request: repeat the flag, or separate them with spaces or
    /// commas (e.g. user-read-email,user-top-read) [default: the profile's]
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

    /// No browser: read a refresh token from standard input (never an
    /// argument), refresh it once and store the login (for CI machines)
    #[arg(long, conflicts_with_all = ["scope", "show_dialog", "no_browser", "port"])]
    pub with_refresh_token: bool,

    /// Keep the login in the profile's token file (mode 0600) rather than
    /// the OS keychain, and do not warn about it (e.g. on CI machines)
    #[arg(
        long,
        env = "SPOTIFY_AUTH_INSECURE_STORAGE",
        conflicts_with = "require_keychain"
    )]
    pub insecure_storage: bool,

    /// Keep the login in the OS keychain, or fail (exit 2, nothing
    /// written) when there is none, instead of falling back to a file
    #[arg(long)]
    pub require_keychain: bool,
}

/// Flags of `spotify-auth token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Refresh first unless the token stays valid this long (e.g. 90s, 10m,
    /// 1h30m; less than an hour, the lifetime of Spotify's tokens)
    #[arg(long, value_name = "DURATION")]
    pub min_valid: Option<String>,

    /// How to print the token: raw, header, json or env (see Formats below)
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Raw,
          hide_possible_values = true)]
    pub format: Format,
}

/// What `spotify-auth token` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The access token
    Raw,
    /// `Authorization: Bearer TOKEN`
    Header,
    /// A JSON object: access_token, expires_at, expires_at_rfc3339, scopes
    Json,
    /// `SPOTIFY_ACCESS_TOKEN=TOKEN`
    Env,
}

/// Flags of `spotify-auth status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print a JSON object (profile, profile_saved, profile_path, client_id,
    /// client_type, store, logged_in, scopes, expires_at, expires_in_seconds,
    /// expired, has_refresh_token, authorized_at, login_expires_at,
    /// login_expires_in_seconds, login_expired, login_expires_soon,
    /// cache_path, cache_mode, cache_error)
    #[arg(long)]
    pub json: bool,
}

/// Flags of `spotify-auth profiles`.
#[derive(Debug, Args)]
pub struct ProfilesArgs {
    /// Print a JSON array, one object per profile (name, current, saved,
    /// client_id, client_type, store, logged_in, error)
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `spotify-auth completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
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
