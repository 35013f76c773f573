//! `spotify-auth logout`: ends the login with the library's `logout()`, and
//! says whether there was one. Spotify has no endpoint to revoke a token; to
//! cut off the app entirely, remove it at
//! <https://www.spotify.com/account/apps/>.

use spotify_auth::{Entry, TokenCache};

use crate::args::GlobalArgs;
use crate::exit::Failure;
use crate::settings;

/// Runs `logout`.
pub fn run(global: &GlobalArgs) -> Result<(), Failure> {
    let cache = settings::cache(global)?;
    let path = cache.path().display().to_string();
    // A corrupt or unreadable file counts as a login to end.
    let logged_in = !matches!(cache.read(), Ok(None | Some(Entry::Ended(_))));
    if !logged_in {
        println!("Not logged in: no token was stored in {path}.");
        return Ok(());
    }
    // Records the logout in the file under its lock: a `token` (or any
    // program sharing the file) refreshing at the same time does not write
    // the token back, and every one of them takes the record as this logout
    // (the logged-out refresh token is never sent again).
    let auth = settings::client_for_logout(global, cache)?;
    auth.logout().map_err(|e| Failure::from_error(&e))?;
    println!("Logged out: removed the token stored in {path}.");
    Ok(())
}
