//! `spotify-auth logout`: ends the profile's login with the library's
//! `logout()`, and says whether there was one. The profile's saved settings
//! stay, so that `login` needs no flags next time. Spotify has no endpoint
//! to revoke a token; to cut off the app entirely, remove it at
//! <https://www.spotify.com/account/apps/>.

use crate::args::GlobalArgs;
use crate::exit::Failure;
use crate::settings::{self, Need};

/// Runs `logout`.
pub fn run(global: &GlobalArgs) -> Result<(), Failure> {
    let setup = settings::setup(global, Need::Saved)?;
    let place = setup.store.describe();
    // A corrupt or unreadable store counts as a login to end.
    if !setup.store.has_login() {
        println!(
            "Not logged in (profile {}): no token was stored in {place}.",
            setup.name
        );
        return Ok(());
    }
    // Records the logout in the store under its lock: a `token` (or any
    // program sharing it) refreshing at the same time does not write the
    // token back, and every one of them takes the record as this logout
    // (the logged-out refresh token is never sent again).
    let auth = setup.client_for_logout(global)?;
    let ended = auth.logout();
    settings::close(auth);
    ended.map_err(|e| Failure::from_error(&e))?;
    println!(
        "Logged out (profile {}): removed the token stored in {place}.",
        setup.name
    );
    Ok(())
}
