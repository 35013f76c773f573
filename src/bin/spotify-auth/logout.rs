//! `spotify-auth logout`: removes the stored token and says whether there was
//! one. Spotify has no endpoint to revoke a token; to cut off the app
//! entirely, remove it at <https://www.spotify.com/account/apps/>.

use spotify_auth::TokenCache;

use crate::args::GlobalArgs;
use crate::exit::Failure;
use crate::settings;

/// Runs `logout`.
pub fn run(global: &GlobalArgs) -> Result<(), Failure> {
    let cache = settings::cache(global)?;
    let path = cache.path().display().to_string();
    // A corrupt or unreadable file counts as one to remove.
    let existed = cache.path().symlink_metadata().is_ok();
    if !existed {
        println!("Not logged in: no token was stored in {path}.");
        return Ok(());
    }
    // Under the cache's lock, so that a `token` refreshing at the same time
    // does not write the token back after it is removed.
    let guard = cache.lock().map_err(|e| Failure::from_error(&e))?;
    cache.clear().map_err(|e| Failure::from_error(&e))?;
    drop(guard);
    println!("Logged out: removed the token stored in {path}.");
    Ok(())
}
