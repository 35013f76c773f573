//! `spotify-auth token`: a valid access token on stdout and nothing else,
//! refreshed (and the refreshed token stored) when it expires within 30 s.
//!
//! ```text
//! curl -H "Authorization: Bearer $(spotify-auth token)" https://api.spotify.com/v1/me
//! ```
//!
//! No token, or a refresh token Spotify refused: exit 3 with a message on
//! stderr that says to run `spotify-auth login`.

use std::io::Write;

use spotify_auth::Error;

use crate::args::GlobalArgs;
use crate::exit::{Exit, Failure};
use crate::settings;

/// Runs `token`.
pub fn run(global: &GlobalArgs) -> Result<(), Failure> {
    let cache = settings::cache(global)?;
    let cache_path = cache.path().to_owned();
    let redirect_uri = settings::redirect_uri(global, None)?;
    let auth = settings::client(global, cache, &redirect_uri, None)?;
    let token = auth.get_access_token().map_err(|e| match e {
        Error::NotAuthorized => Failure::login_required(format!(
            "not logged in: no token stored in {}",
            cache_path.display()
        )),
        e => Failure::from_error(&e),
    })?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{token}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(Exit::Failure, format!("cannot write the token: {e}")))
}
