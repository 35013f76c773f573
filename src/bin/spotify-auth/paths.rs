//! Where the tool keeps its files, all under one config directory
//! (`~/.config/spotify-auth` on Linux, or `$SPOTIFY_AUTH_CONFIG_DIR`):
//!
//! ```text
//! token.json            the `default` profile's token (where versions
//!                       before profiles kept the one token: unchanged, so
//!                       existing logins go on)
//! profiles/NAME.json    each profile's settings (no secret)
//! tokens/NAME.json      the token of every other profile
//! ```
//!
//! A profile that was logged in with `--cache PATH` (or
//! `SPOTIFY_SDK_TOKEN_CACHE`) records that path instead, and uses it from
//! then on.

use std::path::{Path, PathBuf};

use crate::exit::Failure;
use crate::profile_name::ProfileName;

/// The environment variable that replaces the platform's config directory.
pub const ENV_CONFIG_DIR: &str = "SPOTIFY_AUTH_CONFIG_DIR";

/// The `default` profile's token file in the config directory (the location
/// of the single token before profiles existed).
const DEFAULT_TOKEN_FILE: &str = "token.json";

/// The config directory: `$SPOTIFY_AUTH_CONFIG_DIR`, else the platform's
/// config directory for `spotify-auth`. `None` when neither can be found (no
/// home directory).
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = config_dir_override() {
        return Some(dir);
    }
    directories::ProjectDirs::from("", "", "spotify-auth").map(|dirs| dirs.config_dir().to_owned())
}

/// `$SPOTIFY_AUTH_CONFIG_DIR`, when it names a config directory (not the
/// platform's).
pub fn config_dir_override() -> Option<PathBuf> {
    std::env::var_os(ENV_CONFIG_DIR)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// [`config_dir`], or a configuration failure saying how to name one.
pub fn require_config_dir() -> Result<PathBuf, Failure> {
    config_dir().ok_or_else(|| {
        Failure::config(format!(
            "cannot find a config directory for profiles and tokens (no home directory?): \
             set {ENV_CONFIG_DIR} to a directory"
        ))
    })
}

/// The folder of the profiles' settings files.
pub fn profiles_dir(config: &Path) -> PathBuf {
    config.join("profiles")
}

/// The settings file of profile `name`.
pub fn profile_file(config: &Path, name: &ProfileName) -> PathBuf {
    profiles_dir(config).join(format!("{}.json", name.as_str()))
}

/// Where profile `name` keeps its token unless it names a place.
pub fn default_token_file(config: &Path, name: &ProfileName) -> PathBuf {
    if name.is_default() {
        config.join(DEFAULT_TOKEN_FILE)
    } else {
        config
            .join("tokens")
            .join(format!("{}.json", name.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keeps_the_old_token_file_and_others_get_their_own() {
        let config = Path::new("/c");
        let default = ProfileName::parse("default").unwrap();
        let work = ProfileName::parse("work").unwrap();
        assert_eq!(
            default_token_file(config, &default),
            Path::new("/c/token.json")
        );
        assert_eq!(
            default_token_file(config, &work),
            Path::new("/c/tokens/work.json")
        );
        assert_eq!(
            profile_file(config, &work),
            Path::new("/c/profiles/work.json")
        );
    }
}
